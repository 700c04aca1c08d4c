"""The headline figures of a run (``summary.json``): counts, rates, latencies, per queue and pool.

Counts are summed over replications; rates and latency distributions are pooled; ``ci95`` holds
95% intervals for the mean latencies and the rates, across replications when there are several and
from batch means of the one run otherwise.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np

from queuesim.figures import (
    LATENCY_KINDS,
    Latency,
    LatencyStats,
    Messages,
    PoolStats,
    QueueStats,
    Rates,
    RunMeta,
    Summary,
    latency_path,
    spec,
)
from queuesim.metrics import faults as fault_figures
from queuesim.metrics import resilience
from queuesim.metrics.capacity import count_figures, elastic_pools
from queuesim.metrics.derive import Derived, overlap, step_max
from queuesim.metrics.load import effective_load
from queuesim.metrics.stats import clean, describe, mean_ci
from queuesim.records import Delivery, Outcome, RunRecord

BATCHES = 10  # batch means for a single long run
_RATE_ONLY = ("attempts", "processed")  # counted for the rates, not written to the messages block


def _ratio(a: float, b: float) -> float | None:
    return float(a) / float(b) if b else None


def latency_samples(d: Derived, select: np.ndarray | None = None,
                    kinds: Sequence[str] = LATENCY_KINDS) -> dict[str, np.ndarray]:
    """Latency samples of the requests/messages in the window (optionally a subset of requests, and of the kinds)."""
    rec = d.rec
    req, msg, dl = rec.requests, rec.messages, rec.deliveries
    rin = d.request_in if select is None else d.request_in & select
    min_ = rin[msg["request"]] if select is not None else d.message_in
    out: dict[str, np.ndarray] = {}
    for kind in kinds:
        if kind == "end_to_end":
            done = rin & (req["outcome"] == Outcome.COMPLETED)
            out[kind] = req["done"][done] - req["created"][done]
        elif kind == "queue_wait":
            out[kind] = (d.first_receive - msg["accepted"])[min_]
        elif kind == "service":
            din = min_[dl["message"]] if select is not None else d.delivery_in
            out[kind] = d.service[din & d.processed]
        elif kind == "ack":
            root = min_ & (msg["stage"] == 0)
            out[kind] = (msg["accepted"] - msg["created"])[root]
        elif kind == "response":
            # creation → response, for clients that wait for one (await_result, sync); empty otherwise
            out[kind] = _client_column(req, "responded", rin) - req["created"][rin]
        else:
            raise ValueError(f"unknown latency kind {kind!r}")
    return out


def _client_column(req: dict[str, np.ndarray], name: str, rows: np.ndarray) -> np.ndarray:
    """A client-side request column (queuesim.sim.producer) on ``rows``; all NaN for records without it."""
    col = req.get(name)
    return col[rows] if col is not None else np.full(int(np.count_nonzero(rows)), np.nan)


def _counts(d: Derived, select: np.ndarray | None = None) -> dict[str, int]:
    rec = d.rec
    req, msg = rec.requests, rec.messages
    rin = d.request_in if select is None else d.request_in & select
    min_ = rin[msg["request"]]
    oc = np.bincount(req["outcome"][rin], minlength=len(Outcome))
    root = min_ & (msg["stage"] == 0)
    rejected = int(np.count_nonzero(min_[rec.rejections["message"]]))
    return {
        "produced": int(rin.sum()),
        "accepted": int(np.count_nonzero(root & ~np.isnan(msg["accepted"]))),
        "rejected": rejected,
        "attempts": int(msg["attempts"][root].sum()),
        "gave_up": int(oc[Outcome.GAVE_UP]),
        "completed": int(oc[Outcome.COMPLETED]),
        "duplicates": int(np.clip(msg["processings"][min_].astype(np.int64) - 1, 0, None).sum()),
        # messages (every stage) processed at least once, whatever became of them: the duplicate
        # rate's denominator, in the same unit as its numerator
        "processed": int(np.count_nonzero(msg["processings"][min_])),
        "lost": int(oc[Outcome.LOST]),
        "dead_lettered": int(oc[Outcome.DEAD_LETTERED]),
        "expired": int(oc[Outcome.EXPIRED]),
        "reneged": int(oc[Outcome.RENEGED]),
        "in_flight": int(oc[Outcome.IN_FLIGHT]),
        # client side, outside the conservation invariant: an abandoned request still runs to its
        # outcome; a throttled one is also counted in gave_up
        "abandoned": int(np.count_nonzero(~np.isnan(_client_column(req, "abandoned", rin)))),
        "throttled": int(np.count_nonzero(~np.isnan(_client_column(req, "throttled", rin)))),
        # short_circuited is an outcome (in the conservation invariant); the rest are client-side
        # tallies beside it (queuesim.metrics.resilience)
        **resilience.client_counts(d, rin),
    }


def _rates(c: Mapping[str, int], window: float, base_load: float | None = None) -> Rates:
    return {
        "throughput": c["completed"] / window,
        "rejection": clean(_ratio(c["rejected"], c["attempts"])),
        "loss": clean(_ratio(c["lost"], c["produced"])),
        "duplicate": clean(_ratio(c["duplicates"], c["processed"])),
        "gave_up": clean(_ratio(c["gave_up"], c["produced"])),
        "offered": c["attempts"] / window,  # publish attempts per second, retries included
        "abandoned": clean(_ratio(c["abandoned"], c["produced"])),
        "base_load": clean(base_load),
        "short_circuited": clean(_ratio(c["short_circuited"], c["produced"])),
    }


def _messages(counts: Mapping[str, int], redeliveries: int) -> Messages:
    """The messages block: the tallies in file order (attempts and processed only feed the rates), then redeliveries."""
    tallies: dict[str, int] = {k: v for k, v in counts.items() if k not in _RATE_ONLY}
    # the tallies' keys are _counts' keys, which are the fields of Messages but redeliveries
    return cast(Messages, {**tallies, "redeliveries": redeliveries})


def _queues(deriveds: Sequence[Derived]) -> dict[str, QueueStats]:
    """Per-queue figures pooled over replications (depths are time averages over the window)."""
    rec0 = deriveds[0].rec
    lo, hi = deriveds[0].window
    out: dict[str, QueueStats] = {}
    for qi, name in enumerate(rec0.queues):
        area = waited = 0.0
        accepted = rejected = dead = redelivered = peak = expired = reneged = 0
        for d in deriveds:
            msg, dl, rej = d.rec.messages, d.rec.deliveries, d.rec.rejections["message"]
            at_q = msg["queue"] == qi
            spell = d.delivery_queue == qi
            mine = spell & d.delivery_in
            area += overlap(dl["since"][spell], dl["until"][spell], lo, hi).sum()
            # every waiting spell of the window's messages, so Little's law holds for mean_wait
            waited += overlap(dl["since"][mine], dl["until"][mine], -np.inf, hi).sum()
            peak = max(peak, step_max(dl["since"][spell], dl["until"][spell], lo, hi))
            accepted += int(np.count_nonzero(d.message_in & at_q & ~np.isnan(msg["accepted"])))
            rejected += int(np.count_nonzero(d.message_in[rej] & at_q[rej]))
            status = dl["status"]
            # an expired message moved to the dead-letter queue counts in both
            expired_dlq = int(np.count_nonzero(mine & (status == Delivery.EXPIRED_DEAD_LETTERED)))
            dead += int(np.count_nonzero(mine & (status == Delivery.DEAD_LETTERED))) + expired_dlq
            expired += int(np.count_nonzero(mine & (status == Delivery.EXPIRED))) + expired_dlq
            reneged += int(np.count_nonzero(mine & (status == Delivery.RENEGED)))
            redelivered += int(np.clip(msg["receives"][d.message_in & at_q].astype(np.int64) - 1, 0, None).sum())
        span = (hi - lo) * len(deriveds)
        lost = fault_figures.losses(deriveds, qi)
        out[name] = {
            "mean_depth": area / span,
            "lost": sum(lost.values()),
            "losses": lost,
            "duplicates": fault_figures.duplicates(deriveds, qi),
            "poison": fault_figures.poison(deriveds, qi)["seen"],
            "max_depth": peak,
            "accepted": accepted,
            "throughput": accepted / span,
            "rejected": rejected,
            "dead_lettered": dead,
            "redeliveries": redelivered,
            "mean_wait": _ratio(waited, accepted),
            "expired": expired,
            "reneged": reneged,
        }
    return out


#: The rates and messages blocks from counts, shared with the streamed summary (:mod:`queuesim.metrics.stream`).
rates_block = _rates
messages_block = _messages


def _pool_events(d: Derived, pool: str, event: str) -> int:
    """A worker event count the engine recorded for a pool (``extra["pools"]``, see queuesim.sim.build)."""
    pools = cast(Mapping[str, Mapping[str, int]], d.rec.extra.get("pools", {}))
    return int(pools.get(pool, {}).get(event, 0))


def _pools(deriveds: Sequence[Derived]) -> dict[str, PoolStats]:
    """Per-pool utilization (busy time, overhead included, / worker time in the window) and finished processings."""
    rec0 = deriveds[0].rec
    lo, hi = deriveds[0].window
    counts = np.bincount(rec0.worker_pool, minlength=len(rec0.pools))
    out: dict[str, PoolStats] = {}
    elastic = set(elastic_pools(rec0))
    for pi, name in enumerate(rec0.pools):
        busy = 0.0
        completed = 0
        for d in deriveds:
            mine = d.delivery_pool == pi
            busy += overlap(*d.busy_of(pi), lo, hi).sum()
            completed += int(np.count_nonzero(mine & d.delivery_in & d.processed))
        scaled = count_figures([d.rec for d in deriveds], name) if name in elastic else None
        # an elastic pool's worker time is what it had provisioned, not its ceiling all along
        worker_time = scaled["worker_seconds"] if scaled is not None else counts[pi] * (hi - lo) * len(deriveds)
        out[name] = {
            "count": int(counts[pi]),
            "utilization": float(busy / worker_time) if worker_time > 0 else 0.0,
            "completed": completed,
            "crashes": sum(_pool_events(d, name, "crashes") for d in deriveds),
            "failures": sum(_pool_events(d, name, "failures") for d in deriveds),
            "deduplicated": sum(_pool_events(d, name, "deduplicated") for d in deriveds),
        }
        if scaled is not None:
            out[name].update(cast(PoolStats, scaled))
    return out


def _batch_selects(d: Derived, batches: int) -> list[np.ndarray]:
    lo, hi = d.window
    edges = np.linspace(lo, hi, batches + 1)
    created = d.rec.requests["created"]
    return [(created >= a) & (created < b) for a, b in itertools.pairwise(edges)]


def _ci(deriveds: Sequence[Derived]) -> tuple[str, dict[str, list[float] | None]]:
    """95% intervals of the mean latencies and of the rates the catalogue gives an interval."""
    units: list[tuple[Derived, np.ndarray | None, float]]
    if len(deriveds) >= 2:
        method = "replications"
        units = [(d, None, d.window[1] - d.window[0]) for d in deriveds]
    else:
        method = "batch_means"
        d = deriveds[0]
        width = (d.window[1] - d.window[0]) / BATCHES
        units = [(d, sel, width) for sel in _batch_selects(d, BATCHES)]
    samples: dict[str, list[float]] = {}
    for d, sel, width in units:
        lat = latency_samples(d, sel)
        for k in LATENCY_KINDS:
            v = lat[k][~np.isnan(lat[k])]
            samples.setdefault(latency_path(k, "mean"), []).append(float(v.mean()) if v.size else np.nan)
        for k, r in _rates(_counts(d, sel), width).items():
            if spec(f"rates.{k}").ci:
                samples.setdefault(f"rates.{k}", []).append(np.nan if r is None else cast(float, r))
    return method, {k: mean_ci(v) for k, v in samples.items()}


def _base_load(records: Sequence[RunRecord]) -> float | None:
    """The producers' configured (expected) arrivals per second over the window, for offered vs base."""
    base = [r.extra.get("base_load") for r in records]
    if any(b is None for b in base):
        return None
    return float(np.mean(cast(list[float], base)))


