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

#: Seconds per duration unit. Units are case-sensitive so ``m`` (minute) can never be read as mega.
DURATION_UNITS: dict[str, float] = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
#: Seconds per rate denominator: ``30/m`` is 30 per 60 seconds.
RATE_UNITS: dict[str, float] = {"s": 1.0, "m": 60.0, "h": 3600.0}

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


def _trim(number: float, digits: int) -> str:
    return f"{number:.{digits}g}"


def format_duration(seconds: float, digits: int = 6) -> str:
    """Format seconds with the largest unit that keeps the number ≥ 1.

    Parameters
    ----------
    seconds : float
        The duration in seconds.
    digits : int, default 6
        Significant digits kept; the result parses back to ``seconds`` within that precision.

    Returns
    -------
    str
        For example ``'8ms'`` for 0.008, ``'1.5m'`` for 90, ``'0s'`` for 0.

    Examples
    --------
    >>> format_duration(0.008), format_duration(90), format_duration(0.00025)
    ('8ms', '1.5m', '250us')
    """
    if math.isnan(seconds):
        return "nan"
    if math.isinf(seconds):
        return "inf" if seconds > 0 else "-inf"
    sign, size = ("-" if seconds < 0 else ""), abs(seconds)
    if size == 0:
        return "0s"
    for unit in ("h", "m", "s", "ms"):
        factor = DURATION_UNITS[unit]
        # Compare after rounding so 59.9999999s prints as 1m, not 60s.
        if float(_trim(size / factor, digits)) >= 1:
            return f"{sign}{_trim(size / factor, digits)}{unit}"
    return f"{sign}{_trim(size / DURATION_UNITS['us'], digits)}us"


def format_rate(per_second: float, digits: int = 6) -> str:
    """Format a rate with the smallest denominator that keeps the number ≥ 1.

    Parameters
    ----------
    per_second : float
        Events per second.
    digits : int, default 6
        Significant digits kept.

    Returns
    -------
    str
        For example ``'900/s'``, ``'30/m'``, ``'2/h'``.
    """
    if not math.isfinite(per_second) or per_second == 0:
        return f"{per_second:g}/s"
    for unit in ("s", "m"):
        if float(_trim(per_second * RATE_UNITS[unit], digits)) >= 1:
            return f"{_trim(per_second * RATE_UNITS[unit], digits)}/{unit}"
    return f"{_trim(per_second * RATE_UNITS['h'], digits)}/h"


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
