"""Job sizes: with ``service_per: message`` a redelivered message takes the time its first processing drew."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

import pytest
from queuesim.scenario.model import RabbitQueue, ServicePer, WorkerPool
from queuesim.sim.worker_faults import FAIL, Ending, Faults, PoolContext, WorkerFault

if TYPE_CHECKING:
    from .conftest import Harness


class FailFirstOf(WorkerFault):
    """For the test: the first processing of one message fails (after its service time); nothing else does."""

    def __init__(self, message: int) -> None:
        self.message = message
        self.struck = False

    @classmethod
    def from_spec(cls, spec: WorkerPool, ctx: PoolContext) -> Self | None:
        return None

    def _strike(self, message: int, service: float) -> Ending | None:
        if message == self.message and not self.struck:
            self.struck = True
            return service, FAIL
        return None


def _run(harness: Harness, service_per: ServicePer) -> list[tuple[float, float]]:
    # RabbitMQ requeues a failed message at the head, so message 0 is redelivered at once
    broker = harness.broker(RabbitQueue(prefetch=1))
    harness.pool(broker, service=[2.0, 1.0, 4.0], faults=Faults([FailFirstOf(0)], restart=1.0),
                 service_per=service_per)
    harness.publish(broker, 0.0, 0.5)
    harness.run(until=20.0)
    d = harness.rec.deliveries
    return [(d["started"][i], d["finished"][i]) for i in range(d.n)]


def test_a_redelivered_message_takes_its_first_draw_again(harness: Harness) -> None:
    # message 0 draws 2 s and fails at 2; its redelivery takes 2 s again (2 → 4); message 1,
    # first processed at 4, takes the next draw, 1 s
    assert _run(harness, "message") == [(0.0, 2.0), (2.0, 4.0), (4.0, 5.0)]
    assert [status for *_, status in harness.log()] == ["FAILED", "DONE", "DONE"]
    assert harness.rec.messages["processings"].tolist()[:2] == [1, 1]


def test_service_per_attempt_draws_afresh_for_each_delivery(harness: Harness) -> None:
    # today's behaviour: the redelivery draws 1 s (2 → 3) and message 1 the third draw, 4 s
    assert _run(harness, "attempt") == [(0.0, 2.0), (2.0, 3.0), (3.0, 7.0)]


@pytest.mark.parametrize("service_per", ["message", "attempt"])
def test_first_deliveries_draw_the_same_numbers_in_the_same_order(harness: Harness, service_per: ServicePer) -> None:
    # nothing is redelivered: both modes give each message the next draw of the stream
    broker = harness.broker(RabbitQueue(prefetch=1))
    harness.pool(broker, service=[3.0, 1.0, 2.0], count=2, service_per=service_per)
    harness.publish(broker, 0.0, 0.5, 1.0)
    harness.run(until=20.0)
    d = harness.rec.deliveries
    assert [(d["started"][i], d["finished"][i]) for i in range(d.n)] == [(0.0, 3.0), (0.5, 1.5), (1.5, 3.5)]


def test_the_job_size_column_grows_with_the_messages_table(harness: Harness) -> None:
    # more messages than one chunk of the records: the sizes column covers every initialised row of
    # the table (a memory map reserves more, an array is exactly as long), NaN where a message has
    # not been processed here yet, up to the end of the initialised rows
    broker = harness.broker(RabbitQueue(prefetch=1))
    pool = harness.pool(broker, service=0.0)
    n = harness.rec.messages.CHUNK + 10
    harness.publish(broker, *[i * 1e-3 for i in range(n)])
    harness.run(until=n * 1e-3 + 1)
    assert pool.sizes is not None
    capacity = harness.rec.messages.capacity
    assert len(pool.sizes) >= capacity >= n
    assert pool.sizes[n - 1] == 0.0 and pool.sizes[n] != pool.sizes[n]
    assert pool.sizes[capacity - 1] != pool.sizes[capacity - 1]  # the second chunk was filled with NaN too
