"""The 95% intervals of summary.json: the methods on known samples, the sections of a run, and how a summary uses them."""

from __future__ import annotations

import itertools
import math
import textwrap

import numpy as np
import pytest
from queuesim import parse_scenario
from queuesim.metrics import summarize
from queuesim.metrics.derive import Derived
from queuesim.metrics.stats import (
    BATCHES,
    mean_ci,
    percentile_ci,
    quantile_ci,
    quantile_sections,
    ratio_ci,
    sections,
    t975,
)
from queuesim.metrics.summary import _counts, _queues, latency_samples
from queuesim.sim import simulate

MMC = textwrap.dedent("""\
    duration: 12s
    warmup: 2s
    producers: {web: {to: jobs, rate: 300/s}}
    queues: {jobs: {broker: redis}}
    workers: {pool: {from: jobs, count: 4, service: {dist: exponential, mean: 10ms}}}
    """)


def test_ratio_ci_is_the_ratio_estimator_on_a_log_scale() -> None:
    num, den = np.array([3.0, 5.0, 4.0, 6.0]), np.array([10.0, 10.0, 12.0, 8.0])
    ratio = num.sum() / den.sum()
    se = math.sqrt(4 / 3 * float(((num - ratio * den) ** 2).sum())) / den.sum()
    half = t975(3) * se
    low, high = ratio_ci(num, den)  # type: ignore[misc]
    assert low == pytest.approx(ratio * math.exp(-half / ratio)) and high == pytest.approx(ratio * math.exp(half / ratio))
    assert low * high == pytest.approx(ratio**2)  # symmetric in relative terms, around the pooled ratio
    assert ratio_ci([0, 0, 0], [5, 5, 5]) == [0.0, 0.0]  # nothing happened in any batch
    assert ratio_ci([1.0], [2.0]) is None and ratio_ci([0, 0], [0, 0]) is None
    assert ratio_ci([9, 1, 9, 1], [10, 10, 10, 10], upper=1.0)[1] <= 1.0  # type: ignore[index]


def test_quantile_sections_follow_the_square_root_rule() -> None:
    # S sections need 20·S samples beyond the percentile each: S = ⌊√(n(1 − q)/20)⌋
    assert quantile_sections(9_600, 0.99, 10) == 2
    assert quantile_sections(18_000, 0.99, 10) == 3
    assert quantile_sections(300_000, 0.99, 10) == 10  # capped by the units
    assert quantile_sections(300_000, 0.999, 10) == 3
    assert quantile_sections(7_000, 0.99, 10) == 1  # too few for an interval
    assert quantile_sections(10**6, 0.5, 4) == 4


def test_sections_are_contiguous_groups_of_near_equal_size() -> None:
    units = [np.full(2, i, dtype=float) for i in range(10)]
    parts = sections(units, 3)
    assert [sorted(set(p.astype(int))) for p in parts] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_quantile_ci_weights_sections_by_size_and_centres_on_the_pooled_estimate() -> None:
    rng = np.random.default_rng(1)
    equal = [rng.exponential(1.0, 500) for _ in range(4)]
    pooled = float(np.quantile(np.concatenate(equal), 0.9))
    low, high = quantile_ci(equal, 0.9, pooled)  # type: ignore[misc]
    logs = np.log([np.quantile(x, 0.9) for x in equal])
    half = t975(3) * logs.std(ddof=1) / 2  # equal sizes: the textbook sectioning interval
    assert (low, high) == pytest.approx((pooled * math.exp(-half), pooled * math.exp(half)))
    # a section with zeros at the percentile: a linear interval, never below zero
    with_zero = [np.zeros(10), np.ones(10), np.full(10, 2.0)]
    low, high = quantile_ci(with_zero, 0.5, 1.0)  # type: ignore[misc]
    assert 0.0 <= low <= 1.0 <= high
    assert quantile_ci([np.ones(3)], 0.5, 1.0) is None and quantile_ci(equal, 0.9, None) is None


def test_percentile_ci_needs_a_tail_and_knows_a_constant() -> None:
    assert percentile_ci([np.full(100, 0.005)] * 10, 0.99, 0.005) == [0.005, 0.005]  # constant service time
    few = [np.random.default_rng(2).exponential(1.0, 500) for _ in range(10)]
    assert percentile_ci(few, 0.99, 4.6) is None  # 50 samples beyond the p99: one section at most
    assert percentile_ci([np.empty(0)] * 10, 0.5, None) is None


