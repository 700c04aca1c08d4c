"""Tests of queuesim.scenario: units, distributions, the schema and its rules, overrides and file:line errors."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import queuesim.scenario as scenario_pkg
from pydantic import TypeAdapter
from queuesim.errors import Problem, ScenarioError
from queuesim.scenario import (
    Constant,
    Distribution,
    Empirical,
    Exponential,
    Gamma,
    Lognormal,
    RedisQueue,
    Scenario,
    SqsQueue,
    Uniform,
    Weibull,
    WorkerPool,
    apply_overrides,
    format_duration,
    format_rate,
    load_scenario,
    parse_duration,
    parse_rate,
    parse_scenario,
    scenario_from_dict,
    with_overrides,
)

SOURCE = "scenarios/x.yaml"

# Line numbers matter: tests below assert them. Line 1 is "name: x".
BASE = """\
name: x
seed: 7
duration: 10m
warmup: 1m
producers:
  web:
    to: orders
    rate: 900/s
queues:
  orders:
    broker: sqs
    capacity: 5000
workers:
  fulfil:
    from: orders
    count: 8
    service: {dist: exponential, mean: 8ms}
"""

# The example from the scenario reference, plus the downstream queue and pool it names.
EXAMPLE = """\
name: orders-backpressure
seed: 7
duration: 10m
warmup: 1m
replications: 5
producers:
  web:
    to: orders
    rate: 900/s
    retry:
      attempts: 4
      backoff: 100ms
      multiplier: 2
      max_backoff: 5s
      jitter: full
queues:
  orders:
    broker: sqs
    capacity: 5000
    visibility_timeout: 30s
    max_receives: 5
    latency: {dist: lognormal, mean: 20ms, cv: 1.5}
  shipping:
    broker: redis
workers:
  fulfil:
    from: orders
    count: 8
    service: {dist: exponential, mean: 8ms}
    to: shipping
    fanout: 2
  ship:
    from: shipping
    count: 4
    service: 1ms
