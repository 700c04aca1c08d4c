"""Celery workers: instances that reserve tasks, run them on a few pool processes, and acknowledge early or late.

A :class:`CeleryNode` is one ``celery worker`` instance. It holds ``prefetch_multiplier ×
concurrency`` *credits* (:class:`Ticket`), each parked at the broker like a consumer's credit; a
delivered task is *reserved* in the node (``celery inspect reserved``), and its ``concurrency``
processes take reserved tasks in arrival order as they free up (``-O fair``, the default since
Celery 4). Reserved tasks wait in the worker, not the broker: behind a long task they wait even
when another worker is idle, and a later high-priority message cannot pass them.

Acknowledgement (``acks_late``):

* early (the default): a task is acked as a process starts it, which frees its credit (so a
  worker with ``prefetch_multiplier: 1`` reserves one more task per busy process, as Celery's
  docs warn). A crash loses the running tasks; reserved ones were never acked and come back.
* late: acked when it ends (success or failure), so the credit stays taken while it runs; a crash
  returns every task, running ones included, which then run twice.

A task with an ETA (a producer's ``countdown``, or a retry's) is reserved unacknowledged until its
ETA, and Celery raises the prefetch limit while it waits, so it holds no credit. On Redis
(Kombu's transport) an unacknowledged task comes back after the visibility timeout and another
worker reserves it too: an ETA beyond the timeout runs once per timeout that passed, the trap of
Celery's Redis docs.

A node crash (``crash``, ``mtbf``: the whole instance dies, as an OOM-killed container does)
takes every process down; the broker decides what becomes of the unacknowledged tasks (RabbitMQ
requeues at once, Redis after the visibility timeout). A failed task is acked and lost, or retried
(``celery.retry``): a new message with an ETA goes back through the broker and the old one is
settled, its work continued by the retry. ``soft_time_limit`` fails a task (retryable),
``time_limit`` kills its process (not retried).

Each process is a worker id of its own in the records (``deliveries.worker`` is the process that
ran the task; a reserved task never started names the node's first process).
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from simpy import Environment
from simpy.events import Timeout

from queuesim.records import NAN, Delivery, Loss, Outcome
from queuesim.scenario.celery import CelerySettings
from queuesim.scenario.model import ServicePer
from queuesim.sim.recorder import Recorder
from queuesim.sim.worker import PoolStats
from queuesim.sim.worker_faults import CRASH, DEDUPE, DONE, Faults

if TYPE_CHECKING:
    from queuesim.sim.broker import Broker, Held

_DONE_STATUS, _COMPLETED = int(Delivery.DONE), int(Outcome.COMPLETED)
#: How a processing ends beyond worker_faults' codes: failed at the soft time limit (retryable), killed at the hard one (not).
SOFT_LIMIT, HARD_LIMIT = 10, 11


class Ticket:
    """One prefetch credit of a node, parked at a broker (at each of them, for a node reading several) as a consumer's credit is."""

    __slots__ = ("node", "parked", "wid")

    def __init__(self, node: CeleryNode) -> None:
        self.node = node
        self.wid = node.wid
        self.parked = False  # waiting in the idle deque of every queue the node reads

    def start(self, message: int, row: int, receipt: int) -> None:
        """Called by the broker: a task is delivered against this credit."""
        self.node.received(self, message, row, receipt)


class Task:
    """A delivery a node holds: reserved, waiting for its ETA, or running."""

    __slots__ = ("acked", "broker", "message", "receipt", "row", "ticket")

    def __init__(self, message: int, row: int, receipt: int, broker: Broker, ticket: Ticket | None) -> None:
        self.message = message
        self.row = row
        self.receipt = receipt
        self.broker = broker
        self.ticket = ticket  # the credit it holds; None once given back (acked early, or an ETA task)
        self.acked = False


