"""Reports judge every SLO limit as `run` does: met / borderline / not met from the 95% interval, never the bare estimate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import queuesim
from queuesim.cli import app, summary_tables
from queuesim.experiment.executors import SerialExecutor
from queuesim.report import build_report
from queuesim.report import figures_sweep as fs
from queuesim.report.formatting import fmt_duration
from queuesim.report.sweep_report import point_verdicts
from typer.testing import CliRunner

TINY = """\
name: {name}
seed: 1
duration: 30s
warmup: 1s
replications: 2
producers:
  web: {{to: orders, rate: 150/s}}
queues:
  orders: {{broker: redis}}
workers:
  fulfil: {{from: orders, count: {count}, service: {{dist: exponential, mean: 10ms}}}}
slo:
  latency.end_to_end.p99: 100ms
"""

P99 = "latency.end_to_end.p99"


def _scenario(tmp: Path, name: str = "tiny", count: int = 3) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(TINY.format(name=name, count=count))
    return path


def _last_cell(row: str) -> str:
    """The last cell of a Markdown table row, without the bold a toned cell gets."""
    return row.rstrip(" |").rsplit("|", 1)[1].strip(" *")


SHOWN = {"met": "met", "borderline": "borderline", "not met": "NOT met"}


def _check(value: float, ci: list[float] | None, verdict: str, met: bool) -> dict[str, Any]:
    return {"path": P99, "limit": 0.2, "value": value, "ci95": ci, "met": met, "verdict": verdict}


def test_a_plan_report_shows_a_borderline_recommendation_as_borderline_not_met() -> None:
    """The issue's case: p99 199.2 ms against 200 ms, its interval 190–209 ms. plan.json's ``met`` is
    the bare estimate (True); the report must show the verdict, which allows for the noise."""
    from queuesim.report.inputs import PlanData

    border = _check(0.1992, [0.190, 0.209], "borderline", True)
    plan = {"scenario": "tiny", "source": None, "target_load": 2.0, "base_rate": 150.0, "target_rate": 300.0,
            "search": "workers.fulfil.count", "current": {"workers.fulfil.count": 2}, "current_meets_slo": False,
            "recommended": {"workers.fulfil.count": 4}, "meets_slo": False, "verdict": "borderline",
            "confirmed": True, "slo": {P99: 0.2},
            "at_recommended": {"value": 4, "meets_slo": False, "verdict": "borderline", "replications": 8,
                               "confirmation": True, "checks": [border]},
            "analytic_estimate": {"value": 4, "model": "M/M/c/K", "per_limit": {}, "not_modelled": {}},
            "evaluations": [{"value": 2, "meets_slo": False, "verdict": "not met", "replications": 2,
                             "throughput": 290.0, "confirmation": False,
                             "checks": [_check(0.5, [0.4, 0.6], "not met", False)]},
                            {"value": 4, "meets_slo": False, "verdict": "borderline", "replications": 8,
                             "throughput": 299.0, "confirmation": True, "checks": [border]}],
            "notes": []}
    report = build_report(PlanData(plan=plan))
    assert "borderline" in report.verdict[1] and report.verdict[0] == "warn"
    assert any("`workers.fulfil.count` = 2, which does not meet" in d for d in report.verdict[2])
    md = report.markdown()
    check_row = next(line for line in md.splitlines() if line.startswith(f"| `{P99}`"))
    assert _last_cell(check_row) == "borderline" and "190 ms" in check_row and "209 ms" in check_row
    assert "| SLO verdict (confirmation run) | borderline |" in md
    candidates = [line for line in md.splitlines() if line.startswith(("| 2 |", "| 4 |"))]
    assert [line.split("|")[4].strip(" *") for line in candidates] == ["NOT met", "borderline"]


def _sweep_table() -> pd.DataFrame:
    """Three points of one swept path: the p99's interval below, around and above a 200 ms limit."""
    return pd.DataFrame({
        "point": [0, 1, 2], "workers.fulfil.count": [8, 6, 4],
        P99: [0.150, 0.1992, 0.260], f"{P99}.ci95_low": [0.140, 0.190, 0.230],
        f"{P99}.ci95_high": [0.160, 0.209, 0.290],
        "slo.met": [True, True, False], "slo.verdict": ["met", "borderline", "not met"]})


