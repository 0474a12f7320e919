"""Losses, D's outputs, FID, precision and recall over steps from TensorBoard events, one run or several overlaid.

    python -m gan_digits.plot outputs/2026-11-23/19-34-00               # -> <run dir>/curves.png
    python -m gan_digits.plot multirun/2026-11-23/20-00-00 --out sweep.png   # every run of a sweep (or .../*)
    python -m gan_digits.plot outputs --out all.png                          # every run below outputs/
    python -m gan_digits.plot multirun/2026-11-23/20-00-00 --mean-over seed  # a recipe's mean ± sd over its seeds
"""

import logging
import statistics
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backend_bases import FigureCanvasBase  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from gan_digits.checks import UserInputError, check_output, report_user_errors  # noqa: E402
from gan_digits.command_line import KeyValueParser  # noqa: E402
from gan_digits.run_commands import differing_overrides, grouped_over  # noqa: E402

# TensorBoard's event reader says at INFO which file it reads next: noise wherever INFO is shown (a sweep's end).
logging.getLogger("tensorboard").setLevel(logging.WARNING)

PANELS = {
    "losses": ("train/d_loss", "train/g_loss"),
    "D's mean output (1 = real)": ("train/d_real", "train/d_fake"),
    "FID (lower is better)": ("val/fid",),
    "precision, recall (higher is better)": ("val/precision", "val/recall"),
}
LINE_STYLES = ("-", "--")  # a run's curves in one panel, when several runs share it
PANEL_HEIGHT = 3.6  # inches: the panels'; a line of the runs' legend below them takes LEGEND_LINE more
LEGEND_LINE = 0.16
# Why a panel is empty: a run shorter than trainer.log_every_n_steps batches, or without a validation.
WHEN_LOGGED = {"train": "train/* are written every trainer.log_every_n_steps batches",
               "val": "val/fid comes with each validation (callbacks.quality)"}

FIGURE_SUFFIXES = tuple(f".{kind}" for kind in FigureCanvasBase.get_supported_filetypes())  # what savefig writes
JOB_DEPTH = 8  # how far below its sweep's folder a job's may lie (runs_below)
SWEEP_FILE = "multirun.yaml"  # Hydra's, beside a sweep's runs: `multirun/<date>/<time>/*` matches it too
EVENTS = "events.out.tfevents.*"  # TensorBoard's event files


def event_folders(run_dir: Path) -> list[Path]:
    """The folders below a run dir holding its TensorBoard events: tb/, or where the logger's `name` and
    `version` put them (`logger.tensorboard.version=null`: tb/version_0, version_1, ...)."""
    return sorted({events.parent for events in run_dir.rglob(EVENTS)})


def is_run(path: Path) -> bool:
    """A run dir written by train.py (its events in tb/, or wherever a renamed logger put them beside its
    .hydra/), or a folder of events itself (a tb/)."""
    return (path / "tb").is_dir() or any(path.glob(EVENTS)) or ((path / ".hydra").is_dir() and bool(event_folders(path)))


def job_order(run: Path) -> tuple[bool, int, str]:
    """A sweep's jobs 0, 1, ... 10 in number order (then any other folders by name)."""
    return not run.name.isdigit(), int(run.name) if run.name.isdigit() else 0, run.name


def runs_below(folder: Path, run: Callable[[Path], bool], depth: int = 3) -> list[Path]:
    """The runs among `folder`'s subfolders (in job order) and theirs, `depth` levels down: a sweep's jobs,
    `outputs/`'s runs under their dates, `multirun/`'s under their dates and sweeps. Below a sweep's folder, deeper:
    a job's folder named by its overrides (`hydra.sweep.subdir=${hydra.job.override_dirname}`) nests at every `/` of
    a value (`data.root=../shared/data`)."""
    if (folder / SWEEP_FILE).is_file():
        depth = max(depth, JOB_DEPTH)
    found = []
    for sub in sorted((path for path in folder.iterdir() if path.is_dir()), key=job_order):
        if run(sub):
            found.append(sub)
        elif depth > 1:
            found += runs_below(sub, run, depth - 1)
    return found


