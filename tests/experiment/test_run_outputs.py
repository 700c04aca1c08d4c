"""``outputs: summary`` (``queuesim run --outputs summary``): three files, the full summary's keys, no heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import queuesim
from queuesim.api import NoRecordsError
from queuesim.cli import app
from typer.testing import CliRunner

runner = CliRunner()

SMALL = """\
name: small
seed: 3
duration: 20s
warmup: 2s
{outputs}
producers:
  web: {{to: orders, rate: 200/s, retry: {{attempts: 2}}}}
queues:
  orders: {{broker: sqs, capacity: 10, visibility_timeout: 30s}}
workers:
  fulfil: {{from: orders, count: 2, service: {{dist: exponential, mean: 9ms}}}}
"""


def _keys(tree: object, prefix: str = "") -> set[str]:
    if not isinstance(tree, dict):
        return {prefix}
    return {k for key, value in tree.items() for k in _keys(value, f"{prefix}.{key}")}


@pytest.mark.parametrize("how", ["option", "scenario"])
def test_summary_outputs_write_three_files_with_the_full_summarys_keys(tmp_path: Path, how: str) -> None:
    (tmp_path / "s.yaml").write_text(SMALL.format(outputs="outputs: summary" if how == "scenario" else ""))
    extra = ["--outputs", "summary"] if how == "option" else []
    res = runner.invoke(app, ["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "sum"), "-q", *extra])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "sum").iterdir()) == ["scenario.json", "summary.json", "timeseries.csv"]
    full = runner.invoke(app, ["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "full"), "-q", "--outputs", "full",
                               "--no-plots"])
    assert full.exit_code == 0, full.output
    streamed = json.loads((tmp_path / "sum" / "summary.json").read_text())
    whole = json.loads((tmp_path / "full" / "summary.json").read_text())
    # every key but the intervals the stream does not compute (percentiles, and a single run's queue and pool figures)
    left_out = _keys(whole) - _keys(streamed)
    assert _keys(streamed) <= _keys(whole) and left_out and all(k.startswith(".ci95.") for k in left_out)
    assert not any(k.endswith(".mean") or k.startswith(".ci95.rates.") for k in left_out)
    assert streamed["messages"] == whole["messages"]  # counts are exact
    header = (tmp_path / "sum" / "timeseries.csv").read_text().splitlines()[0]
    assert header == (tmp_path / "full" / "timeseries.csv").read_text().splitlines()[0]


def test_a_summary_run_has_no_tables_or_plots_and_says_why() -> None:
    result = queuesim.run(queuesim.parse_scenario(SMALL.format(outputs="")), outputs="summary")
    assert result.outputs == "summary" and result.summary["messages"]["produced"] > 0
    assert len(result.timeseries) > 0
    with pytest.raises(NoRecordsError, match="outputs: summary"):
        _ = result.messages
    with pytest.raises(NoRecordsError):
        result.figures()


def test_a_summary_run_imports_neither_pandas_nor_pyarrow_nor_matplotlib(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(SMALL.format(outputs=""))
    code = ("import sys; from queuesim.cli import main; "
            f"sys.argv = ['queuesim', 'run', {str(tmp_path / 's.yaml')!r}, '--out', {str(tmp_path / 'o')!r}, "
            "'--outputs', 'summary', '-q']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'pyarrow', 'matplotlib'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
    assert (tmp_path / "o" / "summary.json").exists()


ELASTIC = SMALL.format(outputs="").replace("count: 2,", "count: [{until: 10s, count: 1}, {count: 3}],")


def test_an_elastic_pool_is_refused_streaming_but_its_points_run_with_records() -> None:
    """Elastic pools' figures come from the records: ``outputs: summary`` says so; a sweep point falls back to them."""
    from queuesim.experiment.execute import execute

    sc = queuesim.parse_scenario(ELASTIC, source="e.yaml")
    assert sc.workers["fulfil"].elastic
    with pytest.raises(queuesim.ScenarioError, match="elastic pool"):
        queuesim.run(sc, outputs="summary")
    point = execute(sc, keep_records=False, outputs="summary")  # what a sweep or plan task asks
    full = execute(sc)
    assert point.streams is None and point.summary["workers"] == full.summary["workers"]
    assert "count_mean" in json.dumps(point.summary["workers"]["fulfil"])


@pytest.mark.parametrize(("override", "field"), [
    ("slo={workers.fulfil.utilization: 90%}", "slo"),
    ("queues.orders={broker: rabbitmq, max_priority: 5}", "queues.orders.max_priority"),
    ("workers.fulfil.celery={concurrency: 2}", "workers.fulfil.celery"),
])
def test_what_the_stream_does_not_give_as_the_full_summary_is_refused_at_its_field(override: str, field: str) -> None:
    """A verdict on a pool figure from one replication (its batch means), priorities and Celery pools need the records."""
    from queuesim.experiment.execute import execute
    from queuesim.experiment.precision import precision_rule

    try:
        sc = queuesim.load_scenario(_small_file(), [override])
    except queuesim.ScenarioError as err:  # the override itself needs more than this scenario has
        pytest.skip(str(err))
    with pytest.raises(queuesim.ScenarioError, match=f"outputs: summary does not stream .*\\({field}\\)"):
        queuesim.run(sc, outputs="summary")
    # a sweep point or plan task runs with records
    point = execute(sc, keep_records=False, outputs="summary", precision=precision_rule(sc, None, None))
    assert point.streams is None


def _small_file() -> Path:
    import tempfile

    path = Path(tempfile.mkdtemp()) / "s.yaml"
    path.write_text(SMALL.format(outputs=""))
    return path


@pytest.mark.parametrize("override", ["precision=5%", "slo={latency.end_to_end.p99: 500ms}",
                                      "slo={workers.fulfil.utilization: 90%}"])
def test_precision_rounds_and_slo_verdicts_stream_when_the_stream_has_their_intervals(override: str) -> None:
    """Percentile intervals come from the batch sketches, so precision and percentile limits stream; over two
    replications so do the pool and queue figures. The verdicts and the rounds are those of the full path."""
    from queuesim.experiment.execute import execute
    from queuesim.experiment.precision import precision_rule

    reps = 2 if "utilization" in override else 1
    sc = queuesim.load_scenario(_small_file(), [override, f"replications={reps}"])
    rule = precision_rule(sc, None, None)
    streamed = execute(sc, outputs="summary", precision=rule)
    full = execute(sc, precision=rule)
    assert streamed.streams is not None and full.streams is None
    assert streamed.summary["replications"] == full.summary["replications"]
    if "slo" in override:
        assert [c["verdict"] for c in streamed.summary["slo"]["checks"]] == [c["verdict"] for c in full.summary["slo"]["checks"]]
