"""The HTML/Markdown report: sections and figures for runs and sweeps, escaping, and a real browser loading it."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import queuesim
from queuesim.cli import app
from queuesim.experiment.executors import SerialExecutor
from queuesim.report import ReportError, build_report, write_report
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "reports" / "samples"
PNG = b"\x89PNG\r\n\x1a\n"
EVIL = "<script>alert(1)</script>"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)

TINY = """\
name: {name}
seed: 1
duration: 20s
warmup: 2s
replications: 2
producers:
  web: {{to: orders, rate: 150/s, retry: {{attempts: 2}}}}
queues:
  orders: {{broker: sqs, capacity: 15, visibility_timeout: 30s}}
workers:
  fulfil: {{from: orders, count: 2, service: {{dist: exponential, mean: 10ms}}}}
slo:
  latency.end_to_end.p99: 100ms
  rates.rejection: 1%
"""

RUN_SECTIONS = ("scenario", "figures", "latency", "queue-depth", "recommendation", "assumptions")
SWEEP_SECTIONS = ("scenario", "figures", "latency", "rates", "slo-map", "queue-depth", "recommendation",
                  "points", "assumptions")


def _scenario(tmp: Path, name: str = "tiny") -> Path:
    path = tmp / "tiny.yaml"
    path.write_text(TINY.format(name=json.dumps(name)))
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("run")
    result = queuesim.run(_scenario(tmp, EVIL), executor=SerialExecutor())
    result.save(tmp / "result")
    return tmp / "result"


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from queuesim.experiment import sweep

    tmp = tmp_path_factory.mktemp("sweep")
    result = sweep(_scenario(tmp), ["producers.web.rate=100/s,200/s", "workers.fulfil.count=1,3"],
                   executor=SerialExecutor(), progress=False, overrides=["duration=10s", "replications=2"])
    result.save(tmp / "result")
    return tmp / "result"


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def _self_contained(html: str) -> None:
    assert "<script" not in html.lower()
    assert not re.search(r'(?:src|href)\s*=\s*"(?:https?:|//|file:)', html)
    assert "default-src 'none'; img-src data:" in html  # the page cannot fetch anything


def test_run_report_has_every_section_and_figure(run_dir: Path, tmp_path: Path) -> None:
    written = write_report(run_dir, tmp_path / "out")
    html = (tmp_path / "out" / "report.html").read_text()
    md = (tmp_path / "out" / "report.md").read_text()
    for section in RUN_SECTIONS:
        assert f'<section id="{section}">' in html
    images = _images(html)
    assert len(images) == 4 and all(img.startswith(PNG) for img in images)
    for stem in ("latency_percentiles", "latency_cdf", "queue_depth", "flow"):
        assert f'id="fig-{stem}"' in html
        assert f"](figures/{stem}.png)" in md and (tmp_path / "out" / "figures" / f"{stem}.png").is_file()
    assert len(written) == 2 + 4
    _self_contained(html)
    # the scenario's SLO is checked, with an interval beside the rate
    assert "latency.end_to_end.p99" in html and "rates.rejection" in html and "95% CI" in html
    assert re.search(r"SLO (?:not met|met|borderline)", html)  # the verdict allows for noise: three outcomes
    for heading in ("## Scenario", "## Headline figures", "## Latency", "## Recommendation", "## Assumptions"):
        assert heading in md


def test_report_of_a_result_in_memory(tmp_path: Path) -> None:
    from queuesim.api import report

    result = queuesim.run(_scenario(tmp_path), executor=SerialExecutor(), overrides=["duration=5s"])
    written = report(result, tmp_path / "mem")
    html = written[0].read_text()
    assert written[0].name == "report.html" and len(_images(html)) == 4  # the CDF drawn from the tables
    with pytest.raises(ReportError):
        report(result)  # no folder to name the output after


def test_names_from_the_scenario_are_escaped(run_dir: Path) -> None:
    report = build_report(run_dir)
    assert report.title == EVIL
    html = report.html()
    assert EVIL not in html and "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = report.markdown()
    prose = re.sub(r"^```.*?^```", "", md, flags=re.S | re.M)  # inside a code fence the name is only text
    assert EVIL not in prose and r"\<script\>alert(1)\</script\>" in prose


def test_markdown_table_cells_escape_pipes() -> None:
    from queuesim.report.render import Report, Section, table

    doc = Report(title="a|b", kind="run", meta=[], verdict=("ok", "fine", []),
                 sections=[Section("s", "S", (table(("k", "v"), [("x|y", "`p|q`")]),))])
    md = doc.markdown()
    assert r"| x\|y | `p\|q` |" in md


def test_sweep_report_has_load_curves_heat_map_and_peak(sweep_dir: Path, tmp_path: Path) -> None:
    report = build_report(sweep_dir)
    html = report.html()
    for section in SWEEP_SECTIONS:
        assert f'<section id="{section}">' in html
    stems = [f.stem for f in report.figures]
    assert stems == ["latency_vs_load", "rates_vs_load", "slo_heatmap", "queue_depth_peak"]
    assert all(img.startswith(PNG) for img in _images(html))
    _self_contained(html)
    assert "smallest workers.fulfil.count meeting the SLO" in html
    assert "No capacity plan" in html


def test_sweep_report_shows_the_plan(sweep_dir: Path, tmp_path: Path) -> None:
    plan = {"target_load": 2.0, "base_rate": 100.0, "target_rate": 200.0, "search": "workers.fulfil.count",
            "current": {"workers.fulfil.count": 2}, "current_meets_slo": False,
            "recommended": {"workers.fulfil.count": 3}, "meets_slo": True, "confirmed": True,
            "slo": {"latency.end_to_end.p99": 0.1}, "saturation_throughput": 190.0,
            "saturation_throughput_analytic": 200.0, "headroom": 0.9,
            "analytic_estimate": {"value": 3, "model": "M/M/c/K", "per_limit": {"latency.end_to_end.p99": 3},
                                  "not_modelled": {}, "assumptions": "Poisson arrivals"},
            "evaluations": [{"value": 2, "meets_slo": False, "replications": 2, "throughput": 180.0,
                             "confirmation": False}],
            "notes": []}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    report = build_report(sweep_dir, plan=path, simulate_peak=False)
    assert report.verdict[1].startswith("Recommended: `workers.fulfil.count` = 3")
    html = report.html()
    assert "M/M/c/K" in html and "headroom" in html
    assert "No time series for the peak point" in html  # --no-simulate


def test_sweep_without_slo_says_so(tmp_path: Path) -> None:
    from queuesim.experiment import sweep

    scenario = queuesim.parse_scenario(textwrap.dedent(TINY.format(name="plain")).split("slo:")[0])
    result = sweep(scenario, ["producers.web.rate=100/s,200/s"], executor=SerialExecutor(), progress=False,
                   overrides=["duration=5s", "replications=1"])
    result.save(tmp_path / "s")
    report = build_report(tmp_path / "s", simulate_peak=False)
    assert report.verdict[0] == "muted" and "No SLO" in report.verdict[1]
    assert [f.stem for f in report.figures] == ["latency_vs_load", "rates_vs_load"]


def test_cli_report_writes_next_to_the_data_by_default(run_dir: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 9 changed the default from reports/<folder name>/ to the result folder itself."""
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["report", "run", "--slo", "rates.loss=0"])
    assert res.exit_code == 0, res.output
    assert (copy / "report.html").is_file() and (copy / "report.md").is_file()
    assert "rates.loss" in (copy / "report.md").read_text()
    assert not (tmp_path / "reports").exists()


