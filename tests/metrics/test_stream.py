"""Streamed statistics (``outputs: summary``) against the full path on the same run, and what streaming keeps."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from queuesim import load_scenario, parse_scenario
from queuesim.experiment.execute import execute
from queuesim.experiment.executors import QuietProcessPool, SerialExecutor
from queuesim.figures import PERCENTILES, latency_parts, quantile
from queuesim.metrics.sketch import ALPHA
from queuesim.metrics.stats import BATCHES, quantile_sections, t975
from queuesim.metrics.stream import StreamLayout, StreamSink, stream_timeseries, summarize_streams
from queuesim.metrics.summary import summarize
from queuesim.metrics.timeseries import timeseries_columns
from queuesim.sim import simulate
from queuesim.sim.recorder import FoldError
from queuesim.sim.redelivery import AtLeastOnce

ROOT = Path(__file__).resolve().parents[2]

# the face-off's faults, brought forward to fit a short run
FAULTS = "faults=[{at: 30s, queue: orders, kind: restart, downtime: 10s}, {at: 60s, queue: orders, kind: outage, duration: 10s}]"
# every broker kind, faults, client behaviour and pipelines, on short horizons
CASES = {
    "quickstart": ("quickstart.yaml", ["duration=40s", "warmup=5s"]),
    "backpressure-pipeline": ("orders-backpressure.yaml", ["duration=60s", "warmup=10s", "replications=2"]),
    "sqs-visibility-dlq": ("sqs-visibility.yaml", ["duration=60s"]),
    "retry-storm": ("retry-storm.yaml", ["duration=60s"]),
    "await-result": ("sync-vs-async.yaml", ["duration=40s"]),
    "sync": ("sync-vs-async.yaml", ["duration=40s", "producers.web.sync=true", "queues.jobs.capacity=32"]),
    "redis-list-restart": ("broker-faceoff.yaml", ["duration=90s", "replications=1", FAULTS]),
    "redis-stream": ("broker-faceoff.yaml", ["duration=90s", "replications=1", FAULTS,
                                             "queues.orders={broker: redis, mode: stream, min_idle: 30s, max_deliveries: 5}"]),
    "redis-reliable-rdb": ("broker-faceoff.yaml", ["duration=90s", "replications=1", FAULTS,
                                                   "queues.orders={broker: redis, mode: reliable, persistence: rdb}"]),
    "sqs-duplicates": ("broker-faceoff.yaml", ["duration=90s", "replications=1", FAULTS,
                                               "queues.orders={broker: sqs, visibility_timeout: 30s, max_receives: 5, "
                                               "duplicate_probability: 0.01}"]),
    "sqs-fifo": ("broker-faceoff.yaml", ["duration=90s", "replications=1", FAULTS,
                                         "queues.orders={broker: sqs, kind: fifo, groups: 100, tps: 3000/s}"]),
    "rabbitmq-prefetch": ("broker-faceoff.yaml", ["duration=90s", "replications=1", FAULTS,
                                                  "queues.orders={broker: rabbitmq, prefetch: 10, delivery_limit: 5}"]),
    "pubsub": ("broker-faceoff.yaml", ["duration=90s", "replications=1", FAULTS, "queues.orders={broker: redis, mode: pubsub}"]),
    # main's client resilience and worker realism: expiry, reneging, overhead, crashes and mtbf, redeliveries
    "ttl-patience": ("quickstart.yaml", ["duration=30s", "warmup=3s", "workers.fulfil.count=7",
                                          "queues.orders={broker: redis, capacity: 500, ttl: 20ms}",
                                          "producers.web.patience=30ms"]),
    "patience": ("quickstart.yaml", ["duration=30s", "warmup=3s", "workers.fulfil.count=7", "producers.web.patience=20ms"]),
    # client resilience: retry budgets, a circuit breaker, hedging, deadlines, a closed population, a gate
    "budget": ("resilience.yaml", ["duration=50s", "producers.clients.retry.budget={kind: token_bucket}"]),
    "ratio-budget": ("resilience.yaml", ["duration=50s", "producers.clients.retry.budget={kind: ratio}"]),
    "breaker": ("resilience.yaml", ["duration=50s", "producers.clients.breaker={failure_rate: 50%, window: 100, open_for: 5s}"]),
    "hedge-deadline": ("resilience.yaml", ["duration=50s", "producers.clients.retry={attempts: 1}",
                                           "producers.clients.hedge={after: 30ms}", "workers.pool.drop_expired=true"]),
    "closed-users": ("quickstart.yaml", ["duration=20s", "warmup=2s", "producers.web.rate=null", "producers.web.users=40",
                                         "producers.web.think={dist: exponential, mean: 40ms}"]),
    "max-in-flight": ("quickstart.yaml", ["duration=20s", "warmup=2s", "producers.web.max_in_flight=20"]),
    "ttl-dead-letter": ("quickstart.yaml", ["duration=30s", "warmup=3s", "workers.fulfil.count=7",
                                             "queues.orders={broker: sqs, ttl: 30ms, ttl_dead_letter: true}"]),
    "overhead-crashes-mtbf": ("quickstart.yaml", ["duration=40s", "warmup=5s", "workers.fulfil.count=10",
                                                   "queues.orders={broker: sqs, visibility_timeout: 100ms}",
                                                   "workers.fulfil.overhead=1ms", "workers.fulfil.mtbf=5s",
                                                   "workers.fulfil.crash={probability: 0.01, restart: 100ms}",
                                                   "workers.fulfil.failure={probability: 0.03}"]),
}


def _both(case: str) -> tuple[Any, Any, Any, Any]:
    file, overrides = CASES[case]
    sc = load_scenario(ROOT / "scenarios" / file, overrides)
    records, streams = [], []
    for r in range(sc.replications):
        records.append(simulate(sc, r))
        sink = StreamSink(StreamLayout.of(sc))
        streams.append(sink.result(simulate(sc, r, sink=sink).extra))
    return summarize(records), summarize_streams(streams), timeseries_columns(records), stream_timeseries(streams)


def _not_streamed(path: str, streamed: Any) -> bool:
    """Whether a ci95 path is one the streamed summary leaves out: a maximum, or a queue's or pool's from batches."""
    parts = latency_parts(path)
    if parts is not None:
        return quantile(parts[1]) is None and parts[1] != "mean"
    one_run = not any(k.startswith(("queues.", "workers.")) for k in streamed)
    return one_run and path.startswith(("queues.", "workers."))


def _percentile_interval_gap(full: Any, streamed: Any, key: str, summary: Any) -> list[str]:
    """A streamed percentile interval against the full one: the same sections, each section's percentile within ALPHA.

    The centre (the pooled percentile) moves by at most ALPHA on the log scale; the half-width is t
    times the weighted spread of the sections' log percentiles over sqrt(S - 1), and moving each of
    them by at most ALPHA moves that spread by at most ALPHA, so the half-width by at most
    t * ALPHA / sqrt(S - 1). Doubled: the sketch's rank and numpy's interpolation may pick neighbouring samples.
    """
    if full is None or streamed is None:
        return [] if full is streamed else [f"ci95.{key}: {full} != {streamed}"]
    kind, stat = latency_parts(key)  # type: ignore[misc]
    q = quantile(stat)
    assert q is not None
    sections = quantile_sections(int(summary["latency"][kind]["count"]), q, BATCHES * int(summary["replications"]))
    bound = 2 * ALPHA * (1 + (t975(sections - 1) / math.sqrt(sections - 1) if sections >= 2 else 0.0))
    for a, b in zip(full, streamed, strict=True):
        if a == b or (a > 0 and b > 0 and abs(math.log(b / a)) <= bound):
            continue
        return [f"ci95.{key}: {full} vs {streamed} (bound {bound:.4f} on the log scale)"]
    return []


def _compare(full: Any, streamed: Any, path: str = "", summary: Any = None) -> list[str]:
    """Differences beyond the stated bounds: keys and counts exact, percentiles within ALPHA, the rest to rounding."""
    summary = full if summary is None else summary
    if isinstance(full, dict) and path == ".ci95":
        # the stream has no interval for a maximum, nor, from one run's batches, for the queue and
        # pool figures: those keys are absent; a percentile's is sectioned from the batch sketches
        kept = [k for k in full if k in streamed]
        missing = [k for k in full if k not in streamed]
        if kept != list(streamed) or not all(_not_streamed(k, streamed) for k in missing):
            return [f"{path}: keys {list(full)} != {list(streamed)}"]
        gaps = [d for k in kept if latency_parts(k) is not None and quantile(latency_parts(k)[1]) is not None  # type: ignore[index]
                for d in _percentile_interval_gap(full[k], streamed[k], k, summary)]
        rest = [k for k in kept if latency_parts(k) is None or quantile(latency_parts(k)[1]) is None]  # type: ignore[index]
        return gaps + _compare({k: full[k] for k in rest}, {k: streamed[k] for k in rest}, path + "*", summary)
    if isinstance(full, dict):
        if list(full) != list(streamed):
            return [f"{path}: keys {list(full)} != {list(streamed)}"]
        return [d for k in full for d in _compare(full[k], streamed[k], f"{path}.{k}", summary)]
    if isinstance(full, list):
        if len(full) != len(streamed):
            return [f"{path}: {full} != {streamed}"]
        return [d for i, (a, b) in enumerate(zip(full, streamed, strict=True)) for d in _compare(a, b, f"{path}[{i}]", summary)]
    if full is None or streamed is None or isinstance(full, str | bool) or type(full) is int:
        return [] if full == streamed and type(full) is type(streamed) else [f"{path}: {full!r} != {streamed!r}"]
    tol = ALPHA if path.rsplit(".", 1)[-1] in PERCENTILES else 1e-9
    return [] if math.isclose(full, streamed, rel_tol=tol, abs_tol=1e-12) else [f"{path}: {full} vs {streamed}"]


@pytest.mark.parametrize("case", list(CASES))
def test_the_streamed_summary_is_the_full_one_within_the_sketch_error(case: str) -> None:
    full, streamed, ts_full, ts_streamed = _both(case)
    assert full["messages"]["produced"] > 0
    assert _compare(full, streamed) == []
    assert list(ts_full) == list(ts_streamed)
    for name, column in ts_full.items():
        np.testing.assert_allclose(np.asarray(ts_streamed[name], dtype=float), column.astype(float), rtol=1e-7,
                                   atol=1e-7, err_msg=name)


def test_percentiles_really_come_from_the_sketch() -> None:
    """The comparison above is not trivially exact: streamed percentiles differ from the full ones, within the bound."""
    full, streamed, _, _ = _both("quickstart")
    p99 = full["latency"]["end_to_end"]["p99"], streamed["latency"]["end_to_end"]["p99"]
    assert p99[0] != p99[1] and abs(p99[1] - p99[0]) <= ALPHA * p99[0]


def test_a_reference_the_liveness_rule_misses_stops_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """If at-least-once brokers did not report their hidden copies, a redelivered message would name folded rows."""
    monkeypatch.setattr(AtLeastOnce, "held", lambda self: [])
    sc = parse_scenario(textwrap.dedent("""\
        duration: 600s
        producers: {web: {to: q, rate: 200/s}}
        queues: {q: {broker: sqs, visibility_timeout: 1s, duplicate_probability: 0.2}}
        workers: {w: {from: q, count: 4, service: {dist: exponential, mean: 4ms}}}
        """))
    with pytest.raises(FoldError, match="already folded"):
        simulate(sc, 0, sink=StreamSink(StreamLayout.of(sc)))


def test_streamed_runs_are_identical_serially_and_on_a_process_pool() -> None:
    sc = load_scenario(ROOT / "scenarios" / "quickstart.yaml", ["duration=20s", "warmup=2s", "replications=3"])
    serial = execute(sc, executor=SerialExecutor(), outputs="summary", with_timeseries=True)
    with QuietProcessPool(2) as pool:
        pooled = execute(sc, executor=pool, outputs="summary", with_timeseries=True)
    assert json.dumps(serial.summary) == json.dumps(pooled.summary)
    assert serial.series is not None and pooled.series is not None
    assert all(np.array_equal(serial.series[k], pooled.series[k]) for k in serial.series)


PEAK = """\
import resource, sys
from queuesim import parse_scenario
from queuesim.experiment.execute import execute
sc = parse_scenario('''
seed: 1
duration: {duration}
producers: {{web: {{to: jobs, rate: 3600/s}}}}
queues: {{jobs: {{broker: redis}}}}
workers: {{pool: {{from: jobs, count: 4, service: {{dist: exponential, mean: 1ms}}}}}}
''')
done = execute(sc, outputs="summary")
print(done.summary["messages"]["produced"], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak(seconds: float) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", PEAK.format(duration=seconds)], capture_output=True, text=True,
                         check=True, timeout=600)
    produced, kib = out.stdout.split()
    return int(produced), int(kib) * 1024


def test_a_streamed_run_does_not_grow_with_its_length() -> None:
    short, long = _peak(2e5 / 3600), _peak(1e6 / 3600)
    assert short[0] > 1.9e5 and long[0] > 9.9e5
    # 800,000 more messages: the full path would add about 300 MB; streaming only noise (a few MB)
    assert long[1] - short[1] < 16 * 2**20, (short, long)
