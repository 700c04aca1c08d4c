"""Worker faults: a small family of classes, each filling in only the hooks it needs.

As SimPy's resources fill in ``BaseResource``'s ``_do_put``/``_do_get``, a fault kind overrides
some of these hooks of :class:`WorkerFault`:

``_replace(message)``
    The processing does not happen; something else does instead (an idempotent worker's dedupe).
``_strike(message, service)``
    The fault hits this processing; the first kind (in :data:`FAULTS` order) that strikes decides.
``_bound(service, ending)``
    A limit on how a processing may end (the handler's timeout).
``_arm(worker)``
    A worker starts or restarts: a clock of the fault's own (``mtbf``).

and builds itself from its pool's spec with ``from_spec`` (None when the spec does not enable it).
A processing's *ending* is (seconds after it starts, how it ends: :data:`DONE`, :data:`DEDUPE`,
:data:`CRASH` or :data:`FAIL`); the broker then decides what becomes of the message in hand.
A new fault kind is its spec (``scenario/faults.py`` and a field of ``WorkerPool``), its class
here, and one entry in :data:`FAULTS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, Self

from simpy import Environment
from simpy.events import Timeout

from queuesim.scenario.model import WorkerPool
from queuesim.sim.recorder import Recorder
from queuesim.sim.rng import ExponentialSampler, Streams


class Crashable(Protocol):
    """What a fault's clock needs of a worker (a consumer, or a Celery worker instance)."""

    gen: int
    down: bool

    def crash(self, clock: bool = False) -> None:
        """The worker dies."""

#: How a processing ends (plain ints: compared once per processing).
DONE, DEDUPE, CRASH, FAIL = 0, 1, 2, 3
Ending = tuple[float, int]


@dataclass(frozen=True)
class PoolContext:
    """What a pool's faults need from the run: the environment, the records and the pool's random streams."""

    env: Environment
    rec: Recorder
    streams: Streams  # workers:<name>:<purpose>


class WorkerFault:
    """One kind of worker fault; subclasses fill in ``from_spec`` and the hooks they need."""

    @classmethod
    def from_spec(cls, spec: WorkerPool, ctx: PoolContext) -> Self | None:
        """This fault for a pool, or None when the pool's spec does not enable it."""
        raise NotImplementedError(f"{cls.__name__} must say how it is built from a WorkerPool spec")

    def _replace(self, message: int) -> Ending | None:
        """Replace the processing of ``message`` altogether; None to let it run."""
        return None

    def _strike(self, message: int, service: float) -> Ending | None:
        """Does this fault hit a processing of ``service`` seconds? None for no."""
        return None

    def _bound(self, service: float, ending: Ending) -> Ending:
        """Limit how a processing of ``service`` seconds that would end as ``ending`` ends."""
        return ending

    def _arm(self, worker: Crashable) -> None:
        """A worker starts or comes back from a crash."""


class Idempotency(WorkerFault):
    """An idempotent worker recognises a message it already processed and spends ``dedupe`` on it instead."""

    def __init__(self, dedupe: float, rec: Recorder) -> None:
        self.dedupe = dedupe
        self.processings = rec.messages["processings"]

    @classmethod
    def from_spec(cls, spec: WorkerPool, ctx: PoolContext) -> Self | None:
        return cls(spec.dedupe, ctx.rec) if spec.idempotent else None

    def _replace(self, message: int) -> Ending | None:
        return (self.dedupe, DEDUPE) if self.processings[message] > 0 else None


class Poison(WorkerFault):
    """A poison message fails every processing; whether a message is one is drawn once, at its first receive."""

    def __init__(self, probability: float, uniform: Callable[[], float], rec: Recorder) -> None:
        self.probability = probability
        self.uniform = uniform
        self.poisoned: set[int] = set()  # seen poison by this pool
        self.receives = rec.messages["receives"]
        self.marked = rec.messages["poison"]

    @classmethod
    def from_spec(cls, spec: WorkerPool, ctx: PoolContext) -> Self | None:
        p = spec.poison.probability if spec.poison else 0.0
        return cls(p, ctx.streams.uniform("poison"), ctx.rec) if p else None

    def _strike(self, message: int, service: float) -> Ending | None:
        return (service, FAIL) if self._is_poison(message) else None

    def _is_poison(self, message: int) -> bool:
        # a property of the message, drawn once when this pool first sees it
        if message in self.poisoned:
            return True
        if self.receives[message] <= 1 and not self.marked[message] and self.uniform() < self.probability:
            self.poisoned.add(message)
            self.marked[message] = 1
            return True
        return False


