"""Capacity over time: a pool's count as a schedule, deploys that replace its workers, and the autoscalers people run.

Each policy is a frozen model whose defaults are the real controller's documented defaults, with
the source beside each one; a default that no documentation gives is marked *assumption*.
``queuesim.sim.autoscale`` runs them. Sources (read for issue 12):

* AWS target tracking on an SQS backlog: https://docs.amazonaws.cn/en_us/autoscaling/ec2/userguide/as-using-sqs-queue.md
  (backlog per instance = ``ApproximateNumberOfMessages`` / running instances, against an acceptable
  backlog per instance = acceptable latency / processing time);
  https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_TargetTrackingConfiguration.html
  (a count metric's target is "the optimal average ... message count per instance during any
  one-minute interval"); https://docs.aws.amazon.com/autoscaling/application/APIReference/API_TargetTrackingScalingPolicyConfiguration.html
  (ScaleInCooldown 300 s default; a scale-out during a scale-in cooldown goes ahead at once);
  https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-target-tracking.html
  ("scales out proportionally to the metric as fast as it can, but scales in more gradually").
  The alarms target tracking creates (3 one-minute datapoints above the target to scale out, 15
  below 90% of it to scale in) are what the AWS console shows for such a policy: written here as
  the defaults of ``scale_out_periods``, ``scale_in_periods`` and ``scale_in_ratio``.
* KEDA: https://keda.sh/docs/latest/reference/scaledobject-spec (pollingInterval 30 s,
  cooldownPeriod 300 s, minReplicaCount 0, maxReplicaCount 100);
  https://keda.sh/docs/latest/scalers/aws-sqs/ (queueLength 5, activationQueueLength 0; "actual
  messages" = ApproximateNumberOfMessages + ApproximateNumberOfMessagesNotVisible by default).
* Kubernetes HPA: sync period 15 s (``--horizontal-pod-autoscaler-sync-period``), tolerance 10%,
  scale-up stabilization 0 s and scale-down 300 s, default policies "for scale up: allow doubling
  the number of pods, or an absolute change of 4 pods in a 15s window; for scale down: allow all pods
  to be removed in a 15s window", selectPolicy Max (autoscaling/v2 HPAScalingRules, e.g.
  https://storage.googleapis.com/pulumi-kotlin-docs/kubernetes/4.23.0.0/pulumi-kubernetes-kotlin/com.pulumi.kubernetes.autoscaling.v2.kotlin.inputs/-h-p-a-scaling-rules-patch-args/index.html
  and https://kubemastery.com/en/courses/cka/hpa-stabilization-and-behavior); a pod's
  terminationGracePeriodSeconds is 30 s by default (Kubernetes pod spec).
* Lambda with SQS: https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html (starts
  with five concurrent batches, adds "up to 300 more instances per minute" while messages are
  available, at most 1,000 concurrent batches, back to five when traffic is low);
  https://docs.aws.amazon.com/lambda/latest/dg/API_ScalingConfig.html (MaximumConcurrency 2–1,000).
  Batch size 10 is the SQS event source's default.
* Celery: https://docs.celeryq.dev/en/stable/internals/reference/celery.worker.autoscale.html
  (``Autoscaler(pool, max_concurrency, min_concurrency=0, worker=None, keepalive=30.0)``) and its
  source (``AUTOSCALE_KEEPALIVE = 30``; the thread checks every second; it grows to
  ``min(qty, max)`` where ``qty`` is the number of reserved tasks, and shrinks only once
  ``keepalive`` has passed since the last scale-up).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, RootModel, model_validator

from ._base import Float, Frozen, Int, Violation, fail
from .limits import MAX_WORKERS
from .units import Duration, PositiveDuration, format_duration

__all__ = [
    "CountStep",
    "CountSchedule",
    "ScaleIn",
    "TargetTracking",
    "Keda",
    "LambdaSqs",
    "CeleryAutoscale",
    "Autoscale",
]

#: What a worker chosen to stop does with what it holds: finish it (a graceful shutdown), or
#: abandon it at once (the broker's semantics decide: redelivered when at-least-once, lost otherwise).
ScaleIn = Literal["finish", "abandon"]

Workers = Annotated[int, Field(ge=0, le=MAX_WORKERS)]


class CountStep(Frozen):
    """One step of a scheduled count: ``count`` workers until ``until`` (the last step may hold to the end)."""

    until: PositiveDuration | None = None
    count: Workers


class CountSchedule(RootModel[tuple[CountStep, ...]]):
    """Scheduled scaling: ``count: [{until: 7h, count: 2}, {until: 10h, count: 12}, {count: 4}]``.

    Step i holds from the previous step's ``until`` (0 for the first) to its own; the last step
    holds to the end of the run. As with a rate schedule, every ``until`` but the last is required.
    """

    model_config = {"frozen": True}
    root: Annotated[tuple[CountStep, ...], Field(min_length=1)]

    @property
    def steps(self) -> tuple[CountStep, ...]:
        """The steps, in order."""
        return self.root

    @model_validator(mode="after")
    def _increasing(self) -> CountSchedule:
        found: list[Violation] = []
        last = 0.0
        for i, step in enumerate(self.steps):
            if step.until is None:
                if i != len(self.steps) - 1:
                    found.append(((i, "until"), "required: only the last step may leave out `until` (it then holds to the end of the run)"))
                continue
            if step.until <= last:
                found.append(((i, "until"), f"must be after the previous step's until ({format_duration(last)})"))
            last = step.until
        if not found and not any(s.count > 0 for s in self.steps):
            found.append(((), "every step has count 0: no worker would ever run"))
        fail("CountSchedule", found, None)
        return self

    def changes(self) -> list[tuple[float, int]]:
        """``(time, count)`` at each step's start, from 0."""
        out, start = [], 0.0
        for step in self.steps:
            out.append((start, step.count))
            start = step.until if step.until is not None else start
        return out

    @property
    def ceiling(self) -> int:
        """The most workers any step asks for."""
        return max(s.count for s in self.steps)

    @property
    def initial(self) -> int:
        """Workers at time 0."""
        return self.steps[0].count


