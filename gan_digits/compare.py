"""Runs side by side, one row each, the lowest FID first: what a sweep found, without opening TensorBoard.

    python -m gan_digits.compare multirun/2026-12-02/05-00-00        # every run of that sweep
    python -m gan_digits.compare outputs/2026-12-02/* outputs/2026-12-03/10-00-00
    python -m gan_digits.compare outputs                              # every run below outputs/

Each run's TensorBoard events and its `.hydra/overrides.yaml`; the overrides that every run shares
are left out, so the table shows what differs. A job of a sweep that failed before training gets its
row too ("none logged"), so a sweep's table has every job. Prints a Markdown table (it pastes into notes);
`--out runs.csv` writes a row per run instead, each override in a column of its own, for a spreadsheet or pandas.

    python -m gan_digits.compare multirun/2026-12-02/05-00-00 --mean-over seed

makes the runs that differ only in `seed` one row: each metric's mean ± standard deviation over them. One
run of a GAN recipe differs from the next by ~10%: a difference between recipes is one when it outlasts seeds.

Runs trained by different code (another commit, or local changes: each run's HPARAMS say which) get a `code`
column, so that two rows of one recipe are not read as the same code's; with `--mean-over`, a note under the table
names each recipe whose mean mixes codes.
"""

import csv
import statistics
from pathlib import Path

import numpy
import yaml

from gan_digits.callbacks.quality import QUALITY
from gan_digits.checkpoint import CheckpointError, load_checkpoint
from gan_digits.checks import UserInputError, check_output, report_user_errors
from gan_digits.command_line import KeyValueParser
from gan_digits.plot import Scalars, event_folders, find_runs, read_scalars
from gan_digits.run_commands import differing_overrides, grouped_over, override_key, shown

# After the best val/fid, the last value of each quality metric the end of a run names too (those logged).
HEADER = ("run", "overrides", "step", "best val/fid (step)")
# --mean-over: a row per group of runs, each metric's mean ± standard deviation over the group.
MEAN_HEADER = ("overrides", "runs", "step", "best val/fid")
CODE_KEY = "code/gan_digits"  # the commit that trained a run, in its tb/hparams.yaml (gan_digits.provenance)


def number(value: float | int | None) -> str:
    """A cell: 4 significant digits (a step stays whole), or a dash for nothing logged."""
    return "–" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def best_fid(scalars: Scalars) -> tuple[float, int] | None:
    """(the lowest val/fid, its step), or None before the first one."""
    points = scalars.get("val/fid")
    return min((value, step) for step, value in points) if points else None


def last_step(scalars: Scalars) -> int | None:
    """The step of a run's latest scalar, or None for a run that logged none."""
    return max((step for points in scalars.values() for step, _ in points), default=None)


def reached_step(run: Path, scalars: Scalars) -> int | None:
    """How far `run` trained: its last.ckpt's step where that is later than its latest scalar's (a run stopped inside
    an epoch, by max_steps, max_time or a signal, logs none at its last step: losses come every log_every_n_steps
    batches, val/ at epoch ends); None for a run that logged none. An unreadable last.ckpt leaves the events' step."""
    logged = last_step(scalars)
    last = run / "checkpoints" / "last.ckpt"
    if logged is None or not last.is_file():
        return logged
    try:
        return max(logged, load_checkpoint(last)["global_step"])
    except CheckpointError:
        return logged


def code_version(run: Path) -> str | None:
    """The commit (or version) that trained `run`, as its latest HPARAMS file says; None for a run without one (a
    run from before they were kept, one that failed before training)."""
    for folder in reversed(event_folders(run)):
        if (hparams := folder / "hparams.yaml").is_file():
            try:
                return (yaml.safe_load(hparams.read_text()) or {}).get(CODE_KEY)
            except yaml.YAMLError:  # not ours to judge: the column says nothing of it
                return None
    return None


