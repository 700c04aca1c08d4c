"""Benchmark: an M/M/4 queue at rho = 0.9, queuesim against a lean hand-written SimPy model.

Both simulate the same queue for the same number of messages in the same run; the machine is
shared and noisy, so the figure that matters is the ratio, and every figure is a median of
interleaved repetitions.

* lean SimPy: a producer process putting into a ``simpy.Store``, four worker processes getting
  from it, waits appended to a list: the fastest form a competent SimPy user writes.
* queuesim (whole run): ``queuesim run`` as a subprocess, timed end to end: interpreter start,
  imports, validation, simulation, summary, messages/deliveries parquet, time series and plots.
* queuesim (simulate only): ``queuesim.sim.simulate`` in this process, for the engine alone.

``--broker sqs`` puts the queue on a standard SQS queue (30 s visibility timeout, no expiries at
this load) instead of a Redis list: the same queue, with a visibility deadline per receive. The
hand-written model is the same plain ``Store`` either way, since an M/M/4 needs nothing more.
``--engine-only`` times only the lean model and ``simulate`` (no ``queuesim run`` subprocess).

Peak memory is the child's maximum RSS above that of the same command on a tiny run, divided by
the number of messages.

Usage: python benchmarks/bench_mmc.py [--messages 1000000] [--repeat 3] [--broker redis|sqs] [--engine-only]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import simpy

LAM, MU, C = 3.6, 1.0, 4  # rho = lam / (c mu) = 0.9


def lean_simpy(n: int, seed: int = 1) -> float:
    """The hand-written model; returns its wall time."""
    rnd = random.Random(seed)
    env = simpy.Environment()
    store = simpy.Store(env)
    waits: list[float] = []

    def producer():
        for _ in range(n):
            yield env.timeout(rnd.expovariate(LAM))
            store.put(env.now)

    def worker():
        while True:
            t = yield store.get()
            waits.append(env.now - t)
            yield env.timeout(rnd.expovariate(MU))

    t0 = time.perf_counter()
    env.process(producer())
    for _ in range(C):
        env.process(worker())
    env.run()
    return time.perf_counter() - t0


SCENARIO = """\
name: bench-mm4
seed: 1
duration: {duration}
producers:
  web: {{to: jobs, rate: {lam}}}
queues:
  jobs: {{broker: {broker}}}
workers:
  pool: {{from: jobs, count: {c}, service: {{dist: exponential, mean: {mean}}}}}
"""


def write_scenario(folder: Path, n: int, broker: str = "redis") -> Path:
    path = folder / f"bench-{broker}-{n}.yaml"
    path.write_text(SCENARIO.format(duration=n / LAM, lam=LAM, c=C, mean=1 / MU, broker=broker))
    return path


def spread(values: list[float]) -> str:
    """``median (min–max)`` of a list of figures."""
    return f"{statistics.median(values):.2f}x ({min(values):.2f}–{max(values):.2f})"


def queuesim_run(path: Path, out: Path) -> tuple[float, int]:
    """Wall time and peak RSS (bytes) of a whole ``queuesim run`` in a child process."""
    exe = Path(sys.executable).with_name("queuesim")
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(exe), "run", str(path), "--out", str(out), "--quiet"])
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"queuesim run failed with status {status}")
    return elapsed, usage.ru_maxrss * 1024


def simulate_only(path: Path) -> tuple[float, int]:
    from queuesim import load_scenario
    from queuesim.sim import simulate

    sc = load_scenario(path)
    t0 = time.perf_counter()
    rec = simulate(sc)
    return time.perf_counter() - t0, len(rec.messages["created"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--broker", choices=["redis", "sqs"], default="redis", help="the queue's broker (default redis)")
    ap.add_argument("--engine-only", action="store_true", help="skip the whole `queuesim run` subprocess")
    args = ap.parse_args()
    n = args.messages
    whole_run = not args.engine_only
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        big, tiny = write_scenario(folder, n, args.broker), write_scenario(folder, 1000, args.broker)
        base_rss = queuesim_run(tiny, folder / "tiny")[1] if whole_run else 0
        lean: list[float] = []
        whole: list[float] = []
        engine: list[float] = []
        rss: list[int] = []
        for i in range(args.repeat):
            lean.append(n / lean_simpy(n, seed=i + 1))
            if whole_run:
                t, peak = queuesim_run(big, folder / "big")
                whole.append(n / t)
                rss.append(peak)
            t, produced = simulate_only(big)
            engine.append(produced / t)
            print(f"  repeat {i + 1}: lean {lean[-1]:,.0f}/s  "
                  + (f"queuesim run {whole[-1]:,.0f}/s  " if whole_run else "")
                  + f"simulate {engine[-1]:,.0f}/s", flush=True)
    lm, em = statistics.median(lean), statistics.median(engine)
    # each repeat measures both back to back: the median of those paired ratios resists the
    # machine's load drifting between repeats better than a ratio of medians
    e_pairs = [e / b for e, b in zip(engine, lean, strict=True)]
    print(f"M/M/4 rho=0.9 on {args.broker}, {n:,} messages, medians of {args.repeat}:")
    print(f"  lean hand-written SimPy      {lm:12,.0f} msg/s")
    if whole_run:
        wm = statistics.median(whole)
        w_pairs = [w / b for w, b in zip(whole, lean, strict=True)]
        print(f"  queuesim run (whole, files)  {wm:12,.0f} msg/s   ratio {wm / lm:.2f}x   paired ratio {spread(w_pairs)}")
    print(f"  queuesim simulate (engine)   {em:12,.0f} msg/s   ratio {em / lm:.2f}x   paired ratio {spread(e_pairs)}")
    if whole_run:
        per_msg = (statistics.median(rss) - base_rss) / n
        print(f"  peak memory above a tiny run {per_msg:12,.0f} bytes/message")


if __name__ == "__main__":
    main()
