"""Load shapes: schedules, spikes, daily curves, batch jobs and trace replay.

Three tiers: exact traces with regular (evenly spaced) arrivals, constant service and hand-worked
times; statistical checks of Poisson counts against their mean with a tolerance from the Poisson
variance; validation with file:line errors. Plus a regression pin showing that a plain ``rate:``
scenario gives the very numbers it gave before load shapes existed.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import queuesim
from queuesim import ScenarioError, parse_scenario
from queuesim.metrics import summarize, timeseries
from queuesim.scenario import Scenario
from queuesim.scenario.load_shapes import SCENARIO_DIR, Daily
from queuesim.sim import simulate

from conftest import scenario

# a pool so large and fast that nothing waits: these tests are about when requests are created
SINK = """
queues: {q: {broker: redis}}
workers: {w: {from: q, count: 64, service: 1ms}}
"""


def sink(text: str) -> Scenario:
    """A scenario from an indented snippet of duration and producers, served by SINK."""
    return scenario(textwrap.dedent(text) + SINK)


def created(text: str, seed: int = 0) -> np.ndarray:
    return simulate(sink(text), seed=seed).requests["created"]


def problems_of(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(textwrap.dedent(text), source="x.yaml")
    return [str(p) for p in info.value.problems]


# -- exact traces ---------------------------------------------------------------------------------
def test_schedule_steps_switch_at_their_instants() -> None:
    # 10/s until 1 s, then 20/s until 2 s, then nothing: regular arrivals at k/10, then 1 + k/20
    t = created("""
        duration: 5s
        producers:
          web: {to: q, rate: [{until: 1s, rate: 10/s}, {until: 2s, rate: 20/s}], arrivals: regular}
    """)
    expected = np.concatenate([np.arange(1, 10) / 10, 1 + np.arange(0, 20) / 20])
    np.testing.assert_allclose(t, expected, rtol=0, atol=1e-12)
    assert np.count_nonzero(t < 1) == 9 and np.count_nonzero((t >= 1) & (t < 2)) == 20 and t.max() < 2


def test_open_last_step_holds_to_the_end_and_zero_steps_pause() -> None:
    t = created("""
        duration: 4s
        producers:
          web: {to: q, rate: [{until: 1s, rate: 4/s}, {until: 2s, rate: 0/s}, {rate: 2/s}], arrivals: regular}
    """)
    np.testing.assert_allclose(t, [0.25, 0.5, 0.75, 2.0, 2.5, 3.0, 3.5], atol=1e-12)


def test_spike_raises_the_rate_for_its_duration_only() -> None:
    t = created("""
        duration: 6s
        producers:
          web: {to: q, rate: {shape: spike, base: 2/s, peak: 10/s, at: 2s, duration: 1s}, arrivals: regular}
    """)
    np.testing.assert_allclose(t, [0.5, 1.0, 1.5, 2.0, 2.1, 2.2, 2.3, 2.4, 2.5, 2.6, 2.7, 2.8, 2.9,
                                   3.0, 3.5, 4.0, 4.5, 5.0, 5.5], atol=1e-12)


def test_regular_daily_curve_puts_arrival_k_where_the_cumulative_rate_reaches_k() -> None:
    spec = Daily(mean=50.0, amplitude=30.0, peak_at=20.0, period=60.0)
    t = created("""
        duration: 120s
        producers:
          web: {to: q, rate: {shape: daily, mean: 50/s, amplitude: 30/s, peak_at: 20s, period: 1m}, arrivals: regular}
    """)
    assert spec.cumulative(120.0) == pytest.approx(6000)  # two whole periods at 50/s
    assert t.size == 5999  # the 6000th falls at 120 s, the end of the run
    np.testing.assert_allclose(spec.cumulative(t), np.arange(1, t.size + 1), rtol=1e-9)


def test_batch_jobs_arrive_at_exact_times_with_exact_sizes() -> None:
    t = created("""
        duration: 35s
        producers:
          cron: {to: q, batch: {every: 10s, size: 5, at: 2s}}
    """)
    times, counts = np.unique(t, return_counts=True)
    assert times.tolist() == [2.0, 12.0, 22.0, 32.0] and counts.tolist() == [5, 5, 5, 5]


def test_batch_spread_and_a_batch_beside_a_rate() -> None:
    t = created("""
        duration: 10s
        producers:
          cron: {to: q, batch: {every: 5s, size: 4, at: 1s, spread: 2s}}
    """)
    np.testing.assert_allclose(t, [1.0, 1.5, 2.0, 2.5, 6.0, 6.5, 7.0, 7.5])
    both = created("""
        duration: 3s
        producers:
          web: {to: q, rate: 2/s, arrivals: regular, batch: {every: 1m, size: 3, at: 1.2s}}
    """)
    np.testing.assert_allclose(np.sort(both), [0.5, 1.0, 1.2, 1.2, 1.2, 1.5, 2.0, 2.5])


def test_trace_replay_reproduces_the_csv_timestamps(tmp_path: Path) -> None:
    (tmp_path / "arrivals.csv").write_text("timestamp,user\n0.25,a\n# a comment\n\n3.5,b\n1.0,c\n1.0,d\n9.75,e\n")
    sc = Scenario.model_validate(
        _data("producers: {web: {to: q, trace: {file: arrivals.csv, column: timestamp}}}", duration=5),
        context={SCENARIO_DIR: str(tmp_path)},
    )
    t = simulate(sc).requests["created"]
    np.testing.assert_allclose(t, [0.25, 1.0, 1.0, 3.5], atol=1e-12)  # sorted; 9.75 is past the end
    assert sc.producers["web"].expected_arrivals(0, 5) == 4


def test_trace_rebase_and_speed(tmp_path: Path) -> None:
    path = tmp_path / "epoch.csv"
    path.write_text("1700000010\n1700000000\n1700000004\n")
    t = created(f"""
        duration: 10s
        producers:
          web: {{to: q, trace: {{file: {path}, rebase: true, speed: 2}}}}
    """)
    np.testing.assert_allclose(t, [0.0, 2.0, 5.0])


# -- statistics -----------------------------------------------------------------------------------
def test_piecewise_poisson_counts_per_step_match_their_means() -> None:
    text = """
        duration: 100s
        producers:
          web: {to: q, rate: [{until: 40s, rate: 150/s}, {until: 70s, rate: 450/s}, {rate: 50/s}]}
    """
    for seed in (1, 2):
        t = created(text, seed=seed)
        for lo, hi, rate in ((0, 40, 150), (40, 70, 450), (70, 100, 50)):
            n, mean = np.count_nonzero((t >= lo) & (t < hi)), rate * (hi - lo)
            assert abs(n - mean) <= 4 * math.sqrt(mean), (seed, lo, n, mean)  # Poisson: variance = mean


def test_daily_curve_mean_rate_and_shape() -> None:
    text = """
        duration: 200s
        producers:
          web: {to: q, rate: {shape: daily, mean: 300/s, amplitude: 200/s, peak_at: 25s, period: 100s}}
    """
    sc = sink(text)
    spec = sc.producers["web"].profile
    assert isinstance(spec, Daily)
    assert sc.producers["web"].mean_rate_over(0, 200) == pytest.approx(300.0)
    t = simulate(sc, seed=3).requests["created"]
    assert abs(t.size - 60000) <= 4 * math.sqrt(60000)
    edges = np.arange(0, 201, 10.0)
    counts = np.histogram(t, edges)[0]
    means = np.diff(spec.cumulative(edges))
    assert np.all(np.abs(counts - means) <= 4 * np.sqrt(means)), (counts, means)
    assert counts[2] > 4 * counts[7]  # around the peak (20-30 s) vs the trough (70-80 s)


def test_time_varying_mean_rates_feed_the_summary() -> None:
    sc = sink("""
        duration: 100s
        warmup: 20s
        producers:
          web: {to: q, rate: {shape: spike, base: 100/s, peak: 500/s, at: 50s, duration: 10s}}
          cron: {to: q, batch: {every: 30s, size: 300, at: 15s}}
    """)
    web, cron = sc.producers["web"], sc.producers["cron"]
    assert web.mean_rate == 100.0 and web.mean_rate_over(20, 100) == pytest.approx((100 * 70 + 500 * 10) / 80)
    assert cron.expected_arrivals(20, 100) == 600  # batches at 45 s and 75 s (15 s is in the warmup)
    s = summarize([simulate(sc)])
    assert s["rates"]["base_load"] == pytest.approx((100 * 70 + 500 * 10 + 600) / 80)


# -- determinism and contract ---------------------------------------------------------------------
def test_other_producers_streams_do_not_move_when_a_shaped_producer_is_added() -> None:
    alone = created("""
        duration: 20s
        producers:
          web: {to: q, rate: 50/s}
    """)
    with_more = simulate(sink("""
        duration: 20s
        producers:
          web: {to: q, rate: 50/s}
          cron: {to: q, batch: {every: 5s, size: 10}}
          wave: {to: q, rate: {shape: daily, mean: 20/s, amplitude: 10/s, period: 10s}}
    """))
    web = with_more.requests["created"][with_more.requests["producer"] == 0]
    np.testing.assert_array_equal(web, alone)


def test_plain_rate_scenarios_give_the_numbers_they_gave_before_load_shapes() -> None:
    """Regression pin (not a validation): quickstart on 20 s, recorded before this feature was added."""
    r = queuesim.run("scenarios/quickstart.yaml", overrides=["duration=20s", "warmup=2s"])
    s = r.summary
    assert s["messages"]["produced"] == 28648 and s["messages"]["completed"] == 28633
    assert s["messages"]["in_flight"] == 15 and s["messages"]["rejected"] == 0
    assert s["latency"]["end_to_end"]["mean"] == 0.01984372403608404
    assert s["latency"]["end_to_end"]["p99"] == 0.0846487183278383
    assert s["latency"]["queue_wait"]["mean"] == 0.010842197800220697
    assert s["rates"]["offered"] == pytest.approx(28648 / 36) and s["rates"]["base_load"] == 800.0
    assert s["latency"]["response"]["count"] == 0 and s["latency"]["response"]["p99"] is None
    assert s["messages"]["abandoned"] == 0 and s["messages"]["throttled"] == 0


def test_to_dict_round_trip_and_scaling() -> None:
    sc = sink("""
        duration: 1m
        producers:
          web: {to: q, rate: [{until: 30s, rate: 100/s}, {rate: 300/s}]}
          cron: {to: q, batch: {every: 10s, size: 20}}
    """)
    assert queuesim.scenario.scenario_from_dict(sc.to_dict()) == sc
    assert sc.to_dict()["producers"]["web"]["rate"] == [{"until": 30.0, "rate": 100.0}, {"until": None, "rate": 300.0}]
    assert sc.producers["web"].rate is None and str(sc.producers["web"].profile) == "schedule(100/s until 30s, 300/s until end)"
    doubled = sc.producers["web"].scaled(2)
    assert doubled.mean_rate_over(0, 60) == pytest.approx(2 * sc.producers["web"].mean_rate_over(0, 60))
    scaled_batch = sc.producers["cron"].scaled(1.5).batch
    assert scaled_batch is not None and scaled_batch.size == 30


# -- validation -----------------------------------------------------------------------------------
BASE = """\
duration: 10m
producers:
  web:
    to: q
    rate: 900/s
