"""Elastic capacity: a pool's live worker count, and the controllers that change it (schedules, deploys, autoscalers).

:class:`Capacity` owns which of a pool's worker slots are provisioned: *starting* (launched, not
yet serving: warm-up, pod start-up, cold start), *serving*, or *draining* (stopped: finishing what
they hold, or abandoning it at once or after a grace period; the broker's semantics then decide
what becomes of it, as in a crash). Every provisioned worker is billed, so ``worker_seconds``
integrates the provisioned count; a starting worker takes no work.

Each controller is one chain of SimPy timeouts at its own interval (never an event per message)
and reads only what the real controller sees: the queue's visible length (and in-flight count
where its metric includes it), sampled at its interval and, for CloudWatch alarms, with its lag.
The rules and their documented defaults are in :mod:`queuesim.scenario.autoscale`.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING

from simpy import Environment
from simpy.events import Timeout

from queuesim.scenario.autoscale import CeleryAutoscale, CountSchedule, Keda, LambdaSqs, ScaleIn, TargetTracking

if TYPE_CHECKING:
    from queuesim.scenario.model import WorkerPool
    from queuesim.sim.broker import Broker
    from queuesim.sim.worker import Consumer, Pool

__all__ = ["Capacity", "CapacityLog", "wire_capacity"]


class CapacityLog:
    """What one elastic pool's count did: the provisioned count after every change, and each scaling decision.

    Attributes
    ----------
    times, counts : array
        The provisioned (billed) workers from ``times[i]`` on; ``times[0]`` is 0.
    ups, downs : array
        When a decision raised (lowered) the pool's desired count.
    ceiling : int
        The most workers the pool may have (the autoscaler's ``max``, the schedule's largest step).
    """

    def __init__(self, ceiling: int) -> None:
        self.times = array("d")
        self.counts = array("l")
        self.ups = array("d")
        self.downs = array("d")
        self.ceiling = ceiling

    def note(self, now: float, count: int) -> None:
        if self.times and self.times[-1] == now:
            self.counts[-1] = count  # several changes in one instant: keep the last
        else:
            self.times.append(now)
            self.counts.append(count)

    def to_dict(self) -> dict[str, object]:
        """The run record's ``extra["capacity"][pool]``."""
        return {"times": list(self.times), "counts": list(self.counts), "ups": list(self.ups),
                "downs": list(self.downs), "ceiling": self.ceiling}


