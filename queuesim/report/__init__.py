"""Reports of a run or a sweep: matplotlib figures drawn from the metrics tables (no SimPy here), and
the HTML/Markdown report built from a result directory.

The names below load their module on first use (PEP 562): a run that only saves its plots imports
:mod:`queuesim.report.plots` and matplotlib, not the report builder, its templates and pandas.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from queuesim.figures import TimeUnit, time_unit
from queuesim.figures import display_duration as format_duration

if TYPE_CHECKING:
    from queuesim.report.document import Report, ReportError, build_report, load_input, write_report
    from queuesim.report.plots import (
        STEMS,
        flow,
        latency_cdf,
        latency_histogram,
        queue_depth,
        run_figures,
        run_figures_from,
        save_all,
    )

_HOME = {
    **dict.fromkeys(("STEMS", "flow", "latency_cdf", "latency_histogram", "queue_depth", "run_figures",
                     "run_figures_from", "save_all"), "queuesim.report.plots"),
    **dict.fromkeys(("Report", "ReportError", "build_report", "load_input", "write_report"), "queuesim.report.document"),
}

__all__ = [
    "latency_cdf", "latency_histogram", "queue_depth", "flow", "run_figures", "run_figures_from", "save_all",
    "time_unit", "format_duration", "TimeUnit", "STEMS",
    "build_report", "write_report", "load_input", "Report", "ReportError",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # once: later lookups do not come here
    return value
