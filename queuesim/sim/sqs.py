"""SQS-like queues: standard (at-least-once, rare spontaneous duplicates) and FIFO (groups, quota).

A receive hides the message for ``visibility_timeout``; a delete holding the latest receipt removes
it. If the timeout expires first the message is visible again and another worker may process it
too (a duplicate); a delete holding an older receipt fails, as SQS receipt handles do. Messages are
stored in several zones before a send returns, so a broker restart loses nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Self

from simpy import Environment
from simpy.events import Timeout

from queuesim.records import Delivery
from queuesim.scenario.model import QueueBase, SqsQueue
from queuesim.sim.broker import BrokerContext, spec_as
from queuesim.sim.ratelimit import TokenBucket
from queuesim.sim.recorder import Recorder
from queuesim.sim.redelivery import AtLeastOnce

if TYPE_CHECKING:
    from queuesim.sim.worker import Consumer

_DONE = int(Delivery.DONE)


class SqsBroker(AtLeastOnce):
    """A standard SQS queue.

    With ``duplicate_probability`` p, a successful delete misses one replica with probability p,
    so the message comes back after its visibility timeout and is processed again (AWS: "a copy
    sits on several servers; if one is unavailable during delete, its copy can come back").
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
    ) -> None:
        super().__init__(env, index, name, capacity, latency, rec, redeliver_after=visibility_timeout,
                         limit=max_receives, late_delete=True)
        if duplicate_probability and uniform is None:
            raise ValueError("duplicate_probability needs a uniform stream to decide each delete")
        self.duplicate_probability = duplicate_probability
        self.uniform = uniform

    @classmethod
    def from_spec(cls, spec: QueueBase, ctx: BrokerContext) -> Self:
        q = spec_as(spec, SqsQueue, cls)
        return cls(ctx.env, ctx.index, ctx.name, q.capacity, ctx.latency(q.latency), ctx.rec,
                   visibility_timeout=q.visibility_timeout, max_receives=q.max_receives,
                   duplicate_probability=q.duplicate_probability, uniform=ctx.streams.uniform("duplicates"))

    def ack(self, message: int, receipt: int) -> int:
        if self.duplicate_probability and not self.down and self.hidden.get(message) == receipt:
            assert self.uniform is not None
            if self.uniform() < self.duplicate_probability:
                return _DONE  # the client saw success; the surviving copy reappears after the timeout
        return super().ack(message, receipt)


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
    ) -> None:
        super().__init__(env, index, name, capacity, latency, rec,
                         visibility_timeout=visibility_timeout, max_receives=max_receives)
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
                   groups=q.groups, tps=q.throughput_limit, group_of=ctx.streams.uniform("groups"))

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

    def take(self, consumer: Consumer) -> None:
        if self.down or not self._take_one(consumer):
            self.idle.append(consumer)

    def _take_one(self, consumer: Consumer) -> bool:
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
        return False  # deletes of visible messages remove them from their group queue directly

    def ack(self, message: int, receipt: int) -> int:
        status = super().ack(message, receipt)
        if message in self.gone:  # deleted while visible: take it out of its group now
            self.gone.discard(message)
            g = self.group[message]
            q = self.queues.get(g)
            if q is not None:
                self.queues[g] = deque(e for e in q if e[0] != message)
                if not self.queues[g]:
                    del self.queues[g]
        if status == _DONE and message not in self.hidden:
            self.group.pop(message, None)
        return status

    def open_spells(self) -> list[tuple[int, float]]:
        spells = [e for q in self.queues.values() for e in q]
        return spells + list(self.in_transit.items())
