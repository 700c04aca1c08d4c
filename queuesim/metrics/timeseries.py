"""Time series of a run (``timeseries.csv``): per time bucket, averaged over replications.

Columns: ``time`` (bucket start, s), ``depth.<queue>`` (time-average waiting messages),
``in_service.<pool>`` (time-average busy workers), and per-bucket counts ``produced``,
``accepted``, ``rejected`` (503s), ``gave_up``, ``completed``, ``lost``, ``dead_lettered``,
plus ``throughput`` (completed per second). ``warmup`` marks buckets before the warmup ends.
Client side: ``offered`` (producers' publish attempts, retries included: above ``produced`` in a
retry storm), ``throttled`` (refused by a producer's rate limit), ``abandoned`` (clients that
stopped waiting at their timeout, or reneged). Then ``expired`` (requests settled as older than a
queue's ``ttl``) and ``reneged`` (requests that left a queue when their client's patience ran out). ``duplicates``: processings beyond a message's first, by the
time they finished (a message processed twice because its visibility timeout expired).
Last, ``short_circuited`` (refused by a producer's open circuit breaker).
Elastic pools (a schedule, an autoscaler, a deploy) add, last, ``workers.<pool>`` (time-average
provisioned workers) and ``end_to_end.p99`` (of the requests completed in the bucket; averaged over
replications where they have one); a run without one has neither.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from queuesim.metrics.capacity import count_series, elastic_pools
from queuesim.metrics.derive import Derived
from queuesim.records import Outcome, RunRecord

TARGET_BUCKETS = 200
_CLIENT = ("offered", "throttled", "abandoned")  # appended after the original columns
_LATER = ("expired", "reneged", "duplicates", "short_circuited")  # and these after those, so every earlier column keeps its place


def bucket_width(duration: float, target: int = TARGET_BUCKETS) -> float:
    """A round bucket width (1, 2 or 5 × 10^k seconds) giving about ``target`` buckets."""
    raw = duration / target
    exp = math.floor(math.log10(raw))
    for step in (1, 2, 5, 10):
        width = step * 10.0**exp
        if width >= raw:
            return width
    return 10.0 ** (exp + 1)


def time_average(start: np.ndarray, end: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Time-average number of open intervals [start, end) over each bucket given by ``edges``."""
    hi = edges[-1]
    end = np.where(np.isnan(end), hi, end)
    # integral of the count from 0 to t = sum over intervals of their length clipped to [0, t]
    s, e = np.sort(start), np.sort(end)
    cs, ce = np.concatenate([[0.0], np.cumsum(s)]), np.concatenate([[0.0], np.cumsum(e)])
    ks = np.searchsorted(s, edges, side="right")
    ke = np.searchsorted(e, edges, side="right")
    integral = (ks * edges - cs[ks]) - (ke * edges - ce[ke])
    return np.asarray(np.diff(integral) / np.diff(edges), dtype=np.float64)


def _counts(times: np.ndarray, edges: np.ndarray) -> np.ndarray:
    times = times[~np.isnan(times)]
    return np.histogram(times, bins=edges)[0].astype(float)


def _one(d: Derived, edges: np.ndarray) -> dict[str, np.ndarray]:
    rec = d.rec
    req, msg, dl = rec.requests, rec.messages, rec.deliveries
    cols: dict[str, np.ndarray] = {}
    for qi, q in enumerate(rec.queues):
        spell = d.delivery_queue == qi
        cols[f"depth.{q}"] = time_average(dl["since"][spell], dl["until"][spell], edges)
    for pi, p in enumerate(rec.pools):
        cols[f"in_service.{p}"] = time_average(*d.busy_of(pi), edges)
    root = msg["stage"] == 0
    cols["produced"] = _counts(req["created"], edges)
    cols["accepted"] = _counts(msg["accepted"][root], edges)
    cols["rejected"] = _counts(rec.rejections["time"], edges)
    for name, code in (("gave_up", Outcome.GAVE_UP), ("completed", Outcome.COMPLETED),
                       ("lost", Outcome.LOST), ("dead_lettered", Outcome.DEAD_LETTERED),
                       ("expired", Outcome.EXPIRED), ("reneged", Outcome.RENEGED)):  # the last two: see _LATER
        cols[name] = _counts(req["done"][req["outcome"] == code], edges)
    rejected_root = msg["stage"][rec.rejections["message"]] == 0
    cols["offered"] = cols["accepted"] + _counts(rec.rejections["time"][rejected_root], edges)
    for name in ("throttled", "abandoned"):
        cols[name] = _counts(req[name], edges) if name in req else np.zeros(len(edges) - 1)
    cols["duplicates"] = _counts(_duplicate_times(d), edges)
    cols["short_circuited"] = _counts(req["done"][req["outcome"] == Outcome.SHORT_CIRCUITED], edges)
    elastic = elastic_pools(rec)
    for p in elastic:  # only when some pool's count changes: every other run's columns stay as they were
        cols[f"workers.{p}"] = count_series(rec, p, edges)
    if elastic:
        cols["end_to_end.p99"] = _p99_by_bucket(req, edges)
    return cols


def _p99_by_bucket(req: dict[str, np.ndarray], edges: np.ndarray) -> np.ndarray:
    """99th percentile of end-to-end latency of the requests completed in each bucket (NaN where none did)."""
    done = req["outcome"] == Outcome.COMPLETED
    finished, latency = req["done"][done], req["done"][done] - req["created"][done]
    which = np.searchsorted(edges, finished, side="right") - 1
    out = np.full(len(edges) - 1, np.nan)
    order = np.argsort(which, kind="stable")
    which, latency = which[order], latency[order]
    bounds = np.searchsorted(which, np.arange(len(edges)))
    for i in range(len(edges) - 1):
        chunk = latency[bounds[i]:bounds[i + 1]]
        if chunk.size:
            out[i] = float(np.quantile(chunk, 0.99))
    return out


def _duplicate_times(d: Derived) -> np.ndarray:
    """When each processing beyond its message's first finished (the summary's ``duplicates``, in time)."""
    rows = np.flatnonzero(d.processed)
    finished = d.rec.deliveries["finished"][rows]
    order = np.argsort(finished, kind="stable")
    rows, finished = rows[order], finished[order]
    _, first = np.unique(d.rec.deliveries["message"][rows], return_index=True)
    later = np.ones(rows.size, dtype=bool)
    later[first] = False  # the earliest finished processing of each message is not a duplicate
    return finished[later]


def timeseries(records: Sequence[RunRecord], width: float | None = None) -> pd.DataFrame:
    """Bucketed time series over [0, duration], averaged over replications."""
    duration, warmup = records[0].duration, records[0].warmup
    width = width or bucket_width(duration)
    edges = np.arange(0.0, duration + width * 0.5, width)
    if edges[-1] < duration:
        edges = np.append(edges, duration)
    edges[-1] = duration
    parts = [_one(Derived(r), edges) for r in records]
    with warnings.catch_warnings():  # a bucket where no replication completed a request: its p99 stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        cols = {k: (np.nanmean if k == "end_to_end.p99" else np.mean)([p[k] for p in parts], axis=0) for k in parts[0]}
    df = pd.DataFrame({"time": edges[:-1], **cols})
    df["throughput"] = df["completed"] / np.diff(edges)
    df["warmup"] = edges[1:] <= warmup
    elastic = [c for c in map(str, df.columns) if c.startswith("workers.") or c == "end_to_end.p99"]  # elastic pools' columns, after all
    first = [c for c in df if c not in _CLIENT + _LATER and c not in elastic]
    return df[first + list(_CLIENT) + list(_LATER) + elastic]  # client columns last
