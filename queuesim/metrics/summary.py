"""The headline figures of a run (``summary.json``): counts, rates, latencies, per queue and pool.

Counts are summed over replications; rates and latency distributions are pooled; ``ci95`` holds
the 95% interval of every figure the catalogue marks ``ci`` (means, percentiles, rates, queue
depths and waits, utilization), across replications when there are several and from batches of
the one run otherwise (the methods are in :mod:`queuesim.metrics.stats`).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import numpy as np

from queuesim.figures import (
    LATENCY_KINDS,
    Latency,
    Messages,
    PoolStats,
    ProducerStats,
    QueueStats,
    Rates,
    RunMeta,
    Summary,
    ci_paths,
    latency_parts,
    latency_path,
    quantile,
    spec,
)
from queuesim.metrics import faults as fault_figures
from queuesim.metrics import resilience
from queuesim.metrics.capacity import capacity_log, count_figures, elastic_pools, worker_seconds
from queuesim.metrics.derive import Derived, overlap, step_max
from queuesim.metrics.load import effective_load
from queuesim.metrics.stats import (
    BATCHES,
    clean,
    describe,
    mean_ci,
    percentile_ci,
    ratio_ci,
)
from queuesim.records import Delivery, Outcome, RunRecord

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


def pooled_samples(records: Sequence[RunRecord], kinds: Sequence[str] = LATENCY_KINDS) -> dict[str, np.ndarray]:
    """The latency samples of every replication's window, pooled (as the summary's percentiles pool them)."""
    return _pool([latency_samples(Derived(r), kinds=kinds) for r in records], kinds)


def _pool(samples: Sequence[Mapping[str, np.ndarray]], kinds: Sequence[str]) -> dict[str, np.ndarray]:
    """Each kind's samples of every replication, concatenated; one replication's as they are (no copy)."""
    return {k: samples[0][k] if len(samples) == 1 else np.concatenate([s[k] for s in samples]) for k in kinds}


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


#: Each rate of ``Rates`` but base_load as (numerator, denominator) of :func:`_counts`; None is the
#: window in seconds. One definition for the figure and for the batches of its interval.
_RATE_PARTS: dict[str, tuple[str, str | None]] = {
    "throughput": ("completed", None),
    "rejection": ("rejected", "attempts"),
    "loss": ("lost", "produced"),
    "duplicate": ("duplicates", "processed"),
    "gave_up": ("gave_up", "produced"),
    "offered": ("attempts", None),  # publish attempts per second, retries included
    "abandoned": ("abandoned", "produced"),
    "short_circuited": ("short_circuited", "produced"),  # refused by the producer's open circuit breaker
}


def _rates(c: Mapping[str, int], window: float, base_load: float | None = None) -> Rates:
    parts = {key: c[num] / window if den is None else clean(_ratio(c[num], c[den])) for key, (num, den) in _RATE_PARTS.items()}
    out: dict[str, float | None] = {key: clean(base_load) if key == "base_load" else parts[key] for key in Rates.__annotations__}
    return cast(Rates, out)  # the keys are those of Rates, in its order


def _messages(counts: Mapping[str, int], redeliveries: int) -> Messages:
    """The messages block: the tallies in file order (attempts and processed only feed the rates), then redeliveries."""
    tallies: dict[str, int] = {k: v for k, v in counts.items() if k not in _RATE_ONLY}
    # the tallies' keys are _counts' keys, which are the fields of Messages but redeliveries
    return cast(Messages, {**tallies, "redeliveries": redeliveries})


def _queue_flow(d: Derived, qi: int) -> tuple[float, float, int]:
    """(waiting-message time over the window, waiting time of the window's messages, messages accepted) at queue ``qi``.

    The waiting time counts every spell of the window's messages, to the end of the run (also for
    a section of the window: queuesim.metrics.derive), so Little's law holds for mean_wait.
    """
    lo, hi = d.window
    msg, dl = d.rec.messages, d.rec.deliveries
    spell = d.delivery_queue == qi
    mine = spell & d.delivery_in
    area = overlap(dl["since"][spell], dl["until"][spell], lo, hi).sum()
    waited = overlap(dl["since"][mine], dl["until"][mine], -np.inf, d.rec.duration).sum()
    accepted = int(np.count_nonzero(d.message_in & (msg["queue"] == qi) & ~np.isnan(msg["accepted"])))
    return float(area), float(waited), accepted


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
            flow = _queue_flow(d, qi)
            area += flow[0]
            waited += flow[1]
            accepted += flow[2]
            peak = max(peak, step_max(dl["since"][spell], dl["until"][spell], lo, hi))
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
rate_parts = _RATE_PARTS


def _pool_events(d: Derived, pool: str, event: str) -> int:
    """A worker event count the engine recorded for a pool (``extra["pools"]``, see queuesim.sim.build)."""
    pools = cast(Mapping[str, Mapping[str, int]], d.rec.extra.get("pools", {}))
    return int(pools.get(pool, {}).get(event, 0))


def _busy(d: Derived, pi: int) -> float:
    """Time the workers of pool ``pi`` spent on deliveries within the window."""
    lo, hi = d.window
    return float(overlap(*d.busy_of(pi), lo, hi).sum())


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
            busy += _busy(d, pi)
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


def _producers(deriveds: Sequence[Derived], whole: tuple[Messages, Latency] | None = None) -> dict[str, ProducerStats]:
    """Per producer: the messages block and the latency kinds of its requests only (counts sum to the totals)."""
    rec0 = deriveds[0].rec
    out: dict[str, ProducerStats] = {}
    if len(rec0.producers) == 1 and whole is not None:
        # one producer: its requests are all the requests, its figures the run's (no second pass)
        messages, latency = whole
        return {rec0.producers[0]: {"messages": copy.deepcopy(messages), "latency": copy.deepcopy(latency)}}
    for pi, name in enumerate(rec0.producers):
        counts: dict[str, int] = {}
        pooled: dict[str, list[np.ndarray]] = {k: [] for k in LATENCY_KINDS}
        redeliveries = 0
        for d in deriveds:
            mine = d.rec.requests["producer"] == pi
            for key, count in _counts(d, mine).items():
                counts[key] = counts.get(key, 0) + count
            for key, sample in latency_samples(d, mine).items():
                pooled[key].append(sample)
            msg = d.rec.messages
            at = d.message_in & mine[msg["request"]]
            redeliveries += int(np.clip(msg["receives"][at].astype(np.int64) - 1, 0, None).sum())
        out[name] = {
            "messages": _messages(counts, redeliveries),
            # the keys are LATENCY_KINDS, the fields of Latency
            "latency": cast(Latency, {k: describe(np.concatenate(v)) for k, v in pooled.items()}),
        }
    return out


def _batches(d: Derived) -> Iterator[Derived]:
    """:data:`BATCHES` consecutive batches of a run's window (its requests by creation time), made one at a time.

    A section caches full-length masks of its rows: holding all ten at once was most of the summary's peak memory.
    """
    edges = np.linspace(*d.window, BATCHES + 1)
    # every section reads which queue and pool each delivery row is at, and the run's own figures
    # read them after: computed once here, they are shared (Derived.section) instead of made ten times
    _ = d.delivery_queue, d.delivery_pool
    for lo, hi in itertools.pairwise(edges):
        yield d.section(lo, hi)


def _ci(deriveds: Sequence[Derived], latency: Latency,
        samples: Sequence[Mapping[str, np.ndarray]]) -> tuple[str, dict[str, list[float] | None]]:
    """95% intervals of every figure the catalogue marks ``ci``, keyed by its dotted path.

    Each unit (a replication, or a batch of the one run) gives every figure as a numerator and a
    denominator; over replications the interval is Student-t on the units' values, over one run's
    batches the ratio estimator on a log scale. A percentile is sectioned around the pooled one in
    ``latency``, its sections made of consecutive batches of the replications. ``samples`` are
    each replication's latency samples (:func:`latency_samples`), drawn once by the caller; with
    one replication they are not read (and may be empty).
    """
    method = "replications" if len(deriveds) >= 2 else "batch_means"
    parts: dict[str, tuple[list[float], list[float]]] = {}
    workers = np.bincount(deriveds[0].rec.worker_pool, minlength=len(deriveds[0].rec.pools))
    elastic = set(elastic_pools(deriveds[0].rec))

    def add(path: str, num: float, den: float) -> None:
        nums, dens = parts.setdefault(path, ([], []))
        nums.append(float(num))
        dens.append(float(den))

    def add_flow(unit: Derived) -> None:
        width = unit.window[1] - unit.window[0]
        counts = _counts(unit)
        for key, (num, den) in _RATE_PARTS.items():
            add(f"rates.{key}", counts[num], width if den is None else counts[den])
        for qi, name in enumerate(unit.rec.queues):
            area, waited, accepted = _queue_flow(unit, qi)
            add(f"queues.{name}.mean_depth", area, width)
            add(f"queues.{name}.mean_wait", waited, accepted)
        for pi, name in enumerate(unit.rec.pools):
            # the figure's own denominator: an elastic pool's provisioned worker-seconds in the
            # unit's window, a fixed pool's count × width
            log = capacity_log(unit.rec, name) if name in elastic else None
            worker_time = workers[pi] * width if log is None else worker_seconds(log, *unit.window)
            add(f"workers.{name}.utilization", _busy(unit, pi), worker_time)

    def add_latency(lat: Mapping[str, np.ndarray]) -> None:
        for kind in LATENCY_KINDS:
            add(latency_path(kind, "mean"), lat[kind].sum(), lat[kind].size)

    # Two passes over each replication's batches, each made one at a time: the flows first, then
    # the latency samples the percentiles need kept, so the flows' temporaries never meet them.
    # Percentiles are sectioned over the batches of every replication, in order: groups of whole
    # replications when there are many, batches of each when a few long ones hold enough samples.
    by_kind: dict[str, list[np.ndarray]] = {kind: [] for kind in LATENCY_KINDS}
    for i, d in enumerate(deriveds):
        if method == "replications":
            add_flow(d)
            add_latency({kind: samples[i][kind][~np.isnan(samples[i][kind])] for kind in LATENCY_KINDS})
        else:
            for batch in _batches(d):
                add_flow(batch)
        for batch in _batches(d):
            lat = latency_samples(batch)  # one pass over the records each
            kept = {kind: lat[kind][~np.isnan(lat[kind])] for kind in LATENCY_KINDS}
            del lat
            if method == "batch_means":
                add_latency(kept)
            for kind in LATENCY_KINDS:
                by_kind[kind].append(kept[kind])

    out: dict[str, list[float] | None] = {}
    for path in ci_paths(deriveds[0].rec.queues, deriveds[0].rec.pools):
        parsed = latency_parts(path)
        q = None if parsed is None else quantile(parsed[1])
        if parsed is not None and q is not None:
            kind, stat = parsed
            pooled = cast(Mapping[str, Mapping[str, float | None]], latency)[kind][stat]
            out[path] = percentile_ci(by_kind[kind], q, pooled)
            continue
        nums, dens = parts[path]
        if method == "replications":
            out[path] = mean_ci([n / d if d else np.nan for n, d in zip(nums, dens, strict=True)])
        else:
            out[path] = ratio_ci(nums, dens, upper=1.0 if spec(path).kind == "fraction" else None)
    return method, out


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
    samples = [latency_samples(d) for d in deriveds]  # once per replication: each is a pass over the records
    # one replication's samples as they are: a copy of them all was the summary's largest transient
    pooled = _pool(samples, LATENCY_KINDS)
    latency = cast(Latency, {k: describe(v) for k, v in pooled.items()})  # the keys are LATENCY_KINDS
    del pooled
    if len(samples) == 1:
        samples = []  # one run's intervals come from its batches: free these before the batches' own
    method, ci = _ci(deriveds, latency, samples)
    queues = _queues(deriveds)
    faults = cast(Sequence[Mapping[str, Any]], records[0].extra.get("faults", []))
    # offered_load and warnings are the API's to add: the scenario knows them, the records do not
    messages = _messages(counts, sum(q["redeliveries"] for q in queues.values()))
    return {
        **(meta or {}),  # type: ignore[typeddict-item]
        "replications": len(records),
        "window": window,
        "messages": messages,
        "rates": _rates(counts, window * len(records), _base_load(records)),
        "latency": latency,
        "queues": queues,
        "workers": _pools(deriveds),
        "producers": _producers(deriveds, (messages, latency)),
        "ci95": ci,
        "ci_method": method,
        "losses": fault_figures.losses(deriveds),
        "poison": fault_figures.poison(deriveds),
        "faults": fault_figures.recovery(deriveds, records[0].queues, faults),
        "effective_load": effective_load(deriveds),
        "breakers": resilience.breakers(deriveds),
    }
