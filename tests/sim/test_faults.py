"""Delivery guarantees under faults, each on a case worked out by hand or in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from queuesim import run
from queuesim.experiment.executors import SerialExecutor

from conftest import scenario


def summary_of(text: str, **sets: object) -> dict:
    return run(scenario(text, **sets), executor=SerialExecutor()).summary


def conserved(s: dict) -> bool:
    m = s["messages"]
    return m["produced"] == m["completed"] + m["gave_up"] + m["lost"] + m["dead_lettered"] + m["in_flight"]


# --- worker crashes ---------------------------------------------------------------------------

CRASHY = """
    seed: 8
    duration: 120s
    warmup: 5s
    producers:
      web: {{to: jobs, rate: 200/s}}
    queues:
      jobs: {queue}
    workers:
      pool: {{from: jobs, count: 6, service: {{dist: exponential, mean: 10ms}}, crash: {{probability: 0.03, restart: 200ms}}}}
"""


def test_crash_probability_on_a_redis_list_loses_that_fraction() -> None:
    s = summary_of(CRASHY.format(queue="{broker: redis}"))
    m = s["messages"]
    received = m["completed"] + m["lost"]
    p, rate = 0.03, m["lost"] / received
    tol = 4 * math.sqrt(p * (1 - p) / received)
    print(f"crash loss: {rate:.4%} vs p = {p:.2%} ± {tol:.3%}")
    assert abs(rate - p) <= tol
    assert s["losses"]["worker_crash"] == m["lost"]
    assert s["workers"]["pool"]["crashes"] >= m["lost"]
    assert conserved(s)


@pytest.mark.parametrize(
    "queue",
    ["{broker: sqs, visibility_timeout: 1s}", "{broker: rabbitmq, prefetch: 1}",
     "{broker: rabbitmq, prefetch: 10}", "{broker: redis, mode: reliable, reclaim_after: 1s}",
     "{broker: redis, mode: stream, min_idle: 1s}"],
    ids=["sqs", "rabbitmq", "rabbitmq-prefetch10", "redis-reliable", "redis-stream"],
)
def test_crashes_lose_nothing_on_at_least_once_brokers(queue: str) -> None:
    s = summary_of(CRASHY.format(queue=queue))
    assert s["messages"]["lost"] == 0
    assert s["workers"]["pool"]["crashes"] > 50
    assert s["messages"]["redeliveries"] >= s["workers"]["pool"]["crashes"] * 0.5
    assert conserved(s)


def test_rabbitmq_prefetch_delivers_ahead_and_waits_hide_in_the_buffer() -> None:
    text = """
        duration: 10s
        producers:
          web: {to: jobs, interarrival: 100ms}
        queues:
          jobs: {broker: rabbitmq, prefetch: 3}
        workers:
          pool: {from: jobs, count: 1, service: 1s, mtbf: 1000h}
    """
    result = run(scenario(text), executor=SerialExecutor())
    d = result.deliveries
    # prefetch 3: the first three messages are delivered at once (0.1, 0.2, 0.3) and wait in the buffer
    first = d[d["delivery"] == 1].sort_values("message").head(3)
    assert first["until"].round(9).tolist() == [0.1, 0.2, 0.3]
    assert first["started"].round(9).tolist() == [0.1, 1.1, 2.1]
    # the fourth waits in the broker until a credit frees at 1.1 s
    assert d[(d["message"] == 3) & (d["delivery"] == 1)]["until"].round(9).tolist() == [1.1]


# --- visibility timeout and poison messages --------------------------------------------------

@pytest.mark.parametrize(
    ("service", "queue", "duplicates", "dead_lettered"),
    [
        # standard: receives at t, t+1; at t+1.5 the first delete (an older receipt) deletes it
        ("1.5s", "visibility_timeout: 1s, max_receives: 3", 1, 0),
        # 25 ms job, 10 ms timeout: receives at t, t+10, t+20 ms, deleted at t+25 ms: 2 extra receives
        ("25ms", "visibility_timeout: 10ms", 2, 0),
        # the worst case: only the latest receipt deletes, so receives at t, t+1, t+2 and the fourth
        # (t+3) would exceed max_receives=3: two duplicates and one dead letter each
        ("1.5s", "visibility_timeout: 1s, max_receives: 3, stale_receipts: ignored", 2, 1),
        # FIFO: every delete comes after its handle expired and fails; receives at t, t+10, t+20 ms
        # and the fourth (t+30 ms) is dead-lettered
        ("25ms", "kind: fifo, visibility_timeout: 10ms, max_receives: 3", 2, 1),
    ],
    ids=["standard 1.5s/1s", "standard 25ms/10ms", "ignored 1.5s/1s", "fifo 25ms/10ms"],
)
def test_constant_service_longer_than_visibility_timeout_gives_exact_duplicates(
    service: str, queue: str, duplicates: int, dead_lettered: int
) -> None:
    # one message every 10 s, 10 idle workers: duplicates = the extra receives before the first
    # delete that lands (or before the dead letter)
    text = f"""
        duration: 100s
        producers:
          web: {{to: jobs, interarrival: 10s}}
        queues:
          jobs: {{broker: sqs, {queue}}}
        workers:
          pool: {{from: jobs, count: 10, service: {service}}}
    """
    s = summary_of(text)
    assert s["messages"]["produced"] == 9
    assert s["messages"]["completed"] == 9
    assert s["messages"]["duplicates"] == 9 * duplicates
    assert s["rates"]["duplicate"] == duplicates
    assert s["queues"]["jobs"]["dead_lettered"] == 9 * dead_lettered
    assert s["queues"]["jobs"]["redeliveries"] == 9 * duplicates


def test_fifo_late_delete_fails_so_one_worker_processes_the_message_until_the_limit() -> None:
    # one worker, FIFO, 25 ms job, 10 ms timeout: received at 10 s, visible again at 10.01 s while
    # the worker is still busy; its delete at 10.025 s fails (the handle expired), so it receives
    # the message again at once; the same at 10.05 s; the third delete fails at 10.075 s and the
    # next receive exceeds max_receives=3: dead-lettered. Without max_receives it loops for ever.
    text = """
        duration: 15s
        producers:
          web: {to: jobs, interarrival: 10s}
        queues:
          jobs: {broker: sqs, kind: fifo, visibility_timeout: 10ms, max_receives: 3}
        workers:
          pool: {from: jobs, count: 1, service: 25ms}
    """
    result = run(scenario(text), executor=SerialExecutor())
    d = result.deliveries
    assert d["status"].astype(str).tolist() == ["stale", "stale", "stale", "dead_lettered"]
    assert d["until"].round(9).tolist() == [10.0, 10.025, 10.05, 10.075]
    assert result.summary["messages"]["duplicates"] == 2
    looping = run(scenario(text.replace(", max_receives: 3", "")), executor=SerialExecutor())
    # received every 25 ms from 10 s: 199 processings end before the run stops at 15 s
    assert looping.summary["messages"]["duplicates"] == 198
    assert looping.summary["queues"]["jobs"]["dead_lettered"] == 0


POISON = """
    duration: 60s
    producers:
      web: {{to: jobs, interarrival: 5s}}
    queues:
      jobs: {queue}
    workers:
      pool: {{from: jobs, count: 2, service: 100ms, poison: {{probability: 1}}}}
