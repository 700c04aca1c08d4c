"""The benchmark the project keeps (``make bench``): queuesim against a lean hand-written SimPy model of the same queue.

Every figure is CPU time (user + system, of the child process that ran it) on a shared, noisy
machine, so the figures that matter are ratios to the hand-written model measured in the same
repetition, and every ratio is the median of interleaved repetitions with its min–max.

Rows (each at ``--messages`` requests; ratio > 1: queuesim is faster):

* models: ``redis`` (M/M/4 at rho = 0.9), ``bounded`` (M/M/4/10: ten waiting places, 503s
  beyond), ``tandem`` (three M/M/4 stages in series), ``sqs`` (M/M/4 on an SQS queue: visibility
  timeouts, no duplicates at these service times). The hand-written model of each: a producer
  process putting into ``simpy.Store``s, worker processes getting from them, waits appended to a
  list (the bounded one checks the store's length first) — the fastest form a competent SimPy
  user writes; its whole process (interpreter start and ``import simpy`` included) against
  ``queuesim run``'s whole process.
* ``whole``: ``queuesim run`` with its default outputs (summary, both parquet files, time series,
  four plots); ``summary``: ``queuesim run --outputs summary`` (streamed statistics: summary.json,
  scenario.json, timeseries.csv); ``engine``: ``queuesim.sim.simulate`` alone against the
  hand-written model's ``env.run`` alone, both recording every message.
* references on the M/M/4 model, when available: Ciw (``pip install ciw``; fewer messages, it is
  slow: compared per message) and a plain-Python event loop with no SimPy (the headroom).
* memory: peak RSS of ``queuesim run`` per message above a 1,000-message run, at 10^5, 10^6 and
  10^7 messages, with full and with summary outputs (``--quick``: 10^5 and 10^6).
* sweeps: 100 points serial against a process pool on every core (speed-up), and the time per
  point a Dask cluster adds (:mod:`bench_sweep`).
* answers: wall seconds of README's quickstart ``plan --load 2x`` and its 45-point sweep (two
  replications each), with the plan's recommendation and replications, on every core.

Results are printed as a table and stored as JSON (``benchmarks/results/latest.json``, and the
previous file kept as ``previous.json``) so a later change can be compared.

Usage: python benchmarks/bench.py [--quick] [--repeat 3] [--messages 1000000] [--only redis,sqs]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PYTHON = sys.executable
QUEUESIM = str(Path(sys.executable).with_name("queuesim"))

LAM, MU, C, K = 3.6, 1.0, 4, 10  # rho = lam / (c mu) = 0.9; K waiting places in the bounded model

# ---------------------------------------------------------------------------------------------
# The hand-written models: each prints the CPU seconds of env.run and the messages it handled.

LEAN_HEAD = f"""\
import random, sys, time
import simpy
n = int(sys.argv[1]); LAM, MU, C, K = {LAM}, {MU}, {C}, {K}
rnd = random.Random(1)
env = simpy.Environment()
waits = []
"""

LEAN_TAIL = """
t0 = time.process_time()
env.run()
print(time.process_time() - t0, n)
"""

LEAN = {
    "mmc": """\
store = simpy.Store(env)
def producer():
    for _ in range(n):
        yield env.timeout(rnd.expovariate(LAM))
        store.put(env.now)
def worker():
    while True:
        t = yield store.get()
        waits.append(env.now - t)
        yield env.timeout(rnd.expovariate(MU))
env.process(producer())
for _ in range(C):
    env.process(worker())
""",
    "bounded": """\
store = simpy.Store(env)
rejected = 0
def producer():
    global rejected
    for _ in range(n):
        yield env.timeout(rnd.expovariate(LAM))
        if len(store.items) < K:
            store.put(env.now)
        else:
            rejected += 1
def worker():
    while True:
        t = yield store.get()
        waits.append(env.now - t)
        yield env.timeout(rnd.expovariate(MU))
env.process(producer())
for _ in range(C):
    env.process(worker())
""",
    "tandem": """\
