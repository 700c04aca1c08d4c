"""At-least-once delivery: the broker keeps a copy of every received message until it is acknowledged.

One mechanism serves SQS (visibility timeout), RabbitMQ (unacked deliveries), Redis LMOVE
(processing list + reaper) and Redis Streams (pending-entries list + XAUTOCLAIM). A receive hides
the message under a new *receipt* (its receive number); an ack holding the latest receipt removes
it; if nothing acknowledges it within ``redeliver_after`` it is waiting again, and the next receive
is a redelivery. A receive past ``limit`` deliveries dead-letters the message instead.

The redelivery deadlines of every in-flight copy wait in one :class:`~queuesim.sim.deadlines.Deadlines`
per queue (in receive order: the timeout is the same for every receive), with one SimPy event armed
at the earliest copy still unacknowledged, rather than a SimPy ``Timeout`` per receive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from simpy import Environment

from queuesim.records import Delivery, Loss, Outcome
from queuesim.sim.broker import NO_EXPIRY, Broker, BrokerStats, Expiry, Held
from queuesim.sim.deadlines import Deadlines
from queuesim.sim.recorder import Recorder

_DONE, _STALE = int(Delivery.DONE), int(Delivery.STALE)


class AtLeastOnce(Broker):
    """A broker that keeps an in-flight copy of each delivery until it is acknowledged.

    Parameters (keywords, besides the :class:`Broker` ones)
    ----------
    redeliver_after : float or None
        Seconds after a receive when an unacknowledged copy becomes receivable again.
    limit : int or None
        Deliveries after which the message is dead-lettered instead of delivered again.
    requeue_at_head : bool
        Whether a returned message goes to the head (RabbitMQ, stream claims) or the tail (SQS).
    requeue_on_nack : bool
        Whether a failed processing returns the message at once (RabbitMQ basic.nack requeue).
    requeue_on_disconnect : bool
        Whether a crashed consumer's messages return at once (RabbitMQ: its connection closed).
    late_delete : bool
        Whether an ack that arrives after the copy expired, but before anyone received it again,
        still removes it (SQS: the receipt handle is still the latest one).
    """

    def __init__(
        self,
        env: Environment,
        index: int,
        name: str,
        capacity: int | None,
        latency: Callable[[], float] | None,
        rec: Recorder,
        *,
        redeliver_after: float | None,
        limit: int | None = None,
        requeue_at_head: bool = False,
        requeue_on_nack: bool = False,
        requeue_on_disconnect: bool = False,
        late_delete: bool = False,
        expiry: Expiry = NO_EXPIRY,
    ) -> None:
        super().__init__(env, index, name, capacity, latency, rec, expiry=expiry)
        self.redeliver_after = redeliver_after
        self.limit = limit
        self.requeue_at_head = requeue_at_head
        self.requeue_on_nack = requeue_on_nack
        self.requeue_on_disconnect = requeue_on_disconnect
        self.late_delete = late_delete
        # every collection holds only live messages, so memory follows the backlog, not the run length
        self.hidden: dict[int, int] = {}  # received, not acknowledged: message -> latest receipt
        self.visible_again: dict[int, float] = {}  # returned, waiting again: message -> since
        self.dead_lettered = 0
        self._releases = type(self)._released is not Broker._released  # a kind that acts on a release (FIFO groups)
        # (message, receipt) of every receive, due ``redeliver_after`` later; live while still hidden
        self.redeliveries = Deadlines(env, self.hidden, self._expire)  # live while still hidden under that receipt

    def stats(self) -> BrokerStats:
        return replace(super().stats(), dead_lettered=self.dead_lettered)

    def held(self) -> Iterable[int]:
        # copies in flight, visible again, or deleted while visible (their queued entry remains)
        return [*super().held(), *self.hidden, *self.visible_again, *self.gone]

    # -- what a lane may do itself (queuesim.sim.lane) ------------------------------------------
    def hides_plainly(self) -> bool:
        """Whether :meth:`_admit` is this class's own, with in-order deadlines: a lane may then hide a
        receive itself while nothing is visible again and the receive limit is not reached."""
        return type(self)._admit is AtLeastOnce._admit and self.redeliveries.ordered

    def deletes_plainly(self) -> bool:
        """Whether an ack holding the latest receipt of a hidden copy, broker up, only deletes it
        (done): a lane may then do that itself, and call :meth:`ack` for every other case."""
        return type(self).ack is AtLeastOnce.ack and not self._releases

    # -- delivery -------------------------------------------------------------------------------
    def _admit(self, message: int, since: float, now: float) -> bool:
        if self.visible_again:  # nearly always empty: no pop call then
            self.visible_again.pop(message, None)
        receipt = self._receives[message] + 1
        if self.limit is not None and receipt > self.limit:
            self.rec.spell(message, since, now, -1, Delivery.DEAD_LETTERED)
            self.dead_lettered += 1
            self.rec.settle(message, Outcome.DEAD_LETTERED, now)
            self._released(message)
            return False
        self.hidden[message] = receipt
        if self.redeliver_after is not None:
            self.redeliveries.add(now + self.redeliver_after, message, receipt)
        return True

    def _expire(self, message: int, receipt: int) -> None:
        """Nothing acknowledged receive ``receipt`` in time: the message is visible again."""
        del self.hidden[message]
        self._return(message)

    def _return(self, message: int) -> None:
        """An unacknowledged message is receivable again."""
        now = self.env.now
        self.waiting += 1
        self.visible_again[message] = now
        self._released(message)
        if self.requeue_at_head and not (self.idle and not self.down):
            self.ready.appendleft((message, now))
        else:
            self._arrive(message, now)

    def _outlived(self, message: int, since: float, now: float) -> None:
        self.visible_again.pop(message, None)  # it was waiting again after a timeout: gone for good now
        super()._outlived(message, since, now)

    # -- acknowledgements -----------------------------------------------------------------------
    def ack(self, message: int, receipt: int) -> int:
        if self.down:
            return _STALE  # the delete never reaches the broker: the copy stays and comes back
        if self.hidden.get(message) == receipt:
            del self.hidden[message]
            self._released(message)
            return _DONE
        if self.late_delete and message in self.visible_again and self._receives[message] == receipt:
            return self._delete_visible(message)
        return _STALE

    def _delete_visible(self, message: int) -> int:
        """A delete removes a message that is waiting again: its queued entry is skipped when reached."""
        since = self.visible_again.pop(message)
        self.gone.add(message)
        self.rec.spell(message, since, self.env.now, -1, Delivery.DELETED)
        self.waiting -= 1
        self._released(message)
        if self.space_waiters:
            self._wake_publisher()
        return _DONE

    def nack(self, message: int, receipt: int, reason: Loss) -> None:
        if self.hidden.get(message) != receipt:
            return  # already returned (or dead-lettered): nothing left to give back
        if self.requeue_on_nack and not self.down:
            del self.hidden[message]
            self._return(message)
        # otherwise the copy stays hidden until ``redeliver_after`` brings it back

    def consumer_lost(self, held: Iterable[Held]) -> None:
        if not self.requeue_on_disconnect:
            return  # the copies stay hidden until ``redeliver_after``
        for message, _row, receipt in held:
            if self.hidden.get(message) == receipt:
                del self.hidden[message]
                self._return(message)

    def _connections_dropped(self) -> None:
        if self.requeue_on_disconnect:
            # every unacknowledged delivery returns; the workers' later acks are stale
            for message in list(self.hidden):
                del self.hidden[message]
                self._return(message)

    def _drop(self, message: int, since: float, now: float, reason: Loss) -> None:
        self.visible_again.pop(message, None)
        super()._drop(message, since, now, reason)

