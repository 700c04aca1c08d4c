"""Hypothesis properties of queuesim.scenario: unit round trips and validation boundaries."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from queuesim.errors import ScenarioError
from queuesim.scenario import format_duration, format_rate, parse_duration, parse_rate, scenario_from_dict
from queuesim.scenario.limits import MAX_WORKERS
from queuesim.scenario.load_shapes import Batch
from queuesim.scenario.units import DURATION_UNITS, RATE_UNITS

finite_seconds = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)


def base(count: object = 2) -> dict[str, object]:
    return {
        "duration": "1m",
        "producers": {"web": {"to": "q", "rate": "10/s"}},
        "queues": {"q": {"broker": "redis"}},
        "workers": {"w": {"from": "q", "count": count, "service": "5ms"}},
    }


@given(seconds=finite_seconds, unit=st.sampled_from(sorted(DURATION_UNITS)), space=st.sampled_from(["", " "]))
def test_a_duration_written_in_any_unit_parses_back(seconds: float, unit: str, space: str) -> None:
    number = seconds / DURATION_UNITS[unit]
    assert parse_duration(f"{number!r}{space}{unit}") == pytest.approx(seconds, rel=1e-12, abs=1e-300)


@given(seconds=finite_seconds)
def test_format_duration_parses_back_within_its_precision(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, rel=1e-5)


@given(per_second=st.floats(min_value=0, max_value=1e9, allow_nan=False), unit=st.sampled_from(sorted(RATE_UNITS)))
def test_rates_round_trip(per_second: float, unit: str) -> None:
    assert parse_rate(f"{per_second * RATE_UNITS[unit]!r}/{unit}") == pytest.approx(per_second, rel=1e-12, abs=1e-300)
    assert parse_rate(format_rate(per_second)) == pytest.approx(per_second, rel=1e-5)


@given(seconds=st.floats(max_value=-1e-300, allow_nan=False, allow_infinity=False), unit=st.sampled_from(sorted(DURATION_UNITS)))
def test_negative_durations_are_rejected(seconds: float, unit: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(f"{seconds!r}{unit}")


@given(count=st.integers(min_value=-(10**9), max_value=10**9) | st.integers(MAX_WORKERS - 2, MAX_WORKERS + 2))
def test_worker_count_validates_iff_at_least_one_and_at_most_the_limit(count: int) -> None:
    if 1 <= count <= MAX_WORKERS:
        assert scenario_from_dict(base(count)).workers["w"].count == count
    else:
        with pytest.raises(ScenarioError) as caught:
            scenario_from_dict(base(count))
        bound = "≥ 1" if count < 1 else f"≤ {MAX_WORKERS}"
        assert [str(p) for p in caught.value.problems] == [f"<dict>: workers.w.count: must be {bound}"]


@given(count=st.integers(min_value=1, max_value=MAX_WORKERS), rate=st.floats(min_value=1e-3, max_value=1e6))
def test_to_dict_round_trips(count: int, rate: float) -> None:
    data = base(count)
    data["producers"] = {"web": {"to": "q", "rate": rate}}
    s = scenario_from_dict(data)
    assert scenario_from_dict(s.to_dict()) == s
    assert math.isclose(s.offered_load()["q"], rate * 0.005 / count)


@given(
    # round values as well as arbitrary ones, so window ends fall exactly on batch times
    every=st.sampled_from([0.1, 0.25, 1.0, 3.0]) | st.floats(min_value=0.01, max_value=50),
    size=st.integers(1, 50),
    at=st.sampled_from([0.0, 0.5, 2.0]) | st.floats(min_value=0, max_value=20),
    spread_share=st.sampled_from([0.0, 0.5, 1.0]) | st.floats(min_value=0, max_value=1),
    lo=st.integers(0, 60).map(float) | st.floats(min_value=0, max_value=60),
    span=st.integers(0, 60).map(float) | st.floats(min_value=0, max_value=60),
)
@settings(deadline=None)  # times() lists up to 3·10⁵ values
def test_batch_expected_counts_exactly_the_times_it_would_create(
    every: float, size: int, at: float, spread_share: float, lo: float, span: float
) -> None:
    # expected() counts without listing (a huge batch over a long run would not fit in memory);
    # it must agree with times() to the request, boundaries included
    batch = Batch(every=every, size=size, at=at, spread=every * spread_share)
    hi = lo + span
    times = batch.times(hi)
    assert batch.expected(lo, hi) == np.count_nonzero(times >= lo)
