"""Queues and their delivery semantics: one FIFO mechanism, the broker kind filled in as hooks.

Like SimPy's ``BaseResource`` with its ``_do_put``/``_do_get``, :class:`Broker` owns the waiting
messages, the idle consumers and the back-pressure waiters; a broker kind overrides only
``_admit`` (may this delivery go ahead?) and ``ack`` (what a finished processing does to the copy
the broker still holds).

A message is *waiting* from its accepted publish until a worker receives it (broker latency
included), and again whenever an at-least-once broker makes it visible after a visibility timeout.
``capacity`` bounds what publishes can add to the waiting count; in-flight (received) messages do
not count, as with SQS's ``ApproximateNumberOfMessagesVisible``. A message whose visibility timeout
expires re-enters without that check (the broker already stores it), so an at-least-once queue can
briefly hold up to ``capacity`` + (messages then held by workers).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from simpy import Environment
from simpy.events import Timeout

from queuesim.records import Delivery, Outcome
from queuesim.sim.recorder import Recorder

if TYPE_CHECKING:
    from queuesim.sim.worker import Consumer

_IN_SERVICE, _DONE = int(Delivery.IN_SERVICE), int(Delivery.DONE)  # hot path: plain ints


class Broker:
    """A queue with redis-like at-most-once delivery: a receive removes the message (BRPOP)."""

    kind = "redis"

    def __init__(
        self,
        env: Environment,
        index: int,
        name: str,
        capacity: int | None,
        latency: Callable[[], float] | None,
        rec: Recorder,
    ) -> None:
        self.env = env
        self.index = index
        self.name = name
        self.capacity = capacity if capacity is not None else float("inf")
        self.latency = latency
        self.rec = rec
        self.ready: deque[tuple[int, float]] = deque()  # (message, waiting since), FIFO
        self.in_transit: dict[int, float] = {}  # accepted, not yet receivable (broker latency)
        self.idle: deque[Consumer] = deque()  # consumers blocked on an empty queue, longest idle first
        self.space_waiters: deque[Callable[[], None]] = deque()  # publishers blocked on a full queue
        self.waiting = 0
        self._accepted = rec.messages["accepted"]
        self._receives = rec.messages["receives"]

    # -- publishing -----------------------------------------------------------------------------
    def has_room(self) -> bool:
        return self.waiting < self.capacity

    def publish(self, message: int) -> bool:
        """Offer a message; False is a 503 (the queue is at capacity)."""
        if self.waiting >= self.capacity:
            return False
        now = self.env._now
        self.waiting += 1
        self._accepted[message] = now
        if self.latency is None:
            self._arrive(message, now)
        else:
            self.in_transit[message] = now
            Timeout(self.env, self.latency()).callbacks.append(
                lambda _e, m=message, s=now: self._land(m, s)
            )
        return True

    def _land(self, message: int, since: float) -> None:
        del self.in_transit[message]
        self._arrive(message, since)

    def _arrive(self, message: int, since: float) -> None:
        """A message becomes receivable: hand it to an idle consumer or queue it."""
        if self.idle:
            self._deliver(self.idle.popleft(), message, since)
        else:
            self.ready.append((message, since))

    # -- consuming ------------------------------------------------------------------------------
    def take(self, consumer: Consumer) -> None:
        """A free consumer asks for work: deliver the oldest waiting message, or park it as idle."""
        ready = self.ready
        while ready:
            message, since = ready.popleft()
            if self._deliver(consumer, message, since):
                return
        self.idle.append(consumer)

    def _deliver(self, consumer: Consumer, message: int, since: float) -> bool:
        """End a waiting spell; True if the consumer got the message, False if it still needs one."""
        if self._skip(message):
            return False
        self.waiting -= 1
        if self.space_waiters:
            self._wake_publisher()
        now = self.env._now
        if not self._admit(message, since, now):
            return False
        row = self.rec.spell(message, since, now, consumer.wid, _IN_SERVICE)
        receipt = self._receives[message] + 1
        self._receives[message] = receipt
        consumer.start(message, row, receipt)
        return True

    def _wake_publisher(self) -> None:
        # deferred to a zero-delay event so a blocked worker never re-enters this broker mid-delivery
        waiter = self.space_waiters.popleft()
        Timeout(self.env, 0).callbacks.append(lambda _e: waiter())

    # -- semantics hooks ------------------------------------------------------------------------
    def _skip(self, message: int) -> bool:
        """True for a queued entry that is no longer live (deleted while visible)."""
        return False

    def _admit(self, message: int, since: float, now: float) -> bool:
        """May this receive be delivered? (At-least-once brokers dead-letter here.)"""
        return True

    def ack(self, message: int, receipt: int) -> Delivery:
        """A processing of receive number ``receipt`` finished; returns the delivery's final status."""
        return _DONE

    def open_spells(self) -> list[tuple[int, float]]:
        """Messages still waiting (queued or in transit) at the end of the run."""
        return [(m, s) for m, s in self.ready if not self._skip(m)] + list(self.in_transit.items())


