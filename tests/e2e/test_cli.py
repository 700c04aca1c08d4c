"""The command line as a user meets it: files written, tables printed, bad input refused cleanly."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from queuesim.cli import app
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "scenarios").glob("*.yaml"))
runner = CliRunner()

SMALL = """\
name: small
seed: 3
duration: 20s
warmup: 2s
producers:
  web: {to: orders, rate: 200/s, retry: {attempts: 2}}
queues:
  orders: {broker: sqs, capacity: 10, visibility_timeout: 30s}
workers:
  fulfil: {from: orders, count: 2, service: {dist: exponential, mean: 9ms}}
"""

SUMMARY_KEYS = {
    "messages": {"produced", "accepted", "rejected", "gave_up", "completed", "duplicates", "lost",
                 "dead_lettered", "expired", "reneged", "in_flight"},
    "rates": {"throughput", "rejection", "loss", "duplicate", "gave_up"},
}
LATENCY_KEYS = {"mean", "p50", "p90", "p95", "p99", "p999", "max"}


def _queuesim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("queuesim")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_run_writes_every_output(tmp_path: Path) -> None:
    (tmp_path / "small.yaml").write_text(SMALL)
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(tmp_path / "small.yaml"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "throughput" in res.output and "p99" in res.output
    summary = json.loads((out / "summary.json").read_text())
    for section, keys in SUMMARY_KEYS.items():
        assert keys <= summary[section].keys()
    for name in ("end_to_end", "queue_wait", "service", "ack"):
        assert summary["latency"][name].keys() >= LATENCY_KEYS
    assert {"mean_depth", "max_depth", "rejected", "dead_lettered", "mean_wait"} <= summary["queues"]["orders"].keys()
    assert {"utilization", "completed"} <= summary["workers"]["fulfil"].keys()
    assert "rates.rejection" in summary["ci95"] and "latency.end_to_end.mean" in summary["ci95"]
    messages = pd.read_parquet(out / "messages.parquet")
    assert len(messages) == summary["messages"]["produced"] + int((~messages["in_window"]).sum())
    assert {"message", "request", "created", "accepted", "first_receive", "done", "outcome"} <= set(messages.columns)
    ts = pd.read_csv(out / "timeseries.csv")
    assert {"time", "depth.orders", "in_service.fulfil", "rejected", "completed"} <= set(ts.columns)
    for png in ("latency_cdf", "latency_hist", "queue_depth", "flow"):
        assert (out / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_default_output_folder_is_reports_stem(tmp_path: Path) -> None:
    (tmp_path / "small.yaml").write_text(SMALL)
    res = _queuesim("run", "small.yaml", "--no-plots", "--quiet", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "reports" / "small" / "summary.json").exists()


def test_overrides_seed_and_replications(tmp_path: Path) -> None:
    (tmp_path / "small.yaml").write_text(SMALL)
    out = tmp_path / "o"
    res = runner.invoke(app, ["run", str(tmp_path / "small.yaml"), "--out", str(out), "--no-plots", "-q",
                              "--set", "workers.fulfil.count=3", "--seed", "9", "--replications", "2"])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    assert (s["seed"], s["replications"], s["workers"]["fulfil"]["count"]) == (9, 2, 3)
    assert s["ci_method"] == "replications"


BAD = """\
duration: 1m
producers:
  web: {to: ordrs, rate: 10/s}
queues:
  orders: {broker: sqs, capcity: 5}
workers:
  fulfil:
    from: orders
    count: 0
    service: 5ms
