"""SLOs: limits keyed by summary.json paths, parsed with located errors, and checked against runs."""

from __future__ import annotations

import textwrap

import pytest
from queuesim import ScenarioError, parse_scenario, run
from queuesim.experiment.executors import SerialExecutor
from queuesim.experiment.slo import Slo, check_slo, merge_slo, parse_slo
from queuesim.figures import CATALOGUE, LATENCY_KINDS, LATENCY_STATS, format_figure, summary_value

# the SLO vocabulary is the catalogue's: the figures that may carry a limit
LIMITABLE_RATES = tuple(s.path.split(".")[1] for s in CATALOGUE if s.limit and s.path.startswith("rates."))
QUEUE_FIGURES = tuple(s.path.split(".")[2] for s in CATALOGUE if s.limit and s.path.startswith("queues.<name>."))
POOL_FIGURES = tuple(s.path.split(".")[2] for s in CATALOGUE if s.limit and s.path.startswith("workers.<name>."))

BASE = """\
name: s
duration: 4s
warmup: 1s
producers:
  web: {to: orders, rate: 200/s}
queues:
  orders: {broker: redis, capacity: 50}
workers:
  fulfil: {from: orders, count: 3, service: {dist: exponential, mean: 10ms}}
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source="s.yaml")
    return [str(p) for p in info.value.problems]


def test_limits_are_held_in_summary_units() -> None:
    slo = parse_slo({"latency.end_to_end.p99": "500ms", "rates.rejection": "0.1%", "rates.loss": 0,
                     "queues.orders.max_depth": 40, "workers.fulfil.utilization": 0.8})
    assert slo.limits == {"latency.end_to_end.p99": 0.5, "rates.rejection": 0.001, "rates.loss": 0.0,
                          "queues.orders.max_depth": 40.0, "workers.fulfil.utilization": 0.8}
    assert parse_slo(["latency.queue_wait.mean=20ms", "rates.gave_up=0.01"]).limits == {
        "latency.queue_wait.mean": 0.02, "rates.gave_up": 0.01}


def test_slo_section_in_a_scenario() -> None:
    s = parse_scenario(BASE + "slo: {latency.end_to_end.p99: 250ms, rates.rejection: 0.001}\n")
    assert isinstance(s.slo, Slo) and s.slo.limits == {"latency.end_to_end.p99": 0.25, "rates.rejection": 0.001}
    assert parse_scenario(BASE).slo is None  # the section is optional: every existing scenario stays valid


def test_slo_errors_have_file_line_and_did_you_mean() -> None:
    problems = _problems(BASE + textwrap.dedent("""\
        slo:
          latency.end2end.p99: 500ms
          latency.end_to_end.p99: 5/s
          rates.rejection: 50ms
          rates.loss: 2
          rates.throughput: 100
          queues.ordrs.mean_wait: 1s
          workers.fulfil.utilisation: 0.5
        """))
    assert problems == [
        "s.yaml:11: slo.latency.end2end.p99: unknown summary path 'latency.end2end.p99' (did you mean 'latency.end_to_end.p99'?)",
        "s.yaml:12: slo.latency.end_to_end.p99: latency.end_to_end.p99 is a latency: give a duration like 500ms, got '5/s'",
        "s.yaml:13: slo.rates.rejection: rates.rejection is a fraction (write 0.001 or 0.1%), not a duration",
        "s.yaml:14: slo.rates.loss: must be between 0 and 1 (a fraction: 0.001 or 0.1%), got 2",
        "s.yaml:15: slo.rates.throughput: rates.throughput is better when higher; an SLO is an upper limit (see `plan` for capacity)",
        "s.yaml:17: slo.workers.fulfil.utilisation: unknown summary path 'workers.fulfil.utilisation' (did you mean 'utilization'?)",
    ]
    # Names are checked against the scenario once its fields are valid.
    assert _problems(BASE + "slo: {queues.ordrs.mean_wait: 1s}\n") == [
        "s.yaml:10: slo.queues.ordrs.mean_wait: unknown queue 'ordrs' (did you mean 'orders'?)"
    ]


def test_parse_slo_strings_report_the_option() -> None:
    s = parse_scenario(BASE)
    with pytest.raises(ScenarioError) as info:
        parse_slo(["latency.end_to_end.p99=fast", "workers.fulfl.utilization=0.5", "nonsense"], s)
    assert [str(p) for p in info.value.problems] == [
        "--slo: expected path=limit, like latency.end_to_end.p99=500ms, got 'nonsense'",
        "--slo: latency.end_to_end.p99: expected a duration like 250ms, 1.5s, 10m or a number of seconds, got 'fast'",
    ]
    with pytest.raises(ScenarioError, match="unknown worker pool 'fulfl' \\(did you mean 'fulfil'\\?\\)"):
        parse_slo(["workers.fulfl.utilization=0.5"], s)


def test_merge_slo_adds_and_overrides_the_file() -> None:
    s = parse_scenario(BASE + "slo: {latency.end_to_end.p99: 250ms, rates.rejection: 0.001}\n")
    merged = merge_slo(s, ["latency.end_to_end.p99=1s"])
    assert merged is not None and merged.limits == {"latency.end_to_end.p99": 1.0, "rates.rejection": 0.001}
    assert merge_slo(parse_scenario(BASE)) is None


def test_check_slo_on_a_summary() -> None:
    summary = {
        "latency": {"end_to_end": {"p99": 0.4, "mean": 0.1}},
        "rates": {"rejection": 0.002, "loss": None},
        "ci95": {"latency.end_to_end.mean": [0.05, 0.15], "rates.rejection": [0.0015, 0.0025]},
    }
    report = check_slo(summary, {"latency.end_to_end.p99": "500ms", "rates.rejection": 0.001,
                                 "latency.end_to_end.mean": "0.2s", "rates.loss": 0})
    met = {c.path: c.met for c in report}
    assert met == {"latency.end_to_end.p99": True, "rates.rejection": False, "latency.end_to_end.mean": True, "rates.loss": False}
    assert not report.met and [c.path for c in report.failed] == ["rates.rejection", "rates.loss"]
    by_path = {c.path: c for c in report}
    assert by_path["rates.rejection"].clear_cut and by_path["latency.end_to_end.mean"].clear_cut
    assert not by_path["latency.end_to_end.p99"].clear_cut  # this summary gives the percentile no interval
    assert str(by_path["rates.rejection"]) == "rates.rejection = 0.2% > 0.1%: NOT met"
    assert report.to_dict()["met"] is False
    with pytest.raises(KeyError, match="did you mean 'rejection'"):
        summary_value(summary, "rates.rejections")


def test_format_figure() -> None:
    assert format_figure("duration", 0.25) == "250ms"
    assert format_figure("fraction", 0.001) == "0.1%"
    assert format_figure("fraction", 0.0) == "0"
    assert format_figure("count", 12.0) == "12"
    assert format_figure("duration", None) == "—"


def test_every_limitable_path_exists_in_a_real_summary() -> None:
    """The SLO vocabulary (scenario layer) must name figures summary.json really has."""
    scenario = parse_scenario(BASE)
    summary = run(scenario, executor=SerialExecutor()).summary
    paths = [f"latency.{k}.{s}" for k in LATENCY_KINDS for s in LATENCY_STATS]
    paths += [f"rates.{r}" for r in LIMITABLE_RATES]
    paths += [f"queues.orders.{f}" for f in QUEUE_FIGURES] + [f"workers.fulfil.{f}" for f in POOL_FIGURES]
    for path in paths:
        summary_value(summary, path)  # raises KeyError if missing
    # no client waits for results in BASE: response latency exists but has no value, and a limit
    # on a figure without a value is not met (the report says so rather than passing it silently)
    measured = [p for p in paths if summary_value(summary, p) is not None]
    assert set(paths) - set(measured) == {f"latency.response.{s}" for s in LATENCY_STATS}
    everything = check_slo(summary, {p: 1e9 if not p.startswith(("rates", "workers")) else 1 for p in measured})
    assert everything.met
    assert not check_slo(summary, {"latency.response.p99": 1e9}).met


def test_verdicts_come_from_the_interval() -> None:
    """met: the whole 95% interval at or below the limit; not met: wholly above; borderline: it contains the limit."""
    summary = {
        "latency": {"end_to_end": {"p99": 0.1992, "p999": 0.25, "max": 0.4, "mean": 0.05}},
        "rates": {"rejection": 0.0005, "loss": 0.0},
        "ci95": {"latency.end_to_end.p99": [0.190, 0.209], "latency.end_to_end.mean": [0.04, 0.06],
                 "rates.rejection": [0.0002, 0.0009], "rates.loss": [0.0, 0.0], "latency.end_to_end.p999": None},
    }
    report = check_slo(summary, {"latency.end_to_end.p99": "200ms", "latency.end_to_end.mean": "30ms",
                                 "rates.rejection": "0.1%", "rates.loss": 0, "latency.end_to_end.p999": "1s",
                                 "latency.end_to_end.max": "500ms"})
    verdicts = {c.path: c.verdict for c in report}
    assert verdicts == {
        "latency.end_to_end.p99": "borderline",  # 199.2 ms against 200 ms: the estimate is under, the interval is not
        "latency.end_to_end.mean": "not met",
        "rates.rejection": "met",
        "rates.loss": "met",  # nothing lost in any batch: [0, 0] is at the limit 0
        "latency.end_to_end.p999": "borderline",  # a percentile without an interval (too few samples): unsettled
        "latency.end_to_end.max": "met",  # a maximum has no interval: judged on its value
    }
    by_path = {c.path: c for c in report}
    assert by_path["latency.end_to_end.p99"].met  # the plain comparison stays what slo.met columns hold
    assert report.verdict == "not met" and not report.met
    assert str(by_path["latency.end_to_end.p99"]) == "latency.end_to_end.p99 = 199.2ms ≤ 200ms: borderline (95% CI 190ms … 209ms)"
    assert report.to_dict()["verdict"] == "not met" and report.to_dict()["checks"][0]["verdict"] == "borderline"
    assert check_slo(summary, {"rates.rejection": "0.1%"}).verdict == "met"
    # a percentile without an interval is at least every lower one: above the limit by p99's interval, p999 is not met
    [p999] = check_slo(summary, {"latency.end_to_end.p999": "150ms"}).checks
    assert p999.floor == 0.190 and p999.verdict == "not met"
    assert check_slo({"latency": {"end_to_end": {"p99": None}}, "ci95": {}}, {"latency.end_to_end.p99": "1s"}).verdict == "not met"


def test_the_report_judges_limits_as_the_experiments_do() -> None:
    from queuesim.report.slo_table import check_limits

    summary = {"latency": {"end_to_end": {"p99": 0.1992}}, "ci95": {"latency.end_to_end.p99": [0.19, 0.209]}}
    [check] = check_limits(summary, {"latency.end_to_end.p99": 0.2})
    assert check.verdict == "borderline" and check.borderline and not check.met
    assert check.verdict == check_slo(summary, {"latency.end_to_end.p99": 0.2}).verdict
