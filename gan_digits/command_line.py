"""A command line checked before any work: Hydra's overrides, the config keys they name and the plugins they
need (train.py, sample.py), and the `key=value` words of the smaller commands (evaluate, the studio). Each
mistake is a ConfigError or UserInputError in one line, naming the word as typed and, where it can, the one
meant."""

import argparse
import difflib
import importlib.util
import re
import shlex
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from gan_digits.checks import ConfigError, UserInputError, as_typed, check_choice
from gan_digits.run_commands import as_override, override_parser

# A group's config that is no option of its own: the base the models inherit (Hydra lists it among them).
BASE_OPTIONS = {"model": "default"}


def override_key(override: str) -> str:
    """The key an override as typed sets, adds or deletes: `+trainer.x=1`, `~a`, `a=3` -> trainer.x, a, a."""
    return override.split("=", 1)[0].lstrip("+~")


def check_filled(config: Any, why: str = "") -> None:
    """Every `???` of a composed config given a value, or a ConfigError naming them: before any work
    (Hydra leaves a missing value to fail deep inside instantiate, with a traceback)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import InterpolationResolutionError

    try:
        missing = sorted(OmegaConf.missing_keys(config))
    except InterpolationResolutionError as err:  # OmegaConf's traceback, naming where it failed, not what was set
        text, key = str(err).splitlines()[0], getattr(err, "full_key", None)
        if emptied := re.search(r"access ([\w.]+): node `([\w.]+)` is not a container", text):
            read, node = emptied.groups()  # `paths=null`, which trainer.default_root_dir reads paths.output_dir from
            value = as_typed(OmegaConf.select(config, node, throw_on_resolution_failure=False))
            raise ConfigError(f"{node}={value} is not allowed: {key} reads {read} from it") from None
        raise ConfigError(f"{key} does not resolve: {text}") from None
    if missing:
        raise ConfigError(f"{', '.join(missing)} must be set" + (f": {why}" if why else ""))


def check_added_keys(config: Any, overrides: Sequence[str], groups: Iterable[str] = ()) -> None:
    """No key that a `+key=value` override (of `overrides`, as typed) added where nothing reads it: Hydra takes
    any key after a `+`, and `+max_epochs=3` (for trainer.max_epochs) trained on without it. A key added inside
    what instantiate builds (`+model.loss.real_label=0.9`, `+callbacks.mine._target_=...`) is the class's to
    take or refuse; anywhere else nothing reads a key the config files do not have. `groups`: the config groups,
    which `+group=option` selects."""
    from omegaconf import OmegaConf

    plain = {key: value for key, value in OmegaConf.to_container(config).items() if key != "hydra"}  # as a run sees it
    skipped = {*groups, "hydra"}
    for override in overrides:
        if not override.startswith("+"):
            continue
        key = override_key(override)
        section, _, name = key.rpartition(".")
        top = key.split(".")[0]
        if key in skipped or top == "hydra" or (section and _built(plain.get(top))):
            continue
        value = OmegaConf.select(config, key, throw_on_resolution_failure=False)
        if OmegaConf.is_dict(value):  # `+paths={...}` merges into a section that may be there: not told apart
            continue
        raise ConfigError(f"{key}={as_typed(value)} is not allowed: nothing reads {key}, which a + added "
                          f"({_hint(plain, key, skipped)})")


def check_known_keys(argv: Sequence[str], conf: Path, config_name: str) -> None:
    """A key that no config has, typed without `+` (`trainer.max_epoch=2`), named with the key meant. Hydra says
    `Key 'max_epoch' is not in struct` and to add the key with `+`, which turns a typo into a key nothing reads
    (or Lightning's TypeError seconds later). And a group's option that no config folder has (`model=gann`),
    named with the options in one line (Hydra's message takes 13). Composes the config as Hydra will (~0.3 s),
    a sweep's first job (Hydra composes every job before running one) and a job for each other option of a config
    group it sweeps; other composition errors are left to Hydra."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException, HydraException, MissingConfigException
    from omegaconf import OmegaConf
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    if (command := _as_hydra_reads(argv, config_name)) is None:
        return
    config_name, typed = command
    try:
        overrides = override_parser().parse_overrides(typed)
        words = [f"{o.get_key_element()}={next(o.sweep_string_iterator())}" if o.is_sweep_override() else word
                 for word, o in zip(typed, overrides)]
    except (HydraException, StopIteration):
        return  # check_overrides or Hydra names the word; a sweep Hydra alone expands (glob, interval)

    def composed(words: list[str]) -> Any:
        with initialize_config_dir(config_dir=str(conf.absolute()), version_base="1.3"):
            return compose(config_name, overrides=words)

    groups = [path.name for path in conf.iterdir() if path.is_dir()]

    def unknown_key(missing: str, job: list[str], which: str, deleting: bool = False) -> None:
        """Raise the ConfigError naming the word that set (or, `deleting`, deleted) `missing`, a key `job`'s config
        lacks, with the key meant (`which`: the job, where it is not the sweep's first); return where only Hydra
        can tell."""
        for word, override, said in zip(job, overrides, typed):
            key = override.key_or_group
            if override.is_add() or override.is_force_add() or override.is_delete() != deleting or not (
                    key == missing or key.startswith(f"{missing}.")):
                continue
            try:
                plain = OmegaConf.to_container(composed([other for other in job if other != word]))
            except HydraException:
                return
            if deleting and missing in _key_paths(plain):  # Hydra deletes only a value: a null "does not exist"
                raise ConfigError(f"{said} is not allowed: {missing} is null already, nothing to delete")
            for other, deletion in zip(job, overrides):  # `callbacks.quality.n=1000 '~callbacks'`: Hydra's five lines
                if not deleting and deletion.is_delete() and f"{missing}.".startswith(f"{deletion.key_or_group}."):
                    what = key if key == deletion.key_or_group else f"a key in {deletion.key_or_group}"
                    raise ConfigError(f"{said} is not allowed with {other}: it sets {what}, which {other} deletes")
            section, _, name = missing.rpartition(".")
            where = f"{section} has no key {name}" if section else f"the config has no key {name}"
            built = section and not deleting and _built(plain.get(section.split(".")[0]))
            unmatched = (f"a key the config files leave out is added with a +, for the class built there to take or "
                         f"refuse: +{said}")
            hint = _hint(plain, missing, then=key[len(missing):], unmatched=unmatched if built else "", groups=groups)
            raise ConfigError(f"{said} is not allowed{which}: {where} ({hint})")

    # The sweep's first job, then a job for each other option of a config group it sweeps (`-m model=gan,dcgan`).
    jobs = [(words, "")] + [([*words[:index], choice, *words[index + 1:]], f" with {choice}")
                            for index, override in enumerate(overrides)
                            if override.is_sweep_override() and (conf / override.key_or_group).is_dir()
                            for choice in (f"{override.get_key_element()}={value}"
                                           for value in list(override.sweep_string_iterator())[1:])]
    for job, which in jobs:
        try:
            composed(job)
            continue
        except MissingConfigException as err:
            group, _, name = (err.missing_cfg_file or "").rpartition("/")
            if not group or err.options is None:
                return  # a primary config (--config-name): Hydra names it
            options = [option for option in err.options if option != BASE_OPTIONS.get(group)]
            meant = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
            raise ConfigError(f"{group}={name} is not allowed: expected one of {', '.join(options)}"
                              + (f" (did you mean {meant[0]}?)" if meant else "")) from None
        except ConfigCompositionException as err:
            if deleted := re.fullmatch(r"Could not delete from config\. '(.+)' does not exist\.", str(err)):
                unknown_key(deleted[1], job, which, deleting=True)
                return
            cause = err.__cause__
            if not isinstance(cause, (ConfigAttributeError, ConfigKeyError)) or "not in struct" not in str(cause):
                return
        unknown_key(cause.full_key, job, which)
        return


def _as_hydra_reads(argv: Sequence[str], config_name: str) -> tuple[str, list[str]] | None:
    """The config name and the overrides Hydra composes for `argv`: `--config-name`, and `--config-dir` as the
    search path entry it adds. None where only Hydra can tell: another primary folder (`--config-path`), a search
    path of the user's beside `--config-dir`, or a flag that prints something other than a run (`--help`)."""
    if any(re.fullmatch(r"(-cp|--config-path|-h|--help|--hydra-help|--info|-sc|--shell-completion|--experimental-rerun)"
                        r"(=.*)?", word) for word in argv):
        return None
    flags = {"-cn": "name", "--config-name": "name", "-cd": "dir", "--config-dir": "dir"}
    given = {flags[word]: value for word, value in zip(argv, [*argv[1:], ""]) if word in flags}
    given |= {flags[flag]: value for flag, _, value in (word.partition("=") for word in argv) if flag in flags and value}
    overrides = [word for before, word in zip(["", *argv], argv)  # not a flag's value (`-cd ~/my_conf`, quoted)
                 if before not in flags and ("=" in word or word.startswith("~")) and not word.startswith("-")]
    if "dir" in given:
        if any(word.lstrip("+").startswith("hydra.searchpath=") for word in overrides):
            return None
        overrides.append(f"hydra.searchpath=[file://{Path(given['dir']).absolute()}]")
    return given.get("name", config_name), overrides


def _hint(plain: dict, key: str, skipped: Iterable[str] = (), then: str = "", unmatched: str = "",
          cutoff: float = 0.7, groups: Iterable[str] = ()) -> str:
    """What a user who typed `key`, which the config lacks, may have meant: the key of that name elsewhere
    (`max_epochs`: trainer.max_epochs), else the nearest spelling beside it or anywhere (`trainer.max_epoch`),
    else `unmatched` or the keys beside it. `skipped`: top-level keys never offered (the config groups, chosen
    otherwise); `then`: what was typed after `key` (`.max_epochs` after `traner`), kept where the key meant has it;
    `cutoff`: how alike a spelling must be (difflib's ratio); `groups`: the config groups, offered as groups
    (`trainer.logger`: the logger group, not a key to set)."""
    section, _, name = key.rpartition(".")
    paths = [path for path in _key_paths(plain) if path not in (key, *skipped)]
    leaf = {path: path.rpartition(".")[2] for path in paths}
    beside = [path for path in paths if path.rpartition(".")[0] == section]
    meant = [path for path in paths if leaf[path] == name]
    for among in (beside, paths):
        if not meant:
            close = difflib.get_close_matches(name, {leaf[path] for path in among}, n=1, cutoff=cutoff)
            meant = [path for path in among if leaf[path] in close]

    def said(path: str) -> str:
        if then and path + then in paths:
            return path + then
        return f"the {path} config group: {path}=<option>" if path in groups else path

    if meant:
        return f"did you mean {' or '.join(map(said, meant))}?"
    return unmatched or f"the keys beside it: {', '.join(beside or [path for path in paths if '.' not in path])}"


def _built(node: Any) -> bool:
    """Whether instantiate builds `node` (it names a `_target_`) or its entries (the callbacks, the loggers)."""
    return isinstance(node, dict) and ("_target_" in node or any(
        isinstance(entry, dict) and "_target_" in entry for entry in node.values()))


def _key_paths(node: Any, prefix: str = "") -> list[str]:
    """Every key of a nested dict as a dotted path, its leaves and its sections alike."""
    paths = []
    for key, value in node.items() if isinstance(node, dict) else ():
        paths += [f"{prefix}{key}", *_key_paths(value, f"{prefix}{key}.")]
    return paths


def check_overrides(argv: Sequence[str], groups: dict[str, Sequence[str]] | None = None,
                    optional: Sequence[str] = ()) -> None:
    """Command-line overrides that Hydra would stop on with a traceback or a grammar lesson, named in one line
    as a ConfigError before Hydra reads them: a `~` in a value (`data.root=~/mnist`: the shell leaves it, Hydra
    reads it as an operator) or a second `=` (`ckpt=.../epoch=0-step=4.ckpt`), and a config group set to what is
    no option's name (`logger=null`, `model=1`); and Hydra's flags as check_hydra_flags reads them.
    `groups` maps each group to its options; `optional` are the groups a run may leave out (`~group`)."""
    from hydra.errors import HydraException

    check_hydra_flags(argv)
    parser = override_parser()
    groups = groups or {}
    for word in argv:
        if word.startswith("-") or "=" not in word:
            continue
        key, value = word.split("=", 1)
        try:
            override = parser.parse_override(word)
        except HydraException:
            quoted = shlex.quote(as_override(key, value))  # 'ckpt="/r/epoch=0-step=4.ckpt"'
            if "~" in value:
                home = value.split("/")[0] == "~"  # ~ or ~/...: the user's home
                fix = f"{key}=$HOME{value[1:]} (the shell fills in $HOME)" if home else quoted
                raise ConfigError(f"{word} is not allowed: Hydra reads ~ as an operator, even in a path: write {fix}") from None
            if "=" in value:  # Lightning's own checkpoint names: epoch=0-step=4.ckpt
                raise ConfigError(f"{word} is not allowed: Hydra takes a second = for a mistake, even in a path: "
                                  f"write {quoted}") from None
            continue  # Hydra's own message says what is wrong with the word
        group = key.lstrip("+")
        if group in groups and not (override.is_delete() or override.is_sweep_override()
                                    or isinstance(override.value(), (str, list))):
            leave_out = f", or ~{group} to run without it" if group in optional else ""
            raise ConfigError(f"{word} is not allowed: {group} is a config group: expected one of "
                              f"{', '.join(groups[group])}{leave_out}")


def check_hydra_flags(argv: Sequence[str]) -> None:
    """Hydra's own flags, read by Hydra's parser, in the combinations Hydra refuses with a ValueError traceback: two
    of its modes at once (`-m model=gan,dcgan --cfg job`, to see a sweep's config) and `--resolve` without `--cfg`;
    and `--experimental-rerun`, which unpickles the file it is given: no pickled code runs here."""
    from hydra._internal.utils import get_args_parser  # Hydra's parser: its flags as it reads them

    args = get_args_parser().parse_known_args(list(argv))[0]
    if args.experimental_rerun is not None:
        raise ConfigError(f"--experimental-rerun {args.experimental_rerun} is not allowed: Hydra unpickles that file, "
                          "which can run any code in it. To run a run again, give its overrides (its "
                          ".hydra/overrides.yaml); to go on with it, the \"train on\" command it printed")
    modes = [flag for flag, given in (("--run", args.run), ("--multirun", args.multirun), ("--cfg", args.cfg),
                                      ("--info", args.info), ("--shell-completion", args.shell_completion))
             if given not in (None, False)]
    if len(modes) > 1:
        sweep = " (to see a sweep job's config: its values, without -m, and --cfg job)" if "--multirun" in modes else ""
        raise ConfigError(f"{' with '.join(modes)} is not allowed: Hydra does one of --run, --multirun (-m), --cfg (-c), "
                          f"--info (-i) and --shell-completion at a time{sweep}")
    if args.resolve and args.cfg is None and not args.help:
        raise ConfigError("--resolve is not allowed without --cfg: it resolves the config that --cfg prints "
                          "(--cfg job --resolve)")


# Hydra plugins an option under conf/ may switch to (`override /hydra/sweeper: optuna`): the module each
# installs, and the extra of pyproject.toml that installs it.
PLUGINS = {"sweeper/optuna": ("hydra_plugins.hydra_optuna_sweeper", "sweep"),
           "launcher/submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "slurm")}


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing too
        return False


def check_plugins(argv: Sequence[str], conf: Path) -> None:
    """A config option that switches Hydra to a plugin this environment lacks (`hparams_search=fid_optuna`
    without the sweep extra), named with the command that installs it: Hydra says only "Could not find
    'hydra/sweeper/optuna'"."""
    from omegaconf import OmegaConf

    for word in argv:
        group, _, option = word.lstrip("+").partition("=")
        path = conf / group / f"{option}.yaml"
        if not re.fullmatch(r"\w+", group) or not re.fullmatch(r"\w+", option) or not path.is_file():
            continue
        for entry in OmegaConf.load(path).get("defaults", []):
            for key, name in entry.items() if OmegaConf.is_dict(entry) else ():
                plugin = f"{key.removeprefix('override /hydra/')}/{name}"
                if plugin in PLUGINS and not installed(PLUGINS[plugin][0]):
                    kind, name = plugin.split("/")
                    raise ConfigError(f"{word} needs Hydra's {name} {kind}, not installed here: pip install -e "
                                      f"\".[{PLUGINS[plugin][1]}]\" (from the project root)")


def key_value_argv(argv: list[str] | None = None, flags: Sequence[str] = ()) -> list[str]:
    """Command-line words for argparse, read the way the Hydra commands read theirs too:
    `key=value` as `--key=value`, and `flag=true` as `--flag` for the boolean `flags`. A word naming a file or
    folder that exists stays a path (Lightning's `epoch=0-step=4.ckpt`)."""
    words = []
    for word in sys.argv[1:] if argv is None else argv:
        if re.fullmatch(r"[A-Za-z_][\w.-]*=.*", word, flags=re.DOTALL) and not Path(word).exists():
            key, value = word.split("=", 1)
            key = key.replace("_", "-")
            if key in flags:
                said = check_choice(key.replace("-", "_"), value.lower(), ("true", "false", "1", "0", "yes", "no"))
                words += [f"--{key}"] if said in ("true", "1", "yes") else []
                continue
            word = f"--{key}={value}"
        words.append(word)
    return words


class KeyValueParser(argparse.ArgumentParser):
    """argparse for the commands that take `key=value` words as the Hydra commands do (`key_value_argv`): a bad
    word fails as a UserInputError in one line, said as typed (`prot=8000`, where argparse said `--prot=8000`
    under its usage), with the key meant. No abbreviations (argparse took `epoch=2` for `epochs`): a key is
    taken as spelt, as train.py takes its own."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> argparse.Namespace:
        """`args` (default: the command line) read by `key_value_argv`, its flags the parser's `store_true` options."""
        flags = [action.option_strings[0].lstrip("-") for action in self._actions
                 if action.option_strings and action.nargs == 0 and action.const is True]
        return super().parse_args(key_value_argv(None if args is None else list(args), flags), namespace)

    def error(self, message: str) -> NoReturn:
        keys = [action.dest for action in self._actions if action.option_strings and action.dest != "help"]
        if unknown := re.fullmatch(r"unrecognized arguments: (\S+).*", message):
            word = unknown.group(1)
            key, equals, value = word.lstrip("-").partition("=")
            if not (equals or word.startswith("-")):
                paths = [action.dest for action in self._actions if not action.option_strings]
                takes = f"one {paths[0]} at most, then key=value settings" if paths else "key=value settings"
                raise UserInputError(f"{key} is not allowed: expected {takes} of {', '.join(keys)}")
            key = key.replace("-", "_")
            # A lower cutoff than for config keys: settings are as short as n (nn: did you mean n?).
            settings = f"the settings are {', '.join(keys)}" if keys else "it takes none"
            hint = _hint(dict.fromkeys(keys), key, unmatched=settings, cutoff=0.6)
            said = f"{key}={value}" if equals else key  # `--nn 3`: its value is the next word
            raise UserInputError(f"{said} is not allowed: {self.prog} has no setting {key} ({hint})")
        if missing := re.fullmatch(r"the following arguments are required: (?:--)?([\w-]+).*", message):
            key = missing.group(1).replace("-", "_")
            action = next((action for action in self._actions if action.dest == key), None)
            word = f"<{key}>" if action and not action.option_strings else f"{key}=<{key}>"
            about = f"{action.help} " if action and action.help else ""
            raise UserInputError(f"{key} must be set: {about}({self.prog} {word})")
        if invalid := re.fullmatch(r"argument --([\w-]+): invalid (\w+) value: (.*)", message):
            key, kind, value = invalid.groups()
            expected = {"int": "an integer", "float": "a number"}.get(kind, kind)
            raise UserInputError(f"{key.replace('-', '_')}={value} is not allowed: expected {expected}")
        raise UserInputError(re.sub(r"--([\w-]+)", lambda option: option.group(1).replace("-", "_"), message))
