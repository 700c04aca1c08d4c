"""Columnar event records of one run: appended to ``array`` buffers in the hot loop, numpy at the end.

Four tables, every column documented here (``metrics`` turns them into DataFrames):

requests (one row per producer message)
    ``producer`` index, ``created`` time, ``done`` (time its last work ended, NaN if not settled),
    ``outcome`` (:class:`Outcome`).
messages (one row per message at each queue; a request's root message plus every fan-out child)
    ``request``, ``queue`` index, ``stage`` (0 for a producer's message), ``created`` (first publish
    attempt), ``accepted`` (publish accepted, NaN if never), ``attempts`` (publish attempts),
    ``receives``, ``processings`` (finished processings, duplicates included), ``done`` (when it
    settled), ``worker`` (the worker whose processing settled it, -1 if none), ``outcome``.
deliveries (one row per waiting spell of a message in a queue: a spell ends when a worker receives
    the message, or it is dead-lettered, or deleted while visible; open spells are closed at the end)
    ``message``, ``since`` (became waiting), ``until`` (spell end, NaN if still waiting),
    ``worker`` (-1 if not received), ``finished`` (processing end, NaN if none), ``status`` (:class:`Delivery`).
rejections (one row per refused publish attempt, an HTTP 503): ``message``, ``time``.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

NAN = float("nan")


class Outcome(IntEnum):
    """How a request (or one message) ended. The first settling event wins."""

    IN_FLIGHT = 0
    COMPLETED = 1
    GAVE_UP = 2
    LOST = 3
    DEAD_LETTERED = 4


class Delivery(IntEnum):
    """What became of one waiting spell and the delivery that ended it."""

    WAITING = 0  # still waiting at the end of the run
    IN_SERVICE = 1  # received, processing not finished at the end
    HELD = 2  # processed, held by a worker waiting for room downstream at the end
    DONE = 3  # processed and acknowledged (or nothing to acknowledge)
    STALE = 4  # processed, but the delete failed: the message had been received again
    DEAD_LETTERED = 5  # receive count exceeded: moved to the dead-letter queue
    DELETED = 6  # a late delete removed it while it was visible again


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


@dataclass
class RunRecord:
    """The raw outcome of one simulation: the four tables as numpy columns plus the model's names."""

    replication: int
    duration: float
    warmup: float
    producers: list[str]
    queues: list[str]
    pools: list[str]
    worker_pool: np.ndarray  # pool index of each worker
    requests: dict[str, np.ndarray]
    messages: dict[str, np.ndarray]
    deliveries: dict[str, np.ndarray]
    rejections: dict[str, np.ndarray]
    extra: dict[str, object] = field(default_factory=dict)


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
