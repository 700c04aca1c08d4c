"""The scenario schema: producers, queues (one class per broker kind) and worker pools, with the rules that bind them."""

from __future__ import annotations

import math
from array import array
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, Field, StringConstraints, Tag, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ._base import SCENARIO_RULE, Float, Frozen, Int, Violation, fail
from .autoscale import Autoscale, CountSchedule, ScaleIn
from .celery import CELERY_VISIBILITY_TIMEOUT, CelerySettings, beat_shorthand, celery_violations
from .distributions import Constant, Distribution
from .faults import BrokerFault, Chance, Crash, Variants
from .limits import MAX_ATTEMPTS, MAX_FANOUT, MAX_NAMES, MAX_REPLICATIONS, MAX_SEED, MAX_WORKERS
from .load_shapes import ArrivalKind, Batch, RateLimit, RateProfile, RateSpec, Trace, sync_violations, trace_shorthand
from .priority import MAX_PRIORITY, REDIS_MAX_PRIORITY, SQS_NO_PRIORITY, priority_violations
from .resilience import CircuitBreaker, Hedge, RetryBudget, closed_rate
from .routing import routing_violations, topological_order
from .study import Cost, PrecisionSpec, Slo, SweepSpec, study_violations
from .units import Duration, PositiveDuration, PositiveRate, format_duration
from .workload import Workload, workload

__all__ = [
    "Name",
    "Jitter",
    "RetryPolicy",
    "Producer",
    "QueueBase",
    "RedisQueue",
    "SqsQueue",
    "RabbitQueue",
    "Queue",
    "ServicePer",
    "WorkerPool",
    "Scenario",
    "SQS_MAX_VISIBILITY_TIMEOUT",
]

#: Names of producers, queues and pools: no dots, so ``--set workers.fulfil.count=12`` can address them.
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")]

#: How a retry delay is randomised (AWS architecture blog "Exponential Backoff And Jitter").
Jitter = Literal["none", "full", "equal", "decorrelated"]

#: What a service-time draw belongs to: the message (its job size, the same at every delivery) or one delivery.
ServicePer = Literal["message", "attempt"]

#: SQS refuses visibility timeouts above 12 hours.
SQS_MAX_VISIBILITY_TIMEOUT = 12 * 3600.0


class RetryPolicy(Frozen):
    """How a producer retries a publish the broker refused (a 503 from a full queue).

    ``attempts`` counts the first try, so the default of 1 means no retry. The n-th retry waits
    ``min(max_backoff, backoff · multiplier**(n-1))`` before jitter. With ``respect_retry_after``
    (the default, as RFC 9110 asks) a 503 carrying a Retry-After (the queue's ``retry_after``)
    makes the client wait max(backoff, Retry-After). With ``on_timeout``, a client that waits for
    a response (``await_result`` or ``sync``) also retries an attempt that ran past its
    ``timeout``; the abandoned copy still runs, so every such retry adds work. ``budget`` limits
    the retries themselves (:mod:`queuesim.scenario.resilience`): a retry it refuses is not made.
    """

    attempts: Int = Field(default=1, ge=1, le=MAX_ATTEMPTS)
    backoff: Duration = 0.1
    multiplier: Float = Field(default=2.0, ge=1)
    max_backoff: Duration = 20.0
    jitter: Jitter = "full"
    respect_retry_after: bool = True
    on_timeout: bool = False
    budget: RetryBudget | None = None

    @model_validator(mode="after")
    def _cap_above_first_delay(self) -> RetryPolicy:
        if self.max_backoff < self.backoff:
            fail("RetryPolicy", [(("max_backoff",), f"must be ≥ backoff ({format_duration(self.backoff)})")], self.max_backoff)
        return self