class Capacity:
    """The live count of one elastic pool: which worker slots are starting, serving or draining."""

    def __init__(self, env: Environment, pool: Pool, initial: int, ceiling: int, *, startup: float,
                 scale_in: ScaleIn, grace: float | None) -> None:
        self.env = env
        self.pool = pool
        self.startup = startup
        self.scale_in = scale_in
        self.grace = grace
        self.log = CapacityLog(ceiling)
        workers = pool.workers
        self.free: list[Consumer] = list(reversed(workers[initial:]))  # pop() gives the lowest slot
        self.starting: dict[Consumer, int] = {}  # → launch number, so a cancelled launch's timeout is ignored
        self.serving: list[Consumer] = list(workers[:initial])
        self.draining: set[Consumer] = set()
        self.replaced: list[Consumer] = []  # still serving, to be stopped once a deploy's replacements serve
        self._launches = 0
        for w in workers[initial:]:
            w.off = True

    # -- what a controller reads ----------------------------------------------------------------
    @property
    def desired(self) -> int:
        """Workers the pool is meant to have: starting and serving (not draining, not being replaced)."""
        return len(self.starting) + len(self.serving)

    @property
    def provisioned(self) -> int:
        """Billed workers: starting, serving, being replaced and draining."""
        return len(self.starting) + len(self.serving) + len(self.replaced) + len(self.draining)

    def held(self) -> int:
        """Messages the pool's workers hold (in service, prefetched or waiting for room downstream): SQS's in-flight."""
        return sum((w.message >= 0) + len(w.buffer) for w in self.pool.workers if not w.off)

    # -- changing the count ---------------------------------------------------------------------
    def start(self) -> None:
        self.log.note(0.0, self.provisioned)
        for w in self.serving:
            self.pool.serve(w)

    def scale_to(self, count: int, *, startup: float | None = None) -> None:
        """Set the desired count (a controller's decision): launch or stop the difference."""
        now = self.env.now
        current = self.desired
        if count > current:
            self.log.ups.append(now)
            self.launch(count - current, self.startup if startup is None else startup)
        elif count < current:
            self.log.downs.append(now)
            self.stop(current - count)
        self.log.note(now, self.provisioned)

    def launch(self, n: int, startup: float, then: Callable[[], None] | None = None) -> None:
        """Start ``n`` workers from free slots; each serves ``startup`` later (``then`` runs when the last does)."""
        batch = []
        for _ in range(min(n, len(self.free))):
            w = self.free.pop()
            w.off = False
            self._launches += 1
            self.starting[w] = self._launches
            batch.append((w, self._launches))
        if startup <= 0:
            for w, _ in batch:
                self._ready(w, self.starting[w])
            if then is not None:
                then()
            return

        def ready(_e: object) -> None:
            for w, launch in batch:
                self._ready(w, launch)
            if then is not None:
                then()
            self.log.note(self.env.now, self.provisioned)

        Timeout(self.env, startup).callbacks.append(ready)

    def _ready(self, w: Consumer, launch: int) -> None:
        if self.starting.get(w) != launch:
            return  # stopped while it was starting
        del self.starting[w]
        self.serving.append(w)
        self.pool.serve(w)

    def stop(self, n: int) -> None:
        """Stop ``n`` workers: launches not yet serving first, then idle workers, then busy ones (newest first)."""
        for w in list(self.starting)[::-1][:n]:
            del self.starting[w]
            self._release(w)
            n -= 1
        if n <= 0:
            return
        idle = [w for w in self.serving if w.message < 0 and not w.buffer and not w.down]
        busy = [w for w in self.serving if not (w.message < 0 and not w.buffer and not w.down)]
        for w in (idle[::-1] + busy[::-1])[:n]:
            self.serving.remove(w)
            self.retire(w)

    def stop_idle(self, n: int) -> int:
        """Stop up to ``n`` idle serving workers only (Celery's pool shrink); returns how many stopped."""
        idle = [w for w in self.serving if w.message < 0 and not w.buffer and not w.down][::-1][:n]
        for w in idle:
            self.serving.remove(w)
            self.retire(w)
        return len(idle)

    def retire(self, w: Consumer) -> None:
        """A serving worker is stopped: withdrawn from the broker; it finishes or abandons what it holds."""
        self.pool.upstream.forget_consumer(w)
        if not w.down and w.message < 0 and not w.buffer:
            self._release(w)
            return
        w.retiring = True
        self.draining.add(w)
        if w.down:
            return  # crashed and restarting: its restart finds it draining, holding nothing
        if self.scale_in == "abandon":
            self._abandon(w)
        elif self.grace is not None:
            life = w.gen

            def deadline(_e: object) -> None:
                if w.retiring and w.gen == life:
                    self._abandon(w)

            Timeout(self.env, self.grace).callbacks.append(deadline)

    def _abandon(self, w: Consumer) -> None:
        w.abandon()
        self.drained(w)

    def drained(self, w: Consumer) -> None:
        """A draining worker finished something (or let it go): the next prefetched delivery, or it is gone."""
        if w.buffer and not w.down:
            w.start(*w.buffer.popleft())
            return
        w.retiring = False
        self.draining.discard(w)
        self._release(w)
        self.log.note(self.env.now, self.provisioned)

    def _release(self, w: Consumer) -> None:
        w.gen += 1  # its fault clocks belong to the life that ended
        w.off = True
        self.free.append(w)

    def deploy(self, startup: float) -> None:
        """Replace every worker (a rolling deploy with 100% surge): new ones start, the old ones stop once they serve."""
        old = list(self.serving)
        if not old:
            return
        self.serving = []
        self.replaced.extend(old)

        def swap() -> None:
            for w in old:
                if w in self.replaced:
                    self.replaced.remove(w)
                    self.retire(w)
            self.log.note(self.env.now, self.provisioned)

        self.launch(len(old), startup, then=swap)
        self.log.note(self.env.now, self.provisioned)


def _every(env: Environment, interval: float, tick: Callable[[float], None], first: float = 0.0) -> None:
    """Call ``tick(now)`` at ``first`` and every ``interval`` after: one pending timeout at a time."""

    def ring(_e: object) -> None:
        tick(env.now)
        Timeout(env, interval).callbacks.append(ring)

    Timeout(env, first).callbacks.append(ring)


# ---------------------------------------------------------------------------------------------
# The controllers.


class _Controller:
    def __init__(self, env: Environment, capacity: Capacity, broker: Broker) -> None:
        self.env = env
        self.capacity = capacity
        self.broker = broker

    def visible(self) -> int:
        """The queue's waiting messages, as ``ApproximateNumberOfMessages`` or ``LLEN`` report them."""
        return max(0, int(self.broker.waiting))


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


