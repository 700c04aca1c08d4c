"""The deadline structure behind visibility timeouts and reneging: it must run exactly as a Timeout per entry would."""

from __future__ import annotations

import random

import pytest
import simpy
from queuesim.sim.kernel import Engine
from queuesim.sim.deadlines import Deadlines
from simpy.events import Timeout


def _schedule(use_deadlines: bool, ordered: bool, seed: int) -> list[tuple[float, str]]:
    """Entries added over time (some killed before they are due) among unrelated events at the same instants.

    Times are multiples of 0.25 so that many events tie; the log is (time, what) in the order run.
    """
    rnd = random.Random(seed)
    env = Engine()
    log: list[tuple[float, str]] = []
    dead: set[int] = set()
    deadlines = Deadlines(env, lambda k, _t: k not in dead, lambda k, _t: log.append((env.now, f"due {k}")),
                          ordered=ordered)
    plan = []
    for k in range(200):
        at = rnd.randrange(0, 40) * 0.25
        plan.append((at, k, 2.0 if ordered else rnd.randrange(0, 12) * 0.25))
    plan.sort()

    def add(k: int, delay: float) -> None:
        if use_deadlines:
            deadlines.add(env.now + delay, k)
        else:
            Timeout(env, delay).callbacks.append(lambda _e: None if k in dead else log.append((env.now, f"due {k}")))
        if rnd.random() < 0.5:  # answered before its deadline (acknowledged, served): dies
            Timeout(env, rnd.randrange(0, 8) * 0.25).callbacks.append(lambda _e: dead.add(k))
        Timeout(env, rnd.randrange(0, 12) * 0.25).callbacks.append(lambda _e: log.append((env.now, f"other {k}")))

    for at, k, delay in plan:
        Timeout(env, at).callbacks.append(lambda _e, k=k, delay=delay: add(k, delay))
    env.run()
    return log


@pytest.mark.parametrize("ordered", [True, False], ids=["deque", "heap"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_deadlines_fire_exactly_as_one_timeout_per_entry(ordered: bool, seed: int) -> None:
    with_timeouts = _schedule(False, ordered, seed)
    assert _schedule(True, ordered, seed) == with_timeouts
    assert sum(1 for _, what in with_timeouts if what.startswith("due")) > 20  # the test exercises expiries


def test_only_the_earliest_live_deadline_has_an_event() -> None:
    # 1,000 receives 1 ms apart, each acknowledged 0.5 ms later, with a 30 s timeout: SimPy's
    # queue never holds more than the one armed event (plus the producer's next step)
    env = Engine()
    dead: set[int] = set()
    due: list[int] = []
    deadlines = Deadlines(env, lambda k, _t: k not in dead, lambda k, _t: due.append(k))
    most = 0

    def receive(k: int) -> None:
        nonlocal most
        deadlines.add(env.now + 30.0, k)
        Timeout(env, 0.0005).callbacks.append(lambda _e: dead.add(k))
        if k + 1 < 1000:
            Timeout(env, 0.001).callbacks.append(lambda _e: receive(k + 1))
        most = max(most, len(env._queue))

    receive(0)
    env.run()
    assert most <= 3 and due == []
    assert len(deadlines) == 0  # every dead entry was dropped once it reached the head