class Producer(Frozen):
    """A source of requests published to one queue, and the client behaviour around each publish.

    Arrivals: one of ``rate`` (Poisson at a constant rate, or a time-varying ``Schedule``,
    ``Spike`` or ``Daily`` rate), ``interarrival`` (a renewal process with that distribution of
    gaps) or ``trace`` (recorded timestamps), and/or ``batch`` (a periodic job). ``arrivals:
    regular`` spaces a ``rate``'s arrivals evenly instead of at random.

    Client: ``retry`` on a 503; ``rate_limit`` (a token bucket every publish attempt must pass);
    ``timeout`` (the client stops waiting: counted as abandoned, the work still runs);
    ``patience`` (how long, from the accepted publish, the client waits for its request to start
    service; a request still waiting then leaves the queue unserved: reneged, and abandoned);
    ``await_result`` (the client
    waits for the task's result, delivered ``result_latency`` after the task ends); ``sync``
    (no broker: the pool reading ``to`` serves the request inline, ``to``'s ``capacity`` being
    the accept backlog). The Python attribute of ``rate`` is ``rate_spec``; :attr:`rate` is the
    constant rate or None.

    Resilience (:mod:`queuesim.scenario.resilience`): ``breaker`` (a circuit breaker: publishes
    fail fast while it is open), ``hedge`` (further copies of a slow request, for clients that
    wait), ``max_in_flight`` (at most that many requests in flight; later arrivals wait in the
    client), or, instead of an arrival process, ``users`` with ``think``: a closed population.
    """

    to: str
    rate_spec: RateSpec | None = Field(None, alias="rate")
    interarrival: Distribution | None = None
    trace: Annotated[Trace | None, BeforeValidator(trace_shorthand)] = None
    batch: Batch | None = None
    arrivals: ArrivalKind = "poisson"
    retry: RetryPolicy = RetryPolicy.model_validate({})  # the defaults: one attempt, no retry
    rate_limit: RateLimit | None = None
    timeout: PositiveDuration | None = None
    patience: Distribution | None = None
    await_result: bool = False
    result_latency: Distribution | None = None
    sync: bool = False
    breaker: CircuitBreaker | None = None
    hedge: Hedge | None = None
    max_in_flight: Int | None = Field(None, ge=1)
    users: Int | None = Field(None, ge=1)
    think: Distribution | None = None
    # larger is served first where the target queue has `max_priority` (queuesim.scenario.priority)
    priority: Int = Field(default=0, ge=0, le=MAX_PRIORITY)
    # Celery's apply_async(countdown=…): the task's ETA is its accepted publish + countdown (queuesim.scenario.celery)
    countdown: PositiveDuration | None = None

    @model_validator(mode="before")
    @classmethod
    def _beat(cls, data: Any) -> Any:
        return beat_shorthand(data)

    @model_validator(mode="after")
    def _one_arrival_process(self) -> Producer:
        given = [k for k, v in (("rate", self.rate_spec), ("interarrival", self.interarrival), ("trace", self.trace)) if v is not None]
        if self.users is not None or self.think is not None:
            fail("Producer", self._closed_violations(given) + self._client_violations())
            return self
        if len(given) > 1 or (not given and self.batch is None):
            if not given or given == ["rate", "interarrival"]:
                both = bool(given)
                fail(
                    "Producer",
                    [((), "give only one of `rate` or `interarrival`" if both else "give `rate` (Poisson) or `interarrival` (a distribution)")],
                )
            fail("Producer", [((), f"give only one of `rate`, `interarrival` or `trace`, not {' and '.join(f'`{k}`' for k in given)} (add periodic jobs with `batch`)")])
        if self.interarrival is not None and self.interarrival.mean <= 0:
            fail("Producer", [(("interarrival",), "mean interarrival time must be > 0")], str(self.interarrival))
        found: list[Violation] = []
        if self.arrivals != "poisson" and self.rate_spec is None:
            found.append((("arrivals",), "applies to `rate` only: an interarrival distribution, a trace or a batch sets its own times"))
        fail("Producer", found + self._client_violations(), None)
        return self

    def _client_violations(self) -> list[Violation]:
        """Rules of the client settings, whatever sends the requests (an arrival process or a closed population)."""
        found: list[Violation] = []
        if self.result_latency is not None and not (self.await_result or self.sync):
            found.append((("result_latency",), "needs `await_result: true`: nobody reads the result of a fire-and-forget request"))
        if self.retry.on_timeout and not self.waits_for_response:
            found.append((("retry", "on_timeout"), "needs `await_result: true` or `sync: true`: a fire-and-forget client has no response to time out on"))
        elif self.retry.on_timeout and self.timeout is None:
            found.append((("retry", "on_timeout"), "needs the producer's `timeout`"))
        if self.hedge is not None and not self.waits_for_response:
            found.append((("hedge",), "needs `await_result: true` or `sync: true`: only a client that waits for a response can race copies"))
        elif self.hedge is not None and self.retry.on_timeout:
            found.append((("hedge",), "hedging and `retry.on_timeout` both send copies of a slow request: choose one (gRPC allows a retry or a hedging policy, not both)"))
        return found

    def _closed_violations(self, given: list[str]) -> list[Violation]:
        """Rules of a closed population: ``users`` and ``think`` replace the arrival process."""
        found: list[Violation] = []
        if self.users is None:
            return [(("think",), "needs `users`: think time is what each user of a closed population waits between requests")]
        if self.think is None:
            found.append((("users",), "needs `think` (e.g. {dist: exponential, mean: 100ms}): what each user waits between requests"))
        elif self.think.mean <= 0:
            found.append((("think",), "mean think time must be > 0 (with none, a user that is refused at once would retry in the same instant for ever)"))
        for key in [*given, *(["batch"] if self.batch is not None else [])]:
            found.append(((key,), "a closed population (`users`) sends its own requests: drop the arrival process"))
        if self.arrivals != "poisson":
            found.append((("arrivals",), "applies to `rate` only, not to a closed population"))
        if self.max_in_flight is not None:
            found.append((("max_in_flight",), "a closed population already has at most `users` requests in flight"))
        return found

    @property
    def closed(self) -> bool:
        """Whether this is a closed population (``users``): its load follows its response times."""
        return self.users is not None

    @property
    def rate(self) -> float | None:
        """The constant Poisson rate per second, or None (a time-varying rate, interarrival, trace or batch only)."""
        return self.rate_spec if isinstance(self.rate_spec, float) else None

    @property
    def profile(self) -> RateProfile | None:
        """The time-varying rate (a Schedule, Spike or Daily), or None."""
        return None if self.rate_spec is None or isinstance(self.rate_spec, float) else self.rate_spec

    @property
    def waits_for_response(self) -> bool:
        """Whether the client waits for the work to be done (``await_result`` or ``sync``)."""
        return self.await_result or self.sync

    @property
    def mean_rate(self) -> float:
        """Requests per second in the long run: ``rate``, or 1 / mean interarrival.

        A schedule that ends counts its mean over its steps, a spike its base rate, a daily curve
        its mean, a trace its count over its span; a batch adds size / every. For the mean over a
        run's window use :meth:`mean_rate_over`.
        """
        base = 0.0
        if self.users is not None and self.think is not None:
            return closed_rate(self.users, self.think.mean)
        if self.rate_spec is not None:
            base = self.rate_spec if isinstance(self.rate_spec, float) else self.rate_spec.mean_rate
        elif self.interarrival is not None:
            base = 1.0 / self.interarrival.mean
        elif self.trace is not None:
            base = self.trace.mean_rate
        return base + (self.batch.mean_rate if self.batch is not None else 0.0)

    def expected_arrivals(self, lo: float, hi: float) -> float:
        """Expected requests created in [lo, hi) (exact for rates, traces and batches; 1/mean per second for a renewal process)."""
        span = max(0.0, hi - lo)
        total = 0.0
        if self.users is not None:  # the population's ceiling; Scenario.expected_arrivals bounds it by the servers
            return self.mean_rate * span
        if isinstance(self.rate_spec, float):
            total = self.rate_spec * span
        elif self.rate_spec is not None:
            total = float(self.rate_spec.cumulative(hi) - self.rate_spec.cumulative(lo))
        elif self.interarrival is not None:
            total = span / self.interarrival.mean
        elif self.trace is not None:
            total = self.trace.expected(lo, hi)
        if self.batch is not None:
            total += self.batch.expected(lo, hi)
        return float(total)

    def mean_rate_over(self, lo: float, hi: float) -> float:
        """Mean requests per second over [lo, hi), e.g. a run's window (warmup, duration)."""
        return self.expected_arrivals(lo, hi) / (hi - lo) if hi > lo else 0.0

    def scaled(self, factor: float) -> Producer:
        """This producer with its load multiplied by ``factor`` (rates, batch sizes rounded, trace speed)."""
        update: dict[str, Any] = {}
        if self.users is not None:
            update["users"] = max(1, round(self.users * factor))
        if self.rate_spec is not None:
            update["rate_spec"] = self.rate_spec * factor if isinstance(self.rate_spec, float) else self.rate_spec.scaled(factor)
        if self.interarrival is not None:
            update["interarrival"] = _scaled_gaps(self.interarrival, factor)
        if self.trace is not None:
            scaled_trace = self.trace.model_copy(update={"speed": self.trace.speed * factor})
            scaled_trace._times = array("d", (self.trace.times / factor).tolist())
            update["trace"] = scaled_trace
        if self.batch is not None:
            update["batch"] = self.batch.model_copy(update={"size": max(1, round(self.batch.size * factor))})
        return self.model_copy(update=update)