"""


@pytest.mark.parametrize(
    "queue",
    ["{broker: sqs, visibility_timeout: 500ms, max_receives: 3}",
     "{broker: rabbitmq, delivery_limit: 3}",
     "{broker: redis, mode: stream, min_idle: 500ms, max_deliveries: 3}"],
    ids=["sqs", "rabbitmq", "redis-stream"],
)
def test_poison_message_is_dead_lettered_after_exactly_the_limit(queue: str) -> None:
    result = run(scenario(POISON.format(queue=queue)), executor=SerialExecutor())
    s = result.summary
    produced = s["messages"]["produced"]
    assert produced == 11
    assert s["messages"]["dead_lettered"] == produced
    assert s["poison"] == {"seen": produced, "dead_lettered": produced, "lost": 0, "cycling": 0}
    assert (result.messages["receives"] == 3).all()
    assert s["workers"]["pool"]["failures"] == 3 * produced


def test_poison_without_a_limit_cycles_forever_and_is_reported() -> None:
    result = run(scenario(POISON.format(queue="{broker: redis, mode: reliable, reclaim_after: 500ms}")),
                 executor=SerialExecutor())
    s = result.summary
    assert s["poison"]["cycling"] == s["messages"]["produced"] == s["messages"]["in_flight"]
    assert any("poison" in w and "forever" in w for w in s["warnings"])


def test_poison_on_a_redis_list_is_lost_on_its_first_failure() -> None:
    s = summary_of(POISON.format(queue="{broker: redis}"))
    assert s["losses"]["failure"] == s["messages"]["lost"] == s["messages"]["produced"]


def test_timeout_abandons_slow_processing_as_a_failure() -> None:
    text = """
        duration: 30s
        producers:
          web: {to: jobs, interarrival: 10s}
        queues:
          jobs: {broker: sqs, visibility_timeout: 3s, max_receives: 2}
        workers:
          pool: {from: jobs, count: 1, service: 2s, timeout: 1s}
    """
    result = run(scenario(text), executor=SerialExecutor())
    d = result.deliveries
    failed = d[d["status"] == "failed"]
    assert ((failed["finished"] - failed["started"]).round(9) == 1.0).all()
    assert result.summary["messages"]["dead_lettered"] == 2  # messages at 10 s and 20 s, two receives each


@pytest.mark.parametrize("rule", ["kind: fifo", "stale_receipts: ignored"])
def test_idempotent_workers_turn_duplicates_into_cheap_dedupes(rule: str) -> None:
    # a copy comes back after the first processing ended only where that processing's delete
    # failed: on a FIFO queue (its handle expired) or with stale receipts ignored
    text = f"""
        duration: 100s
        producers:
          web: {{to: jobs, interarrival: 10s}}
        queues:
          jobs: {{broker: sqs, visibility_timeout: 1s, max_receives: 3, {rule}}}
        workers:
          pool: {{from: jobs, count: 10, service: 1.5s, idempotent: true, dedupe: 5ms}}
    """
    s = summary_of(text)
    # receives at t, t+1, t+2: the second copy is received before the first processing ends, so it
    # is still processed in full (a duplicate); the third, after the first ended, is a dedupe
    # whose delete holds the latest receipt
    assert s["messages"]["duplicates"] == 9
    assert s["workers"]["pool"]["deduplicated"] == 9
    assert s["queues"]["jobs"]["dead_lettered"] == 0


# --- broker restarts and persistence ---------------------------------------------------------

RESTART = """
    duration: {duration}
    producers:
      web: {{to: jobs, interarrival: {gap}}}
    queues:
      jobs: {{broker: redis, persistence: {persistence}}}
    workers:
      pool: {{from: jobs, count: 1, service: 10s}}
    faults:
      - {{at: {at}, queue: jobs, kind: restart, downtime: 1s}}
