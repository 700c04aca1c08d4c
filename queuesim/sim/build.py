"""Wire a frozen Scenario into live components on one SimPy environment and run it.

This is the one place where the description becomes running state (Ciw keeps its static
``Network`` apart from the live ``Simulation`` the same way).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy
from simpy.events import Timeout

from queuesim.records import Delivery, RunRecord
from queuesim.sim.broker import Broker
from queuesim.sim.producer import Producer, wire_producers
from queuesim.sim.rabbitmq import RabbitBroker
from queuesim.sim.recorder import Recorder
from queuesim.sim.redis import RedisListBroker, RedisPubSubBroker, RedisReliableBroker
from queuesim.sim.rng import component_rng, stream, uniform_stream
from queuesim.sim.sqs import SqsBroker, SqsFifoBroker
from queuesim.sim.worker import Faults, Pool

if TYPE_CHECKING:
    from queuesim.scenario import Scenario


def _latency(spec: object, seed: int, replication: int, name: str) -> Callable[[], float] | None:
    dist = getattr(spec, "latency", None)
    if dist is None or (dist.mean == 0 and dist.variance == 0):
        return None  # zero latency: hand over in the same instant, no event
    return stream(dist, component_rng(seed, replication, f"queue:{name}:latency"))


def _broker(env: simpy.Environment, index: int, name: str, q: Any, rec: Recorder, seed: int,
            replication: int, restarted: bool) -> Broker:
    """The live broker for one queue's description."""
    args = (env, index, name, q.capacity, _latency(q, seed, replication, name), rec)
    if q.broker == "sqs":
        dupes = uniform_stream(component_rng(seed, replication, f"queue:{name}:duplicates"))
        common = dict(visibility_timeout=q.visibility_timeout, max_receives=q.max_receives)
        if q.kind == "fifo":
            groups = uniform_stream(component_rng(seed, replication, f"queue:{name}:groups"))
            return SqsFifoBroker(*args, groups=q.groups, tps=q.throughput_limit, group_of=groups, **common)
        return SqsBroker(*args, duplicate_probability=q.duplicate_probability, uniform=dupes, **common)
    if q.broker == "rabbitmq":
        return RabbitBroker(*args, overflow=q.overflow, delivery_limit=q.delivery_limit,
                            auto_ack=q.ack == "auto", consumer_timeout=q.consumer_timeout)
    broker: Broker
    if q.mode == "list":
        broker = RedisListBroker(*args)
    elif q.mode == "pubsub":
        broker = RedisPubSubBroker(*args)
    else:
        idle = q.reclaim_after if q.mode == "reliable" else q.min_idle
        broker = RedisReliableBroker(*args, mode=q.mode, idle=idle, max_deliveries=q.max_deliveries)
    phase = uniform_stream(component_rng(seed, replication, f"queue:{name}:persistence"))
    broker.configure(q.persistence, q.snapshot_every, q.maxmemory, q.policy,  # type: ignore[attr-defined]
                     track=restarted, phase=phase)
    return broker


def _faults(w: Any, seed: int, replication: int, name: str) -> Faults | None:
    """The fault settings of a pool, each on its own random stream (None when it has none)."""
    clock = _Exponential(w.mtbf or 1.0)
    faults = Faults(
        crash=w.crash.probability if w.crash else 0.0,
        failure=w.failure.probability if w.failure else 0.0,
        poison=w.poison.probability if w.poison else 0.0,
        timeout=w.timeout,
        mtbf=w.mtbf,
        restart=w.restart,
        idempotent=w.idempotent,
        dedupe=w.dedupe,
        uniform=uniform_stream(component_rng(seed, replication, f"workers:{name}:faults")),
        poison_uniform=uniform_stream(component_rng(seed, replication, f"workers:{name}:poison")),
        clock=stream(clock, component_rng(seed, replication, f"workers:{name}:mtbf")),
    )
    return faults if faults.any else None  # all-zero settings take the fast path


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

    restarted = {f.queue for f in scenario.faults if f.kind == "restart"}
    brokers: dict[str, Broker] = {
        qname: _broker(env, qi, qname, q, rec, seed, replication, qname in restarted)
        for qi, (qname, q) in enumerate(scenario.queues.items())
    }

    pools: list[Pool] = []
    worker_pool: list[int] = []
    for pi, (pname, w) in enumerate(scenario.workers.items()):
        service = stream(w.service, component_rng(seed, replication, f"workers:{pname}:service"))
        upstream = scenario.queues[w.from_]
        pool = Pool(
            env, pi, pname, len(worker_pool), w.count, brokers[w.from_], service,
            brokers[w.to] if w.to else None, w.fanout, rec,
            credits=upstream.prefetch if upstream.broker == "rabbitmq" else 1,
            faults=_faults(w, seed, replication, pname),
        )
        worker_pool.extend([pi] * w.count)
        pools.append(pool)

    # producers and their clients (queuesim.sim.producer); a sync producer's queue becomes an inline backlog
    producers: list[Producer] = wire_producers(env, scenario, brokers, pools, rec, seed, replication)

    for fault in scenario.faults:
        broker = brokers[fault.queue]
        Timeout(env, fault.at).callbacks.append(
            lambda _e, b=broker, f=fault: b.fail(f.kind, f.length)
        )
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
        extra={
            "dead_lettered": {n: getattr(b, "dead_lettered", 0) for n, b in brokers.items()},
            "pools": {p.name: {"crashes": p.crashes, "failures": p.failures, "deduplicated": p.deduplicated}
                      for p in pools},
            "faults": [f.model_dump() for f in scenario.faults],
            "restarts": {n: b.restarts for n, b in brokers.items() if getattr(b, "restarts", None)},
        },
    )
