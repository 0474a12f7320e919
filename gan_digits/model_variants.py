"""The `model=` and overrides that build a saved model's networks, read off conf/model/: a checkpoint refused for
another model says what to type, whether or not its run's folder (and its .hydra/ record) came with it."""

from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gan_digits.checks import as_typed

MODEL_CONF = Path(__file__).resolve().parents[1] / "conf" / "model"
NETS = ("generator", "discriminator")


def variant(name: str) -> DictConfig:
    """conf/model/<name>.yaml over the variants it inherits (`defaults: [dcgan]`), merged as Hydra merges them: in
    the order listed, the file's own keys where `_self_` stands (last without it)."""
    own = OmegaConf.load(MODEL_CONF / f"{name}.yaml")
    defaults = list(own.pop("defaults", []))
    return OmegaConf.merge(*(own if entry == "_self_" else variant(entry)
                             for entry in defaults + ([] if "_self_" in defaults else ["_self_"])))


def overrides_from(name: str, saved: dict) -> list[str] | None:
    """`model=<name>` and the `model.<net>.<key>=<value>` overrides that turn that variant's networks into those of
    `saved`; None for a variant of other classes."""
    config = variant(name)
    if any(OmegaConf.select(config, f"{net}._target_") != saved.get(net, {}).get("_target_") for net in NETS):
        return None  # default.yaml's `???` nets, and the variants of other classes
    words = [f"model={name}"]
    for net in NETS:  # the generator's first: the discriminator's may follow it (`${model.generator.clusters}`)
        built = OmegaConf.to_container(OmegaConf.create({"model": config}), resolve=True)["model"][net]
        for key, value in saved[net].items():
            if key not in built or built[key] != value:
                words.append(f"{'' if key in built else '+'}model.{net}.{key}={as_typed(value)}")
                OmegaConf.update(config, f"{net}.{key}", value, force_add=True)
        words += [f"~model.{net}.{key}" for key in built if key not in saved[net]]
    return words


def overrides_that_build(saved: dict) -> list[str] | None:
    """The words of `overrides_from` for the variant that needs fewest; None when no variant has the classes of
    `saved` (a checkpoint's model config), or conf/ is not beside the package."""
    found = []
    for path in sorted(MODEL_CONF.glob("*.yaml")):
        try:
            words = overrides_from(path.stem, saved)
        except (OSError, yaml.YAMLError, OmegaConfBaseException):  # a variant of the user's this reading cannot follow
            continue
        if words is not None:
            found.append(words)
    return min(found, key=len) if found else None
