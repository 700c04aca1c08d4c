"""The engine's bare timers run exactly where a simpy Timeout scheduled at the same moment would,
and the rest of SimPy (processes, until, failures) behaves in an Engine as in a plain Environment."""

from __future__ import annotations

import random
from functools import partial

import pytest
import simpy
from queuesim.sim.kernel import Engine, after
from simpy.events import Timeout


def test_ticks_and_timeouts_interleave_in_scheduling_order() -> None:
    """Ties at one instant run in the order they were scheduled, whichever kind each is; times are kept."""
    rnd = random.Random(4)
    env = Engine()
    seen: list[tuple[float, int]] = []
    expected = []
    for i in range(400):
        delay = float(rnd.choice([0, 1, 1, 2, 2.5]))  # many ties
        expected.append((delay, i))
        if i % 3 == 1:
            after(env, delay, lambda i=i: seen.append((env.now, i)))
        elif i % 3 == 2:
            after(env, delay, partial(seen.append, (delay, i)))
        else:
            Timeout(env, delay).callbacks.append(lambda _e, i=i: seen.append((env.now, i)))
    env.run()
    assert seen == sorted(expected)  # by time, then by scheduling order


def test_a_tick_scheduled_from_a_callback_runs_after_the_ones_already_due() -> None:
    env = Engine()
    seen: list[str] = []
    after(env, 1.0, lambda: (seen.append("a"), after(env, 0.0, lambda: seen.append("c"))))
    after(env, 1.0, lambda: seen.append("b"))
    env.run(until=5)
    assert seen == ["a", "b", "c"] and env.now == 5


def test_step_fires_bare_callbacks_too() -> None:
    env = Engine()
    seen: list[float] = []
    after(env, 2.0, lambda: seen.append(env.now))
    env.step()
    assert seen == [2.0]


def _trace(env: simpy.Environment) -> list[tuple[float, str]]:
    log: list[tuple[float, str]] = []

    def worker(name: str, delay: float) -> simpy.events.ProcessGenerator:
        for k in range(3):
            yield env.timeout(delay)
            log.append((env.now, f"{name}{k}"))
        return name

    a = env.process(worker("a", 1.0))
    env.process(worker("b", 1.5))
    assert env.run(until=a) == "a"
    env.run(until=4.0)
    return log


def test_processes_and_until_run_as_in_simpy() -> None:
    assert _trace(Engine()) == _trace(simpy.Environment())


def test_until_in_the_past_and_an_unfinished_until_event_are_refused_as_in_simpy() -> None:
    env = Engine()
    env.run(until=1.0)
    with pytest.raises(ValueError, match="must be greater"):
        env.run(until=0.5)
    with pytest.raises(RuntimeError, match="No scheduled events left"):
        env.run(until=env.event())


def test_a_failed_event_crashes_the_run_as_in_simpy() -> None:
    env = Engine()
    env.event().fail(KeyError("boom"))
    with pytest.raises(KeyError, match="boom"):
        env.run()