class CeleryNode:
    """One Celery worker instance: ``concurrency`` processes, its reserved tasks and its credits."""

    def __init__(self, pool: CeleryPool, first_wid: int) -> None:
        self.pool = pool
        self.wid = first_wid
        self.wids = list(range(first_wid, first_wid + pool.settings.concurrency))
        self.running: list[Task | None] = [None] * pool.settings.concurrency  # per process
        self.reserved: deque[Task] = deque()
        self.scheduled: set[Task] = set()  # waiting for their ETA
        self.gen = 0  # bumped by a crash: callbacks of the old life are ignored
        self.down = False
        self.order = list(pool.upstreams)  # the queues in the order the next free credit polls them
        # credits freed while a credit is being offered (an ETA task frees its own at once): offered
        # after it, in a loop, so a backlog of ETA tasks is reserved without recursion
        self.freed: deque[Ticket] = deque()
        self.offering = False

    # -- credits --------------------------------------------------------------------------------
    def open_credits(self) -> None:
        """Offer every credit of the window to the broker (at start and after a restart)."""
        for _ in range(self.pool.settings.window):
            self.offer(Ticket(self))

    def offer(self, ticket: Ticket) -> None:
        """A free credit asks for a task: from the one queue, or polling several in turn, else parked at each."""
        if self.offering:
            self.freed.append(ticket)  # a delivery against another credit freed this one: next, in the loop below
            return
        self.offering = True
        try:
            self._offer(ticket)
            while self.freed:
                self._offer(self.freed.popleft())
        finally:
            self.offering = False

    def _offer(self, ticket: Ticket) -> None:
        order = self.order
        if len(order) == 1:
            order[0].take(ticket)
            return
        for broker in order:
            if broker.try_take(ticket):
                return
        ticket.parked = True
        for broker in order:
            broker.take(ticket)  # nothing waits anywhere (just polled): each parks it

    # -- delivery -------------------------------------------------------------------------------
    def received(self, ticket: Ticket, message: int, row: int, receipt: int) -> None:
        pool = self.pool
        now = pool.env._now
        broker = pool.upstream if len(self.order) == 1 else self._came_from(ticket, message)
        task = Task(message, row, receipt, broker, ticket)
        eta = pool.eta(message)
        if eta > now:
            # an ETA task: Celery raises the prefetch limit for it, so the credit is free at once
            task.ticket = None
            self.scheduled.add(task)
            gen = self.gen
            Timeout(pool.env, eta - now).callbacks.append(lambda _e: self._due(gen, task))
            self.offer(ticket)
            return
        self.reserved.append(task)
        self._dispatch()

    def _came_from(self, ticket: Ticket, message: int) -> Broker:
        """The queue that delivered ``message`` to a node reading several; its credit leaves the others' idle lists."""
        broker = self.pool.by_index[self.pool.m_queue[message]]
        if ticket.parked:
            ticket.parked = False
            for other in self.order:
                if other is not broker:
                    other.forget_consumer(ticket)
        if self.pool.settings.queue_order == "round_robin":
            self.order.remove(broker)  # Kombu rotates the queue that yielded a message to the end
            self.order.append(broker)
        return broker

    def _due(self, gen: int, task: Task) -> None:
        if gen != self.gen:
            return
        self.scheduled.discard(task)
        self.reserved.append(task)
        self._dispatch()

    def _dispatch(self) -> None:
        running = self.running
        while self.reserved:
            try:
                slot = running.index(None)
            except ValueError:
                return
            self._run(slot, self.reserved.popleft())

    def _run(self, slot: int, task: Task) -> None:
        pool = self.pool
        env = pool.env
        now = env._now
        self.running[slot] = task
        message, row = task.message, task.row
        pool.d_started[row] = now
        pool.d_worker[row] = self.wids[slot]
        if not pool.settings.acks_late:
            self._ack(task)  # acked just before it runs
        service = pool.size(message)
        at, outcome = pool.faults.decide(message, service) if pool.faults is not None else (service, DONE)
        at, outcome = pool.limited(at, outcome, service)
        gen = self.gen
        Timeout(env, at).callbacks.append(lambda _e: self._ended(gen, slot, task, outcome))

    def _ack(self, task: Task) -> None:
        task.acked = True
        self.pool.d_status[task.row] = task.broker.ack(task.message, task.receipt)
        ticket = task.ticket
        if ticket is not None:
            task.ticket = None
            self.offer(ticket)

    # -- endings --------------------------------------------------------------------------------
    def _ended(self, gen: int, slot: int, task: Task, outcome: int) -> None:
        if gen != self.gen:
            return  # the node crashed meanwhile
        if outcome == CRASH:
            self.crash()
            return
        pool = self.pool
        now = pool.env._now
        message, row = task.message, task.row
        pool.d_finished[row] = now
        late = not task.acked
        if late:
            self._ack(task)  # acks_late: after it ran, success or failure
        if outcome == DONE:
            pool.m_processings[message] += 1
            pool.rec.settle(message, _COMPLETED, now, self.wids[slot])
            pool.completed += 1
        elif outcome == DEDUPE:
            pool.d_status[row] = Delivery.DEDUPED
            pool.deduplicated += 1
        else:
            pool.d_status[row] = Delivery.FAILED
            pool.failures += 1
            if outcome == HARD_LIMIT or not pool.retry(task.broker, message, now):
                pool.rec.lose(message, Loss.FAILURE, now)
        self.running[slot] = None
        self._dispatch()

    def crash(self, clock: bool = False) -> None:
        """The instance dies with every process; its unacknowledged tasks go back to the broker's semantics."""
        if self.down:
            return
        pool = self.pool
        now = pool.env.now
        self.gen += 1
        self.down = True
        pool.crashes += 1
        pool.crashed_at.append(now)
        pool.crashed_by_clock.append(clock)
        held: list[Held] = []
        for slot, task in enumerate(self.running):
            if task is None:
                continue
            if pool.d_finished[task.row] != pool.d_finished[task.row]:  # NaN: it died mid-processing
                pool.d_finished[task.row] = now
            pool.d_status[task.row] = Delivery.CRASHED
            if task.acked:
                pool.rec.lose(task.message, Loss.WORKER_CRASH, now)  # early ack: the broker has no copy
            else:
                held.append((task.message, task.row, task.receipt))
            self.running[slot] = None
        for task in (*self.reserved, *self.scheduled):
            pool.d_status[task.row] = Delivery.CRASHED
            held.append((task.message, task.row, task.receipt))
        self.reserved.clear()
        self.scheduled.clear()
        self.freed.clear()
        for broker in pool.upstreams:
            broker.idle = deque(c for c in broker.idle if not (isinstance(c, Ticket) and c.node is self))
        if len(pool.upstreams) == 1:
            pool.upstream.consumer_lost(held)
        else:
            for broker in pool.upstreams:
                broker.consumer_lost([h for h in held if pool.m_queue[h[0]] == broker.index])
        assert pool.faults is not None, "only a fault crashes a worker"
        Timeout(pool.env, pool.faults.restart).callbacks.append(lambda _e: self._restart())

    def _restart(self) -> None:
        self.down = False
        pool = self.pool
        if pool.faults is not None:
            pool.faults.arm(self)
        self.open_credits()


