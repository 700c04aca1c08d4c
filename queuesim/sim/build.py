"""Wire a frozen Scenario into live components on one SimPy environment and run it.

This is the one place where the description becomes running state (Ciw keeps its static
``Network`` apart from the live ``Simulation`` the same way).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np
import simpy
from simpy.events import Timeout

from queuesim.records import Delivery, RecordSink, RunRecord
from queuesim.scenario.load_shapes import sync_violations
from queuesim.sim.autoscale import Capacity, wire_capacity
from queuesim.sim.broker import Broker, BrokerContext
from queuesim.sim.celery import CeleryPool
from queuesim.sim.kernel import Engine
from queuesim.sim.lane import lane_for
from queuesim.sim.priority import priority_ready
from queuesim.sim.producer import Producer, wire_producers
from queuesim.sim.recorder import Liveness, Recorder
from queuesim.sim.registry import build_broker
from queuesim.sim.rng import Streams
from queuesim.sim.screen import screen_for
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


#: How often a run reports its simulated time to a ``progress`` callback: this many times per run.
PROGRESS_STEPS = 100


def simulate(scenario: Scenario, replication: int = 0, seed: int | None = None,
             progress: Callable[[float], None] | None = None, sink: RecordSink | None = None,
             lanes: bool = True) -> RunRecord:
    """Run one replication of ``scenario`` to its ``duration`` and return the event records.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario.
    replication : int
        Replication number; each one draws independent streams from the same seed.
    seed : int, optional
        Overrides ``scenario.seed``.
    progress : callable, optional
        Called with the simulated time every 1/``PROGRESS_STEPS`` of the run and at its end.
    sink : RecordSink, optional
        Stream the records into it as they become final instead of keeping them: the returned
        record's tables are then empty (its ``extra`` is complete). The simulation is the same.
    lanes : bool, default True
        Use the short path (:mod:`queuesim.sim.lane`) where a queue's path is the plain one; the
        records are the same without it (False: for the tests that check so).
    """
    seed = scenario.seed if seed is None else seed
    env = Engine()
    rec = Recorder(sink)

    restarted = {f.queue for f in scenario.faults if f.kind == "restart"}
    inline = inline_queues(scenario)
    brokers: dict[str, Broker] = {}
    for qi, (qname, q) in enumerate(scenario.queues.items()):
        ctx = BrokerContext(env, rec, qi, qname, Streams(seed, replication, f"queue:{qname}"),
                            restart_scheduled=qname in restarted)
        brokers[qname] = build_broker(q, ctx, inline=qname in inline)
        ready = priority_ready(q, rec, [p.priority for p in scenario.producers.values()])
        if ready is not None:
            brokers[qname].ready = ready

    pools: list[Pool | CeleryPool] = []
    worker_pool: list[int] = []
    countdowns = [p.countdown or 0.0 for p in scenario.producers.values()]
    capacities: dict[str, Capacity] = {}  # elastic pools (queuesim.sim.autoscale)
    screen = screen_for(scenario, rec)  # None unless a pool drops expired work or a client cancels hedges
    for pi, (pname, w) in enumerate(scenario.workers.items()):
        streams = Streams(seed, replication, f"workers:{pname}")
        faults = Faults.from_spec(w, PoolContext(env, rec, streams))
        if w.celery is not None:
            pools.append(CeleryPool(
                env, pi, pname, len(worker_pool), w.count, [brokers[q] for q in w.reads], streams.draws(w.service, "service"), rec,
                w.celery, countdowns=countdowns, uniform=streams.uniform("retry"), faults=faults, service_per=w.service_per,
            ))
            worker_pool.extend([pi] * w.slots)
            continue
        if faults is None and w.elastic:
            faults = Faults([], w.restart)  # a stopped worker may abandon its message: its callbacks check its life
        plain = Pool(
            env, pi, pname, len(worker_pool), w.count, brokers[w.source], streams.draws(w.service, "service"),
            brokers[w.to] if w.to else None, w.fanout, rec,
            faults=faults, service_per=w.service_per,
            overhead=streams.draws(w.overhead, "overhead") if w.overhead is not None and w.has_overhead else None,
            screen=screen, drop_expired=w.drop_expired,
        )
        capacity = wire_capacity(env, plain, w, brokers[w.source], scenario.queues[w.source].broker)
        if capacity is not None:
            capacities[pname] = capacity
        worker_pool.extend([pi] * w.count)
        pools.append(plain)

    producers: list[Producer] = wire_producers(env, scenario, brokers, rec, seed, replication)
    if lanes:
        readers: dict[str, list[object]] = {name: [] for name in brokers}
        for w, pool in zip(scenario.workers.values(), pools, strict=True):
            for qname in w.reads:
                readers[qname].append(pool)
        for qname, broker in brokers.items():
            lane = lane_for(broker, readers[qname])
            if lane is not None:
                lane.install()
    if screen is not None:
        screen.bind(producers)

    if sink is not None:
        rec.attach(env, _liveness(list(brokers.values()), producers))
    for fault in scenario.faults:
        _schedule_fault(env, brokers[fault.queue], fault.at, fault.kind, fault.length)
    for pool in pools:
        pool.start()
    for producer in producers:
        producer.start()
    if progress is not None:
        _report_progress(env, scenario.duration, progress)
    env.run(until=scenario.duration)
    if progress is not None:
        progress(scenario.duration)

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
            "expired": {n: st.expired for n, st in broker_stats.items()},
            "pools": {p.name: _pool_counts(p.stats()) for p in pools},
            "reads": {name: w.source for name, w in scenario.workers.items()},
            "downtime": {p.name: p.downtime() for p in pools if p.crashed_at},
            "faults": [f.model_dump() for f in scenario.faults],
            "restarts": {n: list(st.restarts) for n, st in broker_stats.items() if st.restarts},
            **({"capacity": {n: c.log.to_dict() for n, c in capacities.items()}} if capacities else {}),
            **_client_extra(producers),
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


def _report_progress(env: simpy.Environment, duration: float, report: Callable[[float], None]) -> None:
    """Call ``report(now)`` every ``duration / PROGRESS_STEPS``: one pending timeout at a time that reads no
    state, so every other event keeps its order (SimPy orders by time, priority, then scheduling) and
    the records are those of a run without it."""
    step = duration / PROGRESS_STEPS

    def tick(_event: object) -> None:
        report(env.now)
        if env.now + step < duration:
            Timeout(env, step).callbacks.append(tick)

    Timeout(env, step).callbacks.append(tick)


def _schedule_fault(env: simpy.Environment, broker: Broker, at: float, kind: str, length: float) -> None:
    Timeout(env, at).callbacks.append(lambda _e: broker.fail(kind, length))


def _client_extra(producers: list[Producer]) -> dict[str, object]:
    """What the producers' resilience counted: each circuit breaker's state timeline (only when one exists)."""
    breakers = {p.name: [list(step) for step in p.breaker.timeline] for p in producers if p.breaker is not None}
    return {"breakers": breakers} if breakers else {}


def _pool_counts(stats: PoolStats) -> dict[str, int]:
    return {"crashes": stats.crashes, "failures": stats.failures, "deduplicated": stats.deduplicated}
