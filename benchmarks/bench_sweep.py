"""Benchmark: a sweep of 100 small points, serial vs a process pool vs a local Dask cluster.

* serial: every point in this process (``SerialExecutor``).
* process pool: ``QuietProcessPool`` on every core (2 here), pool start-up included, as
  ``queuesim sweep`` does it.
* Dask: a ``LocalCluster`` of single-threaded worker processes, one per core, started once
  outside the timing (its start-up is reported on its own); the figure is the time per point
  above the process pool's.
* overhead alone: the same 100 points sent out and a summary sent back with no simulation, on
  a pool and a cluster already running: the cost per point of the executor itself.
* a pure-Python CPU loop on the pool gives the speed-up the (shared) machine offers right now.

All three produce the same table (checked). The machine is shared and noisy, so every figure is
the median of interleaved repetitions.

Usage: python benchmarks/bench_sweep.py [--repeat 3] [--duration 40s]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import textwrap
import time
from concurrent.futures import Executor
from typing import Any

import pandas as pd

from queuesim import parse_scenario, sweep
from queuesim.experiment.executors import SerialExecutor
from queuesim.experiment.grid import make_points, sweep_axes
from queuesim.experiment.executors import QuietProcessPool, run_tasks

POINTS = ["workers.fulfil.count=5..14", "producers.web.rate=100/s..400/s:10"]  # 10 x 10 = 100 points


def scenario(duration: str):
    return parse_scenario(textwrap.dedent(f"""\
        name: bench-sweep
        seed: 1
        duration: {duration}
        warmup: 2s
        producers:
          web: {{to: orders, rate: 200/s}}
        queues:
          orders: {{broker: redis, capacity: 500}}
        workers:
          fulfil: {{from: orders, count: 8, service: {{dist: exponential, mean: 10ms}}}}
        """))


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the pool's workers once shut down)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn) -> tuple[float, float, pd.DataFrame]:
    """(wall seconds, CPU seconds, table) of one sweep."""
    t0, c0 = time.perf_counter(), _cpu()
    table = fn()
    return time.perf_counter() - t0, _cpu() - c0, table


def _burn(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def available_speedup(cores: int, n: int = 2_000_000, tasks: int = 8) -> float:
    """Speed-up of a pure-Python CPU loop on a process pool: what the machine can give right now.

    On a shared machine other processes take cores too; this ceiling says how much of the sweep's
    speed-up is lost to them rather than to queuesim.
    """
    t0 = time.perf_counter()
    for _ in range(tasks):
        _burn(n)
    serial = time.perf_counter() - t0
    with QuietProcessPool(cores) as ex:
        t0 = time.perf_counter()
        list(ex.map(_burn, [n] * tasks))
        pooled = time.perf_counter() - t0
    return serial / pooled


def _echo(task: tuple[Any, dict[str, Any]]) -> dict[str, Any]:
    """A point that does no work: takes a scenario and hands back a summary, like evaluate_point."""
    return task[1]


def round_trip(executor: Executor, tasks: list[tuple[Any, dict[str, Any]]]) -> float:
    """Seconds per task of sending point-sized work out and a summary back, on a started executor."""
    t0 = time.perf_counter()
    outcome = run_tasks(_echo, tasks, executor=executor, progress=False)
    assert outcome.finished == len(tasks)
    return (time.perf_counter() - t0) / len(tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", default="40s", help="simulated time per point")
    args = parser.parse_args()
    sc = scenario(args.duration)
    cores = os.cpu_count() or 1

    def serial() -> pd.DataFrame:
        return sweep(sc, POINTS, executor=SerialExecutor(), progress=False).table

    def pool() -> pd.DataFrame:
        with QuietProcessPool(cores) as ex:
            return sweep(sc, POINTS, executor=ex, progress=False).table

    try:
        import distributed
    except ImportError:
        distributed = None

    times: dict[str, list[float]] = {"serial": [], "pool": [], "dask": []}
    cpu: dict[str, list[float]] = {"serial": [], "pool": [], "dask": []}
    load_before = os.getloadavg()[0]
    ceilings: list[float] = []
    reference = None
    client = cluster = None
    dask_start = None
    if distributed is not None:
        t0 = time.perf_counter()
        cluster = distributed.LocalCluster(n_workers=cores, threads_per_worker=1, processes=True, dashboard_address=None)
        client = distributed.Client(cluster)
        dask_start = time.perf_counter() - t0
        from queuesim.experiment.dask import executor_for_client

        dask_ex = executor_for_client(client)
    try:
        for _ in range(args.repeat):
            ceilings.append(available_speedup(cores))
            runs = [("serial", serial), ("pool", pool)]
            if client is not None:
                runs.append(("dask", lambda: sweep(sc, POINTS, executor=dask_ex, progress=False).table))
            for name, fn in runs:
                seconds, cpu_seconds, table = timed(fn)
                times[name].append(seconds)
                cpu[name].append(cpu_seconds)
                if reference is None:
                    reference = table
                else:
                    pd.testing.assert_frame_equal(table, reference)  # same numbers on every executor
        # Overhead alone: points that do nothing, on executors already started.
        summary = sweep(sc, ["workers.fulfil.count=8"], executor=SerialExecutor(), progress=False).summaries[0]
        echo = [(point, summary) for _, point in make_points(sc, sweep_axes(sc, POINTS))]
        trips: dict[str, list[float]] = {"pool": [], "dask": []}
        with QuietProcessPool(cores) as warm:
            round_trip(warm, echo)  # start the workers
            for _ in range(args.repeat):
                trips["pool"].append(round_trip(warm, echo))
                if client is not None:
                    trips["dask"].append(round_trip(dask_ex, echo))
    finally:
        if client is not None:
            client.close()
            cluster.close()

    n = len(reference)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    print(f"sweep of {n} points ({args.duration} simulated each, {sc.producers['web'].rate:g}/s base), {cores} cores, "
          f"median of {args.repeat}")
    load_after = os.getloadavg()[0]
    print(f"  (1-minute load average {load_before:.1f} before, {load_after:.1f} after: other work on the machine "
          f"slows the parallel runs most)")
    cpu_serial, cpu_pool = statistics.median(cpu["serial"]), statistics.median(cpu["pool"])
    print(f"  serial           {med['serial']:7.2f} s   {med['serial'] / n * 1000:6.1f} ms/point   "
          f"CPU {cpu_serial / n * 1000:5.1f} ms/point")
    print(f"  process pool     {med['pool']:7.2f} s   {med['pool'] / n * 1000:6.1f} ms/point   "
          f"CPU {cpu_pool / n * 1000:5.1f} ms/point   speed-up {med['serial'] / med['pool']:.2f}x on {cores} cores "
          f"(a pure CPU loop gets {statistics.median(ceilings):.2f}x on this machine now)")
    busy = statistics.median(c / w for c, w in zip(cpu["pool"], times["pool"]))
    print(f"                   the pool keeps {busy:.2f} of {cores} cores busy (CPU time / wall time: the speed-up "
          f"a quiet machine gives, whatever the neighbours do)")
    if "dask" in med:
        overhead = (med["dask"] - med["pool"]) / n * 1000
        print(f"  Dask (local)     {med['dask']:7.2f} s   {med['dask'] / n * 1000:6.1f} ms/point   "
              f"vs process pool {overhead:+.1f} ms/point; cluster start {dask_start:.1f} s")
        pool_trip, dask_trip = statistics.median(trips["pool"]) * 1000, statistics.median(trips["dask"]) * 1000
        print(f"  overhead alone (points that do nothing): process pool {pool_trip:.2f} ms/point, "
              f"Dask {dask_trip:.2f} ms/point: Dask adds {dask_trip - pool_trip:.2f} ms/point")
    else:
        print("  Dask: not installed (pip install 'queuesim[dask]')")
    print("  tables identical on every executor: yes")


if __name__ == "__main__":
    main()
