"""The headline figures of a run (``summary.json``): counts, rates, latencies, per queue and pool.

Counts are summed over replications; rates and latency distributions are pooled; ``ci95`` holds
95% intervals for the mean latencies and the rates, across replications when there are several and
from batch means of the one run otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from queuesim.metrics import faults as fault_figures
from queuesim.metrics.derive import Derived, overlap, step_max
from queuesim.metrics.stats import clean, describe, mean_ci
from queuesim.records import Delivery, Outcome, RunRecord

LATENCIES = ("end_to_end", "queue_wait", "service", "ack", "response")
RATES = ("throughput", "rejection", "loss", "duplicate", "gave_up", "offered", "abandoned", "base_load")
BATCHES = 10  # batch means for a single long run


def _ratio(a: float, b: float) -> float | None:
    return float(a) / float(b) if b else None


def latency_samples(d: Derived, select: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Latency samples of the requests/messages in the window (optionally a subset of requests)."""
    rec = d.rec
    req, msg, dl = rec.requests, rec.messages, rec.deliveries
    rin = d.request_in if select is None else d.request_in & select
    min_ = rin[msg["request"]]
    din = min_[dl["message"]]
    done = rin & (req["outcome"] == Outcome.COMPLETED)
    root = min_ & (msg["stage"] == 0)
    return {
        "end_to_end": req["done"][done] - req["created"][done],
        "queue_wait": (d.first_receive - msg["accepted"])[min_],
        "service": d.service[din & d.processed],
        "ack": (msg["accepted"] - msg["created"])[root],
        # creation → response, for clients that wait for one (await_result, sync); empty otherwise
        "response": _client_column(req, "responded", rin) - req["created"][rin],
    }


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
        "lost": int(oc[Outcome.LOST]),
        "dead_lettered": int(oc[Outcome.DEAD_LETTERED]),
        "in_flight": int(oc[Outcome.IN_FLIGHT]),
        # client side, outside the conservation invariant: an abandoned request still runs to its
        # outcome; a throttled one is also counted in gave_up
        "abandoned": int(np.count_nonzero(~np.isnan(_client_column(req, "abandoned", rin)))),
        "throttled": int(np.count_nonzero(~np.isnan(_client_column(req, "throttled", rin)))),
    }


def _rates(c: dict[str, int], window: float) -> dict[str, float | None]:
    return {
        "throughput": c["completed"] / window,
        "rejection": _ratio(c["rejected"], c["attempts"]),
        "loss": _ratio(c["lost"], c["produced"]),
        "duplicate": _ratio(c["duplicates"], c["completed"]),
        "gave_up": _ratio(c["gave_up"], c["produced"]),
        "offered": c["attempts"] / window,  # publish attempts per second, retries included
        "abandoned": _ratio(c["abandoned"], c["produced"]),
    }


def _queues(deriveds: Sequence[Derived]) -> dict[str, dict[str, float | int | None]]:
    """Per-queue figures pooled over replications (depths are time averages over the window)."""
    rec0 = deriveds[0].rec
    lo, hi = deriveds[0].window
    out = {}
    for qi, name in enumerate(rec0.queues):
        area = waited = 0.0
        accepted = rejected = dead = redelivered = peak = 0
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
            dead += int(np.count_nonzero(mine & (dl["status"] == Delivery.DEAD_LETTERED)))
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
        }
    return out


def _pools(deriveds: Sequence[Derived]) -> dict[str, dict[str, float | int]]:
    """Per-pool utilization (time in service / worker time in the window) and finished processings."""
    rec0 = deriveds[0].rec
    lo, hi = deriveds[0].window
    counts = np.bincount(rec0.worker_pool, minlength=len(rec0.pools))
    out = {}
    for pi, name in enumerate(rec0.pools):
        busy = 0.0
        completed = 0
        for d in deriveds:
            mine = d.delivery_pool == pi
            busy += overlap(*d.busy_of(pi), lo, hi).sum()
            completed += int(np.count_nonzero(mine & d.delivery_in & d.processed))
        extra = [d.rec.extra.get("pools", {}).get(name, {}) for d in deriveds]
        out[name] = {
            "count": int(counts[pi]),
            "utilization": float(busy / (counts[pi] * (hi - lo) * len(deriveds))),
            "completed": completed,
            **{k: int(sum(e.get(k, 0) for e in extra)) for k in ("crashes", "failures", "deduplicated")},
        }
    return out


def _batch_selects(d: Derived, batches: int) -> list[np.ndarray]:
    lo, hi = d.window
    edges = np.linspace(lo, hi, batches + 1)
    created = d.rec.requests["created"]
    return [(created >= a) & (created < b) for a, b in zip(edges[:-1], edges[1:])]


def _ci(deriveds: Sequence[Derived]) -> tuple[str, dict[str, list[float] | None]]:
    """95% intervals of the mean latencies and the rates."""
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
        for k in LATENCIES:
            v = lat[k][~np.isnan(lat[k])]
            samples.setdefault(f"latency.{k}.mean", []).append(float(v.mean()) if v.size else np.nan)
        for k, v in _rates(_counts(d, sel), width).items():
            samples.setdefault(f"rates.{k}", []).append(np.nan if v is None else v)
    return method, {k: mean_ci(v) for k, v in samples.items()}


def summarize(records: Sequence[RunRecord], meta: dict | None = None) -> dict:
    """Build the ``summary.json`` dictionary from the records of every replication."""
    deriveds = [Derived(r) for r in records]
    window = records[0].duration - records[0].warmup
    per_rep = [_counts(d) for d in deriveds]
    counts = {k: sum(c[k] for c in per_rep) for k in per_rep[0]}
    rates = _rates(counts, window * len(records))
    # the producers' configured (expected) arrivals per second over the window, for offered vs base
    base = [r.extra.get("base_load") for r in records]
    rates["base_load"] = float(np.mean(base)) if all(b is not None for b in base) else None
    samples = [latency_samples(d) for d in deriveds]  # once per replication: each is a pass over the records
    pooled = {k: np.concatenate([smp[k] for smp in samples]) for k in LATENCIES}
    method, ci = _ci(deriveds)
    counts.pop("attempts")
    summary = {
        **(meta or {}),
        "replications": len(records),
        "window": window,
        "messages": counts,
        "rates": {k: clean(v) for k, v in rates.items()},
        "latency": {k: describe(v) for k, v in pooled.items()},
        "queues": _queues(deriveds),
        "workers": _pools(deriveds),
        "ci95": ci,
        "ci_method": method,
        "losses": fault_figures.losses(deriveds),
        "poison": fault_figures.poison(deriveds),
        "faults": fault_figures.recovery(deriveds, records[0].queues, records[0].extra.get("faults", [])),
    }
    summary["messages"]["redeliveries"] = sum(q["redeliveries"] for q in summary["queues"].values())
    return summary
