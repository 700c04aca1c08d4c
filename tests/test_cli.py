"""The command line as a user meets it: files written, tables printed, bad input refused cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from queuesim.cli import app
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
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
                 "dead_lettered", "in_flight"},
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
    assert m["produced"] == (m["completed"] + m["gave_up"] + m["lost"] + m["dead_lettered"] + m["in_flight"]
                             + m["short_circuited"])


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
