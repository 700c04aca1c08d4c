"""Per-message quantities derived from one run's raw records (first receive, service times...).

Everything downstream (summary, time series, tables) reads these instead of recomputing them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from queuesim.records import Delivery, RunRecord

_PROCESSED = [int(Delivery.HELD), int(Delivery.DONE), int(Delivery.STALE)]


@dataclass
class Derived:
    """One replication's records with the window applied and common per-row quantities computed."""

    rec: RunRecord

    @property
    def window(self) -> tuple[float, float]:
        return self.rec.warmup, self.rec.duration

    @cached_property
    def request_in(self) -> np.ndarray:
        """Requests created at or after the warmup: the ones every statistic counts."""
        return np.asarray(self.rec.requests["created"] >= self.rec.warmup)

    @cached_property
    def message_in(self) -> np.ndarray:
        return np.asarray(self.request_in[self.rec.messages["request"]])

    @cached_property
    def delivery_in(self) -> np.ndarray:
        return np.asarray(self.message_in[self.rec.deliveries["message"]])

    @cached_property
    def received(self) -> np.ndarray:
        """Delivery rows that a worker received (not dead-letter moves, late deletes or open spells)."""
        return np.asarray(self.rec.deliveries["worker"] >= 0)

    @cached_property
    def delivery_queue(self) -> np.ndarray:
        return np.asarray(self.rec.messages["queue"][self.rec.deliveries["message"]])

    def _first_per_message(self, rows: np.ndarray, column: str) -> np.ndarray:
        """Per message, ``column`` of the first of ``rows`` (in the given order) naming it; NaN if none."""
        d = self.rec.deliveries
        out = np.full(len(self.rec.messages["created"]), np.nan)
        # the earliest position per message, by a scatter-min: linear, where np.unique sorts
        first = np.full(out.size, rows.size, dtype=np.int64)
        np.minimum.at(first, d["message"][rows], np.arange(rows.size, dtype=np.int64))
        named = first < rows.size
        out[named] = d[column][rows[first[named]]]
        return out

    @cached_property
    def first_receive(self) -> np.ndarray:
        """Time each message was first received (NaN if never); rows are in time order."""
        return self._first_per_message(np.flatnonzero(self.received), "until")

    @cached_property
    def processed(self) -> np.ndarray:
        """Delivery rows whose processing ran to the end (acknowledged, stale, or held downstream)."""
        d = self.rec.deliveries
        return np.asarray(np.isin(d["status"], _PROCESSED) & ~np.isnan(d["finished"]))

    @cached_property
    def service(self) -> np.ndarray:
        """Service time of every finished processing (per delivery row, NaN where none finished)."""
        d = self.rec.deliveries
        times: np.ndarray = np.where(self.processed, d["finished"] - d["started"], np.nan)
        return times

    def busy_of(self, pool: int) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) of every stretch a worker of ``pool`` spent on a delivery, failed and crashed ones too.

        A stretch begins with the delivery's overhead (``started - overhead``) and ends with its processing.
        """
        d = self.rec.deliveries
        rows = ~np.isnan(d["started"]) & (self.delivery_pool == pool)
        began = d["started"][rows]
        began -= d["overhead"][rows]  # in place: this runs for every batch, at the summary's peak memory
        return began, d["finished"][rows]

    @cached_property
    def first_service(self) -> np.ndarray:
        """Per message: end of its first finished processing (NaN if none)."""
        rows = np.flatnonzero(self.processed)
        order = rows[np.argsort(self.rec.deliveries["finished"][rows], kind="stable")]
        return self._first_per_message(order, "finished")

    @cached_property
    def delivery_pool(self) -> np.ndarray:
        """Pool index of the receiving worker per delivery row, -1 where nobody received it."""
        w = self.rec.deliveries["worker"]
        out = np.full(len(w), -1, dtype=np.int32)
        ok = w >= 0
        out[ok] = self.rec.worker_pool[w[ok]]
        return out

    def status_is(self, status: Delivery) -> np.ndarray:
        return np.asarray(self.rec.deliveries["status"] == status)

    def section(self, lo: float, hi: float) -> Derived:
        """The requests created in ``[lo, hi)`` of this run, as a run of their own: one batch of a
        single run's confidence intervals (:mod:`queuesim.metrics.stats`).

        Depths and busy time are measured over ``[lo, hi)``; waits run to the end of the run, as
        for the whole window. Quantities that do not depend on the window are shared, not recomputed.
        """
        part = _Section(self.rec, lo, hi)
        for name in _SHARED:
            if name in self.__dict__:  # computed already: cached_property keeps it in the instance dict
                part.__dict__[name] = self.__dict__[name]
        return part


#: Derived quantities of a run that do not depend on its window, shared by its sections.
_SHARED = ("received", "delivery_queue", "first_receive", "processed", "service", "first_service", "delivery_pool")


class _Section(Derived):
    """The requests created in ``[lo, hi)`` of a run (see :meth:`Derived.section`)."""

    def __init__(self, rec: RunRecord, lo: float, hi: float) -> None:
        super().__init__(rec)
        self._bounds = (lo, hi)

    @property
    def window(self) -> tuple[float, float]:
        return self._bounds

    @cached_property
    def request_in(self) -> np.ndarray:
        created = self.rec.requests["created"]
        lo, hi = self._bounds
        return (created >= lo) & (created < hi)


def overlap(start: np.ndarray, end: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Length of each interval [start, end) inside [lo, hi]; NaN ends run to ``hi``."""
    # fmin takes hi for a NaN end; in place after the first temporary (this runs per batch of every run)
    out = np.fmin(end, hi)
    out -= np.maximum(start, lo)
    return np.asarray(np.maximum(out, 0.0, out=out))