class TargetTrackingController(_Controller):
    """AWS target tracking on backlog per instance (see :class:`queuesim.scenario.autoscale.TargetTracking`)."""

    def __init__(self, env: Environment, capacity: Capacity, broker: Broker, spec: TargetTracking) -> None:
        super().__init__(env, capacity, broker)
        self.spec = spec
        self.points: list[float] = []  # backlog per instance, one datapoint per period
        self.last_activity = -math.inf

    def start(self) -> None:
        _every(self.env, self.spec.period, self._sample, first=self.spec.period)

    def _sample(self, _now: float) -> None:
        backlog = self.visible()
        instances = self.capacity.desired
        per = backlog / instances if instances else (math.inf if backlog else 0.0)
        if self.spec.lag > 0:
            Timeout(self.env, self.spec.lag).callbacks.append(lambda _e: self._decide(backlog, per))
        else:
            self._decide(backlog, per)

    def _decide(self, backlog: int, per: float) -> None:
        spec, cap = self.spec, self.capacity
        self.points.append(per)
        wanted = clamp(math.ceil(backlog / spec.target), spec.min, spec.max)
        now = self.env.now
        out, inn = self.points[-spec.scale_out_periods:], self.points[-spec.scale_in_periods:]
        if len(out) == spec.scale_out_periods and all(p > spec.target for p in out):
            if wanted > cap.desired:  # instances warming up count as capacity: none launched twice
                cap.scale_to(wanted)
                self.last_activity = now
        elif (len(inn) == spec.scale_in_periods and all(p < spec.scale_in_ratio * spec.target for p in inn)
              and now - self.last_activity >= spec.cooldown and wanted < cap.desired):
            step = max(1, math.ceil(spec.scale_in_step * cap.desired))  # gradual: a share of the capacity at a time
            cap.scale_to(max(wanted, cap.desired - step))
            self.last_activity = now


class KedaController(_Controller):
    """KEDA's scaler with a Kubernetes HPA behind it (see :class:`queuesim.scenario.autoscale.Keda`)."""

    def __init__(self, env: Environment, capacity: Capacity, broker: Broker, spec: Keda, in_flight: bool) -> None:
        super().__init__(env, capacity, broker)
        self.spec = spec
        self.in_flight = in_flight
        self.last_active = 0.0
        self.cached = 0.0
        self.recommendations: list[tuple[float, int]] = []
        self.events: list[tuple[float, int]] = []  # (time, change) of the HPA's own scalings

    def metric(self) -> float:
        return float(self.visible() + (self.capacity.held() if self.in_flight else 0))

    def start(self) -> None:
        # KEDA's loop first: at an instant both run, the activation is seen by that sync
        _every(self.env, self.spec.polling_interval, self._poll)
        _every(self.env, self.spec.sync_period, self._sync)

    def _poll(self, now: float) -> None:
        spec, cap = self.spec, self.capacity
        value = self.metric()
        self.cached = value
        if value > spec.activation:
            self.last_active = now
            if cap.desired == 0:
                cap.scale_to(max(1, spec.min))  # KEDA itself scales 0 → 1; the HPA takes 1 → N
        elif cap.desired > 0 and spec.min == 0 and now - self.last_active >= spec.cooldown_period:
            cap.scale_to(0)
            self.recommendations.clear()
            self.events.clear()

    def _sync(self, now: float) -> None:
        spec, cap = self.spec, self.capacity
        current = cap.desired
        if current == 0:
            return  # scaled to zero: the HPA is idle, KEDA activates
        value = self.cached if spec.cached_metrics else self.metric()
        ratio = value / (spec.queue_length * current)
        raw = current if abs(ratio - 1.0) <= spec.tolerance else math.ceil(value / spec.queue_length)
        # stabilization: the lowest recommendation of the scale-up window, the highest of the scale-down one
        up = min([r for t, r in self.recommendations if t > now - spec.up_stabilization] + [raw])
        down = max([r for t, r in self.recommendations if t > now - spec.down_stabilization] + [raw])
        self.recommendations.append((now, raw))
        horizon = max(spec.up_stabilization, spec.down_stabilization)
        self.recommendations = [(t, r) for t, r in self.recommendations if t > now - horizon]
        stable = min(max(current, up), down)
        low, high = max(1, spec.min), spec.max
        if stable > current:
            added = sum(c for t, c in self.events if c > 0 and t + spec.up_period > now)
            start = current - added
            limit = max(start + spec.up_pods, math.ceil(start * (1 + spec.up_percent / 100)))
            wanted = min(stable, limit, high)
        elif stable < current:
            removed = -sum(c for t, c in self.events if c < 0 and t + spec.down_period > now)
            start = current + removed
            limit = math.floor(start * (1 - spec.down_percent / 100))
            wanted = max(stable, limit, low)
        else:
            wanted = clamp(current, low, high)
        if wanted != current:
            self.events.append((now, wanted - current))
            self.events = [(t, c) for t, c in self.events if t + max(spec.up_period, spec.down_period) > now]
            cap.scale_to(wanted)


