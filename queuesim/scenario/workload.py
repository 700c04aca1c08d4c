"""What a message costs the pool that serves it, faults included: the expected worker time behind the offered load.

Before anything runs, the validated model already says how much work each message brings besides
its service time: every delivery's ``overhead``; a crash (``crash.probability``) spends part of a
processing and then keeps its worker down for ``restart``; a failure (``failure.probability``)
spends a whole one; on an at-least-once queue both bring the message back for another delivery, up
to the queue's delivery cap, and a poison message fails every delivery until the cap. An ``mtbf``
takes a worker away for ``restart`` after each exponential lifetime, which lowers the capacity
instead of adding work.

Left out, because they depend on how the run goes: redeliveries after a visibility timeout or a
reclaim (a job longer than the timeout), spontaneous SQS duplicates, handler timeouts, client
retries after a response timeout, the work an mtbf crash wastes (about ``E[S] / mtbf`` of a
delivery) and the endless redeliveries of a poison message on a queue without a cap. The run's
``effective_load`` (:mod:`queuesim.metrics.load`) measures all of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import QueueBase, WorkerPool

__all__ = ["Workload", "workload"]


@dataclass(frozen=True)
class Workload:
    """The expected cost of one message to one pool.

    Attributes
    ----------
    count : int
        Workers in the pool.
    deliveries : float
        Expected deliveries of a message to the pool (1 without faults).
    holding : float
        Expected worker-seconds a message costs: each delivery's overhead and service (a crashed
        one up to its crash) and the ``restart`` after each crash.
    availability : float
        Fraction of worker time not lost to ``mtbf`` crashes, ``mtbf / (mtbf + restart)``.
    cycling : bool
        Poison messages would be redelivered for ever (an at-least-once queue without a delivery
        cap): only their first delivery is counted.
    """

    count: int
    deliveries: float
    holding: float
    availability: float
    cycling: bool = False

    @property
    def capacity(self) -> float:
        """Messages per second the pool completes when saturated: count × availability / holding (inf when 0)."""
        return math.inf if self.holding == 0 else self.count * self.availability / self.holding


def _deliveries(miss: float, cap: int | None) -> float:
    """Expected deliveries when each misses with probability ``miss`` and a miss is redelivered, up to ``cap``."""
    if cap is None:
        return 1.0 / (1.0 - miss) if miss < 1 else math.inf
    return (1.0 - miss**cap) / (1.0 - miss) if miss < 1 else float(cap)


def workload(pool: WorkerPool, queue: QueueBase, *, inline: bool = False) -> Workload:
    """The expected cost of one message to ``pool``, reading ``queue``.

    Parameters
    ----------
    pool : WorkerPool
    queue : QueueBase
        The queue it reads: whether it redelivers and its delivery cap decide what a crash or a
        failure costs.
    inline : bool, default False
        The queue is served inline (a ``sync: true`` producer): nothing is redelivered.

    Returns
    -------
    Workload
        Without faults and overhead, ``holding`` is the mean service time, exactly.
    """
    service = pool.service.mean
    overhead = pool.overhead.mean if pool.overhead is not None else 0.0
    crash = pool.crash.probability if pool.crash is not None else 0.0
    failure = pool.failure.probability if pool.failure is not None else 0.0
    poison = pool.poison.probability if pool.poison is not None else 0.0
    redelivers = queue.redelivers and not inline
    cap = queue.delivery_cap if redelivers else 1
    # a delivery of a sound message crashes with `crash` (at a uniform point of its service, then
    # the worker is down `restart`), else it fails with `failure` after its service
    per_delivery = overhead + service * (1 - crash / 2) + crash * pool.restart
    sound = _deliveries(crash + (1 - crash) * failure, cap)
    # a poison message fails every delivery after its service (it never reaches the crash draw)
    cycling = redelivers and cap is None and poison > 0
    poisoned = float(cap) if cap is not None else 1.0
    holding = (1 - poison) * sound * per_delivery + poison * poisoned * (overhead + service)
    deliveries = (1 - poison) * sound + poison * poisoned
    availability = pool.mtbf / (pool.mtbf + pool.restart) if pool.mtbf is not None else 1.0
    return Workload(pool.slots, deliveries, holding, availability, cycling)