def test_percentile_ci_covers_an_iid_percentile() -> None:
    """Statistical check on independent samples: the p99 of Exp(1) is ln 100; 400 trials of 20,000
    samples in 10 batches each (sections: 3) cover it about 95% of the time (binomial SE 1.1%)."""
    rng = np.random.default_rng(7)
    truth = math.log(100)
    covered = 0
    for _ in range(400):
        batches = [rng.exponential(1.0, 2_000) for _ in range(BATCHES)]
        estimate = float(np.percentile(np.concatenate(batches), 99))
        low, high = percentile_ci(batches, 0.99, estimate)  # type: ignore[misc]
        covered += low <= truth <= high
    assert 0.92 <= covered / 400 <= 0.98


def test_sections_of_a_run_partition_its_window() -> None:
    rec = simulate(parse_scenario(MMC), 0, 3)
    whole = Derived(rec)
    assert whole.first_receive.size  # computed once, shared by the sections
    edges = np.linspace(*whole.window, BATCHES + 1)
    parts = [whole.section(a, b) for a, b in itertools.pairwise(edges)]
    assert all(p.__dict__["first_receive"] is whole.first_receive for p in parts)
    for key in ("produced", "completed", "attempts"):
        assert sum(_counts(p)[key] for p in parts) == _counts(whole)[key]
    waits = [latency_samples(p)["queue_wait"] for p in parts]
    assert sorted(np.concatenate(waits)) == sorted(latency_samples(whole)["queue_wait"])
    # a section's waits run to the end of the run, so the waiting time of the window is the sum of its sections'
    queues = [_queues([p])["jobs"] for p in parts]
    total = _queues([whole])["jobs"]
    assert sum((q["mean_wait"] or 0) * q["accepted"] for q in queues) == pytest.approx(total["mean_wait"] * total["accepted"])
    # and the depth over the window is the time-average of the sections' depths
    assert np.mean([q["mean_depth"] for q in queues]) == pytest.approx(total["mean_depth"])


def test_replicated_means_keep_their_t_interval_and_percentiles_get_one() -> None:
    """Over replications, the interval of a mean is the t-interval of the replication means, as before."""
    sc = parse_scenario(MMC)
    records = [simulate(sc, r, 5) for r in range(4)]
    summary = summarize(records)
    per_rep = [summarize([r]) for r in records]
    assert summary["ci_method"] == "replications"
    assert summary["ci95"]["latency.queue_wait.mean"] == mean_ci([s["latency"]["queue_wait"]["mean"] for s in per_rep])
    assert summary["ci95"]["rates.throughput"] == mean_ci([s["rates"]["throughput"] for s in per_rep])
    assert summary["ci95"]["workers.pool.utilization"] == mean_ci([s["workers"]["pool"]["utilization"] for s in per_rep])
    low, high = summary["ci95"]["latency.queue_wait.p90"]
    assert low < summary["latency"]["queue_wait"]["p90"] < high
    single = per_rep[0]
    assert single["ci_method"] == "batch_means"
    low, high = single["ci95"]["latency.queue_wait.mean"]
    assert low < single["latency"]["queue_wait"]["mean"] < high


ELASTIC = textwrap.dedent("""\
    duration: 40s
    warmup: 2s
    producers: {web: {to: jobs, rate: 80/s}}
    queues: {jobs: {broker: redis}}
    workers:
      pool:
        from: jobs
        service: {dist: exponential, mean: 10ms}
        count: [{until: 15, count: 2}, {until: 25, count: 5}, {count: 2}]
    """)


def test_an_elastic_pools_utilization_interval_has_the_figures_worker_time() -> None:
    """Utilization is busy time over the worker-seconds the pool had provisioned (a schedule of 2, 5,
    then 2 workers here), not over its ceiling all along. One run's interval is the ratio estimator
    on a log scale over the batches, so its geometric centre is the pooled ratio: the figure itself
    (exactly, as the batches partition the window); over replications each one's own ratio."""
    sc = parse_scenario(ELASTIC)
    one = summarize([simulate(sc, 0, 1)])
    figure = one["workers"]["pool"]["utilization"]
    low, high = one["ci95"]["workers.pool.utilization"]
    assert math.sqrt(low * high) == pytest.approx(figure, rel=1e-9)
    # at 80/s of 10 ms jobs the pool is 0.8 workers busy: about 0.8 / (worker-seconds / window)
    assert figure == pytest.approx(0.8 / one["workers"]["pool"]["count_mean"], rel=0.1)
    several = summarize([simulate(sc, r, 1) for r in range(3)])
    low, high = several["ci95"]["workers.pool.utilization"]
    assert low <= several["workers"]["pool"]["utilization"] <= high
    assert (low + high) / 2 == pytest.approx(several["workers"]["pool"]["utilization"], rel=0.02)
