"""A resumed run trains with its config's optimizer and scheduler settings, not its checkpoint's.

Lightning restores each optimizer's and scheduler's state from the checkpoint, settings included: a
run resumed with `model.g_optimizer.lr=1e-5` went on at the checkpoint's rate, while its config, its
HPARAMS and the checkpoints it wrote said 1e-5. So before the states are restored, each setting the
run's config changes against the checkpoint's config is written into them, and said on the console;
so is each of the module's own settings it changes (a resume that left out `experiment=lsgan` went on
with BCE without a word).
"""

from collections.abc import Callable

import torch

# The keys of a `_partial_` config that are not settings.
HYDRA_KEYS = {"_target_", "_partial_"}
OPTIMIZERS = ("g_optimizer", "d_optimizer")  # in the order configure_optimizers returns them
# The module's own settings, which it reads from this run's config when built (none is restored with the weights but
# fixed_noise_seed's grid noise, which GANModule.carry_settings_into writes over the checkpoint's).
MODULE_SETTINGS = ("loss", "ema_decay", "diversity_weight", "code_weight", "cuda_graph", "fixed_noise_seed")


def changed(saved: dict | None, wanted: dict | None) -> list[str]:
    """The settings that `wanted` (a `_partial_` config) gives differently from `saved`, added or removed too."""
    saved, wanted = saved or {}, wanted or {}
    return sorted(key for key in (saved.keys() | wanted.keys()) - HYDRA_KEYS if saved.get(key) != wanted.get(key))


def carry_settings_into(checkpoint: dict, saved: dict, wanted: dict,
                        factories: dict[str, Callable | None]) -> list[str]:
    """Write into `checkpoint`'s optimizer and scheduler states the settings that `wanted` (this run's model
    config) changes against `saved` (the checkpoint's), as `factories` (this run's `g_optimizer`, `d_optimizer`
    and `scheduler`) build them: a removed setting gets its default. One line for each setting."""
    said = []
    probe = [torch.zeros(1, requires_grad=True)]  # a throwaway parameter to build them on
    for key, state in zip(OPTIMIZERS, checkpoint.get("optimizer_states", [])):
        built = factories[key](probe).defaults
        for name in filter(built.__contains__, changed(saved.get(key), wanted[key])):
            for group in state["param_groups"]:
                group[name] = built[name]
            said.append(f"model.{key}.{name}={built[name]!r} (the checkpoint's: {(saved.get(key) or {}).get(name)!r})")
    states = checkpoint.get("lr_schedulers", [])
    if saved.get("scheduler") and wanted.get("scheduler") and states:  # one added to a run is new; one dropped, gone
        built = vars(factories["scheduler"](torch.optim.SGD(probe, lr=1.0)))
        for name in filter(built.__contains__, changed(saved["scheduler"], wanted["scheduler"])):
            for state in states:
                state[name] = built[name]
            said.append(f"model.scheduler.{name}={built[name]!r} (the checkpoint's: {saved['scheduler'].get(name)!r})")
    return said


def flat(node, key: str) -> dict[str, object]:
    """`{key: node}`, or a nested config as `{key.name: value, ...}` (model.loss._target_)."""
    if not isinstance(node, dict):
        return {key: node}
    return {name: value for child, inner in node.items() for name, value in flat(inner, f"{key}.{child}").items()}


def module_settings_changed(saved: dict, wanted: dict) -> list[str]:
    """The module's own settings (MODULE_SETTINGS) that `wanted` (this run's model config) gives differently from
    `saved` (the checkpoint's), one line each; none for a setting the checkpoint predates."""
    said = []
    for key in filter(saved.__contains__, MODULE_SETTINGS):
        old, new = flat(saved[key], f"model.{key}"), flat(wanted.get(key), f"model.{key}")
        said += [f"{name}={new.get(name)!r} (the checkpoint's: {old.get(name)!r})"
                 for name in sorted(old.keys() | new.keys()) if old.get(name) != new.get(name)]
    return said
