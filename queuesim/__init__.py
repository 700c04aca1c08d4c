"""queuesim: discrete-event simulation of asynchronous architectures (producers, brokers, workers).

The public names are imported on first use (PEP 562): ``queuesim run --outputs summary`` never
loads pandas, pyarrow or matplotlib, and ``import queuesim`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from queuesim.errors import Problem, QueuesimError, ScenarioError
from queuesim.version import __version__

if TYPE_CHECKING:
    from queuesim.api import CompareResult, RunResult, compare, run
    from queuesim.experiment.plan import PlanResult, plan
    from queuesim.experiment.stability import StabilityResult, stability
    from queuesim.experiment.sweep import SweepResult, sweep
    from queuesim.scenario import Scenario, load_scenario, parse_scenario

__all__ = [
    "__version__",
    "run",
    "RunResult",
    "sweep",
    "SweepResult",
    "plan",
    "PlanResult",
    "compare",
    "CompareResult",
    "stability",
    "StabilityResult",
    "load_scenario",
    "parse_scenario",
    "Scenario",
    "QueuesimError",
    "ScenarioError",
    "Problem",
]

_HOME = {
    "run": "queuesim.api", "RunResult": "queuesim.api", "compare": "queuesim.api", "CompareResult": "queuesim.api",
    "sweep": "queuesim.experiment.sweep", "SweepResult": "queuesim.experiment.sweep",
    "plan": "queuesim.experiment.plan", "PlanResult": "queuesim.experiment.plan",
    "stability": "queuesim.experiment.stability", "StabilityResult": "queuesim.experiment.stability",
    "load_scenario": "queuesim.scenario", "parse_scenario": "queuesim.scenario", "Scenario": "queuesim.scenario",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'queuesim' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