def logged_quality(runs: dict[Path, Scalars]) -> list[str]:
    """The QUALITY metrics that any of `runs` logged: a column of dashes alone says nothing (label_acc in a sweep
    of unconditional models)."""
    return [name for name in QUALITY if any(name in scalars for scalars in runs.values())]


def last_values(scalars: Scalars, metrics: list[str]) -> list[float | None]:
    """The last value a run logged of each of `metrics`, None for one it did not log."""
    return [scalars[name][-1][1] if name in scalars else None for name in metrics]


def differing_codes(runs: list[Path]) -> dict[Path, str | None] | None:
    """The code that trained each of `runs` (its commit, None where unknown) where they were trained by different
    code, else None: a column of one value says nothing."""
    codes = {run: code_version(run) for run in runs}
    return codes if len(set(codes.values()) - {None}) > 1 else None


def row(run: Path, scalars: Scalars, differing: list[str], metrics: list[str]) -> tuple[str, ...]:
    """One run's cells, in HEADER's order, then the last value of each of `metrics`."""
    best = best_fid(scalars)
    best_cell = f"{number(best[0])} ({best[1]})" if best else number(None)
    steps = number(reached_step(run, scalars)) if scalars else "none logged"  # a job that failed before training
    return shown(run), " ".join(differing) or "–", steps, best_cell, *map(number, last_values(scalars, metrics))


def mean_cell(values: list[float]) -> str:
    """A group's cell: mean ± sample standard deviation, the value alone for one run, a dash for none."""
    if len(values) < 2:
        return number(values[0] if values else None)
    return f"{statistics.fmean(values):.4g} ± {statistics.stdev(values):.2g}"


def mean_rows(scalars: dict[Path, Scalars], groups: dict[tuple[str, ...], list[Path]],
              metrics: list[str]) -> list[tuple[str, ...]]:
    """A row per group of `grouped_over` (runs that differ only in its key), the lowest mean best FID first:
    MEAN_HEADER's cells, then each of `metrics`' last values."""

    def bests(group: list[Path]) -> list[float]:
        return [best[0] for run in group if (best := best_fid(scalars[run]))]

    def lasts(group: list[Path], name: str) -> list[float]:
        return [scalars[run][name][-1][1] for run in group if name in scalars[run]]

    rows = []
    for others, group in sorted(groups.items(), key=lambda item: statistics.fmean(bests(item[1]) or [float("inf")])):
        silent = sum(not scalars[run] for run in group)  # jobs that failed before training: in no mean
        count = f"{len(group)} ({silent} logged none)" if silent else str(len(group))
        steps = sorted({step for run in group if (step := reached_step(run, scalars[run])) is not None})
        reached = f"{steps[0]}–{steps[-1]}" if len(steps) > 1 else number(steps[0] if steps else None)  # runs cut short
        rows.append((" ".join(others) or "–", count, reached, mean_cell(bests(group)),
                     *(mean_cell(lasts(group, name)) for name in metrics)))
    return rows


def mixed_codes(groups: dict[tuple[str, ...], list[Path]]) -> list[str]:
    """A line for each group of `grouped_over` whose runs were trained by more than one code: its means mix them
    (the per-run table's code column says which run is which)."""
    if (codes := differing_codes([run for group in groups.values() for run in group])) is None:
        return []
    lines = []
    for others, group in groups.items():
        if len(trained_by := sorted({codes[run] for run in group} - {None})) > 1:
            lines.append(f"note: the runs of {' '.join(others) or 'this recipe'} were trained by {len(trained_by)} "
                         f"versions of the code ({', '.join(trained_by)}): their means mix them (without --mean-over "
                         f"the table says which run is which)")
    return lines


def ranked_runs(paths: list[str | Path]) -> dict[Path, Scalars]:
    """The runs in `paths` (run dirs, or sweep dirs holding them) with their scalars, the lowest best val/fid first;
    runs without one yet last (a job that failed before training has none: it still gets its row)."""
    scalars = {run: read_scalars(run) for run in find_runs(paths, started=True)}
    return dict(sorted(scalars.items(), key=lambda item: (best_fid(item[1]) or (float("inf"), 0))[0]))


