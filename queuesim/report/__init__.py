"""Reports of a run or a sweep: matplotlib figures drawn from the metrics tables (no SimPy here), and
the HTML/Markdown report built from a result directory."""

from queuesim.figures import TimeUnit, time_unit
from queuesim.figures import display_duration as format_duration
from queuesim.report.document import Report, ReportError, build_report, load_input, write_report
from queuesim.report.plots import (
    STEMS,
    flow,
    latency_cdf,
    latency_histogram,
    queue_depth,
    run_figures,
    save_all,
)

__all__ = [
    "latency_cdf", "latency_histogram", "queue_depth", "flow", "run_figures", "save_all",
    "time_unit", "format_duration", "TimeUnit", "STEMS",
    "build_report", "write_report", "load_input", "Report", "ReportError",
]
