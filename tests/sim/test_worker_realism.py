"""Worker-side realism (issue 8) against closed forms: sticky job sizes, per-message overhead, effective load."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from queuesim import plan, run, theory
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


# --- effective load ----------------------------------------------------------------------------


def test_workload_counts_overhead_crashes_failures_poison_and_mtbf() -> None:
    # worked by hand: a sound delivery misses with m = p + (1-p) f and is redelivered (no cap),
    # so 1/(1-m) deliveries, each costing O + S(1 - p/2) + p R; poison (q) fails every delivery
    # up to the cap of 5 at O + S each
    from queuesim.scenario.model import RabbitQueue, RedisQueue, SqsQueue, WorkerPool
    from queuesim.scenario.workload import workload

    pool = WorkerPool.model_validate({"from": "q", "count": 4, "service": "10ms", "overhead": "1ms",
                                      "crash": {"probability": 0.01, "restart": "500ms"},
                                      "failure": {"probability": 0.02}, "mtbf": "99s"})
    p, f, s, o, r = 0.01, 0.02, 0.010, 0.001, 0.5
    per = o + s * (1 - p / 2) + p * r
    miss = p + (1 - p) * f
    sqs = workload(pool, SqsQueue())
    assert sqs.deliveries == pytest.approx(1 / (1 - miss))
    assert sqs.holding == pytest.approx(per / (1 - miss))
    assert sqs.availability == pytest.approx(99 / 99.5)
    assert sqs.capacity == pytest.approx(4 * (99 / 99.5) / (per / (1 - miss)))
    # at-most-once: a crash or a failure loses the message, nothing comes back
    assert workload(pool, RedisQueue()).holding == pytest.approx(per)
    assert workload(pool, RabbitQueue(ack="auto")).deliveries == 1.0
    assert workload(pool, SqsQueue(), inline=True).deliveries == 1.0
    # a delivery cap of 3: 1 + m + m^2 deliveries
    assert workload(pool, SqsQueue(max_receives=3)).deliveries == pytest.approx(1 + miss + miss**2)
    poisoned = WorkerPool.model_validate({"from": "q", "count": 1, "service": "10ms", "poison": {"probability": 0.1}})
    capped = workload(poisoned, RabbitQueue(delivery_limit=5))
    assert capped.holding == pytest.approx(0.9 * s + 0.1 * 5 * s) and not capped.cycling
    assert workload(poisoned, RabbitQueue()).cycling
    # no faults, no overhead: exactly the mean service time
    plain = WorkerPool.model_validate({"from": "q", "count": 3, "service": {"dist": "exponential", "mean": "7ms"}})
    assert workload(plain, SqsQueue()).holding == plain.service.mean
    assert workload(plain, SqsQueue()).capacity == plain.capacity


# 300/s of exponential 10 ms jobs on 4 workers is ρ = 0.75 on paper; with a 1% chance per job of
# crashing the worker for 470 ms (and the job coming back), each job costs 1/0.99 deliveries of
# 10 ms × (1 - 0.005) + 0.01 × 470 ms: ρ = 300 × 14.8 ms / 4 = 1.11
CRASHING = """
    seed: 9
    duration: 60s
    warmup: 5s
    producers:
      web: {{to: jobs, rate: 300/s}}
    queues:
      jobs: {{broker: sqs, visibility_timeout: 1s}}
    workers:
      pool: {{from: jobs, count: 4, service: {{dist: exponential, mean: 10ms}},
              crash: {{probability: {p}, restart: {restart}}}}}
