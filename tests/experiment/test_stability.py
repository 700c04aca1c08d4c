"""Stability maps: the recovery rule on hand-made time series, the options, the CLI, and the retry-storm map against the threshold found by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from queuesim import ScenarioError
from queuesim.experiment.executors import QuietProcessPool, SerialExecutor
from queuesim.experiment.stability import recovery, stability
from queuesim.report.stability import stability_map, stability_maps
from typer.testing import CliRunner

STORM = "scenarios/retry-storm.yaml"


def series(offered_per_s: list[float], depth: list[float], width: float = 1.0) -> pd.DataFrame:
    n = len(offered_per_s)
    return pd.DataFrame({"time": np.arange(n) * width, "offered": np.asarray(offered_per_s) * width,
                         "depth.q": depth})


def test_recovery_reads_the_final_stretch_after_the_spike() -> None:
    # 1 s buckets, base 100/s, a spike over [10, 15); settle 3 s, tolerance 10%. Before the spike the
    # depth's 3 s average peaks at 2, so "drained" is a 3 s average depth ≤ max(2·2 + 1, 10% of
    # 3 s × 100/s) = 30. After the spike the offered load stays 150/s until t=20, then 100/s.
    offered = [100.0] * 10 + [300.0] * 5 + [150.0] * 5 + [100.0] * 15
    depth = ([1, 2, 3, 1, 2, 3, 1, 2, 1, 2] + [500, 1000, 1500, 2000, 2500]
             + [2000, 1500, 1000, 600, 300, 200, 100, 40, 20] + [1] * 11)
    ok, time, peak, final, last_depth = recovery(series(offered, depth), 100.0, 10.0, 15.0, 3.0, 0.1)
    assert ok
    # the offered load is back from the window of buckets 20-22 on; the depth's windows 20-22
    # (200, 100, 40 → 113) and 21-23 (100, 40, 20 → 53) still fail, 22-24 (40, 20, 1 → 20.3)
    # holds and so does every later one: the final stretch starts with the window that began at t=22
    assert time == pytest.approx(22.0 - 15.0)
    assert peak == pytest.approx(3.0) and final == pytest.approx(1.0) and last_depth == pytest.approx(1.0)


def test_a_storm_that_outlasts_the_horizon_has_not_recovered() -> None:
    offered = [100.0] * 10 + [300.0] * 5 + [400.0] * 20
    depth = [1.0] * 10 + [5000.0] * 25
    ok, time, peak, final, _ = recovery(series(offered, depth), 100.0, 10.0, 15.0, 3.0, 0.1)
    assert not ok and math.isnan(time) and final == pytest.approx(4.0) and peak == pytest.approx(4.0)


def test_a_relapse_after_recovering_counts_as_not_recovered() -> None:
    offered = [100.0] * 10 + [300.0] * 5 + [100.0] * 10 + [400.0] * 10
    depth = [1.0] * 35
    assert not recovery(series(offered, depth), 100.0, 10.0, 15.0, 3.0, 0.1)[0]


def test_offered_load_within_tolerance_but_a_backlog_left_is_not_recovered() -> None:
    offered = [100.0] * 35
    depth = [1.0] * 15 + [500.0] * 20
    assert not recovery(series(offered, depth), 100.0, 10.0, 15.0, 3.0, 0.1)[0]
    # a small system: 10% of 3 s × 5/s is 1.5 messages, so the pre-spike level sets the bar (2·4 + 1)
    calm = [4.0] * 15
    assert recovery(series([5.0] * 35, calm + [9.0] * 20), 5.0, 10.0, 15.0, 3.0, 0.1)[0]
    assert not recovery(series([5.0] * 35, calm + [9.5] * 20), 5.0, 10.0, 15.0, 3.0, 0.1)[0]


@pytest.mark.parametrize(("options", "message"), [
    ({"producer": "nobody"}, "unknown producer 'nobody'"),
    ({"bases": "300s..600s:4"}, "--base: expected rates"),
    ({"peaks": "5s"}, "--spike-peak: expected rates"),
    ({"durations": "600/s"}, "--spike-duration: expected durations"),
    ({"peaks": "+100/s,900/s"}, "every value relative to the base"),
    ({"horizon": 2.0}, "--horizon"),
    ({"seeds": 3, "min_seeds": 4}, "--min-seeds"),
    ({"at": 5.0}, "--spike-at"),
])
def test_bad_options_fail_before_anything_runs(options: dict, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        stability(STORM, executor=SerialExecutor(), progress=False, **options)
    assert message in str(err.value)


def test_points_seeds_and_early_stop_on_a_small_map() -> None:
    # two points, far apart: a light load with no spike (stable) and a base above capacity
    # (unstable); both agree on their two first seeds and stop there, with the same seeds
    result = stability(STORM, bases="300/s,600/s", peaks="none", durations="5s", at=15.0, horizon=15.0,
                       seeds=5, min_seeds=2, executor=SerialExecutor(), progress=False,
                       overrides=["queues.jobs.capacity=5000"])
    table = result.table
    assert list(table["verdict"]) == ["stable", "unstable"]
    assert list(table["seeds"]) == [2, 2] and table["stopped_early"].all()
    assert list(table["spike"]) == ["none", "none"]
    per_point = result.seeds.groupby("point")["seed"].apply(list)
    assert per_point[0] == per_point[1]  # common random numbers: every point runs the same seeds
    assert result.boundary() == {"none": 600.0}
    assert result.scenario.producers["clients"].rate_spec.base == 400.0  # the base scenario is untouched
    from queuesim.report import build_report

    assert "1 of 2 points do not always recover" in build_report(result).markdown()  # a result in memory


def test_a_peak_at_or_below_the_base_is_the_no_spike_point_once() -> None:
    # 500/s is no spike at a 500/s or 600/s base: those collapse into the base's `none` point
    result = stability(STORM, bases="400/s,500/s,600/s", peaks="none,500/s", durations="5s,10s", at=15.0,
                       horizon=6.0, seeds=1, min_seeds=1, executor=SerialExecutor(), progress=False,
                       settle=2.0, overrides=["queues.jobs.capacity=200"])
    labels = list(zip(result.table["base"], result.table["spike"], strict=True))
    assert labels == [(400.0, "none"), (400.0, "500/s × 5s"), (400.0, "500/s × 10s"), (500.0, "none"), (600.0, "none")]
    fig = stability_map(result.table)
    assert "no point (peak ≤ base: see 'none')" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_cli_writes_the_table_and_the_heat_map(tmp_path) -> None:
    from queuesim.cli import app

    out = tmp_path / "map"
    res = CliRunner().invoke(app, ["stability", STORM, "--base", "300/s,600/s", "--spike-peak", "none",
                                   "--spike-at", "15s", "--horizon", "12s", "--seeds", "1", "--min-seeds", "1",
                                   "--executor", "serial", "--no-progress", "--out", str(out),
                                   "--set", "queues.jobs.capacity=3000"])
    assert res.exit_code == 0, res.output
    assert {p.name for p in out.iterdir()} == {"stability.parquet", "stability.csv", "stability_seeds.parquet",
                                               "stability.json", "stability.png"}
    table = pd.read_parquet(out / "stability.parquet")
    assert list(table["verdict"]) == ["stable", "unstable"]
    assert "lowest base that is not stable" in res.output
    bad = CliRunner().invoke(app, ["stability", STORM, "--horizon", "soon"])
    assert bad.exit_code == 2 and "--horizon" in bad.output  # a bad option, like a bad scenario

    # `queuesim report` on the folder: the stable region in words, the heat map, every point
    rep = CliRunner().invoke(app, ["report", str(out), "--quiet"])
    assert rep.exit_code == 0, rep.output
    md = (out / "report.md").read_text()
    assert "queuesim stability report" in md
    assert "1 of 2 points do not always recover: 1 unstable, 0 bistable" in md
    assert "no spike: stable up to 300/s, not from 600/s" in md
    assert "| none | 300/s | stable | 0 of 1 (stopped early) |" in md
    assert "| none | 600/s | unstable | 1 of 1 (stopped early) |" in md
    assert (out / "figures" / "stability.png").stat().st_size > 0
    assert "<img" in (out / "report.html").read_text()


def test_a_stability_report_refuses_a_table_that_is_not_a_map(tmp_path) -> None:
    from queuesim.report import ReportError, build_report

    pd.DataFrame({"base": [1.0]}).to_parquet(tmp_path / "stability.parquet")
    with pytest.raises(ReportError, match="not a stability map"):
        build_report(tmp_path)


def test_heat_maps_draw_from_the_table_alone() -> None:
    table = pd.DataFrame({"base": [1.0, 2.0, 1.0, 2.0], "spike": ["none", "none", "x", "x"],
                          "p_not_recovered": [0.0, 0.5, 0.0, 1.0], "verdict": ["stable", "bistable", "stable", "unstable"],
                          "seeds": [4, 8, 4, 4]})
    fig = stability_map(table)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["0%\nn=4", "50%\nn=8", "0%\nn=4", "100%\nn=4"]
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(hatched) == 1  # the one bistable cell
    boundary = [line.get_xydata().tolist() for line in ax.lines]
    assert boundary == [[[1.0, 0.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, 2.0]]]  # stable | not stable, in both rows
    panels = stability_maps({"a": table, "b": table, "c": table})
    assert sum(ax.get_visible() for ax in panels.axes) == 3


@pytest.mark.soak  # 8 points × up to 8 seeds of a storm: minutes (make soak)
def test_retry_storm_map_shows_the_threshold_found_by_hand_and_marks_bistable_points() -> None:
    # The threshold found by hand with `queuesim sweep --vary producers.clients.rate=…` (a constant
    # rate: no spike): offered load 499/s at a base of 500/s, 1,989/s at 520/s. And a 5 s spike to
    # 600/s already tipped a 400/s base. Grid step 50/s; the spike comes at 15 s, 30 s to recover.
    with QuietProcessPool(2) as pool:
        result = stability(STORM, bases="400/s..550/s:4", peaks="none,600/s", durations="5s", at=15.0,
                           horizon=30.0, seeds=8, min_seeds=4, executor=pool, progress=False)
    t = result.table.set_index(["spike", "base"])
    print(result.table[["base", "spike", "seeds", "p_not_recovered", "verdict"]].to_string())
    # no spike: 400/s recovers always, 550/s never; the stable region ends one grid step around 500-520/s
    assert t.loc[("none", 400.0), "verdict"] == "stable"
    assert t.loc[("none", 550.0), "verdict"] == "unstable"
    assert result.boundary()["none"] in (450.0, 500.0)
    first_unstable = min(b for (spike, b), v in t["verdict"].items() if spike == "none" and v == "unstable")
    assert first_unstable in (500.0, 550.0)  # the first grid base past 520/s, or one step below it
    # the 5 s spike to 600/s does not pass at a 400/s base
    assert t.loc[("600/s × 5s", 400.0), "p_not_recovered"] > 0
    # bistable points: seeds disagree, and they ran every seed; the others stopped at 4
    bistable = result.table[result.table["verdict"] == "bistable"]
    assert len(bistable) >= 1
    assert ((bistable["not_recovered"] > 0) & (bistable["not_recovered"] < bistable["seeds"])).all()
    assert (bistable["seeds"] == 8).all()
    assert (result.table.loc[result.table["verdict"] != "bistable", "seeds"] == 4).all()
    # a storm shows as the offered load several times the base, long after the spike
    assert t.loc[("none", 550.0), "final_ratio_median"] > 2.5