def test_cli_report_refuses_a_folder_without_results_in_plain_text_with_exit_2(tmp_path: Path) -> None:
    """Issue 9: the error was printed with its markup showing ("[bold red]error[/]") and exit 1."""
    res = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2
    assert res.output.startswith("error: ") and "[" not in res.output.split("\n")[0][:12]
    assert "no result here" in res.output and "compare.csv" in res.output
    res = CliRunner().invoke(app, ["report", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "no such directory" in res.output and "Traceback" not in res.output
    with pytest.raises(ReportError):
        build_report(tmp_path / "missing")


def test_sample_reports_are_committed_for_every_example_and_small() -> None:
    examples = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
    missing = [name for name in examples if not (SAMPLES / name / "report.html").is_file()]
    assert not missing, f"no sample report for {missing}: see reports/samples/README.md"
    total = sum(f.stat().st_size for f in SAMPLES.rglob("*") if f.is_file())
    # about 180 kB per example (four figures, embedded and as files): nine examples and the sweep, with room for one more
    assert total < 1_900_000, f"sample reports take {total:,} bytes"
    for page in SAMPLES.glob("*/report.html"):
        _self_contained(page.read_text())


# ----------------------------------------------------------------------------- what limits the design

SATURATED = {"cause": "saturation", "figure": "workers.fulfil.utilization", "value": 0.93,
             "message": "saturation: pool `fulfil` is 93% busy (2 workers): 8% headroom before it saturates"}


def test_run_report_opens_with_the_diagnosis_it_is_handed(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    summary = json.loads((copy / "summary.json").read_text())
    summary["diagnosis"] = [SATURATED]
    (copy / "summary.json").write_text(json.dumps(summary))
    report = build_report(copy)
    _, head, details = report.verdict
    assert head.endswith("— limited by saturation")
    assert details[0] == "Limited by " + SATURATED["message"] + "."
    assert not any("% busy:" in d for d in details[1:])  # the observation the diagnosis already states
    # a caller that re-diagnosed (with another SLO) hands its findings over; the report diagnoses nothing
    other = {"cause": "slo_floor", "figure": "latency.service.p99", "value": 0.02, "message": "the service-time floor: …"}
    assert build_report(copy, diagnosis=[other]).verdict[1].endswith("limited by an SLO at the service-time floor")


def test_cli_report_rediagnoses_with_its_slo(run_dir: Path, tmp_path: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    floor = summary["latency"]["service"]["p99"]
    res = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(tmp_path / "r"),
                                   "--slo", f"latency.end_to_end.p99={floor * 1000:.3f}ms"])
    assert res.exit_code == 0, res.output
    assert "limited by an SLO at the service-time floor" in " ".join(res.output.split())
    assert "Limited by the service-time floor: the SLO latency" in (tmp_path / "r" / "report.md").read_text()
    assert not any(f["cause"] == "slo_floor" for f in summary["diagnosis"])  # the run's own SLO (100 ms) is not at it


def test_queue_settings_shown_are_those_of_its_broker() -> None:
    from queuesim.report.sections import _broker_settings

    redis_list = {"broker": "redis", "mode": "list", "reclaim_after": 30.0, "min_idle": 30.0, "persistence": "aof-everysec",
                  "snapshot_every": 300.0, "maxmemory": None, "policy": "noeviction", "max_deliveries": None}
    assert _broker_settings(redis_list) == ["mode: list", "persistence: aof-everysec"]
    stream = {**redis_list, "mode": "stream", "persistence": "rdb", "max_deliveries": 5}
    assert _broker_settings(stream) == ["mode: stream", "min idle: 30 s", "persistence: rdb", "snapshot every: 300 s",
                                        "max deliveries: 5"]
    fifo = {"broker": "sqs", "visibility_timeout": 30.0, "max_receives": None, "kind": "fifo",
            "duplicate_probability": 0.0, "groups": 100, "tps": None}
    assert _broker_settings(fifo) == ["visibility 30 s", "kind: fifo", "groups: 100"]


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("compare")
    result = queuesim.compare([ROOT / "scenarios" / "sync-vs-async.yaml"], replications=1,
                              overrides=["duration=40s", "warmup=5s"], executor=SerialExecutor())
    result.save(tmp / "result")
    return tmp / "result"


def test_a_compare_folder_gets_a_report(compare_dir: Path) -> None:
    report = build_report(compare_dir)
    assert report.kind == "compare" and report.title == "sync-vs-async"
    assert report.verdict[1].startswith("2 variants on the same workload")
    assert [d.split(":")[0] for d in report.verdict[2]] == ["`async`", "`sync`"]
    html = report.html()
    _self_contained(html)
    assert [f.stem for f in report.figures] == ["compare"]
    (fig,) = report.figures
    assert "client response p99" in fig.caption and "response p99" in html and "abandoned" in html


PLAN = {"scenario": "tiny", "source": None, "target_load": 2.0, "base_rate": 150.0, "target_rate": 300.0,
        "search": "workers.fulfil.count", "current": {"workers.fulfil.count": 2}, "current_meets_slo": False,
        "recommended": {"workers.fulfil.count": 4}, "meets_slo": True, "confirmed": True,
        "slo": {"latency.end_to_end.p99": 0.1},
        "at_recommended": {"value": 4, "meets_slo": True, "replications": 4, "confirmation": True,
                           "checks": [{"path": "latency.end_to_end.p99", "limit": 0.1, "value": 0.061, "ci95": None,
                                       "met": True}]},
        "analytic_estimate": {"value": 4, "model": "M/M/c/K", "per_limit": {}, "not_modelled": {}},
        "evaluations": [{"value": v, "meets_slo": v >= 4, "replications": 2, "throughput": 290.0,
                         "confirmation": c, "checks": [{"path": "latency.end_to_end.p99", "limit": 0.1,
                                                        "value": 0.4 / v, "met": v >= 4}]}
                        for v, c in ((3, False), (4, False), (3, True), (4, True))],
        "notes": []}


def test_a_plan_alone_gets_a_report(tmp_path: Path) -> None:
    (tmp_path / "plan.json").write_text(json.dumps(PLAN))
    report = build_report(tmp_path)
    assert report.kind == "plan" and report.verdict[1].startswith("Recommended: `workers.fulfil.count` = 4")
    assert [f.stem for f in report.figures] == ["plan_candidates"]
    html = report.html()
    _self_contained(html)
    assert "61 ms" in html and "confirmation run" in html


def test_sweep_report_names_a_second_axis_that_is_not_capacity(tmp_path: Path) -> None:
    from queuesim.experiment import sweep

    result = sweep(_scenario(tmp_path), ["producers.web.rate=100/s,200/s", "queues.orders.visibility_timeout=1s,30s"],
                   executor=SerialExecutor(), progress=False, overrides=["duration=6s", "replications=2"])
    report = build_report(sweep_data_of(result))
    html = report.html()
    assert "smallest queues.orders.visibility_timeout" not in html
    assert "queues.orders.visibility_timeout values meeting the SLO" in html


def sweep_data_of(result):
    from queuesim.report.inputs import sweep_data

    return sweep_data(result)


def test_sweep_report_clips_rates_and_flags_a_bistable_point(sweep_dir: Path) -> None:
    from queuesim.report import figures_sweep as fs
    from queuesim.report.inputs import load_sweep_dir

    data = load_sweep_dir(sweep_dir)
    data.table["rates.rejection.ci95_high"] = 4.43  # a t-interval over two replications can pass 100%
    point = int(data.table["point"].iloc[-1])
    data.summaries[point] = {**data.summaries[point], "diagnosis": [
        {"cause": "bistable", "figure": "rates.offered", "value": 0.5, "message": "a bistable load: 1 of 2 stormed"}]}
    report = build_report(data, simulate_peak=False)
    assert any("bistable" in d for d in report.verdict[2])
    assert "bistable" in report.markdown()
    fig = fs.rates_vs_load(data.table, "producers.web.rate", "workers.fulfil.count", {}, fs_ci(data.table))
    for ax in fig.axes:
        for band in ax.collections:
            assert band.get_paths()[0].vertices[:, 1].max() <= 100.0
        assert ax.get_ylim()[1] <= 105.0


def fs_ci(table):
    from queuesim.report.sweep_report import _ci_columns

    return _ci_columns(table)


# ----------------------------------------------------------------------------- a real browser

PROBE = """<script>window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).length;
  document.title = 'images=' + imgs.length + ' broken=' + broken;
});</script>"""


def _load_in_browser(page: Path, tmp: Path) -> tuple[int, int]:
    """Open ``page`` in headless chromium and return (images, broken images) after the load event.

    The page's content security policy is kept (images only from data: URIs) with inline scripts
    allowed, so the probe can run and any image fetched from elsewhere stays broken.
    """
    html = page.read_text()
    html, n = re.subn(r'(<meta http-equiv="Content-Security-Policy" content="[^"]*)"',
                      lambda m: m[1] + "; script-src 'unsafe-inline'\"", html, count=1)
    assert n == 1, f"{page} has no content security policy"
    probe = tmp / f"probe-{page.parent.name}.html"
    probe.write_text(html.replace("</body>", PROBE + "</body>"))
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp / 'chromium-profile'}", "--dump-dom", probe.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    title = re.search(r"<title>images=(\d+) broken=(\d+)</title>", done.stdout)
    assert title, f"chromium did not run the probe (exit {done.returncode}): {done.stderr[-500:]}"
    return int(title[1]), int(title[2])


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed: .ci/run installs Debian's chromium "
                                              "(apt-get install chromium) for this test")
