"""Elastic pools' figures: worker count over time, worker-seconds, scaling events, from the engine's capacity log.

The engine (:mod:`queuesim.sim.autoscale`) records, per elastic pool, the provisioned (billed)
count after every change and the time of every scaling decision (``extra["capacity"]``). A fixed
pool has no log, and none of these figures: its summary and time series are as they always were.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np

from queuesim.records import RunRecord

__all__ = ["capacity_log", "elastic_pools", "count_steps", "worker_seconds", "count_figures", "count_series"]


def capacity_log(record: RunRecord, pool: str) -> Mapping[str, Any] | None:
    """One replication's capacity log of ``pool``, or None for a fixed pool."""
    logs = cast(Mapping[str, Mapping[str, Any]], record.extra.get("capacity", {}))
    return logs.get(pool)


def elastic_pools(record: RunRecord) -> list[str]:
    """The pools whose count changed over the run (a schedule, an autoscaler, a deploy), in file order."""
    logs = cast(Mapping[str, Any], record.extra.get("capacity", {}))
    return [p for p in record.pools if p in logs]


def count_steps(log: Mapping[str, Any], end: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, stop, count) of each constant stretch of the provisioned count, the last one to ``end``."""
    times = np.asarray(log["times"], dtype=float)
    counts = np.asarray(log["counts"], dtype=float)
    stops = np.append(times[1:], end)
    return times, stops, counts


def worker_seconds(log: Mapping[str, Any], lo: float, hi: float) -> float:
    """Provisioned worker-seconds inside [lo, hi]."""
    start, stop, count = count_steps(log, hi)
    inside = np.clip(np.minimum(stop, hi) - np.maximum(start, lo), 0.0, None)
    return float((inside * count).sum())


def count_figures(records: Sequence[RunRecord], pool: str) -> dict[str, Any]:
    """The summary's capacity figures of one elastic pool, over every replication's window.

    ``worker_seconds``, ``scale_ups`` and ``scale_downs`` are summed over replications, as counts
    are; ``count_mean`` (worker-seconds / window), ``count_max`` (the most provisioned at once) and
    ``time_at_max`` (seconds at the pool's ceiling: the autoscaler's ``max``, the schedule's largest
    step) are over the pooled windows: the mean, the largest, and the mean per replication.
    """
    total = at_max = 0.0
    peak = 0
    ups = downs = 0
    span = 0.0
    for rec in records:
        log = capacity_log(rec, pool)
        assert log is not None, f"{pool} has no capacity log"
        lo, hi = rec.warmup, rec.duration
        span += hi - lo
        total += worker_seconds(log, lo, hi)
        start, stop, count = count_steps(log, hi)
        inside = np.clip(np.minimum(stop, hi) - np.maximum(start, lo), 0.0, None)
        live = inside > 0
        if live.any():
            peak = max(peak, int(count[live].max()))
        at_max += float(inside[count >= log["ceiling"]].sum())
        ups += sum(1 for t in log["ups"] if lo <= t < hi)
        downs += sum(1 for t in log["downs"] if lo <= t < hi)
    return {
        "count_mean": total / span if span > 0 else 0.0,
        "count_max": peak,
        "worker_seconds": total,
        "scale_ups": ups,
        "scale_downs": downs,
        "time_at_max": at_max / len(records),
    }


def count_series(record: RunRecord, pool: str, edges: np.ndarray) -> np.ndarray:
    """Time-average provisioned workers of ``pool`` in each bucket given by ``edges``."""
    log = capacity_log(record, pool)
    assert log is not None
    start, stop, count = count_steps(log, float(edges[-1]))
    out = np.zeros(len(edges) - 1)
    for i in range(len(edges) - 1):
        a, b = edges[i], edges[i + 1]
        inside = np.clip(np.minimum(stop, b) - np.maximum(start, a), 0.0, None)
        out[i] = float((inside * count).sum()) / (b - a)
    return out
