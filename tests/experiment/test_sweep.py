"""Sweeps: grid specs and their errors, the tidy table, identical results on every executor, Ctrl-C, cost and the CLI."""

from __future__ import annotations

import importlib
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from queuesim import ScenarioError, SweepResult, parse_scenario, sweep
from queuesim.cli import app
from queuesim.experiment.executors import QuietProcessPool, SerialExecutor, TaskFailed, open_executor, run_tasks
from queuesim.experiment.grid import make_points, parse_vary, point_seed, sweep_axes
from queuesim.experiment.sweep_table import flatten_summary
from queuesim.scenario.study import parse_axis
from typer.testing import CliRunner

sweep_run = importlib.import_module("queuesim.experiment.sweep")  # the module (queuesim.sweep is the function)
runner = CliRunner()

# Line numbers matter: the error tests below assert them.
BASE = """\
name: small
seed: 5
duration: 6s
warmup: 1s
replications: 2
producers:
  web: {to: orders, rate: 300/s}
queues:
  orders: {broker: redis, capacity: 100}
workers:
  fulfil: {from: orders, count: 4, service: {dist: exponential, mean: 10ms}}
"""


def small(extra: str = "", source: str = "s.yaml"):
    return parse_scenario(BASE + textwrap.dedent(extra), source=source)


# --- grid specs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "values", "settings"),
    [
        ("4..7", (4, 5, 6, 7), (4, 5, 6, 7)),
        ("4..16:4", (4, 8, 12, 16), (4, 8, 12, 16)),
        ("0.1..0.3:3", (0.1, 0.2, 0.3), (0.1, 0.2, 0.3)),
        ("200/s..2000/s:3", (200.0, 1100.0, 2000.0), ("200/s", "1100/s", "2000/s")),
        ("5ms..20ms:4", (0.005, 0.01, 0.015, 0.02), ("5ms", "10ms", "15ms", "20ms")),
        ("500ms..2s:4", (0.5, 1.0, 1.5, 2.0), ("500ms", "1000ms", "1500ms", "2000ms")),
        ("2,4,8", (2, 4, 8), (2, 4, 8)),
        ("5ms,10ms", (0.005, 0.01), ("5ms", "10ms")),
        ("redis,sqs", ("redis", "sqs"), ("redis", "sqs")),
        ("100,null", (100, None), (100, None)),
        ("[1, 2]", (1, 2), (1, 2)),
        ("7", (7,), (7,)),
    ],
)
def test_parse_axis(spec: str, values: tuple, settings: tuple) -> None:
    axis = parse_axis("p", spec)
    assert axis.values == values and axis.settings == settings and len(axis) == len(values)


def test_parse_axis_keeps_mappings_as_settings_and_text_as_values() -> None:
    axis = parse_axis("workers.fulfil.service", "[5ms, {dist: exponential, mean: 5ms}]")
    assert axis.kind == "other"
    assert axis.settings == ("5ms", {"dist": "exponential", "mean": "5ms"})
    assert axis.values == ("5ms", '{"dist": "exponential", "mean": "5ms"}')


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("16..4", "empty range '16..4': 16 is above 4 (write 4..16)"),
        ("4..16:0", "empty range '4..16:0': the count must be at least 1"),
        ("1s..2s", "give the number of values, e.g. 1s..2s:10"),
        ("1s..200/s:3", "starts with a duration and stops with a rate"),
        ("a..b", "cannot read 'a' in 'a..b'"),
        ("1..2:x", "count 'x' in '1..2:x' must be a whole number"),
        ("1..", "cannot read '1..' as a range"),
        ("5ms,5", "mixes durations and numbers"),
        ("1,2,2", "'2' is listed twice"),
        ("", "no values"),
        ("[]", "empty list"),
    ],
)
def test_parse_axis_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        parse_axis("p", spec)