class LambdaSqsController(_Controller):
    """Lambda's SQS event source scaling (see :class:`queuesim.scenario.autoscale.LambdaSqs`)."""

    def __init__(self, env: Environment, capacity: Capacity, broker: Broker, spec: LambdaSqs) -> None:
        super().__init__(env, capacity, broker)
        self.spec = spec

    def start(self) -> None:
        _every(self.env, self.spec.ramp_interval, self._tick, first=self.spec.ramp_interval)

    def _tick(self, _now: float) -> None:
        spec, cap = self.spec, self.capacity
        visible = self.visible()
        current = cap.desired
        if visible > 0:
            need = cap.held() + math.ceil(visible / spec.batch_size)
            if need > current:
                cap.scale_to(min(need, current + spec.ramp, spec.max))
        else:
            low = clamp(cap.held(), spec.min, spec.max)
            if low < current:
                cap.scale_to(low)


class CeleryAutoscaleController(_Controller):
    """Celery's ``--autoscale`` thread (see :class:`queuesim.scenario.autoscale.CeleryAutoscale`)."""

    def __init__(self, env: Environment, capacity: Capacity, broker: Broker, spec: CeleryAutoscale) -> None:
        super().__init__(env, capacity, broker)
        self.spec = spec
        self.last_up: float | None = None

    def start(self) -> None:
        _every(self.env, self.spec.check, self._tick, first=self.spec.check)

    def _tick(self, now: float) -> None:
        spec, cap = self.spec, self.capacity
        procs = cap.desired
        held = cap.held()
        # reserved requests: running and prefetched, at most prefetch_multiplier × processes
        qty = held + min(self.visible(), max(0, spec.prefetch_multiplier * max(procs, 1) - held))
        grow = min(qty, spec.max)
        if grow > procs:
            cap.scale_to(grow)
            self.last_up = now
            return
        shrink = max(qty, spec.min)
        may_shrink = shrink < procs and self.last_up is not None and now - self.last_up > spec.keepalive
        if may_shrink and cap.stop_idle(procs - shrink):
            cap.log.downs.append(now)
            cap.log.note(now, cap.provisioned)


def _schedule(env: Environment, capacity: Capacity, schedule: CountSchedule) -> None:
    def step(count: int) -> Callable[[object], None]:
        return lambda _e: capacity.scale_to(count)

    for at, count in schedule.changes()[1:]:
        Timeout(env, at).callbacks.append(step(count))


def wire_capacity(env: Environment, pool: Pool, spec: WorkerPool, broker: Broker, broker_kind: str) -> Capacity | None:
    """Give an elastic pool its live count and start its controllers; None (nothing to do) for a fixed pool."""
    if not spec.elastic:
        return None
    scaler = spec.autoscale
    capacity = Capacity(env, pool, spec.initial_count, spec.count,
                        startup=scaler.startup if scaler is not None else spec.startup,
                        scale_in=scaler.scale_in if scaler is not None else spec.scale_in,
                        grace=scaler.grace_period if scaler is not None else None)
    pool.capacity = capacity
    if isinstance(spec.count_spec, CountSchedule):
        _schedule(env, capacity, spec.count_spec)
    if isinstance(scaler, TargetTracking):
        TargetTrackingController(env, capacity, broker, scaler).start()
    elif isinstance(scaler, Keda):
        in_flight = scaler.in_flight if scaler.in_flight is not None else broker_kind != "redis"
        KedaController(env, capacity, broker, scaler, in_flight).start()
    elif isinstance(scaler, LambdaSqs):
        LambdaSqsController(env, capacity, broker, scaler).start()
    elif isinstance(scaler, CeleryAutoscale):
        CeleryAutoscaleController(env, capacity, broker, scaler).start()
    for at in spec.deploys:
        Timeout(env, at).callbacks.append(lambda _e: capacity.deploy(spec.startup))
    return capacity
