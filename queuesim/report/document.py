"""The report a team reads: one self-contained HTML page and its Markdown twin, from a run or a sweep directory.

A report is built in two steps. :func:`build_report` reads a result directory (``queuesim run``:
``summary.json``, ``scenario.json``, ``timeseries.csv``…; ``queuesim sweep``: ``sweep.parquet``,
``sweep.json``, optionally ``plan.json``; ``queuesim compare``: ``compare.csv``, ``compare.json``;
``queuesim plan``: ``plan.json`` alone; ``queuesim stability``: ``stability.parquet``, ``stability.json``) into a :class:`Report`: an ordered list of sections made of
plain blocks (paragraphs, lists, tables, figures). :meth:`Report.save` renders the same blocks through
two Jinja templates (see :mod:`queuesim.report.render`).

The pieces live beside this module: :mod:`~queuesim.report.inputs` (reading results),
:mod:`~queuesim.report.slo_table` (limits and checks), :mod:`~queuesim.report.sections` (sections both
reports share), :mod:`~queuesim.report.run_report`, :mod:`~queuesim.report.sweep_report`,
:mod:`~queuesim.report.render` (the document model and its rendering) and
:mod:`~queuesim.report.formatting`. Their public names are re-exported here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from queuesim.report.compare_report import build_compare_report, build_plan_report
from queuesim.report.inputs import (
    CompareData,
    PlanData,
    ReportError,
    RunData,
    StabilityData,
    SweepData,
    load_input,
    run_data,
    stability_data,
    sweep_data,
)
from queuesim.report.render import (
    FIGURE_DIR,
    REPORT_HTML,
    REPORT_MD,
    Block,
    Cell,
    FigureBlock,
    Report,
    Section,
)
from queuesim.report.run_report import build_run_report
from queuesim.report.stability_report import build_stability_report
from queuesim.report.sweep_report import build_sweep_report

__all__ = [
    "REPORT_HTML", "REPORT_MD", "FIGURE_DIR", "ReportError", "Block", "Cell", "FigureBlock",
    "Section", "Report", "RunData", "SweepData", "CompareData", "PlanData", "StabilityData", "load_input", "build_report",
    "write_report", "default_out_dir",
]


def build_report(source: Any, *, plan: str | os.PathLike[str] | None = None,
                 slo: Mapping[str, Any] | None = None, simulate_peak: bool = True,
                 diagnosis: Sequence[Mapping[str, Any]] | None = None) -> Report:
    """Build the report of a run, sweep, comparison, plan or stability map.

    Parameters
    ----------
    source : path, RunResult, StabilityResult, RunData, SweepData, CompareData, PlanData or StabilityData
        A ``queuesim run``, ``sweep``, ``compare``, ``plan`` or ``stability`` output directory, or a
        result in memory.
    plan : path, optional
        A ``plan.json`` to show with a sweep (default: ``plan.json`` in the sweep directory, if any).
    slo : mapping, optional
        Extra limits (summary path -> limit in summary units) added to the scenario's ``slo:``.
    simulate_peak : bool, default True
        For a sweep, draw the queue depth over time at its peak point, from the time series the
        sweep kept for each point (``timeseries.parquet``); nothing is simulated here.
    diagnosis : sequence of mapping, optional
        For a run, findings to show instead of those its summary stored (the caller re-diagnosed
        the run with ``slo``: the report draws what it is handed and diagnoses nothing itself).

    Raises
    ------
    ReportError
        If ``source`` holds no result the report knows.
    """
    if isinstance(source, (str, os.PathLike)):
        source = load_input(source, plan)
    elif hasattr(source, "records") and hasattr(source, "summary"):
        source = run_data(source)
    elif hasattr(source, "axes") and hasattr(source, "table") and hasattr(source, "points"):
        source = sweep_data(source)
    elif hasattr(source, "seeds") and hasattr(source, "table") and hasattr(source, "boundary"):
        source = stability_data(source)
    if isinstance(source, RunData):
        return build_run_report(source, slo, diagnosis)
    if isinstance(source, SweepData):
        return build_sweep_report(source, slo, simulate_peak=simulate_peak)
    if isinstance(source, CompareData):
        return build_compare_report(source, slo)
    if isinstance(source, PlanData):
        return build_plan_report(source)
    if isinstance(source, StabilityData):
        return build_stability_report(source)
    raise ReportError(f"cannot report on {type(source).__name__}")


def default_out_dir(source: str | os.PathLike[str]) -> Path:
    """The result directory itself: a report sits next to the data it draws."""
    p = Path(source)
    return p.parent if p.is_file() else p


def write_report(source: Any, out_dir: str | os.PathLike[str] | None = None, **kw: Any) -> list[Path]:
    """Build the report of ``source`` and write it (default: into the result directory)."""
    if out_dir is None:
        if not isinstance(source, (str, os.PathLike)):
            raise ReportError("give out_dir for a result in memory")
        out_dir = default_out_dir(source)
    return build_report(source, **kw).save(out_dir)
