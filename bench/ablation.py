"""The recipe ablation: every run under bench/runs/ compared at the same number of batches.

    python bench/ablation.py --step 5154        # 3 epochs of batch 64 = 2,577 batches

Reads the `val/fid` (and, for conditional runs, `val/intra_fid`) that the QualityMetrics
callback logged at optimizer step `--step` (2,000 samples; seeded noise) from each run's
TensorBoard events, so runs screened with `bench/quality.py --batches` (two at a time, one thread
each) and 8-minute runs compare on equal work. Prints a markdown table.
"""

import argparse
from pathlib import Path

from arguments import at_least
from hardware import RUNS
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def at_step(events: EventAccumulator, tag: str, step: int) -> float | None:
    """The value logged at `step` (the newest, if a run dir holds several runs' events)."""
    if tag not in events.Tags()["scalars"]:
        return None
    values = [e.value for e in events.Scalars(tag) if e.step == step]
    return values[-1] if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=at_least(0), default=5154)
    parser.add_argument("--runs", default=str(RUNS))
    args = parser.parse_args()
    if not Path(args.runs).is_dir():
        parser.error(f"--runs {args.runs} is not a folder: expected the folder bench/quality.py trains its runs in")
    print(f"| run | val/fid at step {args.step} | val/intra_fid | val/modes |")
    print("| --- | --- | --- | --- |")
    for run in sorted(path for path in Path(args.runs).iterdir() if path.is_dir()):  # not the results files there
        events = EventAccumulator(str(run / "tb"))
        events.Reload()
        fid = at_step(events, "val/fid", args.step)
        if fid is None:
            continue
        intra = at_step(events, "val/intra_fid", args.step)
        modes = at_step(events, "val/modes", args.step)
        print(f"| {run.name} | {fid:.2f} | {'-' if intra is None else f'{intra:.2f}'} | {int(modes)} |")


if __name__ == "__main__":
    main()