def _scaled_gaps(dist: Any, factor: float) -> Any:
    """An interarrival distribution with its times divided by ``factor``."""
    data = dist.model_dump()
    for key in ("mean", "value", "low", "high"):
        if isinstance(data.get(key), float):
            data[key] = data[key] / factor
    if "samples" in data:
        data["samples"] = [x / factor for x in data["samples"]]
    return type(dist).model_validate(data)


class QueueBase(Frozen):
    """Fields every broker kind shares; each kind subclasses this with a literal ``broker`` tag and its own fields.

    ``capacity`` bounds the messages *waiting* (not those being processed); None is unbounded,
    0 is no waiting room (a publish is taken only by an idle consumer). ``latency`` delays each
    published message before any worker can receive it. ``ttl`` is a message's time to live
    (SQS retention, RabbitMQ's per-queue ``x-message-ttl``, Celery's ``expires``): a message older
    than that, counted from its accepted publish, when a worker would receive it is dropped as
    expired, or moved to the dead-letter queue with ``ttl_dead_letter`` (RabbitMQ dead-letters
    expired messages to the queue's dead-letter exchange).
    """

    broker: str
    capacity: Int | None = Field(None, ge=0)
    latency: Distribution = Constant(value=0.0)
    # Retry-After carried by this queue's 503s (queuesim.scenario.load_shapes; honoured per retry.respect_retry_after)
    retry_after: PositiveDuration | None = None
    ttl: PositiveDuration | None = None
    ttl_dead_letter: bool = False

    @model_validator(mode="after")
    def _ttl_fields(self) -> QueueBase:
        if self.ttl_dead_letter and self.ttl is None:
            fail(type(self).__name__, [(("ttl_dead_letter",), "needs `ttl`: only an expired message is dead-lettered for its age")],
                 self.ttl_dead_letter)
        return self

    @property
    def bounded(self) -> bool:
        """Whether a publish can be refused for lack of room."""
        return self.capacity is not None

    @property
    def broker_mode(self) -> str | None:
        """Which of the broker's delivery patterns this queue uses (Redis ``mode``, SQS ``kind``); None if it has one.

        With the spec's class it names the live broker that serves the queue (:mod:`queuesim.sim.registry`).
        """
        return None

    @property
    def redelivers(self) -> bool:
        """Whether a message whose processing failed or crashed is delivered again (at-least-once)."""
        return False

    @property
    def delivery_cap(self) -> int | None:
        """Deliveries after which a message is dead-lettered rather than delivered again; None: no cap."""
        return None

    @property
    def label(self) -> str:
        """A short human name of the broker kind: ``redis list``, ``sqs fifo``, ``rabbitmq``."""
        mode = self.broker_mode
        return self.broker if mode is None else f"{self.broker} {mode}"


