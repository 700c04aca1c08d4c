"""The writer of the event records: columnar buffers filled by index in the hot loop, optionally folded into a sink as rows become final.

Each column is a typed buffer the components store into by row index, nothing else. Where the
platform allows it, the buffer is a typed view of an anonymous memory map reserved once for many
rows: touched pages only take memory, so the columns never move or get copied while they grow,
and a block of rows that is no longer needed can be handed back to the operating system
(``madvise(MADV_DONTNEED)``) without changing any row index. Elsewhere they are ``array`` objects
that grow in place.

**Streaming** (``Recorder(sink=...)``, ``--outputs summary``): every so often, at a clean point
between two events, the recorder hands the sink (:class:`queuesim.records.RecordSink`) the rows
that became final and then returns the blocks whose rows are all final. A row is final when
nothing in the simulation can touch it again:

* a rejection, as soon as it is written;
* a delivery row, once its processing ended (status other than ``IN_SERVICE`` or ``HELD``);
* a message, once it is settled, has no open delivery, and no broker still stores it (an
  at-least-once copy in flight or visible again, a Redis receive a restart may replay: each
  broker kind says so in :meth:`Broker.held`);
* a request, once it is settled, none of its messages is live, and its client waits no more
  (:meth:`Producer.held`).

Every new row must name live rows; a row that names a folded one stops the run
(:class:`FoldError`): the rule above missed a reference, and the figures would be wrong.
Memory then follows the live rows (the backlog, the messages in service), not the run length.
"""

from __future__ import annotations

import math
import mmap
import sys
from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from simpy import Environment
from simpy.events import Timeout

from queuesim.records import NAN, Delivery, Outcome, RecordBatch, RecordSink, RunRecord

# name -> (array typecode, value of a row not yet written)
_REQUESTS = {"producer": ("h", 0), "created": ("d", NAN), "done": ("d", NAN), "outcome": ("b", 0),
             # client side (queuesim.sim.producer): response received, abandoned, refused by the rate limit
             "responded": ("d", NAN), "abandoned": ("d", NAN), "throttled": ("d", NAN),
             # client resilience (queuesim.sim.resilience): a retry the budget refused, the client's
             # deadline, hedge copies sent and whether one of them answered first
             "budget_refused": ("d", NAN), "deadline": ("d", NAN), "hedges": ("h", 0), "hedge_won": ("b", 0)}
_MESSAGES = {
    "request": ("q", 0), "queue": ("h", 0), "stage": ("h", 0), "created": ("d", NAN),
    # counts are 32-bit: a full queue with unlimited retries, or a poison message redelivered for ever,
    # passes 32,767 in a long run; 2³¹ would need more deliveries/rejections rows than memory holds
    "accepted": ("d", NAN), "attempts": ("i", 0), "receives": ("i", 0), "processings": ("i", 0),
    "done": ("d", NAN), "worker": ("i", -1), "outcome": ("b", 0), "reason": ("b", 0), "poison": ("b", 0),
}
_DELIVERIES = {
    "message": ("q", 0), "since": ("d", NAN), "until": ("d", NAN), "worker": ("i", -1),
    "finished": ("d", NAN), "status": ("b", 0), "started": ("d", NAN), "delivery": ("i", 0),
    "overhead": ("d", 0.0),
}
_REJECTIONS = {"message": ("q", 0), "time": ("d", NAN)}
# internal per-request bookkeeping: messages not yet settled, and the first failure
_OPEN = {"open": ("i", 0), "failed": ("b", 0)}

#: Rows reserved per table (address space only: a page takes memory when first written).
RESERVED_ROWS = 1 << 28
# MAP_NORESERVE (Linux): reserve address space without committing swap for it; Python does not name it
_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000 if sys.platform.startswith("linux") else 0)


class Column(Protocol):
    """A typed buffer indexed by row: an ``array`` or a ``memoryview`` of a memory map."""

    def __getitem__(self, row: int, /) -> Any: ...
    def __setitem__(self, row: int, value: Any, /) -> None: ...