"""


def test_restart_without_persistence_loses_exactly_the_waiting_messages() -> None:
    # arrivals every second from t=1; one worker busy 10 s per message: at t=20.5 messages 3..20
    # are waiting (1 and 2 were received at 1 and 11)
    result = run(scenario(RESTART.format(duration="30s", gap="1s", persistence="none", at="20.5s")),
                 executor=SerialExecutor())
    s = result.summary
    assert s["losses"]["broker_restart"] == 18
    lost = result.messages[result.messages["reason"] == "broker_restart"]
    assert lost["accepted"].tolist() == [float(t) for t in range(3, 21)]
    assert s["faults"][0]["backlog_peak"] >= 18


def test_aof_everysec_loses_at_most_the_last_second_and_replays_late_pops() -> None:
    # arrivals every 0.25 s; one worker busy 10 s each; restart at 20.6 s. The last fsync fell at
    # some t_d in (19.6, 20.6]: exactly the waiting messages accepted after t_d are lost, and a
    # message popped after t_d but accepted before it comes back and is processed again.
    for seed in range(6):
        result = run(scenario(RESTART.format(duration="45s", gap="250ms", persistence="aof-everysec", at="20.6s"),
                              seed=seed), executor=SerialExecutor())
        s = result.summary
        (t_d,) = s["faults"][0]["durable_point"]
        assert 19.6 < t_d <= 20.6
        m = result.messages
        lost = m[m["reason"] == "broker_restart"]
        # waiting at 20.6: everything accepted from 1.0 to 20.5 s (the worker popped the messages
        # accepted at 0.25, 0.5 and 0.75 at 0.25, 10.25 and 20.25)
        waiting = [0.25 * k for k in range(4, 83)]
        assert lost["accepted"].tolist() == [t for t in waiting if t > t_d]
        assert (lost["accepted"] > 20.6 - 1.0).all()
        replayed = m.set_index("message").loc[2]  # accepted 0.75, popped at 20.25
        assert replayed["processings"] == (2 if t_d < 20.25 else 1)


def test_aof_always_loses_nothing_and_rdb_loses_since_the_snapshot() -> None:
    always = summary_of(RESTART.format(duration="30s", gap="250ms", persistence="aof-always", at="20.6s"))
    assert always["messages"]["lost"] == 0 and always["faults"][0]["durable_point"] == [20.6]
    text = RESTART.format(duration="30s", gap="250ms", persistence="'{rdb: {every: 5s}}'", at="23.6s")
    result = run(scenario(text.replace("'", "")), executor=SerialExecutor())
    (t_d,) = result.summary["faults"][0]["durable_point"]
    assert 18.6 < t_d <= 23.6
    lost = result.messages[result.messages["reason"] == "broker_restart"]
    assert lost["accepted"].min() > t_d and lost["accepted"].max() <= 23.6
    assert len(lost) == sum(1 for k in range(1, 95) if t_d < 0.25 * k <= 23.6)


def test_outage_refuses_publishes_for_its_duration_and_reports_drain_time() -> None:
    text = """
        duration: 60s
        producers:
          web: {to: jobs, interarrival: 500ms}
        queues:
          jobs: {broker: sqs}
        workers:
          pool: {from: jobs, count: 1, service: 100ms}
        faults:
          - {at: 10.1s, queue: jobs, kind: outage, duration: 5s}
    """
    s = summary_of(text)
    assert s["messages"]["rejected"] == 10  # arrivals at 10.5, 11, …, 15
    assert s["messages"]["gave_up"] == 10
    f = s["faults"][0]
    assert (f["kind"], f["at"], f["end"]) == ("outage", 10.1, 15.1)
    assert f["drain_time"] == 0.0


# --- other broker kinds ----------------------------------------------------------------------

def test_pubsub_drops_what_no_free_worker_takes() -> None:
    # one worker busy 1 s; publishes every 0.4 s: received at 0.4, 1.6, 2.8, … (every third)
    text = """
        duration: 12.1s
        producers:
          web: {to: events, interarrival: 400ms}
        queues:
          events: {broker: redis, mode: pubsub}
        workers:
          pool: {from: events, count: 1, service: 1s}
    """
    s = summary_of(text)
    assert s["messages"]["produced"] == 30
    assert s["losses"]["no_subscriber"] == 20
    assert s["messages"]["completed"] + s["messages"]["in_flight"] == 10


def test_redis_maxmemory_refuses_or_evicts() -> None:
    base = """
        duration: 20s
        producers:
          web: {to: jobs, interarrival: 100ms}
        queues:
          jobs: {broker: redis, maxmemory: 5, policy: %s}
        workers:
          pool: {from: jobs, count: 1, service: 1s}
    """
    refuse = summary_of(base % "noeviction")
    assert refuse["queues"]["jobs"]["max_depth"] == 5 and refuse["messages"]["rejected"] > 100
    evict = summary_of(base % "allkeys-lru")
    assert evict["messages"]["rejected"] == 0 and evict["losses"]["eviction"] > 100
    assert evict["queues"]["jobs"]["max_depth"] == 5


def test_rabbitmq_drop_head_loses_the_oldest_reject_publish_refuses() -> None:
    base = """
        duration: 20s
        producers:
          web: {to: jobs, interarrival: 100ms}
        queues:
          jobs: {broker: rabbitmq, capacity: 5, overflow: %s, prefetch: 1}
        workers:
          pool: {from: jobs, count: 1, service: 1s}
    """
    drop = run(scenario(base % "drop-head"), executor=SerialExecutor())
    assert drop.summary["losses"]["overflow"] > 100 and drop.summary["messages"]["rejected"] == 0
    # the survivors are the newest: the last completed message was accepted late in the run
    done = drop.messages[drop.messages["outcome"] == "completed"]
    assert done["accepted"].max() > 15
    refuse = summary_of(base % "reject-publish")
    assert refuse["losses"]["overflow"] == 0 and refuse["messages"]["rejected"] > 100


def test_sqs_fifo_blocks_a_group_while_its_message_is_in_flight() -> None:
    text = """
        duration: 5s
        producers:
          web: {to: jobs, interarrival: 100ms}
        queues:
          jobs: {broker: sqs, kind: fifo, groups: 1}
        workers:
          pool: {from: jobs, count: 3, service: 1s}
    """
    result = run(scenario(text), executor=SerialExecutor())
    m = result.messages.sort_values("message")
    # one group: strictly one at a time, in order, although three workers are free
    starts = m["first_receive"].dropna().round(9).tolist()
    assert starts == [0.1, 1.1, 2.1, 3.1, 4.1]
    assert result.summary["workers"]["pool"]["utilization"] < 0.34


def test_sqs_fifo_throughput_quota_throttles_sends() -> None:
    text = """
        duration: 30s
        warmup: 2s
        producers:
          web: {to: jobs, rate: 40/s}
        queues:
          jobs: {broker: sqs, kind: fifo, tps: 20/s}
        workers:
          pool: {from: jobs, count: 4, service: 10ms}
    """
    s = summary_of(text)
    assert s["queues"]["jobs"]["throughput"] == pytest.approx(20, rel=0.05)
    assert s["rates"]["rejection"] == pytest.approx(0.5, abs=0.05)


def test_sqs_standard_spontaneous_duplicates_match_their_probability() -> None:
    text = """
        seed: 2
        duration: 200s
        producers:
          web: {to: jobs, rate: 100/s}
        queues:
          jobs: {broker: sqs, visibility_timeout: 1s, duplicate_probability: 0.02}
        workers:
          pool: {from: jobs, count: 4, service: {dist: exponential, mean: 10ms}}
    """
    s = summary_of(text)
    n, p = s["messages"]["completed"], 0.02
    # a duplicate copy can itself be duplicated: expected duplicates per message p / (1 - p)
    expected = p / (1 - p)
    tol = 4 * math.sqrt(expected / n)
    assert abs(s["rates"]["duplicate"] - expected) <= tol


def test_faults_are_marked_and_conservation_holds_everywhere() -> None:
    text = """
        seed: 4
        duration: 60s
        warmup: 5s
        producers:
          web: {to: jobs, rate: 150/s, retry: {attempts: 3, backoff: 50ms}}
        queues:
          jobs: {broker: redis, mode: stream, min_idle: 2s, capacity: 500}
        workers:
          pool: {from: jobs, count: 3, service: {dist: exponential, mean: 15ms}, crash: {probability: 0.01}, failure: {probability: 0.02}}
        faults:
          - {at: 20s, queue: jobs, kind: restart, downtime: 3s}
          - {at: 40s, queue: jobs, kind: outage, duration: 2s}
    """
    result = run(scenario(text), executor=SerialExecutor())
    s = result.summary
    assert conserved(s)
    assert [f["kind"] for f in s["faults"]] == ["restart", "outage"]
    assert all(f["backlog_peak"] >= f["depth_before"] for f in s["faults"])
    assert np.isfinite(s["faults"][0]["drain_time"])
