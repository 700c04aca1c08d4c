"""Backoff delays for publish retries: pure math, no simulation state.

Formulas follow the AWS Architecture Blog's "Exponential Backoff and Jitter" (Brooker, 2015), with
``base`` the first delay, ``cap`` the maximum and ``attempt`` counting retries from 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable


def backoff_delay(
    jitter: str,
    retry_number: int,
    base: float,
    multiplier: float,
    cap: float,
    previous: float,
    u: Callable[[], float],
) -> float:
    """Delay before retry number ``retry_number`` (1 = the first retry).

    Parameters
    ----------
    jitter : {"none", "full", "equal", "decorrelated"}
    previous : float
        The delay used before the previous retry (``base`` before the first); decorrelated jitter uses it.
    u : callable
        Returns U(0, 1) draws.
    """
    try:
        grown = base * multiplier ** (retry_number - 1)
    except OverflowError:  # 2.0 ** 1024 raises: by then the delay is long past any cap
        grown = math.inf if base > 0 else 0.0
    ceiling = min(cap, grown)
    if jitter == "none":
        return ceiling
    if jitter == "full":
        return u() * ceiling
    if jitter == "equal":
        return ceiling / 2 + u() * ceiling / 2
    if jitter == "decorrelated":
        hi = max(base, previous * 3)
        return min(cap, base + u() * (hi - base))
    raise ValueError(f"unknown jitter {jitter!r}")
