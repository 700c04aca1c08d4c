"""The figure catalogue: every figure of summary.json has one entry, read from the typed structure, and every layer names, finds and formats figures through it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, NotRequired, TypedDict, get_args, get_origin, get_type_hints, is_typeddict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from queuesim import figures, parse_scenario, run
from queuesim.experiment.executors import SerialExecutor
from queuesim.experiment.slo import parse_slo
from queuesim.figures import CATALOGUE, FigureSpec, find, format_figure, limit_spec, spec, summary_value
from queuesim.metrics.stats import describe
from queuesim.scenario import parse_rate

# Two stages (two queues, two pools) and a client that waits for its result, so every kind of
# figure has a value: per-name patterns resolve for several names and response latency exists;
# the client's circuit breaker gives the per-producer `breakers` block an entry, and the scheduled
# `ship` pool the elastic figures (count_mean, worker_seconds…) that fixed pools leave out.
PIPELINE = """\
name: pipeline
duration: 6s
warmup: 1s
producers:
  web:
    to: orders
    rate: 150/s
    await_result: true
    result_latency: {dist: constant, value: 2ms}
    breaker: {consecutive_failures: 5}
queues:
  orders: {broker: sqs, capacity: 100}
  shipping: {broker: redis, capacity: 50}
workers:
  fulfil: {from: orders, count: 3, service: {dist: exponential, mean: 10ms}, to: shipping}
  ship: {from: shipping, count: [{until: 3s, count: 2}, {count: 3}], service: {dist: exponential, mean: 5ms}}
"""


@pytest.fixture(scope="module")
def summary() -> Mapping[str, Any]:
    return run(parse_scenario(PIPELINE), executor=SerialExecutor()).summary


def _leaves(node: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Dotted path and value of every leaf, not descending into what the catalogue calls text."""
    out: list[tuple[str, Any]] = []
    for key, value in node.items():
        path = f"{prefix}{key}"
        entry = find(path)
        if isinstance(value, Mapping) and not (entry is not None and entry.kind == "text"):
            out += _leaves(value, f"{path}.")
        else:
            out.append((path, value))
    return out


def test_every_leaf_of_a_real_summary_has_an_entry_of_its_type(summary: Mapping[str, Any]) -> None:
    leaves = _leaves(summary)
    assert len(leaves) > 100
    for path, value in leaves:
        entry = find(path)
        assert entry is not None, f"{path} is in summary.json but not in the catalogue"
        if entry.kind == "count":
            assert isinstance(value, int) and not isinstance(value, bool), path
        elif entry.kind != "text":
            assert value is None or isinstance(value, int | float), path
    # a figure without a value is None, never missing: no client-less response here, but no NaN either
    assert summary["latency"]["response"]["count"] > 0


def _concrete(pattern: str, node: Any, prefix: str = "") -> list[str]:
    """Every concrete path of ``pattern`` in a summary: a placeholder takes each key found there.

    A key the structure marks NotRequired (an elastic pool's figures) is left out where it is absent.
    """
    head, _, rest = pattern.partition(".")
    keys = list(node) if head.startswith("<") else [head]
    assert keys, f"nothing in the summary at {prefix}{head}"
    out = []
    for key in keys:
        path = f"{prefix}{key}"
        if key not in node:
            continue
        out += _concrete(rest, node[key], f"{path}.") if rest else [path]
    return out


def test_every_entry_appears_in_a_real_summary(summary: Mapping[str, Any]) -> None:
    for entry in CATALOGUE:
        if entry.path in ("precision", "slo"):  # only a precision-driven run, a run with limits (below) has them
            continue
        paths = _concrete(entry.path, summary)
        assert paths, f"the catalogue names {entry.path}, which no part of the run has"
        for path in paths:
            summary_value(summary, path)
    # the optional figures are where they belong and nowhere else
    assert "count_mean" in summary["workers"]["ship"] and "count_mean" not in summary["workers"]["fulfil"]
    assert _concrete("queues.<name>.mean_wait", summary) == ["queues.orders.mean_wait", "queues.shipping.mean_wait"]


