"""The synchronous design: no broker between a ``sync: true`` producer and the pool that serves it.

A request goes straight to a free worker, or waits in the server's accept backlog (a listen
queue; the queue's ``capacity`` bounds it and a full backlog answers 503) until one is free. There
is no broker latency and no redelivery; the client holds its connection until the worker's
processing ends, which is when it has its response (:mod:`queuesim.sim.producer` records it).
"""

from __future__ import annotations

from typing import Self

from simpy import Environment

from queuesim.scenario.model import QueueBase
from queuesim.sim.broker import Broker, BrokerContext
from queuesim.sim.recorder import Recorder

#: The ``broker_mode`` under which the registry finds this kind for any queue spec served inline.
INLINE = "inline"


class DirectBroker(Broker):
    """An inline hand-off to a worker pool: at-most-once, no latency, the backlog bounded by ``capacity``.

    The base :class:`Broker` mechanism is an accept backlog: an idle worker takes a request at
    once, otherwise it queues FIFO, and a request that would find the backlog full is refused.
    This subclass fixes the latency to zero and lets an idle worker take a request even when the
    backlog bound is 0 (it never waits in the backlog), so ``capacity: 0`` is the pure loss system
    (Erlang B): a request is served at once or refused.
    """

    kind = "direct"
    serves = (QueueBase, INLINE)  # whatever broker the queue names: a sync producer bypasses it

    def __init__(self, env: Environment, index: int, name: str, capacity: int | None, rec: Recorder) -> None:
        super().__init__(env, index, name, capacity, None, rec)

    @classmethod
    def from_spec(cls, spec: QueueBase, ctx: BrokerContext) -> Self:
        """The accept backlog in front of the pool reading ``spec``'s queue; only its ``capacity`` applies."""
        return cls(ctx.env, ctx.index, ctx.name, spec.capacity, ctx.rec)

    def publish(self, message: int) -> bool:
        """Hand a request to an idle worker, or queue it in the backlog; False is a 503."""
        if self.down or (self.waiting >= self.capacity and not self.idle):
            return False
        now = self.env._now  # once per request (see queuesim.sim.broker)
        self.waiting += 1
        self._accepted[message] = now
        self._arrive(message, now)
        return True


__all__ = ["DirectBroker", "INLINE"]
