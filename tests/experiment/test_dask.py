"""The Dask executor on a local two-process cluster: same table as serial and process pool, plans run on it too."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Executor

import pandas as pd
import pytest

distributed = pytest.importorskip(
    "distributed", reason="dask.distributed is not installed (pip install 'queuesim-async[dask]'); the Dask executor is untested"
)

from queuesim import parse_scenario, plan, sweep  # noqa: E402
from queuesim.experiment.executors import SerialExecutor  # noqa: E402
from queuesim.experiment.dask import executor_for_client  # noqa: E402
from queuesim.experiment.executors import QuietProcessPool  # noqa: E402

SCENARIO = """\
name: dask-small
seed: 9
duration: 5s
warmup: 1s
replications: 2
producers:
  web: {to: orders, rate: 300/s}
queues:
  orders: {broker: sqs, capacity: 100, visibility_timeout: 2s}
workers:
  fulfil: {from: orders, count: 4, service: {dist: lognormal, mean: 10ms, cv: 1.5}}
sweep:
  vary:
    workers.fulfil.count: 3..4
    producers.web.rate: 250/s..350/s:2
  seeds: independent
slo: {latency.end_to_end.p99: 100ms}
"""


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[Executor]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield executor_for_client(client)


def test_dask_serial_and_process_pool_tables_are_identical(dask_executor: Executor) -> None:
    scenario = parse_scenario(SCENARIO)
    on_dask = sweep(scenario, executor=dask_executor, progress=False)
    serial = sweep(scenario, executor=SerialExecutor(), progress=False)
    with QuietProcessPool(2) as pool:
        pooled = sweep(scenario, executor=pool, progress=False)
    assert len(on_dask.table) == 4 and not on_dask.partial
    pd.testing.assert_frame_equal(on_dask.table, serial.table)
    pd.testing.assert_frame_equal(on_dask.table, pooled.table)


def test_plan_runs_on_dask(dask_executor: Executor) -> None:
    scenario = parse_scenario(SCENARIO)
    on_dask = plan(scenario, load=1.5, executor=dask_executor, progress=False, saturation=False)
    serial = plan(scenario, load=1.5, executor=SerialExecutor(), progress=False, saturation=False)
    assert on_dask.recommended == serial.recommended and on_dask.meets_slo == serial.meets_slo
    assert [e.to_dict() for e in on_dask.evaluations if e.confirmation] == [e.to_dict() for e in serial.evaluations if e.confirmation]
