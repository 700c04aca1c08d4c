"""Checks of queuesim.report.plots: figure structure, CDF correctness, PNG output and empty runs."""

from __future__ import annotations

import re
from types import SimpleNamespace as NS

import numpy as np
import pandas as pd
import pytest
import queuesim.report as report
from matplotlib.figure import Figure
from matplotlib.patches import StepPatch
from PIL import Image
from queuesim.metrics import messages_frame, requests_frame, summarize, timeseries
from queuesim.metrics.tables import OUTCOMES
from queuesim.report import plots
from queuesim.report.plots import (
    NO_COMPLETED,
    QUANTILES,
    STEMS,
    flow,
    format_duration,
    latency_cdf,
    latency_histogram,
    queue_depth,
    run_figures,
    save_all,
    time_unit,
)
from queuesim.scenario import Scenario, scenario_from_dict
from queuesim.sim import simulate

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _scenario(capacity: int, rate: float = 3.6, down: bool = False) -> Scenario:
    return scenario_from_dict({
        "seed": 1, "duration": 600.0, "warmup": 60.0,
        "producers": {"web": {"to": "q", "rate": rate, "retry": {"attempts": 3, "backoff": 0.1, "max_backoff": 20}}},
        "queues": {"q": {"broker": "redis", "capacity": capacity}},
        "workers": {"w": {"from": "q", "count": 4, "service": {"dist": "exponential", "mean": 1.0}}},
        "faults": [{"at": 0.0, "queue": "q", "kind": "outage", "duration": 600.0}] if down else [],
    })


def _tables(scenario: Scenario) -> NS:
    records = [simulate(scenario)]
    return NS(requests=requests_frame(records), messages=messages_frame(records),
              timeseries=timeseries(records), summary=summarize(records))


@pytest.fixture(scope="module")
def run() -> NS:
    """A busy single-queue run: waits, some 503s and give-ups, a warm-up."""
    return _tables(_scenario(capacity=20))


@pytest.fixture(scope="module")
def rejected() -> NS:
    """A queue down for the whole run: every publish is refused, nothing completes."""
    return _tables(_scenario(capacity=0, rate=5.0, down=True))


