"""Figures of the clients' resilience mechanisms: requests short-circuited, retries refused by a budget, hedges, dropped work, and each circuit breaker's time open.

Counts follow the summary's rule: requests created in the window (and the messages they caused),
summed over replications. A breaker's times are measured inside the window and averaged over
replications, from the state timeline the engine records (``RunRecord.extra["breakers"]``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import numpy as np

from queuesim.figures import BreakerStats
from queuesim.metrics.derive import Derived
from queuesim.records import Delivery, Outcome

__all__ = ["client_counts", "breakers", "breaker_timeline", "timeline_of", "breaker_stats"]


def _column(req: Mapping[str, np.ndarray], name: str, rows: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """A request column on ``rows``; ``fill`` for records written before the column existed."""
    col = req.get(name)
    return col[rows] if col is not None else np.full(int(np.count_nonzero(rows)), fill)


def client_counts(d: Derived, rin: np.ndarray) -> dict[str, int]:
    """Per-request and per-message resilience counts of the requests ``rin`` selects.

    ``short_circuited`` is an outcome (in the conservation invariant); ``retry_budget_exhausted``
    counts requests whose retry a budget refused (each also gave up, after a 503, or was
    abandoned, after a timeout); ``hedged`` requests that sent a hedge copy and ``hedge_wins``
    those a hedge copy answered first; ``deadline_dropped`` and ``cancelled`` count messages a
    worker dropped unprocessed (the client's deadline had passed; another copy had answered).
    """
    rec = d.rec
    req, dl = rec.requests, rec.deliveries
    outcome = req["outcome"][rin]
    # only the (rare) dropped deliveries are mapped to their request: this runs for every summary
    status = dl["status"]
    dropped = np.flatnonzero((status == Delivery.DEADLINE_EXCEEDED) | (status == Delivery.CANCELLED))
    mine = status[dropped[rin[rec.messages["request"][dl["message"][dropped]]]]]
    return {
        "short_circuited": int(np.count_nonzero(outcome == Outcome.SHORT_CIRCUITED)),
        "retry_budget_exhausted": int(np.count_nonzero(~np.isnan(_column(req, "budget_refused", rin)))),
        "hedged": int(np.count_nonzero(_column(req, "hedges", rin, 0) > 0)),
        "hedge_wins": int(np.count_nonzero(_column(req, "hedge_won", rin, 0) > 0)),
        "deadline_dropped": int(np.count_nonzero(mine == Delivery.DEADLINE_EXCEEDED)),
        "cancelled": int(np.count_nonzero(mine == Delivery.CANCELLED)),
    }


def timeline_of(extra: Mapping[str, object], producer: str) -> list[tuple[float, str]]:
    """A producer's breaker state changes as (time, state), from 0, out of a record's ``extra``; empty if it has no breaker."""
    recorded = cast(Mapping[str, Sequence[Sequence[object]]], extra.get("breakers", {}))
    return [(float(cast(float, t)), str(state)) for t, state in recorded.get(producer, [])]


def breaker_timeline(d: Derived, producer: str) -> list[tuple[float, str]]:
    """A producer's breaker state changes as (time, state), from 0; empty if it has no breaker."""
    return timeline_of(d.rec.extra, producer)


def _time_in(timeline: Sequence[tuple[float, str]], state: str, lo: float, hi: float) -> float:
    """Seconds of [lo, hi] the timeline spends in ``state``."""
    total = 0.0
    for (start, now), (end, _next) in zip(timeline, [*timeline[1:], (hi, "")], strict=True):
        if now == state:
            total += max(0.0, min(end, hi) - max(start, lo))
    return total


def breakers(deriveds: Sequence[Derived]) -> dict[str, BreakerStats]:
    """Per producer with a circuit breaker: how often it opened and how long it stayed open or half-open in the window."""
    rec0 = deriveds[0].rec
    names = [p for p in rec0.producers if breaker_timeline(deriveds[0], p)]
    lo, hi = deriveds[0].window
    out: dict[str, BreakerStats] = {}
    for name in names:
        index = rec0.producers.index(name)
        short = 0
        for d in deriveds:
            req = d.rec.requests
            mine = d.request_in & (req["producer"] == index)
            short += int(np.count_nonzero(req["outcome"][mine] == Outcome.SHORT_CIRCUITED))
        out[name] = breaker_stats([breaker_timeline(d, name) for d in deriveds], short, lo, hi)
    return out


def breaker_stats(timelines: Sequence[Sequence[tuple[float, str]]], short_circuited: int, lo: float,
                  hi: float) -> BreakerStats:
    """One breaker's figures from its timeline in each replication and the requests it refused in the window."""
    opened = sum(1 for timeline in timelines for t, state in timeline if state == "open" and lo <= t <= hi)
    open_s = sum(_time_in(timeline, "open", lo, hi) for timeline in timelines)
    half_s = sum(_time_in(timeline, "half_open", lo, hi) for timeline in timelines)
    reps = len(timelines)
    window = (hi - lo) * reps
    return {
        "opened": opened,
        "time_open": open_s / reps,
        "open_fraction": open_s / window if window else 0.0,
        "half_open_fraction": half_s / window if window else 0.0,
        "short_circuited": short_circuited,
    }