"""


def problems_of(text: str, overrides: tuple[str, ...] = ()) -> list[str]:
    """Validate text expecting failure; return the problems as strings."""
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, SOURCE, overrides)
    return [str(p) for p in caught.value.problems]


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# --- units -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250us", 250e-6),
        ("250 us", 250e-6),
        ("3µs", 3e-6),
        ("100ms", 0.1),
        ("1.5s", 1.5),
        ("10m", 600.0),
        ("2h", 7200.0),
        ("0", 0.0),
        ("12", 12.0),
        (".5s", 0.5),
        ("1e3ms", 1.0),
        (" 7 ms ", 0.007),
        (0, 0.0),
        (2, 2.0),
        (0.25, 0.25),
        (np.float64(1.5), 1.5),
    ],
)
def test_parse_duration_accepts_every_unit(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize("bad", ["abc", "", "5 sec", "5ms5", "5M", "1.5.2s", "ms", "5 m s", None, True, [1], {"a": 1}])
def test_parse_duration_rejects_non_durations(bad: object) -> None:
    with pytest.raises(ValueError, match=r"expected a duration like 250ms, 1\.5s, 10m or a number of seconds"):
        parse_duration(bad)


def test_parse_duration_message_is_exact() -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration("abc")
    assert str(caught.value) == "expected a duration like 250ms, 1.5s, 10m or a number of seconds, got 'abc'"


@pytest.mark.parametrize("bad", ["-5ms", -1, float("inf"), float("nan"), "1e400s"])
def test_parse_duration_rejects_negative_and_non_finite(bad: object) -> None:
    with pytest.raises(ValueError, match="duration must be"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "per_second"),
    [("900/s", 900.0), ("30/m", 0.5), ("2/h", 2 / 3600), ("5 / s", 5.0), ("12", 12.0), (7, 7.0), (0.5, 0.5), ("0/s", 0.0)],
)
def test_parse_rate(text: object, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second, rel=1e-12)


@pytest.mark.parametrize("bad", ["900/d", "/s", "abc", "5/ms", -1, "-3/s", float("inf"), True, None])
def test_parse_rate_rejects_bad_rates(bad: object) -> None:
    with pytest.raises(ValueError, match="rate"):
        parse_rate(bad)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.008, "8ms"),
        (90, "1.5m"),
        (0.00025, "250us"),
        (0, "0s"),
        (30, "30s"),
        (1.5, "1.5s"),
        (3600, "1h"),
        (5400, "1.5h"),
        (59.99999999, "1m"),
        (-0.5, "-500ms"),
        (math.inf, "inf"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(("per_second", "text"), [(900, "900/s"), (0.5, "30/m"), (2 / 3600, "2/h"), (1, "1/s")])
def test_format_rate(per_second: float, text: str) -> None:
    assert format_rate(per_second) == text


# --- distributions -----------------------------------------------------------------------------

N_SAMPLES = 200_000


@pytest.mark.parametrize(
    "dist",
    [
        Exponential(mean=0.008),
        Constant(value=0.005),
        Uniform(low=0.001, high=0.005),
        Lognormal(mean=0.02, cv=0.8),
        Lognormal(mean=0.02, cv=1.5),
        Gamma(mean=0.008, cv=0.5),
        Gamma(mean=0.008, cv=2.0),
        Empirical(samples=(0.001, 0.002, 0.002, 0.010)),
        Weibull(mean=0.02, cv=0.5),
        Weibull(mean=0.02, cv=1.5),
    ],
    ids=str,
)
def test_analytic_moments_match_a_large_sample(dist: Distribution) -> None:
    x = dist.sample(np.random.default_rng(12345), N_SAMPLES)
    assert x.dtype == np.float64 and x.shape == (N_SAMPLES,)
    assert (x >= 0).all()
    # Standard errors of the sample mean and sample variance, estimated from the sample itself.
    se_mean = math.sqrt(dist.variance / N_SAMPLES)
    squared = (x - x.mean()) ** 2
    se_var = squared.std() / math.sqrt(N_SAMPLES)
    assert abs(x.mean() - dist.mean) <= 5 * se_mean + 1e-15
    assert abs(x.var() - dist.variance) <= 5 * se_var + 1e-15


@pytest.mark.parametrize(
    "dist",
    [
        Exponential(mean=0.008),
        Uniform(low=0.001, high=0.005),
        Lognormal(mean=0.02, cv=1.5),
        Gamma(mean=0.008, cv=0.5),
        Gamma(mean=0.008, cv=2.0),
        Weibull(mean=0.02, cv=0.5),
        Weibull(mean=0.02, cv=1.5),
    ],
    ids=str,
)
def test_quantiles_match_a_large_sample(dist: Distribution) -> None:
    # the empirical CDF at the analytic quantile is binomial: within 5 standard errors of q
    x = dist.sample(np.random.default_rng(7), N_SAMPLES)
    for q in (0.1, 0.5, 0.9, 0.99):
        share = float(np.mean(x <= dist.quantile(q)))
        assert abs(share - q) <= 5 * math.sqrt(q * (1 - q) / N_SAMPLES), (q, share)


def test_quantiles_in_closed_form_and_their_limits() -> None:
    assert Exponential(mean=0.01).quantile(0.99) == pytest.approx(0.01 * math.log(100))
    assert Constant(value=0.025).quantile(0.99) == 0.025
    assert Uniform(low=1, high=3).quantile(0.25) == 1.5
    # the empirical step CDF: P(X ≤ 2ms) = 3/4, so every q up to 0.75 gives 2ms (and 0 the smallest)
    emp = Empirical(samples=(0.010, 0.002, 0.001, 0.002))
    assert [emp.quantile(q) for q in (0.0, 0.25, 0.26, 0.75, 0.76, 0.99)] == [0.001, 0.001, 0.002, 0.002, 0.010, 0.010]
    assert Lognormal(mean=0.02, cv=1.5).quantile(0) == 0.0
    with pytest.raises(ValueError, match="0 <= q < 1"):
        Exponential(mean=1).quantile(1.0)


def test_scv_and_parameters() -> None:
    assert Exponential(mean=3).scv == pytest.approx(1.0)
    assert Constant(value=2).scv == 0.0
    assert Constant(value=0).scv == 0.0
    assert Gamma(mean=1, cv=0.5).scv == pytest.approx(0.25)
    assert Gamma(mean=2, cv=0.5).shape == pytest.approx(4.0)
    assert Gamma(mean=2, cv=0.5).scale == pytest.approx(0.5)
    ln = Lognormal(mean=0.02, cv=1.5)
    assert ln.sigma**2 == pytest.approx(math.log(1 + 1.5**2))
    assert ln.mu == pytest.approx(math.log(0.02) - ln.sigma**2 / 2)
    assert Uniform(low=1, high=3).variance == pytest.approx(4 / 12)


def test_distributions_print_readably() -> None:
    assert str(Exponential(mean=0.008)) == "exponential(mean=8ms)"
    assert str(Constant(value=0.005)) == "constant(5ms)"
    assert str(Uniform(low=0.001, high=0.005)) == "uniform(low=1ms, high=5ms)"
    assert str(Lognormal(mean=0.02, cv=1.5)) == "lognormal(mean=20ms, cv=1.5)"
    assert str(Gamma(mean=1, cv=0.5)) == "gamma(mean=1s, cv=0.5)"
    assert str(Empirical(samples=(0.001, 0.002))) == "empirical(n=2, mean=1.5ms)"


def test_sampling_uses_only_the_given_generator() -> None:
    dist = Gamma(mean=0.01, cv=0.7)
    first = dist.sample(np.random.default_rng(1), 5)
    again = dist.sample(np.random.default_rng(1), 5)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(Constant(value=0.25).sample(np.random.default_rng(0), 3), [0.25, 0.25, 0.25])


def test_distribution_field_type_parses_shorthand_and_units() -> None:
    adapter = TypeAdapter(Distribution)
    assert adapter.validate_python("8ms") == Constant(value=0.008)
    assert adapter.validate_python(0.5) == Constant(value=0.5)
    assert adapter.validate_python({"dist": "exponential", "mean": "8ms"}) == Exponential(mean=0.008)
    assert adapter.validate_python({"dist": "empirical", "samples": ["1ms", 2]}).samples == (0.001, 2.0)


@pytest.mark.parametrize(
    "bad",
    [
        {"dist": "exponential", "mean": 0},
        {"dist": "lognormal", "mean": "5ms", "cv": 0},
        {"dist": "gamma", "mean": "-5ms", "cv": 1},
        {"dist": "uniform", "low": "5ms", "high": "1ms"},
        {"dist": "uniform", "low": -1, "high": 1},
        {"dist": "empirical", "samples": []},
        {"dist": "constant", "value": 1, "mean": 1},
        {"dist": "weibull", "mean": 1},
        "-5ms",
    ],
)
def test_distributions_check_their_parameters(bad: object) -> None:
    with pytest.raises(ValueError):
        TypeAdapter(Distribution).validate_python(bad)


# --- the model ---------------------------------------------------------------------------------


def test_example_loads_with_correct_values() -> None:
    s = parse_scenario(EXAMPLE, SOURCE)
    assert (s.name, s.seed, s.duration, s.warmup, s.replications) == ("orders-backpressure", 7, 600.0, 60.0, 5)
    web = s.producers["web"]
    assert web.to == "orders" and web.rate == 900.0 and web.interarrival is None and web.mean_rate == 900.0
    assert (web.retry.attempts, web.retry.backoff, web.retry.multiplier, web.retry.max_backoff, web.retry.jitter) == (
        4,
        0.1,
        2.0,
        5.0,
        "full",
    )
    orders = s.queues["orders"]
    assert isinstance(orders, SqsQueue)
    assert (orders.capacity, orders.visibility_timeout, orders.max_receives) == (5000, 30.0, 5)
    assert orders.latency == Lognormal(mean=0.02, cv=1.5)
    shipping = s.queues["shipping"]
    assert isinstance(shipping, RedisQueue) and shipping.capacity is None and shipping.latency == Constant(value=0)
    fulfil = s.workers["fulfil"]
    assert (fulfil.from_, fulfil.count, fulfil.to, fulfil.fanout) == ("orders", 8, "shipping", 2)
    assert fulfil.service == Exponential(mean=0.008)
    assert s.workers["ship"].service == Constant(value=0.001)


def test_defaults() -> None:
    s = parse_scenario(edit(BASE, "name: x\n", ""))
    assert s.name == "scenario"
    web = s.producers["web"]
    assert (web.retry.attempts, web.retry.backoff, web.retry.multiplier, web.retry.max_backoff, web.retry.jitter) == (
        1,
        0.1,
        2.0,
        20.0,
        "full",
    )
    orders = s.queues["orders"]
    assert isinstance(orders, SqsQueue) and orders.visibility_timeout == 30.0 and orders.max_receives is None
    assert s.replications == 1 and s.workers["fulfil"].to is None and s.workers["fulfil"].fanout == 1
    assert parse_scenario(edit(BASE, "warmup: 1m\n", "")).warmup == 0.0
    assert parse_scenario(edit(BASE, "seed: 7\n", "")).seed == 0


def test_models_are_frozen() -> None:
    s = parse_scenario(BASE)
    with pytest.raises(ValueError):
        s.workers["fulfil"].count = 3  # type: ignore[misc]
    with pytest.raises(ValueError):
        s.seed = 3  # type: ignore[misc]


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "orders-backpressure.yaml"
    path.write_text(edit(BASE, "name: x\n", ""))
    assert load_scenario(path).name == "orders-backpressure"
    path.write_text(BASE)
    assert load_scenario(str(path)).name == "x"


def test_to_dict_is_json_able_uses_aliases_and_round_trips() -> None:
    import json

    s = parse_scenario(EXAMPLE)
    d = s.to_dict()
    json.dumps(d)
    assert d["workers"]["fulfil"]["from"] == "orders" and "from_" not in d["workers"]["fulfil"]
    assert d["duration"] == 600.0 and d["producers"]["web"]["rate"] == 900.0
    assert d["queues"]["orders"]["latency"] == {"dist": "lognormal", "mean": 0.02, "cv": 1.5}
    assert scenario_from_dict(d) == s


def test_worker_pool_accepts_from_by_name_and_alias() -> None:
    assert WorkerPool(from_="q", count=1, service=1).from_ == "q"  # type: ignore[arg-type]
    assert WorkerPool.model_validate({"from": "q", "count": 1, "service": "1ms"}).service == Constant(value=0.001)


def test_helpers_pools_order_and_load() -> None:
    text = """\
