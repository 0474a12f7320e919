"""The `model=` and overrides that build a saved model's networks, read off conf/model/: a checkpoint refused for
another model says what to type, whether or not its run's folder (and its .hydra/ record) came with it."""

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from gan_digits.checks import as_typed

MODEL_CONF = Path(__file__).resolve().parents[1] / "conf" / "model"
NETS = ("generator", "discriminator")


def variant(name: str) -> DictConfig:
    """conf/model/<name>.yaml over the variants it inherits (`defaults: [dcgan]`), merged as Hydra merges them."""
    own = OmegaConf.load(MODEL_CONF / f"{name}.yaml")
    inherited = [variant(parent) for parent in own.pop("defaults", [])]
    return OmegaConf.merge(*inherited, own)


def overrides_that_build(saved: dict) -> list[str] | None:
    """`model=<variant>` and the `model.<net>.<key>=<value>` overrides that give the networks of `saved` (a
    checkpoint's model config), from the variant of the same classes that needs fewest; None when no variant has
    those classes (or conf/ is not beside the package)."""
    found = []
    for path in sorted(MODEL_CONF.glob("*.yaml")):
        config = variant(path.stem)
        if any(OmegaConf.select(config, f"{net}._target_") != saved.get(net, {}).get("_target_") for net in NETS):
            continue  # default.yaml's `???` nets, and the variants of other classes
        words = [f"model={path.stem}"]
        for net in NETS:  # the generator's first: the discriminator's may follow it (`${model.generator.clusters}`)
            built = OmegaConf.to_container(OmegaConf.create({"model": config}), resolve=True)["model"][net]
            for key, value in saved[net].items():
                if key not in built or built[key] != value:
                    words.append(f"{'' if key in built else '+'}model.{net}.{key}={as_typed(value)}")
                    OmegaConf.update(config, f"{net}.{key}", value, force_add=True)
            words += [f"~model.{net}.{key}" for key in built if key not in saved[net]]
        found.append(words)
    return min(found, key=len) if found else None
