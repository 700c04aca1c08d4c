"""Benchmark: the empirical coverage of summary.json's nominal 95% intervals on M/M/c, against Erlang C.

For each seed, one experiment (a single run, or several replications) of an M/M/c queue is
simulated and summarized exactly as ``queuesim run`` does; its ``ci95`` intervals of the mean
queue wait and of the wait's p99 (the two the slow test asserts), and of the wait's p50 and p90,
the end-to-end mean and p99, the queue's mean depth and mean wait, the pool's utilization and the
throughput, either contain the closed-form value or not. Coverage is the
fraction of seeds whose interval does, with its binomial standard error sqrt(p(1 − p)/n). A
missing interval (too few samples beyond a percentile for one) counts as not covering.

The default case is the issue's: M/M/4 at ρ = 0.8 (320/s of exponential 10 ms jobs), where the
queue's relaxation time is about 70 arrivals and a short run holds few independent busy periods.
``tests/metrics/test_coverage.py`` runs a sized-down table from :func:`measure` and asserts it.

Usage: python benchmarks/bench_coverage.py [--seeds 400] [--case 10s:1 --case 30s:1 --case 10s:5 ...]
"""

from __future__ import annotations

import argparse
import math
import textwrap
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from statistics import NormalDist

from queuesim import parse_scenario, theory
from queuesim.figures import summary_value
from queuesim.metrics import summarize
from queuesim.scenario import Scenario, parse_duration
from queuesim.sim import simulate

#: The M/M/c case: arrivals per second, service rate per worker, workers.
RATE, MU, SERVERS = 320.0, 100.0, 4


def _sojourn_quantile(q: float) -> float:
    """The q-quantile of the M/M/c sojourn time, by bisection of :func:`queuesim.theory.mmc_sojourn_cdf`."""
    low, high = 0.0, 10.0
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if theory.mmc_sojourn_cdf(RATE, MU, SERVERS, mid) < q else (low, mid)
    return (low + high) / 2


_MMC = theory.mmc(RATE, MU, SERVERS)
#: The two figures the issue names and the coverage test asserts: the mean wait and the wait's p99.
ASSERTED = ("latency.queue_wait.mean", "latency.queue_wait.p99")
#: Every figure checked, by summary path, and its closed form (Erlang C; Little's law for the depth).
FIGURES = {
    "latency.queue_wait.mean": _MMC.wait,
    "latency.queue_wait.p99": theory.mmc_wait_quantile(RATE, MU, SERVERS, 0.99),
    "latency.queue_wait.p50": theory.mmc_wait_quantile(RATE, MU, SERVERS, 0.50),
    "latency.queue_wait.p90": theory.mmc_wait_quantile(RATE, MU, SERVERS, 0.90),
    "latency.end_to_end.mean": _MMC.sojourn,
    "latency.end_to_end.p99": _sojourn_quantile(0.99),
    "queues.jobs.mean_wait": _MMC.wait,
    "queues.jobs.mean_depth": _MMC.queue_length,
    "workers.pool.utilization": _MMC.utilization,
    "rates.throughput": RATE,
}


def scenario(duration: float, warmup: float, seed: int) -> Scenario:
    """M/M/c with the given window and seed."""
    return parse_scenario(textwrap.dedent(f"""\
        name: coverage
        seed: {seed}
        duration: {duration}
        warmup: {warmup}
        producers:
          web: {{to: jobs, rate: {RATE}}}
        queues:
          jobs: {{broker: redis}}
        workers:
          pool: {{from: jobs, count: {SERVERS}, service: {{dist: exponential, mean: {1 / MU}}}}}
        """))


def _one(args: tuple[float, float, int, int]) -> dict[str, tuple[bool, bool, float]]:
    """(covered, has an interval, relative half-width) of each figure in one seed's experiment."""
    duration, warmup, replications, seed = args
    sc = scenario(duration, warmup, seed)
    summary = summarize([simulate(sc, r, seed) for r in range(replications)])
    out = {}
    for path, truth in FIGURES.items():
        ci = summary["ci95"].get(path)
        value = summary_value(summary, path)
        if ci is None or value is None:
            out[path] = (False, False, math.inf)
        else:
            out[path] = (ci[0] <= truth <= ci[1], True, (ci[1] - ci[0]) / 2 / value)
    return out


