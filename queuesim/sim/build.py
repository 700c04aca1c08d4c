"""Wire a frozen Scenario into live components on one SimPy environment and run it.

This is the one place where the description becomes running state (Ciw keeps its static
``Network`` apart from the live ``Simulation`` the same way).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import simpy
from simpy.events import Timeout

from queuesim.records import Delivery, RecordSink, RunRecord
from queuesim.scenario.load_shapes import sync_violations
from queuesim.sim.broker import Broker, BrokerContext
from queuesim.sim.producer import Producer, wire_producers
from queuesim.sim.recorder import Liveness, Recorder
from queuesim.sim.registry import build_broker
from queuesim.sim.rng import Streams
from queuesim.sim.worker import Pool, PoolStats
from queuesim.sim.worker_faults import Faults, PoolContext

if TYPE_CHECKING:
    from queuesim.scenario import Scenario


def inline_queues(scenario: Scenario) -> set[str]:
    """Queues a ``sync: true`` producer targets: their pools serve its requests directly (no broker).

    Raises
    ------
    ValueError
        When such a queue has another writer (the scenario's validation reports this first).
    """
    inline = {p.to for p in scenario.producers.values() if p.sync}
    if inline:
        problems = sync_violations(scenario.producers, scenario.workers, list(scenario.queues))
        if problems:
            raise ValueError("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in problems))
    return inline


def simulate(scenario: Scenario, replication: int = 0, seed: int | None = None,
             sink: RecordSink | None = None) -> RunRecord:
    """Run one replication of ``scenario`` to its ``duration`` and return the event records.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario.
    replication : int
        Replication number; each one draws independent streams from the same seed.
    seed : int, optional
        Overrides ``scenario.seed``.
    sink : RecordSink, optional
        Stream the records into it as they become final instead of keeping them: the returned
        record's tables are then empty (its ``extra`` is complete). The simulation is the same.
    """
    seed = scenario.seed if seed is None else seed
    env = simpy.Environment()
    rec = Recorder(sink)

    restarted = {f.queue for f in scenario.faults if f.kind == "restart"}
    inline = inline_queues(scenario)
    brokers: dict[str, Broker] = {}
    for qi, (qname, q) in enumerate(scenario.queues.items()):
        ctx = BrokerContext(env, rec, qi, qname, Streams(seed, replication, f"queue:{qname}"),
                            restart_scheduled=qname in restarted)
        brokers[qname] = build_broker(q, ctx, inline=qname in inline)

    pools: list[Pool] = []
    worker_pool: list[int] = []
    for pi, (pname, w) in enumerate(scenario.workers.items()):
        streams = Streams(seed, replication, f"workers:{pname}")
        pool = Pool(
            env, pi, pname, len(worker_pool), w.count, brokers[w.from_], streams.draws(w.service, "service"),
            brokers[w.to] if w.to else None, w.fanout, rec,
            faults=Faults.from_spec(w, PoolContext(env, rec, streams)),
        )
        worker_pool.extend([pi] * w.count)
        pools.append(pool)

    producers: list[Producer] = wire_producers(env, scenario, brokers, rec, seed, replication)

    if sink is not None:
        rec.attach(env, _liveness(list(brokers.values()), producers))
    for fault in scenario.faults:
        _schedule_fault(env, brokers[fault.queue], fault.at, fault.kind, fault.length)
    for pool in pools:
        pool.start()
    for producer in producers:
        producer.start()
    env.run(until=scenario.duration)

    # close the waiting spells still open, so queue depth integrates to the end of the window
    for broker in brokers.values():
        for message, since in broker.open_spells():
            rec.spell(message, since, float("nan"), -1, Delivery.WAITING)

    broker_stats = {name: b.stats() for name, b in brokers.items()}
    return rec.freeze(
        replication=replication,
        duration=scenario.duration,
        warmup=scenario.warmup,
        producers=list(scenario.producers),
        queues=list(scenario.queues),
        pools=list(scenario.workers),
        worker_pool=np.asarray(worker_pool, dtype=np.int32),
        extra={
            "dead_lettered": {n: st.dead_lettered for n, st in broker_stats.items()},
            "pools": {p.name: _pool_counts(p.stats()) for p in pools},
            "faults": [f.model_dump() for f in scenario.faults],
            "restarts": {n: list(st.restarts) for n, st in broker_stats.items() if st.restarts},
        },
    )


def _liveness(brokers: list[Broker], producers: list[Producer]) -> Liveness:
    """What the recorder asks, when streaming, before it folds a row: is anything still referring to it?"""

    def open_spells() -> Iterator[tuple[int, float]]:
        for broker in brokers:
            yield from broker.open_spells()

    def held_messages() -> Iterator[int]:
        for broker in brokers:
            yield from broker.held()
        for producer in producers:
            yield from (m for m in producer.held().values() if m >= 0)

    def held_requests() -> Iterator[int]:
        for producer in producers:
            yield from producer.held()

    return Liveness(open_spells, held_messages, held_requests)


def _schedule_fault(env: simpy.Environment, broker: Broker, at: float, kind: str, length: float) -> None:
    Timeout(env, at).callbacks.append(lambda _e: broker.fail(kind, length))


def _pool_counts(stats: PoolStats) -> dict[str, int]:
    return {"crashes": stats.crashes, "failures": stats.failures, "deduplicated": stats.deduplicated}
