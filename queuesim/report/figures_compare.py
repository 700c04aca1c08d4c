"""The comparison figure: what each variant loses, duplicates, refuses and makes its users wait, side by side."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from queuesim.figures import time_unit

__all__ = ["PANELS", "MAX_PANELS", "comparison_figure"]

#: Candidate panels, in order: compare-table column, title, colour, whether it is a latency.
#: A waiting client's response p99 is drawn instead of the end-to-end p99 when there is one:
#: it is what the user sees (an async design's end to end includes work done after the answer).
PANELS = (
    ("loss_rate", "lost (% of requests)", "tab:red", False),
    ("duplicate_rate", "duplicate processings (% of messages processed)", "tab:orange", False),
    ("rejection_rate", "503 rejections (% of attempts)", "tab:brown", False),
    ("gave_up_rate", "gave up (% of requests)", "tab:purple", False),
    ("abandoned_rate", "abandoned by the client (% of requests)", "tab:pink", False),
    ("response_p99", "client response p99", "tab:blue", True),
    ("p99", "end-to-end p99", "tab:blue", True),
)
MAX_PANELS = 4


def _values(table: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)


def comparison_figure(table: pd.DataFrame) -> Figure:
    """One bar panel per figure on which some variant differs from zero, one bar per variant.

    A rate that is zero (or missing) in every variant gets no panel of its own: the figure's
    subtitle names it instead, so no panel is an empty axis. The latency panel (the client's
    response p99 where clients wait, else the end-to-end p99) is always drawn, in ms below a second.
    """
    waits = "response_p99" in table and np.isfinite(_values(table, "response_p99")).any()
    shown, zero = [], []
    for column, title, color, latency in PANELS:
        if column not in table or (column == "p99" and waits):
            continue
        values = _values(table, column)
        if latency or (np.isfinite(values) & (values != 0)).any():
            shown.append((column, title, color, latency))
        else:
            zero.append(title.split(" (")[0])
    latency_panels = [s for s in shown if s[3]]
    rates = [s for s in shown if not s[3]][: MAX_PANELS - len(latency_panels)]
    shown = rates + latency_panels
    fig = Figure(figsize=(max(5.0, 3.3 * len(shown)), 4.4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, max(1, len(shown)), squeeze=False).ravel()
    names = [str(n) for n in table.index]
    x = np.arange(len(names))
    for ax, (column, title, color, latency) in zip(axes, shown, strict=True):
        raw = _values(table, column)
        if latency:
            finite = raw[np.isfinite(raw)]
            unit = time_unit(float(finite.max()) if finite.size else None)
            values, label = unit(raw), f"{title} ({unit.name})"
        else:
            values, label = 100 * raw, title
        bars = ax.bar(x, np.nan_to_num(values), color=color, alpha=0.85)
        ax.bar_label(bars, labels=[_fmt(v) for v in values], fontsize=8, padding=2)
        ax.set_title(label, fontsize=10)
        ax.set_xticks(x, names, rotation=30 if len(names) > 2 else 0, ha="right" if len(names) > 2 else "center",
                      fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        top = float(np.nanmax(values, initial=0.0))
        ax.set_ylim(0.0, top * 1.2 if top > 0 else 1.0)
        if top <= 0:
            ax.text(0.5, 0.5, "no completed requests", transform=ax.transAxes, ha="center", color="0.35")
    subtitle = f"zero in every variant: {', '.join(zero)}" if zero else ""
    fig.suptitle("Same workload, same faults: each variant side by side"
                 + (f"\n{subtitle}" if subtitle else ""), fontsize=11)
    return fig


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return "—"
    return f"{v:.3g}"
