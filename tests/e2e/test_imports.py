"""What a plain ``queuesim run`` imports: pandas costs 0.2 CPU-s a run and no default output needs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCENARIO = """
seed: 1
duration: 30s
warmup: 3s
producers: {web: {to: q, rate: 50/s}}
queues: {q: {broker: redis, capacity: 5}}
workers: {w: {from: q, count: 2, service: {dist: exponential, mean: 30ms}}}
"""

PROBE = """
import sys
from queuesim.cli import main
sys.argv = ["queuesim", "run", sys.argv[1], "--out", sys.argv[2], "--quiet"]
try:
    main()
except SystemExit as exit:
    assert not exit.code, exit.code
print(sorted(m for m in ("pandas", "scipy", "jinja2", "dask") if m in sys.modules))
"""


def test_a_default_run_writes_every_output_without_pandas(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", PROBE, str(path), str(out)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
    assert {p.name for p in out.iterdir()} >= {"summary.json", "messages.parquet", "deliveries.parquet",
                                               "timeseries.csv", "latency_cdf.png", "flow.png"}


CONSOLE_PROBE = """
import gc, sys
import queuesim
assert gc.isenabled() and gc.get_freeze_count() == 0  # a library import leaves the collector alone
from queuesim.console import main
sys.argv = ["queuesim", "run", sys.argv[1], "--out", sys.argv[2], "--quiet", "--outputs", "summary"]
try:
    main()
except SystemExit as exit:
    assert not exit.code, exit.code
print(gc.isenabled(), gc.get_freeze_count())
"""


def test_the_command_freezes_its_imports_and_runs_with_the_collector_on(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", CONSOLE_PROBE, str(path), str(out)],
                          capture_output=True, text=True, check=True)
    enabled, frozen = done.stdout.split()
    assert enabled == "True"
    assert int(frozen) > 10_000  # typer, rich, pydantic, numpy and the scenario model, out of every collection
    assert (out / "summary.json").is_file()
