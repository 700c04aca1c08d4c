"""Many runs into one tidy table, on any ``concurrent.futures`` executor (serial, process pool, Dask).

``grid`` turns ``--vary`` specs and the ``sweep:`` section into validated points, ``runner`` runs
tasks with a progress bar and a clean Ctrl-C, ``table`` flattens summaries into ``sweep.parquet``
rows, ``cost`` prices a run, ``dask`` is the optional Dask executor and ``run`` ties them together.
"""

from __future__ import annotations

from queuesim.sweep.grid import Point, make_points, parse_vary, sweep_axes
from queuesim.sweep.run import SweepResult, evaluate_point, run_points, sweep
from queuesim.sweep.runner import Outcome, QuietProcessPool, TaskFailed, open_executor, run_tasks

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
    "Outcome",
    "TaskFailed",
    "QuietProcessPool",
    "open_executor",
]