def find_runs(paths: list[str | Path], started: bool = False) -> list[Path]:
    """The runs in `paths`, each a run dir or a folder with runs below it (`runs_below`). `started`: also the runs
    Hydra started that logged nothing (a sweep's jobs that failed before training)."""

    def run(path: Path) -> bool:
        return is_run(path) or (started and (path / ".hydra").is_dir())

    runs = []
    for path in map(Path, paths):
        if run(path):
            runs.append(path)
        elif path.is_dir() and (below := runs_below(path, run)):
            runs += below
        elif not path.exists():
            raise UserInputError(f"{path} does not exist: expected a run dir written by train.py or a sweep dir")
        elif (path / SWEEP_FILE).is_file():
            raise UserInputError(f"{path} is a sweep dir without a run yet: its jobs write their runs there as they "
                                 "start (<job number>/), and a job refused for a bad value leaves none")
        elif path.name != SWEEP_FILE:
            raise UserInputError(f"{path} is not a run dir written by train.py (no tb/ events) nor a folder with some "
                                 "below it (a sweep dir, outputs/, multirun/)")
    if not runs:
        raise UserInputError(f"no run dirs among {' '.join(map(str, paths))}")
    return runs


Scalars = dict[str, list[tuple[int, float]]]  # a run's {tag: [(step, value), ...]}


def read_scalars(run_dir: Path) -> Scalars:
    """{tag: [(step, value), ...]} from the run's events, in step order (several version folders: one curve); none
    for a run that has logged none yet (a job that failed before training)."""
    scalars = {}
    for folder in event_folders(run_dir):
        events = EventAccumulator(str(folder))
        events.Reload()
        for tag in events.Tags()["scalars"]:
            scalars.setdefault(tag, []).extend((e.step, e.value) for e in events.Scalars(tag))
    # By step alone, and stable: a step logged again after a resume keeps its later value last.
    return {tag: sorted(points, key=lambda point: point[0]) for tag, points in scalars.items()}


def run_labels(runs: list[Path]) -> dict[Path, str]:
    """Each run as its legend names it: the end of its path that tells it from the others (a sweep's job number, a
    run's time, with its date where two share one), then the overrides that set it apart, as compare's table has
    them (`0: model=gan`)."""
    for parts in range(1, max(len(run.parts) for run in runs) + 1):
        names = {run: "/".join(run.parts[-parts:]) for run in runs}
        if len(set(names.values())) == len(runs):
            break
    return {run: ": ".join([names[run], " ".join(differing)]) if differing else names[run]
            for run, differing in differing_overrides(runs).items()}


# A tag's curve: its steps, its values there, and the spread around them (a group's standard deviation) or None.
Curve = tuple[list[int], list[float], list[float] | None]


def run_curves(scalars: Scalars) -> dict[str, Curve]:
    """One run's curves, as logged."""
    return {tag: ([step for step, _ in points], [value for _, value in points], None) for tag, points in scalars.items()}


def mean_curves(group: list[Scalars]) -> dict[str, Curve]:
    """Each tag's mean over a group of runs, with its sample standard deviation, at the steps every run that logged
    the tag logged it at (runs of one recipe log the same steps; a run cut short ends its group's curve)."""
    curves = {}
    for tag in sorted(set().union(*group)):
        per_run = [dict(scalars[tag]) for scalars in group if tag in scalars]  # a step logged again: its later value
        steps = sorted(set.intersection(*(set(points) for points in per_run)))
        if steps:
            values = [[points[step] for points in per_run] for step in steps]
            curves[tag] = (steps, [statistics.fmean(at) for at in values],
                           [statistics.stdev(at) if len(at) > 1 else 0.0 for at in values])
    return curves


