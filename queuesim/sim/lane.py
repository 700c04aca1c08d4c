"""The short path of a queue read by one plain pool: publish, deliver and start in one call; finish, ack and take in another.

A message crosses four layers on its way to a worker: the broker's ``publish``, its ``_arrive``
and ``_deliver``, then the worker's ``start``; at its service's end, the worker's ``_finished``,
its downstream publishes, the broker's ``ack``, the recorder's ``settle`` and the broker's
``take`` for the next one. Each layer checks for what it handles (an outage, a full queue, expired
or deleted entries, a blocked publisher, prefetch buffers, faults, overhead, a screen), and in
most scenarios none of them happens to most messages. A :class:`Lane` installs, on one broker
instance, a ``publish`` and a ``take`` that do what those layers do when there is nothing to
handle, schedules its own service end, and hands every other case to the components' own
methods: the same record writes in the same order, the same draws and the same SimPy event ids,
so a run is bit for bit the run without lanes (``tests/sim/test_lane.py`` compares every record
column). Python calls are most of the engine's cost: this removes about half of them per message.

A lane is installed only where the whole path is the plain one (:func:`lane_for`): the broker
kind keeps the base class's publish, arrival, delivery and take (its ``_admit`` and ``ack`` are
still called: SQS hides the message, a tracked Redis list logs it), no broker latency, ttl or
priorities, one credit per worker, and exactly one pool reading the queue, without faults,
overhead, screen or autoscaling. What can change during a run (an outage, a deleted entry, a
blocked publisher) is checked at each call and sends that call down the general path.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from functools import partial
from heapq import heappush

from simpy.events import NORMAL

from queuesim.records import Delivery, Outcome
from queuesim.sim.broker import Broker
from queuesim.sim.redelivery import AtLeastOnce
from queuesim.sim.worker import Consumer, Pool

__all__ = ["Lane", "lane_for"]

_IN_SERVICE, _DONE, _HELD = int(Delivery.IN_SERVICE), int(Delivery.DONE), int(Delivery.HELD)  # hot path: plain ints
_COMPLETED = int(Outcome.COMPLETED)


class Lane:
    """The fused publish, delivery, finish and take of one broker and the one plain pool reading it."""

    def __init__(self, broker: Broker, pool: Pool) -> None:
        self.broker = broker
        self.pool = pool
        env = broker.env
        self._env, self._queue, self._eid = env, env._queue, env._eid
        # the general path, for every call the lane does not handle itself
        self._publish = broker.publish
        self._take = broker.take
        self._deliver_general = broker._deliver
        # the kind's hooks, None where they do nothing (the base class's, or an untracked Redis list's)
        self._admit = None if broker.admits_plainly() else broker._admit
        self._ack = None if broker.acks_plainly() else broker.ack
        # an at-least-once kind (SQS standard): the lane hides a receive and deletes its copy itself in
        # the common case (AtLeastOnce._admit, then Deadlines.add's ordered case; SqsBroker.ack's first case)
        self._hides = self._deletes = False
        if isinstance(broker, AtLeastOnce):
            self._copies = broker.hidden  # its copies in flight: message -> latest receipt
            self._hides, self._deletes = broker.hides_plainly(), broker.deletes_plainly()
            self._again, self._limit, self._redeliver = broker.visible_again, broker.limit, broker.redeliver_after
            deadlines = self._deadlines = broker.redeliveries
            self._due, self._armed = deadlines._deque, deadlines._armed
        rec = broker.rec
        self._rec = rec
        self._settle = rec.settle
        # the lane writes a delivery row (Recorder.spell) and settles a completed message (Recorder.settle)
        # itself: those two calls were a tenth of the engine's time; test_lane holds the copies to the originals
        self._deliveries = rec.deliveries
        d, m, r, b = rec.deliveries.cols, rec.messages.cols, rec.requests.cols, rec.bookkeeping.cols
        self._d_message, self._d_since, self._d_until, self._d_worker = d["message"], d["since"], d["until"], d["worker"]
        self._d_status, self._d_delivery, self._d_started, self._d_finished = (
            d["status"], d["delivery"], d["started"], d["finished"])
        self._m_outcome, self._m_done, self._m_worker = m["outcome"], m["done"], m["worker"]
        self._r_outcome, self._r_done, self._open, self._failed = r["outcome"], r["done"], b["open"], b["failed"]
        # settle's own copy only where no client hears of a settled message or request (producers are wired first)
        self._plain_settle = rec.watch is None and rec.request_watch is None
        self._accepted = rec.messages["accepted"]
        self._receives = rec.messages["receives"]
        self._processings = rec.messages["processings"]
        self._service = pool.service
        self._sizes = pool.sizes
        self._downstream, self._fanout = pool.downstream, pool.fanout
        self._m_request, self._m_stage, self._m_attempts = pool.m_request, pool.m_stage, pool.m_attempts
        # what each worker's service end calls
        self._first = pool.workers[0].wid if pool.workers else 0
        self._ends: list[Callable[[], None]] = [partial(self._finish, w) for w in pool.workers]

    def install(self) -> None:
        """Put the lane's publish and take on the broker instance: every publisher and worker then calls them."""
        self.broker.publish = self.publish  # type: ignore[method-assign]
        self.broker.take = self.take  # type: ignore[method-assign,assignment]

    def publish(self, message: int) -> bool:
        """:meth:`Broker.publish` with its arrival inlined; a down or full broker answers through its own."""
        b = self.broker
        if b.down or b.waiting >= b.capacity:
            return self._publish(message)
        now = self._env._now
        b.waiting += 1
        self._accepted[message] = now
        idle = b.idle
        if idle:
            consumer = idle.popleft()
            if not self._deliver(consumer, message, now):  # type: ignore[arg-type]
                idle.appendleft(consumer)  # it was dead-lettered instead: the credit stays free
        else:
            b.ready.append((message, now))
        return True

    def take(self, consumer: Consumer) -> None:
        """:meth:`Broker.take` for a free worker of the pool; a down broker answers through its own."""
        b = self.broker
        if b.down or b.space_waiters:
            self._take(consumer)
            return
        ready = b.ready
        while ready:
            message, since = ready.popleft()
            if self._deliver(consumer, message, since):
                return
        b.idle.append(consumer)

    def _deliver(self, consumer: Consumer, message: int, since: float) -> bool:
        """:meth:`Broker._deliver` and :meth:`Consumer.start`, for a free worker and a message with nothing to skip."""
        b = self.broker
        if b.gone or b.space_waiters or consumer.message >= 0:
            return self._deliver_general(consumer, message, since)
        b.waiting -= 1
        now = self._env._now
        receipt = self._receives[message] + 1
        admit = self._admit
        if admit is not None:
            if self._hides and not self._again and (self._limit is None or receipt <= self._limit):
                self._copies[message] = receipt  # AtLeastOnce._admit
                if self._redeliver is not None:  # Deadlines.add(now + redeliver_after, message, receipt)
                    self._due.append((now + self._redeliver, next(self._eid), message, receipt))
                    if not self._armed and not self._deadlines._firing:
                        self._deadlines._arm_head()
            elif not admit(message, since, now):
                return False
        table = self._deliveries  # Recorder.spell(message, since, now, consumer.wid, IN_SERVICE)
        row = table.n
        if row == table.capacity:
            table.grow()
        table.n = row + 1
        self._d_message[row] = message
        self._d_since[row] = since
        self._d_until[row] = now
        self._d_worker[row] = consumer.wid
        self._d_status[row] = _IN_SERVICE
        self._receives[message] = receipt
        self._d_delivery[row] = receipt
        # Consumer.start of a free plain worker
        consumer.message = message
        consumer.row = row
        consumer.receipt = receipt
        self._d_started[row] = now
        sizes = self._sizes
        if sizes is None:
            service = self._service()
        else:
            service = sizes[message]
            if service != service:  # NaN: the first processing of this message at this pool
                service = sizes[message] = self._service()
        end = self._ends[consumer.wid - self._first]
        heappush(self._queue, (now + service, NORMAL, next(self._eid), end))  # type: ignore[misc]  # kernel.after
        return True

    def _finish(self, consumer: Consumer) -> None:
        """:meth:`Consumer._finished`, with the downstream publishes, the broker's ack and the take inlined."""
        now = self._env._now
        row = consumer.row
        message = consumer.message
        self._d_finished[row] = now
        down = self._downstream
        if down is not None:  # Consumer._publish_children, until a full queue blocks the worker
            consumer.pending = self._fanout
            self._d_status[row] = _HELD
            rec = self._rec
            request = self._m_request[message]
            stage = self._m_stage[message] + 1
            while consumer.pending:
                # Broker.has_room's common case first, without its call
                if (down.down or down.waiting >= down.capacity) and not down.has_room():
                    consumer._publish_children()  # it waits for room, then acknowledges and takes on its own
                    return
                child = rec.new_message(request, down.index, stage, now)
                self._m_attempts[child] = 1
                down.publish(child)
                consumer.pending -= 1
        ack = self._ack
        if ack is None:
            self._d_status[row] = _DONE
        elif self._deletes and not self.broker.down and self._copies.get(message) == consumer.receipt:
            del self._copies[message]  # the ack's common case: the delete of the copy in flight
            self._d_status[row] = _DONE
        else:
            self._d_status[row] = ack(message, consumer.receipt)
        self._processings[message] += 1
        if self._plain_settle:  # Recorder.settle(message, COMPLETED, now, consumer.wid)
            m_outcome = self._m_outcome
            if not m_outcome[message]:
                m_outcome[message] = _COMPLETED
                self._m_done[message] = now
                self._m_worker[message] = consumer.wid
                rid = self._m_request[message]
                opened = self._open
                left = opened[rid] - 1
                opened[rid] = left
                if left == 0 and not self._r_outcome[rid]:
                    self._r_outcome[rid] = self._failed[rid] or _COMPLETED
                    self._r_done[rid] = now
        else:
            self._settle(message, _COMPLETED, now, consumer.wid)
        self.pool.completed += 1
        consumer.message = -1
        if consumer.buffer or consumer.retiring:
            consumer._free()
            return
        self.take(consumer)  # Consumer._free's own last step, without its call


def lane_for(broker: Broker, readers: Sequence[object]) -> Lane | None:
    """A lane for ``broker`` if its whole path is the plain one (see the module); ``readers``: every pool reading it."""
    kind = type(broker)
    if not (len(readers) == 1 and type(readers[0]) is Pool):
        return None
    pool = readers[0]
    assert isinstance(pool, Pool)
    plain_broker = (
        getattr(broker.publish, "__func__", None) is Broker.publish
        and kind._arrive is Broker._arrive and kind._deliver is Broker._deliver and kind.take is Broker.take
        and kind._make_room is Broker._make_room
        and broker.latency is None and broker.ttl is None and broker.prefetch == 1 and type(broker.ready) is deque
    )
    plain_pool = (
        pool.upstream is broker and pool.faults is None and pool.overhead is None and pool.screen is None
        and pool.capacity is None and all(type(w) is Consumer for w in pool.workers)
    )
    return Lane(broker, pool) if plain_broker and plain_pool else None
