"""The short path (queuesim.sim.lane) records exactly what the general path records.

Every scenario here runs twice, with and without lanes, and every column of every table must be
bit for bit the same (NaN where NaN), as must the run's extra counts. The scenarios reach each
case a lane hands to the general path: a full queue (503s, retries), no waiting room at all
(capacity 0), a broker restart and an outage, a reneged entry, redeliveries and dead-lettering on
SQS, a duplicate delete, back pressure from a full downstream queue, ties from constant times.
Each also checks that a lane was installed where the path is plain, so that the comparison
compares something.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from queuesim.scenario.loader import scenario_from_dict
from queuesim.records import RunRecord
from queuesim.sim import lane as lane_module
from queuesim.sim import simulate

POOL = {"from": "q", "count": 3, "service": {"dist": "exponential", "mean": 0.25}}


def _scenario(queue: dict[str, Any], *, producer: dict[str, Any] | None = None, workers: dict[str, Any] | None = None,
              faults: list[dict[str, Any]] | None = None, queues: dict[str, Any] | None = None,
              seed: int = 3) -> dict[str, Any]:
    return {
        "name": "lane", "seed": seed, "duration": 400, "warmup": 20,
        "producers": {"web": {"to": "q", **(producer or {"rate": 10})}},
        "queues": {"q": queue, **(queues or {})},
        "workers": workers or {"pool": POOL},
        **({"faults": faults} if faults else {}),
    }


CASES: dict[str, tuple[dict[str, Any], int]] = {  # scenario, lanes it must install
    "redis": (_scenario({"broker": "redis"}), 1),
    "bounded-retries": (_scenario({"broker": "redis", "capacity": 4},
                                  producer={"rate": 13, "retry": {"attempts": 4, "backoff": "50ms", "jitter": "full"}}), 1),
    "erlang-b": (_scenario({"broker": "redis", "capacity": 0}), 1),
    "restart-and-outage": (_scenario({"broker": "redis"}, producer={"rate": 10}, faults=[
        {"at": 100, "queue": "q", "kind": "restart", "downtime": 15},
        {"at": 250, "queue": "q", "kind": "outage", "duration": 20}]), 1),
    "reneging": (_scenario({"broker": "redis"}, producer={"rate": 11.5, "patience": {"dist": "exponential", "mean": 0.5}}), 1),
    # the client waits for each result and retries a timed-out one: the recorder tells it of every
    # settled message, so the lane settles through Recorder.settle rather than its own copy
    "awaited-results": (_scenario({"broker": "redis"}, producer={
        "rate": 11.5, "await_result": True, "result_latency": {"dist": "exponential", "mean": 0.002},
        "timeout": "600ms", "retry": {"attempts": 3, "backoff": "50ms", "on_timeout": True}}), 1),
    "sqs-redeliveries": (_scenario({"broker": "sqs", "visibility_timeout": "400ms", "max_receives": 3}), 1),
    "sqs-duplicates": (_scenario({"broker": "sqs", "duplicate_probability": 0.05, "visibility_timeout": "2s"}), 1),
    "constant-ties": (_scenario({"broker": "redis", "capacity": 3},
                                producer={"interarrival": {"dist": "constant", "value": 0.1}},
                                workers={"pool": {**POOL, "service": {"dist": "constant", "value": 0.3}}}), 1),
    "tandem-back-pressure": (_scenario({"broker": "redis"}, queues={"r": {"broker": "redis", "capacity": 2}}, workers={
        "first": {**POOL, "to": "r", "fanout": 2},
        "second": {"from": "r", "count": 5, "service": {"dist": "lognormal", "mean": 0.12, "cv": 1.5}}}), 2),
    "rabbitmq": (_scenario({"broker": "rabbitmq", "prefetch": 1}), 0),
    "worker-crashes": (_scenario({"broker": "redis"}, workers={"pool": {**POOL, "crash": {"probability": 0.01, "restart": 2}}}), 0),
}


def _equal(a: RunRecord, b: RunRecord) -> None:
    for table in ("requests", "messages", "deliveries", "rejections"):
        ta, tb = getattr(a, table), getattr(b, table)
        assert ta.keys() == tb.keys()
        for name in ta:
            assert np.array_equal(ta[name], tb[name], equal_nan=ta[name].dtype.kind == "f"), (table, name)
    assert a.extra == b.extra


def _run(data: dict[str, Any], monkeypatch: pytest.MonkeyPatch, least: int = 1000) -> int:
    """Run both ways, compare, and return how many lanes the lane run installed."""
    installed: list[object] = []
    original = lane_module.Lane.install

    def counting(self: lane_module.Lane) -> None:
        installed.append(self)
        original(self)

    monkeypatch.setattr(lane_module.Lane, "install", counting)
    sc = scenario_from_dict(data)
    with_lanes = simulate(sc, 0)
    without = simulate(sc, 0, lanes=False)
    assert with_lanes.messages["outcome"].size > least  # a run with something in it
    _equal(with_lanes, without)
    return len(installed)


@pytest.mark.parametrize("case", list(CASES))
def test_a_lane_records_exactly_what_the_general_path_records(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data, lanes = CASES[case]
    assert _run(data, monkeypatch) == lanes


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**31 - 1),
    broker=st.sampled_from([{"broker": "redis"}, {"broker": "sqs", "visibility_timeout": "600ms"}]),
    capacity=st.sampled_from([None, 0, 1, 5]),
    count=st.integers(1, 6),
    rate=st.floats(2.0, 30.0),
    service=st.sampled_from([{"dist": "exponential", "mean": 0.3}, {"dist": "constant", "value": 0.2},
                             {"dist": "lognormal", "mean": 0.3, "cv": 2.0}]),
    per=st.sampled_from(["message", "attempt"]),
)
def test_lanes_are_exact_over_random_plain_scenarios(seed: int, broker: dict[str, Any], capacity: int | None, count: int,
                                                     rate: float, service: dict[str, Any], per: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    queue = {**broker, **({"capacity": capacity} if capacity is not None else {})}
    data = _scenario(queue, seed=seed, producer={"rate": rate, "retry": {"attempts": 3, "backoff": "20ms"}},
                     workers={"pool": {"from": "q", "count": count, "service": service, "service_per": per}})
    data["duration"] = 150
    assert _run(data, monkeypatch, least=150) == 1
