"""The engine's bare timers run exactly where a simpy Timeout scheduled at the same moment would."""

from __future__ import annotations

import random

import simpy
from queuesim.sim.timer import after
from simpy.events import Timeout


def test_ticks_and_timeouts_interleave_in_scheduling_order() -> None:
    """Ties at one instant run in the order they were scheduled, whichever kind each is; times are kept."""
    rnd = random.Random(4)
    env = simpy.Environment()
    seen: list[tuple[float, int]] = []
    expected = []
    for i in range(400):
        delay = float(rnd.choice([0, 1, 1, 2, 2.5]))  # many ties
        expected.append((delay, i))
        if i % 2:
            after(env, delay, lambda _e, i=i: seen.append((env.now, i)))
        else:
            Timeout(env, delay).callbacks.append(lambda _e, i=i: seen.append((env.now, i)))
    env.run()
    assert seen == sorted(expected)  # by time, then by scheduling order


def test_a_tick_scheduled_from_a_callback_runs_after_the_ones_already_due() -> None:
    env = simpy.Environment()
    seen: list[str] = []
    after(env, 1.0, lambda _e: (seen.append("a"), after(env, 0.0, lambda _e: seen.append("c"))))
    after(env, 1.0, lambda _e: seen.append("b"))
    env.run(until=5)
    assert seen == ["a", "b", "c"] and env.now == 5
