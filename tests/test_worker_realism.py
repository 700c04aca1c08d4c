"""Worker-side realism (issue 8) against closed forms: sticky job sizes, per-message overhead, effective load."""

from __future__ import annotations

import math

import pytest
from queuesim import run
from queuesim.experiment.executors import SerialExecutor

from conftest import scenario

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
