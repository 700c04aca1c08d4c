"""Hand-worked traces of the client resilience mechanisms, built directly on the engine (no scenario file).

Arrivals come at whole seconds (exact in floats) and service times are constants, so every
instant below is worked out by hand in the comments: the retry quota's tokens through a burst of
503s, a circuit breaker's state timeline, hedged requests racing and being cancelled, closed-loop
users' cycles and a cap on requests in flight.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pytest
from queuesim.records import Delivery, Outcome
from queuesim.scenario.model import RedisQueue
from queuesim.scenario.resilience import CircuitBreaker, Hedge
from queuesim.sim.breaker import Breaker
from queuesim.sim.broker import Broker
from queuesim.sim.screen import Screen
from queuesim.sim.producer import Producer
from queuesim.sim.retry_budget import ConcurrencyBudget, RetryQuota
from queuesim.sim.worker import Pool

from .conftest import Harness


def every_second(until: float) -> Iterator[tuple[float, int]]:
    """One request at t = 1, 2, 3, … (before ``until``)."""
    t = 1.0
    while t < until:
        yield t, 1
        t += 1.0


def at(*times: float) -> Iterator[tuple[float, int]]:
    return iter([(t, 1) for t in times])


def producer(h: Harness, target: Broker, arrivals: Iterator[tuple[float, int]], *, attempts: int = 1,
             until: float = 100.0, **options: object) -> Producer:
    """A producer with fixed backoffs (no jitter): 0.1 s, then 0.2 s, 0.4 s …"""
    p = Producer(h.env, 0, "p", target, None, until, attempts, ("none", 0.1, 2.0, 20.0), lambda: 0.5, h.rec,
                 sources=(arrivals,), **options)  # type: ignore[arg-type]
    if p.watches:
        h.rec.watch = [p.settled]
    if p.work_watched:
        h.rec.request_watch = [p.work_ended]
    return p


def pool(h: Harness, upstream: Broker, services: Sequence[float] | float, *, count: int = 1,
         downstream: Broker | None = None, screen: Screen | None = None) -> Pool:
    draws: Callable[[], float] = (lambda: float(services)) if isinstance(services, float) else iter(services).__next__
    p = Pool(h.env, 0, "pool", h.workers, count, upstream, draws, downstream, 1, h.rec, screen=screen)
    h.workers += count
    p.start()
    return p


def column(h: Harness, table: str, name: str) -> list[float]:
    cols = getattr(h.rec, table)
    return [cols[name][i] for i in range(cols.n)]


def nan_to_none(values: Sequence[float]) -> list[float | None]:
    return [None if isinstance(v, float) and math.isnan(v) else v for v in values]


# ---------------------------------------------------------------------------------------------
# The AWS SDK retry quota through a burst of 503s


def test_retry_quota_tokens_through_a_burst_of_failures(harness: Harness) -> None:
    # Capacity 20, a retry costs 5, a first-try success refunds 1. The broker is down from 2.5 s
    # to 6.5 s; requests come at 1, 2, …, 8 s, with 3 attempts and fixed backoffs 0.1 s, 0.2 s.
    h = harness
    broker = h.broker(RedisQueue())
    quota = RetryQuota(capacity=20, cost=5, timeout_cost=10, refund=1)
    p = producer(h, broker, every_second(9.0), attempts=3, budget=quota)
    h.at(2.5, lambda: broker.fail("outage", 4.0))
    tokens: list[tuple[float, int]] = []
    for t in (0.5, 1.5, 2.5, 3.05, 3.2, 3.4, 4.05, 4.2, 4.4, 5.5, 6.6, 7.5, 8.5):
        h.at(t, lambda t=t: tokens.append((t, quota.tokens)))
    p.start()
    h.run(10.0)
    assert tokens == [
        (0.5, 20), (1.5, 20), (2.5, 20),  # successes refund 1, but the bucket is full
        (3.05, 15), (3.2, 10),  # t=3: 503, retry (−5) at 3.1: 503, retry (−5) at 3.3 …
        (3.4, 10),  # … 3.3: 503 on the 3rd attempt: it gives up, nothing comes back
        (4.05, 5), (4.2, 0), (4.4, 0),  # t=4: the same; the bucket is empty
        (5.5, 0), (6.6, 0),  # t=5, t=6: 503, and the quota cannot pay a retry: no retry at all
        (7.5, 1), (8.5, 2),  # broker back: each first-try success refunds 1
    ]
    outcome = column(h, "requests", "outcome")
    assert outcome == [Outcome.IN_FLIGHT] * 2 + [Outcome.GAVE_UP] * 4 + [Outcome.IN_FLIGHT] * 2  # no consumer: in flight
    assert nan_to_none(column(h, "requests", "budget_refused")) == [None, None, None, None, 5.0, 6.0, None, None]
    assert column(h, "messages", "attempts") == [1, 1, 3, 3, 1, 1, 1, 1]
    assert quota.refused == 2


def test_a_success_after_retries_refunds_its_last_retry(harness: Harness) -> None:
    # Down from 2.5 s to 3.15 s: t=3 is refused, its retry at 3.1 too (−5 −5), the one at 3.3 is
    # accepted and puts back the last retry's 5 (botocore releases `retry_quota_capacity`).
    h = harness
    broker = h.broker(RedisQueue())
    quota = RetryQuota(capacity=500)
    p = producer(h, broker, at(3.0), attempts=3, budget=quota)
    h.at(2.5, lambda: broker.fail("outage", 0.65))
    seen: list[int] = []
    for t in (3.05, 3.2, 3.4):
        h.at(t, lambda: seen.append(quota.tokens))
    p.start()
    h.run(5.0)
    assert seen == [495, 490, 495]
    assert column(h, "messages", "accepted") == [pytest.approx(3.3)]


def test_ratio_budget_caps_retries_in_flight(harness: Harness) -> None:
    # Envoy's budget, 20% with min_concurrency 1. Ten requests at t=1 are accepted and wait for a
    # result that never comes (no worker): ten in flight. The broker goes down at 1.5; three more
    # arrive at t=2 and meet a 503. The 11th may retry (⌊0.2 · 11⌋ = 2 > 0 retrying), the 12th
    # too (⌊0.2 · 12⌋ = 2 > 1), the 13th not (⌊0.2 · 13⌋ = 2 retrying already). The two retries
    # go at 2.1, meet a 503 on their last attempt and give up, which frees both slots.
    h = harness
    broker = h.broker(RedisQueue())
    budget = ConcurrencyBudget(percent=0.2, min_concurrency=1)
    p = producer(h, broker, iter([(1.0, 10), (2.0, 3)]), attempts=2, budget=budget, await_result=True)
    h.at(1.5, lambda: broker.fail("outage", 5.0))
    seen: list[tuple[int, int]] = []
    for t in (1.8, 2.05, 2.2):
        h.at(t, lambda: seen.append((budget.active, budget.retrying)))
    p.start()
    h.run(3.0)
    assert seen == [(10, 0), (12, 2), (10, 0)]
    assert nan_to_none(column(h, "requests", "budget_refused")) == [None] * 12 + [2.0]
    assert column(h, "messages", "attempts") == [1] * 10 + [2, 2, 1]
    assert budget.refused == 1


# ---------------------------------------------------------------------------------------------
# The circuit breaker's state timeline


def test_breaker_timeline_with_consecutive_failures(harness: Harness) -> None:
    # Requests at 1, 2, … 11 s; the broker is down from 2.5 s to 8.5 s. Two failures in a row open
    # the breaker (t=3, t=4), for 3 s. At 7 s it is half-open; the trial at 7 fails (still down),
    # so it opens again until 10 s, when the trial succeeds and it closes. The breaker's timer was
    # set before the arrival at the same instant, so the trial is that arrival.
    h = harness
    broker = h.broker(RedisQueue())
    breaker = Breaker(h.env, CircuitBreaker(consecutive_failures=2, open_for=3.0))
    p = producer(h, broker, every_second(12.0), breaker=breaker)
    h.at(2.5, lambda: broker.fail("outage", 6.0))
    p.start()
    h.run(12.0)
    assert breaker.timeline == [(0.0, "closed"), (4.0, "open"), (7.0, "half_open"), (7.0, "open"),
                                (10.0, "half_open"), (10.0, "closed")]
    outcomes = [Outcome(o).name for o in column(h, "requests", "outcome")]
    assert outcomes == ["IN_FLIGHT", "IN_FLIGHT", "GAVE_UP", "GAVE_UP", "SHORT_CIRCUITED", "SHORT_CIRCUITED",
                        "GAVE_UP", "SHORT_CIRCUITED", "SHORT_CIRCUITED", "IN_FLIGHT", "IN_FLIGHT"]
    assert column(h, "messages", "attempts") == [1, 1, 1, 1, 0, 0, 1, 0, 0, 1, 1]  # short-circuits never reach the broker
    assert h.rec.rejections.n == 3 and breaker.refused == 4 and breaker.opened == 2


def test_breaker_opens_on_the_failure_rate_of_a_full_window(harness: Harness) -> None:
    # A window of 4 calls, 50%: t=3 fails (1 of 3: too few calls), t=4 fails (2 of 4) and opens
    # it. Half-open at 6 with 2 trials: t=6 and t=7 both succeed (the broker is back at 5.5): closed.
    h = harness
    broker = h.broker(RedisQueue())
    breaker = Breaker(h.env, CircuitBreaker(failure_rate=0.5, window=4, open_for=2.0, half_open_calls=2))
    p = producer(h, broker, every_second(9.0), breaker=breaker)
    h.at(2.5, lambda: broker.fail("outage", 3.0))
    p.start()
    h.run(9.0)
    assert breaker.timeline == [(0.0, "closed"), (4.0, "open"), (6.0, "half_open"), (7.0, "closed")]
    assert [Outcome(o).name for o in column(h, "requests", "outcome")][2:6] == [
        "GAVE_UP", "GAVE_UP", "SHORT_CIRCUITED", "IN_FLIGHT"]


def test_breaker_counts_a_waiting_clients_timeout_as_a_failure(harness: Harness) -> None:
    # A client that waits: the call's result is its response, or its timeout. One worker busy for
    # 5 s with the first request (t=1), which times out at 1.5 (timeout 0.5 s); the request at 2
    # waits behind it and times out at 2.5: two failures in a row open the breaker at 2.5, and
    # the requests at 3 and 4 are short-circuited.
    h = harness
    broker = h.broker(RedisQueue())
    pool(h, broker, [5.0, 0.1, 0.1, 0.1])
    breaker = Breaker(h.env, CircuitBreaker(consecutive_failures=2, open_for=10.0))
    p = producer(h, broker, at(1.0, 2.0, 3.0, 4.0), breaker=breaker, await_result=True, timeout=0.5)
    p.start()
    h.run(8.0)
    assert breaker.timeline == [(0.0, "closed"), (2.5, "open")]
    assert [Outcome(o).name for o in column(h, "requests", "outcome")] == [
        "COMPLETED", "COMPLETED", "SHORT_CIRCUITED", "SHORT_CIRCUITED"]  # abandoned work still runs
    assert nan_to_none(column(h, "requests", "abandoned")) == [1.5, 2.5, None, None]


def test_breaker_counts_a_reneged_call_as_a_failure(harness: Harness) -> None:
    # Patience instead of a timeout: a request still waiting 0.5 s after its accepted publish
    # leaves the queue (reneges), and for the breaker that call failed. The worker is busy 5 s
    # with the request at 1 (received at once: it cannot renege); those at 2 and 3 renege at 2.5
    # and 3.5, two failures in a row, so the breaker opens at 3.5 and the request at 4 fails fast.
    # The first call's response at 6 comes from before the breaker changed state: ignored.
    h = harness
    broker = h.broker(RedisQueue())
    pool(h, broker, [5.0, 0.1, 0.1, 0.1])
    breaker = Breaker(h.env, CircuitBreaker(consecutive_failures=2, open_for=10.0))
    p = producer(h, broker, at(1.0, 2.0, 3.0, 4.0), breaker=breaker, await_result=True, patience=lambda: 0.5)
    p.start()
    h.run(8.0)
    assert breaker.timeline == [(0.0, "closed"), (3.5, "open")]
    assert [Outcome(o).name for o in column(h, "requests", "outcome")] == [
        "COMPLETED", "RENEGED", "RENEGED", "SHORT_CIRCUITED"]


# ---------------------------------------------------------------------------------------------
# Hedged requests


def test_hedge_copy_answers_first_and_the_original_runs_on(harness: Harness) -> None:
    # Two workers; the original of a request at 1 s takes 1 s, its hedge (sent 0.3 s after the
    # accepted publish) takes 0.2 s: the client has its answer at 1.5 s from the hedge. The
    # original was already in service, so cancelling it cannot stop it: it ends at 2 s.
    h = harness
    broker = h.broker(RedisQueue())
    screen = Screen(h.rec, [None])
    pool(h, broker, [1.0, 0.2], count=2, screen=screen)
    p = producer(h, broker, at(1.0), await_result=True, hedge=Hedge(after=0.3))
    screen.bind([p])
    p.start()
    h.run(5.0)
    assert column(h, "requests", "responded") == [1.5]
    assert column(h, "requests", "done") == [2.0]  # the request's work ended with the original
    assert column(h, "requests", "hedges") == [1] and column(h, "requests", "hedge_won") == [1]
    assert column(h, "messages", "created") == [1.0, pytest.approx(1.3)]
    assert [Outcome(o).name for o in column(h, "messages", "outcome")] == ["COMPLETED", "COMPLETED"]


def test_cancelled_hedges_are_dropped_when_a_worker_reaches_them(harness: Harness) -> None:
    # One worker. R1 at 0 s takes 1 s; R2 at 0.1 s waits. Hedges go at 0.3 s (R1) and 0.4 s (R2)
    # and wait behind R2's original. At 1.0 R1 answers (its hedge is now cancelled); R2's original
    # runs 1.0–1.2 and answers; the worker then meets both cancelled hedges at 1.2 and drops them
    # without service time.
    h = harness
    broker = h.broker(RedisQueue())
    screen = Screen(h.rec, [None])
    pool(h, broker, [1.0, 0.2, 9.0, 9.0], screen=screen)
    p = producer(h, broker, at(0.0, 0.1), await_result=True, hedge=Hedge(after=0.3))
    screen.bind([p])
    p.start()
    h.run(5.0)
    assert column(h, "requests", "responded") == [1.0, pytest.approx(1.2)]
    assert column(h, "requests", "hedge_won") == [0, 0]
    log = h.log()
    assert [(m, status) for m, _w, _s, _u, status in log] == [
        (0, "DONE"), (1, "DONE"), (2, "CANCELLED"), (3, "CANCELLED")]
    d = h.rec.deliveries
    assert [d["started"][i] for i in (2, 3)] == [pytest.approx(1.2)] * 2
    assert [d["finished"][i] for i in (2, 3)] == [pytest.approx(1.2)] * 2
    assert [Outcome(o).name for o in column(h, "messages", "outcome")] == ["COMPLETED", "COMPLETED", "CANCELLED", "CANCELLED"]
    assert [Outcome(o).name for o in column(h, "requests", "outcome")] == ["COMPLETED", "COMPLETED"]


def test_percentile_hedge_waits_for_enough_responses() -> None:
    from queuesim.sim.hedge import Hedger

    sent: list[int] = []
    hedger = Hedger(None, Hedge(after="p90", min_samples=10), lambda r: sent.append(r) or -1)  # type: ignore[arg-type]
    for i in range(9):
        hedger.answered(i, i, float(i + 1))
    assert hedger.delay is None  # nine responses: not enough to estimate a p90
    hedger.answered(9, 9, 10.0)
    assert hedger.delay == 9.0  # nearest rank: the 9th of 1..10


# ---------------------------------------------------------------------------------------------
# Deadline propagation


def test_expired_work_is_dropped_downstream(harness: Harness) -> None:
    # The client waits at most 0.5 s. One worker busy 0–1 s with R1; R2 (t=0.1) is received at
    # 1.0 s, after its deadline 0.6 s: the pool honours deadlines and drops it unprocessed, and
    # since its client no longer waits the request gives up. R1's deadline (0.5) passed while it
    # was in service: it runs to the end (a deadline is checked before the work starts).
    h = harness
    broker = h.broker(RedisQueue())
    screen = Screen(h.rec, [None])
    workers = pool(h, broker, [1.0, 1.0], screen=screen)
    workers.drop_expired = True
    p = producer(h, broker, at(0.0, 0.1), await_result=True, timeout=0.5)
    screen.bind([p])
    p.start()
    h.run(5.0)
    assert nan_to_none(column(h, "requests", "deadline")) == [0.5, pytest.approx(0.6)]
    assert [status for *_rest, status in h.log()] == ["DONE", "DEADLINE_EXCEEDED"]
    assert [Outcome(o).name for o in column(h, "requests", "outcome")] == ["COMPLETED", "GAVE_UP"]
    assert column(h, "requests", "done")[1] == 1.0  # dropped at once: the worker is free at 1.0
    assert screen.dropped == 1


# ---------------------------------------------------------------------------------------------
# Closed-loop users and a cap on requests in flight


def test_a_closed_loop_users_cycle(harness: Harness) -> None:
    # One user thinking 0.5 s, a worker serving 0.2 s, a client that waits for the result: it sends
    # at 0.5, has its answer at 0.7, thinks, sends at 1.2, and so on until 3 s.
    h = harness
    broker = h.broker(RedisQueue())
    pool(h, broker, 0.2)
    p = producer(h, broker, iter(()), until=3.0, await_result=True, users=(1, lambda: 0.5))
    p.start()
    h.run(4.0)
    assert column(h, "requests", "created") == pytest.approx([0.5, 1.2, 1.9, 2.6])
    assert column(h, "requests", "responded") == pytest.approx([0.7, 1.4, 2.1, 2.8])


def test_fire_and_forget_users_wait_for_all_the_work_they_caused(harness: Harness) -> None:
    # Two stages (0.2 s then 0.3 s): the user's request ends when the downstream job ends, 0.5 s
    # after it was sent; two users share one worker per stage, so the second one's first request
    # queues behind the first one's.
    h = harness
    first, second = h.broker(RedisQueue()), h.broker(RedisQueue())
    pool(h, first, 0.2, downstream=second)
    pool(h, second, 0.3)
    p = producer(h, first, iter(()), until=2.0, users=(2, lambda: 0.5))
    p.start()
    h.run(4.0)
    created, done = column(h, "requests", "created"), column(h, "requests", "done")
    # both users send at 0.5; stage one serves them 0.5–0.7 and 0.7–0.9, stage two 0.7–1.0 and
    # 1.0–1.3; each thinks 0.5 s and sends again at 1.5 and 1.8
    assert created == pytest.approx([0.5, 0.5, 1.5, 1.8])
    assert done[:2] == pytest.approx([1.0, 1.3])


def test_max_in_flight_queues_arrivals_in_the_client(harness: Harness) -> None:
    # At most 2 fire-and-forget requests in flight (until their work ends); two workers taking 1 s.
    # Arrivals at 0, 0.1, 0.2, 0.3: the last two wait in the client until 1.0 and 1.1.
    h = harness
    broker = h.broker(RedisQueue())
    pool(h, broker, 1.0, count=2)
    p = producer(h, broker, at(0.0, 0.1, 0.2, 0.3), max_in_flight=2)
    p.start()
    h.run(5.0)
    assert column(h, "messages", "created") == pytest.approx([0.0, 0.1, 0.2, 0.3])  # created on arrival…
    assert column(h, "messages", "accepted") == pytest.approx([0.0, 0.1, 1.0, 1.1])  # …published when a slot frees
    assert column(h, "requests", "done") == pytest.approx([1.0, 1.1, 2.0, 2.1])
    assert p.gate is not None and p.gate.peak_queue == 2


def test_a_waiting_clients_slot_frees_when_it_gives_up_waiting(harness: Harness) -> None:
    # One slot, a worker taking 1 s, clients that wait at most 0.5 s. R1 (t=0) holds the slot until
    # it abandons at 0.5 (its work runs on to 1.0); R2, queued since 0.1, is published then (before
    # its own deadline, 0.6: with one timeout, a queued request's deadline never comes before the
    # ones ahead of it) and runs 1.0-2.0; R3 at 1.2 finds the slot free (R2 abandoned at 0.6).
    h = harness
    broker = h.broker(RedisQueue())
    pool(h, broker, 1.0)
    p = producer(h, broker, at(0.0, 0.1, 1.2), max_in_flight=1, await_result=True, timeout=0.5)
    p.start()
    h.run(5.0)
    assert column(h, "messages", "accepted") == pytest.approx([0.0, 0.5, 1.2])
    assert column(h, "requests", "done") == pytest.approx([1.0, 2.0, 3.0])
    assert nan_to_none(column(h, "requests", "abandoned")) == [0.5, pytest.approx(0.6), pytest.approx(1.7)]
    assert [Outcome(o).name for o in column(h, "requests", "outcome")] == ["COMPLETED"] * 3


def test_a_long_client_queue_does_not_recurse(harness: Harness) -> None:
    # 5,000 requests wait at a gate of 1 while the breaker is open: when the slot frees, every one
    # of them is short-circuited in the same instant, in a loop rather than 5,000 nested calls.
    h = harness
    broker = h.broker(RedisQueue())
    pool(h, broker, 1.0)
    breaker = Breaker(h.env, CircuitBreaker(consecutive_failures=1, open_for=100.0))
    p = producer(h, broker, iter([(0.0, 1), (0.5, 5000)]), max_in_flight=1, breaker=breaker)
    h.at(0.9, lambda: breaker._open(0.9))
    p.start()
    h.run(2.0)
    outcome = np.asarray(column(h, "requests", "outcome"))
    assert int((outcome == Outcome.SHORT_CIRCUITED).sum()) == 5000
    assert h.log()[0][4] == Delivery.DONE.name
