"""Matplotlib figures of a sweep: latency percentiles and failure rates against load, and where the SLO holds.

Every function takes the tidy sweep table (one row per point, a column per varied path and per
summary figure named by its dotted path, e.g. ``latency.end_to_end.p99``) and returns a
:class:`matplotlib.figure.Figure` built without pyplot, like :mod:`queuesim.report.plots`.

The x axis is one varied path (the load, normally a producer rate); a second varied path, when
there is one, gives one line per value. SLO limits are drawn as horizontal dashed lines on the
panel of the figure they limit. Intervals are drawn where the table has a 95% interval for a
figure (mean latencies and rates), as a shaded band around the line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogFormatter, MaxNLocator

from queuesim.figures import (
    LATENCY_STATS,
    Kind,
    TimeUnit,
    find,
    format_duration,
    format_figure,
    format_rate,
    latency_parts,
    latency_path,
    stat_label,
    time_unit,
)
from queuesim.report.plots import DPI

__all__ = [
    "LATENCY_STATS_SHOWN", "FAILURE_RATES", "CiColumns", "axis_label", "value_formatter",
    "latency_vs_load", "rates_vs_load", "slo_heatmap", "latency_percentiles", "plan_candidates",
]

#: End-to-end latency percentiles drawn against load (each SLO-limited latency is added).
LATENCY_STATS_SHOWN = (latency_path("end_to_end", "p50"), latency_path("end_to_end", "p99"))
#: Failure rates that may be drawn against load: column, panel title.
FAILURE_RATES = (("rates.rejection", "503 rejections (of publish attempts)"),
                 ("rates.gave_up", "gave up (of requests)"),
                 ("rates.abandoned", "abandoned by the client (of requests)"),
                 ("rates.loss", "lost (of requests)"),
                 ("rates.duplicate", "duplicate processings (of messages processed)"))
MAX_PANELS = 4
LOG_SPREAD = 30.0  # largest / smallest positive value above which a y axis is logarithmic
LATENCY_LOG_SPREAD = 10.0  # lower for latency against load: the knee near saturation would flatten the rest
SLO_COLOR = "tab:red"
MET_COLOR, BORDERLINE_COLOR, NOT_MET_COLOR, MISSING_COLOR = "#b7e1c1", "#f7e3a1", "#f4b6b0", "#e6e6e6"


def _verdict_level(v: Any) -> float:
    """A verdict as a heat-map level: not met 0, borderline 0.5, met 1; NaN for no data."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return math.nan
    if isinstance(v, (bool, np.bool_)):
        return float(bool(v))
    return {"met": 1.0, "borderline": 0.5, "not met": 0.0}.get(str(v), math.nan)
BISTABLE_COLOR = "tab:orange"

#: Figure column -> (low, high) columns of its 95% interval in the table.
CiColumns = Mapping[str, tuple[str, str]]

_DURATION_LEAVES = {"duration", "warmup", "visibility_timeout", "backoff", "max_backoff", "mean",
                    "value", "low", "high"}


def _figure(nrows: int, ncols: int, width: float = 8.0, height: float = 4.5) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False).ravel()


def value_formatter(path: str) -> Callable[[Any], str]:
    """How to print a value of a varied path: rates per second as ``900/s``, durations as ``250ms``."""
    leaf = path.rsplit(".", 1)[-1]

    def fmt(v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "—"
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            if leaf == "rate":
                return format_rate(float(v), digits=4)
            if leaf in _DURATION_LEAVES:
                return format_duration(float(v), digits=4)
            return f"{v:g}" if isinstance(v, (float, np.floating)) else str(int(v))
        return str(v)

    return fmt


def axis_label(path: str) -> str:
    """An axis label naming the path and its unit."""
    leaf = path.rsplit(".", 1)[-1]
    if leaf == "rate":
        return f"{path} (requests/s)"
    if leaf in _DURATION_LEAVES:
        return f"{path} (s)"
    return path


def is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def x_positions(table: pd.DataFrame, x: str) -> tuple[np.ndarray, list[Any], bool]:
    """Plot positions of each row, the distinct x values in order, and whether x is numeric."""
    col = table[x]
    if is_numeric(col):
        levels = sorted(col.dropna().unique().tolist())
        return col.to_numpy(dtype=float), levels, True
    levels = list(dict.fromkeys(col.tolist()))
    index = {v: i for i, v in enumerate(levels)}
    return np.array([index[v] for v in col], dtype=float), levels, False


def _series_levels(table: pd.DataFrame, series: str | None) -> list[Any]:
    if series is None:
        return [None]
    col = table[series]
    return sorted(col.dropna().unique().tolist()) if is_numeric(col) else list(dict.fromkeys(col.tolist()))


def _series_colors(n: int) -> list[Any]:
    if n <= 10:
        return [f"C{i}" for i in range(n)]
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(0.05 + 0.85 * i / (n - 1)) for i in range(n)]


