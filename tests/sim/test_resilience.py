"""Client resilience from the scenario file to summary.json: validation, the new counts and what each mechanism does to a storm."""

from __future__ import annotations

import math

import pytest
from queuesim import ScenarioError, run
from queuesim.experiment.executors import SerialExecutor
from queuesim.scenario import scenario_from_dict

from conftest import scenario

BASE = """
    seed: 3
    duration: 20s
    warmup: 2s
    producers:
      web:
{producer}
    queues:
      jobs: {{broker: redis, capacity: {capacity}}}
    workers:
      pool: {{from: jobs, count: 4, service: {{dist: exponential, mean: 10ms}}{pool}}}
"""


def make(producer: str, capacity: int | str = 1000, pool: str = "", **sets: object):
    body = "\n".join(f"        {line}" for line in producer.strip().splitlines())
    return scenario(BASE.format(producer=body, capacity=capacity, pool=pool), **sets)


def summary(producer: str, **kw: object) -> dict:
    return run(make(producer, **kw), executor=SerialExecutor()).summary


@pytest.mark.parametrize(("producer", "message"), [
    ("to: jobs\nusers: 3", "producers.web.users: needs `think`"),
    ("to: jobs\nusers: 3\nthink: 0s", "mean think time must be > 0"),
    ("to: jobs\nusers: 3\nthink: 1s\nrate: 5/s", "producers.web.rate: a closed population (`users`) sends its own requests"),
    ("to: jobs\nusers: 3\nthink: 1s\nmax_in_flight: 2", "already has at most `users` requests in flight"),
    ("to: jobs\nthink: 1s\nrate: 5/s", "producers.web.think: needs `users`"),
    ("to: jobs\nrate: 5/s\nhedge: {after: 10ms}", "producers.web.hedge: needs `await_result: true` or `sync: true`"),
    ("to: jobs\nrate: 5/s\nawait_result: true\nhedge: {after: p97}", "producers.web.hedge.after: a duration (50ms) or a percentile"),
    ("to: jobs\nrate: 5/s\nawait_result: true\nhedge: {after: -1s}", "producers.web.hedge.after"),
    ("to: jobs\nrate: 5/s\nawait_result: true\ntimeout: 1s\nretry: {attempts: 2, on_timeout: true}\nhedge: {after: 10ms}",
     "hedging and `retry.on_timeout` both send copies"),
    ("to: jobs\nrate: 5/s\nbreaker: {consecutive_failures: 3, window: 10}", "producers.web.breaker.window: give either"),
    ("to: jobs\nrate: 5/s\nbreaker: {window: 10, min_calls: 20}", "producers.web.breaker.min_calls: must be ≤ window"),
    ("to: jobs\nrate: 5/s\nbreaker: {failure_rate: 150%}", "producers.web.breaker.failure_rate"),
    ("to: jobs\nrate: 5/s\nretry: {budget: {kind: leaky}}", "producers.web.retry.budget"),
    ("to: jobs\nrate: 5/s\nretry: {budget: {kind: ratio, percent: ten}}", "expected a fraction like 0.2 or 20%"),
    ("to: jobs\nrate: 5/s\nmax_in_flight: 0", "producers.web.max_in_flight"),
])
def test_resilience_settings_are_validated_with_their_path(producer: str, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        make(producer)
    assert message in str(err.value)


def test_documented_defaults() -> None:
    sc = make("to: jobs\nrate: 5/s\nretry: {attempts: 3, budget: {kind: token_bucket}}\nbreaker: {}")
    budget = sc.producers["web"].retry.budget
    assert (budget.capacity, budget.cost, budget.timeout_cost, budget.refund) == (500, 5, 10, 1)  # type: ignore[union-attr]
    breaker = sc.producers["web"].breaker
    assert breaker is not None
    assert (breaker.failure_rate, breaker.window, breaker.calls_needed, breaker.open_for, breaker.trials) == (0.5, 100, 100, 5.0, 10)
    ratio = make("to: jobs\nrate: 5/s\nretry: {budget: {kind: ratio}}").producers["web"].retry.budget
    assert (ratio.percent, ratio.min_concurrency) == (0.2, 3)  # type: ignore[union-attr]
    assert make("to: jobs\nrate: 5/s\nbreaker: {consecutive_failures: 5}").producers["web"].breaker.trials == 1  # type: ignore[union-attr]


def test_a_closed_population_has_a_bounded_base_load_and_no_instability_warning() -> None:
    # 200 users thinking 10 ms could send 20,000/s; four 10 ms workers serve at most 400/s
    sc = make("to: jobs\nusers: 200\nthink: {dist: exponential, mean: 10ms}", capacity="null")
    assert sc.arrival_rates()["jobs"] == pytest.approx(400.0)
    assert sc.unstable_queues() == []
    s = run(sc, executor=SerialExecutor()).summary
    assert s["rates"]["base_load"] == pytest.approx(400.0)
    assert s["workers"]["pool"]["utilization"] > 0.99  # saturated, but the backlog stays below 200
    assert s["queues"]["jobs"]["max_depth"] <= 200
    assert s["warnings"] == []


def test_an_open_breaker_short_circuits_and_keeps_the_conservation_law() -> None:
    # a broker outage of 5 s: 503s open the breaker, requests fail fast until it closes again
    data = make("to: jobs\nrate: 200/s\nbreaker: {failure_rate: 50%, window: 20, open_for: 1s}").to_dict()
    data["faults"] = [{"at": 5.0, "queue": "jobs", "kind": "outage", "duration": 5.0}]
    s = run(scenario_from_dict(data), executor=SerialExecutor()).summary
    m = s["messages"]
    assert m["short_circuited"] > 0
    assert m["produced"] == m["completed"] + m["gave_up"] + m["lost"] + m["dead_lettered"] + m["in_flight"] + m["short_circuited"]
    b = s["breakers"]["web"]
    assert b["short_circuited"] == m["short_circuited"]
    assert b["opened"] >= 2  # it probes during the outage and opens again
    # open for most of the 5 s outage (half-open probes in between), closed otherwise
    assert 3.0 < b["time_open"] < 5.5
    assert b["open_fraction"] == pytest.approx(b["time_open"] / 18.0)
    assert s["rates"]["short_circuited"] == pytest.approx(m["short_circuited"] / m["produced"])


STORM = "scenarios/retry-storm.yaml"


def storm(*sets: str) -> dict:
    return run(STORM, overrides=["duration=100s", *sets], executor=SerialExecutor()).summary


@pytest.mark.slow
def test_retry_budgets_and_a_breaker_stop_the_retry_storm() -> None:
    # the retry-storm example: with plain timeout retries the offered load stays ~4x the base
    plain = storm()
    assert plain["rates"]["offered"] > 2.5 * plain["rates"]["base_load"]
    quota = storm("producers.clients.retry.budget={kind: token_bucket}")
    assert quota["messages"]["retry_budget_exhausted"] > 0
    assert quota["rates"]["offered"] < 1.3 * quota["rates"]["base_load"]
    ratio = storm("producers.clients.retry.budget={kind: ratio}")
    assert ratio["messages"]["retry_budget_exhausted"] > 0
    assert ratio["rates"]["offered"] < 1.3 * ratio["rates"]["base_load"]
    # the breaker sees the timeouts, opens, sheds load until the queue drains
    breaker = storm("producers.clients.breaker={failure_rate: 50%, window: 100, open_for: 5s}")
    assert breaker["breakers"]["clients"]["opened"] >= 1
    assert breaker["rates"]["offered"] < 0.7 * plain["rates"]["offered"]


def test_a_stage_that_honours_deadlines_drops_stale_work() -> None:
    # a 200 ms timeout without retries, two workers for 300/s: the backlog's waits pass the deadline
    text = "to: jobs\nrate: 300/s\nawait_result: true\ntimeout: 200ms"
    on = make(text, pool=", drop_expired: true").to_dict()
    off = make(text).to_dict()
    results = []
    for data in (on, off):
        data["workers"]["pool"]["count"] = 2  # 200/s against 300/s: the backlog grows, waits pass 200 ms
        results.append(run(scenario_from_dict(data), executor=SerialExecutor()).summary)
    dropping, plain = results
    assert dropping["messages"]["deadline_dropped"] > 0 and plain["messages"]["deadline_dropped"] == 0
    assert dropping["messages"]["gave_up"] >= dropping["messages"]["deadline_dropped"]
    # work nobody waits for is not done: more of the answered requests make their deadline
    assert dropping["latency"]["response"]["count"] > plain["latency"]["response"]["count"]


def test_hedging_cuts_the_tail_at_the_price_of_extra_work() -> None:
    # heavy-tailed service; a hedge after the observed p90 answers the slow requests sooner
    text = "to: jobs\nrate: 100/s\nawait_result: true"

    def with_hedge(hedge: str) -> dict:
        data = make(text + hedge).to_dict()
        data["workers"]["pool"]["service"] = {"dist": "lognormal", "mean": 0.01, "cv": 3}
        data["workers"]["pool"]["count"] = 8
        return run(scenario_from_dict(data), executor=SerialExecutor()).summary

    plain, hedged = with_hedge(""), with_hedge("\nhedge: {after: p90}")
    m = hedged["messages"]
    assert 0 < m["hedged"] < 0.2 * m["produced"]  # about the slowest 10% get a copy
    assert m["hedge_wins"] > 0 and m["cancelled"] >= 0
    assert hedged["latency"]["response"]["p99"] < plain["latency"]["response"]["p99"]
    assert not math.isnan(hedged["latency"]["response"]["mean"])


def test_scenarios_without_the_new_keys_count_nothing_new() -> None:
    s = summary("to: jobs\nrate: 100/s")
    m = s["messages"]
    assert [m[k] for k in ("short_circuited", "retry_budget_exhausted", "hedged", "hedge_wins",
                           "deadline_dropped", "cancelled")] == [0] * 6
    assert s["breakers"] == {}
