"""How summary figures are printed in a report (durations, rates, counts) and how they are looked up in a summary."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from queuesim.report.plots import format_duration

__all__ = ["fmt_duration", "fmt_fraction", "fmt_per_second", "fmt_count", "fmt_number", "figure_formatter"]

def fmt_duration(v: float | None) -> str:
    """``12.3 ms``; an em dash for a missing value."""
    return "—" if v is None or not math.isfinite(v) else format_duration(float(v))



def fmt_fraction(v: float | None) -> str:
    """A rate as a percentage with three significant digits: ``0.123%``; ``0%`` for zero."""
    if v is None or not math.isfinite(v):
        return "—"
    return "0%" if v == 0 else f"{v * 100:.3g}%"



def fmt_per_second(v: float | None) -> str:
    """``1,234.5/s``."""
    if v is None or not math.isfinite(v):
        return "—"
    return f"{v:,.1f}/s" if v >= 10 else f"{v:.3g}/s"



def fmt_count(v: float | None) -> str:
    """``12,345``."""
    return "—" if v is None or not math.isfinite(v) else f"{int(round(v)):,}"



def fmt_number(v: float | None) -> str:
    """Three significant digits."""
    if v is None or not math.isfinite(v):
        return "—"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"



def _ci(summary: Mapping[str, Any], path: str, fmt: Callable[[float | None], str]) -> str:
    ci = (summary.get("ci95") or {}).get(path)
    if not ci or ci[0] is None or ci[1] is None or not all(map(math.isfinite, ci)):
        return ""
    return f"{fmt(ci[0])} – {fmt(ci[1])}"



def _get(summary: Mapping[str, Any], path: str) -> Any:
    node: Any = summary
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node



def _num(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None



def figure_formatter(path: str) -> Callable[[float | None], str]:
    """How to print the summary figure at a dotted path."""
    parts = path.split(".")
    if parts[0] == "latency" or parts[-1] == "mean_wait":
        return fmt_duration
    if path == "rates.throughput" or parts[-1] == "throughput":
        return fmt_per_second
    if parts[0] == "rates" or parts[-1] == "utilization":
        return fmt_fraction
    if parts[0] == "messages" or parts[-1] in ("max_depth", "accepted", "rejected", "dead_lettered",
                                               "redeliveries", "completed", "count"):
        return fmt_count
    return fmt_number
