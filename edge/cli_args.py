"""Argument types for the command line: a number out of range is refused by argparse with the
option's name and the allowed range (exit 2), before any model loads — never a traceback, a hang
(a 3-pixel tile) or a silent no-op (``--trials 0``). Shared by the device and workstation commands,
so it imports nothing of the project."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def count(minimum: int = 1, maximum: int | None = None) -> Callable[[str], int]:
    """A whole number in ``[minimum, maximum]``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise argparse.ArgumentTypeError(f"{value} is out of range: it must be at least {minimum}{upper}")
        return value
    return parse


def positive(text: str) -> float:
    """A finite number above zero (seconds, a learning rate)."""
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be above 0")
    return value


def frame_rate(text: str) -> float:
    """Frames per second of a recording: 0.1 (time lapse) to 1000 (slow motion)."""
    value = _finite(text)
    if not 0.1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"{text} frames a second is out of range: give 0.1 to 1000 (e.g. 30)")
    return value


def probability(text: str) -> float:
    """A rate strictly between 0 and 1 (a false-accept target)."""
    value = _finite(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be between 0 and 1 (e.g. 0.01 for 1 %)")
    return value


def share(text: str) -> float:
    """A share from 0 to 1 inclusive (a minimum accuracy)."""
    value = _finite(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} must be from 0 to 1 (e.g. 0.99 for 99 %)")
    return value


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number")
    return value
