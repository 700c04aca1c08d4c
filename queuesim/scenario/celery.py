"""Celery-style workers in a scenario: a pool's ``celery:`` block, task retries, ETA countdowns and beat schedules.

A pool with ``celery:`` is ``count`` Celery worker instances (``celery worker`` processes, one per
host or container), each running ``concurrency`` pool processes and reserving up to
``prefetch_multiplier × concurrency`` unacknowledged tasks (``worker_prefetch_multiplier``, 4 by
default). Every default is Celery's (``../shared/DOMAIN.md`` §4 and §7): early ack
(``task_acks_late = False``), ``max_retries = 3``, ``default_retry_delay = 180 s``,
``retry_backoff_max = 600 s``, ``retry_jitter = True``; no time limits. Celery's own default
concurrency is the host's CPU count, which a model has not got: here it is 1.

On Redis, Celery speaks through Kombu's transport (a queue with ``mode: celery``): an unacknowledged
task, reserved or running, comes back after the transport's ``visibility_timeout`` (1 h).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from ._base import Float, Frozen, Int, Violation, fail
from .limits import MAX_WORKERS
from .units import Duration, PositiveDuration, format_duration

__all__ = ["CeleryRetry", "CelerySettings", "Beat", "CELERY_VISIBILITY_TIMEOUT", "beat_shorthand", "celery_violations"]

#: Kombu's Redis transport ``visibility_timeout`` default (``broker_transport_options``).
CELERY_VISIBILITY_TIMEOUT = 3600.0


class CeleryRetry(Frozen):
    """``self.retry()`` (or ``autoretry_for``) on a failed task: a new message through the broker, due after a countdown.

    Retry ``n`` (0 for the first) waits ``countdown`` (``default_retry_delay``), or with ``backoff``
    (``retry_backoff``: true is a factor of 1 s) ``min(backoff_max, backoff · 2ⁿ)``, which ``jitter``
    replaces by a whole number of seconds drawn uniformly from 0 to it (Celery's
    ``get_exponential_backoff_interval``, ``random.randrange(countdown + 1)``). Past ``max_retries``
    (None: for ever) the task fails for good. A failure here is the handler raising (``failure:``,
    ``poison:``, the pool's ``timeout``) or ``soft_time_limit``; a hard ``time_limit`` kills the
    process and is not retried.
    """

    max_retries: Int | None = Field(3, ge=0)
    countdown: Duration = 180.0
    backoff: Float | bool = False
    backoff_max: PositiveDuration = 600.0
    jitter: bool = True

    @property
    def factor(self) -> float | None:
        """The exponential factor in seconds, or None without backoff."""
        if self.backoff is False:
            return None
        return 1.0 if self.backoff is True else float(self.backoff)


class CelerySettings(Frozen):
    """A Celery worker's settings (``celery:`` on a pool): processes, prefetch, ack timing, time limits, retries."""

    concurrency: Int = Field(1, ge=1, le=MAX_WORKERS)
    prefetch_multiplier: Int = Field(4, ge=1, le=10_000)
    acks_late: bool = False
    time_limit: PositiveDuration | None = None
    soft_time_limit: PositiveDuration | None = None
    retry: CeleryRetry | None = None
    # several queues (`from: [a, b]`): Kombu's `queue_order_strategy`; round_robin is its default
    queue_order: Literal["round_robin", "priority"] = "round_robin"

    @model_validator(mode="after")
    def _soft_before_hard(self) -> CelerySettings:
        if self.time_limit is not None and self.soft_time_limit is not None and self.soft_time_limit >= self.time_limit:
            fail("CelerySettings", [(("soft_time_limit",), f"must be < time_limit ({format_duration(self.time_limit)}): "
                                     "the soft limit warns the task before the hard one kills it")], self.soft_time_limit)
        return self

    @property
    def window(self) -> int:
        """Unacknowledged tasks a worker instance reserves: ``prefetch_multiplier × concurrency``."""
        return self.prefetch_multiplier * self.concurrency


class Beat(Frozen):
    """``celery beat`` sending ``tasks`` every ``every`` from ``at``; ``beats: 2`` is the duplicate-beat misconfiguration.

    Only one beat may run per schedule: each extra one sends the same tasks again (Celery's
    periodic-tasks guide). A beat is a periodic batch (``batch: {every, size: tasks × beats, at}``).
    """

    every: PositiveDuration
    tasks: Int = Field(1, ge=1, le=100_000)
    beats: Int = Field(1, ge=1, le=100)
    at: Duration = 0.0


def beat_shorthand(data: Any) -> Any:
    """A producer's ``beat:`` as the periodic batch it is (``batch`` with ``tasks × beats`` per period)."""
    if not (isinstance(data, dict) and "beat" in data):
        return data
    if "batch" in data:
        fail("Producer", [(("beat",), "give `beat` or `batch`, not both: a beat is a periodic batch")], data["beat"])
    beat = Beat.model_validate(data["beat"])
    rest = {k: v for k, v in data.items() if k != "beat"}
    return {**rest, "batch": {"every": beat.every, "size": beat.tasks * beat.beats, "at": beat.at}}


def celery_violations(producers: Mapping[str, Any], queues: Mapping[str, Any], workers: Mapping[str, Any]) -> list[Violation]:
    """Rules between Celery pools, the queues they read and the producers that set countdowns."""
    found: list[Violation] = []
    celery_reads = {q for w in workers.values() if w.celery is not None for q in w.reads}
    for name, w in workers.items():
        if isinstance(w.from_, list):
            # the first is the routing rules' (`from`); the rest are checked here
            found += [(("workers", name, "from", i), f"unknown queue {q!r}")
                      for i, q in enumerate(w.from_) if i and q not in queues]
        for qname in w.reads:
            queue = queues.get(qname)
            if queue is None:
                continue
            if w.celery is None:
                if queue.broker == "redis" and queue.mode == "celery":
                    found.append((("workers", name, "celery"), f"queue '{qname}' uses Celery's Redis transport (mode: celery): "
                                  "its readers are Celery workers (add a `celery:` block)"))
                continue
            if queue.broker == "redis" and queue.mode != "celery":
                found.append((("workers", name, "celery"), f"Celery on Redis uses Kombu's transport: set `mode: celery` on queue '{qname}'"))
            if queue.broker == "rabbitmq" and queue.ack == "auto":
                found.append((("workers", name, "celery"), f"Celery acknowledges tasks itself (celery.acks_late): queue '{qname}' needs `ack: manual`"))
            if queue.broker == "rabbitmq" and w.celery.queue_order == "priority":
                found.append((("workers", name, "celery", "queue_order"), f"queue '{qname}' is on RabbitMQ, which pushes from every "
                              "consumed queue as credit allows: `priority` order is a Kombu option of the Redis and SQS transports"))
        if w.celery is None:
            continue
        if w.to is not None:
            found.append((("workers", name, "to"), "a Celery task publishing downstream (a chain) is not modelled"))
        if getattr(w, "drop_expired", False):
            found.append((("workers", name, "drop_expired"), "deadline propagation is not modelled for Celery workers"))
    retrying = {q for w in workers.values() if w.celery is not None and w.celery.retry is not None for q in w.reads}
    for name, p in producers.items():
        waits = p.waits_for_response or getattr(p, "users", None) is not None or getattr(p, "hedge", None) is not None
        if waits and p.to in retrying:
            found.append((("producers", name), "a client waiting for a task that Celery retries is not modelled "
                          "(the retry carries the task on in a new message): drop `celery.retry` or the wait"))
        if p.countdown is not None and p.to not in celery_reads:
            found.append((("producers", name, "countdown"), f"an ETA is kept by Celery workers: no pool with `celery:` reads '{p.to}'"))
        if p.sync and p.to in celery_reads:
            found.append((("producers", name, "sync"), "a Celery task goes through the broker: `sync` is for inline servers"))
    return found
