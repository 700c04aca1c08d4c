"""Exact traces with constant distributions, worked out by hand (SimPy's own tests do the same)."""

from __future__ import annotations

import math

from queuesim import run

from conftest import scenario

SQS_ONE_MESSAGE = """
    duration: 15s
    producers:
      api: {to: jobs, interarrival: 10s}     # one message, created at t = 10
    queues:
      jobs: {broker: sqs, visibility_timeout: 1s, max_receives: 2}
    workers:
      pool: {from: jobs, count: %d, service: 1.5s}
"""


def test_sqs_visibility_expiry_gives_one_duplicate_and_the_older_receipt_deletes() -> None:
    # t=10 worker 0 receives (receive 1); t=11 the timeout expires, worker 1 receives (receive 2);
    # t=11.5 worker 0 finishes and deletes with its older receipt handle: a standard queue accepts
    # it and the message is gone (as measured against SQS), so no third receive and no dead letter;
    # t=12.5 worker 1 finishes: a second processing of the same message, a duplicate, whose delete fails.
    result = run(scenario(SQS_ONE_MESSAGE % 2))
    s = result.summary
    assert s["messages"]["produced"] == 1
    assert s["messages"]["completed"] == 1
    assert s["messages"]["duplicates"] == 1
    assert s["queues"]["jobs"]["dead_lettered"] == 0
    assert s["queues"]["jobs"]["redeliveries"] == 1
    assert s["latency"]["end_to_end"]["max"] == 1.5
    d = result.deliveries
    assert d["since"].tolist() == [10.0, 11.0] and d["until"].tolist() == [10.0, 11.0]
    assert d["worker"].tolist() == [0, 1]
    assert d["finished"].tolist() == [11.5, 12.5]
    assert d["status"].astype(str).tolist() == ["done", "stale"]


def test_sqs_ignored_stale_receipts_give_one_duplicate_then_dead_letter() -> None:
    # the worst case kept as `stale_receipts: ignored`: t=11.5 worker 0's delete holds an older
    # receipt and does nothing; t=12 the second timeout expires, a third receive would exceed
    # max_receives=2: dead-lettered; t=12.5 worker 1 finishes: a duplicate, its delete stale too.
    text = (SQS_ONE_MESSAGE % 2).replace("max_receives: 2}", "max_receives: 2, stale_receipts: ignored}")
    result = run(scenario(text))
    s = result.summary
    assert s["messages"]["completed"] == 1
    assert s["messages"]["duplicates"] == 1
    assert s["messages"]["dead_lettered"] == 0  # the work was done before the copy was dead-lettered
    assert s["queues"]["jobs"]["dead_lettered"] == 1
    assert s["queues"]["jobs"]["redeliveries"] == 1
    d = result.deliveries
    assert d["since"].tolist() == [10.0, 11.0, 12.0]
    assert d["until"].tolist() == [10.0, 11.0, 12.0]
    assert d["worker"].tolist() == [0, 1, -1]
    assert d["finished"].tolist()[:2] == [11.5, 12.5] and math.isnan(d["finished"].iloc[2])
    assert d["status"].astype(str).tolist() == ["stale", "stale", "dead_lettered"]


def test_sqs_late_delete_of_a_visible_message_succeeds_without_duplicate() -> None:
    # one worker: the timeout expires at t=11 but nobody else can receive it; the delete at
    # t=11.5 still holds the latest receipt, so it lands and the waiting spell ends as deleted
    result = run(scenario(SQS_ONE_MESSAGE % 1))
    s = result.summary
    assert (s["messages"]["completed"], s["messages"]["duplicates"]) == (1, 0)
    assert s["queues"]["jobs"]["dead_lettered"] == 0
    d = result.deliveries
    assert d["status"].astype(str).tolist() == ["done", "deleted"]
    assert d["since"].tolist() == [10.0, 11.0] and d["until"].tolist() == [10.0, 11.5]
    # the re-visible half second counts as waiting: mean depth over the 15 s window
    assert s["queues"]["jobs"]["mean_depth"] == 0.5 / 15


TTL = """
    duration: 6s
    producers:
      api: {to: jobs, interarrival: 1s}
    queues:
      jobs: {broker: redis, ttl: 800ms%s}
    workers:
      pool: {from: jobs, count: 1, service: 1.5s}
"""


