"""Deadline propagation and cancellation: what a worker checks before it starts on a message.

A request carries its client's deadline (``requests.deadline``: creation + ``timeout``, or, with
``retry.on_timeout``, the latest copy's accepted publish + ``timeout``), as a gRPC call carries its
deadline to every server it reaches, fan-out children included. A pool with ``drop_expired``
drops, unprocessed, a message received after that deadline (a stage-0 copy with per-attempt
timeouts is judged by its own deadline: its accepted publish + ``timeout``). Any pool drops a
hedge copy its client cancelled because another copy answered first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from queuesim.records import Delivery, Outcome
from queuesim.sim.recorder import Recorder

if TYPE_CHECKING:
    from queuesim.scenario import Scenario
    from queuesim.sim.producer import Producer

_DEADLINE, _CANCELLED = int(Delivery.DEADLINE_EXCEEDED), int(Delivery.CANCELLED)
_GAVE_UP, _CANCELLED_OUTCOME = int(Outcome.GAVE_UP), int(Outcome.CANCELLED)


class Screen:
    """The check a worker makes before processing: is this message still wanted?

    Parameters
    ----------
    rec : Recorder
    per_try_timeout : sequence of float or None
        Per producer index: ``timeout`` when it applies per attempt (``retry.on_timeout``), else None.

    :meth:`bind` connects it to the live producers once they exist (pools are built first).
    """

    def __init__(self, rec: Recorder, per_try_timeout: Sequence[float | None]) -> None:
        self.rec = rec
        self.per_try = list(per_try_timeout)
        # per producer index: whether its client still waits for a request (None: it never waits)
        self.still_waiting: list[Callable[[int], bool] | None] = [None] * len(self.per_try)
        self.cancelled: set[int] = set()  # filled by the hedgers: copies another copy beat
        self.r_deadline = rec.requests["deadline"]
        self.r_producer = rec.requests["producer"]
        self.m_request = rec.messages["request"]
        self.m_stage = rec.messages["stage"]
        self.m_accepted = rec.messages["accepted"]
        self.dropped = 0
        self.cancelled_dropped = 0

    def verdict(self, message: int, now: float, honour_deadline: bool) -> tuple[int, int] | None:
        """None to process the message; else (delivery status, message outcome) to drop it with."""
        if message in self.cancelled:
            self.cancelled.discard(message)
            self.cancelled_dropped += 1
            return _CANCELLED, _CANCELLED_OUTCOME
        if not honour_deadline:
            return None
        request = self.m_request[message]
        deadline = self.r_deadline[request]
        producer = self.r_producer[request]
        per_try = self.per_try[producer]
        if per_try is not None and self.m_stage[message] == 0:
            deadline = self.m_accepted[message] + per_try  # this copy's own deadline
        if not now >= deadline:  # also False for NaN: no deadline
            return None
        self.dropped += 1
        waiting = self.still_waiting[producer]
        # the client still waits for another copy of this request: dropping this one fails nothing
        if waiting is not None and waiting(request):
            return _DEADLINE, _CANCELLED_OUTCOME
        return _DEADLINE, _GAVE_UP

    def bind(self, producers: Sequence[Producer]) -> None:
        """Read the clients' waits from the live producers, and collect their hedgers' cancellations here."""
        for producer in producers:
            live = producer.live
            if live is not None:
                self.still_waiting[producer.index] = live.__contains__
            if producer.hedger is not None:
                producer.hedger.cancelled = self.cancelled


def screen_for(scenario: Scenario, rec: Recorder) -> Screen | None:
    """The screen of a run whose pools drop expired work or whose clients cancel hedges; None otherwise (no check at all)."""
    hedges = any(p.hedge is not None and p.hedge.cancel for p in scenario.producers.values())
    if not hedges and not any(w.drop_expired for w in scenario.workers.values()):
        return None
    per_try = [p.timeout if p.retry.on_timeout else None for p in scenario.producers.values()]
    return Screen(rec, per_try)


__all__ = ["Screen", "screen_for"]
