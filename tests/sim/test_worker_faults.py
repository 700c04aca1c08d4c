"""Worker faults: each kind built from its pool spec, their precedence, and a new kind added as one class."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

import pytest
import simpy
from queuesim.sim.kernel import Engine
from queuesim.records import Delivery, Loss, Outcome
from queuesim.scenario.model import RedisQueue, SqsQueue, WorkerPool
from queuesim.sim import simulate
from queuesim.sim.recorder import Recorder
from queuesim.sim.rng import Streams
from queuesim.sim.worker_faults import (
    CRASH,
    DONE,
    FAIL,
    FAULTS,
    Crash,
    Ending,
    Failure,
    Faults,
    HandlerTimeout,
    Idempotency,
    Mtbf,
    Poison,
    PoolContext,
    WorkerFault,
)

from conftest import scenario

if TYPE_CHECKING:
    from .conftest import Harness


def pool_spec(**fields: object) -> WorkerPool:
    return WorkerPool.model_validate({"from": "jobs", "count": 1, "service": "1s", **fields})


def context() -> PoolContext:
    return PoolContext(Engine(), Recorder(), Streams(0, 0, "workers:pool"))


def test_a_pool_without_faults_gets_none_the_fast_path() -> None:
    assert Faults.from_spec(pool_spec(), context()) is None
    # a zero probability enables nothing either
    assert Faults.from_spec(pool_spec(crash={"probability": 0}, failure={"probability": 0}), context()) is None


@pytest.mark.parametrize(("fields", "kind"), [
    ({"idempotent": True}, Idempotency),
    ({"poison": {"probability": 0.1}}, Poison),
    ({"crash": {"probability": 0.1}}, Crash),
    ({"failure": {"probability": 0.1}}, Failure),
    ({"timeout": "2s"}, HandlerTimeout),
    ({"mtbf": "1h"}, Mtbf),
])
def test_each_fault_kind_is_built_from_its_own_spec_field(fields: dict[str, object], kind: type[WorkerFault]) -> None:
    faults = Faults.from_spec(pool_spec(**fields), context())
    assert faults is not None
    assert [type(f) for f in faults.faults] == [kind]
    assert kind in FAULTS


def test_crash_restart_applies_to_mtbf_crashes_too() -> None:
    faults = Faults.from_spec(pool_spec(crash={"probability": 0, "restart": "30s"}, mtbf="1h"), context())
    assert faults is not None and faults.restart == 30.0
    assert [type(f) for f in faults.faults] == [Mtbf]


def test_crash_and_failure_take_turns_on_one_stream() -> None:
    faults = Faults.from_spec(pool_spec(crash={"probability": 0.5}, failure={"probability": 0.5}), context())
    assert faults is not None
    crash, failure = faults.faults
    assert isinstance(crash, Crash) and isinstance(failure, Failure)
    assert crash.uniform is failure.uniform


def test_precedence_poison_before_crash_before_failure_then_the_timeout_bound() -> None:
    rec = Recorder()
    message = rec.new_root(0, 0, 0.0)  # its first receive: poison is drawn
    crash_draws: list[float] = []

    def crash_uniform() -> float:
        crash_draws.append(0.5)
        return 0.5

    faults = Faults([Poison(1.0, lambda: 0.0, rec), Crash(1.0, crash_uniform), HandlerTimeout(0.5)], restart=1.0)
    assert faults.decide(message, 2.0) == (0.5, FAIL)  # poison strikes first, then the timeout bounds it
    assert crash_draws == []  # the crash was never drawn
    assert Faults([Crash(1.0, lambda: 0.5), HandlerTimeout(0.5)], 1.0).decide(message, 2.0) == (1.0, CRASH)
    assert Faults([Failure(0.0, lambda: 0.5), HandlerTimeout(5.0)], 1.0).decide(message, 2.0) == (2.0, DONE)


def test_poison_fails_every_delivery_and_marks_the_message() -> None:
    rec = simulate(scenario("""
        duration: 16s
        producers:
          api: {to: jobs, interarrival: 10s}
        queues:
          jobs: {broker: sqs, visibility_timeout: 2s, max_receives: 2}
        workers:
          pool: {from: jobs, count: 1, service: 1s, poison: {probability: 1}, crash: {probability: 1}}
    """))
    d = rec.deliveries
    # failed, failed (never crashed: poison strikes first), dead-lettered
    assert d["status"].tolist() == [Delivery.FAILED, Delivery.FAILED, Delivery.DEAD_LETTERED]
    assert d["finished"].tolist()[:2] == [11.0, 13.0]
    assert rec.messages["poison"].tolist() == [1]
    assert rec.extra["pools"] == {"pool": {"crashes": 0, "failures": 2, "deduplicated": 0}}


def test_the_handler_timeout_abandons_a_long_processing() -> None:
    rec = simulate(scenario("""
        duration: 15s
        producers:
          api: {to: jobs, interarrival: 10s}
        queues:
          jobs: {broker: redis}
        workers:
          pool: {from: jobs, count: 1, service: 2s, timeout: 500ms}
    """))
    assert rec.deliveries["finished"].tolist() == [10.5]
    assert rec.messages["outcome"].tolist() == [Outcome.LOST] and rec.messages["reason"].tolist() == [Loss.FAILURE]


def test_a_crash_is_not_cut_short_by_the_timeout_kept_behaviour() -> None:
    # regression pin of the behaviour kept by the fault refactor: a crash is decided as the
    # processing starts and the handler timeout does not bound it
    rec = simulate(scenario("""
        duration: 15s
        producers:
          api: {to: jobs, interarrival: 10s}
        queues:
          jobs: {broker: redis}
        workers:
          pool: {from: jobs, count: 1, service: 2s, timeout: 1ms, crash: {probability: 1}}
    """))
    assert rec.extra["pools"] == {"pool": {"crashes": 1, "failures": 0, "deduplicated": 0}}
    assert rec.messages["reason"].tolist() == [Loss.WORKER_CRASH]


def test_an_idempotent_worker_dedupes_a_redelivery(harness: Harness) -> None:
    broker = harness.broker(SqsQueue(visibility_timeout=2.0, max_receives=2, duplicate_probability=1.0))
    faults = Faults.from_spec(pool_spec(idempotent=True, dedupe="10ms"), PoolContext(harness.env, harness.rec,
                                                                                       Streams(0, 0, "workers:p")))
    pool = harness.pool(broker, service=1.0, faults=faults)
    harness.publish(broker, 10.0)
    harness.run(until=16.0)
    assert harness.log() == [(0, 0, 10.0, 10.0, "DONE"), (0, 0, 12.0, 12.0, "DEDUPED"), (0, -1, 14.0, 14.0, "DEAD_LETTERED")]
    assert harness.rec.deliveries["finished"][1] == 12.0 + 0.01
    assert pool.stats().deduplicated == 1


def test_an_mtbf_clock_crashes_the_worker_and_restarts_with_it(harness: Harness) -> None:
    broker = harness.broker(RedisQueue())
    pool = harness.pool(broker, service=10.0, faults=Faults([Mtbf(harness.env, lambda: 3.0)], restart=1.0))
    harness.publish(broker, 1.0)
    harness.run(until=8.0)
    # crashes at 3 (holding the message: lost, at-most-once) and at 4 + 3 = 7
    assert harness.log() == [(0, 0, 1.0, 1.0, "CRASHED")]
    assert pool.stats().crashes == 2
    assert harness.rec.messages["reason"][0] == Loss.WORKER_CRASH


class Pause(WorkerFault):
    """A new fault kind, for the test: a stop-the-world pause of ``length`` added to every processing."""

    def __init__(self, length: float) -> None:
        self.length = length

    @classmethod
    def from_spec(cls, spec: WorkerPool, ctx: PoolContext) -> Self | None:
        return cls(0.5) if spec.timeout is None else None

    def _strike(self, message: int, service: float) -> Ending | None:
        return service + self.length, DONE


def test_a_new_fault_kind_is_one_class(harness: Harness) -> None:
    faults = Faults.from_spec(pool_spec(), PoolContext(harness.env, harness.rec, Streams(0, 0, "workers:p")),
                              kinds=(*FAULTS, Pause))
    assert faults is not None and [type(f) for f in faults.faults] == [Pause]
    assert (len(faults._replacers), len(faults._strikers), len(faults._bounds), len(faults._armers)) == (0, 1, 0, 0)
    broker = harness.broker(RedisQueue())
    harness.pool(broker, service=1.0, faults=faults)
    harness.publish(broker, 1.0, 2.0)
    harness.run(until=10.0)
    assert harness.rec.deliveries["finished"].tolist()[:2] == [2.5, 4.0]  # 1.5 s each, the second waited
    assert harness.log() == [(0, 0, 1.0, 1.0, "DONE"), (1, 0, 2.0, 2.5, "DONE")]


def test_a_pool_logs_each_crash_and_whether_its_clock_caused_it(harness: Harness) -> None:
    # a processing crash at half of the 2 s job, at 1, back at 1.5 to process the copy that
    # came back (1.5-3.5, no crash); the mtbf clock, set 3 s after the restart, strikes at 4.5
    broker = harness.broker(SqsQueue(visibility_timeout=1.0))
    crash = Crash(0.5, iter([0.0, 0.5, 0.9]).__next__)  # decide (crash), place it (half way), decide (none)
    pool = harness.pool(broker, service=2.0,
                        faults=Faults([crash, Mtbf(harness.env, iter([100.0, 3.0, 100.0]).__next__)], restart=0.5))
    harness.publish(broker, 0.0)
    harness.run(until=4.9)
    assert pool.downtime() == {"per_message": [[1.0, 1.5]], "clock": [[4.5, 5.0]]}
