"""Celery workers at the engine's level: hand-worked traces of prefetch, ack timing, the ETA trap, retries and limits.

Constant service times (or the given draws, in the order processings start) and publishes at given
times; each test states the timeline it expects and reads the records.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from queuesim.metrics import summarize
from queuesim.records import Delivery, Loss, Outcome
from queuesim.scenario.celery import CelerySettings
from queuesim.scenario.model import RabbitQueue, RedisQueue
from queuesim.sim import simulate
from queuesim.sim.broker import Broker
from queuesim.sim.celery import CeleryPool
from queuesim.sim.worker_faults import Faults

from conftest import scenario

from .conftest import Harness


def celery_pool(h: Harness, broker: Broker, *, count: int = 1, service: float | Sequence[float] = 1.0,
                restart: float = 5.0, **settings: object) -> CeleryPool:
    draw = (lambda: float(service)) if isinstance(service, float | int) else iter(service).__next__
    pool = CeleryPool(h.env, 0, "celery", h.workers, count, [broker], draw, h.rec,
                      CelerySettings.model_validate(settings), faults=Faults([], restart))
    h.workers += count * pool.settings.concurrency
    pool.start()
    return pool


def started(h: Harness) -> list[float | None]:
    """Processing start of each delivery row, in row order (None: never started)."""
    d = h.rec.deliveries
    return [None if math.isnan(x) else x for x in d["started"][: d.n]]


def first_start(h: Harness, message: int) -> float | None:
    d = h.rec.deliveries
    rows = [i for i in range(d.n) if d["message"][i] == message and not math.isnan(d["started"][i])]
    return min(d["started"][i] for i in rows) if rows else None


# -- prefetch: reserved tasks wait in the worker ---------------------------------------------------

@pytest.mark.parametrize(
    ("settings", "short_starts"),
    [
        # multiplier 4: worker A reserves m1..m3 behind its 100 s task while B sits idle
        ({"prefetch_multiplier": 4}, [100.0, 101.0, 102.0]),
        # multiplier 1, early ack: A's credit is free again once m0 starts, so A still reserves one more (m2)
        ({"prefetch_multiplier": 1}, [0.0, 100.0, 1.0]),
        # multiplier 1 and late ack, the documented cure for long tasks: nothing waits behind m0
        ({"prefetch_multiplier": 1, "acks_late": True}, [0.0, 1.0, 2.0]),
    ],
    ids=["prefetch-4", "prefetch-1-early-ack", "prefetch-1-late-ack"],
)
def test_prefetched_tasks_wait_behind_a_long_task(harness: Harness, settings: dict, short_starts: list[float]) -> None:
    # two workers of one process each; m0 takes 100 s, m1..m3 take 1 s; all published at t = 0
    q = harness.broker(RabbitQueue())
    celery_pool(harness, q, count=2, service=[100.0, 1.0, 1.0, 1.0], **settings)
    harness.publish(q, 0.0, 0.0, 0.0, 0.0)
    harness.run(200.0)
    assert first_start(harness, 0) == 0.0
    assert [first_start(harness, m) for m in (1, 2, 3)] == short_starts


def test_a_late_high_priority_task_waits_behind_prefetched_low_priority_ones() -> None:
    # one worker, one process, multiplier 4: at t = 0.1 it has reserved bulk tasks 2..4 behind bulk 1; the
    # urgent task of t = 0.5 is first in the broker's order, but the worker's reserved tasks are ahead of it
    rec = simulate(scenario("""
        duration: 10s
        producers:
          bulk: {to: jobs, batch: {every: 1h, size: 5}}
          urgent: {to: jobs, batch: {every: 1h, size: 1, at: 0.5s}, priority: 1}
        queues:
          jobs: {broker: rabbitmq, max_priority: 1}
        workers:
          w: {from: jobs, count: 1, service: 1s, celery: {prefetch_multiplier: 4}}
    """))
    d, m = rec.deliveries, rec.messages
    urgent = int(np.flatnonzero(rec.requests["producer"][m["request"]] == 1)[0])
    # bulk 1 runs 0 → 1 and its early ack frees its credit: bulk 2..5 are reserved. Urgent is received
    # only when bulk 2 starts at 1 and frees the next credit, then waits behind bulk 3, 4, 5: it starts at 5
    assert d["started"][d["message"] == urgent].tolist() == [5.0]


# -- ack timing under a crash ----------------------------------------------------------------------

def test_early_ack_loses_the_running_tasks_of_a_crashed_worker_and_requeues_the_reserved(harness: Harness) -> None:
    # one worker, 2 processes, multiplier 1, early ack: m0, m1 run (acked), m2, m3 reserved (not acked),
    # m4, m5 wait at the broker. It dies at t = 5: m0, m1 are lost; m2, m3 go back to RabbitMQ at once
    q = harness.broker(RabbitQueue())
    pool = celery_pool(harness, q, count=1, concurrency=2, prefetch_multiplier=1, service=10.0, restart=5.0)
    harness.publish(q, *[0.0] * 6)
    harness.at(5.0, pool.nodes[0].crash)
    harness.run(100.0)
    m = harness.rec.messages
    assert [Outcome(o).name for o in m["outcome"][:6]] == ["LOST", "LOST"] + ["COMPLETED"] * 4
    assert [Loss(r).name for r in m["reason"][:2]] == ["WORKER_CRASH"] * 2
    assert m["receives"][:6].tolist() == [1, 1, 2, 2, 1, 1]
    # back at t = 10: the requeued m2, m3 first (RabbitMQ requeues at the head), then m4, m5
    assert [first_start(harness, i) for i in range(6)] == [0.0, 0.0, 10.0, 10.0, 20.0, 20.0]


def test_late_ack_redelivers_every_task_of_a_crashed_worker_so_started_ones_run_twice(harness: Harness) -> None:
    q = harness.broker(RabbitQueue())
    pool = celery_pool(harness, q, count=1, concurrency=2, prefetch_multiplier=2, acks_late=True, service=10.0)
    harness.publish(q, *[0.0] * 6)
    harness.at(5.0, pool.nodes[0].crash)
    harness.run(100.0)
    m = harness.rec.messages
    assert (np.asarray(m["outcome"][:6]) == Outcome.COMPLETED).all()
    assert m["receives"][:6].tolist() == [2, 2, 2, 2, 1, 1]  # m0, m1 ran (partly) twice; m2, m3 were reserved
    d = harness.rec.deliveries
    assert int(np.count_nonzero(np.asarray(d["status"][: d.n]) == Delivery.CRASHED)) == 4


def test_on_redis_the_crashed_worker_s_tasks_return_only_after_the_visibility_timeout(harness: Harness) -> None:
    q = harness.broker(RedisQueue(mode="celery", visibility_timeout=60.0))
    pool = celery_pool(harness, q, count=1, concurrency=1, prefetch_multiplier=1, acks_late=True, service=10.0)
    harness.publish(q, 0.0)
    harness.at(5.0, pool.nodes[0].crash)
    harness.run(200.0)
    assert started(harness) == [0.0, 60.0]  # Redis cannot see the crash: the unacked task is restored at 60 s


# -- the ETA / countdown trap ---------------------------------------------------------------------

ETA = """
    duration: {duration}
    producers:
      report: {{to: tasks, batch: {{every: 100h, size: 1}}, countdown: {countdown}}}
    queues:
      tasks: {{broker: redis, mode: celery, latency: 1ms{vt}}}
    workers:
      w: {{from: tasks, count: 1, service: 1s, celery: {{concurrency: 4}}}}
