"""Stability maps as heat maps: the probability of not recovering from a spike, per base load and spike, with the stable region's boundary.

The figures take the per-point table of a stability map (``stability.parquet``: ``base``,
``spike``, ``p_not_recovered``, ``verdict``, ``seeds`` …, see
:mod:`queuesim.experiment.stability`) and nothing else, and are built without pyplot, like
:mod:`queuesim.report.plots`. Cells are coloured from green (every seed recovered) to red (none
did); a bistable point (seeds disagree) is hatched; a thick line separates the stable cells from
the rest, so the boundary of the stable region reads at a glance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from queuesim.figures import format_rate

__all__ = ["stability_map", "stability_maps", "STABLE_COLOR", "UNSTABLE_COLOR"]

STABLE_COLOR = "#4c9a6a"
UNSTABLE_COLOR = "#c8553d"
MISSING_COLOR = "#dddddd"
_CMAP = LinearSegmentedColormap.from_list("recovery", [STABLE_COLOR, "#f2d06b", UNSTABLE_COLOR]).with_extremes(bad=MISSING_COLOR)


def _grid(table: pd.DataFrame) -> tuple[list[float], list[str], np.ndarray, list[list[pd.Series | None]]]:
    """Bases (columns), spike labels (rows, in table order) and p(not recovered) per cell."""
    bases = sorted(table["base"].unique().tolist())
    spikes = list(dict.fromkeys(table["spike"].tolist()))
    grid = np.full((len(spikes), len(bases)), np.nan)
    rows: list[list[pd.Series | None]] = [[None] * len(bases) for _ in spikes]
    for _, row in table.iterrows():
        i, j = spikes.index(row["spike"]), bases.index(row["base"])
        grid[i, j] = row["p_not_recovered"]
        rows[i][j] = row
    return bases, spikes, grid, rows


def _stable(row: pd.Series | None) -> bool:
    return row is not None and row["verdict"] == "stable"


def _draw(ax: Axes, table: pd.DataFrame, title: str | None) -> None:
    bases, spikes, grid, rows = _grid(table)
    ax.pcolormesh(np.ma.masked_invalid(grid), cmap=_CMAP, vmin=0.0, vmax=1.0, edgecolors="white", linewidth=1.2)
    for i in range(len(spikes)):
        for j in range(len(bases)):
            row = rows[i][j]
            if row is None:
                continue
            if row["verdict"] == "bistable":
                ax.add_patch(Rectangle((j, i), 1, 1, fill=False, hatch="///", ec="0.25", lw=0, zorder=3))
            p = row["p_not_recovered"]
            label = "—" if p is None or (isinstance(p, float) and math.isnan(p)) else f"{p:.0%}"
            box = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75}
            ax.text(j + 0.5, i + 0.5, f"{label}\nn={int(row['seeds'])}", ha="center", va="center", fontsize=8,
                    color="0.1", zorder=4, bbox=box, linespacing=1.1)
    # the boundary of the stable region: every edge between a stable cell and one that is not
    for i in range(len(spikes)):
        for j in range(len(bases)):
            here = _stable(rows[i][j])
            if j + 1 < len(bases) and here != _stable(rows[i][j + 1]):
                ax.plot([j + 1, j + 1], [i, i + 1], color="black", lw=2.6, zorder=5, solid_capstyle="butt")
            if i + 1 < len(spikes) and here != _stable(rows[i + 1][j]):
                ax.plot([j, j + 1], [i + 1, i + 1], color="black", lw=2.6, zorder=5, solid_capstyle="butt")
    ax.set_xticks(np.arange(len(bases)) + 0.5, [format_rate(b, 4) for b in bases],
                  rotation=0 if len(bases) <= 8 else 45, ha="center" if len(bases) <= 8 else "right")
    ax.set_yticks(np.arange(len(spikes)) + 0.5, spikes)
    ax.set_xlabel("base load")
    ax.set_ylabel("spike (peak × duration)")
    ax.set_xlim(0, len(bases))
    ax.set_ylim(0, len(spikes))
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(length=0)
    if title:
        ax.set_title(title, fontsize=10)


def _handles(gaps: bool) -> list[Patch]:
    handles = [Patch(color=STABLE_COLOR, label="recovered (every seed)"),
               Patch(color=UNSTABLE_COLOR, label="did not recover (every seed)"),
               Patch(fc="white", ec="0.25", hatch="///", label="bistable: seeds disagree"),
               Patch(fc="none", ec="black", lw=2.2, label="boundary of the stable region")]
    if gaps:  # a spike whose peak is at or below a base is that base without a spike: no cell of its own
        handles.append(Patch(color=MISSING_COLOR, label="no point (peak ≤ base: see 'none')"))
    return handles


def _has_gaps(table: pd.DataFrame) -> bool:
    return len(table) < table["base"].nunique() * table["spike"].nunique()


def stability_map(table: pd.DataFrame, title: str | None = None) -> Figure:
    """One stability map: P(no recovery within the horizon) per (base load, spike) cell.

    Parameters
    ----------
    table : DataFrame
        A stability map's per-point table (``base``, ``spike``, ``p_not_recovered``, ``verdict``, ``seeds``).
    title : str, optional
    """
    bases = table["base"].nunique()
    spikes = table["spike"].nunique()
    fig = Figure(figsize=(min(14.0, max(7.0, 0.95 * bases + 5.5)), min(8.0, max(3.0, 0.6 * spikes + 2.0))),
                 layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    _draw(ax, table, None)
    fig.suptitle(title or "Probability of not recovering from the spike")
    ax.legend(handles=_handles(_has_gaps(table)), loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8,
              frameon=False)
    return fig


def stability_maps(tables: Mapping[str, pd.DataFrame], columns: int = 2, title: str | None = None) -> Figure:
    """Several stability maps side by side (one design per panel), on the same colour scale.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        Panel title -> that design's per-point table.
    columns : int, default 2
    """
    n = len(tables)
    cols = max(1, min(columns, n))
    nrows = math.ceil(n / cols)
    first = next(iter(tables.values()))
    width = min(16.0, cols * max(5.0, 0.8 * first["base"].nunique() + 2.6))
    height = min(14.0, nrows * max(2.8, 0.5 * first["spike"].nunique() + 2.0) + 0.8)
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(nrows, cols, squeeze=False)).ravel()
    for ax, (name, table) in zip(axes, tables.items(), strict=False):
        _draw(ax, table, name)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(title or "Probability of not recovering from the spike, per design")
    gaps = any(_has_gaps(t) for t in tables.values())
    fig.legend(handles=_handles(gaps), loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    return fig
