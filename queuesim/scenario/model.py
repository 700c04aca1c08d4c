"""The scenario schema: producers, queues (one class per broker kind) and worker pools, with the rules that bind them."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from pydantic import Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ._base import SCENARIO_RULE, Float, Frozen, Int, Violation, fail
from .distributions import Constant, Distribution
from .faults import BrokerFault, Chance, Crash, Variants
from .routing import routing_violations, topological_order
from .study import Cost, Slo, SweepSpec, study_violations
from .units import Duration, PositiveDuration, PositiveRate, format_duration

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
    "WorkerPool",
    "Scenario",
    "SQS_MAX_VISIBILITY_TIMEOUT",
]

#: Names of producers, queues and pools: no dots, so ``--set workers.fulfil.count=12`` can address them.
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")]

#: How a retry delay is randomised (AWS architecture blog "Exponential Backoff And Jitter").
Jitter = Literal["none", "full", "equal", "decorrelated"]

#: SQS refuses visibility timeouts above 12 hours.
SQS_MAX_VISIBILITY_TIMEOUT = 12 * 3600.0


class RetryPolicy(Frozen):
    """How a producer retries a publish the broker refused (a 503 from a full queue).

    ``attempts`` counts the first try, so the default of 1 means no retry. The n-th retry waits
    ``min(max_backoff, backoff · multiplier**(n-1))`` before jitter.
    """

    attempts: Int = Field(1, ge=1)
    backoff: Duration = 0.1
    multiplier: Float = Field(2.0, ge=1)
    max_backoff: Duration = 20.0
    jitter: Jitter = "full"

    @model_validator(mode="after")
    def _cap_above_first_delay(self) -> RetryPolicy:
        if self.max_backoff < self.backoff:
            fail("RetryPolicy", [(("max_backoff",), f"must be ≥ backoff ({format_duration(self.backoff)})")], self.max_backoff)
        return self


class Producer(Frozen):
    """A source of messages published to one queue.

    Exactly one of ``rate`` (Poisson arrivals, per second) or ``interarrival`` (a renewal process
    with that distribution of gaps) is set.
    """

    to: str
    rate: PositiveRate | None = None
    interarrival: Distribution | None = None
    retry: RetryPolicy = RetryPolicy()

    @model_validator(mode="after")
    def _one_arrival_process(self) -> Producer:
        if (self.rate is None) == (self.interarrival is None):
            both = self.rate is not None
            fail(
                "Producer",
                [((), "give only one of `rate` or `interarrival`" if both else "give `rate` (Poisson) or `interarrival` (a distribution)")],
            )
        if self.interarrival is not None and self.interarrival.mean <= 0:
            fail("Producer", [(("interarrival",), "mean interarrival time must be > 0")], str(self.interarrival))
        return self

    @property
    def mean_rate(self) -> float:
        """Messages per second: ``rate``, or 1 / mean interarrival."""
        if self.rate is not None:
            return self.rate
        assert self.interarrival is not None  # guaranteed by validation
        return 1.0 / self.interarrival.mean


class QueueBase(Frozen):
    """Fields every broker kind shares; each kind subclasses this with a literal ``broker`` tag and its own fields.

    ``capacity`` bounds the messages *waiting* (not those being processed); None is unbounded.
    ``latency`` delays each published message before any worker can receive it.
    """

    broker: str
    capacity: Int | None = Field(None, ge=0)
    latency: Distribution = Constant(value=0.0)

    @property
    def bounded(self) -> bool:
        """Whether a publish can be refused for lack of room."""
        return self.capacity is not None


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
    mode: Literal["list", "reliable", "stream", "pubsub"] = "list"
    reclaim_after: PositiveDuration = 30.0
    min_idle: PositiveDuration = 30.0
    max_deliveries: Int | None = Field(None, ge=1)
    persistence: Literal["none", "aof-everysec", "aof-always", "rdb"] = "aof-everysec"
    snapshot_every: PositiveDuration = 300.0
    maxmemory: Int | None = Field(None, ge=1)
    policy: Literal["noeviction", "allkeys-lru"] = "noeviction"

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
        return self


class SqsQueue(QueueBase):
    """An SQS queue: a received message is hidden for ``visibility_timeout`` and reappears unless deleted.

    With ``max_receives`` set, a message received that many times goes to a dead-letter queue
    instead of reappearing; None means no dead-letter queue. ``kind: standard`` may deliver a
    message again on its own: a delete reaches every replica except with ``duplicate_probability``.
    ``kind: fifo`` has no such duplicates, keeps order within each of ``groups`` message groups
    (a group with a message in flight is blocked; None: every message its own group) and is
    limited to ``tps`` sends and receives per second (300/s, the quota without batching).
    """

    broker: Literal["sqs"] = "sqs"
    visibility_timeout: PositiveDuration = 30.0
    max_receives: Int | None = Field(None, ge=1, le=1000)
    kind: Literal["standard", "fifo"] = "standard"
    duplicate_probability: Float = Field(0.0, ge=0, le=1)
    groups: Int | None = Field(None, ge=1)
    tps: PositiveRate | None = None

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
        return self

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


#: Field type for any queue, chosen by its ``broker`` key. New broker kinds join this union.
Queue = Annotated[Union[RedisQueue, SqsQueue, RabbitQueue], Field(discriminator="broker")]


class WorkerPool(Frozen):
    """``count`` identical workers taking messages from one queue, each busy for a ``service`` time per message.

    With ``to`` set, each processed message publishes ``fanout`` messages to that queue. The Python
    attribute is ``from_`` (``from`` is a keyword); YAML and ``to_dict`` use ``from``.
    """

    from_: str = Field(alias="from")
    count: Int = Field(ge=1)
    service: Distribution
    to: str | None = None
    fanout: Int = Field(1, ge=1)
    # faults (queuesim.scenario.faults): what the broker does with the message in hand decides
    # whether it is lost, redelivered later or requeued at once
    crash: Crash | None = None
    mtbf: PositiveDuration | None = None
    failure: Chance | None = None
    poison: Chance | None = None
    timeout: PositiveDuration | None = None
    idempotent: bool = False
    dedupe: Duration = 0.001

    @property
    def restart(self) -> float:
        """Seconds a crashed worker stays down (``crash.restart``, 5 s by default)."""
        return self.crash.restart if self.crash is not None else 5.0

    @model_validator(mode="after")
    def _fanout_needs_a_target(self) -> WorkerPool:
        if self.fanout > 1 and self.to is None:
            fail("WorkerPool", [(("fanout",), "fanout > 1 needs `to`: there is no downstream queue to publish to")], self.fanout)
        return self

    @property
    def capacity(self) -> float:
        """Messages per second the pool completes when saturated: count / mean service (inf for zero service)."""
        mean = self.service.mean
        return math.inf if mean == 0 else self.count / mean


class Scenario(Frozen):
    """A whole simulation: what arrives, where it waits, who serves it, for how long and how many times.

    Instances are frozen and fully validated: every name a producer or pool refers to exists, every
    queue is read, and routing has no cycle. Treat the mappings as read-only.
    """

    name: str = "scenario"
    seed: Int = Field(0, ge=0)
    duration: PositiveDuration
    warmup: Duration = 0.0
    replications: Int = Field(1, ge=1)
    producers: Annotated[dict[Name, Producer], Field(min_length=1)]
    queues: Annotated[dict[Name, Queue], Field(min_length=1)]
    workers: Annotated[dict[Name, WorkerPool], Field(min_length=1)]
    # Optional study sections (queuesim.scenario.study): what `queuesim sweep` varies, the limits
    # `plan` and sweep tables check, and the prices that give each run a cost.
    sweep: SweepSpec | None = None
    slo: Slo | None = None
    cost: Cost | None = None
    # scheduled broker faults, and named override sets that `queuesim compare` runs side by side
    faults: list[BrokerFault] = []
    variants: Variants = {}

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
        for i, fault in enumerate(self.faults):
            if fault.queue not in self.queues:
                found.append((("faults", i, "queue"), f"unknown queue '{fault.queue}'"))
            if fault.at >= self.duration:
                found.append((("faults", i, "at"), f"must be < duration ({format_duration(self.duration)})"))
        fail("Scenario", found, kind=SCENARIO_RULE)
        return self

    def _pool_edges(self) -> dict[str, tuple[str | None, str | None]]:
        return {name: (pool.from_, pool.to) for name, pool in self.workers.items()}

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
        return [(name, pool) for name, pool in self.workers.items() if pool.from_ == queue_name]

    def topological_queues(self) -> list[str]:
        """Queue names in pipeline order: each after every queue that feeds it; ties in file order."""
        return topological_order(list(self.queues), self._pool_edges())

    def arrival_rates(self) -> dict[str, float]:
        """Messages per second entering each queue, ignoring losses (rejections, dead letters, retries).

        Producers contribute their mean rate. A pool forwards its share of its queue's arrivals
        times ``fanout``; pools competing for one queue share it in proportion to their capacity
        (count / mean service), which is exact when they are saturated and an approximation otherwise.

        Returns
        -------
        dict of str to float
            Keyed by queue name, in pipeline order.
        """
        rates = {q: 0.0 for q in self.topological_queues()}
        for producer in self.producers.values():
            rates[producer.to] += producer.mean_rate
        for queue in rates:  # pipeline order: a queue's inflow is final before it is forwarded
            for name, pool, share in self._shares(queue):
                if pool.to is not None:
                    rates[pool.to] += rates[queue] * share * pool.fanout
        return rates

    def _shares(self, queue: str) -> list[tuple[str, WorkerPool, float]]:
        pools = self.pools_reading(queue)
        instant = [p for _, p in pools if math.isinf(p.capacity)]
        if instant:  # zero-service pools take everything, split by worker count
            total = sum(p.count for p in instant)
            return [(n, p, p.count / total if p in instant else 0.0) for n, p in pools]
        total = sum(p.capacity for _, p in pools)
        return [(n, p, p.capacity / total) for n, p in pools]

    def offered_load(self) -> dict[str, float]:
        """Offered load ρ per queue: arrival rate / total service capacity of the pools reading it.

        With one pool this is λ · E[S] / c; with competing pools, λ / Σ (cᵢ / E[Sᵢ]).

        Returns
        -------
        dict of str to float
            Keyed by queue name, in pipeline order; 0 when service takes no time.
        """
        load: dict[str, float] = {}
        for queue, rate in self.arrival_rates().items():
            capacity = sum(pool.capacity for _, pool in self.pools_reading(queue))
            load[queue] = 0.0 if math.isinf(capacity) else rate / capacity
        return load

    def unstable_queues(self) -> list[str]:
        """Unbounded queues with offered load ≥ 1, whose backlog grows without limit."""
        queues = self.queues
        return [q for q, rho in self.offered_load().items() if rho >= 1 and not queues[q].bounded]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of the scenario: durations in float seconds, rates per second, ``from`` for ``from_``.

        ``scenario_from_dict(s.to_dict())`` gives back an equal scenario.
        """
        return self.model_dump(mode="json", by_alias=True)