def _mapped(code: str, rows: int) -> tuple[mmap.mmap, memoryview] | None:
    """An anonymous map for ``rows`` values of ``code``, viewed as that type; None where impossible."""
    flags = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0) | _NORESERVE
    if not hasattr(mmap, "MAP_ANONYMOUS"):
        return None
    size = rows * array(code).itemsize
    try:
        block = mmap.mmap(-1, size, flags=flags)
    except (OSError, ValueError, OverflowError):
        return None
    # the typecode is only known at run time; typeshed types cast() per literal format
    return block, memoryview(block).cast(code)  # type: ignore[call-overload]


class Columns:
    """Columns of one table, pre-filled a chunk at a time so the hot loop only stores by index.

    ``n`` rows are in use and ``capacity`` are initialised; :meth:`numpy` hands the used rows over
    without a copy. ``release(chunk)`` returns the memory of a chunk whose rows are all final.
    """

    CHUNK = 16384  # rows; a multiple of the page size for every item size, so chunks are whole pages

    def __init__(self, spec: Mapping[str, tuple[str, float]], reserve: int = RESERVED_ROWS) -> None:
        self.spec = spec
        self.cols: dict[str, Column] = {}
        self._maps: dict[str, mmap.mmap] = {}
        self._fill: dict[str, memoryview] = {}
        self.limit = reserve
        for name, (code, default) in spec.items():
            mapped = _mapped(code, reserve)
            if mapped is None:  # no memory maps here (or no address space): arrays that grow
                self.cols[name] = array(code)
                self.limit = 0
            else:
                self._maps[name], self.cols[name] = mapped
            if default != 0:  # a fresh map reads as zeros already
                self._fill[name] = memoryview(array(code, [default]) * self.CHUNK)
        if self.limit == 0 and self._maps:  # a mix is not worth it: arrays for every column
            self._maps.clear()
            self.cols = {name: array(code) for name, (code, _) in spec.items()}
        # attached columns, not handed over: (buffer, its map or None, typecode, default)
        self.side: list[tuple[Column, mmap.mmap | None, str, float]] = []
        self.n = 0
        self.capacity = 0
        self.on_grow: Callable[[], None] | None = None  # streaming: a chance to fold, every chunk

    def __getitem__(self, name: str) -> Column:
        return self.cols[name]

    def grow(self) -> None:
        """Initialise a chunk of unwritten rows (called when ``n`` reaches ``capacity``)."""
        if self.on_grow is not None:
            self.on_grow()
        start, stop = self.capacity, self.capacity + self.CHUNK
        if self._maps:
            if stop > self.limit:
                raise MemoryError(f"more than {self.limit:,} rows in one table")
            for name, pattern in self._fill.items():
                col = self.cols[name]
                assert isinstance(col, memoryview)
                col[start:stop] = pattern
            for col, _, code, default in self.side:
                if default != 0:
                    assert isinstance(col, memoryview)
                    col[start:stop] = memoryview(array(code, [default]) * self.CHUNK)
        else:
            for name, (code, default) in self.spec.items():
                col = self.cols[name]
                assert isinstance(col, array)
                col.extend(array(code, [default]) * self.CHUNK)
            for col, _, code, default in self.side:
                assert isinstance(col, array)
                col.extend(array(code, [default]) * self.CHUNK)
        self.capacity = stop

    def attach(self, code: str, default: float) -> Column:
        """A private column of the engine's, indexed like this table's rows and grown with it.

        The hot loop stores into it by row index without a bounds check (it is always as long as
        the table's buffers); :meth:`numpy` leaves it out, so it is not part of the records, and
        :meth:`release` hands its rows back with the table's.
        """
        if self._maps:
            mapped = _mapped(code, self.limit)
            if mapped is None:
                raise MemoryError(f"no address space for another column of {self.limit:,} rows")
            block, col = mapped
            if default != 0 and self.capacity:
                col[:self.capacity] = memoryview(array(code, [default]) * self.capacity)
            self.side.append((col, block, code, default))
            return col
        plain = array(code, [default]) * self.capacity
        self.side.append((plain, None, code, default))
        return plain

    def next_row(self) -> int:
        row = self.n
        if row == self.capacity:
            self.grow()
        self.n = row + 1
        return row

    def numpy(self) -> dict[str, np.ndarray]:
        """The used rows as numpy arrays; views of the buffers, no copy."""
        out = {}
        for name, (code, _) in self.spec.items():
            col = self.cols[name]
            assert isinstance(col, array | memoryview)
            out[name] = np.frombuffer(col, dtype=code, count=self.n) if self.n else np.empty(0, code)
        return out

    def release(self, chunk: int) -> None:
        """Give the memory of rows ``chunk·CHUNK … (chunk+1)·CHUNK`` back; they must never be read again."""
        if not self._maps or not hasattr(mmap, "MADV_DONTNEED"):
            return
        for name, (code, _) in self.spec.items():
            size = array(code).itemsize * self.CHUNK
            self._maps[name].madvise(mmap.MADV_DONTNEED, chunk * size, size)
        for _, block, code, _ in self.side:
            assert block is not None
            size = array(code).itemsize * self.CHUNK
            block.madvise(mmap.MADV_DONTNEED, chunk * size, size)


