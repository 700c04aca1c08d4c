"""Redis used as a broker: list (BRPOP), reliable list (LMOVE + reaper), streams, pub/sub.

Every mode shares Redis's persistence and memory limits. A restart forgets what was written
after the last durable point: ``aof-always`` loses nothing, ``aof-everysec`` up to the last second
(the fsync runs once a second, at a phase drawn per restart), ``rdb`` everything since the last
snapshot (taken every ``snapshot_every``, the phase drawn likewise), and ``none`` everything. Forgetting works both ways: messages accepted after that point are lost, and
messages *removed* after it (received by a worker) come back and are delivered again.
``maxmemory`` (in messages) with ``noeviction`` refuses writes (a 503); with ``allkeys-lru`` it
silently evicts the oldest waiting message to make room (lost).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Self

from simpy import Environment

from queuesim.records import Delivery, Loss, RestartPoint
from queuesim.scenario.model import QueueBase, RedisQueue
from queuesim.sim.broker import NO_EXPIRY, Broker, BrokerContext, BrokerStats, Expiry, Held, spec_as
from queuesim.sim.recorder import Recorder
from queuesim.sim.redelivery import AtLeastOnce


def _fsync_at_restart() -> float:
    return 0.0


@dataclass(frozen=True)
class Durability:
    """What a Redis restart keeps and what a full instance does (a :class:`RedisQueue`'s fields).

    ``track`` logs receives so a restart can bring back messages received after the durable
    point (only worth it when a restart is scheduled); ``phase`` draws U(0,1), where in its
    period the last fsync or snapshot fell.
    """

    persistence: str = "aof-everysec"
    snapshot_every: float = 300.0
    maxmemory: int | None = None
    policy: str = "noeviction"
    track: bool = False
    phase: Callable[[], float] = _fsync_at_restart

    @classmethod
    def from_spec(cls, spec: RedisQueue, ctx: BrokerContext) -> Durability:
        """The durability of one Redis queue; the phase on its own ``persistence`` stream."""
        return cls(spec.persistence, spec.snapshot_every, spec.maxmemory, spec.policy,
                   track=ctx.restart_scheduled, phase=ctx.streams.uniform("persistence"))


#: The defaults of a RedisQueue, with the last fsync right at any restart (nothing lost).
DEFAULT_DURABILITY = Durability()


class RedisBroker(Broker):
    """Persistence and maxmemory, shared by every Redis mode (the mode's semantics are its subclass)."""

    def __init__(
        self,
        env: Environment,
        index: int,
        name: str,
        capacity: int | None,
        latency: Callable[[], float] | None,
        rec: Recorder,
        durability: Durability = DEFAULT_DURABILITY,
        *,
        expiry: Expiry = NO_EXPIRY,
    ) -> None:
        super().__init__(env, index, name, capacity, latency, rec, expiry=expiry)
        self._keep(durability)

    @classmethod
    def from_spec(cls, spec: QueueBase, ctx: BrokerContext) -> Self:
        q = spec_as(spec, RedisQueue, cls)
        return cls(ctx.env, ctx.index, ctx.name, q.capacity, ctx.latency(q.latency), ctx.rec,
                   Durability.from_spec(q, ctx), expiry=Expiry.from_spec(q))

    def _keep(self, durability: Durability) -> None:
        d = durability
        self.persistence = d.persistence
        self.snapshot_every = d.snapshot_every
        self.maxmemory = d.maxmemory
        self.policy = d.policy
        self.track = d.track and d.persistence in ("aof-everysec", "rdb")
        self.recent: deque[tuple[float, int]] = deque()  # (receive time, message), newest last
        self.restored: set[int] = set()  # brought back by a restart and waiting again
        self.window = 1.0 if d.persistence == "aof-everysec" else d.snapshot_every
        self.phase = d.phase
        self.restarts: list[RestartPoint] = []
        if d.maxmemory is None:  # no memory check: publish is the plain broker's, one call less per message
            self.publish = super().publish  # type: ignore[method-assign]

    def stats(self) -> BrokerStats:
        return replace(super().stats(), restarts=tuple(self.restarts))

    def held(self) -> Iterable[int]:
        # restored messages, and every receive a restart could still replay
        return [*super().held(), *self.restored, *(m for _, m in self.recent)]

    def durable_point(self, now: float) -> float:
        """The latest instant whose writes a restart at ``now`` keeps (recorded in ``restarts``)."""
        if self.persistence == "aof-always":
            t_d = now
        elif self.persistence in ("aof-everysec", "rdb"):
            t_d = now - self.phase() * self.window  # the restart falls anywhere in the period
        else:
            t_d = -math.inf
        self.restarts.append({"at": now, "durable_point": t_d})
        return t_d

    def _unacknowledged(self) -> int:
        """Received copies the instance still stores (the reliable modes keep them until the ack)."""
        return 0

    def stored(self) -> int:
        """Messages the instance holds, for ``maxmemory``."""
        return self.waiting + self._unacknowledged()

    def log_receive(self, message: int, now: float) -> None:
        recent = self.recent
        recent.append((now, message))
        while recent and recent[0][0] < now - self.window - 1.0:
            recent.popleft()

    def publish(self, message: int) -> bool:
        # OOM command not allowed: the client sees an error, our 503 (allkeys-lru evicts instead)
        if (self.maxmemory is not None and not self.down and self.stored() >= self.maxmemory
                and (self.policy == "noeviction" or not self.drop_oldest(Loss.EVICTION))):
            return False
        return super().publish(message)

    def _restore(self, t_d: float, now: float) -> list[int]:
        """Messages received after the durable point that were still queued at it: they come back."""
        back = []
        accepted = self._accepted
        seen: set[int] = set()
        for t, message in reversed(self.recent):
            if t <= t_d:
                break
            if accepted[message] <= t_d and message not in seen and not self._waiting_now(message):
                seen.add(message)
                back.append(message)
        return back  # newest receive first

    def _waiting_now(self, message: int) -> bool:
        return message in self.restored

    def _requeue_restored(self, restored: list[int], now: float) -> None:
        # they were ahead of everything accepted later: back at the head, in their old order
        for message in restored:
            self.restored.add(message)
            self.waiting += 1
            self.ready.appendleft((message, now))


class RedisListBroker(RedisBroker):
    """LPUSH/BRPOP: at-most-once; a crash or failure loses the message in hand."""

    kind = "redis"
    serves = (RedisQueue, "list")

    def _admit(self, message: int, since: float, now: float) -> bool:
        if self.track:
            self.restored.discard(message)
            self.log_receive(message, now)
        return True

    def admits_plainly(self) -> bool:
        return not self.track  # nothing to log for a restart to replay

    def _lose_unpersisted(self, now: float) -> None:
        t_d = self.durable_point(now)
        if t_d >= now:
            return  # aof-always: every write was on disk
        self.drop_waiting(lambda m, _s: self._accepted[m] <= t_d, Loss.BROKER_RESTART)
        if self.track:
            self._requeue_restored(self._restore(t_d, now), now)


class RedisReliableBroker(RedisBroker, AtLeastOnce):
    """LMOVE into a processing list: the in-flight copy survives a worker crash.

    A reaper hands a copy out again once it has been idle ``idle`` seconds (the spec's
    ``reclaim_after``); reaped items go to the tail. ``max_deliveries`` dead-letters.
    """

    kind = "redis-reliable"
    serves = (RedisQueue, "reliable")
    requeue_claimed_at_head = False

    def __init__(
        self,
        env: Environment,
        index: int,
        name: str,
        capacity: int | None,
        latency: Callable[[], float] | None,
        rec: Recorder,
        durability: Durability = DEFAULT_DURABILITY,
        *,
        idle: float,
        max_deliveries: int | None = None,
        expiry: Expiry = NO_EXPIRY,
    ) -> None:
        # the at-least-once mechanism takes the redelivery settings; RedisBroker's part is _keep
        AtLeastOnce.__init__(self, env, index, name, capacity, latency, rec, redeliver_after=idle,
                             limit=max_deliveries, requeue_at_head=self.requeue_claimed_at_head, expiry=expiry)
        self._keep(durability)
        self.vanished: set[int] = set()  # in-flight copies a restart forgot

    @staticmethod
    def _idle(spec: RedisQueue) -> float:
        return spec.reclaim_after

    @classmethod
    def from_spec(cls, spec: QueueBase, ctx: BrokerContext) -> Self:
        q = spec_as(spec, RedisQueue, cls)
        return cls(ctx.env, ctx.index, ctx.name, q.capacity, ctx.latency(q.latency), ctx.rec,
                   Durability.from_spec(q, ctx), idle=cls._idle(q), max_deliveries=q.max_deliveries,
                   expiry=Expiry.from_spec(q))

    def held(self) -> Iterable[int]:
        return [*super().held(), *self.vanished]

    def _unacknowledged(self) -> int:
        return len(self.hidden)

    def _waiting_now(self, message: int) -> bool:
        return message in self.restored or message in self.visible_again

    def _admit(self, message: int, since: float, now: float) -> bool:
        if self.track:
            self.restored.discard(message)
            self.log_receive(message, now)
        return super()._admit(message, since, now)

    def nack(self, message: int, receipt: int, reason: Loss) -> None:
        if message in self.vanished:
            self.vanished.discard(message)
            self.rec.lose(message, Loss.BROKER_RESTART, self.env.now)
            return
        super().nack(message, receipt, reason)

    def consumer_lost(self, held: Iterable[Held]) -> None:
        now = self.env.now
        for message, _row, _receipt in held:
            if message in self.vanished:
                self.vanished.discard(message)
                self.rec.lose(message, Loss.BROKER_RESTART, now)
        super().consumer_lost(held)

    def ack(self, message: int, receipt: int) -> int:
        self.vanished.discard(message)
        return super().ack(message, receipt)

    def _lose_unpersisted(self, now: float) -> None:
        t_d = self.durable_point(now)
        if t_d >= now:
            return  # aof-always: every write was on disk
        self.drop_waiting(lambda m, _s: self._accepted[m] <= t_d, Loss.BROKER_RESTART)
        restored = self._restore(t_d, now) if self.track else []
        received_after = {m for t, m in self.recent if t > t_d} if self.track else set(self.hidden)
        for message in list(self.hidden):
            if message in received_after or t_d == -math.inf:
                del self.hidden[message]  # the processing list / PEL reverts to the durable point
                if self._accepted[message] > t_d:
                    self.vanished.add(message)
        self._requeue_restored(restored, now)


class RedisStreamBroker(RedisReliableBroker):
    """A stream consumer group: unacknowledged entries stay in the pending-entries list.

    XAUTOCLAIM hands an entry out again once it has been idle ``min_idle``; claimed entries go to
    the head (consumers claim before reading new entries).
    """

    kind = "redis-stream"
    serves = (RedisQueue, "stream")
    requeue_claimed_at_head = True

    @staticmethod
    def _idle(spec: RedisQueue) -> float:
        return spec.min_idle


class RedisPubSubBroker(RedisBroker):
    """PUBLISH/SUBSCRIBE: a message reaches a worker free at that instant, or nobody (dropped)."""

    kind = "redis-pubsub"
    serves = (RedisQueue, "pubsub")

    def _arrive(self, message: int, since: float) -> None:
        if self.idle and not self.down:
            self._deliver(self.idle.popleft(), message, since)  # pub/sub never dead-letters
        else:
            self.waiting -= 1
            now = self.env.now
            self.rec.spell(message, since, now, -1, Delivery.DROPPED)
            self.rec.lose(message, Loss.NO_SUBSCRIBER, now)

    def _lose_unpersisted(self, now: float) -> None:
        self.drop_waiting(lambda _m, _s: False, Loss.BROKER_RESTART)  # nothing is stored


class RedisCeleryBroker(RedisReliableBroker):
    """Celery's Redis transport (Kombu): lists, plus an unacked hash restored after ``visibility_timeout``.

    A task a worker reserved but has not acknowledged (prefetched, waiting for its ETA, or running
    with late ack) stays in the unacked hash; once it is older than the visibility timeout (1 h by
    default) it is restored to the queue and delivered again, while the first worker still holds
    it: both run it. Restored tasks go back to the end BRPOP reads (Kombu's restore RPUSHes them).
    A crashed worker's tasks come back only after the timeout: Redis cannot see the crash.
    """

    kind = "redis-celery"
    serves = (RedisQueue, "celery")
    requeue_claimed_at_head = True

    @staticmethod
    def _idle(spec: RedisQueue) -> float:
        return spec.celery_visibility_timeout
