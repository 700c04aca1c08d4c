"""The scenario schema: producers, queues (one class per broker kind) and worker pools, with the rules that bind them."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from pydantic import Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ._base import SCENARIO_RULE, Float, Frozen, Int, Violation, fail
from .distributions import Constant, Distribution
from .routing import routing_violations, topological_order
from .units import Duration, PositiveDuration, PositiveRate, format_duration

__all__ = [
    "Name",
    "Jitter",
    "RetryPolicy",
    "Producer",
    "QueueBase",
    "RedisQueue",
    "SqsQueue",
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
    """A Redis list used as a queue: a received message is gone (at-most-once delivery)."""

    broker: Literal["redis"] = "redis"


class SqsQueue(QueueBase):
    """An SQS queue: a received message is hidden for ``visibility_timeout`` and reappears unless deleted.

    With ``max_receives`` set, a message received that many times goes to a dead-letter queue
    instead of reappearing; None means no dead-letter queue.
    """

    broker: Literal["sqs"] = "sqs"
    visibility_timeout: PositiveDuration = 30.0
    max_receives: Int | None = Field(None, ge=1, le=1000)

    @field_validator("visibility_timeout")
    @classmethod
    def _within_sqs_limit(cls, value: float) -> float:
        if value > SQS_MAX_VISIBILITY_TIMEOUT:
            raise PydanticCustomError("duration", "{reason}", {"reason": f"must be ≤ 12h (the SQS maximum), got {format_duration(value)}"})
        return value


#: Field type for any queue, chosen by its ``broker`` key. New broker kinds join this union.
Queue = Annotated[Union[RedisQueue, SqsQueue], Field(discriminator="broker")]


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