def test_expired_messages_in_the_summary_and_the_conservation_invariant() -> None:
    # as tests/sim's trace: m2 (t=3) would be received at 4 s, aged 1 s > 0.8 s: expired
    result = run(scenario(TTL % ""))
    s = result.summary
    m = s["messages"]
    assert (m["produced"], m["completed"], m["expired"], m["in_flight"]) == (5, 3, 1, 1)
    assert m["produced"] == (m["completed"] + m["gave_up"] + m["lost"] + m["dead_lettered"] + m["expired"]
                             + m["reneged"] + m["in_flight"])
    assert s["queues"]["jobs"]["expired"] == 1 and s["queues"]["jobs"]["dead_lettered"] == 0
    assert result.timeseries["expired"].sum() == 1
    assert result.messages["outcome"].astype(str).tolist()[2] == "expired"
    assert result.deliveries["status"].astype(str).tolist()[2] == "expired"
    # moved to the dead-letter queue instead: a dead-lettered request, still counted as expired at its queue
    dlq = run(scenario(TTL % ", ttl_dead_letter: true")).summary
    assert (dlq["messages"]["expired"], dlq["messages"]["dead_lettered"]) == (0, 1)
    assert dlq["queues"]["jobs"]["expired"] == dlq["queues"]["jobs"]["dead_lettered"] == 1


def test_redis_receive_is_final_no_redelivery() -> None:
    text = (SQS_ONE_MESSAGE % 2).replace("{broker: sqs, visibility_timeout: 1s, max_receives: 2}", "{broker: redis}")
    s = run(scenario(text)).summary
    assert (s["messages"]["completed"], s["messages"]["duplicates"]) == (1, 0)
    assert s["queues"]["jobs"]["redeliveries"] == 0


BACKPRESSURE = """
    duration: 8s
    producers:
      web: {to: orders, interarrival: 1s}
    queues:
      orders: {broker: redis}
      shipping: {broker: redis, capacity: 1}
    workers:
      fulfil: {from: orders, count: 1, service: 0.5s, to: shipping}
      ship: {from: shipping, count: 1, service: 3s}
"""


def test_full_downstream_queue_holds_the_worker_and_backs_up_upstream() -> None:
    # t=1.5 child 1 goes straight to the idle shipper (busy until 4.5); t=2.5 child 2 waits in
    # shipping (now full); t=3.5 fulfil finishes order 3 but shipping is full: it holds it;
    # t=4 order 4 arrives and waits because fulfil is held; t=4.5 the shipper takes child 2,
    # fulfil publishes child 3 and only then takes order 4 (waited 0.5 s).
    result = run(scenario(BACKPRESSURE))
    m = result.messages.set_index(["queue", "request"]).sort_index()
    orders = m.loc["orders"]
    shipping = m.loc["shipping"]
    # requests are numbered from 0: order 3 is request 2
    assert orders.loc[2, "first_receive"] - orders.loc[2, "accepted"] == 0.0
    assert orders.loc[3, "first_receive"] - orders.loc[3, "accepted"] == 0.5
    # child 4 is finished at 5.0 but held until the shipper takes child 3 at 7.5
    assert shipping["created"].tolist()[:4] == [1.5, 2.5, 4.5, 7.5]
    assert shipping.loc[1, "first_receive"] == 4.5
    req = result.requests.set_index("request")
    assert req.loc[0, "end_to_end"] == 3.5  # created 1, shipped 1.5 → 4.5
    assert req.loc[1, "end_to_end"] == 5.5  # created 2, waits for the shipper until 4.5 → 7.5
    assert result.summary["workers"]["ship"]["utilization"] == (8 - 1.5) / 8


def test_retries_follow_the_backoff_schedule_without_jitter() -> None:
    text = """
        duration: 10s
        producers:
          web:
            to: jobs
            interarrival: 1s
            retry: {attempts: 4, backoff: 100ms, multiplier: 2, max_backoff: 150ms, jitter: none}
        queues:
          jobs: {broker: redis}
        workers:
          pool: {from: jobs, count: 1, service: 1s}
        faults:
          - {at: 0s, queue: jobs, kind: outage, duration: 10s}
    """
    result = run(scenario(text))
    s = result.summary
    # an outage for the whole run refuses everything: every request makes 4 attempts and gives up
    produced = s["messages"]["produced"]
    assert produced == 9
    assert s["messages"]["rejected"] == 4 * produced
    assert s["messages"]["gave_up"] == produced and s["rates"]["gave_up"] == 1.0
    first = result.requests.set_index("request").loc[0]
    # attempts at 1, 1.1, 1.25 (delay capped at 150 ms), 1.4: gives up at the fourth refusal
    assert math.isclose(first["done"] - first["created"], 0.1 + 0.15 + 0.15)
