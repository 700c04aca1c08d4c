"""How a report prints summary figures: the catalogue's report style (:mod:`queuesim.figures`), by kind and by path."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from queuesim.figures import find, format_figure

__all__ = ["fmt_duration", "fmt_fraction", "fmt_per_second", "fmt_count", "fmt_number", "figure_formatter"]


def fmt_duration(v: float | None) -> str:
    """``12.3 ms``; an em dash for a missing value."""
    return format_figure("duration", v, "report")


def fmt_fraction(v: float | None) -> str:
    """A rate as a percentage with three significant digits: ``0.123%``; ``0%`` for zero."""
    return format_figure("fraction", v, "report")


def fmt_per_second(v: float | None) -> str:
    """``1,234.5/s``."""
    return format_figure("rate", v, "report")


def fmt_count(v: float | None) -> str:
    """``12,345``."""
    return format_figure("count", v, "report")


def fmt_number(v: float | None) -> str:
    """Three significant digits."""
    return format_figure("number", v, "report")


def ci_text(summary: Mapping[str, Any], path: str, fmt: Callable[[float | None], str]) -> str:
    ci = (summary.get("ci95") or {}).get(path)
    if not ci or ci[0] is None or ci[1] is None or not all(map(math.isfinite, ci)):
        return ""
    return f"{fmt(ci[0])} – {fmt(ci[1])}"


def as_number(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def figure_formatter(path: str) -> Callable[[float | None], str]:
    """How to print the summary figure at a dotted path (a plain number for a path the catalogue does not know)."""
    found = find(path)
    kind = "number" if found is None else found.kind

    def fmt(v: float | None) -> str:
        return format_figure(kind, v, "report")

    return fmt
