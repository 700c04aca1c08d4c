"""The engine's progress hook: it reports the simulated time as a run goes and leaves the run's records unchanged."""

from __future__ import annotations

import numpy as np
from queuesim import parse_scenario
from queuesim.sim import simulate
from queuesim.sim.build import PROGRESS_STEPS

# retries, a visibility timeout and a spike: many events share times with the progress ticks
SCENARIO = """\
name: hook
seed: 5
duration: 12s
warmup: 1s
producers:
  web:
    to: jobs
    rate: {shape: spike, base: 150/s, peak: 600/s, at: 4s, duration: 2s}
    arrivals: regular
    retry: {attempts: 3, backoff: 50ms}
queues:
  jobs: {broker: sqs, capacity: 40, visibility_timeout: 80ms}
workers:
  pool: {from: jobs, count: 3, service: {dist: exponential, mean: 15ms}}
"""


def test_progress_reports_every_step_and_changes_no_record() -> None:
    sc = parse_scenario(SCENARIO)
    seen: list[float] = []
    reported = simulate(sc, 0, 5, progress=seen.append)
    plain = simulate(sc, 0, 5)
    for table in ("requests", "messages", "deliveries", "rejections"):
        a, b = getattr(reported, table), getattr(plain, table)
        assert a.keys() == b.keys()
        for column in a:
            np.testing.assert_array_equal(a[column], b[column], err_msg=f"{table}.{column}")
    assert reported.extra == plain.extra
    assert seen == sorted(seen) and seen[-1] == sc.duration
    assert PROGRESS_STEPS - 1 <= len(seen) <= PROGRESS_STEPS + 1