def _check_order(structure: Any, node: Mapping[str, Any], where: str) -> None:
    hints = {k: v for k, v in get_type_hints(structure).items() if k in node}
    assert list(hints) == list(node), f"{where}: the structure lists the keys in another order than summary.json"
    # __required_keys__ cannot see NotRequired through postponed annotations: read the hints themselves
    extras = get_type_hints(structure, include_extras=True)
    missing = {k for k, h in extras.items() if get_origin(h) is not NotRequired} - set(node)
    assert not missing, f"{where}: summary.json lacks the required {sorted(missing)}"
    for key, hint in hints.items():
        if is_typeddict(hint):
            _check_order(hint, node[key], f"{where}.{key}")
        elif get_origin(hint) is dict and is_typeddict(get_args(hint)[1]):
            for name, value in node[key].items():
                _check_order(get_args(hint)[1], value, f"{where}.{key}.{name}")


def test_the_typed_structure_is_summary_json_in_file_order(summary: Mapping[str, Any]) -> None:
    _check_order(figures.Summary, summary, "summary")


def test_a_run_with_limits_and_a_precision_rule_keeps_both_blocks_in_file_order() -> None:
    result = run(parse_scenario(PIPELINE), slo=["latency.response.p99=1s", "rates.loss=0"], precision="50%",
                 max_replications=3, executor=SerialExecutor())
    s = result.summary
    _check_order(figures.Summary, s, "summary")
    assert list(s)[-2:] == ["precision", "slo"]
    assert s["slo"] == result.verdicts().to_dict()  # type: ignore[union-attr]
    assert [c["path"] for c in s["slo"]["checks"]] == ["latency.response.p99", "rates.loss"]


def test_the_intervals_are_those_of_the_entries_marked_ci(summary: Mapping[str, Any]) -> None:
    # every mean and percentile of every latency kind, every rate but base_load, and per queue and
    # per pool the figures an SLO limits (but maxima, which have no interval), in file order
    latency = [f"latency.{k}.{s}" for k in figures.LATENCY_KINDS for s in figures.LATENCY_STATS if s != "max"]
    rates = [s.path for s in CATALOGUE if s.ci and s.path.startswith("rates.")]
    assert "rates.base_load" not in rates and len(rates) == 8  # short_circuited too (issue 13)
    per_name = [f"queues.{q}.{f}" for q in ("orders", "shipping") for f in ("mean_depth", "mean_wait")]
    per_name += [f"workers.{w}.utilization" for w in ("fulfil", "ship")]
    assert list(summary["ci95"]) == [*rates, *latency, *per_name]
    assert {find(p) for p in summary["ci95"]} == {s for s in CATALOGUE if s.ci}
    assert not spec("latency.end_to_end.max").ci and not spec("queues.orders.max_depth").ci
    # each interval contains its figure (sectioning and the log-scale batch means are centred on it)
    for path, ci in summary["ci95"].items():
        value = summary_value(summary, path)
        if ci is not None and value is not None:
            assert ci[0] <= value * (1 + 1e-12) and value <= ci[1] * (1 + 1e-12), (path, ci, value)
    assert summary["ci_method"] == "batch_means"


def test_percentiles_and_latency_kinds_are_defined_once() -> None:
    assert figures.PERCENTILES == {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}
    assert figures.LATENCY_STATS == ("mean", "p50", "p90", "p95", "p99", "p999", "max")
    assert figures.LATENCY_KINDS == ("end_to_end", "queue_wait", "service", "ack", "response")
    # the quantile is the decimal as written, not 99.9 / 100 (0.9990000000000001)
    assert figures.quantile("p999") == 0.999 and figures.quantile("p50") == 0.5
    assert figures.quantile("max") is None and figures.quantile("mean") is None
    assert [figures.stat_label(s) for s in ("p999", "p99", "max")] == ["p99.9", "p99", "max"]
    assert list(describe(np.array([1.0, 2.0, 3.0]))) == list(get_type_hints(figures.LatencyStats))
    assert figures.latency_parts("latency.queue_wait.p999") == ("queue_wait", "p999")
    assert figures.latency_parts("latency.queue_wait.count") is None  # a count, not a latency
    assert figures.latency_parts("rates.loss") is None