class _Policy(Frozen):
    """Fields every autoscaler shares: its bounds and what a stopped worker does with what it holds."""

    min: Workers = 1
    max: Annotated[int, Field(ge=1, le=MAX_WORKERS)]
    scale_in: ScaleIn = "finish"

    def bound_violations(self) -> list[Violation]:
        """Problems with ``min`` and ``max`` (and the policy's own bounds)."""
        return [(("min",), f"must be ≤ max ({self.max})")] if self.min > self.max else []

    @property
    def startup(self) -> float:
        """Seconds a worker this policy adds spends starting before it takes work."""
        raise NotImplementedError

    @property
    def grace_period(self) -> float | None:
        """Seconds a stopped worker may take to finish what it holds before it abandons it; None: as long as it needs."""
        return None


class TargetTracking(_Policy):
    """AWS target tracking on an SQS backlog per instance (the AWS guidance for queue worker fleets).

    Every ``period`` (CloudWatch's one-minute datapoint) the controller reads the queue's visible
    backlog (``ApproximateNumberOfMessages``) as published ``lag`` earlier. When the last
    ``scale_out_periods`` datapoints of backlog / instances are all above ``target`` it sets the
    capacity to ``ceil(backlog / target)`` (proportional, instances still warming up counted as
    capacity so they are not launched twice); when the last ``scale_in_periods`` are all below
    ``scale_in_ratio × target`` and ``cooldown`` has passed since the last scaling activity, it
    lowers the capacity towards ``ceil(backlog / target)``, by at most ``scale_in_step`` of it at a
    time (AWS scales in "more gradually" and gives no number: 10% is an assumption; 1 removes all at
    once). A launched instance serves after ``warmup``.
    """

    policy: Literal["target_tracking"] = "target_tracking"
    metric: Literal["backlog_per_worker"] = "backlog_per_worker"
    target: Annotated[float, Field(gt=0)]
    period: PositiveDuration = 60.0  # CloudWatch standard resolution: one datapoint a minute
    lag: Duration = 0.0  # how late a datapoint reaches the alarm (assumption: 0; SQS metrics can arrive minutes late)
    scale_out_periods: Int = Field(3, ge=1)
    scale_in_periods: Int = Field(15, ge=1)
    scale_in_ratio: Float = Field(0.9, gt=0, le=1)
    scale_in_step: Float = Field(0.1, gt=0, le=1)
    warmup: Duration = 300.0  # estimated instance warm-up (assumption: AWS leaves it unset; 300 s is the cooldown default)
    cooldown: Duration = 300.0  # ScaleInCooldown default

    @property
    def startup(self) -> float:
        return self.warmup


