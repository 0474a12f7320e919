"""A Hydra callback that gives each fresh run a folder of its own, before Hydra writes the run's config there.

Hydra names a run's folder by the second it started (outputs/<date>/<time>), so runs started in the same second
(`python train.py model=gan & python train.py model=dcgan &`) shared one folder and overwrote each other's
checkpoints; and `hydra.run.dir=<an earlier run's folder>` without `ckpt_path` trained afresh over that run,
its `.hydra` config replaced before any of train.py's checks ran; and a folder that cannot be written failed in
Hydra's own mkdir, with a traceback. Sweeps (`-m`, `hydra.sweep.dir`) alike. A resume that fails before it saves
gets the run's (a sweep job's) earlier `.hydra` record back.
"""

import errno
import functools
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, read_write

from gan_digits.checks import ConfigError, report_user_errors, write_probe
from gan_digits.command_line import override_key

# What a run that trained leaves and another would overwrite, the most telling first (not its TensorBoard
# events: a run that failed at start-up leaves a file of them, and its folder is the user's to reuse).
RUN_OUTPUTS = ("checkpoints/last.ckpt", "checkpoints/*.ckpt", "samples/step_*.png")
JOBS = {"run": "", "sweep": "*/"}  # where a run's outputs lie in its folder: a sweep's in its jobs' folders
RANK_VARIABLES = ("LOCAL_RANK", "RANK", "SLURM_PROCID")  # set by the launchers of a run's other processes
# The folders keep_own_folder created for this command's run or sweep, each with the folders above it that it
# created too (outputs/<date>/ for the day's first run, deepest first).
CREATED: dict[Path, list[Path]] = {}
# A resumed run's record as it was before Hydra rewrote it for this command: {folder: (its last.ckpt's
# (mtime, size) or None, {.hydra file: its bytes})}, put back by dropped_on_error when the resume fails.
EARLIER_RECORDS: dict[Path, tuple[tuple[int, int] | None, dict[Path, bytes]]] = {}


def earlier_run(folder: Path, jobs: str = "") -> Path | None:
    """A file of an earlier run in `folder` (`jobs`: the glob of a sweep's job folders), or None."""
    for pattern in RUN_OUTPUTS:
        if found := sorted(folder.glob(jobs + pattern)):
            return found[0]
    return None


def requeued() -> bool:
    """Whether SLURM started this job again (requeued on SIGUSR1, or pre-empted): it trains its own run on."""
    return os.environ.get("SLURM_RESTART_COUNT", "0") not in ("", "0")


def resumes_from(folder: Path, ckpt_path: str | None) -> bool:
    """Whether the run resumes a checkpoint of `folder` (`last`: its own), and so trains that run on there."""
    if requeued() or ckpt_path == "last":
        return True
    return ckpt_path is not None and folder.resolve() in Path(ckpt_path).resolve().parents


def check_no_earlier_run(folder: Path, ckpt_path: str | None, key: str, jobs: str = "", other: str = "") -> None:
    """A ConfigError when `folder` (set by `key`) holds an earlier run that this one does not resume; `other`:
    how to get another folder."""
    if not resumes_from(folder, ckpt_path) and (found := earlier_run(folder, jobs)):
        raise ConfigError(f"{key}={folder} already holds a run ({found.relative_to(folder)}): train it on with "
                          f"ckpt_path=last, or train afresh in another folder{other}")


def unused_folder(folder: Path) -> Path:
    """`folder`, else `folder_2`, `folder_3`...: the first one this process creates. mkdir either creates a folder
    or fails, so of two runs started in the same second each gets its own."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = folder, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1
            candidate = folder.with_name(f"{folder.name}_{n}")


def unwritable(folder: Path, err: OSError, key: str = "hydra.run.dir") -> ConfigError:
    space = "Free some space, or choose" if err.errno in (errno.ENOSPC, errno.EDQUOT) else "Choose"
    return ConfigError(f"cannot write the run's outputs to {folder}: {err.strerror or err}. "
                       f"{space} another folder with {key}=<folder>")


def check_writable(folder: str | Path, key: str = "hydra.run.dir") -> None:
    """Fail now, not at the first checkpoint, when the run's folder cannot be written (read-only, full)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_probe(folder, 1_000_000)  # about a checkpoint's first write
    except OSError as err:
        raise unwritable(folder, err, key) from err


