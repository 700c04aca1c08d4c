"""Hypothesis properties of queuesim.scenario: unit round trips and validation boundaries."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from queuesim.errors import ScenarioError
from queuesim.scenario import format_duration, format_rate, parse_duration, parse_rate, scenario_from_dict
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


@given(count=st.integers(min_value=-(10**9), max_value=10**9))
def test_worker_count_validates_iff_at_least_one(count: int) -> None:
    if count >= 1:
        assert scenario_from_dict(base(count)).workers["w"].count == count
    else:
        with pytest.raises(ScenarioError) as caught:
            scenario_from_dict(base(count))
        assert [str(p) for p in caught.value.problems] == ["<dict>: workers.w.count: must be ≥ 1"]


@given(count=st.integers(min_value=1, max_value=10**6), rate=st.floats(min_value=1e-3, max_value=1e6))
def test_to_dict_round_trips(count: int, rate: float) -> None:
    data = base(count)
    data["producers"] = {"web": {"to": "q", "rate": rate}}
    s = scenario_from_dict(data)
    assert scenario_from_dict(s.to_dict()) == s
    assert math.isclose(s.offered_load()["q"], rate * 0.005 / count)