"""


def test_bad_scenario_exits_2_with_file_line_field_and_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BAD)
    res = _queuesim("run", "bad.yaml", cwd=tmp_path)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr + res.stdout
    err = " ".join(res.stderr.split())
    assert "bad.yaml:3: producers.web.to:" in err and "did you mean 'orders'" in err
    assert "bad.yaml:5: queues.orders.capcity: unknown key 'capcity' (did you mean 'capacity'?)" in err
    assert "bad.yaml:9: workers.fulfil.count: must be ≥ 1" in err
    assert not (tmp_path / "reports").exists()


def test_bad_override_and_missing_file_exit_2(tmp_path: Path) -> None:
    (tmp_path / "small.yaml").write_text(SMALL)
    res = _queuesim("run", "small.yaml", "--set", "workers.fulfil.count=-1", cwd=tmp_path)
    assert res.returncode == 2 and "workers.fulfil.count" in res.stderr and "Traceback" not in res.stderr
    res = _queuesim("validate", "nope.yaml", cwd=tmp_path)
    assert res.returncode == 2 and "nope.yaml" in res.stderr and "Traceback" not in res.stderr


def test_unstable_scenario_runs_but_warns(tmp_path: Path) -> None:
    (tmp_path / "hot.yaml").write_text(SMALL.replace("capacity: 10, ", "").replace("200/s", "400/s"))
    res = _queuesim("run", "hot.yaml", "--no-plots", "-q", cwd=tmp_path)
    assert res.returncode == 0
    assert "unstable" in res.stderr and "orders" in res.stderr
    summary = json.loads((tmp_path / "reports" / "hot" / "summary.json").read_text())
    assert any("unstable" in w for w in summary["warnings"])


def test_jobs_outliving_a_fifo_visibility_timeout_are_an_error_level_warning(tmp_path: Path) -> None:
    # exponential 9 ms service: p99 41 ms > the 20 ms timeout, and a FIFO late delete fails
    text = SMALL.replace("visibility_timeout: 30s", "visibility_timeout: 20ms, kind: fifo")
    (tmp_path / "fifo.yaml").write_text(text)
    res = _queuesim("validate", "fifo.yaml", cwd=tmp_path)
    err = " ".join(res.stderr.split())
    assert res.returncode == 0 and "error queue 'orders': the service time of pool 'fulfil' has p99 41.4ms" in err
    assert "can be redone for ever" in err
    res = _queuesim("run", "fifo.yaml", "--no-plots", "-q", "--set", "duration=3s", "--set", "warmup=0s", cwd=tmp_path)
    assert res.returncode == 0 and "can be redone for ever" in " ".join(res.stderr.split())
    summary = json.loads((tmp_path / "reports" / "fifo" / "summary.json").read_text())
    assert [w for w in summary["warnings"] if w.startswith("error: queue 'orders'")]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_scenarios_validate_and_run_briefly(path: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["validate", str(path)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["run", str(path), "--out", str(tmp_path), "--no-plots", "-q",
                              "--set", "duration=8s", "--set", "warmup=1s", "--set", "faults=[]",
                              "--replications", "1"])
    assert res.exit_code == 0, res.output
    s = json.loads((tmp_path / "summary.json").read_text())
    m = s["messages"]
    assert m["produced"] > 0
    assert m["produced"] == (m["completed"] + m["gave_up"] + m["lost"] + m["dead_lettered"] + m["expired"]
                             + m["reneged"] + m["in_flight"] + m["short_circuited"])


def test_compare_runs_every_variant_with_the_same_workload(tmp_path: Path) -> None:
    faceoff = ROOT / "scenarios" / "broker-faceoff.yaml"
    res = runner.invoke(app, [
        "compare", str(faceoff), "--out", str(tmp_path), "--replications", "1",
        "--set", "duration=40s", "--set", "warmup=2s",
        "--set", "faults=[{at: 15s, queue: orders, kind: restart, downtime: 2s}]",
    ])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "compare.csv", index_col="variant")
    assert list(table.index) == ["redis-list", "redis-stream", "sqs-standard", "sqs-fifo", "rabbitmq"]
    # common random numbers: the same requests arrive in every variant
    assert table["produced"].nunique() == 1
    # crashes and failures lose messages on a Redis list only; the others redeliver instead
    assert table.loc["redis-list", "lost"] > 0
    assert (table.drop(index="redis-list")["lost"] == 0).all()
    assert (table.drop(index="redis-list")["redeliveries"] > 0).all()
    assert (tmp_path / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_variant_is_a_scenario_error(tmp_path: Path) -> None:
    (tmp_path / "v.yaml").write_text(SMALL + "variants:\n  oops: {queues.orders.capcity: 3}\n")
    res = _queuesim("compare", "v.yaml", cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    err = " ".join(res.stderr.split())
    assert "v.yaml:12: queues.orders.capcity: unknown key 'capcity'" in err and "(in variant oops)" in err


def test_a_run_too_big_for_the_machine_is_refused_before_it_starts(tmp_path: Path) -> None:
    """Regression (issue 11): `duration: 1e9s` at 10⁶/s validated "ok" and grew until killed."""
    (tmp_path / "huge.yaml").write_text(
        "duration: 1e9s\nproducers: {web: {to: q, rate: 1000000/s}}\nqueues: {q: {broker: redis}}\n"
        "workers: {w: {from: q, count: 4, service: 1us}}\n")
    res = runner.invoke(app, ["validate", str(tmp_path / "huge.yaml")])
    assert res.exit_code == 0 and "estimate: about 1.0·10^15 requests" in res.output
    res = runner.invoke(app, ["run", str(tmp_path / "huge.yaml"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "above the limit of" in res.output and "--max-events" in res.output
    assert not (tmp_path / "o").exists()
    res = runner.invoke(app, ["run", str(tmp_path / "huge.yaml"), "--max-events", "1000", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2  # an explicit limit is a limit too


def test_a_run_whose_estimate_overflows_is_refused_cleanly(tmp_path: Path) -> None:
    """Regression (found by the fuzz test): a beat every 1e-320 minutes made the estimate infinite and the refusal a traceback."""
    (tmp_path / "inf.yaml").write_text(
        "duration: 1h\nproducers: {beat: {to: q, batch: {every: 1e-320m, size: 1}}}\nqueues: {q: {broker: redis}}\n"
        "workers: {w: {from: q, count: 4, service: 1ms}}\n")
    res = runner.invoke(app, ["validate", str(tmp_path / "inf.yaml")])
    assert res.exit_code == 0 and "more events than can be counted" in res.output, res.output
    res = runner.invoke(app, ["run", str(tmp_path / "inf.yaml"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "more events than can be counted" in " ".join(res.output.split()), res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_the_estimate_counts_stages_fanout_and_replications() -> None:
    from queuesim import parse_scenario
    from queuesim.experiment.budget import EVENTS_PER_MESSAGE, estimate

    sc = parse_scenario(
        "duration: 100s\nreplications: 3\nproducers: {web: {to: a, rate: 10/s}}\n"
        "queues: {a: {broker: redis}, b: {broker: sqs}}\n"
        "workers: {w: {from: a, count: 2, service: 1ms, to: b, fanout: 4}, v: {from: b, count: 2, service: 1ms}}\n")
    cost = estimate(sc)
    assert cost.requests == pytest.approx(3 * 1000)
    assert cost.messages == pytest.approx(3 * (1000 + 4000)) and cost.events == pytest.approx(cost.messages * EVENTS_PER_MESSAGE)


# --- what reaches the user: the diagnosis first, tables that fit 80 columns -----------------------

BUSY = SMALL.replace("capacity: 10, ", "capacity: 50, ")  # 200/s on 2 workers of 9 ms: 90% busy
NARROW = CliRunner(env={"COLUMNS": "80"})
_CUT = re.compile(r"\d…")  # an ellipsis right after a digit: a number cut short


def _fits(output: str, width: int = 80) -> None:
    lines = output.splitlines()
    assert all(len(line) <= width for line in lines), max(lines, key=len)
    assert not _CUT.search(output), _CUT.search(output)


def _whole(output: str, cells: list[str]) -> None:
    """Every cell appears whole on one line: no number was wrapped, folded or cut."""
    lines = output.splitlines()
    for cell in cells:
        assert any(cell in line for line in lines), f"{cell!r} is split or missing"


def test_run_opens_with_what_limits_the_design_and_fits_80_columns(tmp_path: Path) -> None:
    from queuesim.cli import _show

    (tmp_path / "busy.yaml").write_text(BUSY)
    res = NARROW.invoke(app, ["run", str(tmp_path / "busy.yaml"), "--out", str(tmp_path / "o"), "--no-plots"])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    first = summary["diagnosis"][0]
    assert first["cause"] == "saturation" and first["figure"] == "workers.fulfil.utilization"
    assert res.output.startswith("limited by saturation: pool fulfil is ")
    _fits(res.output)
    paths = ["rates.offered", "rates.base_load", "messages.abandoned", "rates.throughput", "messages.rejected",
             *(f"latency.{k}.{s}" for k in ("end_to_end", "queue_wait", "service") for s in ("mean", "p50", "p99", "max")),
             "queues.orders.max_depth", "queues.orders.mean_wait", "workers.fulfil.utilization"]
    _whole(res.output, [_show(summary, p, decimals=1) if p.startswith("workers") else _show(summary, p) for p in paths])
    assert "offered (attempts)" in res.output and "× base" in res.output and "abandoned" in res.output


def test_tables_leave_out_columns_rather_than_split_numbers(tmp_path: Path) -> None:
    from queuesim.cli import summary_tables
    from rich.console import Console

    (tmp_path / "busy.yaml").write_text(BUSY)
    res = runner.invoke(app, ["run", str(tmp_path / "busy.yaml"), "--out", str(tmp_path / "o"), "--no-plots", "-q"])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    console = Console(width=50, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    for table in summary_tables(summary, width=50):
        console.print(table)
    text = console.export_text()
    _fits(text, 50)
    assert "left out at 50 columns" in text
    _whole(text, [f"{summary['latency']['end_to_end']['p99'] * 1000:.1f} ms"])


def test_short_paths_are_unambiguous() -> None:
    from queuesim.cli import short_paths

    assert short_paths(["producers.web.rate", "workers.fulfil.count"]) == {
        "producers.web.rate": "web.rate", "workers.fulfil.count": "fulfil.count"}
    assert short_paths(["producers.web.rate", "queues.web.rate"]) == {
        "producers.web.rate": "producers.web.rate", "queues.web.rate": "queues.web.rate"}
    assert short_paths(["producers.clients.rate.duration", "producers.clients.rate.peak", "seed"]) == {
        "producers.clients.rate.duration": "rate.duration", "producers.clients.rate.peak": "rate.peak", "seed": "seed"}


def test_sweep_table_names_long_paths_shortly_and_shows_their_values(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(BUSY)
    res = NARROW.invoke(app, ["sweep", str(tmp_path / "s.yaml"), "--executor", "serial", "--no-progress",
                              "--vary", "producers.web.rate=100/s,200/s", "--vary", "workers.fulfil.count=2,3",
                              "--slo", "latency.end_to_end.p99=50ms", "--out", str(tmp_path / "sw")])
    assert res.exit_code == 0, res.output
    _fits(res.output)
    header = next(line for line in res.output.splitlines() if "web.rate" in line and "fulfil.count" in line)
    assert "e2e p99" in header and "SLO" in header
    assert "web.rate = producers.web.rate" in " ".join(res.output.split())
    table = pd.read_csv(tmp_path / "sw" / "sweep.csv")
    from queuesim.cli import _terminal

    _whole(res.output, ["100/s", "200/s", *(_terminal("latency.end_to_end.p99")(v) for v in table["latency.end_to_end.p99"])])


def test_compare_shows_what_a_waiting_client_sees_within_80_columns(tmp_path: Path) -> None:
    res = NARROW.invoke(app, ["compare", str(ROOT / "scenarios" / "sync-vs-async.yaml"), "--out", str(tmp_path),
                              "--replications", "1", "--set", "duration=40s", "--set", "warmup=5s", "--no-plots"])
    assert res.exit_code == 0, res.output
    _fits(res.output)
    header = next(line for line in res.output.splitlines() if line.startswith("variant"))
    assert "response p99" in header and "abandoned" in header and "gave up" in header
    table = pd.read_csv(tmp_path / "compare.csv", index_col="variant")
    assert {"response_p99", "abandoned_rate", "gave_up_rate", "offered", "base_load"} <= set(table.columns)
    from queuesim.cli import _terminal

    _whole(res.output, [_terminal("latency.response.p99")(v) for v in table["response_p99"]])


@pytest.mark.parametrize("command", ["run", "sweep", "plan", "compare", "report", "fit"])
def test_help_examples_are_not_cut_at_80_columns(command: str) -> None:
    res = NARROW.invoke(app, [command, "--help"])
    assert res.exit_code == 0
    assert "…" not in res.output and all(len(line) <= 80 for line in res.output.splitlines())
    if command in ("run", "sweep", "plan"):
        assert "workers.fulfil.count=" in res.output  # the --set example, once cut to workers.fulfil.cou…
    if command in ("sweep", "plan"):
        assert "latency.end_to_end.p99=" in res.output
# --- SLO verdicts and --check: exit 0 when met, 1 when not met (or borderline), 2 for bad input -------


def _run_check(tmp_path: Path, *args: str) -> tuple[int, str]:
    (tmp_path / "small.yaml").write_text(SMALL)
    res = runner.invoke(app, ["run", str(tmp_path / "small.yaml"), "--out", str(tmp_path / "o"), "--no-plots", *args])
    return res.exit_code, res.output


def test_run_check_exit_codes(tmp_path: Path) -> None:
    code, out = _run_check(tmp_path, "--slo", "latency.end_to_end.p90=5s", "--slo", "rates.loss=0", "--check")
    assert code == 0, out
    assert "SLO: met" in out and "latency.end_to_end.p90" in out and "95% CI" in out
    # 20 s at 200/s leave 36 samples beyond the p99: too few for its interval, so even a p99 of 125 ms
    # cannot be shown under 5 s; the gate fails it as borderline (--precision would add replications)
    code, out = _run_check(tmp_path, "--slo", "latency.end_to_end.p99=5s", "--check")
    assert code == 1 and "SLO borderline: exit 1" in out
    code, out = _run_check(tmp_path, "--slo", "latency.queue_wait.mean=1us", "--check", "-q")
    assert code == 1 and "SLO not met: exit 1" in out
    # a limit at the estimate itself: its interval straddles it, so the verdict is borderline
    mean = json.loads((tmp_path / "o" / "summary.json").read_text())["latency"]["end_to_end"]["mean"]
    at_the_limit = ["--slo", f"latency.end_to_end.mean={mean * 1000:.6f}ms"]
    code, out = _run_check(tmp_path, *at_the_limit, "--check")
    assert code == 1 and "borderline" in out
    code, out = _run_check(tmp_path, *at_the_limit, "--check-lenient")
    assert code == 0 and "passes --check-lenient" in out
    code, out = _run_check(tmp_path, *at_the_limit)  # no gate: the verdict is shown, the exit is 0
    assert code == 0 and "SLO: borderline" in out


def test_run_check_bad_input_exits_2_before_running(tmp_path: Path) -> None:
    for args, message in ((["--check"], "--check needs an SLO"),
                          (["--slo", "latency.end_to_end.p98=1s", "--check"], "did you mean 'latency.end_to_end.p99'"),
                          (["--precision", "fast"], "expected a relative half-width"),
                          (["--precision", "2%", "--max-replications", "1"], "--max-replications")):
        code, out = _run_check(tmp_path, *args)
        assert code == 2, (args, out)
        assert message in " ".join(out.split()) and "Traceback" not in out
        assert not (tmp_path / "o").exists()


def test_run_precision_prints_what_it_reached(tmp_path: Path) -> None:
    code, out = _run_check(tmp_path, "--precision", "20%", "--max-replications", "6", "-q")
    assert code == 0, out
    block = json.loads((tmp_path / "o" / "summary.json").read_text())["precision"]
    assert block["target"] == 0.2 and block["replications"] <= 6 and block["met"] != block["capped"]
    code, out = _run_check(tmp_path, "--precision", "20%", "--max-replications", "6")
    assert "precision: " in out and "target ±20.0%" in out


def test_sweep_and_plan_check_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "small.yaml").write_text(SMALL)
    sweep_args = ["sweep", str(tmp_path / "small.yaml"), "--vary", "workers.fulfil.count=2,3", "--executor", "serial",
                  "--no-progress", "-q", "--out", str(tmp_path / "s")]
    res = runner.invoke(app, [*sweep_args, "--slo", "rates.loss=0", "--check"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, [*sweep_args, "--slo", "latency.queue_wait.mean=1us", "--check"])
    assert res.exit_code == 1, res.output
    res = runner.invoke(app, [*sweep_args, "--check"])
    assert res.exit_code == 2 and "--check needs an SLO" in res.output
    table = pd.read_csv(tmp_path / "s" / "sweep.csv")  # from the run that had an SLO
    assert set(table["slo.verdict"]) == {"not met"} and {"slo.met", "slo.latency.queue_wait.mean.verdict"} <= set(table)
    plan_args = ["plan", str(tmp_path / "small.yaml"), "--load", "1x", "--executor", "serial", "--no-progress", "-q",
                 "--out", str(tmp_path / "p"), "--max-replications", "4"]
    res = runner.invoke(app, [*plan_args, "--slo", "rates.loss=0", "--check"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "p" / "plan.json").read_text())["verdict"] == "met"
    res = runner.invoke(app, [*plan_args, "--slo", "latency.queue_wait.mean=1us", "--max", "3", "--check"])
    assert res.exit_code == 1, res.output  # no worker count up to 3 meets it
    res = runner.invoke(app, [*plan_args, "--precision", "two", "--check"])
    assert res.exit_code == 2 and "relative half-width" in res.output


def test_compare_shows_a_verdict_per_limit(tmp_path: Path) -> None:
    (tmp_path / "v.yaml").write_text(SMALL + "variants:\n  two: {workers.fulfil.count: 2}\n  four: {workers.fulfil.count: 4}\n")
    res = runner.invoke(app, ["compare", str(tmp_path / "v.yaml"), "--out", str(tmp_path / "c"), "--no-plots",
                              "--slo", "rates.rejection=50%", "--slo", "latency.queue_wait.mean=1us"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "c" / "compare.csv", index_col="variant")
    assert list(table["slo.rates.rejection.verdict"]) == ["met", "met"]
    assert list(table["slo.latency.queue_wait.mean.verdict"]) == ["not met", "not met"]
    assert list(table["slo.verdict"]) == ["not met", "not met"]
    assert res.output.count("not met") == 2  # a verdict cell per variant for the limit it misses