queues:
  q: {broker: redis}
workers:
  w: {from: q, count: 2, service: 10ms}
"""


def edit(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new)


def test_schedule_errors_point_at_the_step() -> None:
    text = edit("    rate: 900/s\n", "    rate:\n      - {until: 5m, rate: 100/s}\n      - {untl: 10m, rate: 9/s}\n")
    assert problems_of(text) == ["x.yaml:7: producers.web.rate.1.untl: unknown key 'untl' (did you mean 'until'?)"]
    text = edit("    rate: 900/s\n", "    rate:\n      - {until: 5m, rate: 100/s}\n      - {until: 4m, rate: 9/s}\n")
    assert problems_of(text) == ["x.yaml:7: producers.web.rate.1.until: must be after the previous step's until (5m)"]
    text = edit("    rate: 900/s\n", "    rate:\n      - {rate: 100/s}\n      - {until: 4m, rate: fast}\n")
    assert problems_of(text) == [
        "x.yaml:7: producers.web.rate.1.rate: expected a rate like 900/s, 30/m, 2/h or a number per second, got 'fast'"]


def test_shape_errors() -> None:
    text = edit("rate: 900/s", "rate: {shape: spiek, base: 1/s}")
    assert problems_of(text) == ["x.yaml:5: producers.web.rate: unknown shape 'spiek' (did you mean 'spike'?); "
                                 "shapes are: spike, daily (or write a list of {until, rate} steps)"]
    text = edit("rate: 900/s", "rate: {shape: daily, mean: 100/s, amplitude: 200/s}")
    assert problems_of(text) == ["x.yaml:5: producers.web.rate.amplitude: must be ≤ mean (100/s): a rate cannot go below 0"]
    text = edit("rate: 900/s", "rate: {shape: spike, base: 1/s, peek: 2/s, at: 1m, duration: 1m}")
    assert problems_of(text) == ["x.yaml:5: producers.web.rate.peek: unknown key 'peek' (did you mean 'peak'?)"]
    assert problems_of(edit("rate: 900/s", "rate: 0/s")) == ["x.yaml:5: producers.web.rate: must be > 0, got '0/s'"]


def test_arrival_source_rules(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("1\n")
    text = edit("    rate: 900/s\n", f"    rate: 900/s\n    trace: {tmp_path / 't.csv'}\n")
    assert problems_of(text)[0].endswith("producers.web: give only one of `rate`, `interarrival` or `trace`, not `rate` and `trace` (add periodic jobs with `batch`)")
    text = edit("    rate: 900/s\n", "    interarrival: 1s\n    arrivals: regular\n")
    assert problems_of(text) == ["x.yaml:6: producers.web.arrivals: applies to `rate` only: an interarrival distribution, a trace or a batch sets its own times"]
    text = edit("    rate: 900/s\n", "    batch: {every: 1m, size: 10, spread: 2m}\n")
    assert problems_of(text) == ["x.yaml:5: producers.web.batch.spread: must be ≤ every (1m): batches would overlap"]


def test_trace_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("t\n1.5\n2.5\nlater\n")
    text = edit("    rate: 900/s\n", f"    trace: {bad}\n")
    [problem] = problems_of(text)
    # the line and column, never the cell: a trace pointed at /etc/shadow must not print it
    assert problem.startswith("x.yaml:5: producers.web.trace: ") and problem.endswith("bad.csv:4: column 0 is not a time in seconds (a number)")
    assert "later" not in problem
    text = edit("    rate: 900/s\n", f"    trace: {tmp_path / 'missing.csv'}\n")
    assert problems_of(text) == [f"x.yaml:5: producers.web.trace: no such file: {tmp_path / 'missing.csv'}"]
    (tmp_path / "empty.csv").write_text("time\n")
    [problem] = problems_of(edit("    rate: 900/s\n", f"    trace: {tmp_path / 'empty.csv'}\n"))
    assert problem.endswith("empty.csv: no timestamps in the file")


def _data(producers_yaml: str, duration: float) -> dict[str, Any]:
    import yaml

    data: dict[str, Any] = yaml.safe_load(f"duration: {duration}\n" + producers_yaml + "\n" + SINK)
    return data


def test_timeseries_has_the_new_columns_last() -> None:
    df = timeseries([simulate(sink("duration: 10s\nproducers: {web: {to: q, rate: 10/s}}\n"))])
    assert list(df.columns[-7:]) == ["offered", "throttled", "abandoned", "expired", "reneged", "duplicates",
                                     "short_circuited"]
    assert df["offered"].sum() == df["produced"].sum()  # no retries: one attempt per request