def _setup_x(ax: Axes, table: pd.DataFrame, x: str, levels: list[Any], numeric: bool) -> None:
    fmt = value_formatter(x)
    if numeric:
        if len(levels) <= 12:
            ax.set_xticks(levels)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))
    else:
        ax.set_xticks(range(len(levels)), [fmt(v) for v in levels])
    # more than four labels of six characters or so overlap on a panel a third of a page wide
    if len(levels) > 4 and max((len(fmt(v)) for v in levels), default=0) > 4:
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    ax.set_xlabel(axis_label(x))


def _log_if_wide(ax: Axes, values: np.ndarray, spread: float = LOG_SPREAD) -> bool:
    """A logarithmic y axis when the positive values span more than ``spread``; it starts just below the
    smallest of them, so a band clipped at zero never stretches it over empty decades."""
    pos = values[np.isfinite(values) & (values > 0)]
    if pos.size and pos.max() / pos.min() > spread:
        ax.set_yscale("log")
        ax.set_ylim(pos.min() / 1.3, pos.max() * 1.3)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        # within a decade or two, label some minor ticks too, as plain numbers (600, not 6×10²)
        ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.4)))
        return True
    return False


def _grid(ax: Axes) -> None:
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.1)


def _panel_lines(ax: Axes, table: pd.DataFrame, column: str, x: str, series: str | None,
                 scale: Callable[[Any], Any] | TimeUnit, ci: CiColumns | None,
                 clip: tuple[float, float] = (0.0, math.inf)) -> np.ndarray:
    """One line per series value of ``column`` against ``x``; returns every value drawn (scaled).

    Values and interval bands are clipped to ``clip`` (scaled units): a t-interval over two
    replications of a rate can reach past 100%, and no latency or rate is below zero.
    """
    pos, _, _ = x_positions(table, x)
    levels = _series_levels(table, series)
    colors = _series_colors(len(levels))
    fmt = value_formatter(series) if series else str
    drawn = []
    for level, color in zip(levels, colors, strict=True):
        rows = np.ones(len(table), dtype=bool) if series is None else (table[series] == level).to_numpy()
        order = np.argsort(pos[rows], kind="stable")
        xs = pos[rows][order]
        ys = np.clip(scale(table[column].to_numpy(dtype=float)[rows][order]), *clip)
        label = column if series is None else f"{fmt(level)}"
        ax.plot(xs, ys, marker="o", ms=3.5, lw=1.6, color=color, label=label)
        drawn.append(ys)
        bounds = (ci or {}).get(column)
        if bounds and all(b in table for b in bounds):
            lo = np.clip(scale(table[bounds[0]].to_numpy(dtype=float)[rows][order]), *clip)
            hi = np.clip(scale(table[bounds[1]].to_numpy(dtype=float)[rows][order]), *clip)
            ax.fill_between(xs, lo, hi, color=color, alpha=0.15, lw=0)
            drawn += [lo, hi]
    return np.concatenate(drawn) if drawn else np.empty(0)


def _slo_line(ax: Axes, limit: float, scale: Callable[[Any], Any] | TimeUnit, text: str) -> None:
    ax.axhline(float(scale(limit)), color=SLO_COLOR, ls="--", lw=1.4, zorder=4, label=f"SLO {text}")