class SqsBroker(Broker):
    """SQS-like at-least-once delivery with a visibility timeout and an optional dead-letter queue.

    A receive hides the message for ``visibility_timeout``; a delete with the latest receipt removes
    it. If the timeout expires first the message is visible again and can be received by another
    worker, whose processing is a duplicate; a delete holding a receipt older than the latest
    receive fails (the message had been received again), as SQS's receipt handles do.
    """

    kind = "sqs"

    def __init__(self, *args: object, visibility_timeout: float, max_receives: int | None, **kw: object):
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.visibility_timeout = visibility_timeout
        self.max_receives = max_receives
        # every set below holds only live messages, so memory follows the backlog, not the run length
        self.hidden: dict[int, int] = {}  # received, not deleted: message -> latest receipt
        self.visible_again: dict[int, float] = {}  # expired, waiting again: message -> since
        self.gone: set[int] = set()  # deleted while visible: skip its queued entry
        self.dead_lettered = 0

    def _skip(self, message: int) -> bool:
        if message in self.gone:
            self.gone.discard(message)
            return True
        return False

    def _admit(self, message: int, since: float, now: float) -> bool:
        self.visible_again.pop(message, None)
        receipt = self._receives[message] + 1
        if self.max_receives is not None and receipt > self.max_receives:
            self.rec.spell(message, since, now, -1, Delivery.DEAD_LETTERED)
            self.dead_lettered += 1
            self.rec.settle(message, Outcome.DEAD_LETTERED, now)
            return False
        self.hidden[message] = receipt
        Timeout(self.env, self.visibility_timeout).callbacks.append(
            lambda _e, m=message, r=receipt: self._expire(m, r)
        )
        return True

    def _expire(self, message: int, receipt: int) -> None:
        if self.hidden.get(message) != receipt:
            return  # deleted, or received again since this timer was set
        del self.hidden[message]
        now = self.env._now
        self.waiting += 1
        self.visible_again[message] = now
        self._arrive(message, now)

    def ack(self, message: int, receipt: int) -> Delivery:
        if self.hidden.get(message) == receipt:
            del self.hidden[message]
            return Delivery.DONE
        if message in self.visible_again and self._receives[message] == receipt:
            # its visibility expired but nobody received it again: the delete still lands
            since = self.visible_again.pop(message)
            self.gone.add(message)
            self.rec.spell(message, since, self.env._now, -1, Delivery.DELETED)
            self.waiting -= 1
            if self.space_waiters:
                self._wake_publisher()
            return Delivery.DONE
        return Delivery.STALE

    def open_spells(self) -> list[tuple[int, float]]:
        return [(m, s) for m, s in self.ready if m not in self.gone] + list(self.in_transit.items())


__all__ = ["Broker", "SqsBroker"]
