"""A run's commands as a user types them: paths from the folder the command was started in, the interpreter
and tools as the shell finds them, and the overrides the run was started with."""

import functools
import re
import shlex
import shutil
import sys
from pathlib import Path

from omegaconf import OmegaConf

from gan_digits.checks import UserInputError


def started_in() -> Path:
    """The folder the command was started in, which `hydra.job.chdir=true` leaves for the run dir."""
    from hydra.core.hydra_config import HydraConfig

    moved = HydraConfig.initialized() and HydraConfig.get().job.chdir
    return Path(HydraConfig.get().runtime.cwd) if moved else Path.cwd()


def shown(path: str | Path) -> str:
    """`path` as typed from the folder the command was started in: relative below it, absolute elsewhere."""
    path = Path(path).absolute()
    try:
        return str(path.relative_to(started_in()))
    except ValueError:
        return str(path)


def local_command(name: str) -> str:
    """`name` ("python": this interpreter; else the command beside it, such as tensorboard) as the user
    can run it from here: the bare name when that is what the shell finds, else its path (`.venv/bin/python`
    for a venv that is not activated, an absolute path from outside the project)."""
    path = Path(sys.executable) if name == "python" else Path(sys.executable).parent / name
    if not path.exists():
        return name
    found = shutil.which(path.name)
    return path.name if found and Path(found).absolute() == path.absolute() else shown(path)


def project_script(name: str) -> str:
    """The project's `name` (sample.py, train.py) as typed from here: the bare name from the project's root."""
    script = Path(__file__).resolve().parents[1] / name
    return shown(script) if script.is_file() else name


@functools.cache
def override_parser():
    """Hydra's parser of command-line overrides (built once: an ANTLR grammar)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()


def as_override(key: str, value: str) -> str:
    """`key=value` as Hydra reads `value` back: quoted where its grammar would take the value apart (a sweep job's
    folder named by its overrides holds `=`, `,` and brackets; Lightning's checkpoint names a `=`)."""
    from hydra.errors import HydraException

    for word in (f"{key}={value}", f"{key}=\"{value}\""):
        try:
            if override_parser().parse_override(word).value() == value:
                return word
        except HydraException:
            continue
    return f"{key}={value}"


# Hydra's own overrides that say where a run's outputs go or how a sweep runs, not what its config is.
WHERE_IT_RAN = re.compile(r"[~+]*hydra[./](run|mode|sweep|sweeper|launcher)\b")


def overrides(run: Path) -> list[str]:
    """The command line the run was started with (none for a run built in Python): another config
    (`--config-name`, `--config-dir`), Hydra's overrides that shape the config (`hydra.searchpath=[...]`
    for a model config kept outside conf/), then the run's own."""
    hydra, task = Path(run) / ".hydra" / "hydra.yaml", Path(run) / ".hydra" / "overrides.yaml"
    if not task.is_file():
        return []
    words = []
    if hydra.is_file():
        config = OmegaConf.load(hydra).hydra
        if config.job.config_name not in ("train", None):
            words += ["--config-name", config.job.config_name]
        words += [arg for source in config.runtime.config_sources if source.provider == "command-line"
                  for arg in ("--config-dir", source.path)]
        words += [str(item) for item in config.overrides.hydra if not WHERE_IT_RAN.match(str(item))]
    return words + [str(item) for item in OmegaConf.load(task)]


@functools.cache
def meaning(item: str) -> str:
    """An override as Hydra reads it, so that two spellings of one value match: a sweep's jobs record
    `trainer.enable_progress_bar=False` and `lr=0.0001` where the command line said `=false` and `=1e-4` (Hydra's
    sweeper writes every value back). A word that is no override (`--config-name`) stands for itself."""
    from hydra.errors import HydraException

    try:
        override = override_parser().parse_override(item)
    except HydraException:
        return item
    return f"{override.get_key_element()}={override.value()!r}"


def differing_overrides(runs: list[Path]) -> dict[Path, list[str]]:
    """Each run's `overrides` less those every one of `runs` shares (however it is spelt): what tells them apart."""
    run_overrides = {run: overrides(run) for run in runs}
    meanings = [{meaning(item) for item in items} for items in run_overrides.values()]
    shared = set.intersection(*meanings) if runs else set()
    return {run: [item for item in items if meaning(item) not in shared] for run, items in run_overrides.items()}


def override_key(item: str) -> str:
    """`seed` of `seed=3`, `+seed=3`, `++seed=3` or `~seed`."""
    return item.partition("=")[0].lstrip("+~")


def grouped_over(runs: list[Path], key: str) -> dict[tuple[str, ...], list[Path]]:
    """The runs that differ only in `key` (seed), together: {the overrides that set a group apart, as its first run
    has them: its runs}. Refused when no two runs differ in `key`, which would make every run a group of its own (a
    mistyped key, most often)."""
    differing = differing_overrides(runs)
    keys = {override_key(item) for items in differing.values() for item in items}
    if key not in keys:
        raise UserInputError(f"--mean-over {key} is not allowed: no two of these runs differ in {key}; they differ in "
                             f"{', '.join(sorted(keys)) or 'nothing'}")
    others = {run: [item for item in differing[run] if override_key(item) != key] for run in runs}
    groups: dict[frozenset[str], list[Path]] = {}  # the same overrides in another order are the same group
    for run in runs:
        groups.setdefault(frozenset(map(meaning, others[run])), []).append(run)
    return {tuple(others[group[0]]): group for group in groups.values()}


def resume_command(run_dir: Path, *changes: str) -> str | None:
    """`train.py` with the run's own overrides (but for those `changes` replace), resuming its last.ckpt in its dir;
    None for a run not started from the command line (no .hydra/ to read them from)."""
    if not (run_dir / ".hydra").is_dir():
        return None
    replaced = ("ckpt_path=", *(change.partition("=")[0] + "=" for change in changes))
    kept = [item for item in overrides(run_dir) if not item.startswith(replaced)]
    resume = [as_override("hydra.run.dir", shown(run_dir)), "ckpt_path=last", *changes]
    return shlex.join([local_command("python"), project_script("train.py"), *kept, *resume])
