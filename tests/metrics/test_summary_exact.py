"""The metrics layer on hand-worked records: a D/D/1 queue whose every figure can be worked out on paper.

One worker serves constant 1.5 s jobs arriving every 1 s (``arrivals: regular``: the first at
t = 1 s) over a 10 s run without warm-up. Job i (0-based) arrives at 1 + i and starts at 1 + 1.5 i,
so it waits 0.5 i and is done at 2.5 + 1.5 i. Nine jobs arrive (t = 1..9); jobs 0..4 are done
before 10 s, job 5 is in service (8.5–10.0, its end falls at the horizon) and jobs 6..8 wait:
four in flight.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import scenario
from queuesim.metrics import messages_frame, requests_frame, summarize, timeseries
from queuesim.sim import simulate

DD1 = """
    duration: 10s
    producers: {web: {to: q, rate: 1/s, arrivals: regular}}
    queues: {q: {broker: redis}}
    workers: {w: {from: q, count: 1, service: 1.5s}}
"""


@pytest.fixture(scope="module")
def record():
    return simulate(scenario(DD1), 0, 0)


def test_counts_and_outcomes(record) -> None:
    s = summarize([record])
    m = s["messages"]
    assert (m["produced"], m["completed"], m["in_flight"], m["lost"], m["gave_up"]) == (9, 5, 4, 0, 0)
    assert m["produced"] == m["completed"] + m["gave_up"] + m["lost"] + m["dead_lettered"] + m["in_flight"]
    assert s["rates"]["throughput"] == pytest.approx(5 / 10)


def test_latencies_are_the_hand_worked_ones(record) -> None:
    s = summarize([record])
    waits = 0.5 * np.arange(6)  # the six jobs that started service
    assert s["latency"]["queue_wait"]["count"] == 6
    assert s["latency"]["queue_wait"]["mean"] == pytest.approx(waits.mean())
    assert s["latency"]["queue_wait"]["p99"] == pytest.approx(float(np.percentile(waits, 99)))
    assert s["latency"]["queue_wait"]["max"] == pytest.approx(2.5)
    e2e = 0.5 * np.arange(5) + 1.5  # the five completed jobs: wait + service
    assert s["latency"]["end_to_end"]["mean"] == pytest.approx(e2e.mean())
    assert s["latency"]["end_to_end"]["p50"] == pytest.approx(float(np.percentile(e2e, 50)))
    assert s["latency"]["service"]["mean"] == pytest.approx(1.5) and s["latency"]["service"]["count"] == 5


def test_utilization_depth_and_littles_law(record) -> None:
    s = summarize([record])
    assert s["workers"]["w"]["utilization"] == pytest.approx(0.9)  # busy from t = 1 s to the end
    q = s["queues"]["q"]
    # job i waits on [1 + i, 1 + 1.5 i), cut at the horizon: the depth integral over [0, 10] is 13.5
    area = sum(min(1 + 1.5 * i, 10.0) - (1 + i) for i in range(9))
    assert area == pytest.approx(13.5) and q["mean_depth"] == pytest.approx(area / 10)
    assert q["max_depth"] == 3
    assert q["mean_depth"] == pytest.approx(q["throughput"] * q["mean_wait"])


def test_tables_have_a_row_per_request_and_message(record) -> None:
    req = requests_frame([record])
    msgs = messages_frame([record])
    assert len(req) == 9 and len(msgs) == 9
    assert list(req["outcome"].astype(str)) == ["completed"] * 5 + ["in_flight"] * 4
    assert np.allclose(msgs["first_receive"].to_numpy()[:6] - msgs["accepted"].to_numpy()[:6], 0.5 * np.arange(6))
    assert msgs["first_receive"].isna().sum() == 3


def test_time_series_conserves_completions(record) -> None:
    ts = timeseries([record])
    assert math.isclose(float(ts["completed"].sum()), 5.0)
    assert float(ts["produced"].sum()) == pytest.approx(9.0)


def test_replications_sum_counts_pool_latencies_and_rate_per_replication(record) -> None:
    """Two identical replications (a deterministic model): counts double, rates and latencies do not."""
    one, two = summarize([record]), summarize([record, record])
    assert two["replications"] == 2 and two["ci_method"] == "replications"
    assert two["messages"]["produced"] == 2 * one["messages"]["produced"]
    assert two["rates"]["throughput"] == pytest.approx(one["rates"]["throughput"])
    assert two["latency"]["queue_wait"]["mean"] == pytest.approx(one["latency"]["queue_wait"]["mean"])
    assert two["latency"]["queue_wait"]["count"] == 2 * one["latency"]["queue_wait"]["count"]
    low, high = two["ci95"]["latency.queue_wait.mean"]
    assert low == pytest.approx(high)  # identical replications: no spread