def test_every_figure_loads_in_a_headless_browser(run_dir: Path, sweep_dir: Path, tmp_path: Path) -> None:
    pages = []
    for name, source in (("run", run_dir), ("sweep", sweep_dir)):
        write_report(source, tmp_path / name)
        pages.append(tmp_path / name / "report.html")
    for page in pages:
        images, broken = _load_in_browser(page, tmp_path)
        assert images >= 4 and broken == 0, f"{page}: {broken} of {images} figures did not load"
    # the committed samples' figures, gathered into one page under the same policy (one browser start)
    samples = sorted(SAMPLES.glob("*/report.html"))
    figures = [img for page in samples for img in re.findall(r"<img [^>]*>", page.read_text())]
    shell = pages[0].read_text()
    gathered = tmp_path / "samples" / "report.html"
    gathered.parent.mkdir()
    gathered.write_text(shell[: shell.index("<main>")] + "<main>" + "\n".join(figures) + "</main></body></html>")
    assert _load_in_browser(gathered, tmp_path) == (len(figures), 0)
    # the probe sees a broken image when there is one
    bad = tmp_path / "bad" / "report.html"
    bad.parent.mkdir()
    bad.write_text(pages[0].read_text().replace("</main>", '<img src="data:image/png;base64,AAAA" alt=""></main>'))
    assert _load_in_browser(bad, tmp_path)[1] == 1
