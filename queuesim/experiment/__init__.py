"""Many runs of one scenario: replications, sweeps, plans, SLO checks and comparisons, on any executor.

``executors`` holds where tasks run (serial, process pool, Dask through ``dask``) and ``run_tasks``
with its progress bar and clean Ctrl-C; ``grid`` turns ``--vary`` specs and the ``sweep:`` section
into validated points; ``sweep`` runs them into one tidy table (``sweep_table``); ``slo`` checks
limits, ``cost`` prices a run, ``plan`` searches for the smallest design that meets the SLO and
``compare`` runs variants side by side.
"""

from __future__ import annotations

from queuesim.experiment.executors import QuietProcessPool, TaskFailed, TaskOutcome, open_executor, run_tasks
from queuesim.experiment.grid import Point, make_points, parse_vary, sweep_axes
from queuesim.experiment.sweep import SweepResult, evaluate_point, run_points, sweep

__all__ = [
    "sweep",
    "SweepResult",
    "Point",
    "parse_vary",
    "sweep_axes",
    "make_points",
    "evaluate_point",
    "run_points",
    "run_tasks",
    "TaskOutcome",
    "TaskFailed",
    "QuietProcessPool",
    "open_executor",
]
