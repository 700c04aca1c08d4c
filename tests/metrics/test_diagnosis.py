"""Each diagnosis rule on a constructed summary: it names its cause with its figure above its threshold, and stays silent below."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest
from queuesim import parse_scenario, run, theory
from queuesim.experiment.executors import SerialExecutor
from queuesim.metrics import diagnosis as dx
from queuesim.metrics.diagnosis import Evidence

WINDOW = 170.0


def summary(**figures: Any) -> dict[str, Any]:
    """A minimal summary: one pool `pool` 50% busy on queue `jobs`; ``figures`` set dotted paths (``__`` for dots)."""
    base: dict[str, Any] = {
        "duration": WINDOW + 10.0, "warmup": 10.0, "window": WINDOW, "replications": 1,
        "messages": {"duplicates": 0},
        "rates": {"offered": 400.0, "base_load": 400.0, "rejection": 0.0, "gave_up": 0.0, "abandoned": 0.0,
                  "duplicate": 0.0, "loss": 0.0},
        "latency": {"service": {"mean": 0.02, "p50": 0.014, "p90": 0.046, "p95": 0.06, "p99": 0.092, "p999": 0.14,
                                "max": 0.25},
                    "response": {"p99": None}},
        "queues": {"jobs": {"mean_depth": 1.0, "max_depth": 10, "rejected": 0, "duplicates": 0}},
        "workers": {"pool": {"count": 10, "utilization": 0.4, "completed": int(0.4 * 500 * WINDOW)}},
        "losses": {}, "faults": [],
    }
    for path, value in figures.items():
        node = base
        *parents, leaf = path.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return base


SCENARIO: dict[str, Any] = {
    "producers": {"clients": {"to": "jobs"}},
    "queues": {"jobs": {"broker": "redis", "mode": "list", "capacity": 20000}},
    "workers": {"pool": {"from": "jobs", "count": 10}},
}


def series(rate: Any, offered: Any = None, width: float = 1.0) -> pd.DataFrame:
    """A time series of ``WINDOW`` seconds after a 10 s warm-up: ``rate(t)`` new requests/s, ``offered(t)`` attempts/s."""
    t = np.arange(0.0, WINDOW + 10.0, width)
    produced = np.array([rate(x) for x in t]) * width
    attempts = produced if offered is None else np.array([offered(x) for x in t]) * width
    return pd.DataFrame({"time": t, "produced": produced, "offered": attempts, "warmup": t + width <= 10.0})


def causes(findings: list[Mapping[str, Any]]) -> list[str]:
    return [f["cause"] for f in findings]


# --- saturation ---------------------------------------------------------------------------------


def test_saturation_gives_utilization_headroom_and_erlang_c() -> None:
    s = summary(workers__pool__utilization=0.92, workers__pool__completed=int(0.92 * 500 * WINDOW))
    (f,) = dx.saturation(Evidence(s))
    assert (f["cause"], f["figure"], f["value"]) == ("saturation", "workers.pool.utilization", 0.92)
    assert "92% busy" in f["message"] and "9% headroom" in f["message"] and "500.0/s" in f["message"]
    assert f"{theory.erlang_c(10, 9.2):.0%} of jobs wait" in f["message"]
    assert "+10% load would saturate it" in f["message"]  # 10.12 Erlangs on 10 workers


def test_saturation_quotes_the_erlang_c_growth_of_the_wait() -> None:
    s = summary(workers__pool__utilization=0.86, workers__pool__completed=int(0.86 * 500 * WINDOW))
    (f,) = dx.saturation(Evidence(s))
    growth = theory.erlang_c(10, 9.46) * (10 - 8.6) / (theory.erlang_c(10, 8.6) * (10 - 9.46))
    assert f"multiply the mean wait by {growth:.1f}" in f["message"]


def test_saturation_is_silent_below_its_threshold_and_plain_at_one() -> None:
    assert dx.saturation(Evidence(summary(workers__pool__utilization=dx.BUSY - 0.01))) == []
    (f,) = dx.saturation(Evidence(summary(workers__pool__utilization=1.0)))
    assert "always busy" in f["message"] and "no headroom" in f["message"]


# --- retry storms -------------------------------------------------------------------------------


STORM = summary(rates__offered=1534.0, rates__base_load=444.0,
                workers__pool__utilization=0.96, workers__pool__completed=int(0.96 * 500 * WINDOW))


def spike(t: float) -> float:
    return 900.0 if 40 <= t < 55 else 400.0


def test_a_storm_that_lasts_after_the_spike_is_metastable() -> None:
    ts = series(spike, lambda t: 400.0 if t < 40 else 1600.0)
    (f,) = dx.retry_storm(Evidence(STORM, ts, SCENARIO))
    assert (f["cause"], f["figure"], f["value"]) == ("metastable", "rates.offered", 1534.0)
    assert "3.5× the base load of 444.0/s" in f["message"] and "still 4.0×" in f["message"]
    assert "after the load spike" in f["message"] and "could serve the base load (500.0/s)" in f["message"]


def test_a_storm_that_subsides_is_a_retry_storm_not_metastable() -> None:
    ts = series(spike, lambda t: 1800.0 if 40 <= t < 120 else 400.0)
    (f,) = dx.retry_storm(Evidence(STORM, ts, SCENARIO))
    assert f["cause"] == "retry_storm" and "subsided" in f["message"]


def test_a_storm_without_time_series_is_named_without_a_persistence_claim() -> None:
    (f,) = dx.retry_storm(Evidence(STORM))
    assert f["cause"] == "retry_storm" and "3.5×" in f["message"] and "metastable" not in f["message"]


def test_retries_below_the_storm_ratio_are_no_storm() -> None:
    assert dx.retry_storm(Evidence(summary(rates__offered=dx.STORM_RATIO * 400 - 1))) == []
    assert dx.retry_storm(Evidence(summary(rates__base_load=None))) == []


def test_replications_that_disagree_are_bistable() -> None:
    (f,) = dx.bistable(Evidence(STORM, offered_ratios=[3.4, 1.01]))
    assert (f["cause"], f["value"]) == ("bistable", 0.5)
    assert "1 of 2 replications" in f["message"] and "3.4×" in f["message"]
    assert dx.bistable(Evidence(STORM, offered_ratios=[3.4, 3.2])) == []
    assert dx.bistable(Evidence(STORM, offered_ratios=[1.0, 1.3])) == []  # 1.3: neither calm nor stormed
    assert dx.bistable(Evidence(STORM, offered_ratios=[None, 1.0])) == []


# --- one component holding up another -----------------------------------------------------------


PIPELINE: dict[str, Any] = {
    "producers": {"web": {"to": "orders"}},
    "queues": {"orders": {"broker": "sqs", "capacity": 5000, "visibility_timeout": 30.0},
               "shipping": {"broker": "redis", "capacity": 200}},
    "workers": {"fulfil": {"from": "orders", "to": "shipping"}, "ship": {"from": "shipping"}},
}


def test_a_full_downstream_queue_is_back_pressure() -> None:
    s = summary(queues={"orders": {"mean_depth": 4660.0, "max_depth": 5000, "rejected": 743303},
                        "shipping": {"mean_depth": 198.0, "max_depth": 200, "rejected": 0}},
                workers={"fulfil": {"utilization": 0.87, "count": 8, "completed": 1},
                         "ship": {"utilization": 1.0, "count": 4, "completed": 1}})
    (f,) = dx.back_pressure(Evidence(s, scenario=PIPELINE))
    assert (f["cause"], f["figure"], f["value"]) == ("back_pressure", "queues.shipping.mean_depth", 198.0)
    assert "99% full" in f["message"] and "`fulfil`" in f["message"] and "`ship` 100% busy" in f["message"]
    assert "743,303 publishes with 503" in f["message"]
    half = copy.deepcopy(s)
    half["queues"]["shipping"]["mean_depth"] = dx.FULL * 200 - 1
    assert dx.back_pressure(Evidence(half, scenario=PIPELINE)) == []
    assert dx.back_pressure(Evidence(s)) == []  # no scenario: the topology is unknown


SQS: dict[str, Any] = {"producers": {"api": {"to": "jobs"}},
                       "queues": {"jobs": {"broker": "sqs", "visibility_timeout": 0.25}},
                       "workers": {"pool": {"from": "jobs"}}}


def test_duplicates_under_a_visibility_timeout_below_the_service_p99() -> None:
    s = summary(latency__service={"p50": 0.044, "p90": 0.19, "p95": 0.26, "p99": 0.556, "p999": 1.3},
                queues__jobs__duplicates=1113, rates__duplicate=0.0557)
    (f,) = dx.visibility_timeout(Evidence(s, scenario=SQS))
    assert (f["cause"], f["figure"], f["value"]) == ("visibility_timeout", "rates.duplicate", 0.0557)
    assert "250 ms" in f["message"] and "p99 556 ms" in f["message"] and "more than 5% of processings" in f["message"]
    longer = copy.deepcopy(SQS)
    longer["queues"]["jobs"]["visibility_timeout"] = 0.6
    assert dx.visibility_timeout(Evidence(s, scenario=longer)) == []
    assert dx.visibility_timeout(Evidence(summary(latency__service__p99=0.556), scenario=SQS)) == []  # no duplicates
    redis = copy.deepcopy(SQS)
    redis["queues"]["jobs"] = {"broker": "redis", "mode": "list"}
    assert dx.visibility_timeout(Evidence(s, scenario=redis)) == []


def test_a_latency_limit_at_the_service_time_floor() -> None:
    s = summary(latency__service__p99=0.196)
    (f,) = dx.slo_floor(Evidence(s, limits={"latency.end_to_end.p99": 0.2}))
    assert (f["cause"], f["figure"], f["value"]) == ("slo_floor", "latency.service.p99", 0.196)
    assert "200 ms" in f["message"] and "196 ms" in f["message"] and "no worker count" in f["message"]
    assert dx.slo_floor(Evidence(s, limits={"latency.end_to_end.p99": 0.196 * dx.FLOOR_MARGIN * 1.01})) == []
    assert dx.slo_floor(Evidence(s, limits={"latency.queue_wait.p99": 0.01})) == []  # a wait has no floor
    assert dx.slo_floor(Evidence(s, limits={"rates.rejection": 0.0})) == []


# --- faults -------------------------------------------------------------------------------------


def test_losses_are_named_by_cause() -> None:
    s = summary(losses={"broker_restart": 4, "worker_crash": 457, "failure": 2613, "overflow": 0}, rates__loss=0.0113)
    (b,) = dx.broker_faults(Evidence(s))
    assert (b["cause"], b["figure"], b["value"]) == ("broker_faults", "losses.broker_restart", 4)
    assert "4 to broker restart" in b["message"] and "1.13%" in b["message"]
    (w,) = dx.worker_faults(Evidence(s))
    assert (w["cause"], w["figure"], w["value"]) == ("worker_faults", "losses.failure", 2613)
    assert "457 to worker crash" in w["message"]
    assert dx.broker_faults(Evidence(summary())) == [] and dx.worker_faults(Evidence(summary())) == []
    # together, the one that lost more comes first
    assert causes(dx.faults(Evidence(s))) == ["worker_faults", "broker_faults"]
    assert causes(dx.faults(Evidence(summary(losses={"broker_restart": 900, "failure": 3})))) == [
        "broker_faults", "worker_faults"]


def test_a_fault_whose_backlog_never_drained_is_a_broker_fault() -> None:
    s = summary(faults=[{"kind": "outage", "queue": "jobs", "at": 360.0, "backlog_peak": 9000, "drain_time": None}])
    (f,) = dx.broker_faults(Evidence(s))
    assert f["figure"] == "queues.jobs.max_depth" and "outage of `jobs` at t = 360 s" in f["message"]
    drained = summary(faults=[{"kind": "outage", "queue": "jobs", "at": 360.0, "backlog_peak": 9000, "drain_time": 4.0}])
    assert dx.broker_faults(Evidence(drained)) == []


# --- spikes -------------------------------------------------------------------------------------


ASYNC = summary(rates__base_load=129.0, rates__abandoned=0.142, latency__response__p99=4.7,
                queues__jobs__max_depth=1604,
                workers__pool__count=8, workers__pool__utilization=0.8,
                workers__pool__completed=int(0.8 * 160 * WINDOW))


def test_a_spike_above_capacity_is_named_with_what_it_cost() -> None:
    ts = series(lambda t: 240.0 if 100 <= t < 120 else 120.0)
    (f,) = dx.load_spike(Evidence(ASYNC, ts, SCENARIO))
    assert f["cause"] == "load_spike"
    assert "peaked at 240.0/s" in f["message"] and "about 20 s from t = 100 s" in f["message"]
    assert "160.0/s" in f["message"] and "14.2% of requests were abandoned" in f["message"]
    assert "1,604 waiting" in f["message"] and "response p99 4.7 s" in f["message"]


def test_a_spike_in_a_run_shorter_than_the_smoothing_is_still_read() -> None:
    short = summary(duration=4.0, warmup=0.0, window=4.0)
    ts = pd.DataFrame({"time": [0.0, 1.0, 2.0, 3.0], "produced": [100.0] * 4, "offered": [100.0] * 4, "warmup": [False] * 4})
    assert dx.load_spike(Evidence(short, ts, SCENARIO)) == []


def test_no_spike_under_capacity_nor_when_the_design_is_short_all_along() -> None:
    assert dx.load_spike(Evidence(ASYNC, series(lambda t: 150.0), SCENARIO)) == []
    assert dx.load_spike(Evidence(ASYNC, series(lambda t: 240.0), SCENARIO)) == []  # saturation's, not a spike
    assert dx.load_spike(Evidence(ASYNC, None, SCENARIO)) == []


# --- all together -------------------------------------------------------------------------------


def test_diagnose_lists_the_most_fundamental_cause_first() -> None:
    ts = series(spike, lambda t: 400.0 if t < 40 else 1600.0)
    found = dx.diagnose(STORM, ts, SCENARIO, {"latency.end_to_end.p99": 0.05})
    assert causes(found) == ["slo_floor", "metastable", "load_spike", "saturation"]
    assert set(found[0]) == {"cause", "figure", "value", "message"}
    assert dx.diagnose(summary()) == []


SMALL = """\
name: small
seed: 3
duration: 20s
warmup: 2s
producers:
  web: {to: orders, rate: 200/s, retry: {attempts: 3, backoff: 10ms}}
queues:
  orders: {broker: redis, capacity: 5}
workers:
  fulfil: {from: orders, count: 2, service: {dist: exponential, mean: 9ms}}
"""


@pytest.mark.parametrize("replications", [1, 2])
def test_offered_ratios_are_each_replications_offered_over_base_load(replications: int) -> None:
    result = run(parse_scenario(SMALL), replications=replications, executor=SerialExecutor())
    ratios = dx.offered_ratios(result.records)
    rates = result.summary["rates"]
    assert len(ratios) == replications and all(r is not None and r > 1.0 for r in ratios)  # 503 retries
    assert np.mean(ratios) == pytest.approx(rates["offered"] / rates["base_load"])
    assert result.summary["diagnosis"] == dx.diagnose(result.summary, result.timeseries, result.scenario.to_dict(),
                                                      {}, ratios)
