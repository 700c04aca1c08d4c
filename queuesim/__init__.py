"""queuesim: discrete-event simulation of asynchronous architectures (producers, brokers, workers)."""

__version__ = "0.1.0"

from queuesim.errors import Problem, QueuesimError, ScenarioError  # noqa: E402
from queuesim.scenario import Scenario, load_scenario, parse_scenario  # noqa: E402
from queuesim.api import RunResult, run  # noqa: E402
from queuesim.experiment import SweepResult, sweep  # noqa: E402
from queuesim.experiment.plan import PlanResult, plan  # noqa: E402

__all__ = [
    "__version__",
    "run",
    "RunResult",
    "sweep",
    "SweepResult",
    "plan",
    "PlanResult",
    "load_scenario",
    "parse_scenario",
    "Scenario",
    "QueuesimError",
    "ScenarioError",
    "Problem",
]
