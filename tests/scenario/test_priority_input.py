"""Bad priority input: a located error, exit 2 and no traceback, for each way the contract can be broken."""

from __future__ import annotations

from pathlib import Path

import pytest
from queuesim.cli import app
from typer.testing import CliRunner

runner = CliRunner()

BASE = """\
name: t
duration: 2s
producers:
  urgent: {to: jobs, rate: 50/s, priority: 2}
  bulk: {to: jobs, rate: 50/s}
queues:
  jobs: {broker: rabbitmq, max_priority: 2}
workers:
  w: {from: jobs, count: 2, service: 5ms}
"""


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("broker: rabbitmq, max_priority: 2", "broker: sqs, max_priority: 2",
         "x.yaml:7: queues.jobs.max_priority: SQS has no message priorities"),
        ("broker: rabbitmq, max_priority: 2", "broker: rabbitmq",
         "x.yaml:4: producers.urgent.priority: queue 'jobs' has no `max_priority`"),
        ("max_priority: 2}", "max_priority: 1}",
         "x.yaml:4: producers.urgent.priority: must be ≤ the max_priority of queue 'jobs' (1)"),
        ("broker: rabbitmq, max_priority: 2", "broker: redis, max_priority: 12",
         "x.yaml:7: queues.jobs.max_priority: must be ≤ 9"),
        ("broker: rabbitmq, max_priority: 2", "broker: redis, mode: stream, max_priority: 2",
         "x.yaml:7: queues.jobs.max_priority: priority steps are Redis lists: not available in `stream` mode"),
        ("rate: 50/s, priority: 2}", "rate: 50/s, priority: -1}", "x.yaml:4: producers.urgent.priority: must be ≥ 0"),
    ],
    ids=["sqs", "no-max-priority", "above-max", "redis-above-9", "redis-stream", "negative"],
)
def test_bad_priorities_are_located(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str, expected: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert old in BASE
    Path("x.yaml").write_text(BASE.replace(old, new))
    result = runner.invoke(app, ["run", "x.yaml", "--out", "o"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert expected in result.output, result.output


def test_a_good_priority_scenario_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("x.yaml").write_text(BASE + "slo: {producers.urgent.latency.end_to_end.p99: 50ms}\n")
    result = runner.invoke(app, ["validate", "x.yaml"])
    assert result.exit_code == 0, result.output
    Path("y.yaml").write_text(BASE + "slo: {producers.urgnet.latency.end_to_end.p99: 50ms}\n")
    result = runner.invoke(app, ["validate", "y.yaml"])
    assert result.exit_code == 2 and "unknown producer 'urgnet'" in result.output, result.output