duration: 1h
producers:
  web: {to: orders, rate: 100/s}
  batch: {to: shipping, interarrival: {dist: exponential, mean: 100ms}}
queues:
  shipping: {broker: redis}
  orders: {broker: sqs, capacity: 10}
workers:
  ship: {from: shipping, count: 2, service: 5ms}
  fast: {from: orders, count: 3, service: 10ms, to: shipping, fanout: 2}
  slow: {from: orders, count: 1, service: 10ms, to: shipping}
"""
    s = parse_scenario(text)
    assert [name for name, _ in s.pools_reading("orders")] == ["fast", "slow"]
    assert s.pools_reading("nothing") == []
    assert s.topological_queues() == ["orders", "shipping"]
    assert s.producers["batch"].mean_rate == pytest.approx(10.0)
    # orders: 100/s over 4 workers of 10ms. fast takes 3/4 of orders and doubles them, slow forwards 1/4.
    rates = s.arrival_rates()
    assert rates["orders"] == pytest.approx(100.0)
    assert rates["shipping"] == pytest.approx(10 + 75 * 2 + 25)
    load = s.offered_load()
    assert load["orders"] == pytest.approx(100 * 0.010 / 4)
    assert load["shipping"] == pytest.approx(185 * 0.005 / 2)
    assert s.unstable_queues() == []
    overloaded = parse_scenario(text, overrides=["producers.web.rate=1000/s"])
    # orders is at ρ = 2.5 but bounded; shipping (unbounded) then gets 10 + 1850 > 400/s.
    assert overloaded.offered_load()["orders"] == pytest.approx(2.5)
    assert overloaded.unstable_queues() == ["shipping"]


# --- cross-field rules -------------------------------------------------------------------------


def test_unknown_queue_names_suggest_the_closest() -> None:
    text = edit(BASE, "    to: orders\n", "    to: ordres\n")
    assert problems_of(text) == [f"{SOURCE}:7: producers.web.to: unknown queue 'ordres' (did you mean 'orders'?)"]
    text = edit(BASE, "    from: orders\n", "    from: zzz\n")
    assert problems_of(text) == [
        f"{SOURCE}:10: queues.orders: no worker pool reads queue 'orders'; add a pool with `from: orders`",
        f"{SOURCE}:15: workers.fulfil.from: unknown queue 'zzz'; queues are: orders",
    ]
    text = BASE + "    to: shiping\n"
    assert problems_of(text) == [f"{SOURCE}:18: workers.fulfil.to: unknown queue 'shiping'; queues are: orders"]


def test_every_queue_must_be_read() -> None:
    text = edit(BASE, "workers:\n", "  idle:\n    broker: redis\nworkers:\n")
    assert problems_of(text) == [f"{SOURCE}:13: queues.idle: no worker pool reads queue 'idle'; add a pool with `from: idle`"]


def test_routing_cycles_are_rejected() -> None:
    assert problems_of(BASE + "    to: orders\n") == [
        f"{SOURCE}:18: workers.fulfil.to: routing cycle orders → [fulfil] → orders ([pools] between queues): "
        "messages would circulate forever"
    ]
    two = edit(BASE, "workers:\n", "  back:\n    broker: redis\nworkers:\n") + "    to: back\n  undo:\n    from: back\n    count: 1\n    service: 1ms\n    to: orders\n"
    (only,) = problems_of(two)
    assert only.startswith(f"{SOURCE}:25: workers.undo.to: routing cycle orders → [fulfil] → back → [undo] → orders")


def test_warmup_must_end_before_duration() -> None:
    assert problems_of(edit(BASE, "warmup: 1m", "warmup: 10m")) == [f"{SOURCE}:4: warmup: must be < duration (10m)"]


def test_exactly_one_arrival_process() -> None:
    both = edit(BASE, "    rate: 900/s\n", "    rate: 900/s\n    interarrival: 1ms\n")
    assert problems_of(both) == [f"{SOURCE}:6: producers.web: give only one of `rate` or `interarrival`"]
    neither = edit(BASE, "    rate: 900/s\n", "")
    assert problems_of(neither) == [f"{SOURCE}:6: producers.web: give `rate` (Poisson) or `interarrival` (a distribution)"]
    renewal = parse_scenario(edit(BASE, "    rate: 900/s\n", "    interarrival: {dist: gamma, mean: 2ms, cv: 0.5}\n"))
    assert renewal.producers["web"].mean_rate == pytest.approx(500.0)
    zero = edit(BASE, "    rate: 900/s\n", "    interarrival: 0ms\n")
    assert problems_of(zero) == [f"{SOURCE}:8: producers.web.interarrival: mean interarrival time must be > 0"]
    assert problems_of(edit(BASE, "rate: 900/s", "rate: 0/s")) == [f"{SOURCE}:8: producers.web.rate: must be > 0, got '0/s'"]


def test_fanout_needs_a_target_and_backoff_cap() -> None:
    assert problems_of(BASE + "    fanout: 3\n") == [
        f"{SOURCE}:18: workers.fulfil.fanout: fanout > 1 needs `to`: there is no downstream queue to publish to"
    ]
    retry = edit(BASE, "    rate: 900/s\n", "    rate: 900/s\n    retry:\n      backoff: 1s\n      max_backoff: 500ms\n")
    assert problems_of(retry) == [f"{SOURCE}:11: producers.web.retry.max_backoff: must be ≥ backoff (1s)"]


def test_sqs_limits() -> None:
    text = edit(BASE, "    capacity: 5000\n", "    capacity: 5000\n    visibility_timeout: 13h\n    max_receives: 1001\n")
    assert problems_of(text) == [
        f"{SOURCE}:13: queues.orders.visibility_timeout: must be ≤ 12h (the SQS maximum), got 13h",
        f"{SOURCE}:14: queues.orders.max_receives: must be ≤ 1000",
    ]


def test_stale_receipts_is_a_standard_queue_option() -> None:
    assert parse_scenario(BASE, SOURCE).queues["orders"].receipt_rule == "delete"  # type: ignore[union-attr]
    ignored = edit(BASE, "    capacity: 5000\n", "    capacity: 5000\n    stale_receipts: ignored\n")
    assert parse_scenario(ignored, SOURCE).queues["orders"].receipt_rule == "ignored"  # type: ignore[union-attr]
    fifo = edit(BASE, "    capacity: 5000\n", "    capacity: 5000\n    kind: fifo\n")
    assert parse_scenario(fifo, SOURCE).queues["orders"].receipt_rule == "expire"  # type: ignore[union-attr]
    assert problems_of(edit(fifo, "    kind: fifo\n", "    kind: fifo\n    stale_receipts: delete\n")) == [
        f"{SOURCE}:14: queues.orders.stale_receipts: a FIFO receipt handle expires with the visibility timeout: "
        "a late delete always fails (standard queues only)"
    ]


def test_ttl_rules() -> None:
    # SQS's default retention, 4 days
    assert parse_scenario(edit(BASE, "    capacity: 5000\n", "    capacity: 5000\n    ttl: 96h\n"), SOURCE).queues["orders"].ttl == 96 * 3600
    assert problems_of(edit(BASE, "    capacity: 5000\n", "    capacity: 5000\n    ttl_dead_letter: true\n")) == [
        f"{SOURCE}:13: queues.orders.ttl_dead_letter: needs `ttl`: only an expired message is dead-lettered for its age"
    ]
    pubsub = edit(edit(BASE, "broker: sqs", "broker: redis\n    mode: pubsub"), "    capacity: 5000\n", "    ttl: 1m\n")
    assert problems_of(pubsub) == [f"{SOURCE}:13: queues.orders.ttl: pub/sub keeps no backlog: nothing waits long enough to expire"]


def _visibility(queue: str, service: str = "{dist: exponential, mean: 10ms}", sync: bool = False) -> list[str]:
    from queuesim.scenario.advice import visibility_warnings

    text = f"""
        duration: 1m
        producers:
          web: {{to: jobs, rate: 10/s{', sync: true' if sync else ''}}}
        queues:
          jobs: {{broker: sqs, {queue}}}
        workers:
          pool: {{from: jobs, count: 2, service: {service}}}
    """
    return visibility_warnings(parse_scenario(textwrap.dedent(text), SOURCE))


def test_a_service_p99_above_the_visibility_timeout_warns() -> None:
    from queuesim.scenario.advice import is_error

    # exponential with mean 10 ms: p99 = 10 ms · ln 100 = 46 ms
    (standard,) = _visibility("visibility_timeout: 30ms")
    assert not is_error(standard)
    assert standard.startswith("queue 'jobs': the service time of pool 'pool' has p99 46.1ms, above the "
                               "visibility timeout (30ms)") and "until their first processing ends" in standard
    assert _visibility("visibility_timeout: 50ms") == []
    assert _visibility("visibility_timeout: 30ms", service="25ms") == []  # a constant 25 ms: its p99 is 25 ms
    assert _visibility("visibility_timeout: 30ms", sync=True) == []  # no broker: no visibility timeout
    # where a late delete fails, a job that outlives the timeout is never deleted: error-level
    # without max_receives, a plain warning with one
    for queue in ("kind: fifo, visibility_timeout: 30ms", "visibility_timeout: 30ms, stale_receipts: ignored"):
        (forever,) = _visibility(queue)
        assert is_error(forever) and "can be redone for ever; set max_receives" in forever
        (bounded,) = _visibility(queue + ", max_receives: 4")
        assert not is_error(bounded) and "dead-lettered after 4 receives" in bounded


# --- error locations and messages --------------------------------------------------------------


def test_worker_count_zero_is_reported_exactly() -> None:
    # The reference example: count on line 14.
    text = "duration: 1m\nproducers:\n  web: {to: orders, rate: 1}\nqueues:\n  orders: {broker: redis}\n" + "\n" * 5
    text += "workers:\n  fulfil:\n    from: orders\n    count: 0\n    service: 1ms\n"
    assert text.splitlines()[13] == "    count: 0"
    (problem,) = parse_problems(text)
    assert str(problem) == "scenarios/x.yaml:14: workers.fulfil.count: must be ≥ 1"
    assert problem == Problem(SOURCE, 14, "workers.fulfil.count", "must be ≥ 1")


def parse_problems(text: str, overrides: tuple[str, ...] = ()) -> list[Problem]:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, SOURCE, overrides)
    return caught.value.problems


def test_unknown_keys_get_did_you_mean() -> None:
    text = edit(BASE, "capacity: 5000", "capcity: 5000")
    assert problems_of(text) == [f"{SOURCE}:12: queues.orders.capcity: unknown key 'capcity' (did you mean 'capacity'?)"]
    text = edit(BASE, "    from: orders\n", "    form: orders\n")
    assert problems_of(text) == [
        f"{SOURCE}:14: workers.fulfil.from: required",
        f"{SOURCE}:15: workers.fulfil.form: unknown key 'form' (did you mean 'from'?)",
    ]
    text = edit(BASE, "warmup: 1m", "warmpu: 1m")
    assert problems_of(text) == [f"{SOURCE}:4: warmpu: unknown key 'warmpu' (did you mean 'warmup'?)"]
    text = edit(BASE, "warmup: 1m", "zzzz: 1m")
    (only,) = problems_of(text)
    assert only.startswith(f"{SOURCE}:4: zzzz: unknown key 'zzzz'; allowed keys: name, seed, duration")


def test_sqs_only_field_on_a_redis_queue() -> None:
    text = edit(BASE, "broker: sqs", "broker: redis")
    text = edit(text, "    capacity: 5000\n", "    capacity: 5000\n    visibility_timeout: 30s\n")
    assert problems_of(text) == [
        # Celery's Redis transport has a visibility timeout of its own (mode: celery)
        f"{SOURCE}:13: queues.orders.visibility_timeout: is Celery's Redis transport option (mode: celery); "
        "a reliable list has `reclaim_after`, a stream `min_idle`"
    ]


def test_parameter_of_another_distribution() -> None:
    text = edit(BASE, "mean: 8ms}", "mean: 8ms, cv: 2}")
    assert problems_of(text) == [
        f"{SOURCE}:17: workers.fulfil.service.cv: unknown key 'cv' for dist exponential: cv is lognormal/gamma/weibull-only"
    ]


def test_discriminator_errors_point_at_the_tag() -> None:
    assert problems_of(edit(BASE, "broker: sqs", "broker: kafka")) == [
        f"{SOURCE}:11: queues.orders.broker: must be one of: redis, sqs, rabbitmq (got 'kafka')"
    ]
    assert problems_of(edit(BASE, "broker: sqs", "broker: reddis")) == [
        f"{SOURCE}:11: queues.orders.broker: must be one of: redis, sqs, rabbitmq (got 'reddis'; did you mean 'redis'?)"
    ]
    # A missing key is reported at its parent's line.
    assert problems_of(edit(BASE, "    broker: sqs\n", "")) == [f"{SOURCE}:10: queues.orders.broker: required: one of redis, sqs, rabbitmq"]
    assert problems_of(edit(BASE, "dist: exponential", "dist: expo")) == [
        f"{SOURCE}:17: workers.fulfil.service.dist: must be one of: exponential, constant, uniform, lognormal, gamma, empirical, weibull "
        "(got 'expo'; did you mean 'exponential'?)"
    ]


def test_literal_errors_list_the_choices() -> None:
    text = edit(BASE, "    rate: 900/s\n", "    rate: 900/s\n    retry: {jitter: ful}\n")
    assert problems_of(text) == [
        f"{SOURCE}:9: producers.web.retry.jitter: must be one of: none, full, equal, decorrelated (got 'ful'; did you mean 'full'?)"
    ]


def test_field_paths_strip_tags_and_shorthand_expansion() -> None:
    assert problems_of(edit(BASE, "mean: 8ms}", "mean: -8ms}")) == [
        f"{SOURCE}:17: workers.fulfil.service.mean: duration must be ≥ 0, got '-8ms'"
    ]
    assert problems_of(edit(BASE, "{dist: exponential, mean: 8ms}", "abc")) == [
        f"{SOURCE}:17: workers.fulfil.service: expected a duration like 250ms, 1.5s, 10m or a number of seconds, got 'abc'"
    ]
    samples = edit(BASE, "{dist: exponential, mean: 8ms}", "\n      dist: empirical\n      samples:\n        - 1ms\n        - x\n")
    assert problems_of(samples) == [
        f"{SOURCE}:21: workers.fulfil.service.samples.1: expected a duration like 250ms, 1.5s, 10m or a number of seconds, got 'x'"
    ]


def test_missing_required_keys() -> None:
    assert problems_of(edit(BASE, "duration: 10m\n", "")) == [f"{SOURCE}: duration: required"]
    assert problems_of(edit(BASE, "    service: {dist: exponential, mean: 8ms}\n", "")) == [
        f"{SOURCE}:14: workers.fulfil.service: required"
    ]


def test_type_errors_are_friendly() -> None:
    assert problems_of(edit(BASE, "count: 8", "count: yes")) == [f"{SOURCE}:16: workers.fulfil.count: must be an integer, got true"]
    assert problems_of(edit(BASE, "count: 8", "count: 2.5")) == [f"{SOURCE}:16: workers.fulfil.count: must be a whole number, got 2.5"]
    assert problems_of(edit(BASE, "count: 8", "count: many")) == [f"{SOURCE}:16: workers.fulfil.count: must be an integer, got 'many'"]
    assert problems_of(edit(BASE, "capacity: 5000", "capacity: -1")) == [f"{SOURCE}:12: queues.orders.capacity: must be ≥ 0"]
    assert problems_of(edit(BASE, "{dist: exponential, mean: 8ms}", "[1, 2]")) == [
        f"{SOURCE}:17: workers.fulfil.service: must be a mapping (key: value), got a list"
    ]
    text = edit(BASE, "  web:\n    to: orders\n    rate: 900/s\n", "")
    assert problems_of(text) == [f"{SOURCE}:5: producers: must be a mapping (key: value), got nothing (null)"]
    text = edit(BASE, "producers:\n  web:\n    to: orders\n    rate: 900/s\n", "producers: {}\n")
    assert problems_of(text) == [f"{SOURCE}:5: producers: must have at least one entry"]


def test_names_must_be_addressable() -> None:
    text = BASE + "  bad.name:\n    from: orders\n    count: 1\n    service: 1ms\n"
    assert problems_of(text) == [
        f"{SOURCE}:18: workers.bad.name: invalid name 'bad.name': use letters, digits, '_' and '-' (no dots or spaces)"
    ]


def test_several_problems_are_reported_together_sorted_by_line() -> None:
    text = edit(BASE, "count: 8", "count: 0")
    text = edit(text, "capacity: 5000", "capcity: 5000")
    text = edit(text, "    to: orders\n", "    to: ordres\n")
    text = edit(text, "warmup: 1m", "warmup: -1m")
    assert problems_of(text) == [
        f"{SOURCE}:4: warmup: duration must be ≥ 0, got '-1m'",
        f"{SOURCE}:7: producers.web.to: unknown queue 'ordres' (did you mean 'orders'?)",
        f"{SOURCE}:12: queues.orders.capcity: unknown key 'capcity' (did you mean 'capacity'?)",
        f"{SOURCE}:16: workers.fulfil.count: must be ≥ 1",
    ]


def test_duplicate_keys_are_problems() -> None:
    assert problems_of(edit(BASE, "    count: 8\n", "    count: 8\n    count: 9\n")) == [
        f"{SOURCE}:17: workers.fulfil.count: duplicate key 'count' (first written on line 16)"
    ]


def test_merge_keys_resolve_without_false_duplicates() -> None:
    text = """\
