"""Broker.stats() and Pool.stats(): the one typed way the engine reports what it counted."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pytest
from queuesim.scenario.model import QueueBase, RabbitQueue, RedisQueue, SqsQueue
from queuesim.sim import simulate
from queuesim.sim.broker import BrokerStats
from queuesim.sim.redis import Durability, RedisListBroker
from queuesim.sim.registry import BROKERS
from queuesim.sim.worker import PoolStats
from queuesim.sim.worker_faults import Failure, Faults

from conftest import scenario

if TYPE_CHECKING:
    from .conftest import Harness

ALWAYS_FAILS = Faults([Failure(1.0, lambda: 0.0)], restart=5.0)


@pytest.mark.parametrize("spec", [RedisQueue(mode=m) for m in ("list", "reliable", "stream", "pubsub")]
                         + [SqsQueue(), SqsQueue(kind="fifo"), RabbitQueue()], ids=repr)
def test_a_fresh_broker_reports_its_kind_and_nothing_counted(harness: Harness, spec: QueueBase) -> None:
    broker = harness.broker(spec)
    assert broker.stats() == BrokerStats(kind=type(broker).kind)
    assert type(broker) in BROKERS


def test_direct_backlog_reports_its_kind(harness: Harness) -> None:
    assert harness.broker(SqsQueue(), inline=True).stats() == BrokerStats(kind="direct")


@pytest.mark.parametrize(("spec", "kind"), [
    (SqsQueue(visibility_timeout=2.0, max_receives=1), "sqs"),
    (SqsQueue(kind="fifo", visibility_timeout=2.0, max_receives=1), "sqs-fifo"),
    (RedisQueue(mode="stream", min_idle=2.0, max_deliveries=1), "redis-stream"),
    (RabbitQueue(delivery_limit=1, prefetch=1), "rabbitmq"),
], ids=repr)
def test_dead_letters_are_counted(harness: Harness, spec: QueueBase, kind: str) -> None:
    # each of three messages fails its only allowed delivery; the next receive dead-letters it
    broker = harness.broker(spec)
    harness.pool(broker, service=0.5, faults=ALWAYS_FAILS)
    harness.publish(broker, 1.0, 5.0, 9.0)
    harness.run(until=20.0)
    assert broker.stats() == BrokerStats(kind=kind, dead_lettered=3)
    assert [status for *_, status in harness.log()].count("DEAD_LETTERED") == 3


@pytest.mark.parametrize(("persistence", "phase", "durable"), [
    ("aof-always", 0.9, 4.0),  # every write was on disk: the restart instant itself
    ("aof-everysec", 0.25, 4.0 - 0.25 * 1.0),  # the last fsync fell a quarter second before
    ("rdb", 0.5, 4.0 - 0.5 * 60.0),  # half a snapshot period before
    ("none", 0.5, -math.inf),
])
def test_redis_restarts_report_their_durable_point(harness: Harness, persistence: str, phase: float,
                                                    durable: float) -> None:
    redis = RedisListBroker(harness.env, 0, "r", None, None, harness.rec,
                            Durability(persistence, snapshot_every=60.0, phase=lambda: phase))
    harness.at(4.0, lambda: redis.fail("restart", 1.0))
    harness.run(until=6.0)
    assert redis.stats() == BrokerStats(kind="redis", restarts=({"at": 4.0, "durable_point": durable},))


def test_pool_stats_count_completions_failures_and_dedupes() -> None:
    # SQS brings every message back once (duplicate_probability 1); the idempotent worker skips
    # the second processing; max_receives 2 dead-letters the third receive
    rec = simulate(scenario("""
        duration: 30s
        producers:
          api: {to: jobs, interarrival: 10s}
        queues:
          jobs: {broker: sqs, visibility_timeout: 2s, max_receives: 2, duplicate_probability: 1}
        workers:
          pool: {from: jobs, count: 1, service: 1s, idempotent: true}
    """))
    assert rec.extra["pools"] == {"pool": {"crashes": 0, "failures": 0, "deduplicated": 2}}
    assert rec.extra["dead_lettered"] == {"jobs": 2}


def test_pool_stats_method(harness: Harness) -> None:
    broker = harness.broker(RedisQueue())
    pool = harness.pool(broker, service=1.0, faults=ALWAYS_FAILS)
    harness.publish(broker, 1.0, 3.0)
    harness.run(until=10.0)
    assert pool.stats() == PoolStats(completed=0, crashes=0, failures=2, deduplicated=0)


def test_run_record_extra_is_built_from_stats() -> None:
    rec = simulate(scenario("""
        duration: 10s
        producers:
          api: {to: jobs, interarrival: 1s}
          side: {to: other, interarrival: 1s}
        queues:
          jobs: {broker: redis, persistence: aof-always}
          other: {broker: sqs}
        workers:
          pool: {from: jobs, count: 1, service: 100ms}
          pool2: {from: other, count: 1, service: 100ms}
        faults:
          - {at: 4s, queue: jobs, kind: restart, downtime: 1s}
          - {at: 4s, queue: other, kind: restart, downtime: 1s}
    """))
    # only kinds with persistence report restarts; every queue reports its dead letters
    assert rec.extra["restarts"] == {"jobs": [{"at": 4.0, "durable_point": 4.0}]}
    assert rec.extra["dead_lettered"] == {"jobs": 0, "other": 0}
