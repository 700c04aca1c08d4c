"""Worker pools: each worker is a small state machine driven by SimPy event callbacks.

A worker takes the oldest waiting message, processes it for a drawn service time, publishes its
fan-out downstream (holding the finished message while the downstream queue is full: back pressure),
acknowledges it upstream, and asks for the next one. Callbacks instead of one SimPy process per
worker (or per message) keep the per-message cost to one scheduled event.

Faults (:mod:`queuesim.sim.worker_faults`) decide how a processing ends: it may crash the worker,
fail, be abandoned at a timeout, or be skipped by an idempotent worker; the broker decides what
becomes of the message in hand. A crashed worker is back after ``restart``.

The hot path reads SimPy's ``env._now``: the public ``env.now`` is a property, about 35 ns more
per read, a few percent of a message's whole cost (see :mod:`queuesim.sim.broker`).
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simpy import Environment
from simpy.events import Timeout

from queuesim.records import NAN, Delivery, Loss, Outcome
from queuesim.scenario.model import ServicePer
from queuesim.sim.kernel import after
from queuesim.sim.recorder import Recorder
from queuesim.sim.worker_faults import CRASH, DEDUPE, DONE, Faults

if TYPE_CHECKING:
    from queuesim.sim.autoscale import Capacity
    from queuesim.sim.broker import Broker, Held
    from queuesim.sim.screen import Screen

_HELD, _COMPLETED = int(Delivery.HELD), int(Outcome.COMPLETED)  # hot path: plain ints


@dataclass(frozen=True)
class PoolStats:
    """What a pool counted over a run: processings finished (duplicates included), crashes, failures, dedupes."""

    completed: int
    crashes: int
    failures: int
    deduplicated: int


class Consumer:
    """One worker of a pool."""

    __slots__ = ("attempt", "buffer", "down", "gen", "message", "off", "pending", "pool", "receipt", "retiring", "row", "wid")

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
        # elastic pools (queuesim.sim.autoscale): not provisioned, or stopping once it holds nothing
        self.off = False
        self.retiring = False

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
        if pool.screen is not None:
            verdict = pool.screen.verdict(message, env._now, pool.drop_expired)
            if verdict is not None:
                self._drop(*verdict)
                return
        sizes = pool.sizes
        if sizes is None:
            service = pool.service()  # service_per: attempt, a fresh draw per delivery
        else:
            service = sizes[message]
            if service != service:  # NaN: the first processing of this message at this pool
                service = sizes[message] = pool.service()
        faults = pool.faults
        if faults is None:
            after(env, service, self._finished)
            return
        at, outcome = faults.decide(message, service)
        gen = self.gen
        Timeout(env, at).callbacks.append(lambda _e: self._resolve(gen, outcome))

    def _resolve(self, gen: int, outcome: int) -> None:
        if gen != self.gen:
            return  # this worker crashed meanwhile: that processing never ends
        if outcome == DONE:
            self._finished()
        elif outcome == DEDUPE:
            self._deduplicated()
        elif outcome == CRASH:
            self.crash()
        else:
            self._failed(Loss.FAILURE)

    # -- success --------------------------------------------------------------------------------
    def _finished(self) -> None:
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
                self.attempt = self._waiter(self.gen, down)
                down.space_waiters.append(self.attempt)
                return
            child = rec.new_message(request, down.index, stage, now)
            pool.m_attempts[child] = 1
            down.publish(child)
            self.pending -= 1
        self._acknowledge(now)

    def _waiter(self, gen: int, down: Broker) -> Callable[[], None]:
        """Called when ``down`` has room again: resume publishing, unless this worker crashed meanwhile."""

        def woken() -> None:
            if gen == self.gen:
                self._publish_children()
            else:
                down.pass_wake()  # the wake-up was meant for a live publisher: hand it on

        return woken

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
        self._free()

    def _free(self) -> None:
        """The message in hand is done: stop if retiring, else the next prefetched delivery and a credit back."""
        if self.retiring:  # being stopped: it finishes what it holds, takes nothing new
            capacity = self.pool.capacity
            assert capacity is not None
            capacity.drained(self)
            return
        if self.buffer:
            self.start(*self.buffer.popleft())
        self.pool.upstream.take(self)

    def _drop(self, status: int, outcome: int) -> None:
        """Drop the message unprocessed (its client's deadline passed, or it was cancelled; queuesim.sim.screen)."""
        pool = self.pool
        now = pool.env.now
        pool.d_finished[self.row] = now
        pool.upstream.ack(self.message, self.receipt)  # delete it: it must not come back
        pool.d_status[self.row] = status
        pool.rec.settle(self.message, outcome, now, self.wid)
        # next message from a zero-delay event: a queue full of stale messages must not recurse.
        # Until then the worker still counts as busy, so a prefetched delivery waits in its buffer.
        gen = self.gen
        Timeout(pool.env, 0).callbacks.append(lambda _e: self._next() if gen == self.gen else None)

    # -- faults ---------------------------------------------------------------------------------
    def _deduplicated(self) -> None:
        pool = self.pool
        pool.d_finished[self.row] = pool.env.now
        pool.d_status[self.row] = Delivery.DEDUPED
        pool.upstream.ack(self.message, self.receipt)
        pool.deduplicated += 1
        self._next()

    def _failed(self, reason: Loss) -> None:
        pool = self.pool
        pool.d_finished[self.row] = pool.env.now
        pool.d_status[self.row] = Delivery.FAILED
        pool.failures += 1
        pool.upstream.nack(self.message, self.receipt, reason)
        self._next()

    def crash(self, clock: bool = False) -> None:
        """The worker dies: what it holds goes back to the broker's semantics; back after ``restart``.

        ``clock``: the crash came from the worker's own clock (``mtbf``), not from the message in hand.
        """
        if self.down or self.off:
            return
        pool = self.pool
        self.gen += 1
        self.down = True
        pool.crashes += 1
        pool.crashed_at.append(pool.env.now)
        pool.crashed_by_clock.append(clock)
        self._let_go()
        assert pool.faults is not None, "only a fault crashes a worker"
        Timeout(pool.env, pool.faults.restart).callbacks.append(lambda _e: self._restart())

    def abandon(self) -> None:
        """Stop at once (an autoscaler's scale-in past its grace period): what it holds goes back to the
        broker's semantics exactly as in a crash (redelivered when at-least-once, lost otherwise), but
        it is no crash and there is no restart."""
        self.gen += 1
        self._let_go()

    def _let_go(self) -> None:
        """Hand everything this worker holds back to the broker, as a dead worker does (its life's callbacks are stale)."""
        pool = self.pool
        held: list[Held] = list(self.buffer)
        if self.message >= 0:
            held.insert(0, (self.message, self.row, self.receipt))
            if pool.d_finished[self.row] != pool.d_finished[self.row]:  # NaN: it died mid-processing
                pool.d_finished[self.row] = pool.env.now
            if self.pending and pool.downstream is not None and self.attempt is not None:
                # it was blocked on a full downstream queue: withdraw that wait (if already woken,
                # the stale call hands the wake-up on: Broker.pass_wake)
                with suppress(ValueError):
                    pool.downstream.space_waiters.remove(self.attempt)
        for _m, row, _r in held:
            pool.d_status[row] = Delivery.CRASHED
        self.buffer.clear()
        self.message = -1
        self.pending = 0
        pool.upstream.forget_consumer(self)
        pool.upstream.consumer_lost(held)

    def _restart(self) -> None:
        self.down = False
        pool = self.pool
        if self.off:
            return  # stopped while it was down
        if self.retiring:
            assert pool.capacity is not None
            pool.capacity.drained(self)
            return
        if pool.faults is not None:
            pool.faults.arm(self)
        for _ in range(pool.credits):
            pool.upstream.take(self)


class OverheadConsumer(Consumer):
    """A worker that spends a drawn ``overhead`` on each delivery before its handler starts.

    The overhead stands for what a real worker does around the handler (poll, deserialise,
    acknowledge): it holds the worker and the message, so a crash during it treats the message as
    in hand, but it is not service time. The delivery row keeps it in ``overhead``; ``started``
    is when the handler started, so the worker was busy from ``started - overhead``.
    """

    __slots__ = ("taken",)

    def __init__(self, wid: int, pool: Pool) -> None:
        super().__init__(wid, pool)
        self.taken = 0.0  # when the delivery in hand was taken: its overhead began

    def start(self, message: int, row: int, receipt: int) -> None:
        if self.message >= 0:
            self.buffer.append((message, row, receipt))
            return
        self.message = message
        self.row = row
        self.receipt = receipt
        pool = self.pool
        assert pool.overhead is not None
        overhead = pool.overhead()
        pool.d_overhead[row] = overhead
        self.taken = pool.env._now
        gen = self.gen
        Timeout(pool.env, overhead).callbacks.append(lambda _e: self._handle(gen, message, row, receipt))

    def _handle(self, gen: int, message: int, row: int, receipt: int) -> None:
        if gen != self.gen:
            return  # the worker crashed during the overhead
        # the overhead is over: the handler starts exactly as a delivery to a free plain worker does
        self.message = -1
        Consumer.start(self, message, row, receipt)

    def _let_go(self) -> None:
        pool = self.pool
        if self.message >= 0 and pool.d_started[self.row] != pool.d_started[self.row]:
            # it died during the overhead (the handler had not started): busy from taken to now
            now = pool.env.now
            pool.d_overhead[self.row] = now - self.taken
            pool.d_started[self.row] = now
        super()._let_go()


class Pool:
    """A pool of ``count`` identical workers reading one queue.

    Each worker holds up to ``upstream.prefetch`` deliveries (RabbitMQ's prefetch; 1 elsewhere).
    With ``service_per="message"`` a message takes the same service time at every delivery to
    this pool (its job size, drawn at its first processing here); ``"attempt"`` draws afresh
    for each delivery. First processings draw from ``service`` in the same order either way.
    With ``overhead`` each delivery first holds its worker for a drawn overhead
    (:class:`OverheadConsumer`).
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
        service_per: ServicePer = "message",
        overhead: Callable[[], float] | None = None,
        screen: Screen | None = None,
        drop_expired: bool = False,
    ) -> None:
        self.env = env
        self.index = index
        self.name = name
        self.upstream = upstream
        self.service = service
        # service_per: message: a message's job size, drawn at its first processing here and
        # reused by every redelivery (NaN: not drawn yet). A column indexed by message id that
        # grows with the messages table, so the hot loop pays one index read and no Python object.
        self.sizes = rec.messages.attach("d", NAN) if service_per == "message" else None
        self.downstream = downstream
        self.fanout = fanout
        self.rec = rec
        self.credits = upstream.prefetch  # deliveries a worker may hold unacknowledged
        self.faults = faults
        # what a worker checks before starting on a message (cancelled copies, expired deadlines)
        self.screen = screen
        self.drop_expired = drop_expired
        self.completed = 0  # processings finished, duplicates included
        self.crashes = 0
        self.failures = 0
        self.deduplicated = 0
        # every crash: when, and whether the mtbf clock caused it (not the message in hand)
        self.crashed_at = array("d")
        self.crashed_by_clock = array("b")
        self.d_finished = rec.deliveries["finished"]
        self.d_status = rec.deliveries["status"]
        self.d_started = rec.deliveries["started"]
        self.d_overhead = rec.deliveries["overhead"]
        self.m_request = rec.messages["request"]
        self.m_stage = rec.messages["stage"]
        self.m_attempts = rec.messages["attempts"]
        self.m_processings = rec.messages["processings"]
        self.overhead = overhead  # draws of the per-delivery overhead; None: no overhead (the fast path)
        kind = Consumer if overhead is None else OverheadConsumer
        self.workers = [kind(first_wid + i, self) for i in range(count)]
        self.capacity: Capacity | None = None  # an elastic pool's live count (queuesim.sim.autoscale); None: all run

    def stats(self) -> PoolStats:
        """What this pool counted over the run."""
        return PoolStats(self.completed, self.crashes, self.failures, self.deduplicated)

    def downtime(self) -> dict[str, list[list[float]]]:
        """[down, back] of every crash: ``per_message`` (a crash of the processing in hand: work that
        message caused) and ``clock`` (an ``mtbf`` crash: capacity the pool lost)."""
        restart = self.faults.restart if self.faults is not None else 0.0
        out: dict[str, list[list[float]]] = {"per_message": [], "clock": []}
        for at, clock in zip(self.crashed_at, self.crashed_by_clock, strict=True):
            out["clock" if clock else "per_message"].append([at, at + restart])
        return out

    def start(self) -> None:
        if self.capacity is not None:
            self.capacity.start()
            return
        for w in self.workers:
            self.serve(w)

    def serve(self, w: Consumer) -> None:
        """A worker starts serving: its fault clocks are set and it asks the broker for work."""
        if self.faults is not None:
            self.faults.arm(w)
        for _ in range(self.credits):
            self.upstream.take(w)


__all__ = ["Consumer", "OverheadConsumer", "Pool", "PoolStats"]
