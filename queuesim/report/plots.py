"""Matplotlib figures of one run: latency CDF and histograms, queue depth, and flow rates over time.

Every function takes the metrics tables (:func:`queuesim.metrics.requests_frame`,
:func:`~queuesim.metrics.messages_frame`, :func:`~queuesim.metrics.timeseries`, or the time
series' columns as arrays; the ``*_from`` functions the latency samples themselves) and returns a
:class:`matplotlib.figure.Figure` built directly, never through pyplot, so figures can be made in
threads or worker processes without a display and nothing global needs closing.

Latency figures count only the measurement window (rows with ``in_window`` True). Time-series
figures show the whole run with the warm-up buckets shaded grey. Large samples are reduced before
drawing (a CDF is drawn through ``QUANTILES`` quantiles, histograms as one step outline), so a
million rows cost about as much to draw as a thousand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

# time units and the duration format are the figure catalogue's; report.plots keeps their names
from queuesim.figures import PERCENTILES, SECONDS, TimeUnit, time_unit
from queuesim.figures import display_duration as format_duration

if TYPE_CHECKING:
    import pandas as pd

#: The time series a figure reads: ``RunResult.timeseries`` (a frame) or its columns as arrays.
Series: TypeAlias = "pd.DataFrame | Mapping[str, np.ndarray]"

FIGSIZE = (8.0, 4.5)  # inches
DPI = 100
QUANTILES = 2000  # points of a drawn CDF curve
BINS = 60  # histogram bins
WIDE_SPREAD = 30.0  # p99 / (median of the positive values) above which latency axes are logarithmic
NO_COMPLETED = "no completed requests"
NO_RECEIVED = "no received messages"
NO_DATA = "no time series"
STEMS = ("latency_cdf", "latency_hist", "queue_depth", "flow")

E2E_COLOR, WAIT_COLOR = "tab:blue", "tab:orange"
WARMUP_COLOR = "0.88"


# ----------------------------------------------------------------------------- figure plumbing


def _figure(nrows: int = 1, ncols: int = 1, **kw: Any) -> tuple[Figure, np.ndarray]:
    """A figure of the standard size with an Agg canvas and a grid of axes (always a 1-d array)."""
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes.ravel()


def _grid(ax: Axes) -> None:
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)


def _message(ax: Axes, text: str) -> None:
    """Write ``text`` in the middle of an axes that has nothing to draw."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
            fontsize=13, color="0.35")
    ax.set_xticks([])
    ax.set_yticks([])


def _legend_outside(ax: Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i] == "warm-up")  # warm-up last
    ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="upper left",
              bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=9, frameon=False)


def _log_x(ax: Axes) -> None:
    """Logarithmic x axis with plain-number tick labels (0.01, 0.1, 1, 10 rather than 10^k)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    # minor ticks at 2 and 5 only, unlabelled: each tick is costly to lay out and draw
    ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    ax.xaxis.set_minor_formatter(NullFormatter())


# ----------------------------------------------------------------------------- latency samples


def _col(ts: Series, name: str, dtype: type = float) -> np.ndarray:
    """One time-series column as an array, from a frame or a mapping alike."""
    return np.asarray(ts[name], dtype=dtype)


def _end_to_end(requests: pd.DataFrame) -> np.ndarray:
    """End-to-end latencies (s) of the completed requests in the window."""
    completed = (requests["outcome"] == "completed").to_numpy(dtype=bool)
    keep = requests["in_window"].to_numpy(dtype=bool) & completed
    x: np.ndarray = requests["end_to_end"].to_numpy(dtype=float)[keep]
    return x  # the *_from functions keep the finite ones


def _queue_wait(messages: pd.DataFrame) -> np.ndarray:
    """Queue waits (first receive - accepted, s) of the window's messages that were received."""
    keep = messages["in_window"].to_numpy(dtype=bool)
    first = messages["first_receive"].to_numpy(dtype=float)[keep]
    x: np.ndarray = first - messages["accepted"].to_numpy(dtype=float)[keep]
    return x


