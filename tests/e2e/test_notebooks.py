"""The notebooks in notebooks/ run top to bottom on the venv's kernel, each in under a minute.

Each notebook asserts its own claims inline; the test appends one check cell (never saved) that
looks at the objects the notebook built, and that the kernel is this interpreter's environment.
Deselect with ``-m "not notebooks"``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
# a notebook runs in under a minute on a quiet machine (README); the suite runs beside other work on
# two cores, so the guard against a slow notebook allows twice that, in wall time
LIMIT_S = 120.0

#: notebook → code run after its last cell, in the same kernel
CHECKS = {
    "01-quickstart.ipynb": """
assert isinstance(result, queuesim.RunResult) and isinstance(exponential, queuesim.RunResult)
assert isinstance(messages, pd.DataFrame) and len(messages) > 0
assert set(figures) >= {"latency_cdf", "queue_depth"}
assert isinstance(mmc, theory.QueueMetrics) and mmc.wait > 0
_low, _high = exponential.summary["ci95"]["latency.queue_wait.mean"]
assert abs(exponential.summary["latency"]["queue_wait"]["mean"] - mmc.wait) <= _high - _low, "M/M/c run far from Erlang C"
""",
    "02-brokers-under-faults.ipynb": """
assert set(faceoff.results) == set(scenario.variants)
assert list(table.index) == list(scenario.variants)
assert {"lost", "duplicates", "redeliveries", "p99"} <= set(table.columns)
""",
    "03-backpressure-and-retries.ipynb": """
assert list(retries.index) == ATTEMPTS
assert retries["503 rate"].is_monotonic_increasing
assert retries["offered ÷ base load"].is_monotonic_increasing
assert backpressure.summary["rates"]["rejection"] > 0
assert len(attempts_table) == 4
""",
    "04-capacity-planning.ipynb": """
assert isinstance(grid, queuesim.SweepResult) and len(grid.table) == 24
assert isinstance(answer, queuesim.PlanResult) and answer.recommended is not None
assert side_by_side.notna().all()
""",
    "07-autoscaling.ipynb": """
assert list(side_by_side.index) == ["fixed", "target-tracking", "keda", "lambda"]
assert side_by_side.loc["fixed", "meets SLO"] and side_by_side["cost per hour ($)"].notna().all()
assert side_by_side.loc["keda", "cost per hour ($)"] < side_by_side.loc["fixed", "cost per hour ($)"]
assert pools["keda"]["scale_ups"] > 0 and pools["target-tracking"]["count_max"] <= 40
""",
    "05-calibration.ipynb": """
assert service_fit.best_family == "lognormal" and arrivals_fit.poisson
assert isinstance(calibrated, queuesim.RunResult) and isinstance(exponential, queuesim.RunResult)
assert list(comparison.index) == ["the log", "queuesim, fitted lognormal", "queuesim, exponential service"]
""",
    "06-resilience.ipynb": """
assert list(side_by_side.index) == list(base.variants) == ["plain", "jitter", "budget", "ratio", "breaker", "ttl"]
assert set(maps) == set(base.variants) and all(isinstance(m, queuesim.StabilityResult) for m in maps.values())
assert all(len(m.table) == 4 for m in maps.values())
assert list(verdicts.columns) == list(base.variants)
""",
    "08-celery-gallery.ipynb": """
assert list(side_by_side.index) == list(scenario.variants) == ["defaults", "long-tasks", "vt-12h", "two-beats"]
assert len(eta_trap) == 2 and len(eta_fixed) == 1
assert spread.shape == (4, 6)
""",
}


def _check_cell(name: str) -> str:
    prefix = ROOT.as_posix()
    return f"""
import sys as _sys
assert _sys.prefix == {sys.prefix!r}, f"the kernel runs {{_sys.executable}}, not the test's environment"
assert str(ROOT) == {prefix!r}
{CHECKS[name]}
"""


def test_every_notebook_is_tested() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(CHECKS)


def test_notebooks_are_stored_without_outputs() -> None:
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name}: clear outputs before committing"


@pytest.mark.notebooks
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_notebook_runs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(_check_cell(name)))
    client = nbclient.NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and traceback, if any cell fails
    elapsed = time.perf_counter() - start
    print(f"{name}: {elapsed:.1f} s")
    assert elapsed < LIMIT_S, f"{name} took {elapsed:.0f} s; notebooks must run in under {LIMIT_S:.0f} s"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert images >= 1, f"{name} drew no figure"
