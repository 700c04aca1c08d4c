"""queuesim: discrete-event simulation of asynchronous architectures (producers, brokers, workers)."""

from queuesim.api import CompareResult, RunResult, compare, run
from queuesim.errors import Problem, QueuesimError, ScenarioError
from queuesim.experiment import SweepResult, sweep
from queuesim.experiment.plan import PlanResult, plan
from queuesim.experiment.stability import StabilityResult, stability
from queuesim.scenario import Scenario, load_scenario, parse_scenario
from queuesim.version import __version__

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
