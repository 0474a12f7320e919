"""Input values checked before any work, the errors that name them, and the one-line report of errors at
the entry points. What a command line asks for is checked in command_line.py."""

import difflib
import errno
import functools
import importlib
import logging
import os
import pkgutil
import re
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from gan_digits.run_log import into_run_log


class ReportedError(Exception):
    """An error whose message says everything: the entry points print it in one line, no traceback."""


class UserInputError(ReportedError, ValueError):
    """Bad input from the user (config, file, checkpoint)."""


class ConfigError(UserInputError):
    """A config value outside what the project accepts."""


def as_typed(value: Any) -> str:
    """A config value as one types it: null, true, false; anything else as repr shows it ('abc', 1.5)."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return repr(value)


def listed(words: Sequence[str], conjunction: str = "or") -> str:
    """Words as a message lists them: `a`, `a or b`, `a, b or c`."""
    *others, last = words
    return f"{', '.join(others)} {conjunction} {last}" if others else last


def check_int(key: str, value: Any, minimum: int, maximum: int | None = None, why: str = "") -> int:
    """`value` as an int in [minimum, maximum], or a ConfigError naming `key` (and `why`, when the bounds need one)."""
    in_range = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    if in_range and (maximum is None or value <= maximum):
        return value
    allowed = f"an integer from {minimum} to {maximum}" if maximum is not None else f"an integer >= {minimum}"
    raise ConfigError(f"{key}={as_typed(value)} is not allowed: expected {allowed}" + (f" ({why})" if why else ""))


def check_number(key: str, value: Any, within: Callable[[float], bool], allowed: str) -> float:
    """`value` as a number for which `within` holds, or a ConfigError naming `key` and what is `allowed`."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and within(value):
        return float(value)
    raise ConfigError(f"{key}={as_typed(value)} is not allowed: expected {allowed}")


def check_positive(key: str, value: Any) -> float:
    """`value` as a number > 0, or a ConfigError naming `key`."""
    return check_number(key, value, lambda v: v > 0, "a number > 0")


def check_weight(key: str, value: Any) -> float:
    """`value` as a number >= 0 (a loss term's weight, 0 = off), or a ConfigError naming `key`."""
    return check_number(key, value, lambda v: v >= 0, "a number >= 0 (0 = off)")


def check_probability(key: str, value: Any) -> float:
    """`value` as a number in [0, 1], or a ConfigError naming `key`."""
    return check_number(key, value, lambda v: 0 <= v <= 1, "a number from 0 to 1")


def check_choice(key: str, value: Any, choices: Sequence) -> Any:
    """`value` if it is one of `choices`, or a ConfigError naming `key`."""
    if value in choices:
        return value
    allowed = ", ".join(choice if isinstance(choice, str) else as_typed(choice) for choice in choices)
    raise ConfigError(f"{key}={as_typed(value)} is not allowed: expected one of {allowed}")


def check_path(key: str, value: Any) -> str | Path:
    """`value` as a path, or a ConfigError naming `key`: null or a number reached Path() as a TypeError traceback."""
    if isinstance(value, Path) or (isinstance(value, str) and value):
        return value
    raise ConfigError(f"{key}={as_typed(value)} is not allowed: expected a path")


def write_probe(folder: Path, size: int = 0) -> None:
    """Create a file of `size` bytes in `folder` (synced to disk) and remove it: the OSError that writing there
    would raise (a read-only folder; with a size, a full disk), before the work whose output it would lose."""
    with tempfile.NamedTemporaryFile(dir=folder) as probe:
        if size:
            probe.write(b"\0" * size)
            probe.flush()
            os.fsync(probe.fileno())


def check_output(out: str | Path, suffixes: Sequence[str], key: str = "out") -> Path:
    """An output file in an existing folder this process can write in, with one of `suffixes`, or a ConfigError
    naming `key`: before any work."""
    out = Path(check_path(key, out))
    if out.suffix not in suffixes:
        raise ConfigError(f"{key}={str(out)!r} is not allowed: expected a file ending in one of {', '.join(suffixes)}")
    if not out.parent.is_dir():
        raise ConfigError(f"{key}={str(out)!r} is not allowed: its folder {out.parent} does not exist")
    if out.is_dir():
        raise ConfigError(f"{key}={str(out)!r} is not allowed: it is a folder")
    if out.is_file() and os.access(out, os.W_OK):  # overwriting it takes the file's right alone, not its folder's
        return out
    check_folder_writable(key, out, out.parent)
    return out


def check_output_folder(out: str | Path, key: str = "out") -> Path:
    """A folder for output files: a new one in an existing folder this process can write in, or an empty one, or a
    ConfigError naming `key`: the files of a folder in use would be overwritten by, or mixed with, the new ones."""
    folder = Path(check_path(key, out))
    if folder.is_dir():
        if any(folder.iterdir()):
            raise ConfigError(f"{key}={str(out)!r} is not allowed: that folder holds files already (name a new or "
                              f"empty folder: nothing is overwritten)")
        check_folder_writable(key, out, folder)
    elif folder.exists():
        raise ConfigError(f"{key}={str(out)!r} is not allowed: it is a file, not a folder")
    elif not folder.parent.is_dir():
        raise ConfigError(f"{key}={str(out)!r} is not allowed: its folder {folder.parent} does not exist")
    else:
        check_folder_writable(key, out, folder.parent)
    return folder


