"""Streamed statistics of a run (``--outputs summary``): the summary and time series folded from batches of final rows.

:class:`StreamSink` is the :class:`~queuesim.records.RecordSink` a streaming recorder hands its
final rows to (:mod:`queuesim.sim.recorder`); it keeps counts, sums, time-series buckets and
quantile sketches (:mod:`queuesim.metrics.sketch`), never the rows, so memory does not grow with
the run. :meth:`StreamSink.result` gives a picklable :class:`StreamStats` per replication;
:func:`summarize_streams` pools them into the same ``summary.json`` structure as
:func:`queuesim.metrics.summarize` and :func:`stream_timeseries` into the same time series.

What differs from the full summary: percentiles come from the sketches, within
:data:`~queuesim.metrics.sketch.ALPHA` (relative) of the full path's; counts, maxima and the
depth figures are the same; means, rates and time averages are the same up to floating-point
rounding (the sums are added in another order). Merging replications adds their sketches and
sums in replication order, so the result does not depend on where each replication ran.

Queue depth needs the waiting count at every instant: each batch carries the messages still
waiting, so the spells that started before the batch's time are known; events at the batch's own
instant wait for the next batch, so an instant is never split and ties keep the full path's order
(departures before arrivals).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from queuesim.figures import (
    LATENCY_KINDS,
    PERCENTILES,
    BreakerStats,
    FaultRecovery,
    Latency,
    LatencyStats,
    PoolStats,
    QueueStats,
    RunMeta,
    Summary,
    ci_paths,
    latency_parts,
    latency_path,
    quantile,
    spec,
)
from queuesim.metrics.load import downtime, load_of
from queuesim.metrics.resilience import breaker_stats, timeline_of
from queuesim.metrics.sketch import ALPHA, QuantileSketch
from queuesim.metrics.stats import BATCHES, mean_ci, quantile_sections, ratio_ci, sectioned_ci
from queuesim.metrics.summary import messages_block, rate_parts, rates_block
from queuesim.metrics.timeseries import bucket_counts, bucket_counts_by, bucket_coverage, bucket_edges
from queuesim.records import Delivery, Loss, Outcome, RecordBatch
from queuesim.scenario import Scenario

__all__ = ["StreamLayout", "StreamSink", "StreamStats", "summarize_streams", "stream_timeseries", "stream_offered_ratios",
           "stream_refusal", "stream_interval_gap"]

_PROCESSED = np.array([Delivery.HELD, Delivery.DONE, Delivery.STALE], dtype=np.int8)
_COUNTS = ("produced", "accepted", "rejected", "attempts", "gave_up", "completed", "duplicates", "processed", "lost",
           "dead_lettered", "expired", "reneged", "in_flight", "abandoned", "throttled",
           # queuesim.metrics.resilience.client_counts
           "short_circuited", "retry_budget_exhausted", "hedged", "hedge_wins", "deadline_dropped",
           "cancelled")  # the full summary's _counts, in its order
_OUTCOME_COUNTS = {"gave_up": Outcome.GAVE_UP, "completed": Outcome.COMPLETED, "lost": Outcome.LOST,
                   "dead_lettered": Outcome.DEAD_LETTERED, "expired": Outcome.EXPIRED, "reneged": Outcome.RENEGED,
                   "in_flight": Outcome.IN_FLIGHT, "short_circuited": Outcome.SHORT_CIRCUITED}
_SERIES_OUTCOMES = (("gave_up", Outcome.GAVE_UP), ("completed", Outcome.COMPLETED),
                    ("lost", Outcome.LOST), ("dead_lettered", Outcome.DEAD_LETTERED),
                    ("expired", Outcome.EXPIRED), ("reneged", Outcome.RENEGED),
                    ("short_circuited", Outcome.SHORT_CIRCUITED))
_EMPTY_IDS = np.empty(0, dtype=np.int64)
_REASONS = [r.name.lower() for r in Loss if r is not Loss.NONE]


def _percentile_ci() -> bool:
    """Whether the catalogue gives any latency percentile or maximum an interval (then batches keep sketches)."""
    return any(spec(latency_path(LATENCY_KINDS[0], s)).ci for s in (*PERCENTILES, "max"))


def stream_refusal(scenario: Scenario) -> tuple[str, str] | None:
    """(field, what) of the first part of ``scenario`` a run cannot stream yet, None when it can.

    The stream does not give these as the full summary does: an elastic pool (its capacity
    figures and per-bucket p99 come from the records), a Celery pool, queue or task ETA, message
    priorities, and several producers (``producers.<name>``'s figures need each request's producer).
    Such a run keeps its records (a sweep point, a plan candidate), or is refused (``outputs: summary``).
    """
    for name, pool in scenario.workers.items():
        if pool.elastic:
            return (f"workers.{name}", f"a scenario with an elastic pool ('{name}': a count schedule, an autoscaler "
                                       "or a deploy)")
        if pool.celery is not None:
            return (f"workers.{name}.celery", f"a Celery pool ('{name}')")
    for name, queue in scenario.queues.items():
        if getattr(queue, "mode", None) == "celery":
            return (f"queues.{name}.mode", f"a Celery (Kombu) Redis queue ('{name}')")
        if getattr(queue, "max_priority", None) is not None:
            return (f"queues.{name}.max_priority", f"a priority queue ('{name}')")
    for name, producer in scenario.producers.items():
        if producer.priority:
            return (f"producers.{name}.priority", f"message priorities ('{name}')")
        if producer.countdown is not None:
            return (f"producers.{name}.countdown", f"Celery ETA tasks ('{name}')")
    if len(scenario.producers) > 1:
        return ("producers", "several producers (summary.json's per-producer figures)")
    return None


def stream_interval_gap(paths: Iterable[str], replications: int) -> str | None:
    """The first of ``paths`` (SLO limits, a precision rule's figures) whose interval a streamed run lacks, or None.

    Over several replications the stream gives every interval the full summary gives; from one
    replication's batches it has none for the queue and pool figures (their batch means need the
    records), so a verdict or a precision round on one of those runs with records.
    """
    if replications >= 2:
        return None
    return next((p for p in paths if p.startswith(("queues.", "workers."))), None)


@dataclass(frozen=True)
class StreamLayout:
    """What a sink needs to know of the model: names, the window, the time-series buckets, the faults."""

    producers: tuple[str, ...]
    queues: tuple[str, ...]
    pools: tuple[str, ...]
    worker_pool: np.ndarray
    warmup: float
    duration: float
    edges: np.ndarray
    faults: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def of(cls, scenario: Scenario) -> StreamLayout:
        """The layout of one replication of ``scenario`` (workers numbered pool by pool, as the engine does)."""
        worker_pool = np.concatenate([np.full(p.count, i, dtype=np.int32) for i, p in enumerate(scenario.workers.values())])
        return cls(tuple(scenario.producers), tuple(scenario.queues), tuple(scenario.workers), worker_pool,
                   scenario.warmup, scenario.duration, bucket_edges(scenario.duration),
                   tuple(f.model_dump() for f in scenario.faults))

    @staticmethod
    def supports(scenario: Scenario) -> bool:
        """Whether a run of ``scenario`` can stream (:func:`stream_refusal` names what it cannot)."""
        return stream_refusal(scenario) is None

    @property
    def batch_edges(self) -> np.ndarray:
        """Edges of the ten batch-means batches over the window (as the full summary's batches)."""
        return np.linspace(self.warmup, self.duration, BATCHES + 1)


def _overlap(start: np.ndarray, end: np.ndarray, lo: float, hi: float) -> np.ndarray:
    end = np.where(np.isnan(end), hi, end)
    inside: np.ndarray = np.clip(np.minimum(end, hi) - np.maximum(start, lo), 0.0, None)
    return inside


def _positive_excess(counts: np.ndarray) -> int:
    """Σ max(c − 1, 0): receives beyond the first, processings beyond the first."""
    return int(np.clip(counts.astype(np.int64) - 1, 0, None).sum())


@dataclass
class _Latency:
    """One latency kind: its sketch, and per batch the sums and counts (and sketches, when percentiles have intervals)."""

    sketch: QuantileSketch = field(default_factory=QuantileSketch)
    sums: np.ndarray = field(default_factory=lambda: np.zeros(BATCHES))
    counts: np.ndarray = field(default_factory=lambda: np.zeros(BATCHES, dtype=np.int64))
    batch_sketches: list[QuantileSketch] | None = None

    def add(self, values: np.ndarray, batch: np.ndarray) -> None:
        keep = ~np.isnan(values)
        values, batch = values[keep], batch[keep]
        if self.batch_sketches is None:
            self.sketch.add(values)
        else:
            self.sketch.add_grouped(values, batch, self.batch_sketches)
        self.sums += np.bincount(batch, weights=values, minlength=BATCHES)
        self.counts += np.bincount(batch, minlength=BATCHES)


class _Depth:
    """The waiting count of one queue through time, fed in time order: its peak and what faults did to it."""

    def __init__(self, lo: float, hi: float, faults: Sequence[tuple[float, float]]) -> None:
        self.lo, self.hi = lo, hi
        self.level = 0
        self.at_lo = 0  # level after the last event at or before lo
        self.peak = 0  # highest level after an event inside [lo, hi]
        # per fault (start, end): [base, peak, seen_during, at_end, drained]
        self.faults = [(s, e) for s, e in faults]
        self.state: list[dict[str, Any]] = [{"base": 0, "peak": None, "at_end": 0, "drained": None} for _ in faults]

    def feed(self, times: np.ndarray, deltas: np.ndarray) -> None:
        """Events (time, ±1) of one batch, all before the batch's time; applied departures first at equal times."""
        if times.size == 0:
            return
        # lexsort((deltas, times)) for deltas of ±1, faster: departures first, then a stable sort by time,
        # which runs in about linear time on these nearly sorted events
        first = np.concatenate([np.flatnonzero(deltas < 0), np.flatnonzero(deltas >= 0)])
        order = first[np.argsort(times[first], kind="stable")]
        t = times[order]
        level = self.level + np.cumsum(deltas[order])
        upto = np.searchsorted(t, self.lo, side="right")
        if upto > 0:
            self.at_lo = int(level[upto - 1])
        inside = (t >= self.lo) & (t <= self.hi)
        if inside.any():
            self.peak = max(self.peak, int(level[inside].max()))
        for (start, end), st in zip(self.faults, self.state, strict=True):
            before = np.searchsorted(t, start, side="left")
            if before > 0:
                st["base"] = int(level[before - 1])
            during = (t >= start) & (t <= end)
            if during.any():
                top = int(level[during].max())
                st["peak"] = top if st["peak"] is None else max(st["peak"], top)
            through = np.searchsorted(t, end, side="right")
            if through > 0:
                st["at_end"] = int(level[through - 1])
            if st["drained"] is None:
                hit = np.flatnonzero((t > end) & (level <= st["base"]))
                if hit.size:
                    st["drained"] = float(t[hit[0]] - end)
        self.level = int(level[-1])

    def max_depth(self) -> int:
        return max(self.at_lo, self.peak)

    def recovery(self) -> list[dict[str, Any]]:
        out = []
        for st in self.state:
            base, at_end = st["base"], st["at_end"]
            peak = max(st["peak"] if st["peak"] is not None else base, base)
            drained = 0.0 if at_end <= base else st["drained"]
            out.append({"base": base, "peak": max(peak, at_end), "drained": drained})
        return out


@dataclass
class StreamStats:
    """One replication's streamed figures: what :func:`summarize_streams` pools (picklable, small)."""

    layout: StreamLayout
    counts: dict[str, int]
    batch_counts: dict[str, np.ndarray]
    latency: dict[str, _Latency]
    queues: dict[str, dict[str, Any]]
    pools: dict[str, dict[str, float]]
    losses: dict[str, int]
    poison: dict[str, int]
    recovery: list[dict[str, Any]]
    series: dict[str, np.ndarray]
    extra: dict[str, Any] = field(default_factory=dict)
    short_by_producer: dict[str, int] = field(default_factory=dict)  # short-circuited requests in the window


class StreamSink:
    """Folds one replication's final rows into counts, sums, sketches and buckets (a :class:`~queuesim.records.RecordSink`)."""

    def __init__(self, layout: StreamLayout, batch_sketches: bool | None = None) -> None:
        """``batch_sketches``: keep a sketch per batch too (percentile intervals from one run); default
        when the catalogue gives percentiles an interval."""
        self.layout = layout
        self._batch_edges = layout.batch_edges
        lo, hi = layout.warmup, layout.duration
        self.window = (lo, hi)
        nq, npool, nb = len(layout.queues), len(layout.pools), layout.edges.size - 1
        self.counts = dict.fromkeys(_COUNTS, 0)
        self.batch_counts = {k: np.zeros(BATCHES, dtype=np.int64) for k in _COUNTS}
        with_sketches = _percentile_ci() if batch_sketches is None else batch_sketches
        self.latency = {k: _Latency(batch_sketches=[QuantileSketch() for _ in range(BATCHES)] if with_sketches else None)
                        for k in LATENCY_KINDS}
        self.q_area, self.q_waited = np.zeros(nq), np.zeros(nq)
        self.q_int = {name: np.zeros(nq, dtype=np.int64) for name in
                      ("accepted", "rejected", "dead_lettered", "redeliveries", "lost", "duplicates", "poison",
                       "expired", "reneged", "worked")}
        self.q_losses = np.zeros((nq, len(Loss)), dtype=np.int64)
        self.losses = np.zeros(len(Loss), dtype=np.int64)
        self.poison = dict.fromkeys(("seen", "dead_lettered", "lost", "cycling"), 0)
        self.busy, self.completed = np.zeros(npool), np.zeros(npool, dtype=np.int64)
        self.short_by_producer = np.zeros(len(layout.producers), dtype=np.int64)  # for the breakers' figures
        self.depth_int, self.busy_int = np.zeros((nq, nb)), np.zeros((npool, nb))
        self.series = {name: np.zeros(nb, dtype=np.int64) for name in
                       ("produced", "accepted", "rejected", "gave_up", "completed", "lost", "dead_lettered",
                        "offered", "throttled", "abandoned", "expired", "reneged", "duplicates", "short_circuited")}
        per_queue: list[list[tuple[float, float]]] = [[] for _ in layout.queues]
        self._fault_slots: list[tuple[int, int]] = []  # per fault: (queue, index among that queue's faults)
        for fault in layout.faults:
            qi = layout.queues.index(fault["queue"])
            start = fault["at"]
            end = start + (fault.get("downtime") or fault.get("duration") or 0.0)
            self._fault_slots.append((qi, len(per_queue[qi])))
            per_queue[qi].append((start, end))
        self.depth = [_Depth(lo, hi, f) for f in per_queue]
        # live messages with a processing finished so far: their ids (sorted) and its earliest end, so that
        # every later-ending processing is a duplicate in the time series; and those a worker began in the window
        self._first_ids, self._first_end = _EMPTY_IDS, np.empty(0)
        self._worked = _EMPTY_IDS
        # events at a batch's own instant, waiting for the next batch: (time, delta, queue)
        self._carry = (np.empty(0), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))

    # -- helpers --------------------------------------------------------------------------------
    def _batch_of(self, created: np.ndarray) -> np.ndarray:
        """Batch number of each created time in the window (only called for rows in the window)."""
        return np.clip(np.searchsorted(self._batch_edges, created, side="right") - 1, 0, BATCHES - 1)

    def _count(self, name: str, rows_in: np.ndarray, batch: np.ndarray) -> None:
        self.counts[name] += int(rows_in.sum())
        self.batch_counts[name] += np.bincount(batch[rows_in], minlength=BATCHES)

    # -- the sink -------------------------------------------------------------------------------
    def fold(self, batch: RecordBatch) -> None:
        """Take one batch of final rows (see :class:`~queuesim.records.RecordBatch`)."""
        lo, hi = self.window
        req, msg, dl, rej = batch.requests, batch.messages, batch.deliveries, batch.rejections
        created = req["created"]
        warm = self.layout.warmup
        edges = self.layout.edges

        def message_in(messages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            c = created[msg["request"][messages]]
            inside = c >= warm
            return inside, self._batch_of(np.where(inside, c, warm))

        # rejections: 503s of the window's messages, and every 503 in the time series
        rows = batch.new_rejections
        if rows.size:
            m = rej["message"][rows]
            inside, b = message_in(m)
            t = rej["time"][rows]
            self._count("rejected", inside, b)
            q = msg["queue"][m]
            self.q_int["rejected"] += np.bincount(q[inside], minlength=len(self.layout.queues))
            self.series["rejected"] += bucket_counts(t, edges)
            self.series["offered"] += bucket_counts(t[msg["stage"][m] == 0], edges)

        # waiting spells
        rows = batch.new_spells
        nq = len(self.layout.queues)
        times, deltas, queues = [self._carry[0]], [self._carry[1]], [self._carry[2]]
        if rows.size:
            m = dl["message"][rows]
            q = msg["queue"][m].astype(np.int64)
            since, until = dl["since"][rows], dl["until"][rows]
            inside, b = message_in(m)
            self.q_area += np.bincount(q, weights=_overlap(since, until, lo, hi), minlength=nq)
            self.q_waited += np.bincount(q[inside], weights=_overlap(since[inside], until[inside], -np.inf, hi), minlength=nq)
            status = dl["status"][rows]
            # an expired message moved to the dead-letter queue counts in both
            expired_dlq = inside & (status == Delivery.EXPIRED_DEAD_LETTERED)
            dead = inside & (status == Delivery.DEAD_LETTERED) | expired_dlq
            self.q_int["dead_lettered"] += np.bincount(q[dead], minlength=nq)
            self.q_int["expired"] += np.bincount(q[inside & (status == Delivery.EXPIRED) | expired_dlq], minlength=nq)
            self.q_int["reneged"] += np.bincount(q[inside & (status == Delivery.RENEGED)], minlength=nq)
            for qi in np.flatnonzero(np.bincount(q, minlength=nq)).tolist():  # the queues present, without np.unique's hash
                mine = q == qi
                self.depth_int[qi] += bucket_coverage(since[mine], until[mine], edges)
            first = inside & (dl["worker"][rows] >= 0) & (dl["delivery"][rows] == 1)
            self.latency["queue_wait"].add(until[first] - msg["accepted"][m[first]], b[first])
            arrive = since >= batch.previous  # earlier starts were counted while the spell was open
            times += [since[arrive], until[~np.isnan(until)]]
            deltas += [np.ones(int(arrive.sum()), dtype=np.int64), -np.ones(int((~np.isnan(until)).sum()), dtype=np.int64)]
            queues += [q[arrive], q[~np.isnan(until)]]
        if batch.open_messages.size:
            s = batch.open_since
            now = (s >= batch.previous) & (s < batch.time)  # open since before: counted already
            times.append(s[now])
            deltas.append(np.ones(int(now.sum()), dtype=np.int64))
            queues.append(msg["queue"][batch.open_messages[now]].astype(np.int64))
        t_all, d_all, q_all = np.concatenate(times), np.concatenate(deltas), np.concatenate(queues)
        due = t_all < batch.time
        self._carry = (t_all[~due], d_all[~due], q_all[~due])
        t_all, d_all, q_all = t_all[due], d_all[due], q_all[due]
        for qi in range(nq):
            mine = q_all == qi
            self.depth[qi].feed(t_all[mine], d_all[mine])

        # processings
        rows = batch.finished_deliveries
        if rows.size:
            worker = dl["worker"][rows]
            pool = np.full(rows.size, -1, dtype=np.int64)
            ok = worker >= 0
            pool[ok] = self.layout.worker_pool[worker[ok]]
            started, finished = dl["started"][rows], dl["finished"][rows]
            began = started - dl["overhead"][rows]  # the worker was busy from here: overhead, then the processing
            m = dl["message"][rows]
            inside, b = message_in(m)
            status = dl["status"][rows]
            processed = np.isin(status, _PROCESSED) & ~np.isnan(finished)
            self._count("deadline_dropped", inside & (status == Delivery.DEADLINE_EXCEEDED), b)
            self._count("cancelled", inside & (status == Delivery.CANCELLED), b)
            service = inside & processed
            self.latency["service"].add(finished[service] - started[service], b[service])
            npool = len(self.layout.pools)
            self.completed += np.bincount(pool[service & (pool >= 0)], minlength=npool)
            ran = ~np.isnan(started) & (pool >= 0)
            self.busy += np.bincount(pool[ran], weights=_overlap(began[ran], finished[ran], lo, hi), minlength=npool)
            for pi in np.flatnonzero(np.bincount(pool[ran], minlength=npool)).tolist():
                mine = ran & (pool == pi)
                self.busy_int[pi] += bucket_coverage(began[mine], finished[mine], edges)
            worked = m[(pool >= 0) & (began >= lo) & (began < hi)]
            if worked.size:  # only ever tested for membership: repeats are harmless, and no sort is needed
                self._worked = np.concatenate([self._worked, worked])
            self._duplicates(m[processed], finished[processed])

        # messages
        rows = batch.final_messages
        if rows.size:
            inside, b = message_in(rows)
            q = msg["queue"][rows].astype(np.int64)
            root = msg["stage"][rows] == 0
            accepted = msg["accepted"][rows]
            was_accepted = ~np.isnan(accepted)
            self._count("accepted", inside & root & was_accepted, b)
            win_root = inside & root
            self.counts["attempts"] += int(msg["attempts"][rows][win_root].sum())
            self.batch_counts["attempts"] += np.bincount(b[win_root], weights=msg["attempts"][rows][win_root],
                                                         minlength=BATCHES).astype(np.int64)
            excess = np.clip(msg["processings"][rows].astype(np.int64) - 1, 0, None)
            self._count("processed", inside & (msg["processings"][rows] > 0), b)
            worked = np.isin(rows, self._worked)
            self.q_int["worked"] += np.bincount(q[worked], minlength=nq)
            self._worked = self._worked[~np.isin(self._worked, rows)]
            keep = ~np.isin(self._first_ids, rows)
            self._first_ids, self._first_end = self._first_ids[keep], self._first_end[keep]
            self.counts["duplicates"] += int(excess[inside].sum())
            self.batch_counts["duplicates"] += np.bincount(b[inside], weights=excess[inside], minlength=BATCHES).astype(np.int64)
            self.q_int["accepted"] += np.bincount(q[inside & was_accepted], minlength=nq)
            self.q_int["duplicates"] += np.bincount(q[inside], weights=excess[inside], minlength=nq).astype(np.int64)
            again = np.clip(msg["receives"][rows].astype(np.int64) - 1, 0, None)
            self.q_int["redeliveries"] += np.bincount(q[inside], weights=again[inside], minlength=nq).astype(np.int64)
            outcome = msg["outcome"][rows]
            lost = inside & (outcome == Outcome.LOST)
            reason = msg["reason"][rows].astype(np.int64)
            self.losses += np.bincount(reason[lost], minlength=len(Loss))
            np.add.at(self.q_losses, (q[lost], reason[lost]), 1)
            self.q_int["lost"] += np.bincount(q[lost], minlength=nq)
            poison = inside & (msg["poison"][rows] == 1)
            self.q_int["poison"] += np.bincount(q[poison], minlength=nq)
            self.poison["seen"] += int(poison.sum())
            self.poison["dead_lettered"] += int(np.count_nonzero(outcome[poison] == Outcome.DEAD_LETTERED))
            self.poison["lost"] += int(np.count_nonzero(outcome[poison] == Outcome.LOST))
            self.poison["cycling"] += int(np.count_nonzero(outcome[poison] == Outcome.IN_FLIGHT))
            ack = win_root
            self.latency["ack"].add((accepted - msg["created"][rows])[ack], b[ack])
            publishes = bucket_counts(accepted[root], edges)
            self.series["accepted"] += publishes
            self.series["offered"] += publishes

        # requests
        rows = batch.final_requests
        if rows.size:
            c = created[rows]
            inside = c >= warm
            b = self._batch_of(np.where(inside, c, warm))
            self._count("produced", inside, b)
            outcome = req["outcome"][rows]
            for name, code in _OUTCOME_COUNTS.items():
                self._count(name, inside & (outcome == code), b)
            responded, abandoned, throttled = req["responded"][rows], req["abandoned"][rows], req["throttled"][rows]
            self._count("abandoned", inside & ~np.isnan(abandoned), b)
            self._count("throttled", inside & ~np.isnan(throttled), b)
            if "budget_refused" in req:
                self._count("retry_budget_exhausted", inside & ~np.isnan(req["budget_refused"][rows]), b)
            if "hedges" in req:
                self._count("hedged", inside & (req["hedges"][rows] > 0), b)
            if "hedge_won" in req:
                self._count("hedge_wins", inside & (req["hedge_won"][rows] > 0), b)
            short = inside & (outcome == Outcome.SHORT_CIRCUITED)
            self.short_by_producer += np.bincount(req["producer"][rows][short], minlength=len(self.layout.producers))
            done = req["done"][rows]
            completed = inside & (outcome == Outcome.COMPLETED)
            self.latency["end_to_end"].add(done[completed] - c[completed], b[completed])
            self.latency["response"].add(responded[inside] - c[inside], b[inside])
            self.series["produced"] += bucket_counts(c, edges)
            ended = bucket_counts_by(done, outcome, len(Outcome), edges)
            for name, code in _SERIES_OUTCOMES:
                self.series[name] += ended[code]
            self.series["throttled"] += bucket_counts(throttled, edges)
            self.series["abandoned"] += bucket_counts(abandoned, edges)

    def _duplicates(self, messages: np.ndarray, finished: np.ndarray) -> None:
        """Bucket every processing that ended after its message's first one (the time series' ``duplicates``).

        The earliest end per live message is kept until the message is final, so a processing that
        ends in a later batch, or one folded late (held downstream), is compared with it exactly.
        """
        if messages.size == 0:
            return
        ids = np.concatenate([self._first_ids, messages])
        ends = np.concatenate([self._first_end, finished])
        # a stable sort of the ids (kept sorted, then nearly sorted: about linear), not a lexsort by (id, end):
        # each id's earliest end is its group's minimum, and the others' buckets are all its group's buckets
        # but that minimum's (a histogram subtracts exactly)
        order = np.argsort(ids, kind="stable")
        ids, ends = ids[order], ends[order]
        starts = np.flatnonzero(np.concatenate([[True], ids[1:] != ids[:-1]]))
        earliest = np.minimum.reduceat(ends, starts)
        if starts.size < ids.size:  # some message was processed more than once
            sizes = np.diff(np.append(starts, ids.size))
            repeated = np.repeat(sizes > 1, sizes)
            edges = self.layout.edges
            self.series["duplicates"] += bucket_counts(ends[repeated], edges) - bucket_counts(earliest[sizes > 1], edges)
        self._first_ids, self._first_end = ids[starts], earliest

    def result(self, extra: Mapping[str, Any] | None = None) -> StreamStats:
        """The replication's figures, after the last batch; ``extra`` is the record's (``RunRecord.extra``)."""
        qnames = self.layout.queues
        queues: dict[str, dict[str, Any]] = {}
        for qi, name in enumerate(qnames):
            queues[name] = {
                "area": float(self.q_area[qi]), "waited": float(self.q_waited[qi]),
                "max_depth": self.depth[qi].max_depth(),
                **{k: int(v[qi]) for k, v in self.q_int.items()},
                "losses": {r: int(self.q_losses[qi, Loss[r.upper()]]) for r in _REASONS},
            }
        pools = {name: {"busy": float(self.busy[pi]), "completed": int(self.completed[pi])}
                 for pi, name in enumerate(self.layout.pools)}
        width = np.diff(self.layout.edges)
        series: dict[str, np.ndarray] = {}
        for qi, q in enumerate(qnames):
            series[f"depth.{q}"] = self.depth_int[qi] / width
        for pi, p in enumerate(self.layout.pools):
            series[f"in_service.{p}"] = self.busy_int[pi] / width
        series.update({k: v.astype(float) for k, v in self.series.items()})
        recovery = []
        per_queue = [d.recovery() for d in self.depth]
        for qi, slot in self._fault_slots:
            recovery.append(per_queue[qi][slot])
        return StreamStats(
            layout=self.layout, counts=dict(self.counts), batch_counts=self.batch_counts, latency=self.latency,
            queues=queues, pools=pools, losses={r: int(self.losses[Loss[r.upper()]]) for r in _REASONS},
            poison=dict(self.poison), recovery=recovery, series=series, extra=dict(extra or {}),
            short_by_producer={p: int(self.short_by_producer[i]) for i, p in enumerate(self.layout.producers)},
        )


# ---------------------------------------------------------------------------------------------
# Pooling replications.


def _describe(sketch: QuantileSketch) -> LatencyStats:
    """mean, percentiles, max and count of a sketch, as :func:`queuesim.metrics.stats.describe` gives them."""
    out: dict[str, float | int | None]
    if sketch.count == 0:
        out = {"mean": None, **dict.fromkeys(PERCENTILES), "max": None, "count": 0}
    else:
        out = {"mean": sketch.mean}
        out.update({k: sketch.quantile(p / 100.0) for k, p in PERCENTILES.items()})
        out.update({"max": float(sketch.maximum), "count": int(sketch.count)})
    return cast(LatencyStats, out)


def _sketch_percentile_ci(units: Sequence[QuantileSketch], q: float, estimate: float | None) -> list[float] | None:
    """:func:`~queuesim.metrics.stats.percentile_ci` of consecutive units (batches) given as sketches.

    The same sections as the full summary's (contiguous groups of batches, as many as
    :func:`~queuesim.metrics.stats.quantile_sections` allows); a section's percentile is that of
    its batches' merged sketch, so it is within :data:`ALPHA` of the exact one.
    """
    total = sum(u.count for u in units)
    if total == 0 or estimate is None or not math.isfinite(estimate):
        return None
    filled = [u for u in units if u.count]
    lowest = min(float(u.minimum) for u in filled)
    if lowest == max(float(u.maximum) for u in filled):
        return [lowest, lowest]
    count = quantile_sections(total, q, len(units))
    if count < 2:
        return None
    merged = [QuantileSketch.merged([units[i] for i in g], ALPHA) for g in np.array_split(np.arange(len(units)), count)]
    kept = [m for m in merged if m.count]
    if len(kept) < 2:
        return None
    values = np.array([m.quantile(q) for m in kept], dtype=float)
    return sectioned_ci(np.array([m.count for m in kept], dtype=float), values, estimate)


def _ci(stats: Sequence[StreamStats], latency: Mapping[str, LatencyStats]) -> tuple[str, dict[str, list[float] | None]]:
    """95% intervals of the figures the stream can give as the full summary does, keyed by path.

    Latency means and rates by the full summary's methods (Student-t over replications, the ratio
    estimator over one run's batches); over replications also the queue and pool figures, from
    each replication's own; percentiles sectioned over the batches of every replication, around
    the pooled ones in ``latency``, as the full summary does with the samples. From one run's
    batches the queue and pool figures are left out: a streamed ``ci95`` has no entry for them.
    """
    layout = stats[0].layout
    window = layout.duration - layout.warmup
    method = "replications" if len(stats) >= 2 else "batch_means"
    parts: dict[str, tuple[list[float], list[float]]] = {}

    def add(path: str, num: float, den: float) -> None:
        nums, dens = parts.setdefault(path, ([], []))
        nums.append(float(num))
        dens.append(float(den))

    if method == "replications":
        for s in stats:
            for key, (num, den) in rate_parts.items():
                add(f"rates.{key}", s.counts[num], window if den is None else s.counts[den])
            for kind in LATENCY_KINDS:
                add(latency_path(kind, "mean"), float(s.latency[kind].sums.sum()), float(s.latency[kind].counts.sum()))
            for name, q in _queues([s]).items():
                add(f"queues.{name}.mean_depth", q["mean_depth"], 1.0)
                add(f"queues.{name}.mean_wait", math.nan if q["mean_wait"] is None else q["mean_wait"], 1.0)
            for name, p in _pools([s]).items():
                add(f"workers.{name}.utilization", math.nan if p["utilization"] is None else p["utilization"], 1.0)
    else:
        s = stats[0]
        width = window / BATCHES
        for b in range(BATCHES):
            for key, (num, den) in rate_parts.items():
                add(f"rates.{key}", s.batch_counts[num][b], width if den is None else s.batch_counts[den][b])
            for kind in LATENCY_KINDS:
                add(latency_path(kind, "mean"), s.latency[kind].sums[b], s.latency[kind].counts[b])
    out: dict[str, list[float] | None] = {}
    for path in ci_paths(layout.queues, layout.pools):
        parsed = latency_parts(path)
        level = None if parsed is None else quantile(parsed[1])
        if parsed is not None and level is not None:
            kind, stat = parsed
            units = [sk for s in stats for sk in (s.latency[kind].batch_sketches or [])]
            pooled = cast(Mapping[str, float | None], latency[kind])[stat]
            if units:
                out[path] = _sketch_percentile_ci(units, level, pooled)
            continue
        if path not in parts:
            continue
        nums, dens = parts[path]
        if method == "replications":
            out[path] = mean_ci([n / d if d else np.nan for n, d in zip(nums, dens, strict=True)])
        else:
            out[path] = ratio_ci(nums, dens, upper=1.0 if spec(path).kind == "fraction" else None)
    return method, out


def _queues(stats: Sequence[StreamStats]) -> dict[str, QueueStats]:
    layout = stats[0].layout
    span = (layout.duration - layout.warmup) * len(stats)
    out: dict[str, QueueStats] = {}
    for name in layout.queues:
        per = [s.queues[name] for s in stats]

        def total(key: str, per: list[dict[str, Any]] = per) -> int:
            return sum(int(p[key]) for p in per)

        accepted = total("accepted")
        waited = sum(p["waited"] for p in per)
        losses = {r: sum(p["losses"][r] for p in per) for r in _REASONS}
        out[name] = {
            "mean_depth": sum(p["area"] for p in per) / span,
            "lost": sum(losses.values()),
            "losses": losses,
            "duplicates": total("duplicates"),
            "poison": total("poison"),
            "max_depth": max(int(p["max_depth"]) for p in per),
            "accepted": accepted,
            "throughput": accepted / span,
            "rejected": total("rejected"),
            "dead_lettered": total("dead_lettered"),
            "redeliveries": total("redeliveries"),
            "mean_wait": float(waited) / float(accepted) if accepted else None,
            "expired": total("expired"),
            "reneged": total("reneged"),
        }
    return out


def _effective_load(stats: Sequence[StreamStats]) -> dict[str, float | None]:
    """:func:`queuesim.metrics.load.effective_load` from the streamed parts: accepted, begun, busy time, downtime."""
    layout = stats[0].layout
    lo, hi = layout.warmup, layout.duration
    counts = np.bincount(layout.worker_pool, minlength=len(layout.pools))
    out: dict[str, float | None] = {}
    for queue in layout.queues:
        accepted = sum(int(s.queues[queue]["accepted"]) for s in stats)
        worked = sum(int(s.queues[queue]["worked"]) for s in stats)
        work = lost = 0.0
        workers = 0
        for pi, pool in enumerate(layout.pools):
            if cast(Mapping[str, str], stats[0].extra.get("reads", {})).get(pool) != queue:
                continue
            workers += int(counts[pi])
            for s in stats:
                work += float(s.pools[pool]["busy"]) + downtime(s.extra, pool, "per_message", lo, hi)
                lost += downtime(s.extra, pool, "clock", lo, hi)
        out[queue] = load_of(accepted, worked, work, workers * (hi - lo) * len(stats) - lost)
    return out


def _pools(stats: Sequence[StreamStats]) -> dict[str, PoolStats]:
    layout = stats[0].layout
    counts = np.bincount(layout.worker_pool, minlength=len(layout.pools))
    window = layout.duration - layout.warmup
    out: dict[str, PoolStats] = {}
    for pi, name in enumerate(layout.pools):

        def events(event: str, name: str = name) -> int:
            return sum(int(cast(Mapping[str, Mapping[str, int]], s.extra.get("pools", {})).get(name, {}).get(event, 0))
                       for s in stats)

        out[name] = {
            "count": int(counts[pi]),
            "utilization": float(sum(s.pools[name]["busy"] for s in stats) / (counts[pi] * window * len(stats))),
            "completed": sum(int(s.pools[name]["completed"]) for s in stats),
            "crashes": events("crashes"),
            "failures": events("failures"),
            "deduplicated": events("deduplicated"),
        }
    return out


def _recovery(stats: Sequence[StreamStats]) -> list[FaultRecovery]:
    layout = stats[0].layout
    out: list[FaultRecovery] = []
    for i, fault in enumerate(layout.faults):
        start = fault["at"]
        end = start + (fault.get("downtime") or fault.get("duration") or 0.0)
        per = [s.recovery[i] for s in stats]
        drains = [p["drained"] for p in per if p["drained"] is not None]
        durable = []
        for s in stats:
            restarts = cast(Mapping[str, Sequence[Mapping[str, float]]], s.extra.get("restarts", {}))
            durable += [r["durable_point"] for r in restarts.get(fault["queue"], []) if r["at"] == start]
        out.append({
            "at": start, "queue": fault["queue"], "kind": fault["kind"], "end": end,
            "depth_before": float(np.mean([p["base"] for p in per])), "backlog_peak": int(max(p["peak"] for p in per)),
            "drain_time": float(np.mean(drains)) if drains else None,
            "drained": len(drains), "replications": len(stats),
        })
        if durable:
            out[-1]["durable_point"] = [None if not np.isfinite(t) else float(t) for t in durable]
    return out


def summarize_streams(stats: Sequence[StreamStats], meta: RunMeta | None = None) -> Summary:
    """The ``summary.json`` figures of streamed replications: the keys and meaning of :func:`queuesim.metrics.summarize`.

    Parameters
    ----------
    stats : sequence of StreamStats
        One per replication, in replication order.
    meta : RunMeta, optional
        The run's context, written first.
    """
    layout = stats[0].layout
    window = layout.duration - layout.warmup
    counts = {k: sum(s.counts[k] for s in stats) for k in _COUNTS}
    latency = {k: _describe(QuantileSketch.merged([s.latency[k].sketch for s in stats], ALPHA)) for k in LATENCY_KINDS}
    method, ci = _ci(stats, latency)
    queues = _queues(stats)
    base = [s.extra.get("base_load") for s in stats]
    base_load = None if any(b is None for b in base) else float(np.mean(cast(list[float], base)))
    if len(layout.producers) != 1:  # stream_refusal keeps such runs off the stream
        raise ValueError("a streamed summary has one producer: several need each request's producer")
    messages = messages_block(counts, sum(q["redeliveries"] for q in queues.values()))
    return {
        **(meta or {}),  # type: ignore[typeddict-item]
        "replications": len(stats),
        "window": window,
        "messages": messages,
        "rates": rates_block(counts, window * len(stats), base_load),
        "latency": cast(Latency, latency),
        "queues": queues,
        "workers": _pools(stats),
        # one producer: its requests are all the requests, its figures the run's (as the full summary)
        "producers": {layout.producers[0]: {"messages": copy.deepcopy(messages),
                                            "latency": copy.deepcopy(cast(Latency, latency))}},
        "ci95": ci,
        "ci_method": method,
        "losses": {r: sum(s.losses[r] for s in stats) for r in _REASONS},
        "poison": {"seen": sum(s.poison["seen"] for s in stats), "dead_lettered": sum(s.poison["dead_lettered"] for s in stats),
                   "lost": sum(s.poison["lost"] for s in stats), "cycling": sum(s.poison["cycling"] for s in stats)},
        "faults": _recovery(stats),
        "effective_load": _effective_load(stats),
        "breakers": _breakers(stats),
    }


def _breakers(stats: Sequence[StreamStats]) -> dict[str, BreakerStats]:
    """:func:`queuesim.metrics.resilience.breakers` from each replication's timeline and streamed counts."""
    layout = stats[0].layout
    names = [p for p in layout.producers if timeline_of(stats[0].extra, p)]
    return {name: breaker_stats([timeline_of(s.extra, name) for s in stats],
                                sum(s.short_by_producer.get(name, 0) for s in stats), layout.warmup, layout.duration)
            for name in names}


def stream_offered_ratios(stats: Sequence[StreamStats]) -> list[float | None]:
    """Each replication's offered load over its base load, as :func:`queuesim.metrics.diagnosis.offered_ratios`."""
    out: list[float | None] = []
    for s in stats:
        base = s.extra.get("base_load")
        window = s.layout.duration - s.layout.warmup
        if isinstance(base, int | float) and base > 0 and window > 0:
            out.append(s.counts["attempts"] / window / float(base))
        else:
            out.append(None)
    return out


def stream_timeseries(stats: Sequence[StreamStats]) -> dict[str, np.ndarray]:
    """The time series of :func:`queuesim.metrics.timeseries` as columns, averaged over replications."""
    layout = stats[0].layout
    edges = layout.edges
    cols = {k: np.mean([s.series[k] for s in stats], axis=0) for k in stats[0].series}
    names = [*(f"depth.{q}" for q in layout.queues), *(f"in_service.{p}" for p in layout.pools),
             "produced", "accepted", "rejected", "gave_up", "completed", "lost", "dead_lettered"]  # then the later ones
    out = {"time": edges[:-1], **{k: cols[k] for k in names}}
    out["throughput"] = cols["completed"] / np.diff(edges)
    out["warmup"] = edges[1:] <= layout.warmup
    for k in ("offered", "throttled", "abandoned", "expired", "reneged", "duplicates", "short_circuited"):
        out[k] = cols[k]
    return out