def test_sweep_section_errors_have_file_line() -> None:
    with pytest.raises(ScenarioError) as info:
        small("""\
            sweep:
              vary:
                workers.fulfl.count: 4..16
                queues.orders.capacity: 16..4
            """)
    # Like every scenario-wide rule, paths are checked once each field is valid on its own.
    assert [str(p) for p in info.value.problems] == [
        "s.yaml:15: sweep.vary.queues.orders.capacity: empty range '16..4': 16 is above 4 (write 4..16)",
    ]
    with pytest.raises(ScenarioError) as info:
        small("sweep: {vary: {workers.fulfl.count: 4..16, queues.orders.capacity: '10,20'}}\n")
    assert [str(p) for p in info.value.problems] == [
        "s.yaml:12: sweep.vary.workers.fulfl.count: unknown path 'workers.fulfl.count': workers has no 'fulfl' (did you mean 'fulfil'?)",
    ]
    with pytest.raises(ScenarioError) as info:
        small("""\
            sweep:
              vary:
                producers.web.rate: 5ms..10ms:3
                warmup: 1s,10s
            """)
    assert [str(p) for p in info.value.problems] == [
        "s.yaml:14: sweep.vary.producers.web.rate: value 5ms: expected a rate like 900/s, 30/m, 2/h or a number per second, got '5ms'",
        "s.yaml:15: sweep.vary.warmup: value 10s: must be < duration (6s)",
    ]


def test_vary_errors_name_the_option() -> None:
    s = small()
    with pytest.raises(ScenarioError) as info:
        parse_vary(["workers.fulfl.count=4..8", "producers.web.rate=5ms..10ms:2", "queues.orders.capacity=9..3", "oops",
                    "workers.fulfil.count=1.5,2"], s)
    assert [str(p) for p in info.value.problems] == [
        "--vary: workers.fulfl.count: unknown path 'workers.fulfl.count': workers has no 'fulfl' (did you mean 'fulfil'?)",
        "--vary: queues.orders.capacity: empty range '9..3': 9 is above 3 (write 3..9)",
        "--vary: expected path=values, like workers.fulfil.count=4..16, got 'oops'",
        "--vary: producers.web.rate: value 5ms: expected a rate like 900/s, 30/m, 2/h or a number per second, got '5ms'",
        "--vary: workers.fulfil.count: value 1.5: must be a whole number, got 1.5",
    ]
    with pytest.raises(ScenarioError, match="nothing to vary"):
        sweep_axes(s, [])


def test_a_sweep_can_switch_the_broker_kind() -> None:
    # Points start from the scenario as written, so redis-only defaults do not follow the queue to sqs.
    points = make_points(small(), parse_vary(["queues.orders.broker=redis,sqs"], small()))
    assert [s.queues["orders"].broker for _, s in points] == ["redis", "sqs"]
    assert [s.queues["orders"].capacity for _, s in points] == [100, 100]


def test_grid_order_seeds_and_file_axes() -> None:
    s = small("""\
        sweep:
          vary:
            workers.fulfil.count: 3..4
            producers.web.rate: 100/s,200/s
        """)
    axes = sweep_axes(s, ["producers.web.rate=150/s..250/s:3"])  # replaces the file's values for that path
    assert [(a.path, a.values) for a in axes] == [("workers.fulfil.count", (3, 4)), ("producers.web.rate", (150.0, 200.0, 250.0))]
    points = make_points(s, axes)
    assert [p.values for p, _ in points][:4] == [
        {"workers.fulfil.count": 3, "producers.web.rate": 150.0},
        {"workers.fulfil.count": 3, "producers.web.rate": 200.0},
        {"workers.fulfil.count": 3, "producers.web.rate": 250.0},
        {"workers.fulfil.count": 4, "producers.web.rate": 150.0},
    ]
    scenario = points[4][1]
    assert scenario.workers["fulfil"].count == 4 and scenario.producers["web"].rate == 200.0 and scenario.sweep is None
    assert {p.seed for p, _ in points} == {5}  # common random numbers by default
    independent = make_points(s, axes, seeds="independent")
    seeds = [p.seed for p, _ in independent]
    assert len(set(seeds)) == len(seeds) and seeds[0] == point_seed(5, {"workers.fulfil.count": 3, "producers.web.rate": "150/s"})
    # A point's seed depends on its values, not on its place in the grid.
    wider = make_points(s, sweep_axes(s, ["producers.web.rate=150/s..250/s:3", "workers.fulfil.count=2..4"]), seeds="independent")
    assert {p.seed for p, _ in wider} >= set(seeds)


def test_study_sections_round_trip_through_to_dict() -> None:
    from queuesim.scenario import scenario_from_dict

    s = small("""\
        sweep: {vary: {workers.fulfil.count: 3..5, queues.orders.capacity: [50, null]}, seeds: independent}
        slo: {latency.end_to_end.p99: 250ms, rates.rejection: 0.1%}
        cost: {currency: EUR, worker_per_hour: {fulfil: 0.3}, broker_per_million_requests: 0.4}
        """)
    again = scenario_from_dict(json.loads(json.dumps(s.to_dict())))
    assert again == s and again.cost is not None and again.cost.worker_price("fulfil") == 0.3
    with pytest.raises(ScenarioError, match=r"cost\.worker_per_hour\.fulfill: unknown worker pool 'fulfill'"):
        small("cost: {worker_per_hour: {fulfill: 0.3}}\n")


