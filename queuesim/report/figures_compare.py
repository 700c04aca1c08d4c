"""The comparison figure: loss, duplicates and tail latency of each variant side by side."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def comparison_figure(table: pd.DataFrame) -> Figure:
    """Three bar panels (lost %, duplicates %, end-to-end p99) with one bar per variant."""
    fig = Figure(figsize=(10, 4.2), dpi=100, layout="constrained")
    axes = fig.subplots(1, 3)
    names = list(table.index)
    x = np.arange(len(names))
    panels = [
        ("lost (% of produced)", 100 * table["loss_rate"].fillna(0.0), "tab:red"),
        ("duplicates (% of processed)", 100 * table["duplicate_rate"].fillna(0.0), "tab:orange"),
        ("end-to-end p99 (s)", table["p99"].astype(float), "tab:blue"),
    ]
    for ax, (title, values, color) in zip(axes, panels, strict=True):
        bars = ax.bar(x, values.to_numpy(dtype=float), color=color, alpha=0.85)
        ax.bar_label(bars, labels=[_fmt(v) for v in values], fontsize=8, padding=2)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.set_ylim(bottom=0, top=max(1e-9, float(np.nanmax(values.to_numpy(dtype=float), initial=0))) * 1.2 or 1)
    fig.suptitle("Same workload, same faults: what each broker loses, duplicates and delays")
    return fig


def _fmt(v: float) -> str:
    if v != v:  # NaN
        return "—"
    return f"{v:.3g}"
