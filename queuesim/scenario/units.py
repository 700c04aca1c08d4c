"""Durations and rates as written in scenarios (``250ms``, ``900/s``), parsed to float seconds and per-second."""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

# The unit tables and the compact text forms live with the figure catalogue, which prints every
# figure; this module adds the grammar a scenario is written in.
from queuesim.figures import DURATION_UNITS, RATE_UNITS, format_duration, format_rate

from .limits import MAX_RATE, MAX_SECONDS

__all__ = [
    "Duration",
    "PositiveDuration",
    "Rate",
    "PositiveRate",
    "DURATION_UNITS",
    "RATE_UNITS",
    "DURATION_TOO_LONG",
    "RATE_TOO_HIGH",
    "parse_duration",
    "parse_rate",
    "as_float",
    "format_duration",
    "format_rate",
]

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
# Matched against stripped text: `\s*` on both sides of an optional unit backtracks quadratically
# on a long run of spaces (20,000 spaces took 1.5 s), one `\s*` between number and unit does not.
_DURATION_RE = re.compile(rf"(?P<number>{_NUMBER})\s*(?P<unit>us|µs|ms|s|m|h)?")
_RATE_RE = re.compile(rf"(?P<number>{_NUMBER})\s*(?:/\s*(?P<unit>s|m|h))?")

#: Messages for values past :data:`~queuesim.scenario.limits.MAX_SECONDS` and ``MAX_RATE``.
DURATION_TOO_LONG = f"must be at most {MAX_SECONDS:g} seconds (about {MAX_SECONDS / 31_557_600:.0f} years)"
RATE_TOO_HIGH = f"must be at most {MAX_RATE:g}/s"

_DURATION_HINT = "expected a duration like 250ms, 1.5s, 10m or a number of seconds"
_RATE_HINT = "expected a rate like 900/s, 30/m, 2/h or a number per second"


def _is_number(value: Any) -> bool:
    # bool is an int subclass; `duration: yes` is a typo, not one second.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def as_float(value: Any) -> float:
    """``float(value)``, but inf for an integer beyond the float range (float() raises OverflowError)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _check_magnitude(seconds: float, value: Any, what: str) -> float:
    if not math.isfinite(seconds):
        raise ValueError(f"{what} must be finite, got {value!r}")
    if seconds < 0:
        raise ValueError(f"{what} must be ≥ 0, got {value!r}")
    return seconds


def parse_duration(value: Any) -> float:
    """Parse a duration to seconds.

    Parameters
    ----------
    value : float, int or str
        A number of seconds, or a string ``<number><unit>`` with unit one of
        ``us``, ``ms``, ``s``, ``m``, ``h`` (whitespace between number and unit allowed).

    Returns
    -------
    float
        The duration in seconds, finite and ≥ 0.

    Raises
    ------
    ValueError
        With a user-facing message, when the value is not a duration or is negative or infinite.

    Examples
    --------
    >>> parse_duration("250ms"), parse_duration("1.5 s"), parse_duration(2)
    (0.25, 1.5, 2.0)
    """
    if _is_number(value):
        return _check_magnitude(as_float(value), value, "duration")
    if isinstance(value, str):
        match = _DURATION_RE.fullmatch(value.strip())
        if match:
            seconds = float(match["number"]) * DURATION_UNITS[match["unit"] or "s"]
            return _check_magnitude(seconds, value, "duration")
    raise ValueError(f"{_DURATION_HINT}, got {value!r}")


def parse_rate(value: Any) -> float:
    """Parse a rate to events per second.

    Parameters
    ----------
    value : float, int or str
        A number per second, or a string ``N/s``, ``N/m`` or ``N/h``.

    Returns
    -------
    float
        The rate per second, finite and ≥ 0.

    Raises
    ------
    ValueError
        With a user-facing message, when the value is not a rate or is negative or infinite.

    Examples
    --------
    >>> parse_rate("900/s"), parse_rate("30/m"), parse_rate(5)
    (900.0, 0.5, 5.0)
    """
    if _is_number(value):
        return _check_magnitude(as_float(value), value, "rate")
    if isinstance(value, str):
        match = _RATE_RE.fullmatch(value.strip())
        if match:
            per_second = float(match["number"]) / RATE_UNITS[match["unit"] or "s"]
            return _check_magnitude(per_second, value, "rate")
    raise ValueError(f"{_RATE_HINT}, got {value!r}")


def _as_pydantic_error(kind: str, parse: Callable[[Any], float], positive: bool, maximum: float, too_big: str) -> Callable[[Any], float]:
    def validate(value: Any) -> float:
        try:
            parsed = parse(value)
        except ValueError as exc:
            # The message goes through the context so braces in user input cannot break formatting.
            raise PydanticCustomError(kind, "{reason}", {"reason": str(exc)}) from None
        if positive and parsed <= 0:
            raise PydanticCustomError(kind, "{reason}", {"reason": f"must be > 0, got {value!r}"})
        if parsed > maximum:
            raise PydanticCustomError(kind, "{reason}", {"reason": too_big})
        return parsed

    return validate


_duration = partial(_as_pydantic_error, "duration", parse_duration, maximum=MAX_SECONDS, too_big=DURATION_TOO_LONG)
_rate = partial(_as_pydantic_error, "rate", parse_rate, maximum=MAX_RATE, too_big=RATE_TOO_HIGH)

#: Seconds ≥ 0, written as a number or ``<number><unit>``; at most ``MAX_SECONDS``.
Duration = Annotated[float, BeforeValidator(_duration(positive=False))]
#: Seconds > 0.
PositiveDuration = Annotated[float, BeforeValidator(_duration(positive=True))]
#: Events per second ≥ 0, written as a number or ``N/s``, ``N/m``, ``N/h``; at most ``MAX_RATE``.
Rate = Annotated[float, BeforeValidator(_rate(positive=False))]
#: Events per second > 0.
PositiveRate = Annotated[float, BeforeValidator(_rate(positive=True))]
