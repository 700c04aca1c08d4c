"""Wire a frozen Scenario into live components on one SimPy environment and run it.

This is the one place where the description becomes running state (Ciw keeps its static
``Network`` apart from the live ``Simulation`` the same way).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import simpy

from queuesim.sim.broker import Broker, SqsBroker
from queuesim.sim.producer import Producer
from queuesim.records import Delivery, RunRecord
from queuesim.sim.recorder import Recorder
from queuesim.sim.rng import component_rng, stream, uniform_stream
from queuesim.sim.worker import Pool

if TYPE_CHECKING:
    from queuesim.scenario import Scenario


def _latency(spec: object, seed: int, replication: int, name: str) -> Callable[[], float] | None:
    dist = getattr(spec, "latency", None)
    if dist is None or (dist.mean == 0 and dist.variance == 0):
        return None  # zero latency: hand over in the same instant, no event
    return stream(dist, component_rng(seed, replication, f"queue:{name}:latency"))


def _interarrival(producer: object, rng: np.random.Generator) -> Callable[[], float]:
    if producer.interarrival is not None:  # type: ignore[attr-defined]
        return stream(producer.interarrival, rng)  # type: ignore[attr-defined]
    scale = 1.0 / producer.rate  # type: ignore[attr-defined]
    return stream(_Exponential(scale), rng)


class _Exponential:
    """Poisson arrivals at ``rate`` are exponential interarrivals with mean 1/rate."""

    def __init__(self, mean: float) -> None:
        self.mean = mean

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(self.mean, n)


def simulate(scenario: Scenario, replication: int = 0, seed: int | None = None) -> RunRecord:
    """Run one replication of ``scenario`` to its ``duration`` and return the event records.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario.
    replication : int
        Replication number; each one draws independent streams from the same seed.
    seed : int, optional
        Overrides ``scenario.seed``.
    """
    seed = scenario.seed if seed is None else seed
    env = simpy.Environment()
    rec = Recorder()

    brokers: dict[str, Broker] = {}
    for qi, (qname, q) in enumerate(scenario.queues.items()):
        args = (env, qi, qname, q.capacity, _latency(q, seed, replication, qname), rec)
        if q.broker == "sqs":
            brokers[qname] = SqsBroker(*args, visibility_timeout=q.visibility_timeout, max_receives=q.max_receives)
        else:
            brokers[qname] = Broker(*args)

    pools: list[Pool] = []
    worker_pool: list[int] = []
    for pi, (pname, w) in enumerate(scenario.workers.items()):
        service = stream(w.service, component_rng(seed, replication, f"workers:{pname}:service"))
        pool = Pool(
            env, pi, pname, len(worker_pool), w.count, brokers[w.from_], service,
            brokers[w.to] if w.to else None, w.fanout, rec,
        )
        worker_pool.extend([pi] * w.count)
        pools.append(pool)

    producers: list[Producer] = []
    for ri, (rname, p) in enumerate(scenario.producers.items()):
        r = p.retry
        producers.append(Producer(
            env, ri, rname, brokers[p.to],
            _interarrival(p, component_rng(seed, replication, f"producer:{rname}:arrivals")),
            scenario.duration, r.attempts, (r.jitter, r.backoff, r.multiplier, r.max_backoff),
            uniform_stream(component_rng(seed, replication, f"producer:{rname}:retry")), rec,
        ))

    for pool in pools:
        pool.start()
    for producer in producers:
        producer.start()
    env.run(until=scenario.duration)

    # close the waiting spells still open, so queue depth integrates to the end of the window
    for broker in brokers.values():
        for message, since in broker.open_spells():
            rec.spell(message, since, float("nan"), -1, Delivery.WAITING)

    return rec.freeze(
        replication=replication,
        duration=scenario.duration,
        warmup=scenario.warmup,
        producers=list(scenario.producers),
        queues=list(scenario.queues),
        pools=list(scenario.workers),
        worker_pool=np.asarray(worker_pool, dtype=np.int32),
        extra={"dead_lettered": {n: getattr(b, "dead_lettered", 0) for n, b in brokers.items()}},
    )