stores = [simpy.Store(env) for _ in range(3)]
def producer():
    for _ in range(n):
        yield env.timeout(rnd.expovariate(LAM))
        stores[0].put(env.now)
def worker(i):
    while True:
        t = yield stores[i].get()
        yield env.timeout(rnd.expovariate(MU))
        if i < 2:
            stores[i + 1].put(t)
        else:
            waits.append(env.now - t)
env.process(producer())
for i in range(3):
    for _ in range(C):
        env.process(worker(i))
""",
}

SCENARIO_HEAD = """\
name: bench-{model}
seed: 1
duration: {duration}
producers:
  web: {{to: q1, rate: {lam}}}
"""
SCENARIOS = {
    "redis": ("mmc", """\
queues:
  q1: {{broker: redis}}
workers:
  pool: {{from: q1, count: {c}, service: {{dist: exponential, mean: {mean}}}}}
"""),
    "bounded": ("bounded", """\
queues:
  q1: {{broker: redis, capacity: {k}}}
workers:
  pool: {{from: q1, count: {c}, service: {{dist: exponential, mean: {mean}}}}}
"""),
    "tandem": ("tandem", """\
queues:
  q1: {{broker: redis}}
  q2: {{broker: redis}}
  q3: {{broker: redis}}
workers:
  s1: {{from: q1, count: {c}, service: {{dist: exponential, mean: {mean}}}, to: q2}}
  s2: {{from: q2, count: {c}, service: {{dist: exponential, mean: {mean}}}, to: q3}}
  s3: {{from: q3, count: {c}, service: {{dist: exponential, mean: {mean}}}}}
"""),
    "sqs": ("mmc", """\
queues:
  q1: {{broker: sqs}}
workers:
  pool: {{from: q1, count: {c}, service: {{dist: exponential, mean: {mean}}}}}
"""),
}

ENGINE = """\
import sys, time
from queuesim import load_scenario
from queuesim.sim import simulate
sc = load_scenario(sys.argv[1])
t0 = time.process_time()
rec = simulate(sc)
print(time.process_time() - t0, len(rec.requests["created"]))
"""

PLAIN_LOOP = f"""\
import heapq, random, sys, time
from collections import deque
n = int(sys.argv[1]); LAM, MU, C = {LAM}, {MU}, {C}
rnd = random.Random(1)
t0 = time.process_time()
# (time, seq, kind): kind 0 an arrival, 1 a service end; a FIFO of arrival times; waits recorded
heap, seq, queue, idle, waits, made = [(rnd.expovariate(LAM), 0, 0)], 1, deque(), C, [], 1
while heap:
    now, _, kind = heapq.heappop(heap)
    if kind == 0:
        if made < n:
            heapq.heappush(heap, (now + rnd.expovariate(LAM), seq, 0)); seq += 1; made += 1
        if idle:
            idle -= 1; waits.append(0.0)
            heapq.heappush(heap, (now + rnd.expovariate(MU), seq, 1)); seq += 1
        else:
            queue.append(now)
    elif queue:
        waits.append(now - queue.popleft())
        heapq.heappush(heap, (now + rnd.expovariate(MU), seq, 1)); seq += 1
    else:
        idle += 1
print(time.process_time() - t0, n)
"""

CIW = f"""\
import sys, time
import ciw
n = int(sys.argv[1])
N = ciw.create_network(arrival_distributions=[ciw.dists.Exponential({LAM})],
                       service_distributions=[ciw.dists.Exponential({MU})], number_of_servers=[{C}])