#: Called as hook(message, request, outcome, now) when a watched message settles.
SettleHook = Callable[[int, int, int, float], None]
#: Called as hook(request, now) when a watched request settles (all the work it caused has ended).
RequestHook = Callable[[int, float], None]

# plain ints: an IntEnum member lookup costs more than the store it feeds, in the hot loop
_COMPLETED = int(Outcome.COMPLETED)
_LOST = int(Outcome.LOST)
_RENEGED = int(Outcome.RENEGED)
_CANCELLED = int(Outcome.CANCELLED)
_OPEN_STATUS = np.array([Delivery.IN_SERVICE, Delivery.HELD], dtype=np.int8)
_EMPTY = np.empty(0, dtype=np.int64)


class FoldError(RuntimeError):
    """A new record named a row already folded into the streamed statistics (a missed reference)."""


@dataclass
class Liveness:
    """What the live components still refer to, asked at each fold (streaming only; see the module docstring).

    ``open_spells`` yields (message, since) of every waiting message; ``held_messages`` the
    messages brokers still store; ``held_requests`` the requests whose client still waits.
    """

    open_spells: Callable[[], Iterable[tuple[int, float]]]
    held_messages: Callable[[], Iterable[int]]
    held_requests: Callable[[], Iterable[int]]


def _ids(values: Iterable[int]) -> np.ndarray:
    return np.fromiter(values, dtype=np.int64)