"""


@pytest.mark.parametrize(
    ("countdown", "vt", "runs"),
    [("2h", "", 2), ("3.5h", "", 4), ("2h", ", visibility_timeout: 12h", 1), ("30m", "", 1)],
    ids=["eta-2h-vt-1h", "eta-3.5h-vt-1h", "eta-2h-vt-12h", "eta-30m-vt-1h"],
)
def test_an_eta_beyond_the_visibility_timeout_runs_once_per_timeout(countdown: str, vt: str, runs: int) -> None:
    # published at 0 with an ETA, received 1 ms later (BRPOP on loopback: DOMAIN.md); reserved unacked, restored
    # by Redis after every visibility timeout while it waits, and reserved again: each copy runs at the ETA
    # (2 h with a 1 h timeout: copies received at 1 ms and 1 h + 1 ms; the next restore, 2 h + 1 ms, is too late)
    rec = simulate(scenario(ETA.format(duration="5h", countdown=countdown, vt=vt)))
    eta = {"2h": 7200.0, "3.5h": 12600.0, "30m": 1800.0}[countdown]
    d = rec.deliveries
    assert d["until"].tolist() == pytest.approx([0.001 + 3600.0 * k for k in range(runs)], abs=1e-9)
    assert d["started"].tolist() == [eta] * runs
    assert rec.messages["processings"].tolist() == [runs]
    assert summarize([rec])["messages"]["duplicates"] == runs - 1


# -- retries and time limits -----------------------------------------------------------------------

def test_a_failing_task_is_retried_through_the_broker_until_max_retries() -> None:
    # every run fails; countdown 10 s, max_retries 2: runs at 0, 10, 20, then the task fails for good
    rec = simulate(scenario("""
        duration: 1m
        producers:
          p: {to: tasks, batch: {every: 1h, size: 1}}
        queues:
          tasks: {broker: rabbitmq}
        workers:
          w: {from: tasks, count: 1, service: 1s, failure: {probability: 1}, celery: {retry: {max_retries: 2, countdown: 10s}}}
    """))
    m, d = rec.messages, rec.deliveries
    assert d["started"].tolist() == [0.0, 11.0, 22.0]  # each retry is due 10 s after the failure at the end of a run
    assert [Outcome(o).name for o in m["outcome"]] == ["COMPLETED", "COMPLETED", "LOST"]
    assert rec.requests["outcome"].tolist() == [Outcome.LOST]
    s = summarize([rec])
    assert s["messages"]["lost"] == 1 and s["workers"]["w"]["failures"] == 3


def test_retry_backoff_doubles_and_caps() -> None:
    rec = simulate(scenario("""
        duration: 2h
        producers:
          p: {to: tasks, batch: {every: 10h, size: 1}}
        queues:
          tasks: {broker: rabbitmq}
        workers:
          w: {from: tasks, count: 1, service: 0s, failure: {probability: 1},
              celery: {retry: {max_retries: 5, backoff: 100, backoff_max: 600s, jitter: false}}}
    """))
    # delays 100, 200, 400, 600 (capped), 600
    assert rec.deliveries["started"].tolist() == [0.0, 100.0, 300.0, 700.0, 1300.0, 1900.0]


def test_retry_jitter_draws_whole_seconds_up_to_the_backoff() -> None:
    text = """
        duration: 3h
        producers:
          p: {to: tasks, batch: {every: 1s, size: 1}}
        queues:
          tasks: {broker: rabbitmq}
        workers:
          w: {from: tasks, count: 50, service: 0s, failure: {probability: 1},
              celery: {retry: {max_retries: 1, backoff: 8}}}
    """
    rec = simulate(scenario(text.replace("duration: 3h", "duration: 10m")))
    d, m = rec.deliveries, rec.messages
    first = {int(x): s for x, s in zip(d["message"], d["started"], strict=True) if not np.isnan(s)}
    delays = []
    for req in range(int(rec.requests["created"].size)):
        copies = np.flatnonzero(m["request"] == req)
        if copies.size == 2 and int(copies[1]) in first:
            delays.append(first[int(copies[1])] - first[int(copies[0])])
    assert delays and set(delays) <= {float(k) for k in range(9)} and len(set(delays)) > 4


@pytest.mark.parametrize(("limits", "outcome", "ends"), [
    ({"soft_time_limit": 3.0}, "COMPLETED", [3.0, 3.0 + 1 + 10.0 + 3.0]),  # soft limit: retried once, then lost
    ({"time_limit": 4.0}, "LOST", [4.0]),  # the hard limit kills the process: no retry
])
def test_time_limits_end_a_long_task(harness: Harness, limits: dict, outcome: str, ends: list[float]) -> None:
    q = harness.broker(RabbitQueue())
    celery_pool(harness, q, service=10.0, retry={"max_retries": 1, "countdown": 11.0}, **limits)
    harness.publish(q, 0.0)
    harness.run(100.0)
    d = harness.rec.deliveries
    assert Outcome(harness.rec.messages["outcome"][0]).name == outcome
    assert d["finished"][: d.n].tolist() == ends[: d.n] and d.n == len(ends)
    assert (np.asarray(d["status"][: d.n]) == Delivery.FAILED).all()


# -- several queues per pool (celery worker -Q a,b) ------------------------------------------------

TWO_QUEUES = """
    duration: 10s
    producers:
      pa: {{to: a, batch: {{every: 1h, size: 3}}}}
      pb: {{to: b, batch: {{every: 1h, size: 3}}}}
    queues:
      a: {queue}
      b: {queue}
    workers:
      w: {{from: [a, b], count: 1, service: 1s, celery: {{prefetch_multiplier: 1, acks_late: true{order}}}}}
