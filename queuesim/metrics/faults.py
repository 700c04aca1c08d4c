"""Figures about what went wrong: losses by cause, poison messages, recovery after broker faults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np

from queuesim.figures import FaultRecovery, Poison
from queuesim.metrics.derive import Derived, steps
from queuesim.records import Loss, Outcome

REASONS = [r.name.lower() for r in Loss if r is not Loss.NONE]


def losses(deriveds: Sequence[Derived], queue: int | None = None) -> dict[str, int]:
    """Messages of the window lost, by cause (optionally at one queue)."""
    counts = np.zeros(len(Loss), dtype=np.int64)
    for d in deriveds:
        m = d.rec.messages
        sel = d.message_in & (m["outcome"] == Outcome.LOST)
        if queue is not None:
            sel &= m["queue"] == queue
        counts += np.bincount(m["reason"][sel], minlength=len(Loss))
    return {name: int(counts[Loss[name.upper()]]) for name in REASONS}


def poison(deriveds: Sequence[Derived], queue: int | None = None) -> Poison:
    """Poison messages seen and what became of them; ``cycling`` are still being redelivered at the end."""
    seen = dead = lost = cycling = 0
    for d in deriveds:
        m = d.rec.messages
        sel = d.message_in & (m["poison"] == 1)
        if queue is not None:
            sel &= m["queue"] == queue
        out = m["outcome"][sel]
        seen += int(sel.sum())
        dead += int(np.count_nonzero(out == Outcome.DEAD_LETTERED))
        lost += int(np.count_nonzero(out == Outcome.LOST))
        cycling += int(np.count_nonzero(out == Outcome.IN_FLIGHT))
    return {"seen": seen, "dead_lettered": dead, "lost": lost, "cycling": cycling}


def duplicates(deriveds: Sequence[Derived], queue: int) -> int:
    """Processings beyond the first of the window's messages at one queue."""
    total = 0
    for d in deriveds:
        m = d.rec.messages
        sel = d.message_in & (m["queue"] == queue)
        total += int(np.clip(m["processings"][sel].astype(np.int64) - 1, 0, None).sum())
    return total


def _depth_steps(d: Derived, queue: int) -> tuple[np.ndarray, np.ndarray]:
    """Event times and the waiting count right after each, for one queue."""
    dl = d.rec.deliveries
    spell = d.delivery_queue == queue
    return steps(dl["since"][spell], dl["until"][spell])


def recovery(deriveds: Sequence[Derived], queues: Sequence[str], faults: Sequence[Mapping[str, Any]]) -> list[FaultRecovery]:
    """For each scheduled broker fault: the backlog it built and how long it took to drain.

    ``drain_time`` counts from the end of the fault until the queue's waiting count first falls
    back to its level when the fault began (None: not within the run); averaged over replications
    that drained, with ``drained`` saying in how many.
    """
    out: list[FaultRecovery] = []
    for fault in faults:
        qi = list(queues).index(fault["queue"])
        start = fault["at"]
        end = start + (fault.get("downtime") or fault.get("duration") or 0.0)
        peaks, drains, before, durable = [], [], [], []
        for d in deriveds:
            restarts = cast(Mapping[str, Sequence[Mapping[str, float]]], d.rec.extra.get("restarts", {}))
            for r in restarts.get(fault["queue"], []):
                if r["at"] == start:
                    durable.append(r["durable_point"])
            times, level = _depth_steps(d, qi)
            i0 = np.searchsorted(times, start, side="left")  # the level just before the fault
            base = int(level[i0 - 1]) if i0 > 0 else 0
            after = times > end
            during = (times >= start) & ~after
            peak = int(max(level[during].max() if during.any() else base, base))
            i_end = np.searchsorted(times, end, side="right")
            at_end = int(level[i_end - 1]) if i_end > 0 else 0
            drained = None
            if at_end <= base:
                drained = 0.0
            else:
                hit = np.flatnonzero(after & (level <= base))
                if hit.size:
                    drained = float(times[hit[0]] - end)
            before.append(base)
            peaks.append(max(peak, at_end))
            if drained is not None:
                drains.append(drained)
        out.append({
            "at": start, "queue": fault["queue"], "kind": fault["kind"], "end": end,
            "depth_before": float(np.mean(before)), "backlog_peak": int(max(peaks)),
            "drain_time": float(np.mean(drains)) if drains else None,
            "drained": len(drains), "replications": len(deriveds),
        })
        if durable:
            # Redis: writes after this instant were not on disk when it restarted (per replication)
            out[-1]["durable_point"] = [None if not np.isfinite(t) else float(t) for t in durable]
    return out