class _Folding:
    """The streaming state of a recorder: which rows are live, what was folded, when to fold next."""

    def __init__(self, rec: Recorder, sink: RecordSink, env: Environment, live: Liveness) -> None:
        self.rec, self.sink, self.env, self.live = rec, sink, env, live
        self.seen = {"requests": 0, "messages": 0, "deliveries": 0, "rejections": 0}  # rows handed over so far
        self.live_requests = _EMPTY
        self.live_messages = _EMPTY
        self.open_deliveries = _EMPTY
        self.retired: dict[str, np.ndarray] = {name: np.zeros(0, dtype=np.int64) for name in self.seen}
        self.pending = False
        self.next_at = 0  # fold when this many rows have been written (amortised: ≥ twice the live rows)
        self.time = 0.0  # when the last fold ran

    def rows(self) -> int:
        r = self.rec
        return r.requests.n + r.messages.n + r.deliveries.n + r.rejections.n

    def due(self) -> None:
        """A chunk filled up: fold at the next clean point (between two events), if enough rows came in."""
        if self.pending or self.rows() < self.next_at:
            return
        self.pending = True
        Timeout(self.env, 0).callbacks.append(lambda _e: self.fold(final=False))

    def fold(self, final: bool) -> None:
        self.pending = False
        rec = self.rec
        now = math.inf if final else float(self.env.now)
        req, msg, dl, rej = rec.requests.numpy(), rec.messages.numpy(), rec.deliveries.numpy(), rec.rejections.numpy()
        new = {name: np.arange(self.seen[name], getattr(rec, name).n, dtype=np.int64) for name in self.seen}
        messages = np.concatenate([self.live_messages, new["messages"]])
        requests = np.concatenate([self.live_requests, new["requests"]])
        for what, refs, first_new, alive in (
                ("delivery", dl["message"][self.seen["deliveries"]:], self.seen["messages"], self.live_messages),
                ("rejection", rej["message"][self.seen["rejections"]:], self.seen["messages"], self.live_messages),
                ("message", msg["request"][self.seen["messages"]:], self.seen["requests"], self.live_requests)):
            older = refs[refs < first_new]  # a reference to a new row is always to a live one
            stale = older[~np.isin(older, alive)] if older.size else older
            if stale.size:
                raise FoldError(f"a new {what} names row {int(stale[0])}, already folded into the streamed statistics")
        deliveries = np.concatenate([self.open_deliveries, new["deliveries"]])
        open_now = np.zeros(deliveries.size, dtype=bool) if final else np.isin(dl["status"][deliveries], _OPEN_STATUS)
        finished, self.open_deliveries = deliveries[~open_now], deliveries[open_now]
        if final:
            dead = np.ones(messages.size, dtype=bool)
        else:
            dead = msg["outcome"][messages] != 0
            dead &= ~np.isin(messages, dl["message"][self.open_deliveries])
            dead &= ~np.isin(messages, _ids(self.live.held_messages()))
        final_messages, self.live_messages = messages[dead], messages[~dead]
        if final:
            rdead = np.ones(requests.size, dtype=bool)
        else:
            rdead = req["outcome"][requests] != 0
            rdead &= ~np.isin(requests, msg["request"][self.live_messages])
            rdead &= ~np.isin(requests, _ids(self.live.held_requests()))
        final_requests, self.live_requests = requests[rdead], requests[~rdead]
        spells = list(self.live.open_spells()) if not final else []
        open_messages = np.fromiter((m for m, _ in spells), dtype=np.int64, count=len(spells))
        open_since = np.fromiter((s for _, s in spells), dtype=float, count=len(spells))
        self.sink.fold(RecordBatch(
            time=now, previous=self.time, final=final, requests=req, messages=msg, deliveries=dl, rejections=rej,
            new_rejections=new["rejections"], new_spells=new["deliveries"], finished_deliveries=finished,
            final_messages=final_messages, final_requests=final_requests,
            open_messages=open_messages, open_since=open_since,
        ))
        self.time = now
        for name in self.seen:
            self.seen[name] = getattr(rec, name).n
        self._release("rejections", new["rejections"])
        self._release("deliveries", finished)
        self._release("messages", final_messages)
        self._release("requests", final_requests)
        live = self.live_requests.size + self.live_messages.size + self.open_deliveries.size + open_messages.size
        self.next_at = self.rows() + max(2 * Columns.CHUNK, 2 * live)

    def _release(self, table: str, rows: np.ndarray) -> None:
        """Count rows made final per chunk; hand back every chunk whose rows are all final."""
        if rows.size == 0:
            return
        columns: Columns = getattr(self.rec, table)
        count = np.bincount(rows // Columns.CHUNK)
        done = self.retired[table]
        if count.size > done.size:
            done = np.concatenate([done, np.zeros(count.size - done.size, dtype=np.int64)])
        done[:count.size] += count
        self.retired[table] = done
        for chunk in np.flatnonzero(done == Columns.CHUNK):
            columns.release(int(chunk))
            if table == "requests":
                self.rec.bookkeeping.release(int(chunk))
            done[chunk] = Columns.CHUNK + 1  # released: never again


class Recorder:
    """Columnar store shared by every component of one run.

    Components keep direct references to the columns they write, so the hot loop does an index
    store and nothing else; columns never move, so the references stay valid as tables grow.

    Parameters
    ----------
    sink : RecordSink, optional
        Stream the rows into it as they become final, and keep none (see the module docstring);
        :meth:`attach` must then be called before the run starts.
    """

    def __init__(self, sink: RecordSink | None = None) -> None:
        self.requests = Columns(_REQUESTS)
        self.messages = Columns(_MESSAGES)
        self.deliveries = Columns(_DELIVERIES)
        self.rejections = Columns(_REJECTIONS)
        self.bookkeeping = Columns(_OPEN)  # grows with requests
        self.sink = sink
        self._folding: _Folding | None = None
        r, m, d, b = self.requests.cols, self.messages.cols, self.deliveries.cols, self.bookkeeping.cols
        self._requests, self._messages, self._deliveries = self.requests, self.messages, self.deliveries
        self._r_producer, self._r_created, self._r_done, self._r_outcome = (
            r["producer"], r["created"], r["done"], r["outcome"])
        self._m_request, self._m_queue, self._m_stage, self._m_created = (
            m["request"], m["queue"], m["stage"], m["created"])
        self._m_outcome, self._m_done, self._m_worker = m["outcome"], m["done"], m["worker"]
        self._d_message, self._d_since, self._d_until, self._d_worker, self._d_status = (
            d["message"], d["since"], d["until"], d["worker"], d["status"])
        self._open, self._failed = b["open"], b["failed"]
        # per producer index: called as hook(message, request, outcome, now) when one of its
        # producer's own (stage-0) messages settles; None when no producer waits for responses
        self.watch: list[SettleHook | None] | None = None
        # per producer index: called as hook(request, now) when one of its requests settles; None
        # when no producer waits for its work to end (a closed population of fire-and-forget users)
        self.request_watch: list[RequestHook | None] | None = None
        self.extra: dict[str, object] = {}  # merged into RunRecord.extra by freeze

    @property
    def streaming(self) -> bool:
        """Whether rows are folded into a sink rather than kept."""
        return self.sink is not None

    def attach(self, env: Environment, live: Liveness) -> None:
        """Start streaming into the sink: fold at clean points of ``env``, asking ``live`` what is still referenced."""
        if self.sink is None:
            raise ValueError("attach needs a recorder made with a sink")
        folding = _Folding(self, self.sink, env, live)
        self._folding = folding
        for table in (self.requests, self.messages, self.deliveries, self.rejections):
            table.on_grow = folding.due

    # -- requests -------------------------------------------------------------------------------
    def new_root(self, producer: int, queue: int, now: float) -> int:
        """A new request and its first (stage-0) message, in one call (once per request); returns the message.

        The request's row is ``messages["request"][message]``.
        """
        # next_row inlined, for the requests and their bookkeeping together
        requests = self._requests
        rid = requests.n
        if rid == requests.capacity:
            requests.grow()
            if rid == self.bookkeeping.capacity:
                self.bookkeeping.grow()
        requests.n = rid + 1
        self._r_producer[rid] = producer
        self._r_created[rid] = now
        messages = self._messages
        mid = messages.n
        if mid == messages.capacity:
            messages.grow()
        messages.n = mid + 1
        self._m_request[mid] = rid
        self._m_queue[mid] = queue
        self._m_stage[mid] = 0
        self._m_created[mid] = now
        self._open[rid] += 1
        return mid

    # -- messages -------------------------------------------------------------------------------
    def new_message(self, request: int, queue: int, stage: int, now: float) -> int:
        table = self._messages
        mid = table.n
        if mid == table.capacity:
            table.grow()
        table.n = mid + 1
        self._m_request[mid] = request
        self._m_queue[mid] = queue
        self._m_stage[mid] = stage
        self._m_created[mid] = now
        self._open[request] += 1
        return mid

    def lose(self, message: int, reason: int, now: float) -> None:
        """Settle a message as lost, remembering why (a no-op if it had settled already)."""
        if not self._m_outcome[message]:
            self.messages.cols["reason"][message] = reason
            self.settle(message, _LOST, now)

    def renege(self, message: int, now: float) -> None:
        """A message left its queue unserved because its client's patience ran out: the client abandoned the request."""
        abandoned = self.requests.cols["abandoned"]
        request = self._m_request[message]
        if abandoned[request] != abandoned[request]:  # NaN: not yet abandoned (a timeout may have come first)
            abandoned[request] = now
        self.settle(message, _RENEGED, now)

    def settle(self, message: int, outcome: int, now: float, worker: int = -1) -> None:
        """Settle a message once (first event wins) and settle its request when nothing is left open."""
        if self._m_outcome[message]:
            return
        self._m_outcome[message] = outcome
        self._m_done[message] = now
        self._m_worker[message] = worker
        rid = self._m_request[message]
        # a cancelled copy (one its client no longer wanted) is no failure of the request
        if outcome != _COMPLETED and outcome != _CANCELLED and not self._failed[rid]:
            self._failed[rid] = outcome
        left = self._open[rid] - 1
        self._open[rid] = left
        if left == 0 and not self._r_outcome[rid]:
            # settled once: a duplicate processing's late children do not reopen the request
            self._r_outcome[rid] = self._failed[rid] or _COMPLETED
            self._r_done[rid] = now
            if self.request_watch is not None:
                ended = self.request_watch[self._r_producer[rid]]
                if ended is not None:
                    ended(rid, now)
        watch = self.watch
        if watch is not None and self._m_stage[message] == 0:
            hook = watch[self._r_producer[rid]]
            if hook is not None:
                hook(message, rid, outcome, now)

    def new_copy(self, request: int, queue: int, now: float) -> int:
        """Another stage-0 message of a request (a client's retry after a timeout); reopens a settled request."""
        if self._open[request] == 0 and self._r_outcome[request]:
            self._r_outcome[request] = 0
            self._r_done[request] = NAN
        return self.new_message(request, queue, 0, now)

    # -- deliveries -----------------------------------------------------------------------------
    def spell(self, message: int, since: float, until: float, worker: int, status: int) -> int:
        table = self._deliveries
        row = table.n
        if row == table.capacity:
            table.grow()
        table.n = row + 1
        self._d_message[row] = message
        self._d_since[row] = since
        self._d_until[row] = until
        self._d_worker[row] = worker
        self._d_status[row] = status
        return row

    def reject(self, message: int, now: float) -> None:
        row = self.rejections.next_row()
        self.rejections.cols["message"][row] = message
        self.rejections.cols["time"][row] = now

    def freeze(self, **meta: object) -> RunRecord:
        """Hand the used rows over as numpy arrays (zero-copy views of the buffers).

        Streaming, the last rows are folded first and the tables come back empty: the figures are the sink's.
        """
        if self.extra:
            meta["extra"] = {**self.extra, **meta.get("extra", {})}  # type: ignore[dict-item]
        if self._folding is not None:
            self._folding.fold(final=True)
            # break the recorder <-> folding cycle so the reserved maps go at once, not at the next GC
            self._folding = None
            for table in (self.requests, self.messages, self.deliveries, self.rejections):
                table.on_grow = None
            empty = {t: {name: np.empty(0, code) for name, (code, _) in spec.items()}
                     for t, spec in (("requests", _REQUESTS), ("messages", _MESSAGES),
                                     ("deliveries", _DELIVERIES), ("rejections", _REJECTIONS))}
            return RunRecord(**empty, **meta)  # type: ignore[arg-type]
        return RunRecord(
            requests=self.requests.numpy(),
            messages=self.messages.numpy(),
            deliveries=self.deliveries.numpy(),
            rejections=self.rejections.numpy(),
            **meta,  # type: ignore[arg-type]
        )
