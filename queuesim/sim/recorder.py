"""The writer of the event records: columnar ``array`` buffers filled by index in the hot loop."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from queuesim.records import NAN, Outcome, RunRecord

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


class Columns:
    """Columns of one table, pre-filled in chunks so the hot loop only stores by index.

    ``n`` rows are in use; the arrays are longer (up to a chunk) until :meth:`numpy` trims them.
    """

    CHUNK = 16384

    def __init__(self, spec: Mapping[str, tuple[str, float]]) -> None:
        self.spec = spec
        # array[Any]: one table mixes float ("d") and integer columns, each stored by index
        self.cols: dict[str, array[Any]] = {name: array(code) for name, (code, _) in spec.items()}
        self.side: list[tuple[array[Any], str, float]] = []  # attached columns, not handed over
        self.n = 0
        self.capacity = 0

    def __getitem__(self, name: str) -> array[Any]:
        return self.cols[name]

    def grow(self) -> None:
        """Add a chunk of unwritten rows (called when ``n`` reaches ``capacity``)."""
        for name, (code, default) in self.spec.items():
            self.cols[name].extend(array(code, [default]) * self.CHUNK)
        for col, code, default in self.side:
            col.extend(array(code, [default]) * self.CHUNK)
        self.capacity += self.CHUNK

    def attach(self, code: str, default: float) -> array[Any]:
        """A private column of the engine's, indexed like this table's rows and grown with it.

        The hot loop stores into it by row index without a bounds check (it is always as long as
        the table's buffers); :meth:`numpy` leaves it out, so it is not part of the records.
        """
        col = array(code, [default]) * self.capacity
        self.side.append((col, code, default))
        return col

    def next_row(self) -> int:
        row = self.n
        if row == self.capacity:
            self.grow()
        self.n = row + 1
        return row

    def numpy(self) -> dict[str, np.ndarray]:
        """The used rows as numpy arrays; views of the buffers, no copy."""
        return {name: np.frombuffer(col, dtype=col.typecode)[: self.n] if self.n else
                np.empty(0, col.typecode) for name, col in self.cols.items()}


#: Called as hook(message, request, outcome, now) when a watched message settles.
SettleHook = Callable[[int, int, int, float], None]
#: Called as hook(request, now) when a watched request settles (all the work it caused has ended).
RequestHook = Callable[[int, float], None]

# plain ints: an IntEnum member lookup costs more than the store it feeds, in the hot loop
_COMPLETED = int(Outcome.COMPLETED)
_LOST = int(Outcome.LOST)
_RENEGED = int(Outcome.RENEGED)
_CANCELLED = int(Outcome.CANCELLED)


class Recorder:
    """Columnar store shared by every component of one run.

    Components keep direct references to the arrays they write, so the hot loop does an index
    store and nothing else. ``Columns.grow`` extends the arrays in place, so references stay valid.
    """

    def __init__(self) -> None:
        self.requests = Columns(_REQUESTS)
        self.messages = Columns(_MESSAGES)
        self.deliveries = Columns(_DELIVERIES)
        self.rejections = Columns(_REJECTIONS)
        self.bookkeeping = Columns(_OPEN)  # grows with requests
        r, m, d, b = self.requests.cols, self.messages.cols, self.deliveries.cols, self.bookkeeping.cols
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

    # -- requests -------------------------------------------------------------------------------
    def new_request(self, producer: int, now: float) -> int:
        rid = self.requests.next_row()
        if rid == self.bookkeeping.capacity:
            self.bookkeeping.grow()
        self._r_producer[rid] = producer
        self._r_created[rid] = now
        return rid

    # -- messages -------------------------------------------------------------------------------
    def new_message(self, request: int, queue: int, stage: int, now: float) -> int:
        mid = self.messages.next_row()
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
        row = self.deliveries.next_row()
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
        """Hand the used rows over as numpy arrays (zero-copy views of the buffers)."""
        if self.extra:
            meta["extra"] = {**self.extra, **meta.get("extra", {})}  # type: ignore[dict-item]
        return RunRecord(
            requests=self.requests.numpy(),
            messages=self.messages.numpy(),
            deliveries=self.deliveries.numpy(),
            rejections=self.rejections.numpy(),
            **meta,  # type: ignore[arg-type]
        )