def _synthetic(e2e: np.ndarray, wait: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Minimal requests/messages tables with the given completed latencies, all in the window."""
    n = e2e.size
    wait = np.zeros(n) if wait is None else wait
    completed = pd.Categorical.from_codes(np.full(n, OUTCOMES.index("completed"), np.int32), OUTCOMES)
    requests = pd.DataFrame({"end_to_end": e2e, "outcome": completed, "in_window": np.ones(n, bool)})
    messages = pd.DataFrame({"accepted": np.zeros(wait.size), "first_receive": wait,
                             "in_window": np.ones(wait.size, bool)})
    return requests, messages


def _line(fig: Figure, prefix: str):
    (line,) = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_label().startswith(prefix)]
    return line


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]


def _legend_labels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _axis_scale(label: str) -> float:
    unit = re.search(r"\((ms|s)\b", label).group(1)
    return 1e3 if unit == "ms" else 1.0


# ----------------------------------------------------------------------------- units


@pytest.mark.parametrize(("seconds", "name", "scale"), [
    (0.0, "ms", 1e3), (0.0004, "ms", 1e3), (0.25, "ms", 1e3), (0.999, "ms", 1e3),
    (1.0, "s", 1.0), (12.5, "s", 1.0), (3600.0, "s", 1.0), (None, "s", 1.0), (float("nan"), "s", 1.0),
])
def test_time_unit_picks_ms_below_one_second(seconds, name, scale):
    unit = time_unit(seconds)
    assert (unit.name, unit.scale) == (name, scale)
    assert unit(2.0) == 2.0 * scale


def test_format_duration_uses_the_picked_unit():
    assert format_duration(0.0123) == "12.3 ms"
    assert format_duration(1.5) == "1.5 s"
    assert format_duration(1234.0) == "1,234 s"


# ----------------------------------------------------------------------------- latency CDF


def test_latency_cdf_structure_and_curve(run):
    fig = latency_cdf(run.requests, run.messages, run.summary)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert fig.get_suptitle().startswith("Latency distribution")
    assert ax.get_title() == "Empirical CDF"
    assert ax.get_ylabel() == "fraction ≤ x"
    scale = _axis_scale(ax.get_xlabel())
    assert ax.get_xlabel().startswith("latency (")

    done = run.requests[run.requests.in_window & (run.requests.outcome == "completed")]
    e2e = _line(fig, "end-to-end")
    x, f = np.asarray(e2e.get_xdata()) / scale, np.asarray(e2e.get_ydata())
    assert f[0] == 0.0 and f[-1] == 1.0 and np.all(np.diff(f) >= 0)
    assert x[-1] == pytest.approx(done.end_to_end.max())
    assert f"n = {len(done):,}" in e2e.get_label()
    lo, hi = np.quantile(done.end_to_end, [0.5 - 1 / QUANTILES, 0.5 + 1 / QUANTILES])
    assert lo <= np.interp(0.5, f, x) <= hi

    m = run.messages[run.messages.in_window]
    waits = (m.first_receive - m.accepted).dropna()
    wait = _line(fig, "queue wait")
    f = np.asarray(wait.get_ydata())
    assert f[-1] == 1.0 and f"n = {len(waits):,}" in wait.get_label()


def test_latency_cdf_marks_p50_and_p99_of_the_summary(run):
    fig = latency_cdf(run.requests, run.messages, run.summary)
    p = run.summary["latency"]["end_to_end"]
    texts = _texts(fig)
    assert f"p50 = {format_duration(p['p50'])}" in texts
    assert f"p99 = {format_duration(p['p99'])}" in texts
    scale = _axis_scale(fig.axes[0].get_xlabel())
    dotted = [ln.get_xdata()[0] for ln in fig.axes[0].get_lines() if ln.get_linestyle() == ":"]
    assert sorted(dotted) == pytest.approx([p["p50"] * scale, p["p99"] * scale])
    # without a summary the marks are computed from the sample itself
    assert f"p50 = {format_duration(p['p50'])}" in _texts(latency_cdf(run.requests, run.messages))


def test_latency_cdf_downsamples_a_million_points():
    rng = np.random.default_rng(7)
    e2e = rng.lognormal(0.0, 0.4, 1_000_000)
    fig = latency_cdf(*_synthetic(e2e, rng.exponential(0.2, 1_000_000)))
    line = _line(fig, "end-to-end")
    assert len(line.get_xdata()) <= QUANTILES + 2
    scale = _axis_scale(fig.axes[0].get_xlabel())
    x, f = np.asarray(line.get_xdata()) / scale, np.asarray(line.get_ydata())
    lo, hi = np.quantile(e2e, [0.5 - 1 / QUANTILES, 0.5 + 1 / QUANTILES])
    assert lo <= np.interp(0.5, f, x) <= hi
    assert f[-1] == 1.0


def test_latency_axes_go_logarithmic_only_for_a_wide_spread():
    rng = np.random.default_rng(3)
    narrow = _synthetic(rng.normal(0.2, 0.02, 5000))
    wide = _synthetic(rng.lognormal(-3.0, 2.0, 5000), rng.lognormal(-5.0, 2.0, 5000))
    assert latency_cdf(*narrow).axes[0].get_xscale() == "linear"
    assert latency_cdf(*wide).axes[0].get_xscale() == "log"
    assert {ax.get_xscale() for ax in latency_histogram(*wide).axes} == {"log"}
    # sub-second latencies are shown in ms
    assert latency_cdf(*narrow).axes[0].get_xlabel() == "latency (ms)"


# ----------------------------------------------------------------------------- histograms


def test_latency_histogram_panels_and_mean(run):
    fig = latency_histogram(run.requests, run.messages)
    left, right = fig.axes
    assert (left.get_title(), right.get_title()) == ("end-to-end latency", "queue wait")
    assert left.get_ylabel() == "% of requests per bin"
    assert right.get_ylabel() == "% of messages per bin"
    scale = _axis_scale(left.get_xlabel())
    assert left.get_xlabel().startswith("end-to-end (") and right.get_xlabel().startswith("queue wait (")

    done = run.requests[run.requests.in_window & (run.requests.outcome == "completed")]
    (bars, _) = [p for p in left.patches if isinstance(p, StepPatch)]
    shares = bars.get_data().values
    assert 99.0 <= shares.sum() <= 100.0 + 1e-9  # all but the tail above p99.9
    mean = [ln for ln in left.get_lines() if ln.get_label().startswith("mean")]
    assert mean[0].get_xdata()[0] == pytest.approx(done.end_to_end.mean() * scale)
    assert f"mean = {format_duration(done.end_to_end.mean())}" in _legend_labels(left)


# ----------------------------------------------------------------------------- time series


def test_queue_depth_panels_and_warmup(run):
    fig = queue_depth(run.timeseries, run.summary)
    top, bottom = fig.axes
    assert top.get_title() == "waiting messages per queue" and top.get_ylabel() == "messages"
    assert bottom.get_title() == "busy workers per pool" and bottom.get_ylabel() == "workers"
    assert bottom.get_xlabel() == "time (s)"
    assert {"q", "warm-up"} <= set(_legend_labels(top))
    assert {"w", "w: 4 workers", "warm-up"} <= set(_legend_labels(bottom))
    (depth,) = [p for p in top.patches if p.get_label() == "q"]
    assert np.allclose(depth.get_data().values, run.timeseries["depth.q"])
    # the shaded band ends where the warm-up buckets end
    (band,) = [p for p in top.patches if p.get_label() == "warm-up"]
    assert band.get_x() + band.get_width() == pytest.approx(60.0)


def test_flow_panels_and_rates(run):
    fig = flow(run.timeseries)
    top, bottom = fig.axes
    assert (top.get_title(), bottom.get_title()) == ("throughput and offered load", "failures")
    assert top.get_ylabel() == "per second" and bottom.get_ylabel() == "events/s"
    assert bottom.get_xlabel() == "time (s)"
    labels = _legend_labels(bottom)
    assert {"503 rejections/s", "gave up/s", "lost/s (none)", "dead-lettered/s (none)"} <= set(labels)
    (completed,) = [p for p in top.patches if p.get_label() == "completed/s"]
    assert np.allclose(completed.get_data().values, run.timeseries["throughput"])
    (rejections,) = [p for p in bottom.patches if p.get_label() == "503 rejections/s"]
    width = np.diff(completed.get_data().edges)
    assert np.allclose(rejections.get_data().values * width, run.timeseries["rejected"])
    # offered is every publish attempt (retries included), drawn beside the new requests
    (offered,) = [p for p in top.patches if p.get_label() == "offered: publish attempts/s"]
    (new,) = [p for p in top.patches if p.get_label() == "new requests/s"]
    assert np.allclose(offered.get_data().values * width, run.timeseries["offered"])
    assert np.allclose(new.get_data().values * width, run.timeseries["produced"])
    assert run.timeseries["offered"].sum() > run.timeseries["produced"].sum()  # this run retries its 503s


def test_flow_shows_duplicates_and_never_claims_none_beside_them():
    """Regression (issue 9): the sqs-visibility failures panel said "no failures" beside 5.6% duplicates."""
    from queuesim import parse_scenario
    from queuesim import run as run_scenario
    from queuesim.experiment.executors import SerialExecutor

    sc = parse_scenario("""\
duration: 20s
producers: {api: {to: q, rate: 60/s}}
queues: {q: {broker: sqs, visibility_timeout: 100ms}}
workers: {w: {from: q, count: 8, service: {dist: lognormal, mean: 60ms, cv: 1.5}}}
""")
    result = run_scenario(sc, executor=SerialExecutor())
    assert result.summary["messages"]["duplicates"] > 0
    assert result.timeseries["duplicates"].sum() >= result.summary["messages"]["duplicates"]
    bottom = flow(result.timeseries, result.summary).axes[1]
    assert "duplicate processings/s" in _legend_labels(bottom)
    assert not any("none of" in t.get_text() or "no failures" in t.get_text() for t in bottom.texts)


# ----------------------------------------------------------------------------- empty runs


def test_everything_rejected_still_draws(rejected, tmp_path):
    assert rejected.summary["messages"]["completed"] == 0
    figs = run_figures(rejected.requests, rejected.messages, rejected.timeseries, rejected.summary)
    assert NO_COMPLETED in _texts(figs["latency_cdf"])
    assert NO_COMPLETED in _texts(figs["latency_hist"])
    assert "completed/s (none)" in _legend_labels(figs["flow"].axes[0])
    assert all(p.stat().st_size > 0 for p in save_all(figs, tmp_path))


def test_zero_row_tables_still_draw(run, tmp_path):
    empty_ts = run.timeseries.iloc[:0]
    figs = run_figures(run.requests.iloc[:0], run.messages.iloc[:0], empty_ts, None)
    assert NO_COMPLETED in _texts(figs["latency_cdf"])
    assert plots.NO_DATA in _texts(figs["queue_depth"])
    assert len(save_all(figs, tmp_path)) == 4


# ----------------------------------------------------------------------------- files and API


def test_save_all_writes_valid_nonblank_pngs(run, tmp_path):
    figs = run_figures(run.requests, run.messages, run.timeseries, run.summary)
    assert tuple(figs) == STEMS
    paths = save_all(figs, tmp_path / "plots")
    assert [p.name for p in paths] == ["latency_cdf.png", "latency_hist.png", "queue_depth.png", "flow.png"]
    for path in paths:
        data = path.read_bytes()
        assert data[:8] == PNG_SIGNATURE
        with Image.open(path) as image:
            image.verify()  # checks chunk CRCs
        with Image.open(path) as image:
            assert image.size == (800, 450)  # 8 x 4.5 in at 100 dpi
            rgb = np.asarray(image.convert("RGB")).reshape(-1, 3)
        assert len(np.unique(rgb[::7], axis=0)) > 1
        assert np.mean(rgb.min(axis=1) < 200) > 0.01  # more than a few specks of ink


def test_public_api():
    assert set(report.__all__) == {
        "latency_cdf", "latency_histogram", "queue_depth", "flow", "run_figures", "run_figures_from", "save_all",
        "time_unit", "format_duration", "TimeUnit", "STEMS",
        "build_report", "write_report", "load_input", "Report", "ReportError",
    }
    assert all(hasattr(report, name) for name in report.__all__)