def table(runs: dict[Path, Scalars], mean_over: str | None = None) -> str:
    """The Markdown table of `ranked_runs`: a row per run, or with `mean_over` (an override's key, e.g. seed) a row
    per group of runs that differ only in it (and a note under it for each group trained by more than one code)."""
    metrics = logged_quality(runs)
    notes = []
    if mean_over is not None:
        groups = grouped_over(list(runs), mean_over)  # read once: the rows and the notes name the same groups
        header, rows, notes = MEAN_HEADER, mean_rows(runs, groups, metrics), mixed_codes(groups)
    else:
        differing = differing_overrides(list(runs))
        header, rows = HEADER, [row(run, scalars, differing[run], metrics) for run, scalars in runs.items()]
        if (codes := differing_codes(list(runs))) is not None:  # a column after the overrides says which code
            header = (*header[:2], "code", *header[2:])
            rows = [(*cells[:2], codes[run] or "–", *cells[2:]) for cells, run in zip(rows, runs)]
    header = (*header, *(f"last {name}" for name in metrics))
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in rows] + notes)


def csv_rows(runs: dict[Path, Scalars]) -> list[dict[str, str | float | int | None]]:
    """A row per run of `ranked_runs`, for a spreadsheet or pandas: the run, each override that tells the runs apart
    in a column of its own (empty where a run keeps the config's value), the code where runs differ in it, the step
    it trained to, the best val/fid and its step, and the last value of each quality metric logged (`as_logged`);
    nothing logged: empty."""
    metrics = logged_quality(runs)
    differing = differing_overrides(list(runs))
    keys = list(dict.fromkeys(override_key(item) for items in differing.values() for item in items))
    codes = differing_codes(list(runs))
    rows = []
    for run, scalars in runs.items():
        values = {override_key(item): item.partition("=")[2] if "=" in item else "(removed)" for item in differing[run]}
        best = best_fid(scalars) or (None, None)
        lasts = map(as_logged, last_values(scalars, metrics))
        rows.append({"run": shown(run), **{key: values.get(key, "") for key in keys},
                     **({"code": codes[run]} if codes is not None else {}), "step": reached_step(run, scalars),
                     "best val/fid": as_logged(best[0]), "best val/fid step": best[1],
                     **dict(zip((f"last {name}" for name in metrics), lasts))})
    return rows


def as_logged(value: float | None) -> float | None:
    """A value of the events as TensorBoard keeps it, a float32, in its shortest digits: 0.1, not the
    0.10000000149011612 its float64 copy would write."""
    return None if value is None else float(str(numpy.float32(value)))


def write_csv(runs: dict[Path, Scalars], out: Path) -> None:
    """`csv_rows` of `runs` into `out`."""
    rows = csv_rows(runs)
    with out.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def compare(paths: list[str | Path], mean_over: str | None = None) -> str:
    """`table` of the runs in `paths`."""
    return table(ranked_runs(paths), mean_over)


@report_user_errors
def main(argv: list[str] | None = None) -> None:
    parser = KeyValueParser(prog="python -m gan_digits.compare", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+",
                        help="run dirs written by train.py, or folders with some below them (a sweep dir, outputs/)")
    parser.add_argument("--mean-over", metavar="KEY", help="an override's key (e.g. seed): the runs that differ only "
                        "in it become one row, each metric's mean ± standard deviation over them")
    parser.add_argument("--out", help="a .csv file: a row per run, each override in a column of its own, numbers as "
                        "numbers (for a spreadsheet or pandas), instead of the table")
    args = parser.parse_args(argv)
    if args.out is None:
        print(compare(args.paths, args.mean_over))
        return
    if args.mean_over is not None:
        raise UserInputError(f"--mean-over {args.mean_over} is not allowed with --out: the .csv holds a row per run, "
                             f"to group as you like (the table is for reading)")
    out = check_output(args.out, (".csv",))
    write_csv(ranked_runs(args.paths), out)
    print(out)


if __name__ == "__main__":
    main()