def steps(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Event times and the number of intervals [start, end) open right after each (NaN ends never close)."""
    ends = end[~np.isnan(end)]
    times = np.concatenate([start, ends])
    deltas = np.concatenate([np.ones(start.size, np.int64), -np.ones(ends.size, np.int64)])
    order = np.lexsort((deltas, times))  # at equal times a departure counts before an arrival
    return times[order], np.cumsum(deltas[order])


_LEVEL_CHUNK = 1 << 18  # events per chunk of step_max's level arrays


def step_max(start: np.ndarray, end: np.ndarray, lo: float, hi: float) -> int:
    """Largest number of intervals [start, end) open at one instant of [lo, hi].

    The level after each event of :func:`steps`, found without merging the events: after the
    i-th start (sorted) it is i + 1 minus the ends at or before it (departures count first at
    equal times); after the j-th end, the starts strictly before it minus j + 1. Two sorts and
    two binary searches instead of a sort of both together.
    """
    if start.size == 0:
        return 0
    s = np.sort(start)
    e = end[~np.isnan(end)]
    e.sort()  # in place: a fresh copy already
    at_lo = int(np.searchsorted(s, lo, side="right") - np.searchsorted(e, lo, side="right"))
    peak = 0
    # the events inside [lo, hi] are a contiguous run of each sorted array; their levels are found a
    # chunk at a time so that the index arrays stay small (this runs at the summary's peak memory)
    for times, other, after_start in ((s, e, True), (e, s, False)):
        first, last = int(np.searchsorted(times, lo, side="left")), int(np.searchsorted(times, hi, side="right"))
        for a in range(first, last, _LEVEL_CHUNK):
            b = min(last, a + _LEVEL_CHUNK)
            rank = np.arange(a + 1, b + 1)
            if after_start:
                level = rank - np.searchsorted(other, times[a:b], side="right")
            else:
                level = np.searchsorted(other, times[a:b], side="left") - rank
            peak = max(peak, int(level.max()))
    return max(at_lo, peak)
