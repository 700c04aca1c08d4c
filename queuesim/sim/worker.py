"""Worker pools: each worker is a small state machine driven by SimPy event callbacks.

A worker takes the oldest waiting message, processes it for a drawn service time, publishes its
fan-out downstream (holding the finished message while the downstream queue is full: back pressure),
acknowledges it upstream, and asks for the next one. Callbacks instead of one SimPy process per
worker (or per message) keep the per-message cost to one scheduled event.

Faults: a processing may crash the worker (with ``crash.probability``, at a uniform point of the
message, or when the pool's ``mtbf`` clock rings), fail (``failure.probability``, a poison
message, or running past ``timeout``); the broker decides what becomes of the message in hand.
A crashed worker is back after ``restart``. An idempotent worker recognises a message it already
processed and spends ``dedupe`` on it instead of a full processing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simpy import Environment
from simpy.events import Timeout

from queuesim.records import Delivery, Loss, Outcome
from queuesim.sim.recorder import Recorder

if TYPE_CHECKING:
    from queuesim.sim.broker import Broker, Held

_HELD, _COMPLETED = int(Delivery.HELD), int(Outcome.COMPLETED)  # hot path: plain ints


class Faults:
    """A pool's fault settings and the random streams that decide them."""

    def __init__(
        self,
        crash: float,
        failure: float,
        poison: float,
        timeout: float | None,
        mtbf: float | None,
        restart: float,
        idempotent: bool,
        dedupe: float,
        uniform: Callable[[], float],
        poison_uniform: Callable[[], float],
        clock: Callable[[], float],
    ) -> None:
        self.crash = crash
        self.failure = failure
        self.poison = poison
        self.timeout = timeout
        self.mtbf = mtbf
        self.restart = restart
        self.idempotent = idempotent
        self.dedupe = dedupe
        self.uniform = uniform
        self.poison_uniform = poison_uniform
        self.clock = clock  # exponential draws with mean mtbf

    @property
    def any(self) -> bool:
        return bool(self.crash or self.failure or self.poison or self.timeout or self.mtbf or self.idempotent)


class Consumer:
    """One worker of a pool."""

    __slots__ = ("attempt", "buffer", "down", "gen", "message", "pending", "pool", "receipt", "row", "wid")

    def __init__(self, wid: int, pool: Pool) -> None:
        self.wid = wid
        self.pool = pool
        self.message = -1  # in hand; -1 when free
        self.row = -1
        self.receipt = 0
        self.pending = 0  # fan-out children still to publish downstream
        self.buffer: deque[Held] = deque()  # prefetched deliveries (RabbitMQ prefetch > 1)
        self.gen = 0  # bumped by a crash: callbacks of the old life are ignored
        self.down = False
        self.attempt: Callable[[], None] | None = None  # its wait on a full downstream queue

    # -- delivery -------------------------------------------------------------------------------
    def start(self, message: int, row: int, receipt: int) -> None:
        """Called by the broker when this worker receives ``message`` (buffered while it is busy)."""
        if self.message >= 0:
            self.buffer.append((message, row, receipt))
            return
        self.message = message
        self.row = row
        self.receipt = receipt
        pool = self.pool
        env = pool.env
        pool.d_started[row] = env._now
        service = pool.service()
        if pool.faults is None:
            Timeout(env, service).callbacks.append(self._finished)
            return
        at, outcome = pool.decide(message, service)
        gen = self.gen
        Timeout(env, at).callbacks.append(lambda _e: self._resolve(gen, outcome))

    def _resolve(self, gen: int, outcome: str) -> None:
        if gen != self.gen:
            return  # this worker crashed meanwhile: that processing never ends
        if outcome == "done":
            self._finished(None)
        elif outcome == "dedupe":
            self._deduplicated()
        elif outcome == "crash":
            self.crash()
        else:
            self._failed(Loss.FAILURE)

    # -- success --------------------------------------------------------------------------------
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
        if self.down:
            return
        pool = self.pool
        down = pool.downstream
        assert down is not None
        rec = pool.rec
        request = pool.m_request[self.message]
        stage = pool.m_stage[self.message] + 1
        now = pool.env._now
        while self.pending:
            if not down.has_room():
                gen = self.gen
                self.attempt = lambda: self._publish_children() if gen == self.gen else down.pass_wake()
                down.space_waiters.append(self.attempt)
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
        self._next()

    def _next(self) -> None:
        """Free again: start the next prefetched delivery, then hand the credit back to the broker."""
        self.message = -1
        if self.buffer:
            self.start(*self.buffer.popleft())
        self.pool.upstream.take(self)

    # -- faults ---------------------------------------------------------------------------------
    def _deduplicated(self) -> None:
        pool = self.pool
        pool.d_finished[self.row] = pool.env._now
        pool.d_status[self.row] = Delivery.DEDUPED
        pool.upstream.ack(self.message, self.receipt)
        pool.deduplicated += 1
        self._next()

    def _failed(self, reason: Loss) -> None:
        pool = self.pool
        pool.d_finished[self.row] = pool.env._now
        pool.d_status[self.row] = Delivery.FAILED
        pool.failures += 1
        pool.upstream.nack(self.message, self.receipt, reason)
        self._next()

    def crash(self) -> None:
        """The worker dies: what it holds goes back to the broker's semantics; back after ``restart``."""
        if self.down:
            return
        pool = self.pool
        self.gen += 1
        self.down = True
        pool.crashes += 1
        held: list[Held] = list(self.buffer)
        if self.message >= 0:
            held.insert(0, (self.message, self.row, self.receipt))
            if pool.d_finished[self.row] != pool.d_finished[self.row]:  # NaN: it died mid-processing
                pool.d_finished[self.row] = pool.env._now
            if self.pending and pool.downstream is not None and self.attempt is not None:
                try:  # it was blocked on a full downstream queue: withdraw that wait
                    pool.downstream.space_waiters.remove(self.attempt)
                except ValueError:
                    pass  # already woken: the stale call hands the wake-up on (Broker.pass_wake)
        for _m, row, _r in held:
            pool.d_status[row] = Delivery.CRASHED
        self.buffer.clear()
        self.message = -1
        self.pending = 0
        pool.upstream.forget_consumer(self)
        pool.upstream.consumer_lost(held)
        assert pool.faults is not None
        Timeout(pool.env, pool.faults.restart).callbacks.append(lambda _e: self._restart())

    def _restart(self) -> None:
        self.down = False
        pool = self.pool
        if pool.faults is not None and pool.faults.mtbf:
            pool.arm_clock(self)
        for _ in range(pool.credits):
            pool.upstream.take(self)