def test_a_sweep_point_is_judged_on_its_interval_and_the_map_shows_three_states() -> None:
    tbl = _sweep_table()
    assert point_verdicts(tbl, {P99: 0.2}).tolist() == ["met", "borderline", "not met"]
    # a limit the report adds (--slo) is judged from the table's intervals too; a missing figure is not met
    assert point_verdicts(tbl, {P99: 0.3}).tolist() == ["met", "met", "met"]
    assert point_verdicts(tbl, {P99: 0.3, "rates.loss": 0.0}).tolist() == ["not met"] * 3
    # without limits: the verdicts the sweep stored, else (an older sweep) its slo.met
    assert point_verdicts(tbl, {}).tolist() == ["met", "borderline", "not met"]
    assert point_verdicts(tbl.drop(columns="slo.verdict"), {}).tolist() == ["met", "met", "not met"]
    fig = fs.slo_heatmap(tbl, "workers.fulfil.count", None, point_verdicts(tbl, {P99: 0.2}))
    (ax,) = fig.axes
    levels = sorted(float(v) for v in ax.collections[0].get_array().compressed())
    assert levels == [0.0, 0.5, 1.0]
    assert sorted(t.get_text() for t in ax.texts) == ["~", "✓", "✗"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["SLO met", "borderline", "not met"]


@pytest.fixture(scope="module")
def summary_only_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """A run given an extra limit with --slo, its folder cut down to what ``--outputs summary``
    keeps (summary.json, scenario.json, timeseries.csv): no per-message records, no plots."""
    tmp = tmp_path_factory.mktemp("summary-only")
    result = queuesim.run(_scenario(tmp), slo=["latency.queue_wait.p99=1ms"], executor=SerialExecutor())
    out = tmp / "result"
    result.save(out)
    for path in out.iterdir():
        if path.name not in ("summary.json", "scenario.json", "timeseries.csv"):
            path.unlink()
    return result, out


def test_summary_json_keeps_the_limits_the_run_was_checked_against(summary_only_run: tuple[Any, Path]) -> None:
    result, out = summary_only_run
    stored = json.loads((out / "summary.json").read_text())["slo"]
    verdicts = result.verdicts()
    assert stored == verdicts.to_dict()
    assert [c["path"] for c in stored["checks"]] == [P99, "latency.queue_wait.p99"]  # the scenario's, then --slo
    assert stored["verdict"] == verdicts.verdict and {c["verdict"] for c in stored["checks"]} <= {
        "met", "borderline", "not met"}


def test_tables_verdicts_and_report_work_from_the_summary_alone(summary_only_run: tuple[Any, Path],
                                                                tmp_path: Path) -> None:
    result, out = summary_only_run
    summary = json.loads((out / "summary.json").read_text())
    limits = {c["path"]: c["limit"] for c in summary["slo"]["checks"]}
    tables = summary_tables(summary, limits, width=80)
    slo_table = next(t for t in tables if str(t.title).startswith("SLO"))
    assert str(slo_table.title) == f"SLO: {result.verdicts().verdict}"
    report = build_report(out)
    md = report.markdown()
    for check in result.verdicts().checks:  # the --slo limit of the run is judged without being given again
        row = next(line for line in md.splitlines() if line.startswith(f"| `{check.path}`"))
        assert _last_cell(row) == SHOWN[check.verdict]
    assert "`latency.queue_wait.p99` was given with `--slo` when the run was made" in md
    # the headline figures show the percentiles' intervals, and the captions say how they were made
    for kind, label in (("end_to_end", "end-to-end latency"), ("queue_wait", "queue wait")):
        p99 = summary["ci95"][f"latency.{kind}.p99"]  # 2 × 29 s at 150/s: 87 samples beyond it, two sections
        assert p99 is not None
        row = next(line for line in md.splitlines() if line.startswith(f"| {label}, p99 |"))
        assert row.split("|")[3].strip() == f"{fmt_duration(p99[0])} – {fmt_duration(p99[1])}"
    assert "percentiles by sectioning" in md and "no interval here" not in md and "shown without intervals" not in md
    got = CliRunner().invoke(app, ["report", str(out), "--out", str(tmp_path / "r"), "-q"])
    assert got.exit_code == 0, got.output
    assert (tmp_path / "r" / "report.html").is_file()


def test_a_compare_report_judges_each_variant_against_its_limits(tmp_path: Path) -> None:
    result = queuesim.compare([_scenario(tmp_path, "few", 2), _scenario(tmp_path, "many", 6)],
                              slo=["latency.queue_wait.mean=2ms"], replications=4, executor=SerialExecutor())
    result.save(tmp_path / "cmp")
    report = build_report(tmp_path / "cmp")
    md = report.markdown()
    table = result.table
    for name in ("few", "many"):
        for path in (P99, "latency.queue_wait.mean"):
            row = next(line for line in md.splitlines() if line.startswith(f"| `{name}` | `{path}`"))
            want = table.loc[name, f"slo.{path}.verdict"]
            assert _last_cell(row) == SHOWN[want]
    assert f"SLO: `few` {table.loc['few', 'slo.verdict']}; `many` {table.loc['many', 'slo.verdict']}." in report.verdict[2]
    # two workers at ρ = 0.75 wait 12.9 ms on average (Erlang C), far above 2 ms; six hardly wait
    assert table.loc["few", "slo.latency.queue_wait.mean.verdict"] == "not met"
    assert table.loc["many", "slo.latency.queue_wait.mean.verdict"] == "met"