"""
TRUE_LOAD = 300 * (0.010 * (1 - 0.005) + 0.01 * 0.470) / 0.99 / 4


def test_a_pool_at_075_on_paper_and_111_with_its_crashes_is_flagged_before_the_run() -> None:
    from queuesim.experiment.execute import scenario_warnings

    sc = scenario(CRASHING.format(p=0.01, restart="470ms"))
    assert sc.offered_load(faults=False)["jobs"] == pytest.approx(0.75)
    assert sc.offered_load()["jobs"] == pytest.approx(TRUE_LOAD) and pytest.approx(1.11, abs=0.005) == TRUE_LOAD
    assert sc.unstable_queues() == ["jobs"]
    [warning] = scenario_warnings(sc)
    assert "offered load 1.11 ≥ 1" in warning and "0.75 without faults" in warning
    # the same pool with restarts 10x shorter is stable, and no warning says otherwise
    assert not scenario_warnings(scenario(CRASHING.format(p=0.01, restart="47ms")))


def test_the_measured_load_of_that_pool_is_111_and_its_backlog_grows() -> None:
    result = run(scenario(CRASHING.format(p=0.01, restart="470ms")), replications=6, executor=SerialExecutor())
    reps = [summarize([rec]) for rec in result.records]
    assert_close_to_theory([r["effective_load"]["jobs"] for r in reps], TRUE_LOAD, "effective load (overloaded)")
    # the workers were busy or down all along, and still fell behind: utilization says 'full', not 'how much'
    assert result.summary["workers"]["pool"]["utilization"] < 1
    assert result.summary["messages"]["in_flight"] > 0.05 * result.summary["messages"]["produced"]
    assert any("unstable" in w and "1.11" in w for w in result.summary["warnings"])


def test_the_measured_load_of_a_stable_faulty_pool_matches_the_model() -> None:
    # crashes, failures, an mtbf and overhead together, below saturation: the run's measured load
    # agrees with the offered load the model computed before it
    text = """
        seed: 10
        duration: 60s
        warmup: 5s
        producers:
          web: {to: jobs, rate: 250/s}
        queues:
          jobs: {broker: sqs, visibility_timeout: 500ms}
        workers:
          pool: {from: jobs, count: 4, service: {dist: exponential, mean: 10ms}, overhead: 1ms,
                 crash: {probability: 0.01, restart: 100ms}, failure: {probability: 0.03}, mtbf: 20s}
    """
    sc = scenario(text)
    offered = sc.offered_load()["jobs"]
    assert offered > 1.1 * sc.offered_load(faults=False)["jobs"]
    result = run(sc, replications=6, executor=SerialExecutor())
    reps = [summarize([rec]) for rec in result.records]
    assert_close_to_theory([r["effective_load"]["jobs"] for r in reps], offered, "effective load (stable)")
    assert not result.summary["warnings"]


def test_work_the_model_cannot_know_is_measured_and_flagged_after_the_run() -> None:
    # a 20 ms handler timeout on exponential 10 ms jobs: a job longer than that (13.5%) times out
    # on each of its 5 deliveries (job sizes are sticky). The model leaves timeouts out (0.75);
    # each job really costs E[S; S <= T] + P(S > T) × 5 × T = 19.5 ms: ρ = 1.46
    text = """
        seed: 6
        duration: 40s
        warmup: 5s
        producers:
          web: {to: jobs, rate: 300/s}
        queues:
          jobs: {broker: rabbitmq, prefetch: 1, delivery_limit: 5}
        workers:
          pool: {from: jobs, count: 4, service: {dist: exponential, mean: 10ms}, timeout: 20ms}
    """
    sc = scenario(text)
    assert sc.offered_load()["jobs"] == pytest.approx(0.75) and not sc.unstable_queues()
    tail = math.exp(-2)
    expected = 300 * ((0.010 - tail * 0.030) + tail * 5 * 0.020) / 4
    result = run(sc, replications=4, executor=SerialExecutor())
    reps = [summarize([rec]) for rec in result.records]
    assert_close_to_theory([r["effective_load"]["jobs"] for r in reps], expected, "effective load (timeouts)")
    assert any("effective load of 1.4" in w and "offered 0.75" in w for w in result.summary["warnings"])


def test_plan_saturation_estimate_uses_the_effective_capacity() -> None:
    # 4 workers of 10 ms jobs serve 400/s on paper; a 2% crash chance with 200 ms restarts costs
    # each job 1/0.98 × (9.9 ms + 4 ms): 4 / 14.18 ms = 282/s, which the overloaded run confirms
    text = """
        name: crashy
        seed: 3
        duration: 30s
        warmup: 5s
        producers:
          web: {to: jobs, rate: 150/s}
        queues:
          jobs: {broker: sqs, visibility_timeout: 500ms}
        workers:
          pool: {from: jobs, count: 4, service: {dist: exponential, mean: 10ms},
                 crash: {probability: 0.02, restart: 200ms}}
        slo:
          latency.queue_wait.mean: 1s
    """
    capacity = 4 * 0.98 / (0.010 * 0.99 + 0.02 * 0.2)
    answer = plan(scenario(text), load=1, executor=SerialExecutor(), progress=False, confirm=False)
    assert answer.saturation_throughput_analytic == pytest.approx(capacity)
    # simulated: completions of requests created in the window, a little under the capacity
    # (the last ones are still queued or hidden after a crash when the run ends)
    assert answer.saturation_throughput == pytest.approx(capacity, rel=0.05)
