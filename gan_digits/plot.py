"""Losses, D's outputs and FID over steps from TensorBoard events, one run or several overlaid.

    python -m gan_digits.plot outputs/2026-11-23/19-34-00               # -> <run dir>/curves.png
    python -m gan_digits.plot multirun/2026-11-23/20-00-00/* --out sweep.png
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from gan_digits.checks import UserInputError, report_user_errors  # noqa: E402

PANELS = {
    "losses": ("train/d_loss", "train/g_loss"),
    "D's mean output (1 = real)": ("train/d_real", "train/d_fake"),
    "FID (lower is better)": ("val/fid",),
}


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} from the run's tb/ folder."""
    folder = run_dir / "tb" if (run_dir / "tb").is_dir() else run_dir
    events = EventAccumulator(str(folder))
    events.Reload()
    tags = events.Tags()["scalars"]
    if not tags:
        raise UserInputError(f"no TensorBoard scalars in {folder}: expected a run dir written by train.py")
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in tags}


def plot_runs(run_dirs: list[str | Path], out: str | Path | None = None) -> Path:
    runs = {Path(d): read_scalars(Path(d)) for d in run_dirs}
    out = Path(out) if out else (Path(run_dirs[0]) / "curves.png" if len(run_dirs) == 1 else Path("curves.png"))
    figure, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 3.6))
    for ax, (title, tags) in zip(axes, PANELS.items()):
        for run_dir, scalars in runs.items():
            for tag in tags:
                if tag in scalars:
                    steps, values = zip(*scalars[tag])
                    label = tag if len(runs) == 1 else f"{run_dir.name} {tag}"
                    ax.plot(steps, values, label=label, marker="o" if tag.startswith("val/") else None)
        ax.set_title(title)
        ax.set_xlabel("optimizer step")
        if ax.lines:
            ax.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


@report_user_errors
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gan_digits.plot", description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", help="run dirs written by train.py (or their tb/ folders)")
    parser.add_argument("--out", help="default: <run dir>/curves.png, or ./curves.png for several runs")
    args = parser.parse_args(argv)
    print(plot_runs(args.run_dirs, args.out))


if __name__ == "__main__":
    main()
