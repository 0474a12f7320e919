"""Config values checked against the types Lightning's classes and torch's optimizers and schedulers declare.

Lightning takes what its Trainer, callbacks and loggers are given and fails later, or never:
`trainer.detect_anomaly=0` raised torch's TypeError once fit had begun, `trainer.log_every_n_steps=abc` at the
first batch, and `trainer.enable_progress_bar=no` (a string, so true) kept the bar. Torch's optimizers and
schedulers alike: `+model.g_optimizer.maximize=yes` failed at the first step, `model.g_optimizer.fused=abc` was
taken for true, `model.scheduler.step_size=abc` failed at the first epoch's end. This project's own classes
check their values themselves, with what each one means.
"""

import collections.abc
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import torch
from hydra.utils import get_class
from omegaconf import OmegaConf

from gan_digits.checks import ConfigError, as_typed, listed

LISTS = (list, collections.abc.Iterable, collections.abc.Sequence)
NAMES = {type(None): ["null"], bool: ["true", "false"], int: ["an integer"], float: ["a number"], str: ["a string"],
         Path: ["a path"], torch.Tensor: []}  # no config gives a tensor: `lr: float | Tensor` reads "a number"
# Whose constructors' hints are read: what the config builds of theirs is otherwise checked when it runs, or never.
DECLARING = ("lightning.", "torch.optim.")


def fits(value: Any, hint: Any) -> bool:
    """Whether a plain config value is of the type `hint` (an object: a mapping with its `_target_`)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return any(fits(value, arg) for arg in args)
    if origin is Literal:
        return any(value == arg and type(value) is type(arg) for arg in args)
    if hint in (int, float):  # a bool is no number here; an integer is a float
        return isinstance(value, int if hint is int else (int, float)) and not isinstance(value, bool)
    if hint is Path:
        return isinstance(value, str)
    if origin in LISTS:
        return isinstance(value, list) and (not args or all(fits(item, args[0]) for item in value))
    if origin is tuple:  # Adam's betas: a list of two numbers in a config
        if len(args) == 2 and args[1] is Ellipsis:
            return isinstance(value, list) and all(fits(item, args[0]) for item in value)
        return isinstance(value, list) and (not args or len(value) == len(args)
                                            and all(fits(item, arg) for item, arg in zip(value, args)))
    if origin is dict:
        return isinstance(value, dict) and (not args or all(fits(k, args[0]) and fits(v, args[1])
                                                            for k, v in value.items()))
    if isinstance(hint, type):
        return isinstance(value, hint) or (isinstance(value, dict) and "_target_" in value)
    return True  # Any, a Callable, a TypeVar: left to Lightning


def kinds(hint: Any) -> list[str]:
    """`hint` as the words a message names it by: ["an integer", "null"]."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return [kind for arg in args for kind in kinds(arg)]
    if origin is Literal:
        return [as_typed(arg) for arg in args]
    if hint in NAMES:
        return NAMES[hint]
    if origin in LISTS or (origin is tuple and (not args or args[-1] is Ellipsis)):
        return ["a list"]
    if origin is tuple:  # betas: "a list of 2 (each a number)"
        each = {described(arg) for arg in args}
        return [f"a list of {len(args)}" + (f" (each {each.pop()})" if len(each) == 1 else "")]
    if origin is dict:
        return ["a mapping"]
    return [f"a {getattr(hint, '__name__', hint)}"]


def described(hint: Any) -> str:
    """`hint` in words: "an integer or null"."""
    words = dict.fromkeys(kinds(hint))  # in order, once each
    if "a path" in words:  # str | Path: a path is a string here
        words.pop("a string", None)
    return listed(list(words))


def check_declared_types(key: str, node: Any, skip: tuple[str, ...] = ()) -> None:
    """Each value of the config `node` at `key` of the type its `_target_`'s constructor declares for it, where that
    constructor is Lightning's or torch's optimizers' and schedulers' (DECLARING); else a ConfigError naming the
    value. `skip`: keys this project reads itself first (`trainer.precision=auto`)."""
    if not OmegaConf.is_dict(node):
        return
    config = OmegaConf.to_container(node, resolve=True)
    try:
        init = get_class(config["_target_"]).__init__
        if not init.__module__.startswith(DECLARING):
            return
        hints = typing.get_type_hints(init)
    except Exception:  # no such class (instantiate names it), or hints only a type checker resolves
        return
    for name, value in config.items():
        if name in hints and name not in skip and not fits(value, hints[name]):
            raise ConfigError(f"{key}.{name}={as_typed(value)} is not allowed: expected {described(hints[name])}")
