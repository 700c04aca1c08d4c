"""Priority queues at the engine's level: exact traces with constant times (who starts when)."""

from __future__ import annotations

import numpy as np
import pytest
from queuesim.metrics import summarize
from queuesim.records import RunRecord
from queuesim.sim import simulate
from queuesim.sim.priority import rabbit_levels, redis_levels

from conftest import scenario

TWO_CLASSES = """
    duration: 3.5s
    producers:
      bulk: {{to: jobs, interarrival: 0.25s, priority: {low}}}
      urgent: {{to: jobs, interarrival: 1.1s, priority: {high}}}
    queues:
      jobs: {queue}
    workers:
      pool: {{from: jobs, count: 1, service: 1s}}
"""


def starts(rec: RunRecord, producer: int) -> list[float]:
    """Processing start of each message of one producer, in creation order (NaN: never started)."""
    msg, dl = rec.messages, rec.deliveries
    mine = np.flatnonzero(rec.requests["producer"][msg["request"]] == producer)
    first = {m: s for m, s in zip(dl["message"].tolist(), dl["started"].tolist(), strict=True)}
    return [round(first.get(int(m), float("nan")), 9) for m in mine]


def test_a_higher_priority_message_overtakes_the_waiting_ones() -> None:
    # bulk at 0.25, 0.5, …; urgent at 1.1 and 2.2. One worker busy 1 s: bulk 0.25 runs 0.25 → 1.25; at
    # 1.25 bulk 0.5, 0.75, 1.0 (and 1.25) wait, yet urgent 1.1 starts; at 2.25 urgent 2.2 starts.
    rec = simulate(scenario(TWO_CLASSES.format(low=0, high=2, queue="{broker: rabbitmq, max_priority: 2, prefetch: 1}")))
    assert starts(rec, 1)[:2] == [1.25, 2.25]
    assert starts(rec, 0)[:2] == [0.25, 3.25]


def test_without_max_priority_the_same_load_is_fifo() -> None:
    rec = simulate(scenario(TWO_CLASSES.format(low=0, high=0, queue="{broker: rabbitmq, prefetch: 1}")))
    # urgent 1.1 waits behind bulk 0.5, 0.75 and 1.0: it starts at 4.25, past the end
    assert starts(rec, 0)[:4] == [0.25, 1.25, 2.25, 3.25]
    assert all(np.isnan(starts(rec, 1)))


def test_prefetched_low_priority_work_blocks_a_later_high_priority_message() -> None:
    # prefetch 3: at 0.5 and 0.75 the worker already holds bulk messages in its buffer; at 1.25 it starts
    # bulk 0.5 from the buffer and its free credit takes urgent 1.1 (the broker's highest), which waits
    # behind bulk 0.75 in the buffer: it starts at 3.25 instead of 1.25.
    rec = simulate(scenario(TWO_CLASSES.format(low=0, high=2, queue="{broker: rabbitmq, max_priority: 2, prefetch: 3}")))
    assert starts(rec, 1)[0] == 3.25
    assert starts(rec, 0)[:3] == [0.25, 1.25, 2.25]


def test_redis_priority_steps_merge_neighbouring_priorities() -> None:
    # queuesim priority p is Celery's 9 - p; Kombu rounds Celery's number down to a step of [0, 3, 6, 9]
    assert redis_levels(9) == [0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert rabbit_levels(3) == [0, 1, 2, 3]
    same_step = simulate(scenario(TWO_CLASSES.format(low=1, high=3, queue="{broker: redis, max_priority: 9}")))
    assert all(np.isnan(starts(same_step, 1)))  # priorities 1 and 3 share one list: FIFO
    apart = simulate(scenario(TWO_CLASSES.format(low=3, high=4, queue="{broker: redis, max_priority: 9}")))
    assert starts(apart, 1)[:2] == [1.25, 2.25]


@pytest.mark.parametrize("queue", ["{broker: rabbitmq, max_priority: 2, capacity: 3, prefetch: 1}",
                                   "{broker: redis, max_priority: 2, maxmemory: 3, policy: allkeys-lru}"])
def test_a_full_priority_queue_drops_and_still_accounts_for_every_message(queue: str) -> None:
    rec = simulate(scenario(TWO_CLASSES.format(low=0, high=2, queue=queue)))
    m = summarize([rec])["messages"]
    assert m["lost"] > 0
    settled = m["completed"] + m["lost"] + m["dead_lettered"] + m["expired"] + m["gave_up"] + m["reneged"]
    assert settled + m["in_flight"] == m["produced"]