@dataclass(frozen=True)
class Row:
    """The coverage of one case: a run length and a number of replications, over ``seeds`` seeds."""

    method: str
    duration: float
    warmup: float
    replications: int
    seeds: int
    covered: dict[str, int]
    bounded: dict[str, int]
    half_width: dict[str, float]  # median relative half-width of the intervals that exist

    def coverage(self, path: str) -> float:
        """Fraction of seeds whose interval contains the closed-form value."""
        return self.covered[path] / self.seeds

    def error(self, path: str) -> float:
        """Binomial standard error of :meth:`coverage`."""
        p = self.coverage(path)
        return math.sqrt(max(p * (1 - p), 0.05 * 0.95) / self.seeds)


def measure(duration: float, warmup: float, replications: int, seeds: int, workers: int = 2,
            first_seed: int = 1) -> Row:
    """Coverage of the nominal 95% intervals over ``seeds`` independent experiments.

    Parameters
    ----------
    duration, warmup : float
        Seconds, per replication.
    replications : int
        1 for the single-run method (batch means), more for the replication method.
    seeds : int
        Independent experiments (seed ``first_seed`` onwards).
    workers : int, default 2
        Processes.
    """
    jobs = [(duration, warmup, replications, seed) for seed in range(first_seed, first_seed + seeds)]
    with ProcessPoolExecutor(workers) as pool:
        results = list(pool.map(_one, jobs, chunksize=4))
    covered = {p: sum(r[p][0] for r in results) for p in FIGURES}
    bounded = {p: sum(r[p][1] for r in results) for p in FIGURES}
    widths = {p: sorted(r[p][2] for r in results if r[p][1]) for p in FIGURES}
    median = {p: (w[len(w) // 2] if w else math.inf) for p, w in widths.items()}
    method = "replications" if replications > 1 else "batch_means"
    return Row(method, duration, warmup, replications, seeds, covered, bounded, median)


def table(rows: Sequence[Row], paths: Sequence[str] = ASSERTED) -> str:
    """The coverage table as Markdown: a row per case and figure."""
    lines = ["| method | run length (warm-up) | replications | seeds | figure | true value "
             "| coverage ± SE | median half-width | intervals |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for path in paths:
            truth = FIGURES[path]
            shown = f"{truth * 1e3:.3f} ms" if path.startswith(("latency.", "queues.jobs.mean_wait")) else f"{truth:.4g}"
            lines.append(
                f"| {r.method} | {r.duration:g} s ({r.warmup:g} s) | {r.replications} | {r.seeds} | `{path}` | {shown} "
                f"| {r.coverage(path):.1%} ± {r.error(path):.1%} | ±{r.half_width[path]:.0%} "
                f"| {r.bounded[path]}/{r.seeds} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=400)
    parser.add_argument("--warmup", default="2s")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--case", action="append", metavar="DURATION:REPLICATIONS",
                        help="a run length and a number of replications (repeatable); default 10s:1 30s:1 120s:1 10s:5 30s:5")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a figure covers less than its floor: 92%% for the wait's mean and p99 (the "
                             "issue's), and for every figure the binomial floor at which a 95%% interval fails one "
                             "check of the family with at most 1%% chance (make soak)")
    args = parser.parse_args()
    cases = args.case or ["10s:1", "30s:1", "120s:1", "10s:5", "30s:5"]
    warmup = parse_duration(args.warmup)
    print(f"M/M/{SERVERS} at rho = {RATE / (SERVERS * MU):.2f}: mean wait {FIGURES['latency.queue_wait.mean'] * 1e3:.3f} ms, "
          f"p99 wait {FIGURES['latency.queue_wait.p99'] * 1e3:.2f} ms (Erlang C)")
    rows = []
    for case in cases:
        length, _, reps = case.partition(":")
        start = time.perf_counter()
        rows.append(measure(parse_duration(length), warmup, int(reps or 1), args.seeds, args.workers))
        print(f"  {case}: {time.perf_counter() - start:.0f} s", flush=True)
    print(table(rows, list(FIGURES)))
    if args.check:
        z = NormalDist().inv_cdf(1 - 0.01 / (len(FIGURES) * len(rows)))
        floor = 0.95 - z * math.sqrt(0.95 * 0.05 / args.seeds)
        short = [f"{r.replications} × {r.duration:g} s {path}: {r.coverage(path):.1%} < {need:.1%}"
                 for r in rows for path in FIGURES
                 for need in [max(0.92, floor) if path in ASSERTED else floor] if r.coverage(path) < need]
        print("\n".join(short) if short else f"every figure covers at or above its floor ({floor:.1%}; 92% for "
                                                 f"{', '.join(ASSERTED)})")
        raise SystemExit(1 if short else 0)


if __name__ == "__main__":
    main()