# --- the table -----------------------------------------------------------------------------------


def test_flatten_summary_puts_intervals_beside_figures() -> None:
    summary = {
        "scenario": "x", "warnings": ["w"], "ci_method": "replications", "replications": 2,
        "rates": {"throughput": 10.0, "rejection": None},
        "latency": {"end_to_end": {"mean": 0.1, "p99": 0.3}},
        "faults": [{"kind": "crash"}],
        "ci95": {"latency.end_to_end.mean": [0.09, 0.11], "rates.rejection": None},
    }
    assert list(flatten_summary(summary).items()) == [
        ("replications", 2),
        ("rates.throughput", 10.0),
        ("rates.rejection", None),
        ("rates.rejection.ci95_low", None),
        ("rates.rejection.ci95_high", None),
        ("latency.end_to_end.mean", 0.1),
        ("latency.end_to_end.mean.ci95_low", 0.09),
        ("latency.end_to_end.mean.ci95_high", 0.11),
        ("latency.end_to_end.p99", 0.3),
    ]


PRICED = """\
    slo: {latency.end_to_end.p99: 60ms, rates.rejection: 0.001}
    cost: {worker_per_hour: 0.5, broker_per_million_requests: 0.4}
    """


def test_sweep_table_columns_slo_and_cost(tmp_path: Path) -> None:
    s = small(PRICED)
    result = sweep(s, ["workers.fulfil.count=3..5"], executor=SerialExecutor(), progress=False)
    assert isinstance(result, SweepResult) and not result.partial and result.finished == 3
    t = result.table
    assert list(t.columns[:2]) == ["point", "workers.fulfil.count"] and list(t["workers.fulfil.count"]) == [3, 4, 5]
    for column in ("latency.end_to_end.p99", "latency.end_to_end.mean", "latency.end_to_end.mean.ci95_low",
                   "latency.end_to_end.mean.ci95_high", "rates.rejection.ci95_high", "queues.orders.mean_depth",
                   "workers.fulfil.utilization", "slo.met", "slo.latency.end_to_end.p99.met", "slo.rates.rejection.met",
                   "cost.workers_per_hour", "cost.total_per_hour"):
        assert column in t.columns, column
    assert list(t["cost.workers_per_hour"]) == [1.5, 2.0, 2.5]
    # three broker requests (publish, receive, delete) per accepted message, nothing refused here
    assert t["cost.broker_requests_per_second"].iloc[2] == pytest.approx(3 * t["queues.orders.throughput"].iloc[2])
    assert list(t["slo.met"]) == [
        bool(p99 <= 0.06 and rej <= 0.001) for p99, rej in zip(t["latency.end_to_end.p99"], t["rates.rejection"], strict=True)
    ]
    # beside the plain comparison, the verdict from each interval: met only when it lies at or below the
    # limit; a p99 without an interval (too short a run) is not met only if a lower percentile's is above it
    for _, row in t.iterrows():
        for path, limit in (("latency.end_to_end.p99", 0.06), ("rates.rejection", 0.001)):
            low, high = row[f"{path}.ci95_low"], row[f"{path}.ci95_high"]
            floor = max((row.get(f"latency.end_to_end.{p}.ci95_low", np.nan) for p in ("p50", "p90", "p95")
                         if path.endswith("p99")), default=np.nan)
            expected = (("not met" if floor > limit else "borderline") if low != low
                        else "met" if high <= limit else "not met" if low > limit else "borderline")
            assert row[f"slo.{path}.verdict"] == expected, (path, low, high, floor)
        worst = max((row[f"slo.{p}.verdict"] for p in ("latency.end_to_end.p99", "rates.rejection")),
                    key=["met", "borderline", "not met"].index)
        assert row["slo.verdict"] == worst
    written = result.save(tmp_path)
    assert [p.name for p in written] == ["sweep.parquet", "sweep.csv", "sweep.json", "summaries.json", "timeseries.parquet"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "sweep.parquet"), t)
    meta = json.loads((tmp_path / "sweep.json").read_text())
    assert meta["points"] == meta["finished"] == 3 and meta["partial"] is False and meta["axes"][0]["spec"] == "3..5"


