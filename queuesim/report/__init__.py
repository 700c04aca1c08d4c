"""Reports of a run: matplotlib figures drawn from the metrics tables (no SimPy here)."""

from queuesim.report.plots import (
    STEMS,
    TimeUnit,
    flow,
    format_duration,
    latency_cdf,
    latency_histogram,
    queue_depth,
    run_figures,
    save_all,
    time_unit,
)

__all__ = [
    "latency_cdf", "latency_histogram", "queue_depth", "flow", "run_figures", "save_all",
    "time_unit", "format_duration", "TimeUnit", "STEMS",
]
