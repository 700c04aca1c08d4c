"""Progress bars: one per command, on a terminal only; simulated time from every replication, here or in a process pool."""

from __future__ import annotations

import io

import pytest
from queuesim import parse_scenario
from queuesim.experiment.execute import run_experiment
from queuesim.experiment.executors import QuietProcessPool, SerialExecutor, run_tasks
from queuesim.experiment.progress import Bar, SimClock
from rich.console import Console

SMALL = """\
name: small
seed: 3
duration: 10s
warmup: 1s
producers:
  web: {to: orders, rate: 100/s}
queues:
  orders: {broker: redis}
workers:
  fulfil: {from: orders, count: 2, service: {dist: exponential, mean: 9ms}}
"""


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=100), out


@pytest.mark.parametrize("pool", [False, True], ids=["here", "process-pool"])
def test_the_clock_shows_the_simulated_time_of_every_replication(pool: bool) -> None:
    console, out = _console(terminal=True)
    sc = parse_scenario(SMALL)
    with SimClock(2 * sc.duration, 2, "run small", console=console) as clock:
        if pool:
            with QuietProcessPool(2) as ex:
                run_experiment(sc, replications=2, executor=ex, clock=clock)
        else:
            run_experiment(sc, replications=2, executor=SerialExecutor(), clock=clock)
    assert clock.bar.completed == pytest.approx(20.0) and clock.bar.total == 20.0
    text = out.getvalue()
    assert "run small" in text and "2/2 reps, 20/20 s simulated" in text


def test_nothing_is_drawn_off_a_terminal_and_no_replication_reports() -> None:
    console, out = _console(terminal=False)
    with SimClock(10.0, 1, console=console) as clock:
        assert not clock.enabled and clock.reporter(10.0, None) is None
        run_experiment(parse_scenario(SMALL), replications=1, clock=clock)
    assert out.getvalue() == ""


def test_a_shared_bar_is_advanced_by_each_task_and_revised_by_its_owner() -> None:
    console, out = _console(terminal=True)
    with Bar("plan", 0, "{task.fields[candidates]} candidate(s) done", console=console, candidates=0) as bar:
        bar.expect(6)
        run_tasks(abs, [-1, -2, -3], executor=SerialExecutor(), progress=bar, weight=2.0)
        assert (bar.completed, bar.total) == (6.0, 6.0)
        bar.expect(4)  # work found on the way: the estimate grows, what is done stays
        assert (bar.completed, bar.total) == (6.0, 10.0)
        bar.update(candidates=3)
    assert "3 candidate(s) done" in out.getvalue()
