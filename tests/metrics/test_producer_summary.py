"""``summary.json``'s ``producers.<name>``: each producer's own counts and latencies, which add up to the run's."""

from __future__ import annotations

import pytest
from queuesim import run
from queuesim.experiment.executors import SerialExecutor
from queuesim.figures import LATENCY_KINDS, limit_spec, spec

from conftest import scenario

MIXED = """
    seed: 5
    duration: 20s
    warmup: 2s
    producers:
      urgent: {to: jobs, rate: 60/s, priority: 2, retry: {attempts: 3}}
      bulk: {to: jobs, rate: 120/s, patience: {dist: exponential, mean: 0.5s}}
      nightly: {to: jobs, batch: {every: 5s, size: 200}}
    queues:
      jobs: {broker: rabbitmq, max_priority: 2, capacity: 40, overflow: reject-publish, prefetch: 2}
      audit: {broker: redis}
    workers:
      pool: {from: jobs, count: 4, service: {dist: exponential, mean: 20ms}, to: audit, crash: {probability: 0.01, restart: 1s}}
      auditor: {from: audit, count: 1, service: 1ms, crash: {probability: 0.02, restart: 100ms}}
"""


@pytest.mark.parametrize("replications", [1, 2])
def test_producer_counts_sum_to_the_totals(replications: int) -> None:
    summary = run(scenario(MIXED), replications=replications, executor=SerialExecutor()).summary
    per = summary["producers"]
    assert list(per) == ["urgent", "bulk", "nightly"]
    for key, total in summary["messages"].items():
        assert sum(p["messages"][key] for p in per.values()) == total, key
    for kind in LATENCY_KINDS:
        assert sum(p["latency"][kind]["count"] for p in per.values()) == summary["latency"][kind]["count"], kind
    # the load shaped each class differently: the sample is not trivially all in one producer
    assert per["bulk"]["messages"]["reneged"] > 0 and per["urgent"]["messages"]["rejected"] > 0
    assert per["urgent"]["latency"]["queue_wait"]["mean"] < per["bulk"]["latency"]["queue_wait"]["mean"]


def test_one_producer_has_the_run_s_own_figures() -> None:
    summary = run(scenario(MIXED.replace("      bulk:", "      #").replace("      nightly:", "      #")
                           .replace(", priority: 2", ""))).summary
    (only,) = summary["producers"].values()
    assert only["messages"] == summary["messages"]
    assert only["latency"] == summary["latency"]


def test_producer_figures_are_in_the_catalogue_and_may_carry_an_slo() -> None:
    assert spec("producers.urgent.messages.completed").kind == "count"
    assert limit_spec("producers.urgent.latency.end_to_end.p99").percentile == 99.0
    with pytest.raises(ValueError, match="better when higher"):
        limit_spec("producers.urgent.messages.completed")