def test_serial_and_process_pool_give_identical_tables(tmp_path: Path) -> None:
    s = small("sweep: {vary: {workers.fulfil.count: 3..4, producers.web.rate: '250/s,350/s'}}\n")
    serial = sweep(s, executor=SerialExecutor(), progress=False)
    with QuietProcessPool(2) as pool:
        pooled = sweep(s, executor=pool, progress=False)
    pd.testing.assert_frame_equal(serial.table, pooled.table)
    serial.save(tmp_path / "a")
    pooled.save(tmp_path / "b")
    assert (tmp_path / "a" / "sweep.csv").read_text() == (tmp_path / "b" / "sweep.csv").read_text()


# --- running: errors and Ctrl-C -------------------------------------------------------------------


def _interrupt_at_two(i: int) -> int:
    if i == 2:
        raise KeyboardInterrupt  # what Ctrl-C does to a task running in this process
    return i * 10


def _signal_parent_at_two(i: int) -> int:
    if i == 2:
        os.kill(os.getppid(), signal.SIGINT)  # Ctrl-C reaching the parent while workers run
        import time

        time.sleep(5)
    return i * 10


def _signal_parent_twice_at_two(i: int) -> int:
    if i == 2:
        import time

        os.kill(os.getppid(), signal.SIGINT)
        time.sleep(0.3)  # the second Ctrl-C lands while the parent is stopping the pool
        os.kill(os.getppid(), signal.SIGINT)
        time.sleep(5)
    return i * 10


def _fail_at_one(i: int) -> int:
    if i == 1:
        raise ZeroDivisionError("boom")
    return i


def test_ctrl_c_keeps_finished_tasks_serial() -> None:
    outcome = run_tasks(_interrupt_at_two, range(6), executor=SerialExecutor(), progress=False)
    assert outcome.interrupted and outcome.results == [0, 10, None, None, None, None] and outcome.finished == 2


def test_ctrl_c_keeps_finished_tasks_process_pool() -> None:
    # a process started in the background (as CI may start us) inherits SIGINT ignored, and Python
    # then installs no KeyboardInterrupt handler: install it, as an interactive terminal would have
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with QuietProcessPool(1) as pool:
            outcome = run_tasks(_signal_parent_at_two, range(8), executor=pool, progress=False)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert outcome.interrupted and outcome.results[:2] == [0, 10] and outcome.results[2:] == [None] * 6


def test_a_second_ctrl_c_while_stopping_keeps_what_finished() -> None:
    """Regression (issue 11): two Ctrl-C 0.5 s apart saved nothing."""
    import time

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        start = time.monotonic()
        with QuietProcessPool(1) as pool:
            outcome = run_tasks(_signal_parent_twice_at_two, range(8), executor=pool, progress=False)
        elapsed = time.monotonic() - start
    finally:
        signal.signal(signal.SIGINT, previous)
    assert outcome.interrupted and outcome.results[:2] == [0, 10] and outcome.results[2:] == [None] * 6
    assert elapsed < 4, f"stopping took {elapsed:.1f} s"


def test_a_failing_task_names_itself() -> None:
    with pytest.raises(TaskFailed, match="point 1 failed: ZeroDivisionError: boom"):
        run_tasks(_fail_at_one, range(3), executor=SerialExecutor(), progress=False, describe=lambda i: f"point {i}")


# Points run whole (outputs: full, evaluate_point) or, streamed by default, a replication per task
# (stream_replication; small() has two replications): the same partial results either way.
PER_POINT, PER_REPLICATION = ("outputs: full\n", "evaluate_point", 1), ("", "stream_replication", 2)


@pytest.mark.parametrize(("extra", "task", "calls_per_point"), [PER_POINT, PER_REPLICATION])
def test_interrupted_sweep_marks_the_table_partial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str,
                                                   task: str, calls_per_point: int) -> None:
    real = getattr(sweep_run, task)
    calls = []

    def flaky(job):
        calls.append(job)
        if len(calls) == 2 * calls_per_point + 1:  # the first task of the third point
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(sweep_run, task, flaky)
    result = sweep(small(extra), ["workers.fulfil.count=3..7"], executor=SerialExecutor(), progress=False)
    assert result.partial and result.finished == 2 and len(result.table) == 2 and result.table.attrs["partial"] is True
    result.save(tmp_path)
    assert pd.read_parquet(tmp_path / "sweep.parquet").attrs["partial"] is True
    assert json.loads((tmp_path / "sweep.json").read_text())["partial"] is True


