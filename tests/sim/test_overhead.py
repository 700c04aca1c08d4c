"""Worker overhead: each delivery holds its worker for the overhead before the handler starts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from queuesim.records import Loss
from queuesim.scenario.model import RedisQueue, SqsQueue
from queuesim.sim.worker_faults import Faults, Mtbf

if TYPE_CHECKING:
    from .conftest import Harness


def _times(harness: Harness) -> list[tuple[float, float, float]]:
    d = harness.rec.deliveries
    return [(d["started"][i], d["finished"][i], d["overhead"][i]) for i in range(d.n)]


def test_overhead_comes_before_the_service_and_delays_the_next_receive(harness: Harness) -> None:
    broker = harness.broker(RedisQueue())
    harness.pool(broker, service=1.0, overhead=0.25)
    harness.publish(broker, 0.0, 0.5, 5.0)
    harness.run(until=10.0)
    # message 0: received at 0, overhead to 0.25, service to 1.25; message 1 waits until the
    # worker is free at 1.25 (not 1.0), then the same; message 2 finds the worker idle
    assert harness.log() == [(0, 0, 0.0, 0.0, "DONE"), (1, 0, 0.5, 1.25, "DONE"), (2, 0, 5.0, 5.0, "DONE")]
    assert _times(harness) == [(0.25, 1.25, 0.25), (1.5, 2.5, 0.25), (5.25, 6.25, 0.25)]
    # a message's work is done when its service ends: the overhead came first
    assert harness.rec.messages["done"][:3].tolist() == [1.25, 2.5, 6.25]


def test_a_crash_during_the_overhead_hands_the_message_back(harness: Harness) -> None:
    # an mtbf crash at 0.1, inside the first delivery's 0.25 s overhead: the handler never
    # started; the sqs copy stays hidden until its visibility timeout and comes back at 2
    broker = harness.broker(SqsQueue(visibility_timeout=2.0))
    clock = iter([0.1, 100.0]).__next__
    harness.pool(broker, service=1.0, overhead=0.25, faults=Faults([Mtbf(harness.env, clock)], restart=0.5))
    harness.publish(broker, 0.0)
    harness.run(until=10.0)
    assert harness.log() == [(0, 0, 0.0, 0.0, "CRASHED"), (0, 0, 2.0, 2.0, "DONE")]
    # the crashed delivery held its worker from 0 to the crash (0.1) without any service
    assert _times(harness) == [(0.1, 0.1, 0.1), (2.25, 3.25, 0.25)]
    assert harness.rec.messages["reason"][0] == Loss.NONE


def test_a_crash_during_the_overhead_loses_the_message_on_a_redis_list(harness: Harness) -> None:
    broker = harness.broker(RedisQueue())
    harness.pool(broker, service=1.0, overhead=0.25,
                 faults=Faults([Mtbf(harness.env, iter([0.1, 100.0]).__next__)], restart=0.5))
    harness.publish(broker, 0.0)
    harness.run(until=10.0)
    assert harness.log() == [(0, 0, 0.0, 0.0, "CRASHED")]
    assert harness.rec.messages["reason"][0] == Loss.WORKER_CRASH
