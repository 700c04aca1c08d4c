"""Worker-side realism (issue 8) against closed forms: sticky job sizes, per-message overhead, effective load."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from queuesim import run, theory
from queuesim.experiment.executors import SerialExecutor
from queuesim.metrics import summarize

from conftest import assert_close_to_theory, scenario

# --- job sizes: the dead-letter rate of an SQS queue whose jobs outlive the visibility timeout ---

SLOW_JOBS = """
    seed: 4
    duration: 200s
    warmup: 2s
    producers:
      web: {{to: jobs, rate: 200/s}}
    queues:
      jobs: {{broker: sqs, visibility_timeout: 10ms, max_receives: 3}}
    workers:
      pool: {{from: jobs, count: 64, service: {service}, service_per: {per}}}
"""


def _exp_tail(mean: float, x: float) -> float:
    return math.exp(-x / mean)


def _lognormal_tail(mean: float, cv: float, x: float) -> float:
    sigma = math.sqrt(math.log1p(cv * cv))
    mu = math.log(mean) - sigma * sigma / 2
    return 0.5 * math.erfc((math.log(x) - mu) / (sigma * math.sqrt(2)))


def _dead_letter_rate(service: str, per: str) -> tuple[float, int]:
    """Requests dead-lettered / requests settled: a request is dead-lettered when no processing of
    it finished before its receives ran out (the first settling event wins)."""
    m = run(scenario(SLOW_JOBS.format(service=service, per=per)), executor=SerialExecutor()).summary["messages"]
    settled = m["produced"] - m["in_flight"]
    return m["dead_lettered"] / settled, settled


@pytest.mark.parametrize(
    ("service", "per", "expected"),
    [
        # a message's k-th receive comes at (k-1)·VT while an idle worker waits for it, and the
        # (m+1)-th at m·VT dead-letters it unless a processing has finished by then. Sticky sizes:
        # the first processing ends at S, so P(S > m·VT); fresh draws: Π_k P(S_k > (m-k+1)·VT).
        ("{dist: exponential, mean: 10ms}", "message", _exp_tail(0.010, 0.030)),
        ("{dist: lognormal, mean: 10ms, cv: 1.5}", "message", _lognormal_tail(0.010, 1.5, 0.030)),
        ("{dist: exponential, mean: 10ms}", "attempt",
         _exp_tail(0.010, 0.010) * _exp_tail(0.010, 0.020) * _exp_tail(0.010, 0.030)),
    ],
    ids=["sticky exponential", "sticky lognormal", "per attempt exponential"],
)
def test_dead_letter_rate_with_enough_idle_workers(service: str, per: str, expected: float) -> None:
    rate, n = _dead_letter_rate(service, per)
    tol = 4 * math.sqrt(expected * (1 - expected) / n)  # 4 binomial standard errors
    print(f"dead-letter rate {per}: {rate:.5f} vs {expected:.5f} ± {tol:.5f} "
          f"(rel. error {abs(rate - expected) / expected:.2%}, n={n})")
    assert abs(rate - expected) <= tol


# --- worker overhead ---------------------------------------------------------------------------


def test_overhead_holds_the_worker_counts_in_utilization_and_not_in_service(tmp_path: Path) -> None:
    # arrivals at 1, 1.5 and 6; service 1 s, overhead 250 ms: message 1 waits for the worker
    # until 2.25 (its predecessor's overhead and service), then spends 2.25-2.5 in overhead
    (tmp_path / "arrivals.csv").write_text("1.0\n1.5\n6.0\n")
    text = f"""
        duration: 10s
        producers:
          web: {{to: jobs, trace: {tmp_path / "arrivals.csv"}}}
        queues:
          jobs: {{broker: redis}}
        workers:
          pool: {{from: jobs, count: 1, service: 1s, overhead: 250ms}}
    """
    s = run(scenario(text), executor=SerialExecutor()).summary
    assert s["workers"]["pool"]["utilization"] == pytest.approx(3 * 1.25 / 10)
    assert s["latency"]["service"]["mean"] == pytest.approx(1.0)
    assert s["latency"]["service"]["max"] == pytest.approx(1.0)
    assert s["latency"]["queue_wait"]["mean"] == pytest.approx(0.75 / 3)
    assert s["latency"]["end_to_end"]["mean"] == pytest.approx((1.25 + 2.0 + 1.25) / 3)
    assert s["offered_load"] == {"jobs": pytest.approx(3 / 10 * 1.25)}


def test_mg1_with_overhead_matches_pollaczek_khinchine_on_the_holding_time() -> None:
    # holding time H = S + O: S exponential 10 ms, O uniform 1-3 ms (independent), so
    # E[H] = 12 ms and Var[H] = Var[S] + Var[O]; the wait in queue is P-K's with H
    rate, mean_s, low, high = 70.0, 0.010, 0.001, 0.003
    mean_o, var_o = (low + high) / 2, (high - low) ** 2 / 12
    mean_h = mean_s + mean_o
    scv_h = (mean_s**2 + var_o) / mean_h**2
    text = f"""
        seed: 12
        duration: 400s
        warmup: 20s
        producers:
          web: {{to: jobs, rate: {rate}}}
        queues:
          jobs: {{broker: redis}}
        workers:
          pool: {{from: jobs, count: 1, service: {{dist: exponential, mean: 10ms}},
                  overhead: {{dist: uniform, low: 1ms, high: 3ms}}}}
    """
    result = run(scenario(text), replications=10, executor=SerialExecutor())
    reps = [summarize([rec]) for rec in result.records]
    expected = theory.mg1(rate, mean_h, scv_h)
    assert_close_to_theory([r["latency"]["queue_wait"]["mean"] for r in reps], expected.wait, "Wq (P-K, S+O)")
    assert_close_to_theory([r["workers"]["pool"]["utilization"] for r in reps], rate * mean_h, "rho (S+O)")
    assert_close_to_theory([r["latency"]["service"]["mean"] for r in reps], mean_s, "E[S] without O")
    assert_close_to_theory([r["latency"]["end_to_end"]["mean"] for r in reps], expected.wait + mean_h, "W")


# --- the duplicate rate ------------------------------------------------------------------------


def test_duplicate_rate_divides_by_messages_processed_at_least_once() -> None:
    # slow: 3 messages (t = 10, 20, 30) of 2.5 s on SQS with a 1 s visibility timeout and
    # max_receives 2: received at t and t+1, dead-lettered at t+2 before either processing ends
    # (t+2.5, t+3.5): dead-lettered, processed twice, one duplicate each. fast: 5 messages
    # (t = 6 ... 30), processed once each. Duplicates 3 over 8 messages processed, not over the
    # 5 completed requests (which said 0.6)
    text = """
        duration: 35s
        producers:
          slow: {to: sqs_jobs, interarrival: 10s}
          fast: {to: list_jobs, interarrival: 6s}
        queues:
          sqs_jobs: {broker: sqs, visibility_timeout: 1s, max_receives: 2}
          list_jobs: {broker: redis}
        workers:
          slow_pool: {from: sqs_jobs, count: 4, service: 2.5s}
          fast_pool: {from: list_jobs, count: 1, service: 500ms}
    """
    s = run(scenario(text), executor=SerialExecutor()).summary
    m = s["messages"]
    assert (m["produced"], m["completed"], m["dead_lettered"], m["duplicates"]) == (8, 5, 3, 3)
    assert s["queues"]["sqs_jobs"]["dead_lettered"] == 3
    assert s["rates"]["duplicate"] == 3 / 8
