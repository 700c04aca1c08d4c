"""Queues and their delivery semantics: one FIFO mechanism, the broker kind filled in as hooks.

Like SimPy's ``BaseResource`` with its ``_do_put``/``_do_get``, :class:`Broker` owns the waiting
messages, the idle consumers, the back-pressure waiters and the broker's up/down state; a broker
kind overrides only the hooks: ``_admit`` (may this delivery go ahead?), ``ack`` (a processing
finished), ``nack`` (it failed), ``consumer_lost`` (a worker crashed holding messages) and
``_lose_unpersisted`` (what a restart forgets).

A message is *waiting* from its accepted publish until a worker receives it (broker latency
included), and again whenever an at-least-once broker makes it visible after a visibility timeout.
``capacity`` bounds what publishes can add to the waiting count; in-flight (received) messages do
not count, as with SQS's ``ApproximateNumberOfMessagesVisible``. A message whose visibility timeout
expires re-enters without that check (the broker already stores it), so an at-least-once queue can
briefly hold up to ``capacity`` + (messages then held by workers). ``capacity`` 0 is a queue with
no waiting room (M/M/c/c, Erlang B): a publish is accepted only when a consumer is idle to take it,
one not already promised to a message still in transit (broker latency) or waiting for its FIFO group.

A queue with a ``ttl`` (:class:`Expiry`) drops a message older than that when a worker would receive
it (``expired``), or dead-letters it; the check costs one comparison per receive, and an expired
message takes no worker time.

A producer with a ``patience`` hands each accepted message's reneging deadline to its queue
(:meth:`Broker.renege_at`): the deadlines of every client wait in one heap per queue with one armed
SimPy event (:class:`~queuesim.sim.deadlines.Deadlines`), and a message still waiting for its first
receive at its deadline leaves the queue (``reneged``). Its queued entry is marked ``gone`` and
skipped when reached, as a message deleted while visible is, so no deque is searched.

Consumers ask for work with :meth:`Broker.take` once per free *credit* (``prefetch``: 1, or a
RabbitMQ prefetch count), and sit in ``idle`` once per credit the broker could not fill.

Each kind declares the queue spec it ``serves`` (spec class, ``broker_mode``) and builds itself
from that spec with :meth:`Broker.from_spec`; :mod:`queuesim.sim.registry` maps specs to kinds.
Every kind reports what it counted through :meth:`Broker.stats`.

The hot path (publish, deliver) reads SimPy's ``env._now``: the public ``env.now`` is a property,
about 35 ns more per read, a few percent of a message's whole cost here (the rest uses ``env.now``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol, Self, TypeVar

from simpy import Environment
from simpy.events import Timeout

from queuesim.records import Delivery, Loss, Outcome, RestartPoint
from queuesim.scenario.model import QueueBase
from queuesim.sim.deadlines import Deadlines
from queuesim.sim.recorder import Recorder
from queuesim.sim.rng import Streams

if TYPE_CHECKING:
    from queuesim.scenario.distributions import BaseDistribution
    from queuesim.sim.priority import PriorityReady

_IN_SERVICE, _DONE = int(Delivery.IN_SERVICE), int(Delivery.DONE)  # hot path: plain ints
_EXPIRED, _EXPIRED_DLQ = int(Delivery.EXPIRED), int(Delivery.EXPIRED_DEAD_LETTERED)
_RENEGED = int(Delivery.RENEGED)
Held = tuple[int, int, int]  # (message, delivery row, receipt) a consumer holds
SpecT = TypeVar("SpecT", bound=QueueBase)


class Credit(Protocol):
    """What a broker hands a message to: one free credit of a consumer (a worker, or a Celery worker's prefetch slot)."""

    wid: int

    def start(self, message: int, row: int, receipt: int) -> None:
        """The broker delivers ``message`` (its delivery row, its receive number) against this credit."""


@dataclass(frozen=True)
class BrokerStats:
    """What a broker counted over a run, beyond the event records.

    Attributes
    ----------
    kind : str
        The broker kind (``redis``, ``redis-stream``, ``sqs-fifo``, ``rabbitmq``, ``direct`` …).
    dead_lettered : int
        Receives that dead-lettered the message instead of delivering it (at-least-once kinds).
    restarts : tuple of RestartPoint
        Each restart and the durable point it went back to (kinds with persistence: Redis).
    expired : int
        Receives that found the message older than the queue's ``ttl`` (dropped or dead-lettered).
    """

    kind: str
    dead_lettered: int = 0
    restarts: tuple[RestartPoint, ...] = ()
    expired: int = 0


@dataclass(frozen=True)
class BrokerContext:
    """What a broker needs from its run besides its spec: environment, records, place, random streams.

    Attributes
    ----------
    env : simpy.Environment
    rec : Recorder
    index, name : int, str
        The queue's position and name in the scenario.
    streams : Streams
        The queue's random streams (``queue:<name>:<purpose>``).
    restart_scheduled : bool
        Whether a broker restart is scheduled for this queue (Redis then logs receives to replay them).
    """

    env: Environment
    rec: Recorder
    index: int
    name: str
    streams: Streams
    restart_scheduled: bool = False

    def latency(self, dist: BaseDistribution) -> Callable[[], float] | None:
        """Draws of the broker latency, or None when it is always zero (hand over in the same instant, no event)."""
        if dist.mean == 0 and dist.variance == 0:
            return None
        return self.streams.draws(dist, "latency")


@dataclass(frozen=True)
class Expiry:
    """A queue's message time to live and where an expired message goes (a :class:`QueueBase`'s ``ttl`` fields).

    Attributes
    ----------
    ttl : float or None
        Seconds from a message's accepted publish after which a worker no longer receives it.
    dead_letter : bool
        An expired message moves to the dead-letter queue instead of being dropped.
    """

    ttl: float | None = None
    dead_letter: bool = False

    @classmethod
    def from_spec(cls, spec: QueueBase) -> Expiry:
        """The expiry of one queue spec."""
        return cls(spec.ttl, spec.ttl_dead_letter)


#: Messages that never expire.
NO_EXPIRY = Expiry()


def spec_as(spec: QueueBase, kind: type[SpecT], broker: type[Broker]) -> SpecT:
    """``spec`` as the spec class a broker kind is built from; a clear TypeError for any other."""
    if not isinstance(spec, kind):
        raise TypeError(f"{broker.__name__} is built from a {kind.__name__}, not a {type(spec).__name__}")
    return spec


class Broker:
    """A queue with Redis-list-like at-most-once delivery: a receive removes the message (BRPOP).

    Subclasses are the broker kinds: each sets ``kind`` and ``serves`` and fills in the hooks
    below (``_make_room``, ``_skip``, ``_admit``, ``ack``, ``nack``, ``consumer_lost``,
    ``_lose_unpersisted``, ``_connections_dropped``), overriding :meth:`from_spec` when it reads
    more of its spec than ``capacity`` and ``latency``.
    """

    kind = "at-most-once"
    #: (queue spec class, ``broker_mode``) of the queues this kind serves; None for an abstract kind.
    serves: ClassVar[tuple[type[QueueBase], str | None] | None] = None
    #: deliveries each consumer may hold unacknowledged (RabbitMQ's prefetch; 1 elsewhere)
    prefetch = 1

    def __init__(
        self,
        env: Environment,
        index: int,
        name: str,
        capacity: int | None,
        latency: Callable[[], float] | None,
        rec: Recorder,
        *,
        expiry: Expiry = NO_EXPIRY,
    ) -> None:
        self.env = env
        self.index = index
        self.name = name
        self.capacity = capacity if capacity is not None else float("inf")
        self.latency = latency
        self.rec = rec
        # (message, waiting since), FIFO; a PriorityReady (queuesim.sim.priority) with max_priority
        self.ready: deque[tuple[int, float]] | PriorityReady = deque()
        self.in_transit: dict[int, float] = {}  # accepted, not yet receivable (broker latency)
        self.idle: deque[Credit] = deque()  # free consumer credits, longest idle first
        self.space_waiters: deque[Callable[[], None]] = deque()  # publishers blocked on a full queue
        self.waiting = 0
        self.down = False  # during an outage or restart: publishes fail, receives block
        self.ttl = expiry.ttl
        self.ttl_dead_letter = expiry.dead_letter
        self.expired = 0
        self.gone: set[int] = set()  # left the queue while queued (deleted while visible, reneged): skip its entry
        self.patience: Deadlines | None = None  # reneging deadlines, made by the first client with a patience
        self._outcome = rec.messages["outcome"]
        self._accepted = rec.messages["accepted"]
        self._receives = rec.messages["receives"]
        self._d_status = rec.deliveries["status"]
        self._d_delivery = rec.deliveries["delivery"]

    @classmethod
    def from_spec(cls, spec: QueueBase, ctx: BrokerContext) -> Self:
        """The live broker of one queue spec: capacity and latency here, each kind adds its own fields."""
        return cls(ctx.env, ctx.index, ctx.name, spec.capacity, ctx.latency(spec.latency), ctx.rec,
                   expiry=Expiry.from_spec(spec))

    def stats(self) -> BrokerStats:
        """What this broker counted over the run."""
        return BrokerStats(self.kind, expired=self.expired)

    def held(self) -> Iterable[int]:
        """Messages this broker still stores whatever their outcome (a streaming recorder keeps their rows).

        None here: at-most-once, a settled message is gone from the broker. Kinds that keep copies
        (in flight, visible again, replayable after a restart) name them.
        """
        return ()

    # -- publishing -----------------------------------------------------------------------------
    def has_room(self) -> bool:
        """Whether a publish would be accepted now (a worker publishing downstream waits until it is)."""
        return not self.down and (self.waiting < self.capacity or self._taken_at_once())

    def _taken_at_once(self) -> bool:
        """No waiting room (``capacity`` 0): is a consumer idle for one more message, beyond those already waiting?

        Those are in transit (broker latency) to the idle consumers they were promised, or, on a
        FIFO queue, waiting for their group; elsewhere nothing waits while a consumer is idle.
        """
        return self.capacity == 0 and self.waiting < len(self.idle)

    def publish(self, message: int) -> bool:
        """Offer a message; False is a 503 (the queue is full or the broker is down)."""
        if self.down or (self.waiting >= self.capacity and not self._taken_at_once() and not self._make_room()):
            return False
        now = self.env._now
        self.waiting += 1
        self._accepted[message] = now
        if self.latency is None:
            self._arrive(message, now)
        else:
            self._send(message, now, self.latency())
        return True

    def _send(self, message: int, now: float, delay: float) -> None:
        # apart from publish so that its closure's cells cost nothing on the zero-latency path
        self.in_transit[message] = now
        Timeout(self.env, delay).callbacks.append(lambda _e: self._land(message, now))

    def _make_room(self) -> bool:
        """A full queue was published to: may it drop something to accept the message? (No: a 503.)"""
        return False

    def _land(self, message: int, since: float) -> None:
        if self.in_transit.pop(message, None) is not None:  # absent: lost in a restart meanwhile
            self._arrive(message, since)

    def _arrive(self, message: int, since: float) -> None:
        """A message becomes receivable: hand it to an idle consumer or queue it."""
        if self.idle and not self.down:
            consumer = self.idle.popleft()
            if not self._deliver(consumer, message, since):
                self.idle.appendleft(consumer)  # it was dead-lettered instead: the credit stays free
        else:
            self.ready.append((message, since))

    # -- consuming ------------------------------------------------------------------------------
    def take(self, consumer: Credit) -> None:
        """A consumer offers one credit: deliver the oldest waiting message, or park the credit."""
        if not self.down:
            ready = self.ready
            while ready:
                message, since = ready.popleft()
                if self._deliver(consumer, message, since):
                    return
        self.idle.append(consumer)  # _park, inlined: this runs every time a worker finds nothing to do
        if self.space_waiters and self.capacity == 0 and not self.down:
            self._wake_publisher()

    def try_take(self, consumer: Credit) -> bool:
        """Deliver the oldest waiting message against this credit now, if any; never parks it (a worker polling several queues)."""
        if self.down:
            return False
        ready = self.ready
        while ready:
            message, since = ready.popleft()
            if self._deliver(consumer, message, since):
                return True
        return False

    def _park(self, consumer: Credit) -> None:
        """Park a free credit; with no waiting room (capacity 0) it is the room a blocked publisher waits for."""
        self.idle.append(consumer)
        if self.space_waiters and self.capacity == 0 and not self.down:
            self._wake_publisher()

    def _deliver(self, consumer: Credit, message: int, since: float) -> bool:
        """End a waiting spell; True if the consumer got the message, False if it still needs one."""
        if self.gone and self._skip(message):  # only a marked entry can be skipped: no call otherwise
            return False
        self.waiting -= 1
        if self.space_waiters:
            self._wake_publisher()
        now = self.env._now
        ttl = self.ttl
        if ttl is not None and now - self._accepted[message] > ttl:
            self._outlived(message, since, now)
            return False
        if not self._admit(message, since, now):
            return False
        row = self.rec.spell(message, since, now, consumer.wid, _IN_SERVICE)
        receipt = self._receives[message] + 1
        self._receives[message] = receipt
        self._d_delivery[row] = receipt
        consumer.start(message, row, receipt)
        return True

    def _wake_publisher(self) -> None:
        # deferred to a zero-delay event so a blocked worker never re-enters this broker mid-delivery
        waiter = self.space_waiters.popleft()
        Timeout(self.env, 0).callbacks.append(lambda _e: waiter())

    def pass_wake(self) -> None:
        """A woken publisher had died meanwhile: give the room to the next one."""
        if self.space_waiters and self.has_room():
            self._wake_publisher()

    def forget_consumer(self, consumer: Credit) -> None:
        """Withdraw every parked credit of a consumer (it crashed)."""
        self.idle = deque(c for c in self.idle if c is not consumer)

    # -- reneging -------------------------------------------------------------------------------
    def renege_at(self, message: int, deadline: float) -> None:
        """A client waits for ``message`` to start service until ``deadline``; past it, the message leaves the queue."""
        if self.patience is None:
            self.patience = Deadlines(self.env, self._not_started, self._renege, ordered=False)
        self.patience.add(deadline, message)

    def _not_started(self, message: int, _token: int) -> bool:
        # never received and not settled (lost, dropped, expired): still waiting for its first receive
        return not self._receives[message] and not self._outcome[message]

    def _renege(self, message: int, _token: int) -> None:
        now = self.env.now
        if self.in_transit.pop(message, None) is None:  # queued, not in transit (broker latency)
            self._withdraw(message)
        self.waiting -= 1
        self.rec.spell(message, self._accepted[message], now, -1, _RENEGED)
        self.rec.renege(message, now)
        if self.space_waiters:
            self._wake_publisher()

    def _withdraw(self, message: int) -> None:
        """Take a queued message out of the queue: its entry is skipped when it reaches the head."""
        self.gone.add(message)

    # -- semantics hooks ------------------------------------------------------------------------
    def _skip(self, message: int) -> bool:
        """True for a queued entry that is no longer live (deleted while visible, reneged): it is forgotten.

        Called only while some entry is marked ``gone``.
        """
        gone = self.gone
        if message in gone:
            gone.discard(message)
            return True
        return False

    def admits_plainly(self) -> bool:
        """Whether :meth:`_admit` admits every message and changes nothing (a lane then skips the call)."""
        return type(self)._admit is Broker._admit

    def acks_plainly(self) -> bool:
        """Whether :meth:`ack` always answers done and changes nothing (a lane then skips the call)."""
        return type(self).ack is Broker.ack

    def _admit(self, message: int, since: float, now: float) -> bool:
        """May this receive be delivered? (At-least-once brokers dead-letter here.)"""
        return True

    def _outlived(self, message: int, since: float, now: float) -> None:
        """A worker would receive a message older than the queue's ``ttl``: it expires (dropped or dead-lettered)."""
        self.expired += 1
        if self.ttl_dead_letter:
            self.rec.spell(message, since, now, -1, _EXPIRED_DLQ)
            self.rec.settle(message, Outcome.DEAD_LETTERED, now)
        else:
            self.rec.spell(message, since, now, -1, _EXPIRED)
            self.rec.settle(message, Outcome.EXPIRED, now)
        self._released(message)

    def _released(self, message: int) -> None:
        """A message left the in-flight or waiting state for good or for now: FIFO groups unblock here."""

    def ack(self, message: int, receipt: int) -> int:
        """A processing of receive number ``receipt`` finished; returns the delivery's final status."""
        return _DONE

    def nack(self, message: int, receipt: int, reason: Loss) -> None:
        """A processing failed: at-most-once, the message is gone with it."""
        self.rec.lose(message, reason, self.env.now)

    def consumer_lost(self, held: Iterable[Held]) -> None:
        """A consumer crashed holding these deliveries: at-most-once, they are lost."""
        now = self.env.now
        for message, _row, _receipt in held:
            self.rec.lose(message, Loss.WORKER_CRASH, now)

    # -- broker faults --------------------------------------------------------------------------
    def fail(self, kind: str, length: float) -> None:
        """Start an outage or a restart lasting ``length`` seconds."""
        self.down = True
        if kind == "restart":
            self._lose_unpersisted(self.env.now)
        self._connections_dropped()
        Timeout(self.env, length).callbacks.append(lambda _e: self._recover())

    def _lose_unpersisted(self, now: float) -> None:
        """A restart forgets what was not persisted; this broker kind persists everything."""

    def _connections_dropped(self) -> None:
        """Consumers' connections break when the broker goes down (RabbitMQ requeues here)."""

    def _recover(self) -> None:
        self.down = False
        for _ in range(len(self.idle)):
            if not self.ready:
                break
            self.take(self.idle.popleft())
        for _ in range(len(self.space_waiters)):
            if not self.has_room():
                break
            self._wake_publisher()

    def drop_waiting(self, keep: Callable[[int, float], bool], reason: Loss) -> None:
        """Drop every waiting message (queued or in transit) for which ``keep(message, since)`` is False."""
        now = self.env.now
        entries = list(self.ready)
        self.ready.clear()  # refilled in place: a priority queue keeps its levels
        for message, since in entries:
            if self._skip_quietly(message):
                self.gone.discard(message)  # the entry goes with this pass: nothing left to skip
                continue
            if keep(message, since):
                self.ready.append((message, since))
            else:
                self._drop(message, since, now, reason)
        for message, since in list(self.in_transit.items()):
            if not keep(message, since):
                del self.in_transit[message]
                self._drop(message, since, now, reason)

    def _skip_quietly(self, message: int) -> bool:
        """True for a queued entry that is no longer live; it stays marked until it is reached."""
        return message in self.gone

    def drop_oldest(self, reason: Loss) -> bool:
        """Drop the oldest waiting message to make room (overflow, eviction); False if none is queued."""
        while self.ready:
            message, since = self.ready.popleft()
            if self._skip_quietly(message):
                self._skip(message)  # a stale entry: forget it too
                continue
            self._drop(message, since, self.env.now, reason)
            return True
        return False

    def _drop(self, message: int, since: float, now: float, reason: Loss) -> None:
        self.waiting -= 1
        self.rec.spell(message, since, now, -1, Delivery.DROPPED)
        self.rec.lose(message, reason, now)

    def open_spells(self) -> list[tuple[int, float]]:
        """Messages still waiting (queued or in transit) at the end of the run."""
        return [(m, s) for m, s in self.ready if not self._skip_quietly(m)] + list(self.in_transit.items())