def summarize(records: Sequence[RunRecord], meta: RunMeta | None = None) -> Summary:
    """Build the ``summary.json`` figures from the records of every replication.

    Parameters
    ----------
    records : sequence of RunRecord
        One per replication, of the same scenario.
    meta : RunMeta, optional
        The run's context, written first.

    Returns
    -------
    Summary
        Its structure and every figure in it are described in :mod:`queuesim.figures`.
    """
    deriveds = [Derived(r) for r in records]
    window = records[0].duration - records[0].warmup
    per_rep = [_counts(d) for d in deriveds]
    counts = {k: sum(c[k] for c in per_rep) for k in per_rep[0]}
    # one kind at a time, each pooled sample dropped once described: the samples of every kind at
    # once, and their pooled copies, held through the intervals and queue figures, were the run's
    # memory peak (about 80 bytes per message on top of the records)
    latency: dict[str, LatencyStats] = {}
    for k in LATENCY_KINDS:
        parts = [latency_samples(d, kinds=(k,))[k] for d in deriveds]
        latency[k] = describe(parts[0] if len(parts) == 1 else np.concatenate(parts))
        del parts
    method, ci = _ci(deriveds)
    queues = _queues(deriveds)
    faults = cast(Sequence[Mapping[str, Any]], records[0].extra.get("faults", []))
    # offered_load and warnings are the API's to add: the scenario knows them, the records do not
    return {
        **(meta or {}),  # type: ignore[typeddict-item]
        "replications": len(records),
        "window": window,
        "messages": _messages(counts, sum(q["redeliveries"] for q in queues.values())),
        "rates": _rates(counts, window * len(records), _base_load(records)),
        # the keys are LATENCY_KINDS, the fields of Latency
        "latency": cast(Latency, latency),
        "queues": queues,
        "workers": _pools(deriveds),
        "ci95": ci,
        "ci_method": method,
        "losses": fault_figures.losses(deriveds),
        "poison": fault_figures.poison(deriveds),
        "faults": fault_figures.recovery(deriveds, records[0].queues, faults),
        "effective_load": effective_load(deriveds),
        "breakers": resilience.breakers(deriveds),
    }