def checkpoint_state(folder: Path) -> tuple[int, int] | None:
    """When and how large `folder`'s last.ckpt was written, or None without one: whether a run saved since."""
    last = folder / "checkpoints" / "last.ckpt"
    return (last.stat().st_mtime_ns, last.stat().st_size) if last.is_file() else None


def keep_earlier_record(folder: Path, subdir: str | None) -> None:
    """Hydra rewrites a run's `.hydra` config with each command run in its folder, so a resume refused for a
    forgotten override (`model=gan`) replaced the record of the overrides the run was trained with: set aside."""
    if subdir and (record := folder / subdir).is_dir():
        EARLIER_RECORDS[folder.resolve()] = (checkpoint_state(folder),
                                             {path: path.read_bytes() for path in record.iterdir() if path.is_file()})


def dropped_on_error(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Decorate train.py's task: when it fails before writing anything (a mistyped value, most often), the folder
    this command created for the run, holding only Hydra's `.hydra` config and the run's log, is removed, instead of
    one such folder per try piling up in outputs/ (and in compare's and TensorBoard's lists). A folder the user
    named stays, as do a sweep's job folders (compare lists a failed job), and the folders above it that it created
    are removed too while empty (outputs/<date>/ of the day's first try). A run that this command failed to train
    on, its checkpoint as it was, gets its earlier `.hydra` record back."""

    @functools.wraps(task)
    def wrapped(cfg: DictConfig) -> Any:
        try:
            return task(cfg)
        except BaseException:
            hydra = HydraConfig.get()
            folder = Path(hydra.runtime.output_dir)
            written = {path.name for path in folder.iterdir()}
            if folder.resolve() in CREATED and written <= {hydra.output_subdir, f"{hydra.job.name}.log"}:
                shutil.rmtree(folder)
                for above in CREATED[folder.resolve()]:
                    try:
                        above.rmdir()  # only while empty: another run may have started in it since
                    except OSError:
                        break
            elif (earlier := EARLIER_RECORDS.get(folder.resolve())) and earlier[0] == checkpoint_state(folder):
                for path, content in earlier[1].items():
                    path.write_bytes(content)
            raise

    return wrapped


def keep_own_folder(config: DictConfig, mode: str) -> None:
    """The run's folder (`mode`: run or sweep), checked writable before Hydra writes there: a folder Hydra named
    is claimed, or the run moves to the next free one; a folder the user named holds no earlier run, unless
    this run resumes one of its checkpoints."""
    key = f"hydra.{mode}.dir"
    named = any(override_key(override) == key for override in config.hydra.overrides.hydra)
    if "TORCHELASTIC_RUN_ID" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1 and not named:
        raise ConfigError(f"under torchrun each of the run's {os.environ['WORLD_SIZE']} processes would name its own "
                          f"folder by the second it started: name one for all of them, {key}=<folder>")
    if any(os.environ.get(name, "0") != "0" for name in RANK_VARIABLES):
        return  # another process of a run whose first process chose and checked the folder
    folder = Path(OmegaConf.select(config, key))
    if not named:
        above = [parent for parent in folder.absolute().parents if not parent.exists()]
        try:
            own = unused_folder(folder)
        except OSError as err:
            raise unwritable(folder, err, key) from err
        CREATED[own.resolve()] = above
        if own != folder:
            with read_write(config.hydra):
                OmegaConf.update(config, key, str(own))
                config.hydra.overrides.hydra.append(f"{key}={own}")  # a sweep composes each job's config from these
            print(f"{folder} is taken (a run started in the same second): this run writes to {own}")
            folder = own
    else:
        check_no_earlier_run(folder, config.get("ckpt_path"), key, JOBS[mode], f" (leave out {key} for a new one)")
        for run in [folder] if mode == "run" else sorted(path for path in folder.glob("*") if path.is_dir()):
            keep_earlier_record(run, config.hydra.output_subdir)  # a sweep's: each of its jobs
    check_writable(folder, key)


class OwnRunFolder(Callback):
    """Hydra calls it once per command, before any job (conf/train.yaml: hydra.callbacks)."""

    @report_user_errors
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        keep_own_folder(config, "run")

    @report_user_errors
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        keep_own_folder(config, "sweep")