@dataclass(frozen=True)
class PoolStats:
    """What a pool counted over a run: processings finished (duplicates included), crashes, failures, dedupes."""

    completed: int
    crashes: int
    failures: int
    deduplicated: int


class Pool:
    """A pool of ``count`` identical workers reading one queue.

    Each worker holds up to ``upstream.prefetch`` deliveries (RabbitMQ's prefetch; 1 elsewhere).
    """

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
        faults: Faults | None = None,
    ) -> None:
        self.env = env
        self.index = index
        self.name = name
        self.upstream = upstream
        self.service = service
        self.downstream = downstream
        self.fanout = fanout
        self.rec = rec
        self.credits = upstream.prefetch  # deliveries a worker may hold unacknowledged
        self.faults = faults
        self.completed = 0  # processings finished, duplicates included
        self.crashes = 0
        self.failures = 0
        self.deduplicated = 0
        self.poisoned: set[int] = set()
        self.d_finished = rec.deliveries["finished"]
        self.d_status = rec.deliveries["status"]
        self.d_started = rec.deliveries["started"]
        self.m_request = rec.messages["request"]
        self.m_stage = rec.messages["stage"]
        self.m_attempts = rec.messages["attempts"]
        self.m_processings = rec.messages["processings"]
        self.m_receives = rec.messages["receives"]
        self.m_poison = rec.messages["poison"]
        self.workers = [Consumer(first_wid + i, self) for i in range(count)]

    def stats(self) -> PoolStats:
        """What this pool counted over the run."""
        return PoolStats(self.completed, self.crashes, self.failures, self.deduplicated)

    def decide(self, message: int, service: float) -> tuple[float, str]:
        """When this processing ends and how: done, dedupe, crash or fail."""
        f = self.faults
        assert f is not None
        if f.idempotent and self.m_processings[message] > 0:
            return f.dedupe, "dedupe"
        if f.poison and self._is_poison(message):
            outcome = "fail"
        elif f.crash and f.uniform() < f.crash:
            return f.uniform() * service, "crash"  # dies part-way through the message
        elif f.failure and f.uniform() < f.failure:
            outcome = "fail"
        else:
            outcome = "done"
        if f.timeout is not None and service > f.timeout:
            return f.timeout, "fail"  # abandoned when the timeout fires
        return service, outcome

    def _is_poison(self, message: int) -> bool:
        # a property of the message, drawn once when this pool first sees it
        if message in self.poisoned:
            return True
        assert self.faults is not None
        if self.m_receives[message] <= 1 and not self.m_poison[message]:
            if self.faults.poison_uniform() < self.faults.poison:
                self.poisoned.add(message)
                self.m_poison[message] = 1
                return True
        return False

    def arm_clock(self, worker: Consumer) -> None:
        """The next mtbf crash of one worker."""
        assert self.faults is not None
        gen = worker.gen
        Timeout(self.env, self.faults.clock()).callbacks.append(
            lambda _e: worker.crash() if worker.gen == gen and not worker.down else None
        )

    def start(self) -> None:
        for w in self.workers:
            if self.faults is not None and self.faults.mtbf:
                self.arm_clock(w)
            for _ in range(self.credits):
                self.upstream.take(w)