def _series_legend(fig: Figure, axes: Sequence[Axes] | np.ndarray, series: str | None) -> None:
    """One legend for every panel: series values (titled by the path), then the SLO lines."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    if not seen:
        return
    labels = list(seen)
    ncol = 1 if len(labels) <= 14 else 2
    axes[-1].legend([seen[k] for k in labels], labels, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                    borderaxespad=0.0, fontsize=8.5, frameon=False, ncol=ncol,
                    title=series, title_fontsize=8.5)


def _panel_grid(n: int) -> tuple[int, int, float, float]:
    if n <= 1:
        return 1, 1, 8.0, 4.5
    if n == 2:
        return 1, 2, 9.5, 4.2
    if n == 3:
        return 1, 3, 11.0, 4.0
    return 2, 2, 9.5, 7.0


def latency_vs_load(table: pd.DataFrame, x: str, series: str | None = None,
                    limits: Mapping[str, float] | None = None, ci: CiColumns | None = None,
                    columns: Sequence[str] | None = None) -> Figure:
    """Latency percentiles against load: one panel per figure, one line per ``series`` value.

    Parameters
    ----------
    table : DataFrame
        The sweep table (already sliced to the points to draw when more than two paths vary).
    x : str
        Varied path on the x axis (normally a producer rate).
    series : str, optional
        Second varied path: one line per value.
    limits : mapping, optional
        SLO limits keyed by summary path (seconds for latencies); each latency limit gets its own
        panel if not already shown, with the limit as a dashed line.
    ci : mapping, optional
        Figure column -> (low, high) interval columns; drawn as bands.
    columns : sequence of str, optional
        Latency columns to draw; default :data:`LATENCY_STATS_SHOWN` plus every limited latency.

    Returns
    -------
    Figure
        Latencies in ms below one second (s otherwise); a y axis is logarithmic when its values
        span more than a factor of 10, as they do when a design nears saturation.
    """
    limits = dict(limits or {})
    wanted = list(columns or LATENCY_STATS_SHOWN)
    wanted += [p for p in limits if latency_parts(p) is not None and p not in wanted]
    shown = [c for c in wanted if c in table][:MAX_PANELS]
    nrows, ncols, w, h = _panel_grid(len(shown))
    fig, axes = _figure(nrows, ncols, w, h)
    fig.suptitle("Latency against load" + ("" if series is None else f", one line per {series}"))
    if not shown or len(table) == 0:
        axes[0].text(0.5, 0.5, "no latency figures in the sweep table", transform=axes[0].transAxes,
                     ha="center", va="center", color="0.35")
        return fig
    everything = np.concatenate([table[c].to_numpy(dtype=float) for c in shown]
                                + [np.array([v for k, v in limits.items() if k in shown])])
    finite = everything[np.isfinite(everything)]
    unit: TimeUnit = time_unit(float(np.nanmax(finite)) if finite.size else None)
    _, levels, numeric = x_positions(table, x)
    for ax, column in zip(axes, shown, strict=False):  # a 2×2 grid may hold three panels
        values = _panel_lines(ax, table, column, x, series, unit, ci)
        kind, stat = latency_parts(column) or ("", column)
        if column in limits:
            _slo_line(ax, limits[column], unit, f"{stat} ≤ {format_figure('duration', limits[column])}")
            values = np.append(values, unit(limits[column]))
        log = _log_if_wide(ax, values, LATENCY_LOG_SPREAD)
        ax.set_title(f"{kind.replace('_', '-')} {stat}", fontsize=10)
        ax.set_ylabel(f"latency ({unit.name}{', log' if log else ''})")
        if not log:
            ax.set_ylim(bottom=0.0)
        _setup_x(ax, table, x, levels, numeric)
        _grid(ax)
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    _series_legend(fig, axes[:len(shown)], series)
    return fig


def _in_unit(unit: TimeUnit) -> Callable[[Any], Any]:
    """Seconds to ``unit`` as a plain function (a TimeUnit's overloaded call does not fit ``Callable``)."""
    return lambda values: unit(np.asarray(values, dtype=float))


def _identity(values: Any) -> Any:
    return np.asarray(values, dtype=float)


def _percent(values: Any) -> Any:
    return np.asarray(values, dtype=float) * 100.0


def rates_vs_load(table: pd.DataFrame, x: str, series: str | None = None,
                  limits: Mapping[str, float] | None = None, ci: CiColumns | None = None) -> Figure:
    """Failure rates (percent, clipped to 0–100%) against load, one line per ``series`` value.

    Candidates are :data:`FAILURE_RATES`; a rate gets a panel when it is above zero at some point
    or an SLO limits it (the limit is the dashed line). Rates zero at every point get no panel:
    the figure's title names them, and a figure whose every rate is zero is one panel saying so.
    """
    limits = dict(limits or {})

    def nonzero(column: str) -> bool:
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        return bool((np.isfinite(values) & (values > 0)).any())

    candidates = [(c, t) for c, t in FAILURE_RATES if c in table]
    panels = [(c, t) for c, t in candidates if c in limits or nonzero(c)][:MAX_PANELS]
    zero = [t.split(" (")[0] for c, t in candidates if (c, t) not in panels]
    nrows, ncols, w, h = _panel_grid(max(1, len(panels)))
    fig, axes = _figure(nrows, ncols, w, h)
    title = "Failure rates against load" + ("" if series is None else f", one line per {series}")
    fig.suptitle(title + (f"\nzero at every point: {', '.join(zero)}" if zero and panels else ""))
    if not panels or len(table) == 0:
        what = f"zero at every point: {', '.join(zero)}" if zero else "no rates in the sweep table"
        axes[0].text(0.5, 0.5, what, transform=axes[0].transAxes, ha="center", va="center", color="0.35",
                     wrap=True)
        axes[0].set_xticks([])
        axes[0].set_yticks([])
        return fig
    _, levels, numeric = x_positions(table, x)
    for ax, (column, title_) in zip(axes, panels, strict=False):
        values = _panel_lines(ax, table, column, x, series, _percent, ci, clip=(0.0, 100.0))
        if column in limits:
            _slo_line(ax, limits[column], lambda v: v * 100.0,
                      f"{column.split('.')[1]} ≤ {format_figure('fraction', limits[column], 'report')}")
        ax.set_title(title_, fontsize=10)
        ax.set_ylabel("percent")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}%"))
        top = float(np.nanmax(values)) if np.isfinite(values).any() else 0.0
        top = max(top, limits.get(column, 0.0) * 100.0)
        # a share tops out at 100%: headroom above the largest value, never past 100% plus a margin
        ax.set_ylim(0.0, min(top * 1.12, 105.0) if top > 0 else 1.0)
        _setup_x(ax, table, x, levels, numeric)
        _grid(ax)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    _series_legend(fig, axes[:len(panels)], series)
    return fig