class Crash(WorkerFault):
    """The worker dies part-way through a message (at a uniform point of it) with ``probability``."""

    def __init__(self, probability: float, uniform: Callable[[], float]) -> None:
        self.probability = probability
        self.uniform = uniform

    @classmethod
    def from_spec(cls, spec: WorkerPool, ctx: PoolContext) -> Self | None:
        p = spec.crash.probability if spec.crash else 0.0
        return cls(p, ctx.streams.uniform("faults")) if p else None

    def _strike(self, message: int, service: float) -> Ending | None:
        if self.uniform() < self.probability:
            return self.uniform() * service, CRASH
        return None


class Failure(WorkerFault):
    """The handler raises after its service time with ``probability``: the message is not acknowledged."""

    def __init__(self, probability: float, uniform: Callable[[], float]) -> None:
        self.probability = probability
        self.uniform = uniform

    @classmethod
    def from_spec(cls, spec: WorkerPool, ctx: PoolContext) -> Self | None:
        p = spec.failure.probability if spec.failure else 0.0
        # the same stream as Crash: the two decisions take turns on it, as they always have
        return cls(p, ctx.streams.uniform("faults")) if p else None

    def _strike(self, message: int, service: float) -> Ending | None:
        return (service, FAIL) if self.uniform() < self.probability else None


class HandlerTimeout(WorkerFault):
    """A processing longer than ``timeout`` is abandoned as a failure when the timeout fires.

    A crash is decided as its processing starts and is not cut short: the worker dies at its
    drawn instant even when that lies past the timeout (kept so results stay bit-identical).
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    @classmethod
    def from_spec(cls, spec: WorkerPool, ctx: PoolContext) -> Self | None:
        return cls(spec.timeout) if spec.timeout is not None else None

    def _bound(self, service: float, ending: Ending) -> Ending:
        if ending[1] != CRASH and service > self.timeout:
            return self.timeout, FAIL
        return ending


class Mtbf(WorkerFault):
    """Each worker crashes after exponential times with mean ``mtbf`` (its clock restarts with it)."""

    def __init__(self, env: Environment, clock: Callable[[], float]) -> None:
        self.env = env
        self.clock = clock

    @classmethod
    def from_spec(cls, spec: WorkerPool, ctx: PoolContext) -> Self | None:
        if spec.mtbf is None:
            return None
        return cls(ctx.env, ctx.streams.draws(ExponentialSampler(spec.mtbf), "mtbf"))

    def _arm(self, worker: Crashable) -> None:
        life = worker.gen

        def ring(_event: object) -> None:
            if worker.gen == life and not worker.down:  # not after a crash of another cause
                worker.crash(clock=True)

        Timeout(self.env, self.clock()).callbacks.append(ring)


#: Every worker fault kind, in precedence order: the first that replaces or strikes a processing decides it.
FAULTS: tuple[type[WorkerFault], ...] = (Idempotency, Poison, Crash, Failure, HandlerTimeout, Mtbf)


class Faults:
    """The enabled faults of one pool, sorted by the hooks they fill in.

    Parameters
    ----------
    faults : sequence of WorkerFault
        In precedence order.
    restart : float
        Seconds a crashed worker stays down.
    """

    def __init__(self, faults: Sequence[WorkerFault], restart: float) -> None:
        self.faults = tuple(faults)
        self.restart = restart

        def filling(hook: str) -> list[WorkerFault]:
            return [f for f in self.faults if getattr(type(f), hook) is not getattr(WorkerFault, hook)]

        self._replacers = [f._replace for f in filling("_replace")]
        self._strikers = [f._strike for f in filling("_strike")]
        self._bounds = [f._bound for f in filling("_bound")]
        self._armers = [f._arm for f in filling("_arm")]

    @classmethod
    def from_spec(cls, spec: WorkerPool, ctx: PoolContext,
                  kinds: Sequence[type[WorkerFault]] = FAULTS) -> Faults | None:
        """The faults a pool's spec enables, or None when it enables none (the workers' fast path)."""
        enabled = [f for f in (kind.from_spec(spec, ctx) for kind in kinds) if f is not None]
        return cls(enabled, spec.restart) if enabled else None

    def decide(self, message: int, service: float) -> Ending:
        """When a processing of ``service`` seconds ends and how."""
        for replace in self._replacers:
            replaced = replace(message)
            if replaced is not None:
                return replaced
        ending: Ending = (service, DONE)
        for strike in self._strikers:
            struck = strike(message, service)
            if struck is not None:
                ending = struck
                break
        for bound in self._bounds:
            ending = bound(service, ending)
        return ending

    def arm(self, worker: Crashable) -> None:
        """A worker starts or restarts: every fault with a clock of its own sets it."""
        for arm in self._armers:
            arm(worker)


__all__ = ["Crashable", "DONE", "DEDUPE", "CRASH", "FAIL", "Ending", "PoolContext", "WorkerFault", "Idempotency", "Poison",
           "Crash", "Failure", "HandlerTimeout", "Mtbf", "FAULTS", "Faults"]