duration: 1m
producers:
  web: {to: orders, rate: 1}
queues:
  orders: &q {broker: redis, capacity: 3}
  other:
    <<: *q
    capacity: 4
workers:
  a: {from: orders, count: 1, service: 1ms}
  b: {from: other, count: 1, service: 1ms}
"""
    s = parse_scenario(text)
    assert s.queues["other"].capacity == 4
    bad = edit(text, "    capacity: 4\n", "    capacity: 4\n    capcity: 1\n")
    assert problems_of(bad) == [f"{SOURCE}:9: queues.other.capcity: unknown key 'capcity' (did you mean 'capacity'?)"]


def test_yaml_syntax_error_has_its_line() -> None:
    (problem,) = parse_problems(edit(BASE, "    count: 8\n", "    count: [8\n"))
    assert problem.source == SOURCE and problem.line == 17 and problem.message.startswith("invalid YAML: ")
    (problem,) = parse_problems(edit(BASE, "  web:\n", "  web:\n\tto: x\n"))
    assert problem.line == 7 and "invalid YAML" in problem.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the scenario is empty; expected a mapping with duration, producers, queues and workers"),
        ("# only a comment\n", "the scenario is empty; expected a mapping with duration, producers, queues and workers"),
        ("- a\n- b\n", "expected a mapping with duration, producers, queues and workers at the top level, got a list"),
        ("42\n", "expected a mapping with duration, producers, queues and workers at the top level, got int 42"),
    ],
)
def test_documents_that_are_not_scenarios(text: str, message: str) -> None:
    assert parse_problems(text) == [Problem(SOURCE, None, "", message)]


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tmp_path / "nope.yaml")
    assert caught.value.problems == [Problem(str(tmp_path / "nope.yaml"), None, "", "no such file")]
    with pytest.raises(ScenarioError, match="directory"):
        load_scenario(tmp_path)


def test_load_scenario_reports_the_path_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("scenarios").mkdir()
    Path("scenarios/x.yaml").write_text(edit(BASE, "count: 8", "count: 0"))
    with pytest.raises(ScenarioError) as caught:
        load_scenario("scenarios/x.yaml")
    assert str(caught.value) == "scenarios/x.yaml:16: workers.fulfil.count: must be ≥ 1"


@pytest.mark.parametrize(
    "text",
    [
        "[",
        "duration: [",
        "producers: 5\nqueues: []\nworkers: x\nduration: 1\n",
        "duration: 1\nproducers: {p: 5}\nqueues: {q: 5}\nworkers: {w: {from: [1]}}\n",
        "duration: 1\nproducers: {p: {to: [q]}}\nqueues: {q: {broker: [1]}}\nworkers: {w: null}\n",
        "? [a, b]\n: 1\n",
        "a: &x [*x]\n",
        "duration: 1\n1: 2\nnull: 3\n",
        "--- 1\n--- 2\n",
        "duration: !!python/object:os.system x\n",
    ],
)
def test_garbage_always_becomes_a_scenario_error(text: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, SOURCE)
    assert caught.value.problems and all(p.source == SOURCE for p in caught.value.problems)


# --- overrides ---------------------------------------------------------------------------------


def test_override_sets_a_new_value() -> None:
    s = parse_scenario(BASE, SOURCE, ["workers.fulfil.count=12", "queues.orders.capacity=", "name=other"])
    assert s.workers["fulfil"].count == 12 and s.queues["orders"].capacity is None and s.name == "other"


def test_override_with_a_flow_mapping_and_new_entries() -> None:
    s = parse_scenario(
        BASE,
        SOURCE,
        [
            "workers.fulfil.service={dist: constant, value: 5ms}",
            "producers.batch.to=orders",
            "producers.batch.interarrival=1s",
            "producers.web.retry.attempts=3",
        ],
    )
    assert s.workers["fulfil"].service == Constant(value=0.005)
    assert s.producers["batch"].mean_rate == 1.0
    assert s.producers["web"].retry.attempts == 3


def test_override_problems_have_source_set() -> None:
    problems = parse_problems(
        BASE,
        (
            "garbage",
            "workers.fulfil.count=0",
            "workrs.fulfil.count=3",
            "queues.orders.capacity.x=3",
            "workers.fulfil.service={dist: gamma, mean: 5ms}",
            "producers.web.rate={",
        ),
    )
    assert [str(p) for p in problems] == [
        "--set: expected path=value, like workers.fulfil.count=12, got 'garbage'",
        "--set: queues.orders.capacity.x: queues.orders.capacity is 5000, not a mapping, so it has no key 'x'",
        "--set: producers.web.rate: cannot read value '{' as YAML: expected the node content, but found '<stream end>'",
        "--set: workers.fulfil.count: must be ≥ 1",
        "--set: workers.fulfil.service.cv: required",
        "--set: workrs: unknown key 'workrs' (did you mean 'workers'?)",
    ]
    assert all(p.line is None for p in problems)


def test_override_errors_and_file_errors_together() -> None:
    problems = problems_of(edit(BASE, "capacity: 5000", "capacity: -5"), ("workers.fulfil.count=0",))
    assert problems == [f"{SOURCE}:12: queues.orders.capacity: must be ≥ 0", "--set: workers.fulfil.count: must be ≥ 1"]


def test_apply_overrides_copies_and_raises() -> None:
    data = {"workers": {"w": {"count": 1}}}
    assert apply_overrides(data, ["workers.w.count=2", "a.b=[1, 2]"]) == {"workers": {"w": {"count": 2}}, "a": {"b": [1, 2]}}
    assert data == {"workers": {"w": {"count": 1}}}
    assert apply_overrides({"s": [1, 2]}, ["s.1=5"]) == {"s": [1, 5]}
    with pytest.raises(ScenarioError) as caught:
        apply_overrides(data, ["no-equals", "a..b=1"])
    assert [p.source for p in caught.value.problems] == ["--set", "--set"]


def test_with_overrides_and_scenario_from_dict() -> None:
    s = parse_scenario(BASE)
    t = with_overrides(s, ["producers.web.rate=1200/s"])
    assert t.producers["web"].rate == 1200.0 and s.producers["web"].rate == 900.0
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict({"duration": "1m"})
    assert [str(p) for p in caught.value.problems] == [
        "<dict>: producers: required",
        "<dict>: queues: required",
        "<dict>: workers: required",
    ]


# --- the package -------------------------------------------------------------------------------


def test_public_api() -> None:
    assert set(scenario_pkg.__all__) >= {
        "Scenario",
        "Producer",
        "RetryPolicy",
        "RedisQueue",
        "SqsQueue",
        "Queue",
        "WorkerPool",
        "Distribution",
        "Exponential",
        "Constant",
        "Uniform",
        "Lognormal",
        "Gamma",
        "Empirical",
        "load_scenario",
        "parse_scenario",
        "scenario_from_dict",
        "parse_duration",
        "parse_rate",
        "format_duration",
    }
    assert all(hasattr(scenario_pkg, name) for name in scenario_pkg.__all__)
    assert isinstance(Scenario, type)


def test_scenario_imports_neither_simpy_nor_pandas() -> None:
    # Stand in for queuesim/__init__.py, which imports the simulator: only this package's own imports count.
    package = Path(__file__).resolve().parents[2] / "queuesim"
    code = (
        f"import sys, types; stub = types.ModuleType('queuesim'); stub.__path__ = [{str(package)!r}]; "
        "sys.modules['queuesim'] = stub; import queuesim.scenario; "
        "bad = {'simpy', 'pandas'} & set(sys.modules); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


@pytest.mark.parametrize("cv", [0.01, 0.25, 1.0, 1.7, 100.0])
def test_weibull_shape_reproduces_the_cv(cv: float) -> None:
    w = Weibull(mean="20ms", cv=cv)
    # Weibull moments from the shape and scale: E = λΓ(1+1/k), E[X²] = λ²Γ(1+2/k)
    mean = w.scale * math.gamma(1 + 1 / w.shape)
    second = w.scale**2 * math.gamma(1 + 2 / w.shape)
    assert mean == pytest.approx(0.02, rel=1e-12)
    assert math.sqrt(second - mean**2) / mean == pytest.approx(cv, rel=1e-9)
    assert str(w) == f"weibull(mean=20ms, cv={cv:g})"


def test_weibull_with_cv_one_is_the_exponential() -> None:
    w = TypeAdapter(Distribution).validate_python({"dist": "weibull", "mean": "8ms", "cv": 1})
    assert isinstance(w, Weibull) and w.shape == pytest.approx(1.0, rel=1e-12) and w.scale == pytest.approx(0.008)
    with pytest.raises(ValueError):
        Weibull(mean=0.008, cv=0.001)  # beyond the shapes the bisection searches
