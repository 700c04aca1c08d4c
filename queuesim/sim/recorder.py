"""The writer of the event records: columnar ``array`` buffers filled by index in the hot loop."""

from __future__ import annotations

from array import array

import numpy as np

from queuesim.records import NAN, Delivery, Outcome, RunRecord

# name -> (array typecode, value of a row not yet written)
_REQUESTS = {"producer": ("h", 0), "created": ("d", NAN), "done": ("d", NAN), "outcome": ("b", 0)}
_MESSAGES = {
    "request": ("q", 0), "queue": ("h", 0), "stage": ("h", 0), "created": ("d", NAN),
    "accepted": ("d", NAN), "attempts": ("h", 0), "receives": ("h", 0), "processings": ("h", 0),
    "done": ("d", NAN), "worker": ("i", -1), "outcome": ("b", 0),
}
_DELIVERIES = {
    "message": ("q", 0), "since": ("d", NAN), "until": ("d", NAN), "worker": ("i", -1),
    "finished": ("d", NAN), "status": ("b", 0),
}
_REJECTIONS = {"message": ("q", 0), "time": ("d", NAN)}
# internal per-request bookkeeping: messages not yet settled, and the first failure
_OPEN = {"open": ("i", 0), "failed": ("b", 0)}


class Columns:
    """Columns of one table, pre-filled in chunks so the hot loop only stores by index.

    ``n`` rows are in use; the arrays are longer (up to a chunk) until :meth:`numpy` trims them.
    """

    CHUNK = 16384

    def __init__(self, spec: dict[str, tuple[str, float]]) -> None:
        self.spec = spec
        self.cols = {name: array(code) for name, (code, _) in spec.items()}
        self.n = 0
        self.capacity = 0

    def __getitem__(self, name: str) -> array:
        return self.cols[name]

    def grow(self) -> None:
        """Add a chunk of unwritten rows (called when ``n`` reaches ``capacity``)."""
        for name, (code, default) in self.spec.items():
            self.cols[name].extend(array(code, [default]) * self.CHUNK)
        self.capacity += self.CHUNK

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


class Recorder:
    """Columnar store shared by every component of one run.

    Components keep direct references to the arrays they write, so the hot loop does an index
    store and nothing else.
    """

    def __init__(self) -> None:
        self.requests = Columns(_REQUESTS)
        self.messages = Columns(_MESSAGES)
        self.deliveries = Columns(_DELIVERIES)
        self.rejections = Columns(_REJECTIONS)
        self.bookkeeping = Columns(_OPEN)  # grows with requests

    # -- requests -------------------------------------------------------------------------------
    def new_request(self, producer: int, now: float) -> int:
        r = self.requests
        rid = r.next_row()
        if rid == self.bookkeeping.capacity:
            self.bookkeeping.grow()
        r.cols["producer"][rid] = producer
        r.cols["created"][rid] = now
        return rid

    # -- messages -------------------------------------------------------------------------------
    def new_message(self, request: int, queue: int, stage: int, now: float) -> int:
        m = self.messages
        mid = m.next_row()
        cols = m.cols
        cols["request"][mid] = request
        cols["queue"][mid] = queue
        cols["stage"][mid] = stage
        cols["created"][mid] = now
        self.bookkeeping.cols["open"][request] += 1
        return mid

    def settle(self, message: int, outcome: Outcome, now: float, worker: int = -1) -> None:
        """Settle a message once (first event wins) and settle its request when nothing is left open."""
        m = self.messages.cols
        if m["outcome"][message]:
            return
        m["outcome"][message] = outcome
        m["done"][message] = now
        m["worker"][message] = worker
        rid = m["request"][message]
        book = self.bookkeeping.cols
        if outcome != Outcome.COMPLETED and not book["failed"][rid]:
            book["failed"][rid] = outcome
        left = book["open"][rid] - 1
        book["open"][rid] = left
        if left == 0:
            self.requests.cols["outcome"][rid] = book["failed"][rid] or Outcome.COMPLETED
            self.requests.cols["done"][rid] = now

    # -- deliveries -----------------------------------------------------------------------------
    def spell(self, message: int, since: float, until: float, worker: int, status: Delivery) -> int:
        d = self.deliveries
        row = d.next_row()
        cols = d.cols
        cols["message"][row] = message
        cols["since"][row] = since
        cols["until"][row] = until
        cols["worker"][row] = worker
        cols["status"][row] = status
        return row

    def reject(self, message: int, now: float) -> None:
        row = self.rejections.next_row()
        self.rejections.cols["message"][row] = message
        self.rejections.cols["time"][row] = now

    def freeze(self, **meta: object) -> RunRecord:
        """Hand the used rows over as numpy arrays (zero-copy views of the buffers)."""
        return RunRecord(
            requests=self.requests.numpy(),
            messages=self.messages.numpy(),
            deliveries=self.deliveries.numpy(),
            rejections=self.rejections.numpy(),
            **meta,  # type: ignore[arg-type]
        )