def test_lookup_by_path_and_pattern() -> None:
    assert find("queues.orders.mean_wait") == find("queues.shipping.mean_wait")
    assert spec("queues.orders.mean_wait").path == "queues.<name>.mean_wait"
    assert spec("queues.orders.losses.overflow").kind == "count"
    assert spec("rates.throughput").better == "higher" and not spec("rates.throughput").limit
    assert find("queues.orders") is None and find("queues..mean_wait") is None
    assert {"queuesim_version", "scenario", "source", "ci95", "ci_method", "faults", "warnings",
            "diagnosis", "precision", "slo"} == figures.METADATA_KEYS


def test_unknown_paths_give_a_did_you_mean() -> None:
    with pytest.raises(ValueError, match=r"^unknown summary path 'latency.end_to_end.p98' \(did you mean 'latency.end_to_end.p99'\?\)$"):
        spec("latency.end_to_end.p98")
    with pytest.raises(KeyError, match=r"rates has no 'rejections' \(did you mean 'rejection'\?\)"):
        summary_value({"rates": {"rejection": 0.0}}, "rates.rejections")
    assert figures.value_or_none({"rates": {}}, "rates.rejection") is None


@pytest.mark.parametrize(("path", "message"), [
    ("rates.throughput", "rates.throughput is better when higher; an SLO is an upper limit (see `plan` for capacity)"),
    ("latency.end2end.p99", "unknown summary path 'latency.end2end.p99' (did you mean 'latency.end_to_end.p99'?)"),
    ("workers.fulfil.utilisation", "unknown summary path 'workers.fulfil.utilisation' (did you mean 'utilization'?)"),
    ("queues.orders.xyz", "unknown summary path 'queues.orders.xyz'; queues.<name>. takes mean_depth, max_depth, mean_wait"),
    ("messages.lost", "unknown summary path 'messages.lost' (did you mean 'rates.loss'?)"),  # a count grows with the run
    ("replications", "unknown summary path 'replications'; limits go on latency.<kind>.<stat>, rates.<rate>, "
                     "queues.<name>.<figure>, workers.<name>.utilization or producers.<name>.latency.<kind>.<stat>"),
])
def test_only_figures_better_low_take_a_limit(path: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        limit_spec(path)
    assert str(info.value) == message


def test_a_limit_needs_a_figure_that_is_better_low() -> None:
    with pytest.raises(ValueError, match="only a figure better low may carry one"):
        FigureSpec("rates.throughput", "rate", "completed per second", better="higher", limit=True)


@pytest.mark.parametrize(("kind", "value", "style", "options", "text"), [
    # compact: as --slo and the plan's table write a figure (it parses back)
    ("duration", 0.25, "compact", {}, "250ms"),
    ("duration", 90.0, "compact", {}, "1.5m"),
    ("fraction", 0.001, "compact", {}, "0.1%"),
    ("fraction", 0.0, "compact", {}, "0"),
    ("count", 12.0, "compact", {}, "12"),
    ("number", 2.5, "compact", {}, "2.5"),
    ("rate", 900.0, "compact", {}, "900/s"),
    ("duration", None, "compact", {}, "—"),
    # report: three significant digits in a readable unit
    ("duration", 0.0123, "report", {}, "12.3 ms"),
    ("duration", 1234.0, "report", {}, "1,234 s"),
    ("fraction", 0.0, "report", {}, "0%"),
    ("fraction", 0.00123, "report", {}, "0.123%"),
    ("rate", 1234.5, "report", {}, "1,234.5/s"),
    ("rate", 5.0, "report", {}, "5/s"),
    ("count", 12345.4, "report", {}, "12,345"),
    ("number", 2.0221, "report", {}, "2.02"),
    ("number", 1500.2, "report", {}, "1,500"),
    # a value that rounds up to the next unit is written in it, never as 1e+03 (issue 9: "max 1e+03 ms")
    ("duration", 0.9998, "report", {}, "1 s"),
    ("duration", 0.9994, "report", {}, "999 ms"),
    ("number", 999.7, "report", {}, "1,000"),
    ("rate", float("nan"), "report", {}, "—"),
    # terminal: the CLI tables' fixed decimals
    ("duration", 0.0123, "terminal", {}, "12.3 ms"),
    ("duration", 1.5, "terminal", {}, "1.500 s"),
    ("fraction", 0.00123, "terminal", {}, "0.123%"),
    ("fraction", 0.903, "terminal", {"decimals": 1}, "90.3%"),
    ("rate", 799.531, "terminal", {}, "799.53 /s"),
    ("rate", 799.531, "terminal", {"decimals": 1, "unit": False}, "799.5"),
    ("count", 56023, "terminal", {}, "56,023"),
    ("number", 8.781, "terminal", {}, "8.78"),
    ("count", None, "terminal", {}, "—"),
    ("text", "batch_means", "report", {}, "batch_means"),
])
def test_formats_are_those_the_cli_and_reports_print(kind: figures.Kind, value: Any, style: figures.Style,
                                                     options: dict[str, Any], text: str) -> None:
    assert format_figure(kind, value, style, **options) == text


LIMITED = {kind: next(s for s in CATALOGUE if s.limit and s.kind == kind) for kind in ("duration", "fraction", "count", "number")}


def _concrete_path(entry: FigureSpec) -> str:
    return entry.path.replace("<name>", "orders")


@given(seconds=st.floats(min_value=1e-6, max_value=1e5))
def test_a_compact_duration_limit_parses_back(seconds: float) -> None:
    path = _concrete_path(LIMITED["duration"])
    assert parse_slo([f"{path}={spec(path).format(seconds)}"]).limits[path] == pytest.approx(seconds, rel=1e-3)


@given(fraction=st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=1.0)))
def test_a_compact_fraction_limit_parses_back(fraction: float) -> None:
    path = _concrete_path(LIMITED["fraction"])
    assert parse_slo([f"{path}={spec(path).format(fraction)}"]).limits[path] == pytest.approx(fraction, rel=5e-3)