class RedisQueue(QueueBase):
    """Redis used as a broker, in one of four patterns (``mode``).

    ``list``: LPUSH/BRPOP, a received message is gone (at-most-once: lost if its worker crashes).
    ``reliable``: LMOVE into a processing list; a reaper re-queues copies left there longer than
    ``reclaim_after`` (at-least-once; a merely slow worker gives a duplicate).
    ``stream``: consumer groups; unacknowledged entries stay in the pending-entries list and are
    claimed again (XAUTOCLAIM) once idle for ``min_idle``; ``max_deliveries`` dead-letters an entry
    delivered that many times (an application rule: Redis has none).
    ``pubsub``: a message goes only to a worker free at that instant; the rest are dropped.
    ``persistence`` decides what a broker restart loses; ``maxmemory`` (in messages) with
    ``policy`` what a full instance does: refuse writes (503) or silently evict the oldest.
    """

    broker: Literal["redis"] = "redis"
    mode: Literal["list", "reliable", "stream", "pubsub", "celery"] = "list"
    # mode celery: Kombu's transport option; None is its default, 1 h (CELERY_VISIBILITY_TIMEOUT)
    visibility_timeout: PositiveDuration | None = None
    reclaim_after: PositiveDuration = 30.0
    min_idle: PositiveDuration = 30.0
    max_deliveries: Int | None = Field(None, ge=1)
    persistence: Literal["none", "aof-everysec", "aof-always", "rdb"] = "aof-everysec"
    snapshot_every: PositiveDuration = 300.0
    maxmemory: Int | None = Field(None, ge=1)
    policy: Literal["noeviction", "allkeys-lru"] = "noeviction"
    # Celery's priority steps: one list per step of 0..9 (queuesim.sim.priority.redis_levels)
    max_priority: Int | None = Field(None, ge=1, le=REDIS_MAX_PRIORITY)

    @model_validator(mode="before")
    @classmethod
    def _rdb_shorthand(cls, data: Any) -> Any:
        # `persistence: {rdb: {every: 5m}}` is the same as `persistence: rdb` + `snapshot_every: 5m`
        if isinstance(data, dict) and isinstance(data.get("persistence"), dict):
            spec = data["persistence"]
            if set(spec) == {"rdb"} and isinstance(spec["rdb"], dict) and set(spec["rdb"]) <= {"every"}:
                data = {**data, "persistence": "rdb"}
                if "every" in spec["rdb"]:
                    data["snapshot_every"] = spec["rdb"]["every"]
        return data

    @model_validator(mode="after")
    def _mode_fields(self) -> RedisQueue:
        if self.max_deliveries is not None and self.mode not in ("stream", "reliable"):
            fail("RedisQueue", [(("max_deliveries",), "only `stream` and `reliable` modes redeliver")], self.max_deliveries)
        if self.mode == "pubsub" and self.capacity is not None:
            fail("RedisQueue", [(("capacity",), "pub/sub keeps no backlog: a message no worker takes at once is dropped")], self.capacity)
        if self.mode == "pubsub" and self.ttl is not None:
            fail("RedisQueue", [(("ttl",), "pub/sub keeps no backlog: nothing waits long enough to expire")], self.ttl)
        if self.visibility_timeout is not None and self.mode != "celery":
            fail("RedisQueue", [(("visibility_timeout",), "is Celery's Redis transport option (mode: celery); "
                                 "a reliable list has `reclaim_after`, a stream `min_idle`")], self.visibility_timeout)
        if self.max_priority is not None and self.mode in ("stream", "pubsub"):
            fail("RedisQueue", [(("max_priority",), f"priority steps are Redis lists: not available in `{self.mode}` mode")],
                 self.max_priority)
        return self

    @property
    def broker_mode(self) -> str:
        """The Redis pattern: ``list``, ``reliable``, ``stream``, ``pubsub`` or ``celery`` (Kombu's transport)."""
        return self.mode

    @property
    def redelivers(self) -> bool:
        """The processing list (``reliable``), the pending-entries list (``stream``) and Kombu's unacked hash keep a copy."""
        return self.mode in ("reliable", "stream", "celery")

    @property
    def celery_visibility_timeout(self) -> float:
        """``visibility_timeout``, or Kombu's default of 1 h."""
        return self.visibility_timeout if self.visibility_timeout is not None else CELERY_VISIBILITY_TIMEOUT

    @property
    def delivery_cap(self) -> int | None:
        """``max_deliveries``."""
        return self.max_deliveries


