"""The command-line value types the benchmarks share: argparse names a bad value, and what is allowed, in one
line (`--batch-size 0` was a ValueError traceback from the DataLoader, `--iterations 0` an UnboundLocalError)."""

import argparse
from collections.abc import Callable


def at_least(least: int, why: str = "") -> Callable[[str], int]:
    """An argparse type: a whole number >= `least` (`why`: the reason for a bound above 1)."""

    def whole_number(text: str) -> int:
        if not text.isdigit() or int(text) < least:
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed: expected a whole number >= {least}{why}")
        return int(text)

    return whole_number


positive_int = at_least(1)
batch_size = at_least(2, " (batch norm needs two digits or more a batch)")


def positive_number(text: str) -> float:
    """An argparse type: a number > 0 (`--minutes 0.5`)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: expected a number > 0")
    return value
