"""Outputs are never half-written: a folder is swapped in whole, a file renamed into place."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from queuesim.outputs import OutputError, atomic_directory, atomic_write

RUN = """\
name: atomic
seed: {seed}
duration: 20s
producers: {{web: {{to: q, rate: 400/s}}}}
queues: {{q: {{broker: redis}}}}
workers: {{w: {{from: q, count: 4, service: {{dist: exponential, mean: 8ms}}}}}}
"""
FILES = {"summary.json", "scenario.json", "messages.parquet", "deliveries.parquet", "timeseries.csv",
         "latency_cdf.png", "latency_hist.png", "queue_depth.png", "flow.png"}


def test_a_folder_is_replaced_whole_and_an_error_leaves_the_old_one(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with atomic_directory(out) as d:
        (d / "a.txt").write_text("old")
        (d / "only-old.txt").write_text("x")
    with pytest.raises(RuntimeError), atomic_directory(out) as d:
        (d / "a.txt").write_text("half")
        raise RuntimeError("killed halfway")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "only-old.txt"] and (out / "a.txt").read_text() == "old"
    with atomic_directory(out) as d:
        (d / "a.txt").write_text("new")
    assert [p.name for p in out.iterdir()] == ["a.txt"] and (out / "a.txt").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging or backup folder left behind


def test_a_file_where_a_folder_is_wanted_is_refused_before_writing(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("keep me")
    with pytest.raises(OutputError, match="exists and is not a folder"), atomic_directory(tmp_path / "f"):
        pytest.fail("the body must not run")
    assert (tmp_path / "f").read_text() == "keep me"


def test_atomic_write_replaces_a_file(tmp_path: Path) -> None:
    atomic_write(tmp_path / "x" / "plan.json", "{}")
    atomic_write(tmp_path / "x" / "plan.json", b"[1]")
    assert (tmp_path / "x" / "plan.json").read_text() == "[1]" and len(list((tmp_path / "x").iterdir())) == 1


def _fingerprint(out: Path) -> tuple[int, int, int]:
    summary = json.loads((out / "summary.json").read_text())
    scenario = json.loads((out / "scenario.json").read_text())
    rows = len(pd.read_parquet(out / "messages.parquet"))
    return summary["seed"], scenario["seed"], rows


def test_kill_9_at_any_moment_of_a_run_leaves_a_complete_run(tmp_path: Path) -> None:
    """The issue's promise: whenever ``queuesim run`` is killed, the folder holds the previous complete
    run or the new complete one, never a mix (summary of one, parquet of the other)."""
    exe = str(Path(sys.executable).with_name("queuesim"))
    out = tmp_path / "out"
    complete = {}
    for seed in (1, 2):
        (tmp_path / f"s{seed}.yaml").write_text(RUN.format(seed=seed))
        subprocess.run([exe, "run", str(tmp_path / f"s{seed}.yaml"), "--out", str(tmp_path / f"ref{seed}"), "-q"],
                       check=True, timeout=120)
        complete[seed] = _fingerprint(tmp_path / f"ref{seed}")
    subprocess.run([exe, "run", str(tmp_path / "s1.yaml"), "--out", str(out), "-q"], check=True, timeout=120)
    start = time.monotonic()
    subprocess.run([exe, "run", str(tmp_path / "s2.yaml"), "--out", str(tmp_path / "timing"), "-q"], check=True, timeout=120)
    whole = time.monotonic() - start
    seen = set()
    for i in range(8):  # kill points spread over the whole command, the save at its end included
        proc = subprocess.Popen([exe, "run", str(tmp_path / f"s{2 - i % 2}.yaml"), "--out", str(out), "-q"])
        time.sleep(whole * (0.35 + 0.65 * i / 7))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        assert {p.name for p in out.iterdir()} == FILES
        fp = _fingerprint(out)
        assert fp in (complete[1], complete[2]), fp
        seen.add(fp[0])
    subprocess.run([exe, "run", str(tmp_path / "s1.yaml"), "--out", str(out), "-q"], check=True, timeout=120)
    assert _fingerprint(out) == complete[1]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # killed runs' staging cleared