"""


@pytest.mark.parametrize(("queue", "order", "served"), [
    ("{broker: rabbitmq}", "", "ababab"),  # one credit: each free credit polls the queue that waited longest first
    ("{broker: redis, mode: celery}", "", "ababab"),  # Kombu's default round_robin cycle
    ("{broker: redis, mode: celery}", ", queue_order: priority", "aaabbb"),  # Kombu's priority cycle: a first, always
    ("{broker: sqs}", ", queue_order: priority", "aaabbb"),
])
def test_a_worker_reading_several_queues_takes_turns_as_kombu_orders_them(queue: str, order: str, served: str) -> None:
    rec = simulate(scenario(TWO_QUEUES.format(queue=queue, order=order)))
    d, m = rec.deliveries, rec.messages
    ran = np.argsort(d["started"], kind="stable")
    assert "".join("ab"[m["queue"][d["message"][i]]] for i in ran) == served
    assert d["started"][ran].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_queue_order_priority_is_a_kombu_option_not_rabbitmq_s() -> None:
    from queuesim.errors import ScenarioError

    with pytest.raises(ScenarioError, match="queue_order: queue 'a' is on RabbitMQ"):
        scenario(TWO_QUEUES.format(queue="{broker: rabbitmq}", order=", queue_order: priority"))
    with pytest.raises(ScenarioError, match=r"several .* need a Celery pool"):
        scenario(TWO_QUEUES.format(queue="{broker: rabbitmq}", order="").replace(", celery: {prefetch_multiplier: 1, acks_late: true}", ""))
    with pytest.raises(ScenarioError, match=r"workers\.w\.from\.1: unknown queue 'c'"):
        scenario(TWO_QUEUES.format(queue="{broker: rabbitmq}", order="").replace("from: [a, b]", "from: [a, c]"))


def test_a_pool_reading_two_queues_shares_its_capacity_between_them() -> None:
    sc = scenario(TWO_QUEUES.format(queue="{broker: rabbitmq}", order="").replace("every: 1h, size: 3", "every: 1s, size: 1"))
    # 1 + 1 task/s on one process of 1 s: both queues see the pool's whole load, 2
    assert sc.offered_load() == {"a": pytest.approx(2.0), "b": pytest.approx(2.0)}


@pytest.mark.parametrize(("edit", "message"), [
    (("count: 1,", "autoscale: {policy: target_tracking, metric: backlog_per_worker, target: 10, min: 1, max: 4},"),
     r"workers\.w\.celery: a Celery pool keeps a fixed count"),
    (("celery: {", "drop_expired: true, celery: {"), r"workers\.w\.drop_expired: deadline propagation is not modelled"),
    (("pa: {to: a,", "pa: {to: a, await_result: true,"), r"producers\.pa: a client waiting for a task that Celery retries"),
    (("{broker: rabbitmq}\n      b", "{broker: rabbitmq, ack: auto}\n      b"), r"queue 'a' needs `ack: manual`"),
    (("a: {broker: redis, mode: celery}", "a: {broker: redis}"), r"set `mode: celery` on queue 'a'"),
])
def test_what_a_celery_pool_does_not_model_is_refused_with_its_location(edit: tuple[str, str], message: str) -> None:
    from queuesim.errors import ScenarioError

    queue = "{broker: redis, mode: celery}" if "redis" in edit[0] else "{broker: rabbitmq}"
    text = TWO_QUEUES.format(queue=queue, order=", retry: {max_retries: 1}")
    assert edit[0] in text
    with pytest.raises(ScenarioError, match=message):
        scenario(text.replace(edit[0], edit[1], 1))


def test_a_backlog_of_eta_tasks_is_reserved_without_recursion(harness: Harness) -> None:
    # 5,000 ETA tasks wait before the worker starts; each frees its credit at once, which takes the next
    # (hypothesis found a RecursionError here once: a credit freed during an offer is offered in a loop)
    q = harness.broker(RabbitQueue())
    pool = CeleryPool(harness.env, 0, "celery", 0, 1, [q], lambda: 0.001, harness.rec,
                      CelerySettings(prefetch_multiplier=1), faults=Faults([], 5.0))
    harness.publish(q, *[0.0] * 5000)

    def start() -> None:
        for message in range(5000):
            pool.etas[message] = 600.0  # as a countdown of 10 min would set it
        pool.start()

    harness.at(1.0, start)
    harness.run(3600.0)
    m = harness.rec.messages
    assert list(m["receives"][:5000]) == [1] * 5000
    assert min(harness.rec.deliveries["started"][: harness.rec.deliveries.n]) == 600.0
    assert all(o == Outcome.COMPLETED for o in m["outcome"][:5000])