class Keda(_Policy):
    """KEDA's queue-length scaler feeding a Kubernetes HPA, with scale to and from zero.

    KEDA polls the queue every ``polling_interval``: a length above ``activation`` activates the
    deployment (0 → 1 pod at once), and ``cooldown_period`` without activation scales it to zero
    (only when ``min`` is 0). Between 1 and ``max`` the HPA decides every ``sync_period``, reading
    the scaler's metric then (KEDA answers the HPA's query fresh unless ``cached_metrics``):
    desired = ceil(length / ``queue_length``) unless the ratio to the current count is within
    ``tolerance``; scale-up limited to max(``up_percent`` %, ``up_pods``) per ``up_period``,
    scale-down to ``down_percent`` % per ``down_period``; a scale-down uses the highest
    recommendation of the last ``down_stabilization`` seconds (scale-up: ``up_stabilization``).
    The length counts in-flight messages when ``in_flight`` (KEDA's SQS default; its Redis list
    scaler reads only LLEN, the waiting messages). A pod serves ``startup`` after it is created and
    has ``grace`` (terminationGracePeriodSeconds) to finish what it holds when it is stopped.
    """

    policy: Literal["keda"] = "keda"
    min: Workers = 0  # minReplicaCount
    max: Annotated[int, Field(ge=1, le=MAX_WORKERS)] = 100  # maxReplicaCount
    queue_length: Annotated[float, Field(gt=0)] = 5.0
    activation: Annotated[float, Field(ge=0)] = 0.0
    in_flight: bool | None = None  # None: the scaler's default for the broker (sqs, rabbitmq: true; redis: false)
    polling_interval: PositiveDuration = 30.0
    cooldown_period: Duration = 300.0
    cached_metrics: bool = False
    sync_period: PositiveDuration = 15.0
    tolerance: Float = Field(0.1, ge=0)
    up_stabilization: Duration = 0.0
    down_stabilization: Duration = 300.0
    up_percent: Float = Field(100.0, ge=0)
    up_pods: Int = Field(4, ge=0)
    up_period: PositiveDuration = 15.0
    down_percent: Float = Field(100.0, ge=0, le=100)
    down_period: PositiveDuration = 15.0
    pod_startup: Duration = Field(30.0, alias="startup")  # assumption: image pull + readiness; not a documented default
    grace: Duration | None = 30.0  # terminationGracePeriodSeconds

    @property
    def startup(self) -> float:
        return self.pod_startup

    @property
    def grace_period(self) -> float | None:
        return self.grace


class LambdaSqs(_Policy):
    """AWS Lambda polling SQS (an event source mapping): concurrency ramps with the backlog.

    Every ``ramp_interval`` (a minute) the poller fleet sees the visible backlog and the batches in
    hand: it wants ``batches in hand + ceil(visible / batch_size)`` concurrent invocations and grows
    towards that by at most ``ramp`` per interval, up to ``max`` (the mapping's maximum concurrency,
    1,000 batches without one); with no backlog it falls back to ``min`` (five concurrent batches),
    never below the invocations still running. A new execution environment serves after
    ``cold_start``. Each concurrency slot serves one message at a time here: the batch size sets
    how many slots a backlog calls for, not how messages are grouped (``batching_window`` is not modelled).
    """

    policy: Literal["lambda_sqs"] = "lambda_sqs"
    min: Workers = 5
    max: Annotated[int, Field(ge=2, le=MAX_WORKERS)] = 1000
    ramp: Int = Field(300, ge=1)
    ramp_interval: PositiveDuration = 60.0
    batch_size: Int = Field(10, ge=1, le=10_000)
    cold_start: Duration = 0.5  # assumption: AWS reports cold starts from under 100 ms to over a second

    @property
    def startup(self) -> float:
        return self.cold_start


class CeleryAutoscale(_Policy):
    """Celery's ``--autoscale=max,min``: the worker grows its process pool to the tasks it has reserved.

    Every ``check`` (the autoscaler thread's one-second sleep) it reads ``qty``, the tasks the
    worker has reserved (running plus prefetched: at most ``prefetch_multiplier`` × processes):
    above the processes, it grows to ``min(qty, max)``; below, it shrinks (idle processes only) to
    ``max(qty, min)``, but only once ``keepalive`` has passed since the last scale-up (and never
    before a first one, as Celery's ``scale_down`` reads). A new process serves after ``startup``.
    """

    policy: Literal["celery_autoscale"] = "celery_autoscale"
    min: Workers = 0
    keepalive: PositiveDuration = 30.0
    check: PositiveDuration = 1.0
    prefetch_multiplier: Int = Field(4, ge=1)
    process_startup: Duration = Field(0.0, alias="startup")

    @property
    def startup(self) -> float:
        return self.process_startup


#: Field type of a pool's ``autoscale``, chosen by its ``policy`` key. New controllers join this union.
Autoscale = Annotated[TargetTracking | Keda | LambdaSqs | CeleryAutoscale, Field(discriminator="policy")]
