"""Exact traces of every broker kind at the engine's level, as SimPy's own tests log each resource.

Constant service times and constant interarrival times (the first request at t = interarrival),
run through :func:`queuesim.sim.simulate`; each test asserts the delivery log read from the
records: one row per waiting spell, ``(message, worker, since, until, status)``, where ``until``
is None for a spell still open at the end and ``worker`` is -1 for a spell no worker ended.
Same-instant events run in the order they were scheduled (SimPy's event ids), which the comments
spell out where it matters.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from queuesim.records import Delivery, Loss, Outcome, RunRecord
from queuesim.scenario.model import SqsQueue
from queuesim.sim import simulate
from queuesim.sim.sqs import SqsFifoBroker

from conftest import scenario

if TYPE_CHECKING:
    from .conftest import Harness

Row = tuple[int, int, float, float | None, str]


def log(rec: RunRecord) -> list[Row]:
    d = rec.deliveries
    rows = zip(d["message"].tolist(), d["worker"].tolist(), d["since"].tolist(), d["until"].tolist(),
               d["status"].tolist(), strict=True)
    return [(m, w, s, None if math.isnan(u) else u, Delivery(st).name) for m, w, s, u, st in rows]


def run_yaml(text: str) -> RunRecord:
    return simulate(scenario(text))


ONE_POOL = """
    duration: {duration}
    producers:
      api: {{to: jobs, interarrival: {gap}{client}}}
    queues:
      jobs: {queue}
    workers:
      pool: {{from: jobs, count: {count}, service: {service}{faults}}}