def slo_heatmap(table: pd.DataFrame, x: str, y: str | None, verdicts: pd.Series,
                annotate: pd.Series | None = None, highlight: Mapping[str, Any] | None = None,
                flagged: pd.Series | None = None) -> Figure:
    """Whether the SLO holds (every limit) at each point of the grid of two swept axes.

    Parameters
    ----------
    table : DataFrame
        The sweep table.
    x, y : str
        The varied paths on the x and y axes; with ``y`` None the map is one row.
    verdicts : Series of str (or bool)
        Per row of ``table``: the SLO's verdict, ``met``, ``borderline`` or ``not met`` (a bool is
        read as met / not met; None or NaN as no data).
    annotate : Series of str, optional
        Per row: a short text written in the cell (the value of the binding figure).
    highlight : mapping, optional
        Varied path -> value of a point to outline (the recommendation).
    flagged : Series of bool, optional
        Per row: a bistable point (its replications disagreed), outlined dashed and marked.
    """
    xfmt = value_formatter(x)
    _, xs, _ = x_positions(table, x)
    ys = _series_levels(table, y)
    width = min(11.0, max(6.0, 0.9 * len(xs) + 3.5))
    height = min(8.0, max(2.6, 0.45 * len(ys) + 2.2))
    fig, (ax,) = _figure(1, 1, width, height)
    fig.suptitle("Where the SLO is met (every limit)")
    grid = np.full((len(ys), len(xs)), np.nan)
    text = [[""] * len(xs) for _ in ys]
    odd: list[tuple[int, int]] = []
    xi = {v: i for i, v in enumerate(xs)}
    yi = {v: i for i, v in enumerate(ys)}
    for r in range(len(table)):
        row = table.iloc[r]
        i = yi[row[y]] if y is not None else 0
        j = xi[row[x]]
        grid[i, j] = _verdict_level(verdicts.iloc[r])
        if annotate is not None:
            text[i][j] = str(annotate.iloc[r])
        if flagged is not None and bool(flagged.iloc[r]):
            odd.append((i, j))
            text[i][j] = f"{text[i][j]}\nbistable".strip()
    # not met 0, borderline 0.5, met 1: three equal bins of the colour map
    cmap = ListedColormap([NOT_MET_COLOR, BORDERLINE_COLOR, MET_COLOR]).with_extremes(bad=MISSING_COLOR)
    ax.pcolormesh(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=1, edgecolors="white", linewidth=1.5)
    ax.set_xticks(np.arange(len(xs)) + 0.5, [xfmt(v) for v in xs],
                  rotation=0 if len(xs) <= 8 else 45, ha="center" if len(xs) <= 8 else "right")
    ax.set_xlabel(axis_label(x))
    if y is not None:
        yfmt = value_formatter(y)
        ax.set_yticks(np.arange(len(ys)) + 0.5, [yfmt(v) for v in ys])
        ax.set_ylabel(y)
    else:
        ax.set_yticks([])
    ax.set_xlim(0, len(xs))
    ax.set_ylim(0, len(ys))
    cells = len(xs) * len(ys)
    size = 9 if cells <= 40 else 7.5 if cells <= 120 else 0
    if size:
        for i in range(len(ys)):
            for j in range(len(xs)):
                mark = "" if math.isnan(grid[i, j]) else "✓" if grid[i, j] == 1 else "~" if grid[i, j] else "✗"
                label = f"{mark} {text[i][j]}".strip() if len(xs) <= 12 else mark
                ax.text(j + 0.5, i + 0.5, label or "no data", ha="center", va="center", fontsize=size,
                        color="0.15")
    for i, j in odd:
        ax.add_patch(_outline(j, i, ls="--", ec=BISTABLE_COLOR))
    if highlight:
        hx = highlight.get(x)
        hy = highlight.get(y) if y is not None else None
        if hx in xi and (y is None or hy in yi):
            i = yi[hy] if y is not None else 0
            ax.add_patch(_outline(xi[hx], i))
    from matplotlib.patches import Patch

    handles = [Patch(color=MET_COLOR, label="SLO met")]
    if (grid == 0.5).any():
        handles.append(Patch(color=BORDERLINE_COLOR, label="borderline"))
    handles.append(Patch(color=NOT_MET_COLOR, label="not met"))
    if np.isnan(grid).any():
        handles.append(Patch(color=MISSING_COLOR, label="no data"))
    if highlight:
        handles.append(Patch(fill=False, ec="black", lw=2, label="recommended"))
    if odd:
        handles.append(Patch(fill=False, ec=BISTABLE_COLOR, lw=2, ls="--", label="bistable: replications disagree"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
              fontsize=8.5, frameon=False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(length=0)
    return fig


def _outline(j: int, i: int, ls: str = "-", ec: str = "black") -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((j + 0.04, i + 0.04), 0.92, 0.92, fill=False, ec=ec, lw=2.2, ls=ls, zorder=5)


#: The statistics drawn for each latency kind, with their axis labels: the percentiles and max.
PERCENTILE_STATS = tuple((s, stat_label(s)) for s in LATENCY_STATS if s != "mean")
_KINDS = (("response", "response (user waits)", "tab:purple"), ("end_to_end", "end to end", "tab:blue"),
          ("queue_wait", "queue wait", "tab:orange"), ("service", "service", "tab:green"),
          ("ack", "publish ack", "tab:brown"))
_DRAWN_UNLESS_LIMITED = ("ack",)  # drawn only when an SLO limits it, to keep the figure readable


def latency_percentiles(summary: Mapping[str, Any], limits: Mapping[str, float] | None = None) -> Figure:
    """One run's latency percentiles (p50 … max) per kind, with its latency SLO limits.

    End to end, queue wait and service are always drawn, the response time when producers wait for
    results, and any other kind (publish ack) when an SLO limits it.

    Each limit on ``latency.<kind>.<stat>`` is drawn as a dashed red line with a marker at its
    percentile, so a reader sees at once which percentile breaks it and by how much.
    """
    limited = {parts: v for k, v in (limits or {}).items() if (parts := latency_parts(k)) is not None}
    lat = summary.get("latency") or {}
    fig, (ax,) = _figure(1, 1)
    fig.suptitle("Latency percentiles (measurement window)")
    values = [v for kind, _, _ in _KINDS for s, _ in PERCENTILE_STATS
              if (v := (lat.get(kind) or {}).get(s)) is not None]
    if not values:
        ax.text(0.5, 0.5, "no completed requests", transform=ax.transAxes, ha="center", va="center",
                color="0.35")
        return fig
    unit = time_unit(max(values + list(limited.values())))
    xs = np.arange(len(PERCENTILE_STATS))
    drawn = []
    for kind, label, color in _KINDS:
        d = lat.get(kind) or {}
        if kind == "response" and not d.get("count"):
            continue  # only producers that wait for the result have a response time
        if kind in _DRAWN_UNLESS_LIMITED and kind not in {k for k, _ in limited}:
            continue
        ys = np.array([np.nan if d.get(s) is None else unit(float(d[s])) for s, _ in PERCENTILE_STATS])
        if np.isfinite(ys).any():
            ax.plot(xs, ys, marker="o", ms=4, lw=1.6, color=color, label=label)
            drawn.append(ys)
    stat_index = {s: i for i, (s, _) in enumerate(PERCENTILE_STATS)}
    for (kind, stat), limit in limited.items():
        text = f"SLO {kind.replace('_', '-')} {stat} ≤ {format_figure('duration', limit)}"
        ax.axhline(unit(limit), color=SLO_COLOR, ls="--", lw=1.3, zorder=4, label=text)
        if stat in stat_index:
            ax.plot([stat_index[stat]], [unit(limit)], marker="v", color=SLO_COLOR, ms=8, zorder=5)
        drawn.append(np.array([unit(limit)]))
    log = _log_if_wide(ax, np.concatenate(drawn))
    if not log:
        ax.set_ylim(bottom=0.0)
    ax.set_xticks(xs, [label for _, label in PERCENTILE_STATS])
    ax.set_xlabel("percentile")
    ax.set_ylabel(f"latency ({unit.name}{', log scale' if log else ''})")
    _grid(ax)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8.5, frameon=False)
    return fig


def plan_candidates(plan: Mapping[str, Any]) -> Figure | None:
    """Each SLO figure of every candidate a plan simulated against the searched value, with its limit.

    One panel per limited figure (at most :data:`MAX_PANELS`); search runs are dots, confirmation
    runs (more replications, fresh seeds) rings; the dashed red line is the limit. None when the
    plan recorded no candidate with a checked figure.
    """
    search = str(plan.get("search") or "")
    points: dict[str, list[tuple[float, float, bool]]] = {}
    limits: dict[str, float] = {}
    for e in plan.get("evaluations") or []:
        value = e.get("value")
        for c in e.get("checks") or []:
            v, limit = c.get("value"), c.get("limit")
            if value is None or v is None or limit is None:
                continue
            points.setdefault(str(c["path"]), []).append((float(value), float(v), bool(e.get("confirmation"))))
            limits[str(c["path"])] = float(limit)
    if not points:
        return None
    shown = list(points)[:MAX_PANELS]
    nrows, ncols, w, h = _panel_grid(len(shown))
    fig, axes = _figure(nrows, ncols, w, h)
    fig.suptitle(f"The plan's candidates: each SLO figure against {search}")
    for ax, path in zip(axes, shown, strict=False):
        entry = find(path)
        kind: Kind = entry.kind if entry is not None else "number"
        scale: Callable[[Any], Any] = _identity
        unit = ""
        if kind == "duration":
            tu = time_unit(max(v for _, v, _ in points[path]) or None)
            scale, unit = _in_unit(tu), f" ({tu.name})"
        elif kind == "fraction":
            scale, unit = _percent, " (%)"
        for confirmation, style in ((False, {"marker": "o", "color": "tab:blue", "label": "search"}),
                                    (True, {"marker": "o", "mfc": "none", "color": "tab:green", "ms": 9,
                                            "label": "confirmation"})):
            xs = [x for x, _, c in points[path] if c == confirmation]
            ys = [y for _, y, c in points[path] if c == confirmation]
            if xs:
                ax.plot(xs, scale(np.asarray(ys, dtype=float)), ls="none", **style)
        _slo_line(ax, limits[path], scale, f"≤ {format_figure(kind, limits[path], 'report')}")
        ax.set_title(path, fontsize=10)
        ax.set_ylabel(f"simulated{unit}")
        ax.set_xlabel(search)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(bottom=0.0)
        _grid(ax)
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    _series_legend(fig, axes[:len(shown)], None)
    return fig