# --- executors and the CLI -----------------------------------------------------------------------


def test_dask_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from queuesim.experiment.dask import DaskUnavailable

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    with pytest.raises(DaskUnavailable, match=r"pip install 'queuesim-async\[dask\]'"), open_executor("dask"):
        pass


def test_importing_queuesim_does_not_import_dask() -> None:
    code = "import sys, queuesim, queuesim.cli; print(any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_cli_sweep_writes_the_table(tmp_path: Path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(BASE + textwrap.dedent(PRICED))
    out = tmp_path / "out"
    res = runner.invoke(app, ["sweep", str(path), "--vary", "workers.fulfil.count=3..4", "--executor", "serial",
                              "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "workers.fulfil.count" in res.output and "SLO" in res.output
    table = pd.read_parquet(out / "sweep.parquet")
    assert list(table["workers.fulfil.count"]) == [3, 4]


def test_cli_bad_sweep_input_exits_2_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(BASE)
    res = runner.invoke(app, ["sweep", str(path), "--vary", "workers.fulfl.count=4..16", "--vary", "warmup=3..1",
                              "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert "error --vary: workers.fulfl.count: unknown path" in res.output and "did you mean 'fulfil'" in res.output
    assert "error --vary: warmup: empty range '3..1'" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "out").exists()
    res = runner.invoke(app, ["sweep", str(path), "--vary", "workers.fulfil.count=4..5", "--executor", "serial",
                              "--scheduler", "tcp://127.0.0.1:8786"])
    assert res.exit_code == 1 and "--scheduler needs --executor dask" in res.output


def test_public_api_exports_sweep_and_plan() -> None:
    import queuesim

    assert {"sweep", "SweepResult", "plan", "PlanResult"} <= set(queuesim.__all__)
    assert all(hasattr(queuesim, name) for name in queuesim.__all__)
    # The functions shadow their modules as attributes; the modules stay importable by name.
    assert callable(queuesim.sweep) and callable(queuesim.plan)
    assert importlib.import_module("queuesim.experiment.sweep_table").flatten_summary is flatten_summary


@pytest.mark.parametrize(("extra", "task", "calls_per_point"), [PER_POINT, PER_REPLICATION])
def test_a_failing_point_keeps_the_others_and_records_its_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                extra: str, task: str, calls_per_point: int) -> None:
    """Regression (issue 11): one failing point discarded every finished point and wrote nothing."""
    real = getattr(sweep_run, task)

    def overflow_at_five(job):
        scenario = job.scenario if task == "evaluate_point" else job[0]
        if scenario.workers["fulfil"].count == 5:
            raise OverflowError("attempts column overflowed")
        return real(job)

    monkeypatch.setattr(sweep_run, task, overflow_at_five)
    result = sweep(small(extra), ["workers.fulfil.count=3..7"], executor=SerialExecutor(), progress=False)
    assert result.partial and result.finished == 4 and result.errors == {2: "OverflowError: attempts column overflowed"}
    assert list(result.table["workers.fulfil.count"]) == [3, 4, 5, 6, 7]
    failed = result.table.set_index("point").loc[2]
    assert failed["error"] == "OverflowError: attempts column overflowed" and math.isnan(failed["rates.throughput"])
    result.save(tmp_path)
    meta = json.loads((tmp_path / "sweep.json").read_text())
    assert meta["partial"] is True and meta["errors"] == {"2": "OverflowError: attempts column overflowed"}
    assert len(pd.read_parquet(tmp_path / "sweep.parquet")) == 5


def test_streamed_points_with_precision_rounds_match_each_point_run_alone() -> None:
    """A replication per task, rounds across points on a pool: each point's summary is the one execute() gives it."""
    from queuesim.experiment.execute import execute
    from queuesim.experiment.precision import precision_rule

    base = small("precision: {target: 3%, max_replications: 12}\n")
    rule = precision_rule(base)
    with QuietProcessPool(2) as pool:
        result = sweep(base, ["workers.fulfil.count=4,6"], executor=pool, progress=False)
    axes = sweep_axes(base, ["workers.fulfil.count=4,6"])
    for (_, scenario), summary in zip(make_points(base, axes), result.summaries, strict=True):
        alone = execute(scenario, outputs="summary", precision=rule).summary
        assert summary is not None and summary["replications"] == alone["replications"] > 2
        for key in ("latency", "rates", "ci95", "precision"):
            assert summary[key] == alone[key], key
