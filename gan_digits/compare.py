"""Runs side by side, one row each, the lowest FID first: what a sweep found, without opening TensorBoard.

    python -m gan_digits.compare multirun/2026-12-02/05-00-00        # every run of that sweep
    python -m gan_digits.compare outputs/2026-12-02/* outputs/2026-12-03/10-00-00
    python -m gan_digits.compare outputs                              # every run below outputs/

Each run's TensorBoard events and its `.hydra/overrides.yaml`; the overrides that every run shares
are left out, so the table shows what differs. A job of a sweep that failed before training gets its
row too ("none logged"), so a sweep's table has every job. Prints a Markdown table (it pastes into notes).
"""

from pathlib import Path

from gan_digits.callbacks.quality import QUALITY
from gan_digits.checks import report_user_errors
from gan_digits.command_line import KeyValueParser
from gan_digits.plot import find_runs, read_scalars
from gan_digits.run_commands import differing_overrides, shown

# After the best val/fid, the last value of each quality metric the end of a run names too.
HEADER = ("run", "overrides", "step", "best val/fid (step)", *(f"last {name}" for name in QUALITY))


def number(value: float | int | None) -> str:
    """A cell: 4 significant digits (a step stays whole), or a dash for nothing logged."""
    return "–" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def best_fid(scalars: dict[str, list[tuple[int, float]]]) -> tuple[float, int] | None:
    """(the lowest val/fid, its step), or None before the first one."""
    points = scalars.get("val/fid")
    return min((value, step) for step, value in points) if points else None


def row(run: Path, scalars: dict[str, list[tuple[int, float]]], differing: list[str]) -> tuple[str, ...]:
    """One run's cells, in HEADER's order."""
    best = best_fid(scalars)
    last_step = max((step for points in scalars.values() for step, _ in points), default=None)
    last = [scalars[name][-1][1] if name in scalars else None for name in QUALITY]
    best_cell = f"{number(best[0])} ({best[1]})" if best else number(None)
    steps = number(last_step) if scalars else "none logged"  # a job that failed before training
    return shown(run), " ".join(differing) or "–", steps, best_cell, *map(number, last)


def compare(paths: list[str | Path]) -> str:
    """The Markdown table of the runs in `paths` (run dirs, or sweep dirs holding them)."""
    runs = find_runs(paths, started=True)
    scalars = {run: read_scalars(run) for run in runs}  # none for a run that has logged none: it still gets its row
    differing = differing_overrides(runs)
    # The lowest FID first; runs without one yet last.
    ranked = sorted(runs, key=lambda run: (best_fid(scalars[run]) or (float("inf"), 0))[0])
    rows = [row(run, scalars[run], differing[run]) for run in ranked]
    lines = ["| " + " | ".join(HEADER) + " |", "|" + " --- |" * len(HEADER)]
    return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in rows])


@report_user_errors
def main(argv: list[str] | None = None) -> None:
    parser = KeyValueParser(prog="python -m gan_digits.compare", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+",
                        help="run dirs written by train.py, or folders with some below them (a sweep dir, outputs/)")
    args = parser.parse_args(argv)
    print(compare(args.paths))


if __name__ == "__main__":
    main()
