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

from queuesim.records import Delivery, Loss
from queuesim.sim.broker import Broker, Held
from queuesim.sim.redelivery import AtLeastOnce


class RedisState:
    """Persistence and maxmemory, mixed into every Redis mode (list, reliable, stream, pub/sub)."""

    persistence = "aof-everysec"
    snapshot_every = 300.0
    maxmemory: int | None = None
    policy = "noeviction"
    track = False  # log receives (only when a restart is scheduled for this queue)

    def configure(self, persistence: str, snapshot_every: float, maxmemory: int | None, policy: str,
                  track: bool, phase: Callable[[], float]) -> None:
        self.persistence = persistence
        self.snapshot_every = snapshot_every
        self.maxmemory = maxmemory
        self.policy = policy
        self.track = track and persistence in ("aof-everysec", "rdb")
        self.recent: deque[tuple[float, int]] = deque()  # (receive time, message), newest last
        self.restored: set[int] = set()  # brought back by a restart and waiting again
        self.window = 1.0 if persistence == "aof-everysec" else snapshot_every
        self.phase = phase  # U(0,1): where in its period the last fsync or snapshot fell
        self.restarts: list[dict[str, float]] = []

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

    def stored(self) -> int:
        return self.waiting + len(getattr(self, "hidden", ()))  # type: ignore[attr-defined]

    def log_receive(self, message: int, now: float) -> None:
        recent = self.recent
        recent.append((now, message))
        while recent and recent[0][0] < now - self.window - 1.0:
            recent.popleft()

    def publish(self, message: int) -> bool:
        if self.maxmemory is not None and not self.down and self.stored() >= self.maxmemory:  # type: ignore[attr-defined]
            if self.policy == "noeviction" or not self.drop_oldest(Loss.EVICTION):  # type: ignore[attr-defined]
                return False  # OOM command not allowed: the client sees an error, our 503
        return super().publish(message)  # type: ignore[misc]

    def _restore(self, t_d: float, now: float) -> list[int]:
        """Messages received after the durable point that were still queued at it: they come back."""
        back = []
        accepted = self._accepted  # type: ignore[attr-defined]
        seen: set[int] = set()
        for t, message in reversed(self.recent):
            if t <= t_d:
                break
            if accepted[message] <= t_d and message not in seen and not self._waiting_now(message):
                seen.add(message)
                back.append(message)
        return back  # newest receive first

    def _waiting_now(self, message: int) -> bool:
        return message in self.restored or message in getattr(self, "visible_again", ())

    def _requeue_restored(self, restored: list[int], now: float) -> None:
        # they were ahead of everything accepted later: back at the head, in their old order
        for message in restored:
            self.restored.add(message)
            self.waiting += 1  # type: ignore[attr-defined]
            self.ready.appendleft((message, now))  # type: ignore[attr-defined]


class RedisListBroker(RedisState, Broker):
    """LPUSH/BRPOP: at-most-once; a crash or failure loses the message in hand."""

    kind = "redis"

    def _admit(self, message: int, since: float, now: float) -> bool:
        if self.track:
            self.restored.discard(message)
            self.log_receive(message, now)
        return True

    def _lose_unpersisted(self, now: float) -> None:
        t_d = self.durable_point(now)
        if t_d >= now:
            return  # aof-always: every write was on disk
        self.drop_waiting(lambda m, _s: self._accepted[m] <= t_d, Loss.BROKER_RESTART)
        if self.track:
            self._requeue_restored(self._restore(t_d, now), now)


class RedisReliableBroker(RedisState, AtLeastOnce):
    """LMOVE into a processing list (reliable queue) or a stream consumer group (pending entries).

    The in-flight copy survives a worker crash; a reaper (``reliable``) or XAUTOCLAIM (``stream``)
    hands it out again once it has been idle ``reclaim_after``/``min_idle``. Claimed stream entries
    go to the head (consumers claim before reading new entries); reaped list items to the tail.
    """

    def __init__(self, *args: object, mode: str, idle: float, max_deliveries: int | None, **kw: object):
        super().__init__(*args, redeliver_after=idle, limit=max_deliveries,
                         requeue_at_head=(mode == "stream"), **kw)
        self.kind = f"redis-{mode}"
        self.vanished: set[int] = set()  # in-flight copies a restart forgot

    def _admit(self, message: int, since: float, now: float) -> bool:
        if self.track:
            self.restored.discard(message)
            self.log_receive(message, now)
        return super()._admit(message, since, now)

    def nack(self, message: int, receipt: int, reason: Loss) -> None:
        if message in self.vanished:
            self.vanished.discard(message)
            self.rec.lose(message, Loss.BROKER_RESTART, self.env._now)
            return
        super().nack(message, receipt, reason)

    def consumer_lost(self, held: Iterable[Held]) -> None:
        now = self.env._now
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


class RedisPubSubBroker(RedisState, Broker):
    """PUBLISH/SUBSCRIBE: a message reaches a worker free at that instant, or nobody (dropped)."""

    kind = "redis-pubsub"

    def _arrive(self, message: int, since: float) -> None:
        if self.idle and not self.down:
            self._deliver(self.idle.popleft(), message, since)  # pub/sub never dead-letters
        else:
            self.waiting -= 1
            now = self.env._now
            self.rec.spell(message, since, now, -1, Delivery.DROPPED)
            self.rec.lose(message, Loss.NO_SUBSCRIBER, now)

    def _lose_unpersisted(self, now: float) -> None:
        self.drop_waiting(lambda _m, _s: False, Loss.BROKER_RESTART)  # nothing is stored
