"""Input checks that fail before any work, with a message naming the value and what is allowed."""

import functools
import sys
from collections.abc import Callable
from typing import Any


class UserInputError(ValueError):
    """Bad input from the user (config, file, checkpoint): reported in one line, without a traceback."""


class ConfigError(UserInputError):
    """A config value outside what the project accepts."""


def check_int(key: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """`value` as an int in [minimum, maximum], or a ConfigError naming `key`."""
    in_range = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    if in_range and (maximum is None or value <= maximum):
        return value
    allowed = f"an integer from {minimum} to {maximum}" if maximum is not None else f"an integer >= {minimum}"
    raise ConfigError(f"{key}={value!r} is not allowed: expected {allowed}")


def report_user_errors(entry_point: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a command's task function (under `@hydra.main`, which would print a traceback):
    bad input prints `error: ...` and exits 2; anything else still raises."""

    @functools.wraps(entry_point)
    def wrapped(*args, **kwargs):
        try:
            return entry_point(*args, **kwargs)
        except Exception as err:
            # hydra.utils.instantiate wraps what a constructor raised: look down the chain.
            cause = err
            while cause is not None and not isinstance(cause, UserInputError):
                cause = cause.__cause__
            if cause is None:
                raise
            print(f"error: {cause}", file=sys.stderr)
            sys.exit(2)

    return wrapped