class CeleryPool:
    """``count`` Celery worker instances reading one queue (:class:`CeleryNode`), with the pool's faults.

    Parameters are those of :class:`~queuesim.sim.worker.Pool`, plus the ``celery:`` settings, the
    ETA countdown of each producer (by index; 0 for none) and a uniform stream for retry jitter.
    """

    def __init__(
        self,
        env: Environment,
        index: int,
        name: str,
        first_wid: int,
        count: int,
        upstreams: Sequence[Broker],
        service: Callable[[], float],
        rec: Recorder,
        settings: CelerySettings,
        *,
        countdowns: Sequence[float] = (),
        uniform: Callable[[], float] = lambda: 0.5,
        faults: Faults | None = None,
        service_per: ServicePer = "message",
    ) -> None:
        self.env = env
        self.index = index
        self.name = name
        self.upstreams = list(upstreams)  # Celery's -Q a,b: in the order given
        self.upstream = self.upstreams[0]
        self.by_index = {b.index: b for b in self.upstreams}
        self.service = service
        self.rec = rec
        self.settings = settings
        self.faults = faults
        self.uniform = uniform
        self.countdowns = list(countdowns)
        self.sizes = rec.messages.attach("d", NAN) if service_per == "message" else None
        self.etas = rec.messages.attach("d", NAN)  # a retry's ETA (NaN: none, or the producer's countdown)
        self.retries = rec.messages.attach("i", 0)  # retries before this message (Celery's request.retries)
        self.completed = self.crashes = self.failures = self.deduplicated = 0
        self.crashed_at = array("d")
        self.crashed_by_clock = array("b")
        d, m = rec.deliveries, rec.messages
        self.d_finished, self.d_status, self.d_started, self.d_worker = d["finished"], d["status"], d["started"], d["worker"]
        self.m_processings, self.m_accepted, self.m_stage, self.m_request = m["processings"], m["accepted"], m["stage"], m["request"]
        self.m_attempts, self.m_queue = m["attempts"], m["queue"]
        self.r_producer = rec.requests["producer"]
        self.nodes = [CeleryNode(self, first_wid + i * settings.concurrency) for i in range(count)]

    # -- what a task costs and when it may run ---------------------------------------------------
    def size(self, message: int) -> float:
        """The task's service time: its job size (drawn at its first processing here) or a fresh draw."""
        sizes = self.sizes
        if sizes is None:
            return self.service()
        service: float = sizes[message]
        if service != service:  # NaN: not drawn yet
            service = sizes[message] = self.service()
        return service

    def eta(self, message: int) -> float:
        """When the task may start: a retry's ETA, or its accepted publish + its producer's countdown; -inf for now."""
        eta: float = self.etas[message]
        if eta == eta:
            return eta
        if self.countdowns and not self.m_stage[message]:
            countdown = self.countdowns[self.r_producer[self.m_request[message]]]
            if countdown:
                eta = self.etas[message] = self.m_accepted[message] + countdown
                return eta
        return -math.inf

    def limited(self, at: float, outcome: int, service: float) -> tuple[float, int]:
        """The ending under the time limits: the soft one fails the task, the hard one kills its process."""
        s = self.settings
        if outcome == CRASH:
            return at, outcome
        if s.soft_time_limit is not None and at > s.soft_time_limit:
            return s.soft_time_limit, SOFT_LIMIT  # SoftTimeLimitExceeded raised in the task: a failure
        if s.time_limit is not None and at > s.time_limit:
            return s.time_limit, HARD_LIMIT
        return at, outcome

    # -- retries ---------------------------------------------------------------------------------
    def retry(self, broker: Broker, message: int, now: float) -> bool:
        """``self.retry()``: publish the task again with an ETA; False when out of retries (or none configured)."""
        policy = self.settings.retry
        done = self.retries[message]
        if policy is None or (policy.max_retries is not None and done >= policy.max_retries):
            return False
        factor = policy.factor
        if factor is None:
            delay = policy.countdown
        else:
            delay = min(policy.backoff_max, factor * 2.0**done)
            if policy.jitter:
                delay = float(math.floor(self.uniform() * (math.floor(delay) + 1)))  # random.randrange(countdown + 1)
        rec = self.rec
        copy = rec.new_message(self.m_request[message], broker.index, self.m_stage[message], now)
        self.m_attempts[copy] = 1
        self.retries[copy] = done + 1
        self.etas[copy] = now + delay
        if self.sizes is not None:
            self.sizes[copy] = self.sizes[message]  # the same task, the same work
        rec.settle(message, _COMPLETED, now)  # acked and gone: the retry carries the request on
        if not broker.publish(copy):
            rec.reject(copy, now)
            rec.lose(copy, Loss.FAILURE, now)  # Celery's retry raises when the publish fails
        return True

    # -- the Pool interface used by the engine ---------------------------------------------------
    def stats(self) -> PoolStats:
        """What this pool counted over the run."""
        return PoolStats(self.completed, self.crashes, self.failures, self.deduplicated)

    def downtime(self) -> dict[str, list[list[float]]]:
        """[down, back] of every crash, as :meth:`queuesim.sim.worker.Pool.downtime`."""
        restart = self.faults.restart if self.faults is not None else 0.0
        out: dict[str, list[list[float]]] = {"per_message": [], "clock": []}
        for at, clock in zip(self.crashed_at, self.crashed_by_clock, strict=True):
            # an instance takes its processes down with it: one span per process
            out["clock" if clock else "per_message"].extend([[at, at + restart]] * self.settings.concurrency)
        return out

    def start(self) -> None:
        for node in self.nodes:
            if self.faults is not None:
                self.faults.arm(node)
            node.open_credits()


__all__ = ["HARD_LIMIT", "SOFT_LIMIT", "CeleryNode", "CeleryPool", "Task", "Ticket"]