def check_folder_writable(key: str, out: str | Path, folder: Path) -> None:
    """A ConfigError naming `key` (set to `out`) unless this process can write in the existing `folder` that an
    output goes to: before any work (a read-only folder was an OSError traceback once the file was drawn). A run's
    own folder is run_dir.check_writable's: made, and probed for a checkpoint's size."""
    try:
        write_probe(folder)
    except OSError as err:
        raise ConfigError(f"{key}={str(out)!r} is not allowed: its folder {folder} cannot be written "
                          f"({err.strerror})") from err


def targets(config: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(key, `_target_`) of every mapping in the plain `config` (at `key`) that names what instantiate builds."""
    if isinstance(config, dict):
        if isinstance(target := config.get("_target_"), str):
            yield key, target
        for child, value in config.items():
            yield from targets(value, f"{key}.{child}" if key else child)


def check_importable(key: str, target: str) -> None:
    """`target` (the `_target_` at `key`) imports, or a ConfigError naming it with the names nearest to the one
    missing: Hydra says "Error locating target" in four lines, once the run is being built
    (`model.g_optimizer._target_=torch.optim.Adamm`)."""
    if missing := _not_importable(target):
        raise ConfigError(f"{key}._target_={target} is not allowed: {missing}")


def _not_importable(target: str) -> str | None:
    """Why `target` does not import (the name its longest importable part lacks, and the names it has nearest to
    that one), or None when it does."""
    parts, found = target.split("."), None
    for i, name in enumerate(parts):
        if found is not None and hasattr(found, name):
            found = getattr(found, name)
            continue
        module = ".".join(parts[: i + 1])
        try:
            found = importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:  # the module is there, and it imports what is not: its own error, as it is
                raise
            if found is None:
                return f"there is no module {name}"
            names = {n for n in dir(found) if not n.startswith("_")}
            names |= {m.name for m in pkgutil.iter_modules(getattr(found, "__path__", []))}  # its modules, unimported
            near = difflib.get_close_matches(name, sorted(names), n=3, cutoff=0.6)
            return f"{'.'.join(parts[:i])} has no {name}" + (f" (did you mean {listed(near)}?)" if near else "")
    return None


def reported_cause(err: BaseException) -> ReportedError | None:
    """The ReportedError behind `err`, if any: hydra.utils.instantiate wraps what a constructor raised."""
    while err is not None and not isinstance(err, ReportedError):
        err = err.__cause__
    return err


# A traceback's text names each exception it holds on a line of its own: "gan_digits.data.idx.MNISTFileError: ...".
RAISED_LINE = re.compile(r"^(gan_digits(?:\.\w+)+): ", re.M)


def raised_in_spawned_rank(traceback_text: str) -> ReportedError | None:
    """The ReportedError a spawned DDP rank raised (`ddp_spawn`, a `-m` sweep's ranks, forked ones on a
    GPU), rebuilt from the one thing torch hands the parent process: the rank's traceback as text. The
    outermost one wins, as `reported_cause` finds it; its message runs to the blank line that ends it."""
    for line in reversed(list(RAISED_LINE.finditer(traceback_text))):
        module, _, name = line[1].rpartition(".")
        try:
            raised = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        if isinstance(raised, type) and issubclass(raised, ReportedError):
            message = traceback_text[line.end():].split("\n\n", 1)[0].strip()
            return (UserInputError if issubclass(raised, UserInputError) else ReportedError)(message)
    return None


def instantiate(config: Any, **kwargs: Any) -> Any:
    """hydra.utils.instantiate, re-raising our own errors as they are rather than wrapped in Hydra's."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate

    try:
        return hydra_instantiate(config, **kwargs)
    except InstantiationException as err:
        cause = reported_cause(err)
        if cause is None:
            raise
        raise cause from None


def disk_full(err: BaseException | None) -> ReportedError | None:
    """A one-line report when a full disk (or quota) is behind `err`, wherever in its chain."""
    while err is not None:
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            where = f" writing {err.filename}" if err.filename else ""
            return ReportedError(
                f"the disk is full{where} ({err.strerror}). Checkpoints are written to a temporary file "
                "and renamed, so the last one saved is whole: free some space, then resume with "
                "ckpt_path=last and hydra.run.dir=<this run's dir>"
            )
        err = err.__cause__ or err.__context__
    return None


def sweep_job() -> int | None:
    """The number of the job of a `-m` sweep that this process runs now, or None outside one."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return HydraConfig.get().job.get("num")


def report_user_errors(entry_point: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a command's task function (under `@hydra.main`, which would print a traceback): a
    ReportedError (or a full disk) prints `error: ...` and exits 2 for bad input, 1 otherwise;
    anything else raises. In a job of a sweep it fails that job alone: Hydra runs the sweep's other
    jobs, then ends (exit 1) with the first failed job's line. A Ctrl-C prints `interrupted` and exits
    130, as a shell reports SIGINT (it was a traceback of wherever evaluate or sample.py had got to)."""

    @functools.wraps(entry_point)
    def wrapped(*args, **kwargs):
        try:
            return entry_point(*args, **kwargs)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(128 + signal.SIGINT)
        except Exception as err:
            cause = reported_cause(err) or disk_full(err)
            if cause is None:
                raise
            print(f"error: {cause}", file=sys.stderr)
            into_run_log(f"error: {cause}", logging.ERROR)
            if (job := sweep_job()) is not None:
                from hydra.errors import CompactHydraException  # what Hydra prints as its message alone

                raise CompactHydraException(f"error: job #{job} of the sweep failed: {cause}") from None
            sys.exit(2 if isinstance(cause, UserInputError) else 1)

    return wrapped
