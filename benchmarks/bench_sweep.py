"""Benchmark: a sweep of 100 small points, serial vs a process pool vs a local Dask cluster.

* serial: every point in this process (``SerialExecutor``).
* process pool: ``QuietProcessPool`` on every core (2 here), pool start-up included, as
  ``queuesim sweep`` does it.
* Dask: a ``LocalCluster`` of single-threaded worker processes, one per core, started once
  outside the timing (its start-up is reported on its own); the figure is the time per point
  above the process pool's.

All three produce the same table (checked). The machine is shared and noisy, so every figure is
the median of interleaved repetitions.

Usage: python benchmarks/bench_sweep.py [--repeat 3] [--duration 40s]
"""

from __future__ import annotations

import argparse
import os
import statistics
import textwrap
import time

import pandas as pd

from queuesim import parse_scenario, sweep
from queuesim.executors import SerialExecutor
from queuesim.sweep.runner import QuietProcessPool

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


def timed(fn) -> tuple[float, pd.DataFrame]:
    t0 = time.perf_counter()
    table = fn()
    return time.perf_counter() - t0, table


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
    reference = None
    client = cluster = None
    dask_start = None
    if distributed is not None:
        t0 = time.perf_counter()
        cluster = distributed.LocalCluster(n_workers=cores, threads_per_worker=1, processes=True, dashboard_address=None)
        client = distributed.Client(cluster)
        dask_start = time.perf_counter() - t0
        from queuesim.sweep.dask import executor_for_client

        dask_ex = executor_for_client(client)
    try:
        for _ in range(args.repeat):
            runs = [("serial", serial), ("pool", pool)]
            if client is not None:
                runs.append(("dask", lambda: sweep(sc, POINTS, executor=dask_ex, progress=False).table))
            for name, fn in runs:
                seconds, table = timed(fn)
                times[name].append(seconds)
                if reference is None:
                    reference = table
                else:
                    pd.testing.assert_frame_equal(table, reference)  # same numbers on every executor
    finally:
        if client is not None:
            client.close()
            cluster.close()

    n = len(reference)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    print(f"sweep of {n} points ({args.duration} simulated each, {sc.producers['web'].rate:g}/s base), {cores} cores, "
          f"median of {args.repeat}")
    print(f"  serial           {med['serial']:7.2f} s   {med['serial'] / n * 1000:6.1f} ms/point")
    print(f"  process pool     {med['pool']:7.2f} s   {med['pool'] / n * 1000:6.1f} ms/point   "
          f"speed-up {med['serial'] / med['pool']:.2f}x on {cores} cores")
    if "dask" in med:
        overhead = (med["dask"] - med["pool"]) / n * 1000
        print(f"  Dask (local)     {med['dask']:7.2f} s   {med['dask'] / n * 1000:6.1f} ms/point   "
              f"overhead vs process pool {overhead:+.1f} ms/point; cluster start {dask_start:.1f} s")
    else:
        print("  Dask: not installed (pip install 'queuesim[dask]')")
    print("  tables identical on every executor: yes")


if __name__ == "__main__":
    main()