class SqsQueue(QueueBase):
    """An SQS queue: a received message is hidden for ``visibility_timeout`` and reappears unless deleted.

    With ``max_receives`` set, a message received that many times goes to a dead-letter queue
    instead of reappearing; None means no dead-letter queue. ``kind: standard`` may deliver a
    message again on its own: a delete reaches every replica except with ``duplicate_probability``.
    ``kind: fifo`` has no such duplicates, keeps order within each of ``groups`` message groups
    (a group with a message in flight is blocked; None: every message its own group) and is
    limited to ``tps`` sends and receives per second (300/s, the quota without batching).

    A delete holding an older receipt handle (the message was received again after its visibility
    timeout) deletes the message on a standard queue, as measured against SQS; ``stale_receipts:
    ignored`` makes such a delete a no-op instead (the worst case: a job longer than the timeout is
    received again until ``max_receives``). On a FIFO queue a receipt handle expires with the
    visibility timeout, so a late delete always fails and the message is processed again.
    """

    broker: Literal["sqs"] = "sqs"
    visibility_timeout: PositiveDuration = 30.0
    max_receives: Int | None = Field(None, ge=1, le=1000)
    kind: Literal["standard", "fifo"] = "standard"
    duplicate_probability: Float = Field(0.0, ge=0, le=1)
    groups: Int | None = Field(None, ge=1)
    tps: PositiveRate | None = None
    stale_receipts: Literal["delete", "ignored"] | None = None  # None: the kind's own rule (receipt_rule)

    @model_validator(mode="before")
    @classmethod
    def _no_priorities(cls, data: Any) -> Any:
        if isinstance(data, dict) and "max_priority" in data:
            fail("SqsQueue", [(("max_priority",), SQS_NO_PRIORITY)], data["max_priority"])
        return data

    @field_validator("visibility_timeout")
    @classmethod
    def _within_sqs_limit(cls, value: float) -> float:
        if value > SQS_MAX_VISIBILITY_TIMEOUT:
            raise PydanticCustomError("duration", "{reason}", {"reason": f"must be ≤ 12h (the SQS maximum), got {format_duration(value)}"})
        return value

    @model_validator(mode="after")
    def _kind_fields(self) -> SqsQueue:
        if self.kind == "fifo" and self.duplicate_probability:
            fail("SqsQueue", [(("duplicate_probability",), "FIFO queues do not deliver spontaneous duplicates")], self.duplicate_probability)
        if self.kind == "standard" and self.groups is not None:
            fail("SqsQueue", [(("groups",), "message groups order FIFO queues only (set kind: fifo)")], self.groups)
        if self.kind == "standard" and self.tps is not None:
            fail("SqsQueue", [(("tps",), "standard queues have no per-queue throughput quota (set kind: fifo)")], self.tps)
        if self.kind == "fifo" and self.stale_receipts is not None:
            fail("SqsQueue", [(("stale_receipts",), "a FIFO receipt handle expires with the visibility timeout: "
                               "a late delete always fails (standard queues only)")], self.stale_receipts)
        return self

    @property
    def receipt_rule(self) -> Literal["delete", "ignored", "expire"]:
        """What a delete holding an older receipt handle does: ``delete`` (standard), ``ignored``, or ``expire`` (FIFO: it fails)."""
        if self.kind == "fifo":
            return "expire"
        return self.stale_receipts or "delete"

    @property
    def broker_mode(self) -> str:
        """``standard`` or ``fifo``."""
        return self.kind

    @property
    def redelivers(self) -> bool:
        """An undeleted message is visible again after its visibility timeout."""
        return True

    @property
    def delivery_cap(self) -> int | None:
        """``max_receives``."""
        return self.max_receives

    @property
    def throughput_limit(self) -> float | None:
        """Sends (and receives) per second: ``tps``, or 300/s for a FIFO queue."""
        return self.tps if self.tps is not None else (300.0 if self.kind == "fifo" else None)


class RabbitQueue(QueueBase):
    """A RabbitMQ (AMQP 0-9-1) queue: at-least-once with manual acks.

    Each consumer may hold ``prefetch`` unacknowledged messages (basic.qos). A failed message is
    requeued at once (basic.nack, requeue=true); when a consumer's connection drops (a crash)
    every message it held is requeued. ``delivery_limit`` dead-letters a message delivered more
    often (quorum queues, 20 by default since RabbitMQ 4.0; classic queues have none). A full
    queue (``capacity``) drops its oldest message (``overflow: drop-head``, RabbitMQ's default)
    or refuses the publish (``reject-publish``: a 503 to the producer). ``ack: auto`` removes a
    message on delivery (at-most-once).
    """

    broker: Literal["rabbitmq"] = "rabbitmq"
    prefetch: Int = Field(10, ge=1)
    overflow: Literal["drop-head", "reject-publish"] = "drop-head"
    delivery_limit: Int | None = Field(None, ge=1)
    ack: Literal["manual", "auto"] = "manual"
    consumer_timeout: PositiveDuration = 1800.0
    max_priority: Int | None = Field(None, ge=1, le=MAX_PRIORITY)  # x-max-priority: a priority queue

    @property
    def redelivers(self) -> bool:
        """Manual acks requeue an unacknowledged delivery; ``ack: auto`` is at-most-once."""
        return self.ack == "manual"

    @property
    def delivery_cap(self) -> int | None:
        """``delivery_limit``."""
        return self.delivery_limit


#: Field type for any queue, chosen by its ``broker`` key. New broker kinds join this union.
Queue = Annotated[RedisQueue | SqsQueue | RabbitQueue, Field(discriminator="broker")]


def _count_kind(value: Any) -> str:
    return "schedule" if isinstance(value, list | tuple | CountSchedule) else "fixed"


def _no_count_mapping(value: Any) -> Any:
    # what a new user tries first (issue 12): say where a range of counts goes
    if isinstance(value, dict):
        raise PydanticCustomError("count", "{reason}", {"reason": "must be an integer (a number of workers) or a schedule "
                                  "([{until: 1h, count: 4}, {count: 8}]); for a range give `autoscale: {policy: ..., min: .., max: ..}`"})
    return value


#: A pool's ``count``: a number of workers, or a schedule of counts (scheduled scaling).
Count = Annotated[
    Annotated[Annotated[Int, Field(ge=1, le=MAX_WORKERS)], Tag("fixed")] | Annotated[CountSchedule, Tag("schedule")],
    Discriminator(_count_kind), BeforeValidator(_no_count_mapping),
]