# below 10⁴: four significant digits print larger counts as 1e+04, which YAML reads as text
@given(count=st.integers(min_value=0, max_value=9999), kind=st.sampled_from(["count", "number"]))
def test_a_compact_count_limit_parses_back(count: int, kind: str) -> None:
    path = _concrete_path(LIMITED[kind])
    assert parse_slo([f"{path}={spec(path).format(count)}"]).limits[path] == count


@given(per_second=st.floats(min_value=1e-3, max_value=1e7))
def test_a_compact_rate_parses_back(per_second: float) -> None:
    assert parse_rate(format_figure("rate", per_second)) == pytest.approx(per_second, rel=1e-3)


class _WithNewFigure(figures.Summary):
    """summary.json with one more figure, written as a contributor adds one: an annotated field."""

    oldest_wait: Annotated[float | None, FigureSpec("", "duration", "age of the oldest waiting message", better="lower", limit=True)]


class _Unannotated(TypedDict):
    oldest_wait: float | None


def test_adding_a_figure_is_one_annotated_field() -> None:
    entries = figures.catalogue_of(_WithNewFigure)
    assert entries[:-1] == CATALOGUE
    assert entries[-1] == FigureSpec("oldest_wait", "duration", "age of the oldest waiting message", better="lower", limit=True)
    with pytest.raises(TypeError, match="summary field oldest_wait has no catalogue entry"):
        figures.catalogue_of(_Unannotated)
