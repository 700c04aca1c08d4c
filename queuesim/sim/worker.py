"""Worker pools: each worker is a small state machine driven by SimPy event callbacks.

A worker takes the oldest waiting message, processes it for a drawn service time, publishes its
fan-out downstream (holding the finished message while the downstream queue is full: back pressure),
acknowledges it upstream, and asks for the next one. Callbacks instead of one SimPy process per
worker (or per message) keep the per-message cost to one scheduled event.
"""

from __future__ import annotations

from collections.abc import Callable

from simpy import Environment
from simpy.events import Timeout

from queuesim.sim.broker import Broker
from queuesim.records import Delivery, Outcome
from queuesim.sim.recorder import Recorder

_HELD, _COMPLETED = int(Delivery.HELD), int(Outcome.COMPLETED)  # hot path: plain ints


class Consumer:
    """One worker of a pool."""

    __slots__ = ("wid", "pool", "message", "row", "receipt", "pending")

    def __init__(self, wid: int, pool: Pool) -> None:
        self.wid = wid
        self.pool = pool
        self.message = -1
        self.row = -1
        self.receipt = 0
        self.pending = 0  # fan-out children still to publish downstream

    def start(self, message: int, row: int, receipt: int) -> None:
        """Called by the broker when this worker receives ``message``."""
        self.message = message
        self.row = row
        self.receipt = receipt
        pool = self.pool
        Timeout(pool.env, pool.service()).callbacks.append(self._finished)

    def _finished(self, _event: object) -> None:
        pool = self.pool
        now = pool.env._now
        pool.d_finished[self.row] = now
        if pool.downstream is None:
            self._acknowledge(now)
        else:
            self.pending = pool.fanout
            pool.d_status[self.row] = _HELD
            self._publish_children()

    def _publish_children(self) -> None:
        pool = self.pool
        down = pool.downstream
        assert down is not None
        rec = pool.rec
        request = pool.m_request[self.message]
        stage = pool.m_stage[self.message] + 1
        now = pool.env._now
        while self.pending:
            if not down.has_room():
                down.space_waiters.append(self._publish_children)
                return
            child = rec.new_message(request, down.index, stage, now)
            pool.m_attempts[child] = 1
            down.publish(child)
            self.pending -= 1
        self._acknowledge(now)

    def _acknowledge(self, now: float) -> None:
        pool = self.pool
        message = self.message
        pool.d_status[self.row] = pool.upstream.ack(message, self.receipt)
        pool.m_processings[message] += 1
        pool.rec.settle(message, _COMPLETED, now, self.wid)
        pool.completed += 1
        pool.upstream.take(self)


class Pool:
    """A pool of ``count`` identical workers reading one queue."""

    def __init__(
        self,
        env: Environment,
        index: int,
        name: str,
        first_wid: int,
        count: int,
        upstream: Broker,
        service: Callable[[], float],
        downstream: Broker | None,
        fanout: int,
        rec: Recorder,
    ) -> None:
        self.env = env
        self.index = index
        self.name = name
        self.upstream = upstream
        self.service = service
        self.downstream = downstream
        self.fanout = fanout
        self.rec = rec
        self.completed = 0  # processings finished, duplicates included
        self.d_finished = rec.deliveries["finished"]
        self.d_status = rec.deliveries["status"]
        self.m_request = rec.messages["request"]
        self.m_stage = rec.messages["stage"]
        self.m_attempts = rec.messages["attempts"]
        self.m_processings = rec.messages["processings"]
        self.workers = [Consumer(first_wid + i, self) for i in range(count)]

    def start(self) -> None:
        for w in self.workers:
            self.upstream.take(w)
