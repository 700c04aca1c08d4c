"""Derived quantities: the fast forms agree with their plain definitions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from queuesim.metrics.derive import step_max, steps

# times on a coarse grid, so that equal times (the delicate case) are common; NaN: never ends
times = st.integers(min_value=0, max_value=20).map(float)
spells = st.lists(st.tuples(times, st.one_of(st.just(np.nan), st.integers(min_value=0, max_value=8).map(float))),
                  max_size=60)


def _merged(start: np.ndarray, end: np.ndarray, lo: float, hi: float) -> int:
    """step_max by its definition: walk every event in time order, departures first at equal times."""
    if start.size == 0:
        return 0
    t, level = steps(start, end)
    before = np.searchsorted(t, lo, side="right")
    at_lo = level[before - 1] if before > 0 else 0
    inside = (t >= lo) & (t <= hi)
    return int(max(at_lo, level[inside].max() if inside.any() else 0))


@settings(max_examples=400, deadline=None)
@given(spells, times, times)
def test_step_max_is_the_peak_of_the_merged_event_walk(rows: list[tuple[float, float]], a: float, b: float) -> None:
    start = np.array([s for s, _ in rows], dtype=float)
    end = np.array([s + d for s, d in rows], dtype=float)  # NaN + s stays NaN
    lo, hi = min(a, b), max(a, b)
    assert step_max(start, end, lo, hi) == _merged(start, end, lo, hi)