def plot_runs(paths: list[str | Path], out: str | Path | None = None, mean_over: str | None = None) -> Path:
    """The curves of the runs in `paths`, each run's, or with `mean_over` (an override's key, e.g. seed) the mean and
    standard deviation of each group of runs that differ only in it."""
    out = check_output(out, FIGURE_SUFFIXES) if out else None
    runs = {run: read_scalars(run) for run in find_runs(paths)}
    if silent := [str(run) for run, scalars in runs.items() if not scalars]:
        note = f"no scalars logged in {', '.join(silent)}: {WHEN_LOGGED['train']}, val/* at each validation"
        if len(silent) == len(runs):
            raise UserInputError(note)
        print(f"{note}; plotting the others", file=sys.stderr)
        runs = {run: scalars for run, scalars in runs.items() if scalars}
    if mean_over is not None:
        groups = grouped_over(list(runs), mean_over)
        series = {f"{' '.join(others) or 'all runs'}: mean ± sd of {len(group)} run{'s' * (len(group) > 1)}":
                  mean_curves([runs[run] for run in group]) for others, group in groups.items()}
    else:
        series = {label: run_curves(runs[run]) for run, label in run_labels(list(runs)).items()}
    several = mean_over is not None or len(runs) > 1  # a colour per series in every panel, named below the panels
    out = out or check_output(next(iter(runs)) / "curves.png" if not several else Path("curves.png"), FIGURE_SUFFIXES)
    colours = {label: f"C{number % 10}" for number, label in enumerate(series)}
    height = PANEL_HEIGHT + LEGEND_LINE * (len(series) + 1 if several else 0)
    figure, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), height))
    for ax, (title, tags) in zip(axes, PANELS.items()):
        for label, curves in series.items():
            for line_style, tag in zip(LINE_STYLES, tags):
                if tag in curves:
                    steps, values, spread = curves[tag]
                    style = {"color": colours[label], "linestyle": line_style} if several else {}
                    ax.plot(steps, values, label=tag, marker="o" if tag.startswith("val/") else None, **style)
                    if spread is not None:
                        ax.fill_between(steps, [v - d for v, d in zip(values, spread)],
                                        [v + d for v, d in zip(values, spread)], color=colours[label], alpha=0.2, lw=0)
        ax.set_title(title)
        ax.set_xlabel("optimizer step")
        if not ax.lines:
            stage = tags[0].split("/")[0]
            stage_logged = any(tag.startswith(f"{stage}/") for curves in series.values() for tag in curves)
            why = "these runs predate them" if stage_logged else WHEN_LOGGED[stage]
            why = textwrap.fill(why, 34)  # a panel's width
            ax.text(0.5, 0.5, f"none logged:\n{why}", ha="center", va="center", transform=ax.transAxes, color="gray")
        elif several:  # which line is which tag, in grey: the colours are the series'
            drawn = {line.get_label(): line for line in ax.lines}
            ax.legend([Line2D([], [], color="grey", linestyle=drawn[tag].get_linestyle(), marker=drawn[tag].get_marker())
                       for tag in tags if tag in drawn], [tag for tag in tags if tag in drawn], fontsize=7)
        else:
            ax.legend(fontsize=7)
    if several:
        figure.legend([Line2D([], [], color=colours[label]) for label in series], list(series),
                      loc="lower left", fontsize=7, frameon=False)
    figure.tight_layout(rect=(0, (height - PANEL_HEIGHT) / height, 1, 1))
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


@report_user_errors
def main(argv: list[str] | None = None) -> None:
    parser = KeyValueParser(prog="python -m gan_digits.plot", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="run dirs written by train.py (or their tb/ folders), or folders with "
                        "some below them (a sweep dir, outputs/)")
    parser.add_argument("--out", help="default: <run dir>/curves.png, or ./curves.png for several runs")
    parser.add_argument("--mean-over", metavar="KEY", help="an override's key (e.g. seed): the runs that differ only "
                        "in it become one curve, their mean, in a band of ± their standard deviation")
    args = parser.parse_args(argv)
    print(plot_runs(args.paths, args.out, args.mean_over))


if __name__ == "__main__":
    main()