class WorkerPool(Frozen):
    """``count`` identical workers taking messages from one queue, each busy for a ``service`` time per message.

    ``service_per: message`` (the default) makes the service time a property of the message, its
    job size: every delivery of the same message to this pool takes the same time, as a real slow
    job stays slow when it is redelivered. ``service_per: attempt`` draws a fresh time for each
    delivery. First deliveries draw the same numbers either way.

    ``overhead`` is what a worker spends on each delivery outside the handler (poll, deserialise,
    acknowledge: 0.5–1 ms on real Redis and RabbitMQ workers): it holds the worker before the
    service time starts, counts in utilization and is not service time.

    With ``to`` set, each processed message publishes ``fanout`` messages to that queue. The Python
    attribute is ``from_`` (``from`` is a keyword); YAML and ``to_dict`` use ``from``. With
    ``drop_expired`` the pool honours propagated deadlines: a worker that takes a message whose
    client's deadline has passed drops it without processing it (gRPC servers check the deadline
    a call carries; a stale job is not worth its service time).
    """

    # one queue, or several for a Celery pool (`-Q a,b`: celery.queue_order says how they take turns)
    from_: str | Annotated[list[str], Field(min_length=2, max_length=MAX_NAMES)] = Field(alias="from")
    # a fixed count, a schedule (queuesim.scenario.autoscale), or None with `autoscale` (its min)
    count_spec: Count | None = Field(None, alias="count")
    service: Distribution
    service_per: ServicePer = "message"
    overhead: Distribution | None = None
    to: str | None = None
    fanout: Int = Field(1, ge=1, le=MAX_FANOUT)
    # faults (queuesim.scenario.faults): what the broker does with the message in hand decides
    # whether it is lost, redelivered later or requeued at once
    crash: Crash | None = None
    mtbf: PositiveDuration | None = None
    failure: Chance | None = None
    poison: Chance | None = None
    timeout: PositiveDuration | None = None
    idempotent: bool = False
    dedupe: Duration = 0.001
    # capacity over time (queuesim.scenario.autoscale): an autoscaler, deploys that replace every
    # worker, and how workers a schedule or a deploy adds start and stopped ones drain
    autoscale: Autoscale | None = None
    deploys: list[PositiveDuration] = Field(default_factory=list)
    startup: Duration = 0.0
    scale_in: ScaleIn = "finish"
    # deadline propagation (queuesim.sim.screen): a worker drops, unprocessed, a message whose
    # client is no longer waiting (its deadline passed, or another copy already answered it)
    drop_expired: bool = False
    # Celery worker instances: count × concurrency processes, prefetch, acks (queuesim.scenario.celery)
    celery: CelerySettings | None = None

    @property
    def slots(self) -> int:
        """Messages the pool processes at once: ``count``, times ``celery.concurrency`` for a Celery pool."""
        return self.count * (self.celery.concurrency if self.celery is not None else 1)

    @property
    def restart(self) -> float:
        """Seconds a crashed worker stays down (``crash.restart``, 5 s by default)."""
        return self.crash.restart if self.crash is not None else 5.0

    @model_validator(mode="after")
    def _fanout_needs_a_target(self) -> WorkerPool:
        if self.fanout > 1 and self.to is None:
            fail("WorkerPool", [(("fanout",), "fanout > 1 needs `to`: there is no downstream queue to publish to")], self.fanout)
        found: list[Violation] = []
        scaler = self.autoscale
        if scaler is None and self.count_spec is None:
            found.append((("count",), "required: a number of workers, a schedule, or an `autoscale:` policy instead"))
        if scaler is not None:
            found += [(("autoscale", *loc), msg) for loc, msg in scaler.bound_violations()]
            if isinstance(self.count_spec, CountSchedule):
                found.append((("count",), "a schedule and an autoscaler both set the count: give one (with `autoscale`, `count` is the count at the start)"))
            elif isinstance(self.count_spec, int) and not scaler.min <= self.count_spec <= scaler.max and scaler.min <= scaler.max:
                found.append((("count",), f"with `autoscale`, the count at the start must be within min..max ({scaler.min}..{scaler.max})"))
        if isinstance(self.from_, list):
            if self.celery is None:
                found.append((("from",), "a pool reads one queue; several (`-Q a,b`) need a Celery pool (`celery:`)"))
            if len(set(self.from_)) < len(self.from_):
                found.append((("from",), "names a queue twice"))
        if self.celery is not None and self.elastic:
            found.append((("celery",), "a Celery pool keeps a fixed count of instances here: give `count` a number, "
                          "without `autoscale` or `deploys`"))
        fail("WorkerPool", found, None)
        return self

    @property
    def elastic(self) -> bool:
        """Whether the pool's count can change during a run (a schedule, an autoscaler or a deploy)."""
        return not isinstance(self.count_spec, int) or self.autoscale is not None or bool(self.deploys)

    @property
    def count(self) -> int:
        """The most workers the pool can have: the fixed ``count``, a schedule's largest step or the autoscaler's ``max``.

        Offered load and capacity use it: an elastic pool is unstable only when even its ceiling falls behind.
        """
        if self.autoscale is not None:
            return self.autoscale.max
        if isinstance(self.count_spec, CountSchedule):
            return self.count_spec.ceiling
        assert self.count_spec is not None, "validated: count or autoscale"
        return self.count_spec

    @property
    def initial_count(self) -> int:
        """Workers running at time 0: the fixed count, the first step, or ``count`` (default: ``min``) under an autoscaler."""
        if isinstance(self.count_spec, CountSchedule):
            return self.count_spec.initial
        if self.autoscale is not None:
            return self.count_spec if self.count_spec is not None else self.autoscale.min
        assert self.count_spec is not None
        return self.count_spec

    @property
    def reads(self) -> tuple[str, ...]:
        """Every queue the pool reads, in the order given."""
        return tuple(self.from_) if isinstance(self.from_, list) else (self.from_,)

    @property
    def source(self) -> str:
        """The (first) queue the pool reads: the one whose semantics its workload is estimated with."""
        return self.reads[0]

    @property
    def has_overhead(self) -> bool:
        """Whether deliveries spend any time in ``overhead`` (a distribution fixed at 0 is none)."""
        return self.overhead is not None and not (self.overhead.mean == 0 and self.overhead.variance == 0)

    @property
    def holding(self) -> float:
        """Mean time a delivery holds a worker: service plus overhead."""
        return self.service.mean + (self.overhead.mean if self.overhead is not None else 0.0)

    @property
    def capacity(self) -> float:
        """Messages per second the pool completes when saturated and never failing: count / mean holding time
        (inf when it is 0); :meth:`Scenario.workload` adds what its faults cost."""
        mean = self.holding
        return math.inf if mean == 0 else self.slots / mean


