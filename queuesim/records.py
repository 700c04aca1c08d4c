"""The event-record contract between the simulation and the metrics: codes, columns, RunRecord.

The simulation stores into typed column buffers in the hot loop and hands them over as numpy
columns; or, streaming (``--outputs summary``), hands each :class:`RecordSink` a
:class:`RecordBatch` of the rows that became final and keeps none.

Four tables, every column documented here (``metrics`` turns them into DataFrames):

requests (one row per producer message)
    ``producer`` index, ``created`` time, ``done`` (time its last work ended, NaN if not settled),
    ``outcome`` (:class:`Outcome`), and the client's view: ``responded`` (the response reached a
    client that waits for one, ``await_result`` or ``sync``; NaN otherwise), ``abandoned`` (when
    the client stopped waiting at its ``timeout``; NaN if it did not), ``throttled`` (when its
    producer's rate limit refused it; NaN if not). Resilience (:mod:`queuesim.sim.resilience`):
    ``budget_refused`` (when its producer's retry budget refused a retry; NaN if never),
    ``deadline`` (when its client stops waiting for it, for clients that wait with a ``timeout``;
    NaN otherwise), ``hedges`` (copies sent beyond the first by hedging), ``hedge_won`` (1: a
    hedge copy's response reached the client first).
messages (one row per message at each queue; a request's root message plus every fan-out child,
    and one more stage-0 message per retry after a client timeout)
    ``request``, ``queue`` index, ``stage`` (0 for a producer's message), ``created`` (first publish
    attempt), ``accepted`` (publish accepted, NaN if never), ``attempts`` (publish attempts),
    ``receives``, ``processings`` (finished processings, duplicates included), ``done`` (when it
    settled), ``worker`` (the worker whose processing settled it, -1 if none), ``outcome``
    (a message may end CANCELLED: a copy its client no longer wanted, dropped unprocessed),
    ``reason`` (:class:`Loss`, why it was lost), ``poison`` (1: it fails on every attempt). A
    Celery retry (:mod:`queuesim.sim.celery`) is one more message of the same request and stage;
    the retried one settles as completed (its broker copy was acked), the request with the retry.
deliveries (one row per waiting spell of a message in a queue: a spell ends when a worker receives
    the message, or it is dead-lettered, deleted while visible, dropped, expired or reneged; open
    spells are closed at the end)
    ``message``, ``since`` (became waiting), ``until`` (spell end, NaN if still waiting),
    ``worker`` (-1 if not received), ``finished`` (processing end, NaN if none), ``status`` (:class:`Delivery`),
    ``started`` (processing start: later than ``until`` when the message waited in a prefetch buffer,
    or reserved in a Celery worker; a Celery pool's ``worker`` is the process that ran it),
    ``delivery`` (the message's receive number at its queue: 1 for the first delivery),
    ``overhead`` (seconds the worker spent on the delivery before ``started``, its pool's
    ``overhead``; 0 without one: the worker was busy from ``started - overhead`` to ``finished``).
rejections (one row per refused publish attempt, an HTTP 503): ``message``, ``time``.

``RunRecord.extra`` carries what the engine counted outside the tables: ``base_load`` (the
producers' expected arrivals per second over the window), ``dead_lettered`` and ``expired`` (per
queue, from ``Broker.stats``), ``restarts`` (per queue with persistence, a list of :class:`RestartPoint`),
``pools`` (per pool ``crashes``, ``failures``, ``deduplicated``, from ``Pool.stats``), ``reads``
(the queue each pool reads), ``downtime`` (per pool that crashed, ``per_message`` and ``clock``
lists of [down, back] intervals: crashes of the processing in hand and ``mtbf`` crashes) and
``faults`` (the scenario's broker faults, as dicts) and, for producers with a circuit breaker,
``breakers`` (per producer, its state changes as ``[time, state]`` pairs, state one of
:data:`BREAKER_STATES`, starting ``[0.0, "closed"]``).

Counts (``attempts``, ``receives``, ``processings``, ``delivery``) are 32-bit: every attempt but
the accepted one adds a rejections row and every receive a deliveries row, so memory runs out
long before a count reaches 2³¹. Producer and queue indices and ``stage`` are 16-bit: a scenario
has at most 10,000 producers, queues and pools (``queuesim.scenario.limits``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol, TypedDict

import numpy as np

NAN = float("nan")


class Outcome(IntEnum):
    """How a request (or one message) ended. The first settling event wins."""

    IN_FLIGHT = 0
    COMPLETED = 1
    GAVE_UP = 2
    LOST = 3
    DEAD_LETTERED = 4
    EXPIRED = 5  # older than its queue's ttl when a worker would have received it: dropped
    RENEGED = 6  # its client's patience ran out while it still waited: it left the queue unserved
    SHORT_CIRCUITED = 7  # its producer's circuit breaker was open: it failed fast at the client
    CANCELLED = 8  # a message only: a copy its client no longer wanted, dropped unprocessed (never a request's outcome)


class Delivery(IntEnum):
    """What became of one waiting spell and the delivery that ended it."""

    WAITING = 0  # still waiting at the end of the run
    IN_SERVICE = 1  # received, processing not finished at the end
    HELD = 2  # processed, held by a worker waiting for room downstream at the end
    DONE = 3  # processed and acknowledged (or nothing to acknowledge)
    STALE = 4  # processed, but the delete failed: the message had been received again
    DEAD_LETTERED = 5  # receive count exceeded: moved to the dead-letter queue
    DELETED = 6  # a late delete removed it while it was visible again
    FAILED = 7  # the handler failed (or timed out): not acknowledged
    CRASHED = 8  # the worker crashed holding it
    DROPPED = 9  # the broker dropped it while waiting (overflow, eviction, restart)
    DEDUPED = 10  # an idempotent worker recognised a duplicate and skipped the work
    EXPIRED = 11  # older than the queue's ttl when a worker would have received it: dropped
    EXPIRED_DEAD_LETTERED = 12  # the same, moved to the dead-letter queue (ttl_dead_letter)
    RENEGED = 13  # its client's patience ran out before a worker received it: it left the queue
    DEADLINE_EXCEEDED = 14  # received by a pool with drop_expired after its client's deadline: dropped unprocessed
    CANCELLED = 15  # received after its client had another copy's answer (a hedge loser): dropped unprocessed


class Loss(IntEnum):
    """Why a message was lost (``messages.reason``); NONE for every other outcome."""

    NONE = 0
    WORKER_CRASH = 1  # its worker died holding it, on an at-most-once broker
    FAILURE = 2  # its handler failed or timed out, and nothing redelivers it
    BROKER_RESTART = 3  # the broker restarted before persisting it
    OVERFLOW = 4  # a full queue dropped it (drop-head)
    EVICTION = 5  # a full Redis evicted it (allkeys-lru)
    NO_SUBSCRIBER = 6  # pub/sub: no worker was free when it was published


#: Category names of the tables' ``outcome``, ``status`` and ``reason`` columns (the enums above, lower case).
OUTCOMES = [o.name.lower() for o in Outcome]
STATUSES = [s.name.lower() for s in Delivery]
LOSSES = [r.name.lower() for r in Loss]


class RestartPoint(TypedDict):
    """One broker restart: when it happened and the latest instant whose writes it kept (-inf: none)."""

    at: float
    durable_point: float


#: States of a circuit breaker, as ``extra["breakers"]`` records them.
BREAKER_STATES = ("closed", "open", "half_open")


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


@dataclass(frozen=True)
class RecordBatch:
    """Rows of one run that became final since the previous batch, handed to a :class:`RecordSink`.

    The four tables are views of every row written so far (index them by row number; rows not
    named below may already be gone). ``time`` is when the batch was cut (``inf`` for the last one)
    and ``previous`` when the one before was; every event strictly before ``time`` has happened.

    Attributes
    ----------
    new_rejections, new_spells : ndarray
        Rejection rows and delivery rows written since the previous batch; a delivery row's waiting
        spell (``since``, ``until``, ``worker``, ``delivery``) is final once written.
    finished_deliveries : ndarray
        Delivery rows whose processing part (``started``, ``finished``, ``status``) is now final.
    final_messages, final_requests : ndarray
        Message and request rows that no part of the simulation refers to any more.
    open_messages, open_since : ndarray
        Every message waiting at ``time`` and since when (its spell has no row yet).
    """

    time: float
    previous: float
    final: bool
    requests: dict[str, np.ndarray]
    messages: dict[str, np.ndarray]
    deliveries: dict[str, np.ndarray]
    rejections: dict[str, np.ndarray]
    new_rejections: np.ndarray
    new_spells: np.ndarray
    finished_deliveries: np.ndarray
    final_messages: np.ndarray
    final_requests: np.ndarray
    open_messages: np.ndarray
    open_since: np.ndarray


class RecordSink(Protocol):
    """What a streaming recorder folds its final rows into (``queuesim.metrics.stream`` implements it)."""

    def fold(self, batch: RecordBatch) -> None:
        """Take the rows of one batch; called in time order, the last time with ``final`` True."""
