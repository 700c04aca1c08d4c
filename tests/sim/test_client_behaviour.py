"""Client behaviour: token-bucket rate limit, Retry-After, timeouts and abandonment, awaited results, sync.

Exact traces with constant times worked by hand, the conservation invariant with every client
feature on, the synchronous design against the M/M/c sojourn time, and the retry-storm example.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
import queuesim
from queuesim import theory
from queuesim.errors import ScenarioError
from queuesim.metrics import summarize
from queuesim.records import Outcome
from queuesim.sim import simulate
from queuesim.sim.ratelimit import TokenBucket

from conftest import assert_close_to_theory, scenario

NAN = float("nan")


@pytest.fixture
def at(tmp_path: Path):
    """A trace file of the given arrival times, as a path for ``trace:``."""

    def write(*times: float) -> str:
        path = tmp_path / f"trace{len(list(tmp_path.iterdir()))}.csv"
        path.write_text("".join(f"{t}\n" for t in times))
        return str(path)

    return write


def run(text: str):
    rec = simulate(scenario(textwrap.dedent(text)))
    return rec, summarize([rec])


# -- token bucket ---------------------------------------------------------------------------------
def test_token_bucket_admits_exactly_burst_plus_rate_times_t():
    bucket = TokenBucket(rate=10.0, burst=5)
    admitted = [t for t in np.arange(1, 200) / 100 if bucket.take(float(t))]  # 100 takes/s, 0.01-1.99 s
    # full at the first take (0.01 s): burst + floor(rate · t) over the t = 1.98 s that follow
    assert len(admitted) == 5 + math.floor(10 * 1.98)
    assert admitted[:5] == pytest.approx([0.01, 0.02, 0.03, 0.04, 0.05])
    # after the burst it holds 0.4 tokens at 0.05 s, so the next whole token is there at 0.11 s
    assert admitted[5:8] == pytest.approx([0.11, 0.21, 0.31])
    assert bucket.refused == 199 - len(admitted)


def test_rate_limited_producer_throttles_at_the_client_without_retrying():
    rec, s = run("""
        duration: 2s
        producers:
          web: {to: q, rate: 100/s, arrivals: regular, rate_limit: {rate: 10/s, burst: 5}, retry: {attempts: 3}}
        queues: {q: {broker: redis, capacity: 1000}}
        workers: {w: {from: q, count: 4, service: 1ms}}
    """)
    m = s["messages"]
    assert m["produced"] == 199 and m["throttled"] == 175 and m["completed"] == 24
    assert m["gave_up"] == 175 and m["rejected"] == 0  # throttled requests give up; they are not 503s
    throttled = ~np.isnan(rec.requests["throttled"])
    assert (rec.messages["attempts"][throttled] == 0).all()  # never reached the broker
    assert s["rates"]["offered"] == pytest.approx(24 / 2)


# -- Retry-After ----------------------------------------------------------------------------------
@pytest.mark.parametrize("respect, backoff, expected", [
    ("true", "100ms", [1.0, 2.0, 3.0]),   # Retry-After (1 s) beats the backoff (0.1, 0.2 s)
    ("false", "100ms", [1.0, 1.1, 1.3]),  # ignored: plain exponential backoff
    ("true", "2s", [1.0, 3.0, 7.0]),      # the backoff (2, 4 s) beats Retry-After
])
def test_retry_after_delays_the_retry_to_max_of_backoff_and_header(at, respect, backoff, expected):
    rec, s = run(f"""
        duration: 10s
        producers:
          web: {{to: q, trace: {at(1.0)}, retry: {{attempts: 3, backoff: {backoff}, max_backoff: 10s, jitter: none, respect_retry_after: {respect}}}}}
        queues: {{q: {{broker: redis, retry_after: 1s}}}}
        workers: {{w: {{from: q, count: 1, service: 1s}}}}
        faults: [{{at: 0s, queue: q, kind: outage, duration: 10s}}]
    """)
    assert rec.rejections["time"].tolist() == pytest.approx(expected)
    assert s["messages"]["gave_up"] == 1 and rec.requests["done"][0] == pytest.approx(expected[-1])


# -- timeouts and abandonment ---------------------------------------------------------------------
def test_fire_and_forget_deadline_stops_the_retries(at):
    rec, s = run(f"""
        duration: 10s
        producers:
          web: {{to: q, trace: {at(1.0)}, timeout: 2.5s, retry: {{attempts: 5, backoff: 1s, multiplier: 1, jitter: none}}}}
        queues: {{q: {{broker: redis}}}}
        workers: {{w: {{from: q, count: 1, service: 1s}}}}
        faults: [{{at: 0s, queue: q, kind: outage, duration: 10s}}]
    """)
    assert rec.rejections["time"].tolist() == [1.0, 2.0, 3.0]  # the next try (4 s) is past 1 + 2.5 s
    assert rec.requests["abandoned"].tolist() == [3.5] and rec.requests["done"].tolist() == [3.5]
    assert s["messages"]["abandoned"] == 1 and s["messages"]["gave_up"] == 1


def test_awaited_result_response_time_and_abandonment(at):
    # one worker, 1 s of work, results 0.2 s after the task ends; the client waits at most 1.5 s.
    # A (t=1): served 1-2, result at 2.2: response 1.2 s. B (t=1.5): waits, served 2-3, result
    # 3.2 > 1.5 + 1.5: abandoned at 3.0, yet still processed to the end.
    rec, s = run(f"""
        duration: 10s
        producers:
          web: {{to: q, trace: {at(1.0, 1.5)}, await_result: true, result_latency: 200ms, timeout: 1.5s}}
        queues: {{q: {{broker: redis}}}}
        workers: {{w: {{from: q, count: 1, service: 1s}}}}
    """)
    r = rec.requests
    np.testing.assert_allclose(r["responded"], [2.2, NAN])
    np.testing.assert_allclose(r["abandoned"], [NAN, 3.0])
    assert r["outcome"].tolist() == [Outcome.COMPLETED, Outcome.COMPLETED] and r["done"].tolist() == [2.0, 3.0]
    assert s["messages"]["abandoned"] == 1 and s["rates"]["abandoned"] == 0.5
    assert s["latency"]["response"]["count"] == 1 and s["latency"]["response"]["max"] == pytest.approx(1.2)
    assert s["latency"]["ack"]["max"] == 0.0


def test_response_is_end_to_end_plus_result_latency():
    rec, s = run("""
        duration: 60s
        producers:
          web: {to: q, rate: 20/s, await_result: true, result_latency: 7ms}
        queues: {q: {broker: sqs, latency: {dist: exponential, mean: 5ms}}}
        workers: {w: {from: q, count: 2, service: {dist: exponential, mean: 40ms}}}
    """)
    r = rec.requests
    done = ~np.isnan(r["responded"])
    assert done.sum() > 1000
    np.testing.assert_allclose((r["responded"] - r["done"])[done], 0.007, atol=1e-12)
    assert s["latency"]["response"]["mean"] == pytest.approx(s["latency"]["end_to_end"]["mean"] + 0.007, abs=1e-3)


def test_timeout_retries_publish_new_copies_and_the_abandoned_one_still_runs(at):
    # t=1: accepted, served 1-3. Deadline 2: retry after 0.5 s -> copy at 2.5, queued, served 3-5.
    # Its deadline 3.5 passes with both attempts spent: abandoned at 3.5. Offered: 2 attempts.
    rec, s = run(f"""
        duration: 10s
        producers:
          web: {{to: q, trace: {at(1.0)}, await_result: true, timeout: 1s,
                 retry: {{attempts: 2, backoff: 500ms, jitter: none, on_timeout: true}}}}
        queues: {{q: {{broker: redis}}}}
        workers: {{w: {{from: q, count: 1, service: 2s}}}}
    """)
    m = rec.messages
    assert m["request"].tolist() == [0, 0] and m["created"].tolist() == [1.0, 2.5] and m["done"].tolist() == [3.0, 5.0]
    assert rec.requests["abandoned"].tolist() == [3.5] and np.isnan(rec.requests["responded"][0])
    assert rec.requests["done"].tolist() == [5.0] and rec.requests["outcome"].tolist() == [Outcome.COMPLETED]
    assert s["rates"]["offered"] == pytest.approx(2 / 10) and s["rates"]["base_load"] == pytest.approx(1 / 10)


def test_a_retried_copy_that_answers_in_time_is_the_response(at):
    # one worker, 1 s of work, 1.5 s per attempt. A (t=0) is served 0-1. B (t=0.4) waits, is
    # served 1-2: too late, its deadline was 1.9. The copy sent at 2.1 (0.2 s of backoff) is
    # served at once, 2.1-3.1: that is B's response; the first copy's answer at 2.0 is ignored.
    rec, s = run(f"""
        duration: 10s
        producers:
          web: {{to: q, trace: {at(0.0, 0.4)}, sync: true, timeout: 1.5s,
                 retry: {{attempts: 3, backoff: 200ms, jitter: none, on_timeout: true}}}}
        queues: {{q: {{broker: redis}}}}
        workers: {{w: {{from: q, count: 1, service: 1s}}}}
    """)
    assert rec.messages["created"].tolist() == pytest.approx([0.0, 0.4, 2.1])
    assert rec.messages["done"].tolist() == pytest.approx([1.0, 2.0, 3.1])
    np.testing.assert_allclose(rec.requests["responded"], [1.0, 3.1])
    assert np.isnan(rec.requests["abandoned"]).all() and s["messages"]["abandoned"] == 0
    assert s["latency"]["response"]["max"] == pytest.approx(2.7)


# -- sync -----------------------------------------------------------------------------------------
def test_sync_response_is_backlog_wait_plus_service_with_no_broker_latency(at):
    rec, s = run(f"""
        duration: 10s
        producers:
          web: {{to: q, trace: {at(1, 1, 1)}, sync: true}}
        queues: {{q: {{broker: sqs, capacity: 1, latency: 1s}}}}
        workers: {{w: {{from: q, count: 2, service: 1s}}}}
    """)
    np.testing.assert_allclose(rec.requests["responded"], [2.0, 2.0, 3.0])  # the third waits 1 s
    assert s["latency"]["response"]["mean"] == pytest.approx(4 / 3)
    assert s["latency"]["queue_wait"]["max"] == 1.0 and s["messages"]["completed"] == 3


def test_sync_backlog_bound_is_a_503_and_zero_is_erlang_b(at):
    rec, s = run(f"""
        duration: 10s
        producers:
          web: {{to: q, trace: {at(1, 1, 1)}, sync: true}}
        queues: {{q: {{broker: redis, capacity: 0}}}}
        workers: {{w: {{from: q, count: 2, service: 1s}}}}
    """)
    assert s["messages"]["completed"] == 2 and s["messages"]["rejected"] == 1 and s["messages"]["gave_up"] == 1
    np.testing.assert_allclose(rec.requests["responded"], [2.0, 2.0, NAN])


def test_sync_mmc_response_time_matches_the_mmc_sojourn():
    lam, mean, c = 30.0, 0.1, 4
    sc = scenario(f"""
        duration: 600s
        warmup: 30s
        producers:
          web: {{to: q, rate: {lam}/s, sync: true}}
        queues: {{q: {{broker: sqs, latency: 50ms}}}}
        workers: {{w: {{from: q, count: {c}, service: {{dist: exponential, mean: {mean}s}}}}}}
    """)
    means = [summarize([simulate(sc, replication=i)])["latency"]["response"]["mean"] for i in range(8)]
    assert_close_to_theory(means, theory.mmc(lam, 1 / mean, c).sojourn, "sync M/M/4 response time")


def test_sync_needs_the_queue_to_itself():
    with pytest.raises(ScenarioError) as err:
        scenario("""
            duration: 10s
            producers:
              web: {to: q, rate: 1/s, sync: true}
              batch: {to: q, rate: 1/s}
            queues: {q: {broker: redis}, r: {broker: redis}}
            workers:
              w: {from: q, count: 1, service: 1ms}
              x: {from: r, count: 1, service: 1ms, to: q}
        """)
    fields = [p.field for p in err.value.problems]
    assert fields == ["producers.batch.sync", "workers.x.to"]
    assert all("sync" in p.message for p in err.value.problems)


# -- invariants -----------------------------------------------------------------------------------
def test_conservation_holds_with_every_client_feature(at):
    rec, s = run(f"""
        duration: 60s
        warmup: 5s
        producers:
          web:
            to: q
            rate: {{shape: spike, base: 150/s, peak: 600/s, at: 20s, duration: 10s}}
            await_result: true
            result_latency: {{dist: exponential, mean: 10ms}}
            timeout: 500ms
            rate_limit: {{rate: 500/s, burst: 20}}
            retry: {{attempts: 3, backoff: 50ms, jitter: full, on_timeout: true}}
          cron: {{to: q, batch: {{every: 15s, size: 300, at: 3s}}, timeout: 200ms, retry: {{attempts: 4}}}}
          inline: {{to: s, trace: {at(*np.arange(0, 60, 0.01).round(2))}, sync: true, timeout: 1s}}
        queues:
          q: {{broker: sqs, capacity: 2000, retry_after: 200ms, visibility_timeout: 2s, max_receives: 3}}
          s: {{broker: redis, capacity: 5}}
        workers:
          w: {{from: q, count: 20, service: {{dist: lognormal, mean: 50ms, cv: 1.5}}}}
          v: {{from: s, count: 1, service: {{dist: exponential, mean: 9ms}}}}
    """)
    m = s["messages"]
    assert m["produced"] == (m["completed"] + m["gave_up"] + m["lost"] + m["dead_lettered"] + m["expired"]
                             + m["reneged"] + m["in_flight"])
    assert 0 < m["throttled"] <= m["gave_up"] and 0 < m["abandoned"] <= m["produced"]
    assert s["rates"]["offered"] > s["rates"]["base_load"] > 0
    r = rec.requests
    answered = ~np.isnan(r["responded"])
    assert not (answered & ~np.isnan(r["abandoned"])).any()  # a client either got its answer or gave up waiting
    inline = answered & (r["producer"] == 2)  # one attempt, 1 s timeout: every answer within 1 s
    assert inline.sum() > 1000 and (r["responded"][inline] - r["created"][inline] <= 1.0 + 1e-9).all()


def test_retry_storm_example_shows_offered_load_above_base_load():
    storm = queuesim.run("scenarios/retry-storm.yaml", overrides=["duration=100s"]).summary
    assert storm["rates"]["offered"] > 2 * storm["rates"]["base_load"]
    calm = queuesim.run("scenarios/retry-storm.yaml", overrides=["duration=100s", "producers.clients.retry.on_timeout=false"]).summary
    assert calm["rates"]["offered"] == pytest.approx(calm["rates"]["base_load"], rel=0.03)
    assert calm["messages"]["abandoned"] > 0 and calm["messages"]["gave_up"] == 0