ciw.seed(1)
t0 = time.process_time()
Q = ciw.Simulation(N)
Q.simulate_until_max_time(n / {LAM})
print(time.process_time() - t0, len(Q.get_all_records()))
"""


# ---------------------------------------------------------------------------------------------
# Running children and reading their CPU time and peak memory.


def child(args: list[str], cwd: Path | None = None) -> tuple[float, int, str]:
    """(CPU seconds, peak RSS in bytes, stdout) of a child process run to completion."""
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.PIPE, text=True, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        err = proc.stderr.read() if proc.stderr else ""
        out.seek(0)
        text = out.read()
    if status != 0:
        raise SystemExit(f"{' '.join(args[:4])} … failed ({status}): {err[-2000:]}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, text


def scenario_file(folder: Path, model: str, n: int) -> Path:
    _, body = SCENARIOS[model]
    text = SCENARIO_HEAD.format(model=model, duration=n / LAM, lam=LAM) + body.format(c=C, k=K, mean=1 / MU)
    path = folder / f"{model}-{n}.yaml"
    path.write_text(text)
    return path


def run_queuesim(path: Path, out: Path, outputs: str) -> tuple[float, int, int]:
    """(CPU s, peak bytes, requests produced) of a whole ``queuesim run``."""
    shutil.rmtree(out, ignore_errors=True)
    # full outputs are the default: no flag, so the same call measures a tree from before --outputs existed
    flag = [] if outputs == "full" else ["--outputs", outputs]
    cpu, peak, _ = child([QUEUESIM, "run", str(path), "--out", str(out), "--quiet", *flag])
    produced = json.loads((out / "summary.json").read_text())["messages"]["produced"]
    return cpu, peak, int(produced)


def timed_script(source: str, arg: str) -> tuple[float, float, int]:
    """(whole-process CPU s, inner CPU s the script printed, messages it printed)."""
    cpu, _, text = child([PYTHON, "-c", source, arg])
    inner, count = text.split()
    return cpu, float(inner), int(count)


def summary_stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


# ---------------------------------------------------------------------------------------------
# The sections of the benchmark.


def bench_models(models: list[str], n: int, repeat: int, folder: Path, summary: bool = True) -> dict[str, Any]:
    """Interleaved repetitions of every model: the hand-written one, then queuesim three ways, paired per repetition."""
    out: dict[str, Any] = {}
    raw: dict[str, dict[str, list[float]]] = {m: {k: [] for k in ("lean", "lean_engine", "whole", "summary", "engine")}
                                              for m in models}
    ratios: dict[str, dict[str, list[float]]] = {m: {"whole": [], "summary": [], "engine": []} for m in models}
    paths = {m: scenario_file(folder, m, n) for m in models}
    for rep in range(repeat):
        for m in models:
            lean_model = SCENARIOS[m][0]
            lean_cpu, lean_inner, lean_n = timed_script(LEAN_HEAD + LEAN[lean_model] + LEAN_TAIL, str(n))
            whole_cpu, _, whole_n = run_queuesim(paths[m], folder / f"out-{m}", "full")
            summary_cpu, _, summary_n = (run_queuesim(paths[m], folder / f"out-{m}-s", "summary") if summary
                                         else (float("nan"), 0, 0))
            _, engine_inner, engine_n = timed_script(ENGINE, str(paths[m]))
            rates = {"lean": lean_n / lean_cpu, "lean_engine": lean_n / lean_inner, "whole": whole_n / whole_cpu,
                     "summary": summary_n / summary_cpu, "engine": engine_n / engine_inner}
            for k, v in rates.items():
                raw[m][k].append(v)
            ratios[m]["whole"].append(rates["whole"] / rates["lean"])
            ratios[m]["summary"].append(rates["summary"] / rates["lean"])
            ratios[m]["engine"].append(rates["engine"] / rates["lean_engine"])
            print(f"  repeat {rep + 1} {m:8s} lean {rates['lean']:9,.0f}/s  whole {ratios[m]['whole'][-1]:.2f}x  "
                  f"summary {ratios[m]['summary'][-1]:.2f}x  engine {ratios[m]['engine'][-1]:.2f}x", flush=True)
    for m in models:
        # without the summary-only runs (a tree from before --outputs), their entries are None
        out[m] = {"messages": n, "per_cpu_second": {k: summary_stats(v) if summary or k != "summary" else None
                                                    for k, v in raw[m].items()},
                  "ratio": {k: summary_stats(v) if summary or k != "summary" else None for k, v in ratios[m].items()}}
    return out


def bench_references(n: int, repeat: int) -> dict[str, Any]:
    """Ciw (when installed) and a plain-Python event loop on the M/M/4 model, per message against the hand-written one."""
    out: dict[str, Any] = {}
    try:
        import ciw  # noqa: F401
        have_ciw = True
    except ImportError:
        have_ciw = False
    n_ciw = max(20_000, n // 10)
    plain, ciw_r = [], []
    for _ in range(repeat):
        _, lean_inner, lean_n = timed_script(LEAN_HEAD + LEAN["mmc"] + LEAN_TAIL, str(n))
        lean_rate = lean_n / lean_inner
        _, inner, count = timed_script(PLAIN_LOOP, str(n))
        plain.append((count / inner) / lean_rate)
        if have_ciw:
            _, inner, count = timed_script(CIW, str(n_ciw))
            ciw_r.append((count / inner) / lean_rate)
    out["plain_python_loop"] = {"messages": n, "ratio": summary_stats(plain)}
    out["ciw"] = {"messages": n_ciw, "ratio": summary_stats(ciw_r)} if have_ciw else None
    return out


def bench_memory(sizes: list[int], folder: Path, summary: bool = True) -> dict[str, Any]:
    """Peak RSS of ``queuesim run`` (redis model) per message above a 1,000-message run, full and summary outputs."""
    out: dict[str, Any] = {}
    tiny = scenario_file(folder, "redis", 1000)
    for outputs in ("full", "summary") if summary else ("full",):
        _, base, _ = run_queuesim(tiny, folder / "mem-tiny", outputs)
        rows = []
        for n in sizes:
            path = scenario_file(folder, "redis", n)
            cpu, peak, produced = run_queuesim(path, folder / f"mem-{n}", outputs)
            rows.append({"messages": produced, "peak_mib": peak / 2**20, "base_mib": base / 2**20,
                         "bytes_per_message": (peak - base) / produced, "cpu_seconds": cpu})
            print(f"  memory {outputs:7s} {produced:>10,} messages: peak {peak / 2**20:7.1f} MiB, "
                  f"{(peak - base) / produced:6.1f} B/message", flush=True)
        out[outputs] = rows
    return out


def bench_sweeps(repeat: int, duration: str) -> dict[str, Any]:
    """Sweep speed-up on every core and Dask's cost per point (benchmarks/bench_sweep.py's grid and helpers)."""
    sys.path.insert(0, str(HERE))
    from queuesim import sweep
    from queuesim.experiment.executors import QuietProcessPool, SerialExecutor
    from queuesim.experiment.grid import make_points, sweep_axes

    import bench_sweep as bs

    cores = os.cpu_count() or 1
    sc = bs.scenario(duration)
    serial_t, pool_t, ceilings = [], [], []
    for _ in range(repeat):
        ceilings.append(bs.available_speedup(cores))
        t0 = time.perf_counter()
        sweep(sc, bs.POINTS, executor=SerialExecutor(), progress=False)
        serial_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with QuietProcessPool(cores) as ex:
            sweep(sc, bs.POINTS, executor=ex, progress=False)
        pool_t.append(time.perf_counter() - t0)
    out: dict[str, Any] = {
        "points": 100, "duration": duration, "cores": cores,
        "serial_seconds": summary_stats(serial_t), "pool_seconds": summary_stats(pool_t),
        "speedup": summary_stats([s / p for s, p in zip(serial_t, pool_t, strict=True)]),
        "cpu_loop_speedup": summary_stats(ceilings),
    }
    try:
        import distributed
    except ImportError:
        out["dask_ms_per_point"] = None
        return out
    from queuesim.experiment.dask import executor_for_client

    summary = sweep(sc, ["workers.fulfil.count=8"], executor=SerialExecutor(), progress=False).summaries[0]
    echo = [(point, summary) for _, point in make_points(sc, sweep_axes(sc, bs.POINTS))]
    cluster = distributed.LocalCluster(n_workers=cores, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        dask_ex = executor_for_client(client)
        pool_trip, dask_trip = [], []
        with QuietProcessPool(cores) as warm:
            bs.round_trip(warm, echo)
            bs.round_trip(dask_ex, echo)
            for _ in range(repeat):
                pool_trip.append(bs.round_trip(warm, echo) * 1000)
                dask_trip.append(bs.round_trip(dask_ex, echo) * 1000)
    finally:
        client.close()
        cluster.close()
    out["dask_ms_per_point"] = summary_stats([d - p for d, p in zip(dask_trip, pool_trip, strict=True)])
    out["pool_ms_per_point"] = summary_stats(pool_trip)
    return out


PLAN = ["plan", "scenarios/quickstart.yaml", "--load", "2x", "--slo", "latency.end_to_end.p99=100ms",
        "--slo", "rates.rejection=0.1%", "--no-progress", "-q"]
SWEEP = ["sweep", "scenarios/quickstart.yaml", "--vary", "workers.fulfil.count=8..16",
         "--vary", "producers.web.rate=400/s..1600/s:5", "--slo", "latency.end_to_end.p99=100ms",
         "--slo", "rates.rejection=0.1%", "--no-progress", "-q"]


def bench_answers(repeat: int, quick: bool) -> dict[str, Any]:
    """What users wait for: README's quickstart ``plan --load 2x`` and its 45-point sweep (wall seconds, every core).

    ``--quick`` shortens both to a 1-minute horizon (their answers then differ from README's).
    """
    extra = ["--set", "duration=1m", "--set", "warmup=10s"] if quick else []
    root = HERE.parent
    plan_t, sweep_t, answers = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            t0 = time.perf_counter()
            child([QUEUESIM, *PLAN, *extra, "--out", f"{tmp}/plan"], cwd=root)
            plan_t.append(time.perf_counter() - t0)
            plan = json.loads(Path(f"{tmp}/plan/plan.json").read_text())
            answers.append(plan["recommended"])
            t0 = time.perf_counter()
            child([QUEUESIM, *SWEEP, *extra, "--out", f"{tmp}/sweep"], cwd=root)
            sweep_t.append(time.perf_counter() - t0)
            points = int(json.loads(Path(f"{tmp}/sweep/sweep.json").read_text())["points"])
    return {"horizon": "1m" if quick else "scenario", "plan_seconds": summary_stats(plan_t), "recommended": answers,
            "replications": [e["replications"] for e in plan["evaluations"]],
            "sweep_seconds": summary_stats(sweep_t), "sweep_points": points}


# ---------------------------------------------------------------------------------------------
# The table.


def _r(s: dict[str, float] | None) -> str:
    if not s:
        return "—"
    return f"{s['median']:.2f}× ({s['min']:.2f}–{s['max']:.2f})"


def table(results: dict[str, Any]) -> str:
    lines = [
        f"queuesim benchmark — {results['meta']['date']}, {results['meta']['commit']}, {results['meta']['cores']} cores, "
        f"load {results['meta']['load_before']:.1f} → {results['meta']['load_after']:.1f}; "
        f"CPU time, median (min–max) of {results['meta']['repeat']} interleaved repetitions",
        "",
        "| model (messages) | hand-written SimPy | `queuesim run` (default outputs) | `--outputs summary` | engine only |",
        "|---|---|---|---|---|",
    ]
    for m, row in results["models"].items():
        lean = row["per_cpu_second"]["lean"]["median"]
        lines.append(f"| {m} ({row['messages']:,}) | {lean:,.0f} msg/CPU-s = 1 | {_r(row['ratio']['whole'])} | "
                     f"{_r(row['ratio']['summary'])} | {_r(row['ratio']['engine'])} |")
    ref = results.get("references") or {}
    if ref:
        lines.append(f"| reference: plain-Python event loop, M/M/4 ({ref['plain_python_loop']['messages']:,}) | 1 | | | "
                     f"{_r(ref['plain_python_loop']['ratio'])} |")
        if ref.get("ciw"):
            lines.append(f"| reference: Ciw, M/M/4 ({ref['ciw']['messages']:,}) | 1 | | | {_r(ref['ciw']['ratio'])} |")
        else:
            lines.append("| reference: Ciw | not installed (`pip install ciw`) | | | |")
    mem = results.get("memory") or {}
    if mem:
        lines += ["", "| peak memory, `queuesim run` (redis model) | messages | peak | per message above a 1,000-message run |",
                  "|---|---|---|---|"]
        for outputs, rows in mem.items():
            for row in rows:
                lines.append(f"| {outputs} outputs | {row['messages']:,} | {row['peak_mib']:,.0f} MiB | "
                             f"{row['bytes_per_message']:,.1f} B |")
    sw = results.get("sweeps")
    if sw:
        lines += ["", f"sweep of {sw['points']} points ({sw['duration']} each): serial {sw['serial_seconds']['median']:.1f} s, "
                  f"process pool {sw['pool_seconds']['median']:.1f} s on {sw['cores']} cores: speed-up {_r(sw['speedup'])} "
                  f"(a pure-Python CPU loop gets {_r(sw['cpu_loop_speedup'])} on this machine now)"]
        if sw.get("dask_ms_per_point"):
            d = sw["dask_ms_per_point"]
            lines.append(f"Dask adds {d['median']:.1f} ms per point ({d['min']:.1f}–{d['max']:.1f}) over the process pool "
                         f"({sw['pool_ms_per_point']['median']:.1f} ms per point for empty tasks)")
    ans = results.get("answers")
    if ans:
        lines += ["", f"README's quickstart `plan --load 2x` ({ans['horizon']} horizon): {_s(ans['plan_seconds'])} wall, "
                  f"recommends {' / '.join(sorted({_rec(r) for r in ans['recommended']}))} (replications per evaluation {ans['replications']}); "
                  f"its {ans['sweep_points']}-point sweep: {_s(ans['sweep_seconds'])} wall"]
    return "\n".join(lines)


def _rec(recommended: dict[str, Any] | None) -> str:
    return "nothing" if not recommended else ", ".join(f"{k} = {v}" for k, v in recommended.items())


def _s(s: dict[str, float]) -> str:
    return f"{s['median']:.1f} s ({s['min']:.1f}–{s['max']:.1f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2·10^5 messages, memory at 10^5 and 10^6, a short sweep: a few minutes")
    ap.add_argument("--messages", type=int, default=None, help="requests per model run (default 10^6; --quick 2·10^5)")
    ap.add_argument("--sizes", default=None, help="message counts of the memory rows, comma-separated "
                    "(default 10^5,10^6,10^7; --quick 10^5,10^6)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="redis,bounded,tandem,sqs", help="models, comma-separated")
    ap.add_argument("--skip", default="", help="sections to skip: references,memory,sweeps,answers, and summary (the --outputs summary runs: "
                    "to measure a tree from before they existed, e.g. PYTHONPATH=<main checkout>)")
    ap.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = ap.parse_args()
    n = args.messages or (200_000 if args.quick else 1_000_000)
    sizes = [100_000, 1_000_000] if args.quick else [100_000, 1_000_000, 10_000_000]
    if args.sizes:
        sizes = [int(float(v)) for v in args.sizes.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    commit = subprocess.run(["git", "-C", str(HERE.parent), "describe", "--always", "--dirty"], capture_output=True,
                            text=True).stdout.strip()
    import simpy

    results: dict[str, Any] = {"meta": {
        "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "commit": commit, "quick": args.quick,
        "repeat": args.repeat, "cores": os.cpu_count(), "python": platform.python_version(), "simpy": simpy.__version__,
        "load_before": os.getloadavg()[0],
    }}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"models at {n:,} messages, {args.repeat} interleaved repetitions", flush=True)
        results["models"] = bench_models(args.only.split(","), n, args.repeat, folder, "summary" not in skip)
        if "references" not in skip:
            results["references"] = bench_references(n, args.repeat)
        if "memory" not in skip:
            results["memory"] = bench_memory(sizes, folder, "summary" not in skip)
        if "sweeps" not in skip:
            print("sweeps", flush=True)
            results["sweeps"] = bench_sweeps(args.repeat, "10s" if args.quick else "40s")
        if "answers" not in skip:
            print("plan and sweep", flush=True)
            results["answers"] = bench_answers(1 if not args.quick else args.repeat, args.quick)
    results["meta"]["load_after"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.exists():
        args.out.replace(args.out.with_name("previous.json"))
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(results))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