"""


def one_pool(queue: str, *, duration: str = "5s", gap: str = "1s", count: int = 1, service: str = "1.5s",
             faults: str = "", client: str = "") -> RunRecord:
    return run_yaml(ONE_POOL.format(queue=queue, duration=duration, gap=gap, count=count, service=service,
                                    faults=f", {faults}" if faults else "", client=f", {client}" if client else ""))


# -- redis ---------------------------------------------------------------------------------------

def test_redis_list_serves_in_fifo_order_and_leaves_the_rest_waiting() -> None:
    # arrivals at 1, 2, 3, 4; one worker busy 1.5 s each: m1 waits 2 → 2.5, m2 waits 3 → 4
    # (at t = 4 the finish scheduled at 2.5 runs before the arrival scheduled at 3); m3 still waits
    rec = one_pool("{broker: redis}")
    assert log(rec) == [
        (0, 0, 1.0, 1.0, "DONE"),
        (1, 0, 2.0, 2.5, "DONE"),
        (2, 0, 3.0, 4.0, "IN_SERVICE"),
        (3, -1, 4.0, None, "WAITING"),
    ]
    assert rec.deliveries["finished"].tolist()[:2] == [2.5, 4.0]


def test_redis_list_loses_a_failed_message() -> None:
    # at-most-once: the receive removed it, so the failed processing is its end
    rec = one_pool("{broker: redis}", duration="3s", gap="2s", service="0.5s", faults="failure: {probability: 1}")
    assert log(rec) == [(0, 0, 2.0, 2.0, "FAILED")]
    assert rec.messages["outcome"].tolist() == [Outcome.LOST]
    assert rec.messages["reason"].tolist() == [Loss.FAILURE]
    assert rec.messages["done"].tolist() == [2.5]


def _reclaimed(mode: str) -> RunRecord:
    # every processing fails; an unacknowledged copy comes back 1.5 s after its receive
    idle = "reclaim_after" if mode == "reliable" else "min_idle"
    return one_pool(f"{{broker: redis, mode: {mode}, {idle}: 1500ms}}", duration="4.25s", service="1s",
                    faults="failure: {probability: 1}")


def test_redis_reliable_reaps_a_failed_copy_to_the_tail() -> None:
    # t=2 m0 fails, m1 is received; t=2.5 m0 is reaped and queued; t=3 m1 fails, m0 is received
    # again, m2 arrives; t=3.5 m1 is reaped behind m2; t=4 m0 fails, m2 (waiting longer) goes next
    assert log(_reclaimed("reliable")) == [
        (0, 0, 1.0, 1.0, "FAILED"),
        (1, 0, 2.0, 2.0, "FAILED"),
        (0, 0, 2.5, 3.0, "FAILED"),
        (2, 0, 3.0, 4.0, "IN_SERVICE"),
        (1, -1, 3.5, None, "WAITING"),
        (3, -1, 4.0, None, "WAITING"),
    ]


def test_redis_stream_claims_a_pending_entry_ahead_of_new_ones() -> None:
    # as the reliable list, but XAUTOCLAIM puts m1 at the head at t=3.5: it goes before m2 at t=4
    rec = _reclaimed("stream")
    assert log(rec) == [
        (0, 0, 1.0, 1.0, "FAILED"),
        (1, 0, 2.0, 2.0, "FAILED"),
        (0, 0, 2.5, 3.0, "FAILED"),
        (1, 0, 3.5, 4.0, "IN_SERVICE"),
        (2, -1, 3.0, None, "WAITING"),
        (3, -1, 4.0, None, "WAITING"),
    ]
    assert rec.deliveries["delivery"].tolist()[:4] == [1, 1, 2, 2]  # the receive number at the queue


def test_redis_stream_dead_letters_after_max_deliveries() -> None:
    # one message; each receive fails and the entry is claimed 2 s later: receives at 10 and 12,
    # the third (t=14) exceeds max_deliveries=2 and dead-letters it
    rec = one_pool("{broker: redis, mode: stream, min_idle: 2s, max_deliveries: 2}", duration="16s", gap="10s",
                   service="1s", faults="failure: {probability: 1}")
    assert log(rec) == [(0, 0, 10.0, 10.0, "FAILED"), (0, 0, 12.0, 12.0, "FAILED"), (0, -1, 14.0, 14.0, "DEAD_LETTERED")]
    assert rec.messages["outcome"].tolist() == [Outcome.DEAD_LETTERED]
    assert rec.extra["dead_lettered"] == {"jobs": 1}


def test_redis_pubsub_drops_what_no_free_worker_takes() -> None:
    # the worker is busy 1 → 2.5 and 3 → 4.5: m1 (t=2) and m3 (t=4) find no subscriber
    rec = one_pool("{broker: redis, mode: pubsub}")
    assert log(rec) == [
        (0, 0, 1.0, 1.0, "DONE"),
        (1, -1, 2.0, 2.0, "DROPPED"),
        (2, 0, 3.0, 3.0, "DONE"),
        (3, -1, 4.0, 4.0, "DROPPED"),
    ]
    assert rec.messages["reason"].tolist() == [Loss.NONE, Loss.NO_SUBSCRIBER, Loss.NONE, Loss.NO_SUBSCRIBER]


# -- sqs -----------------------------------------------------------------------------------------

def test_sqs_standard_delete_with_an_older_receipt_deletes_the_message() -> None:
    # t=10 w0 receives; t=11 the visibility timeout expires and w1 receives it again; t=11.5 w0's
    # delete holds the older receipt and still deletes it (as SQS does); t=12.5 w1's delete fails:
    # one duplicate, no third receive, no dead letter
    rec = one_pool("{broker: sqs, visibility_timeout: 1s, max_receives: 2}", duration="15s", gap="10s", count=2)
    assert log(rec) == [(0, 0, 10.0, 10.0, "DONE"), (0, 1, 11.0, 11.0, "STALE")]
    assert rec.deliveries["finished"].tolist()[:2] == [11.5, 12.5]
    assert rec.messages["processings"].tolist() == [2]
    assert rec.extra["dead_lettered"] == {"jobs": 0}


def test_sqs_standard_job_longer_than_the_timeout_is_received_again_until_its_first_delete() -> None:
    # a 25 ms job, a 10 ms timeout, three idle workers: receives at 1, 1.01 and 1.02 s; at 1.025 s
    # w0 deletes with the oldest receipt and the message is gone: 2 extra receives = 2 duplicates,
    # whose deletes (1.035 s, 1.045 s) fail; no fourth receive at 1.03 s
    rec = one_pool("{broker: sqs, visibility_timeout: 10ms}", duration="2s", gap="1s", count=3, service="25ms")
    t1 = 1.0 + 0.01
    t2 = t1 + 0.01
    assert log(rec) == [(0, 0, 1.0, 1.0, "DONE"), (0, 1, t1, t1, "STALE"), (0, 2, t2, t2, "STALE")]
    assert rec.messages["processings"].tolist() == [3]
    assert rec.deliveries["finished"].tolist() == [1.0 + 0.025, t1 + 0.025, t2 + 0.025]


def test_sqs_fifo_late_delete_fails_even_before_another_receive() -> None:
    # one worker: the timeout expires at 11 s while w0 still works; on a standard queue its delete
    # at 11.5 s would still hold the latest receipt and land, but a FIFO handle has expired: the
    # delete fails and w0 receives the message again at once (receive 2, dead-lettered at the
    # third receive at 13 s after that delete fails too)
    rec = one_pool("{broker: sqs, kind: fifo, visibility_timeout: 1s, max_receives: 2}", duration="15s", gap="10s")
    assert log(rec) == [(0, 0, 10.0, 10.0, "STALE"), (0, 0, 11.0, 11.5, "STALE"), (0, -1, 12.5, 13.0, "DEAD_LETTERED")]
    standard = one_pool("{broker: sqs, visibility_timeout: 1s, max_receives: 2}", duration="15s", gap="10s")
    assert log(standard) == [(0, 0, 10.0, 10.0, "DONE"), (0, -1, 11.0, 11.5, "DELETED")]


def test_sqs_standard_stale_receipts_ignored_gives_a_duplicate_then_a_dead_letter() -> None:
    # the worst case kept as an option: t=11.5 and 12.5 both finish, neither delete holds the
    # latest receipt in time: stale; t=12 a third receive would exceed max_receives=2
    rec = one_pool("{broker: sqs, visibility_timeout: 1s, max_receives: 2, stale_receipts: ignored}",
                   duration="15s", gap="10s", count=2)
    assert log(rec) == [(0, 0, 10.0, 10.0, "STALE"), (0, 1, 11.0, 11.0, "STALE"), (0, -1, 12.0, 12.0, "DEAD_LETTERED")]
    assert rec.deliveries["finished"].tolist()[:2] == [11.5, 12.5]
    assert rec.messages["processings"].tolist() == [2]
    assert rec.messages["outcome"].tolist() == [Outcome.COMPLETED]  # the first settling event wins


def test_sqs_standard_delete_missing_a_replica_brings_the_message_back() -> None:
    # duplicate_probability 1: every delete misses a copy, which is visible again 2 s after its
    # receive: processed at 10 and 12, dead-lettered at 14
    rec = one_pool("{broker: sqs, visibility_timeout: 2s, max_receives: 2, duplicate_probability: 1}",
                   duration="16s", gap="10s", service="0.5s")
    assert log(rec) == [(0, 0, 10.0, 10.0, "DONE"), (0, 0, 12.0, 12.0, "DONE"), (0, -1, 14.0, 14.0, "DEAD_LETTERED")]
    assert rec.messages["processings"].tolist() == [2]


def test_sqs_fifo_group_waits_for_its_message_in_flight() -> None:
    # one message group: m1 arrives at 1.0 with w1 idle but the group is blocked until w0 deletes
    # m0 at 1.5; then m2 waits for m1's delete at 2.5, and the rest queue behind it
    rec = one_pool("{broker: sqs, kind: fifo, groups: 1}", duration="3.2s", gap="500ms", count=2, service="1s")
    assert log(rec) == [
        (0, 0, 0.5, 0.5, "DONE"),
        (1, 1, 1.0, 1.5, "DONE"),
        (2, 0, 1.5, 2.5, "IN_SERVICE"),
        (3, -1, 2.0, None, "WAITING"),
        (4, -1, 2.5, None, "WAITING"),
        (5, -1, 3.0, None, "WAITING"),
    ]


def test_sqs_standard_has_no_groups_to_wait_for() -> None:
    # the same arrivals on a standard queue: two workers, each message received as it arrives
    rec = one_pool("{broker: sqs}", duration="3.2s", gap="500ms", count=2, service="1s")
    assert [(m, w, s, u) for m, w, s, u, _ in log(rec)] == [
        (0, 0, 0.5, 0.5), (1, 1, 1.0, 1.0), (2, 0, 1.5, 1.5), (3, 1, 2.0, 2.0), (4, 0, 2.5, 2.5), (5, 1, 3.0, 3.0),
    ]


def test_sqs_fifo_throttles_sends_beyond_its_quota() -> None:
    # tps 2 with a burst of 2, a send every 0.25 s from t=0.25: the bucket holds 2, 1.5 → 0.5,
    # 1 → 0 and then refills half a token per send, so every other send from t=1 is a 503
    rec = one_pool("{broker: sqs, kind: fifo, tps: 2}", duration="2.1s", gap="250ms", count=4, service="100ms")
    assert rec.rejections["time"].tolist() == [1.0, 1.5, 2.0]
    assert rec.messages["outcome"].tolist()[3::2] == [Outcome.GAVE_UP] * 3  # one attempt each: given up


# -- rabbitmq ------------------------------------------------------------------------------------

def test_rabbitmq_prefetch_buffers_and_a_nack_requeues_at_the_head() -> None:
    # prefetch 2: w0 holds m0 and m1 (buffered: received at 1.0, started at 1.5). m0 fails at 1.5,
    # is requeued at once and, as the worker's freed credit asks again, received before m2
    rec = one_pool("{broker: rabbitmq, prefetch: 2}", duration="2.2s", gap="500ms", service="1s",
                   faults="failure: {probability: 1}")
    assert log(rec) == [
        (0, 0, 0.5, 0.5, "FAILED"),
        (1, 0, 1.0, 1.0, "IN_SERVICE"),
        (0, 0, 1.5, 1.5, "IN_SERVICE"),
        (2, -1, 1.5, None, "WAITING"),
        (3, -1, 2.0, None, "WAITING"),
    ]
    started = rec.deliveries["started"].tolist()
    assert started[:2] == [0.5, 1.5] and math.isnan(started[2])  # the requeued m0 waits in the buffer


def test_rabbitmq_full_queue_drops_its_oldest_message() -> None:
    # capacity 1, drop-head: m2 pushes out m1 at t=3, m3 pushes out m2 at t=4
    rec = one_pool("{broker: rabbitmq, prefetch: 1, capacity: 1}", service="10s")
    assert log(rec) == [
        (0, 0, 1.0, 1.0, "IN_SERVICE"),
        (1, -1, 2.0, 3.0, "DROPPED"),
        (2, -1, 3.0, 4.0, "DROPPED"),
        (3, -1, 4.0, None, "WAITING"),
    ]
    assert rec.messages["reason"].tolist() == [Loss.NONE, Loss.OVERFLOW, Loss.OVERFLOW, Loss.NONE]


def test_rabbitmq_reject_publish_answers_503_instead() -> None:
    rec = one_pool("{broker: rabbitmq, prefetch: 1, capacity: 1, overflow: reject-publish}", service="10s")
    assert log(rec) == [(0, 0, 1.0, 1.0, "IN_SERVICE"), (1, -1, 2.0, None, "WAITING")]
    assert rec.rejections["time"].tolist() == [3.0, 4.0]


# -- ttl: message expiry -------------------------------------------------------------------------

def test_a_message_older_than_the_ttl_when_a_worker_would_receive_it_expires() -> None:
    # one worker busy 1.5 s, a message a second, ttl 0.8 s: m1 (t=2) is received at 2.5, aged 0.5 s;
    # m2 (t=3) would be received at 4, aged 1 s: dropped as expired, and the worker takes m3 (t=4) at once
    expected = [(0, 0, 1.0, 1.0, "DONE"), (1, 0, 2.0, 2.5, "DONE"), (2, -1, 3.0, 4.0, "EXPIRED"),
                (3, 0, 4.0, 4.0, "DONE"), (4, 0, 5.0, 5.5, "IN_SERVICE")]
    rec = one_pool("{broker: redis, ttl: 800ms}", duration="6s")
    assert log(rec) == expected
    assert rec.messages["outcome"].tolist() == [Outcome.COMPLETED] * 2 + [Outcome.EXPIRED, Outcome.COMPLETED, Outcome.IN_FLIGHT]
    assert rec.extra["expired"] == {"jobs": 1}
    # ttl_dead_letter: the same message goes to the dead-letter queue instead
    dlq = one_pool("{broker: sqs, ttl: 800ms, ttl_dead_letter: true}", duration="6s")
    assert log(dlq) == [row if row[0] != 2 else (2, -1, 3.0, 4.0, "EXPIRED_DEAD_LETTERED") for row in expected]
    assert dlq.messages["outcome"].tolist()[2] == Outcome.DEAD_LETTERED


def test_an_expired_fifo_message_unblocks_its_group() -> None:
    # one group, two workers: m1 waits for m0's delete (2.5); m2 is reached at m1's delete (4), aged
    # 1 s > 0.8 s: expired, and the group is free again for m3 (t=4) and m4
    rec = one_pool("{broker: sqs, kind: fifo, groups: 1, ttl: 800ms}", duration="6s", count=2)
    assert log(rec) == [(0, 0, 1.0, 1.0, "DONE"), (1, 1, 2.0, 2.5, "DONE"), (2, -1, 3.0, 4.0, "EXPIRED"),
                        (3, 0, 4.0, 4.0, "DONE"), (4, 1, 5.0, 5.5, "IN_SERVICE")]


def test_a_redelivered_copy_older_than_the_ttl_expires_and_the_late_delete_fails() -> None:
    # the visibility timeout brings m0 back at 11 s, aged 1 s > 0.8 s: the copy expires at the
    # receive; w0's delete at 11.5 s finds the message gone. The first settling event wins: expired
    rec = one_pool("{broker: sqs, visibility_timeout: 1s, ttl: 800ms}", duration="15s", gap="10s", count=2)
    assert log(rec) == [(0, 0, 10.0, 10.0, "STALE"), (0, -1, 11.0, 11.0, "EXPIRED")]
    assert rec.messages["outcome"].tolist() == [Outcome.EXPIRED]


# -- patience: reneging ---------------------------------------------------------------------------

RENEGE_AT = 3.0 + 0.8  # m2 is published at 3 s with a 0.8 s patience


def test_a_request_still_waiting_when_its_patience_runs_out_leaves_the_queue() -> None:
    # one worker busy 1.5 s, a request a second, patience 0.8 s: m1 (t=2) starts at 2.5, in time;
    # m2 (t=3) would start at 4 but leaves the queue at 3.8, never processed; the worker is idle
    # at 4 and takes m3 at once. The same on a FIFO queue's one group (m1 waits for m0's delete).
    expected = [(0, 0, 1.0, 1.0, "DONE"), (1, 0, 2.0, 2.5, "DONE"), (2, -1, 3.0, RENEGE_AT, "RENEGED"),
                (3, 0, 4.0, 4.0, "DONE"), (4, 0, 5.0, 5.5, "IN_SERVICE")]
    for queue, count in (("{broker: redis}", 1), ("{broker: rabbitmq, prefetch: 1}", 1),
                         ("{broker: sqs, kind: fifo, groups: 1}", 2)):
        rec = one_pool(queue, duration="6s", count=count, client="patience: 800ms")
        rows = log(rec)
        assert [(m, s, u, st) for m, _, s, u, st in rows] == [(m, s, u, st) for m, _, s, u, st in expected], queue
        assert rec.messages["outcome"].tolist()[2] == Outcome.RENEGED and rec.messages["processings"].tolist()[2] == 0
        assert rec.requests["abandoned"].tolist()[2] == RENEGE_AT  # the client abandoned it


def test_a_request_in_transit_reneges_too() -> None:
    # 1 s of broker latency, 0.5 s of patience: every request leaves before it can be received
    rec = one_pool("{broker: sqs, latency: 1s}", duration="4.5s", service="100ms",
                   client="patience: {dist: constant, value: 500ms}")
    assert log(rec) == [(0, -1, 1.0, 1.5, "RENEGED"), (1, -1, 2.0, 2.5, "RENEGED"), (2, -1, 3.0, 3.5, "RENEGED"),
                        (3, -1, 4.0, None, "WAITING")]
    assert rec.deliveries["worker"].max() == -1


def test_a_reneging_client_stops_waiting_for_its_response() -> None:
    # the waiting clients (a result store, or sync: the accept backlog) get no response for m2 and
    # abandon it at 3.8 s, before their 3 s timeout from creation would have (at 6 s)
    for client in ("patience: 800ms, await_result: true, timeout: 3s", "patience: 800ms, sync: true"):
        rec = one_pool("{broker: redis, capacity: 5}", duration="6s", client=client)
        abandoned = rec.requests["abandoned"].tolist()
        assert abandoned[2] == RENEGE_AT and all(math.isnan(t) for i, t in enumerate(abandoned) if i != 2), client
        responded = rec.requests["responded"].tolist()
        assert responded[:2] == [2.5, 4.0] and math.isnan(responded[2]) and responded[3] == 5.5, client


# -- capacity 0: no waiting room ------------------------------------------------------------------

def test_capacity_zero_takes_a_publish_only_when_a_worker_is_idle() -> None:
    # two workers busy 2.5 s each: m0 (t=1) and m1 (t=2) go straight to w0 and w1; at t=3 both are
    # busy, so m2 is refused (a 503, not queued); at t=4 w0 is idle again (since 3.5) and takes m3
    for queue in ("{broker: redis, capacity: 0}", "{broker: sqs, capacity: 0}", "{broker: rabbitmq, prefetch: 1, capacity: 0}"):
        rec = one_pool(queue, count=2, service="2.5s")
        assert log(rec) == [(0, 0, 1.0, 1.0, "DONE"), (1, 1, 2.0, 2.0, "DONE"), (3, 0, 4.0, 4.0, "IN_SERVICE")], queue
        assert rec.rejections["time"].tolist() == [3.0], queue


def test_capacity_zero_with_broker_latency_promises_the_idle_worker_to_the_message_in_transit() -> None:
    # one worker, 0.5 s broker latency, a publish every 0.25 s: m0 (t=0.25) is accepted for the idle
    # worker and lands at 0.75; m1 (t=0.5) finds that worker promised to m0: refused; the worker
    # is busy from 0.75 to 1.05, so m2 (0.75) and m3 (1.0) are refused; m4 (1.25) is accepted and
    # still in transit at the end; m5 (1.5) finds the idle worker promised to m4: refused
    rec = one_pool("{broker: redis, capacity: 0, latency: 500ms}", duration="1.6s", gap="250ms", service="300ms")
    assert log(rec) == [(0, 0, 0.25, 0.75, "DONE"), (4, -1, 1.25, None, "WAITING")]
    assert rec.rejections["message"].tolist() == [1, 2, 3, 5]


def test_a_worker_publishing_to_a_queue_without_waiting_room_holds_until_a_consumer_is_idle() -> None:
    # fulfil (0.5 s) feeds ship (one worker, 3 s) through a queue of capacity 0. t=1.5 child 0 goes
    # to the idle shipper (busy until 4.5); t=2.5 fulfil finishes order 1 but no shipper is idle: it
    # holds the order (back pressure); t=4.5 the shipper is idle again: child 1 is published to it
    # and fulfil takes order 2, waiting since t=3
    rec = run_yaml("""
        duration: 5s
        producers:
          web: {to: orders, interarrival: 1s}
        queues:
          orders: {broker: redis}
          shipping: {broker: redis, capacity: 0}
        workers:
          fulfil: {from: orders, count: 1, service: 0.5s, to: shipping}
          ship: {from: shipping, count: 1, service: 3s}
    """)
    assert log(rec) == [
        (0, 0, 1.0, 1.0, "DONE"),          # order 0, fulfilled by 1.5
        (1, 1, 1.5, 1.5, "DONE"),          # its child, shipped 1.5 → 4.5
        (2, 0, 2.0, 2.0, "DONE"),          # order 1: finished at 2.5, held, acknowledged at 4.5
        (5, 1, 4.5, 4.5, "IN_SERVICE"),    # its child, published when the shipper is idle again
        (3, 0, 3.0, 4.5, "IN_SERVICE"),    # order 2 waited for fulfil
        (4, -1, 4.0, None, "WAITING"),
    ]
    assert rec.deliveries["finished"].tolist()[2] == 2.5
    assert rec.rejections["time"].tolist() == []  # a worker waits for room instead of being refused


# -- direct (sync) -------------------------------------------------------------------------------

def test_sync_producer_is_served_from_the_accept_backlog_without_the_broker() -> None:
    # the queue names SQS with a 1 s latency, but a sync producer bypasses it: no latency, the
    # backlog of 1 holds m1 (t=2), m2 (t=3) finds it full (a 503), w0 takes m1 at 3.5
    rec = one_pool("{broker: sqs, capacity: 1, latency: 1s}", service="2.5s", client="sync: true")
    assert log(rec) == [(0, 0, 1.0, 1.0, "DONE"), (1, 0, 2.0, 3.5, "IN_SERVICE"), (3, -1, 4.0, None, "WAITING")]
    assert rec.rejections["message"].tolist() == [2] and rec.rejections["time"].tolist() == [3.0]
    assert rec.requests["responded"].tolist()[0] == 3.5  # the client has its answer as the work ends


def test_sync_backlog_of_zero_is_a_loss_system() -> None:
    # capacity 0 (Erlang B): a request is served at once or refused; the prefetch of RabbitMQ
    # does not apply either, the server handles one request at a time
    rec = one_pool("{broker: rabbitmq, capacity: 0, prefetch: 10}", service="1.5s", client="sync: true")
    assert log(rec) == [(0, 0, 1.0, 1.0, "DONE"), (2, 0, 3.0, 3.0, "DONE")]
    assert rec.rejections["time"].tolist() == [2.0, 4.0]


def test_a_fifo_queue_forgets_the_group_of_a_message_that_left_for_good(harness: Harness) -> None:
    # the group map holds live messages only (memory follows the backlog): an expired message
    # leaves it as an acknowledged one does
    broker = harness.broker(SqsQueue(kind="fifo", groups=1, ttl=0.8))
    assert isinstance(broker, SqsFifoBroker)
    harness.pool(broker, service=1.5)
    harness.publish(broker, 1.0, 2.0, 3.0, 4.0)
    harness.run(until=10.0)
    assert [status for *_, status in harness.log()] == ["DONE", "DONE", "EXPIRED", "DONE"]
    assert broker.group == {} and broker.queues == {}