class Scenario(Frozen):
    """A whole simulation: what arrives, where it waits, who serves it, for how long and how many times.

    Instances are frozen and fully validated: every name a producer or pool refers to exists, every
    queue is read, and routing has no cycle. Treat the mappings as read-only.
    """

    name: str = "scenario"
    seed: Int = Field(0, ge=0, le=MAX_SEED)
    duration: PositiveDuration
    warmup: Duration = 0.0
    replications: Int = Field(1, ge=1, le=MAX_REPLICATIONS)
    # what `queuesim run` keeps: every record (parquet, plots) or streamed statistics only (summary.json,
    # timeseries.csv), whose memory does not grow with the run; `--outputs` overrides it. Sweep points
    # and plan candidates stream unless this is set (queuesim.experiment.execute.point_outputs)
    outputs: Literal["full", "summary"] = "full"
    producers: Annotated[dict[Name, Producer], Field(min_length=1, max_length=MAX_NAMES)]
    queues: Annotated[dict[Name, Queue], Field(min_length=1, max_length=MAX_NAMES)]
    workers: Annotated[dict[Name, WorkerPool], Field(min_length=1, max_length=MAX_NAMES)]
    # Optional study sections (queuesim.scenario.study): what `queuesim sweep` varies, the limits
    # `plan` and sweep tables check, how precise a run must be, and the prices that give each run a cost.
    sweep: SweepSpec | None = None
    slo: Slo | None = None
    precision: PrecisionSpec | None = None
    cost: Cost | None = None
    # scheduled broker faults, and named override sets that `queuesim compare` runs side by side
    faults: list[BrokerFault] = Field(default_factory=list)
    variants: Variants = Field(default_factory=dict)

    @model_validator(mode="after")
    def _whole_scenario_rules(self) -> Scenario:
        found: list[Violation] = []
        if self.warmup >= self.duration:
            found.append((("warmup",), f"must be < duration ({format_duration(self.duration)})"))
        found += routing_violations(
            list(self.queues),
            {name: p.to for name, p in self.producers.items()},
            self._pool_edges(),
        )
        found += study_violations(self, check_values=not found)
        found += sync_violations(self.producers, self.workers, list(self.queues))
        found += priority_violations(self.producers, self.queues)
        found += celery_violations(self.producers, self.queues, self.workers)
        for i, fault in enumerate(self.faults):
            if fault.queue not in self.queues:
                found.append((("faults", i, "queue"), f"unknown queue '{fault.queue}'"))
            if fault.at >= self.duration:
                found.append((("faults", i, "at"), f"must be < duration ({format_duration(self.duration)})"))
        fail("Scenario", found, kind=SCENARIO_RULE)
        return self

    def _pool_edges(self) -> dict[str, tuple[str | None, str | None]]:
        edges: dict[str, tuple[str | None, str | None]] = {name: (pool.source, pool.to) for name, pool in self.workers.items()}
        for name, pool in self.workers.items():
            # a Celery pool's further queues are read too (it publishes nothing: no edge out of them)
            edges.update({f"{name}#{i}": (queue, None) for i, queue in enumerate(pool.reads[1:], 1) if queue in self.queues})
        return edges

    def pools_reading(self, queue_name: str) -> list[tuple[str, WorkerPool]]:
        """Worker pools that take messages from a queue.

        Parameters
        ----------
        queue_name : str

        Returns
        -------
        list of (name, WorkerPool)
            In file order; competing consumers when there is more than one.
        """
        return [(name, pool) for name, pool in self.workers.items() if queue_name in pool.reads]

    def topological_queues(self) -> list[str]:
        """Queue names in pipeline order: each after every queue that feeds it; ties in file order."""
        return topological_order(list(self.queues), self._pool_edges())

    def arrival_rates(self) -> dict[str, float]:
        """Messages per second entering each queue, ignoring losses (rejections, dead letters, retries).

        Producers contribute their mean rate. A pool forwards its share of its queue's arrivals
        times ``fanout``; pools competing for one queue share it in proportion to their effective
        capacity (:meth:`workload`), which is exact when they are saturated and an approximation otherwise.

        Returns
        -------
        dict of str to float
            Keyed by queue name, in pipeline order.
        """
        rates = {q: 0.0 for q in self.topological_queues()}
        window = self.duration - self.warmup
        for name, producer in self.producers.items():
            # time-varying load: its mean over the measurement window
            rates[producer.to] += self.expected_arrivals(name, self.warmup, self.duration) / window
        for queue in rates:  # pipeline order: a queue's inflow is final before it is forwarded
            for _name, pool, share in self._shares(queue):
                if pool.to is not None:
                    rates[pool.to] += rates[queue] * share * pool.fanout
        return rates

    def expected_arrivals(self, producer: str, lo: float, hi: float) -> float:
        """Expected requests a producer creates in [lo, hi).

        An open producer's own expectation (:meth:`Producer.expected_arrivals`). A closed
        population's rate depends on its response times; this is its asymptotic upper bound
        (Denning and Buzen's operational bounds) with the pools reading its queue as the one
        station: min(N / (Z + S), c / S) for N users, mean think Z, mean service S and c workers.
        """
        p = self.producers[producer]
        if not p.closed or p.users is None or p.think is None:
            return p.expected_arrivals(lo, hi)
        capacity = sum(pool.capacity for _, pool in self.pools_reading(p.to))
        service = sum(pool.count for _, pool in self.pools_reading(p.to)) / capacity if capacity and not math.isinf(capacity) else 0.0
        bound = min(p.users / (p.think.mean + service), capacity)
        return bound * max(0.0, hi - lo)

    def _shares(self, queue: str) -> list[tuple[str, WorkerPool, float]]:
        pools = self.pools_reading(queue)
        capacity = {n: self.workload(n).capacity for n, _ in pools}
        instant = [n for n, _ in pools if math.isinf(capacity[n])]
        if instant:  # zero-service pools take everything, split by worker count
            workers = sum(self.workers[n].count for n in instant)
            return [(n, p, p.count / workers if n in instant else 0.0) for n, p in pools]
        total = sum(capacity[n] for n, _ in pools)
        return [(n, p, capacity[n] / total) for n, p in pools]

    def workload(self, pool_name: str) -> Workload:
        """What one message costs a pool, faults and overhead included (:func:`queuesim.scenario.workload.workload`).

        Parameters
        ----------
        pool_name : str

        Returns
        -------
        Workload
            Expected deliveries and worker-seconds per message, and the pool's effective capacity.
        """
        pool = self.workers[pool_name]
        inline = any(p.sync and p.to == pool.source for p in self.producers.values())
        return workload(pool, self.queues[pool.source], inline=inline)

    def offered_load(self, *, faults: bool = True) -> dict[str, float]:
        """Offered load ρ per queue: arrival rate / the effective capacity of the pools reading it.

        A pool's effective capacity is count × availability / expected worker-seconds per
        message (:meth:`workload`): the overhead, the work and restarts crashes and failures
        cost, and the redeliveries they cause on an at-least-once queue. Without faults or
        overhead this is λ · E[S] / c; with competing pools, λ / Σ (cᵢ / E[Sᵢ]).

        Parameters
        ----------
        faults : bool, default True
            False leaves the faults out (crashes, failures, poison, mtbf): the load of a pool
            that never fails, for comparison.

        Returns
        -------
        dict of str to float
            Keyed by queue name, in pipeline order; 0 when service takes no time.
        """
        load: dict[str, float] = {}
        rates = self.arrival_rates()
        for queue, rate in rates.items():
            pools = self.pools_reading(queue)
            capacity = sum(self.workload(name).capacity if faults else pool.capacity for name, pool in pools)
            # a pool reading several queues (Celery -Q a,b) serves them all: their load is shared
            shared = {q for _, pool in pools for q in pool.reads}
            total = math.fsum(rates[q] for q in shared) if len(shared) > 1 else rate
            load[queue] = 0.0 if math.isinf(capacity) else total / capacity
        return load

    def unstable_queues(self) -> list[str]:
        """Unbounded queues with offered load ≥ 1 (faults included), whose backlog grows without limit."""
        queues = self.queues
        # a closed population holds at most its users' requests: it cannot grow a backlog for ever
        closed = {p.to for p in self.producers.values() if p.closed}
        open_to = {p.to for p in self.producers.values() if not p.closed}
        return [q for q, rho in self.offered_load().items()
                if rho >= 1 and not queues[q].bounded and not (q in closed and q not in open_to)]

    def with_load(self, factor: float) -> Scenario:
        """This scenario with every producer's load multiplied by ``factor`` (``queuesim plan --load``).

        Each producer scales itself (:meth:`Producer.scaled`): a constant rate, a schedule's steps,
        a spike's base and peak and a daily curve's mean and amplitude are multiplied, an
        interarrival distribution's times divided, a trace replayed faster, and a batch job
        enqueues ``factor`` times as many tasks at the same times (so ``spread ≤ every`` still
        holds). Client settings (``rate_limit``, ``timeout``) are design, not load, and stay.
        """
        if not (math.isfinite(factor) and factor > 0):
            raise ValueError(f"a load factor must be a finite number > 0, got {factor!r}")
        producers = {name: p.scaled(factor) for name, p in self.producers.items()}
        return self.model_copy(update={"producers": producers})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of the scenario: durations in float seconds, rates per second, ``from`` for ``from_``.

        ``scenario_from_dict(s.to_dict())`` gives back an equal scenario.
        """
        return self.model_dump(mode="json", by_alias=True)
