"""What a finished sweep (`python train.py -m ...`) says last: its runs side by side, the lowest FID first, and the
commands that sample the best, plot and show them. Each job's own closing lines had scrolled away behind the jobs
after it, and nothing named the sweep's folder."""

import atexit
import importlib
import shlex
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from gan_digits.checks import UserInputError
from gan_digits.run_commands import as_override, local_command, override_parser, project_script, shown


def sweep_summary(sweep_dir: Path, over_seeds: bool = False, failed: bool = False) -> str | None:
    """`compare`'s table of the sweep's runs, then the commands that sample the best, plot them and open their
    TensorBoard; for a sweep `over_seeds` (seed=1,2,3), the one that averages each recipe over them. After a
    `failed` job, None when no job trained (each one's error has been printed)."""
    from gan_digits.compare import best_fid, ranked_runs, table  # read events: imported once the jobs have run

    try:
        runs = ranked_runs([sweep_dir])
    except UserInputError as err:  # no job started (Optuna's study may end so)
        return None if failed else f"sweep done: {err}"
    if failed and not any(runs.values()):  # every job failed before training: a table of none logged says no more
        return None
    best = next(iter(runs))  # the lowest val/fid, when one logged any
    folder = shown(sweep_dir)
    python = local_command("python")
    last = best / "checkpoints" / "last.ckpt"
    commands = {
        **({"sample the best": shlex.join([python, project_script("sample.py"), as_override("ckpt", shown(last))])}
           if best_fid(runs[best]) and last.is_file() else {}),
        "compare them": shlex.join([python, "-m", "gan_digits.compare", folder]),
        **({"mean over seeds": shlex.join([python, "-m", "gan_digits.compare", folder, "--mean-over", "seed"])}
           if over_seeds else {}),
        "plot them": shlex.join([python, "-m", "gan_digits.plot", folder, "--out", shown(sweep_dir / "curves.png")]),
        "TensorBoard": shlex.join([local_command("tensorboard"), "--logdir", folder]),
    }
    width = max(map(len, commands)) + 2
    heading = "sweep done, with a failed job" if failed else "sweep done"
    lines = [f"{heading}: {len(runs)} run{'' if len(runs) == 1 else 's'} in {folder}", table(runs)]
    return "\n".join(lines + [f"  {label + ':':<{width}}{command}" for label, command in commands.items()])


def swept_over_seeds(config: DictConfig) -> bool:
    """Whether the sweep's command line sweeps `seed` (seed=1,2,3, seed=range(1,4), ...)."""
    swept = override_parser().parse_overrides(list(config.hydra.overrides.task))
    return any(override.key_or_group == "seed" and override.is_sweep_override() for override in swept)


class SweepSummary(Callback):
    """Hydra calls it once a sweep's jobs have all run (conf/train.yaml: hydra.callbacks). After a failed job Hydra
    ends the sweep with that job's error instead, before `on_multirun_end`: the table then comes as the process
    exits, after the error."""

    def __init__(self) -> None:
        self.sweeping = False  # Hydra calls on_job_end for a single run too
        self.a_job_failed = False

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.sweeping = True
        atexit.register(self.after_a_failed_job, Path(config.hydra.sweep.dir), swept_over_seeds(config))

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if self.sweeping and job_return.status == JobStatus.FAILED:  # not a Ctrl-C, which Hydra lets through
            self.a_job_failed = True
            # Imported now: at the process's exit a module imported then cannot register its own exit work (torch's).
            importlib.import_module("gan_digits.compare")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        atexit.unregister(self.after_a_failed_job)
        print(f"\n{sweep_summary(Path(config.hydra.sweep.dir), swept_over_seeds(config))}")  # apart from the last job's

    def after_a_failed_job(self, sweep_dir: Path, over_seeds: bool) -> None:
        if self.a_job_failed and (summary := sweep_summary(sweep_dir, over_seeds, failed=True)):
            print(f"\n{summary}")
