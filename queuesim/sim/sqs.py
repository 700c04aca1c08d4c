"""SQS-like queues: standard (at-least-once, rare spontaneous duplicates) and FIFO (groups, quota).

A receive hides the message for ``visibility_timeout``; a delete holding the latest receipt removes
it. If the timeout expires first the message is visible again and another worker may process it
too (a duplicate). What a delete holding an older receipt handle does depends on the queue:

- standard (``stale_receipts: delete``, the default): it deletes the message, as measured against
  the SQS API (and the AWS-verified behaviour of its most used emulator); the other workers still
  holding it finish a duplicate whose own delete then fails. A job longer than the visibility
  timeout is so received again every timeout until its first processing ends, then deleted.
- standard with ``stale_receipts: ignored``: it is a no-op (the documented worst case): only the
  latest receipt deletes, so a job longer than the timeout comes back until ``max_receives``.
- FIFO: the receipt handle expires with the visibility timeout (``ReceiptHandleIsInvalid``), so any
  delete after it fails, even before anyone received the message again, and it is processed again.

Messages are stored in several zones before a send returns, so a broker restart loses nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Self

from simpy import Environment
from simpy.events import Timeout

from queuesim.records import Delivery
from queuesim.scenario.model import QueueBase, SqsQueue
from queuesim.sim.broker import NO_EXPIRY, BrokerContext, Expiry, spec_as
from queuesim.sim.ratelimit import TokenBucket
from queuesim.sim.recorder import Recorder
from queuesim.sim.redelivery import AtLeastOnce

if TYPE_CHECKING:
    from queuesim.sim.broker import Credit

_DONE, _STALE = int(Delivery.DONE), int(Delivery.STALE)

#: What a delete holding an older receipt handle does (:attr:`queuesim.scenario.model.SqsQueue.receipt_rule`).
RECEIPT_RULES = ("delete", "ignored", "expire")


class SqsBroker(AtLeastOnce):
    """A standard SQS queue.

    With ``duplicate_probability`` p, a successful delete misses one replica with probability p,
    so the message comes back after its visibility timeout and is processed again (AWS: "a copy
    sits on several servers; if one is unavailable during delete, its copy can come back").
    ``stale_receipts`` is one of :data:`RECEIPT_RULES` (see the module's note).
    """

    kind = "sqs"
    serves = (SqsQueue, "standard")

    def __init__(
        self,
        env: Environment,
        index: int,
        name: str,
        capacity: int | None,
        latency: Callable[[], float] | None,
        rec: Recorder,
        *,
        visibility_timeout: float,
        max_receives: int | None = None,
        duplicate_probability: float = 0.0,
        uniform: Callable[[], float] | None = None,
        stale_receipts: str = "delete",
        expiry: Expiry = NO_EXPIRY,
    ) -> None:
        if stale_receipts not in RECEIPT_RULES:
            raise ValueError(f"stale_receipts must be one of {RECEIPT_RULES}, got {stale_receipts!r}")
        # a delete after the timeout, before anyone received the message again, still holds the
        # latest receipt: it deletes on a standard queue; a FIFO handle has expired by then
        super().__init__(env, index, name, capacity, latency, rec, redeliver_after=visibility_timeout,
                         limit=max_receives, late_delete=stale_receipts != "expire", expiry=expiry)
        if duplicate_probability and uniform is None:
            raise ValueError("duplicate_probability needs a uniform stream to decide each delete")
        self.duplicate_probability = duplicate_probability
        self.uniform = uniform
        self.stale_deletes = stale_receipts == "delete"

    @classmethod
    def from_spec(cls, spec: QueueBase, ctx: BrokerContext) -> Self:
        q = spec_as(spec, SqsQueue, cls)
        return cls(ctx.env, ctx.index, ctx.name, q.capacity, ctx.latency(q.latency), ctx.rec,
                   visibility_timeout=q.visibility_timeout, max_receives=q.max_receives,
                   duplicate_probability=q.duplicate_probability, uniform=ctx.streams.uniform("duplicates"),
                   stale_receipts=q.receipt_rule, expiry=Expiry.from_spec(q))

    def deletes_plainly(self) -> bool:
        return type(self).ack is SqsBroker.ack and not self.duplicate_probability and not self._releases

    def ack(self, message: int, receipt: int) -> int:
        hidden = self.hidden
        if not self.down and hidden.get(message) == receipt:  # the delete of the copy in flight: nearly every call
            if self.duplicate_probability:
                assert self.uniform is not None
                if self.uniform() < self.duplicate_probability:
                    return _DONE  # the client saw success; the surviving copy reappears after the timeout
            del hidden[message]  # AtLeastOnce.ack's own case, without the call
            if self._releases:
                self._released(message)
            return _DONE
        status = super().ack(message, receipt)
        if status == _STALE and self.stale_deletes and not self.down:
            return self._delete_with_older_receipt(message)
        return status

    def _delete_with_older_receipt(self, message: int) -> int:
        """A standard queue accepts an older receipt handle: the message goes, wherever it is now."""
        if message in self.hidden:  # received again, in flight: that worker's own delete will fail
            del self.hidden[message]  # its visibility deadline is dead with it
            self._released(message)
            return _DONE
        if message in self.visible_again:  # visible again, waiting for its next receive
            return self._delete_visible(message)
        return _STALE  # already deleted, or moved to the dead-letter queue: ReceiptHandleIsInvalid


class SqsFifoBroker(SqsBroker):
    """A FIFO SQS queue: no spontaneous duplicates, order kept per message group, a throughput quota.

    A group with a message in flight is blocked until that message is deleted or its visibility
    timeout expires; the next message of a group is always its oldest. ``groups`` None gives every
    message its own group. Sends beyond ``tps`` per second are throttled (a 503 the producer
    retries); receives beyond it wait for the quota.
    """

    kind = "sqs-fifo"
    serves = (SqsQueue, "fifo")

    def __init__(
        self,
        env: Environment,
        index: int,
        name: str,
        capacity: int | None,
        latency: Callable[[], float] | None,
        rec: Recorder,
        *,
        visibility_timeout: float,
        max_receives: int | None = None,
        groups: int | None = None,
        tps: float | None = None,
        group_of: Callable[[], float] | None = None,
        expiry: Expiry = NO_EXPIRY,
    ) -> None:
        super().__init__(env, index, name, capacity, latency, rec,
                         visibility_timeout=visibility_timeout, max_receives=max_receives, stale_receipts="expire",
                         expiry=expiry)
        if groups is not None and group_of is None:
            raise ValueError("groups needs a uniform stream (group_of) to assign each message a group")
        self.groups = groups
        self.group_of = group_of
        self.group: dict[int, int] = {}  # live message -> its group
        self.queues: dict[int, deque[tuple[int, float]]] = {}  # group -> waiting messages, oldest first
        self.available: deque[int] = deque()  # unblocked groups with waiting messages, each once
        self.blocked: set[int] = set()
        self.send_quota = TokenBucket(tps, tps) if tps else None
        self.receive_quota = TokenBucket(tps, tps) if tps else None
        self._retry_pending = False  # a wake-up for the receive quota is already scheduled

    @classmethod
    def from_spec(cls, spec: QueueBase, ctx: BrokerContext) -> Self:
        q = spec_as(spec, SqsQueue, cls)
        return cls(ctx.env, ctx.index, ctx.name, q.capacity, ctx.latency(q.latency), ctx.rec,
                   visibility_timeout=q.visibility_timeout, max_receives=q.max_receives,
                   groups=q.groups, tps=q.throughput_limit, group_of=ctx.streams.uniform("groups"),
                   expiry=Expiry.from_spec(q))

    def publish(self, message: int) -> bool:
        # env._now: once per published message (see queuesim.sim.broker)
        if self.send_quota is not None and not self.send_quota.take(self.env._now):
            return False  # ThrottlingException: the producer retries per its policy
        if self.groups is None or self.group_of is None:
            self.group[message] = message
        else:
            self.group[message] = int(self.group_of() * self.groups)
        ok = super().publish(message)
        if not ok:
            del self.group[message]
        return ok

    def _arrive(self, message: int, since: float) -> None:
        g = self.group[message]
        q = self.queues.setdefault(g, deque())
        q.append((message, since))
        if g not in self.blocked and len(q) == 1:
            self.available.append(g)
        self._serve_idle()

    def _return(self, message: int) -> None:
        # back to the head of its group first, then unblock the group: order is kept
        now = self.env.now
        self.waiting += 1
        self.visible_again[message] = now
        g = self.group[message]
        self.queues.setdefault(g, deque()).appendleft((message, now))
        self.blocked.discard(g)
        if g not in self.available:
            self.available.append(g)
        self._serve_idle()

    def _recover(self) -> None:
        super()._recover()
        self._serve_idle()

    def _serve_idle(self) -> None:
        while self.idle and self.available and not self.down:
            consumer = self.idle.popleft()
            if not self._take_one(consumer):
                self.idle.appendleft(consumer)
                return

    def take(self, consumer: Credit) -> None:
        if self.down or not self._take_one(consumer):
            self._park(consumer)

    def try_take(self, consumer: Credit) -> bool:
        return not self.down and self._take_one(consumer)

    def _take_one(self, consumer: Credit) -> bool:
        while self.available:
            if self.receive_quota is not None and not self.receive_quota.take(self.env._now):
                self._retry_take_later()
                return False
            g = self.available.popleft()
            q = self.queues.get(g)
            if not q:
                continue
            message, since = q.popleft()
            self.blocked.add(g)
            if not q:
                del self.queues[g]
            if self._deliver(consumer, message, since):
                return True
        return False

    def _retry_take_later(self) -> None:
        if self._retry_pending:
            return
        assert self.receive_quota is not None
        self._retry_pending = True

        def again(_e: object) -> None:
            self._retry_pending = False
            self._serve_idle()

        Timeout(self.env, self.receive_quota.wait()).callbacks.append(again)

    def _released(self, message: int) -> None:
        g = self.group.get(message)
        if g is None or g not in self.blocked:
            return
        self.blocked.discard(g)
        if self.queues.get(g):
            self.available.append(g)
            self._serve_idle()

    def _skip(self, message: int) -> bool:
        return False  # nothing is left marked in a group queue: deletes cannot reach a visible message, reneges leave at once

    def _withdraw(self, message: int) -> None:
        # out of its group's queue now (a group queue is short: one message group's backlog)
        g = self.group[message]
        q = self.queues.get(g)
        if q is not None:
            self.queues[g] = rest = deque(e for e in q if e[0] != message)
            if not rest:
                del self.queues[g]

    def ack(self, message: int, receipt: int) -> int:
        status = super().ack(message, receipt)
        if status == _DONE and message not in self.hidden:
            self.group.pop(message, None)
        return status

    # a message that leaves for good leaves its group too: ``group`` holds only live messages
    def _renege(self, message: int, token: int) -> None:
        super()._renege(message, token)
        self.group.pop(message, None)

    def _outlived(self, message: int, since: float, now: float) -> None:
        super()._outlived(message, since, now)  # releases the group first, which needs the mapping
        self.group.pop(message, None)

    def open_spells(self) -> list[tuple[int, float]]:
        spells = [e for q in self.queues.values() for e in q]
        return spells + list(self.in_transit.items())