def _finite(x: np.ndarray) -> np.ndarray:
    finite: np.ndarray = x[np.isfinite(x)]
    return finite


def _percentile(xs: np.ndarray, q: float) -> float:
    """Percentile ``q`` (0..100) of a sorted sample, interpolated like :func:`numpy.percentile`."""
    pos = (xs.size - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, xs.size - 1)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


def _positive_median(xs: np.ndarray) -> float:
    """Median of the positive values of a sorted sample (NaN if there are none)."""
    pos = xs[np.searchsorted(xs, 0.0, side="right"):]
    return float(pos[pos.size // 2]) if pos.size else math.nan


def _is_wide(sorted_samples: list[np.ndarray]) -> bool:
    """True when the largest p99 exceeds ``WIDE_SPREAD`` times the smallest median of the positive
    values: the samples span enough orders of magnitude to want a logarithmic axis."""
    samples = [s for s in sorted_samples if s.size]
    medians = [m for m in map(_positive_median, samples) if not math.isnan(m)]
    if not medians:
        return False
    hi = max(_percentile(s, 99.0) for s in samples)
    return hi / min(medians) > WIDE_SPREAD


def _log_floor(sorted_samples: list[np.ndarray]) -> float:
    """Left end (s) of a logarithmic latency axis: the smallest 0.1th percentile of the positive
    values of the samples, so that a few tiny values do not stretch the axis over many decades."""
    lows, top = [], 0.0
    for xs in sorted_samples:
        pos = xs[np.searchsorted(xs, 0.0, side="right"):]
        if pos.size:
            lows.append(float(pos[int(pos.size * 0.001)]))
            top = max(top, float(pos[-1]))
    if not lows:
        return 1e-3
    return max(min(lows), top * 1e-6)


def _ecdf(xs: np.ndarray, points: int = QUANTILES) -> tuple[np.ndarray, np.ndarray]:
    """The empirical CDF of a sorted sample through about ``points`` evenly spaced quantiles.

    Returns ``(x, F)``: sample values in increasing order and the fraction of the sample at or
    below each, from 0 (at the minimum, before its jump) to exactly 1 (at the maximum).
    """
    n = xs.size
    if n == 0:
        return np.empty(0), np.empty(0)
    idx = np.unique(np.round(np.linspace(0, n - 1, min(n, points + 1))).astype(np.int64))
    x = np.concatenate([[xs[0]], xs[idx]])
    f = np.concatenate([[0.0], (idx + 1) / n])
    return x, f


def _summary_quantiles(summary: Mapping[str, Any] | None, sample: np.ndarray) -> dict[str, float]:
    """p50/p99 of end-to-end latency: from the summary when it has them, else from the sample."""
    lat = ((summary or {}).get("latency") or {}).get("end_to_end") or {}
    out = {}
    for key in ("p50", "p99"):
        q = PERCENTILES[key]
        v = lat.get(key)
        out[key] = float(v) if v is not None else _percentile(sample, q)
    return out


# ----------------------------------------------------------------------------- latency figures


def _make_room(ax: Axes, x: float, log: bool, room: float = 0.17) -> None:
    """Widen the x axis so that a label starting at ``x`` has ``room`` (axes fraction) to its right."""
    lo, hi = ax.get_xlim()
    if log:
        lo, hi, x = math.log(lo), math.log(hi), math.log(max(x, lo))
    need = (x - room * lo) / (1.0 - room)
    if need > hi:
        ax.set_xlim(right=math.exp(need) if log else need)


def latency_cdf(requests: pd.DataFrame, messages: pd.DataFrame,
                summary: Mapping[str, Any] | None = None) -> Figure:
    """Empirical CDFs of end-to-end latency (completed requests) and queue wait (received messages).

    Parameters
    ----------
    requests, messages
        The tables of :func:`queuesim.metrics.requests_frame` and ``messages_frame``; only rows
        with ``in_window`` True count.
    summary
        Optional ``summary.json`` dictionary; its end-to-end p50 and p99 are marked (computed from
        the sample when absent), so the figure agrees with the summary to the digit.

    Returns
    -------
    Figure
        One axes. The x axis is logarithmic when the latencies span a wide range; it then starts
        near the 0.1th percentile of the positive values, the curves jump at that floor by the
        share of values at or below it, and the share of zeros is given in the legend.
    """
    return latency_cdf_from(_end_to_end(requests), _queue_wait(messages), summary)


def latency_cdf_from(end_to_end: np.ndarray, queue_wait: np.ndarray,
                     summary: Mapping[str, Any] | None = None) -> Figure:
    """:func:`latency_cdf` of the samples themselves (s; the window's completed requests and received messages)."""
    e2e = np.sort(_finite(end_to_end))
    wait = np.sort(_finite(queue_wait))
    fig, (ax,) = _figure()
    fig.suptitle("Latency distribution (measurement window)")
    ax.set_title("Empirical CDF", fontsize=10)
    ax.set_ylabel("fraction ≤ x")
    if e2e.size == 0 and wait.size == 0:
        ax.set_xlabel("latency")
        _message(ax, NO_COMPLETED)
        return fig

    top = max(_percentile(s, 99.0) for s in (e2e, wait) if s.size)
    unit = time_unit(top)
    wide = _is_wide([e2e, wait])
    curves = []
    for xs, color, what in ((e2e, E2E_COLOR, "end-to-end"), (wait, WAIT_COLOR, "queue wait")):
        if xs.size:
            x, f = _ecdf(xs)
            zeros = np.searchsorted(xs, 0.0, side="right") / xs.size
            label = f"{what} (n = {xs.size:,})"
            if wide and zeros >= 0.005:
                label += f", {zeros:.0%} zero"
            curves.append((unit(x), f, color, label))

    if wide:
        _log_x(ax)
        floor = unit(_log_floor([e2e, wait]))
        for c in curves:
            np.maximum(c[0], floor, out=c[0])  # values below the floor (zeros) jump up at it
        right = max(c[0][-1] for c in curves)
        ax.set_xlim(floor / 1.5, max(right, floor * 10.0) * 1.5)
    else:
        lo = min(0.0, min(c[0][0] for c in curves))
        hi = max(max(c[0][-1] for c in curves), lo + unit(1e-3))
        pad = 0.015 * (hi - lo)  # keeps a jump at 0 off the spine
        ax.set_xlim(lo - pad, hi + pad)
    for x, f, color, label in curves:
        ax.plot(x, f, color=color, lw=1.8, label=label, drawstyle="steps-post")

    if e2e.size:
        qs = _summary_quantiles(summary, e2e)
        _make_room(ax, unit(qs["p99"]), wide)
        for key, v in qs.items():
            level = PERCENTILES[key] / 100
            xv = unit(v)
            if wide:
                xv = max(xv, ax.get_xlim()[0])
            ax.axvline(xv, color="0.2", ls=":", lw=1.2, zorder=1)
            ax.plot([xv], [level], "o", color=E2E_COLOR, ms=4, zorder=3)
            ax.annotate(f"{key} = {format_duration(v)}", xy=(xv, level), xytext=(5, -5),
                        textcoords="offset points", ha="left", va="top", fontsize=9,
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85})
    else:
        ax.text(0.98, 0.5, NO_COMPLETED, transform=ax.transAxes, ha="right", va="center",
                fontsize=12, color="0.35")

    ax.set_xlabel(f"latency ({unit.name}{', log scale' if wide else ''})")
    ax.set_ylim(0.0, 1.02)
    _grid(ax)
    ax.legend(loc="best", fontsize=9)  # the spot overlapping the fewest curve points and labels
    return fig


def _histogram_panel(ax: Axes, xs: np.ndarray, unit: TimeUnit, log: bool, color: str,
                     noun: str) -> None:
    """Histogram of one sorted latency sample as a percentage of the sample, mean marked.

    With ``log`` the bins are logarithmic from :func:`_log_floor` to the maximum; the shares of
    zeros and of values below the floor, which the axis cannot show, are noted in the legend.
    """
    mean = float(xs.mean())
    notes = []
    if log:
        floor = _log_floor([xs])
        zeros = int(np.searchsorted(xs, 0.0, side="right"))
        below = int(np.searchsorted(xs, floor, side="left")) - zeros
        hi = max(float(xs[-1]), floor * 10.0)
        edges = np.geomspace(floor, hi, BINS + 1)
        counts = np.histogram(xs[zeros + below:], bins=edges)[0]
        _log_x(ax)
        hidden = [f"{zeros / xs.size:.1%} zero"] if zeros else []
        if below:
            hidden.append(f"{below / xs.size:.2%} < {format_duration(floor)}")
        if hidden:
            notes.append(", ".join(hidden) + ": not shown")
    else:
        hi = max(_percentile(xs, 99.9), mean)
        lo = 0.0 if xs[0] >= 0 else float(xs[0])
        if hi <= lo:
            hi = lo + max(abs(lo), 1e-3)
        edges = np.linspace(lo, hi, BINS + 1)
        counts = np.histogram(xs, bins=edges)[0]
        beyond = xs.size - int(np.searchsorted(xs, hi, side="right"))
        if beyond:
            notes.append(f"{beyond / xs.size:.2%} above {format_duration(hi)}, not shown")
    share = counts * (100.0 / xs.size)
    ax.stairs(share, unit(edges), fill=True, color=color, alpha=0.45, lw=0)
    ax.stairs(share, unit(edges), color=color, lw=1.2, label=f"{noun} (n = {xs.size:,})")
    ax.axvline(unit(mean), color="black", ls="--", lw=1.3, label=f"mean = {format_duration(mean)}")
    for note in notes:
        ax.plot([], [], " ", label=note)
    # headroom above the tallest bar leaves the legend a free band at the top
    ax.set_ylim(0.0, max(share.max(), 1.0) / 0.68)
    ax.legend(loc="best", fontsize=8.5)


def latency_histogram(requests: pd.DataFrame, messages: pd.DataFrame) -> Figure:
    """Histograms of end-to-end latency (completed requests) and queue wait, side by side.

    Bars are the percentage of the sample in each bin; the dashed line marks the mean. On a linear
    axis the bins cover up to the 99.9th percentile (the share beyond is noted in the legend); when
    the spread is wide the axis and bins are logarithmic and exact zeros are noted instead.
    """
    return latency_histogram_from(_end_to_end(requests), _queue_wait(messages))


def latency_histogram_from(end_to_end: np.ndarray, queue_wait: np.ndarray) -> Figure:
    """:func:`latency_histogram` of the samples themselves (s)."""
    e2e = np.sort(_finite(end_to_end))
    wait = np.sort(_finite(queue_wait))
    fig, axes = _figure(1, 2)
    fig.suptitle("Latency histograms (measurement window)")
    top = max((_percentile(s, 99.0) for s in (e2e, wait) if s.size), default=None)
    unit = time_unit(top)
    wide = _is_wide([e2e, wait])
    panels = ((axes[0], e2e, E2E_COLOR, "end-to-end", "requests", NO_COMPLETED),
              (axes[1], wait, WAIT_COLOR, "queue wait", "messages", NO_RECEIVED))
    for ax, xs, color, what, noun, empty in panels:
        ax.set_title(f"{what} latency" if what == "end-to-end" else what, fontsize=10)
        ax.set_xlabel(f"{what} ({unit.name}{', log scale' if wide else ''})")
        ax.set_ylabel(f"% of {noun} per bin")
        if xs.size:
            _histogram_panel(ax, xs, unit, wide, color, noun)
            _grid(ax)
        else:
            _message(ax, empty)
    return fig


# ----------------------------------------------------------------------------- time series


def _edges(ts: Series) -> np.ndarray:
    """Bucket edges (s): the bucket starts plus the end of the last bucket."""
    t = _col(ts, "time", float)
    if t.size == 1:
        return np.array([t[0], t[0] + 1.0])
    last = t[-1] - t[-2]
    if "completed" in ts and "throughput" in ts:  # the last bucket may be cut short by the duration
        c, r = float(_col(ts, "completed")[-1]), float(_col(ts, "throughput")[-1])
        if c > 0 and r > 0:
            last = c / r
    return np.append(t, t[-1] + last)


def _shade_warmup(ax: Axes, ts: Series, edges: np.ndarray, unit: TimeUnit) -> None:
    """Grey band over the warm-up buckets, labelled 'warm-up' in the legend (never over the data)."""
    if "warmup" not in ts:
        return
    warm = _col(ts, "warmup", bool)
    if warm.any():
        end = edges[np.flatnonzero(warm)[-1] + 1]
        ax.axvspan(unit(edges[0]), unit(end), color=WARMUP_COLOR, zorder=0, lw=0, label="warm-up")


def _columns(ts: Series, prefix: str) -> list[str]:
    return [c for c in map(str, ts) if c.startswith(prefix)]  # a frame iterates its column names


FAULT_COLORS = {"restart": "tab:red", "outage": "tab:orange"}


def _mark_faults(ax: Axes, faults: Sequence[Mapping[str, Any]], unit: TimeUnit, label: bool) -> None:
    """Hatched band over each scheduled broker fault, named in the legend once per kind."""
    named: set[str] = set()
    for f in faults:
        kind = f.get("kind", "fault")
        start, end = float(f["at"]), float(f.get("end", f["at"]))
        color = FAULT_COLORS.get(kind, "tab:red")
        text = f"{kind} ({f.get('queue', '')})" if label and kind not in named else None
        named.add(kind)
        if end > start:
            ax.axvspan(unit(start), unit(end), color=color, alpha=0.15, lw=0, zorder=0.5, label=text)
        else:
            ax.axvline(unit(start), color=color, lw=1.2, ls=":", zorder=0.5, label=text)


def _time_axes(ts: Series, nrows: int, title: str,
               faults: Sequence[Mapping[str, Any]] = ()) -> tuple[Figure, np.ndarray, np.ndarray, TimeUnit]:
    """Stacked axes sharing a time axis, warm-up shaded, broker faults marked; also the bucket
    edges (s) and the unit."""
    fig, axes = _figure(nrows, 1, sharex=True)
    fig.suptitle(title)
    if len(ts) == 0:
        return fig, axes, np.empty(0), SECONDS
    edges = _edges(ts)
    unit = time_unit(edges[-1])
    for ax in axes:
        _shade_warmup(ax, ts, edges, unit)
        _mark_faults(ax, faults, unit, label=True)
        _grid(ax)
    axes[-1].set_xlabel(f"time ({unit.name})")
    axes[-1].set_xlim(unit(edges[0]), unit(edges[-1]))
    return fig, axes, edges, unit


def queue_depth(timeseries: Series, summary: Mapping[str, Any] | None = None) -> Figure:
    """Messages waiting per queue (top) and busy workers per pool (bottom) over time.

    Values are time averages over each bucket (and over replications). With ``summary`` each
    pool's worker count is drawn as a dashed line of the same colour.
    """
    fig, (top, bottom), edges, unit = _time_axes(timeseries, 2, "Queue depth and workers in service",
                                                 (summary or {}).get("faults") or ())
    top.set_title("waiting messages per queue", fontsize=10)
    top.set_ylabel("messages")
    bottom.set_title("busy workers per pool", fontsize=10)
    bottom.set_ylabel("workers")
    if edges.size == 0:
        bottom.set_xlabel("time")
        _message(top, NO_DATA)
        _message(bottom, NO_DATA)
        return fig
    x = unit(edges)
    for ax, prefix in ((top, "depth."), (bottom, "in_service.")):
        cols = _columns(timeseries, prefix)
        for i, col in enumerate(cols):
            ax.stairs(_col(timeseries, col, float), x, baseline=None, lw=1.4,
                      color=f"C{i}", label=col[len(prefix):])
        if not cols:
            ax.text(0.5, 0.5, "none", transform=ax.transAxes, ha="center", color="0.35")
        ax.set_ylim(bottom=0.0)
    workers = (summary or {}).get("workers") or {}
    counts = []
    for i, col in enumerate(_columns(timeseries, "in_service.")):
        pool = col[len("in_service."):]
        count = (workers.get(pool) or {}).get("count")
        if count:
            counts.append(count)
            bottom.axhline(count, color=f"C{i}", ls="--", lw=1.0, label=f"{pool}: {count} workers")
    if counts:
        bottom.set_ylim(top=max(bottom.get_ylim()[1], max(counts) * 1.1))
    _legend_outside(top)
    _legend_outside(bottom)
    return fig


#: What went wrong, per second: time-series column, legend label, colour. Duplicates and
#: abandoned requests are here too: a run can have neither 503s nor losses and still process
#: 5% of its messages twice, or leave users waiting until they gave up.
FAILURES = (("rejected", "503 rejections/s", "tab:red"), ("gave_up", "gave up/s", "tab:purple"),
            ("lost", "lost/s", "tab:brown"), ("dead_lettered", "dead-lettered/s", "tab:gray"),
            ("duplicates", "duplicate processings/s", "tab:orange"), ("abandoned", "abandoned/s", "tab:pink"))


def flow(timeseries: Series, summary: Mapping[str, Any] | None = None) -> Figure:
    """Throughput against the offered load (top) and what went wrong, per second (bottom), over time.

    Top: completed requests per second, every publish attempt per second (``offered``: first
    attempts and retries, which is what loads the broker in a retry storm) and the new requests
    per second (``produced``). Bottom: 503 rejections of publish attempts, requests that gave up,
    were lost or dead-lettered, duplicate processings and abandoned requests. Series that stay at
    zero are drawn thin beneath the others and marked "(none)"; series the time series lacks (an
    older result) are not claimed to be zero. Broker faults listed in ``summary["faults"]`` are shaded.
    """
    fig, (top, bottom), edges, unit = _time_axes(timeseries, 2, "Flow: throughput, offered load and failures",
                                                 (summary or {}).get("faults") or ())
    top.set_title("throughput and offered load", fontsize=10)
    top.set_ylabel("per second")
    bottom.set_title("failures", fontsize=10)
    bottom.set_ylabel("events/s")
    if edges.size == 0:
        bottom.set_xlabel("time")
        _message(top, NO_DATA)
        _message(bottom, NO_DATA)
        return fig
    x = unit(edges)
    width = np.diff(edges)
    throughput = _col(timeseries, "throughput", float)
    top.stairs(throughput, x, baseline=None, lw=1.6, color="tab:green", zorder=3,
               label="completed/s" if np.any(throughput > 0) else "completed/s (none)")
    if "offered" in timeseries:
        top.stairs(_col(timeseries, "offered", float) / width, x, baseline=None, lw=1.2,
                   ls="--", color="0.15", label="offered: publish attempts/s", zorder=2)
    if "produced" in timeseries:
        top.stairs(_col(timeseries, "produced", float) / width, x, baseline=None, lw=1.0,
                   ls=":", color="0.45", label="new requests/s", zorder=2)
    top.set_ylim(bottom=0.0)
    drawn = []
    for col, label, color in FAILURES:
        if col not in timeseries:
            continue
        drawn.append(label.removesuffix("/s"))
        rate = _col(timeseries, col, float) / width
        if np.any(rate > 0):
            bottom.stairs(rate, x, baseline=None, lw=1.5, color=color, label=label, zorder=3)
        else:
            bottom.stairs(rate, x, baseline=None, lw=0.8, ls=(0, (4, 3)), color=color, alpha=0.6,
                          label=f"{label} (none)", zorder=2)
    any_failure = any(np.any(_col(timeseries, c, float) > 0) for c, _, _ in FAILURES if c in timeseries)
    bottom.set_ylim(bottom=0.0, top=None if any_failure else 1.0)
    if not any_failure:
        # name what was looked at: an older time series has no duplicates column to be zero
        bottom.text(0.5, 0.55, "none of: " + ", ".join(drawn), transform=bottom.transAxes, ha="center",
                    color="0.35", fontsize=9, wrap=True)
    _legend_outside(top)
    _legend_outside(bottom)
    return fig


# ----------------------------------------------------------------------------- a run's figures


def capacity(timeseries: Series, summary: Mapping[str, Any] | None = None) -> Figure:
    """Elastic pools over time: workers provisioned beside busy ones (top), queue depth (middle) and
    the p99 end-to-end latency of the requests completed in each bucket (bottom)."""
    fig, (top, middle, bottom), edges, unit = _time_axes(timeseries, 3, "Capacity over time",
                                                         (summary or {}).get("faults") or ())
    top.set_title("workers provisioned (solid) and busy (dashed)", fontsize=10)
    top.set_ylabel("workers")
    middle.set_title("waiting messages per queue", fontsize=10)
    middle.set_ylabel("messages")
    bottom.set_title("p99 end-to-end latency of the requests completed in each bucket", fontsize=10)
    if edges.size == 0:
        for ax in (top, middle, bottom):
            _message(ax, NO_DATA)
        return fig
    x = unit(edges)
    for i, col in enumerate(_columns(timeseries, "workers.")):
        pool = col[len("workers."):]
        top.stairs(_col(timeseries, col, float), x, baseline=None, lw=1.4, color=f"C{i}", label=pool)
        busy = f"in_service.{pool}"
        if busy in timeseries:
            top.stairs(_col(timeseries, busy, float), x, baseline=None, lw=1.0, ls="--", color=f"C{i}")
    for i, col in enumerate(_columns(timeseries, "depth.")):
        middle.stairs(_col(timeseries, col, float), x, baseline=None, lw=1.4, color=f"C{i}",
                      label=col[len("depth."):])
    if "end_to_end.p99" in timeseries:
        p99 = _col(timeseries, "end_to_end.p99", float)
        shown = time_unit(float(np.nanmax(p99)) if np.isfinite(p99).any() else None)
        bottom.stairs(shown(p99), x, baseline=None, lw=1.4, color="tab:red")
        bottom.set_ylabel(f"p99 ({shown.name})")
    for ax in (top, middle, bottom):
        ax.set_ylim(bottom=0.0)
    _legend_outside(top)
    _legend_outside(middle)
    return fig


def run_figures(requests: pd.DataFrame, messages: pd.DataFrame, timeseries: Series,
                summary: Mapping[str, Any] | None = None) -> dict[str, Figure]:
    """The figures of a run keyed by file stem: ``latency_cdf``, ``latency_hist``, ``queue_depth``
    and ``flow``, and ``capacity`` when a pool's count changes over the run."""
    return run_figures_from(_end_to_end(requests), _queue_wait(messages), timeseries, summary)


def run_figures_from(end_to_end: np.ndarray, queue_wait: np.ndarray, timeseries: Series,
                     summary: Mapping[str, Any] | None = None) -> dict[str, Figure]:
    """:func:`run_figures` from the latency samples (s) and the time series' columns: no tables, and no pandas."""
    figures = {
        "latency_cdf": latency_cdf_from(end_to_end, queue_wait, summary),
        "latency_hist": latency_histogram_from(end_to_end, queue_wait),
        "queue_depth": queue_depth(timeseries, summary),
        "flow": flow(timeseries, summary),
    }
    if _columns(timeseries, "workers."):
        figures["capacity"] = capacity(timeseries, summary)
    return figures


def save_all(figures: Mapping[str, Figure], out_dir: str | Path) -> list[Path]:
    """Write each figure to ``out_dir/<stem>.png`` (creating the directory); return the paths.

    Figures are not pyplot-managed, so there is nothing global to close; drop the references to
    free them.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, fig in figures.items():
        path = out / f"{stem}.png"
        fig.savefig(path, dpi=DPI)
        paths.append(path)
    return paths
