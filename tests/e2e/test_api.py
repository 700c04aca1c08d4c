"""The curated public API: what `import queuesim` offers is a decision, so a change must be deliberate."""

from __future__ import annotations

from pathlib import Path

import queuesim

ROOT = Path(__file__).resolve().parents[2]


def test_public_api_is_exactly_this() -> None:
    assert set(queuesim.__all__) == {
        "__version__", "run", "RunResult", "sweep", "SweepResult", "plan", "PlanResult", "compare", "CompareResult",
        "stability", "StabilityResult", "load_scenario", "parse_scenario", "Scenario", "QueuesimError", "ScenarioError", "Problem",
    }
    assert all(hasattr(queuesim, name) for name in queuesim.__all__)


def test_every_error_queuesim_raises_on_purpose_shares_one_root() -> None:
    assert issubclass(queuesim.ScenarioError, queuesim.QueuesimError)


def test_run_result_exposes_tables_and_figures() -> None:
    result = queuesim.run(ROOT / "scenarios" / "quickstart.yaml", overrides=["duration=5s", "warmup=1s"], replications=1)
    assert {"messages", "rates", "latency", "queues", "workers", "ci95"} <= result.summary.keys()
    assert len(result.messages) > 0 and len(result.timeseries) > 0 and len(result.deliveries) > 0
    assert set(result.figures()) == {"latency_cdf", "latency_hist", "queue_depth", "flow"}
