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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from queuesim.metrics.capacity import count_series, elastic_pools
from queuesim.metrics.derive import Derived
from queuesim.records import Outcome, RunRecord

if TYPE_CHECKING:
    import pandas as pd

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


def _bucket(times: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bucket of each time as :func:`numpy.histogram` bins it (the last bucket holds its right edge); -1 outside or NaN."""
    at = np.searchsorted(edges, times, side="right") - 1
    last = edges.size - 2
    at[times == edges[-1]] = last
    at[(at < 0) | (at > last) | np.isnan(times)] = -1
    return at


def bucket_counts(times: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``numpy.histogram(times, edges)`` counts without its sort: a binary search per time into the edges."""
    at = _bucket(times, edges)
    return np.bincount(at[at >= 0], minlength=edges.size - 1).astype(np.int64)


def bucket_counts_by(times: np.ndarray, labels: np.ndarray, n: int, edges: np.ndarray) -> np.ndarray:
    """Row ``k`` is ``bucket_counts(times[labels == k], edges)``, for labels ``0 … n−1``: one search for every label."""
    at = _bucket(times, edges)
    nb = edges.size - 1
    label = labels.astype(np.int64)
    keep = (at >= 0) & (label >= 0) & (label < n)
    return np.bincount(label[keep] * nb + at[keep], minlength=n * nb).astype(np.int64).reshape(n, nb)


def bucket_coverage(start: np.ndarray, end: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per bucket, the total length of the intervals [start, end) inside it (NaN ends run to the last edge).

    Linear: each interval adds its partial first and last buckets, and one bucket width to every
    bucket between them through a difference array (no sort).
    """
    nb = edges.size - 1
    out = np.zeros(nb)
    if start.size == 0:
        return out
    lo, hi = edges[0], edges[-1]
    s = np.clip(start, lo, hi)
    e = np.clip(np.where(np.isnan(end), hi, end), lo, hi)
    keep = e > s
    s, e = s[keep], e[keep]
    i = np.minimum(np.searchsorted(edges, s, side="right") - 1, nb - 1)
    j = np.minimum(np.searchsorted(edges, e, side="right") - 1, nb - 1)
    same = i == j
    out += np.bincount(i[same], weights=e[same] - s[same], minlength=nb)
    apart = ~same
    i, j, s, e = i[apart], j[apart], s[apart], e[apart]
    out += np.bincount(i, weights=edges[i + 1] - s, minlength=nb)
    out += np.bincount(j, weights=e - edges[j], minlength=nb)
    full = np.cumsum(np.bincount(i + 1, minlength=nb + 1) - np.bincount(j, minlength=nb + 1))[:nb]
    out += full * np.diff(edges)
    return out


def time_average(start: np.ndarray, end: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Time-average number of open intervals [start, end) over each bucket given by ``edges``.

    Kept as main computes it (sorted starts and ends, prefix sums) rather than by
    :func:`bucket_coverage`, which is linear but rounds differently in the last digits: the full
    time series stays bit-identical to the one before streaming (``bucket_coverage`` serves the
    streamed series, equal to this within rounding).
    """
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
    counts: np.ndarray = bucket_counts(times, edges).astype(float)
    return counts


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


def bucket_edges(duration: float, width: float | None = None) -> np.ndarray:
    """Edges of the time-series buckets over [0, duration]: round widths, the last bucket cut at ``duration``."""
    width = width or bucket_width(duration)
    edges = np.arange(0.0, duration + width * 0.5, width)
    if edges[-1] < duration:
        edges = np.append(edges, duration)
    edges[-1] = duration
    return edges


def timeseries_columns(records: Sequence[RunRecord], width: float | None = None) -> dict[str, np.ndarray]:
    """The columns of :func:`timeseries`, in its order, without building a DataFrame."""
    duration, warmup = records[0].duration, records[0].warmup
    edges = bucket_edges(duration, width)
    parts = [_one(Derived(r), edges) for r in records]
    with warnings.catch_warnings():  # a bucket where no replication completed a request: its p99 stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        cols = {k: (np.nanmean if k == "end_to_end.p99" else np.mean)([p[k] for p in parts], axis=0) for k in parts[0]}
    elastic = [c for c in cols if c.startswith("workers.") or c == "end_to_end.p99"]  # elastic pools' columns, after all
    out = {"time": edges[:-1], **{k: v for k, v in cols.items() if k not in _CLIENT + _LATER and k not in elastic}}
    out["throughput"] = cols["completed"] / np.diff(edges)
    out["warmup"] = edges[1:] <= warmup
    out.update({k: cols[k] for k in (*_CLIENT, *_LATER, *elastic)})  # client columns last, then the later ones, then elastic
    return out


def timeseries(records: Sequence[RunRecord], width: float | None = None) -> pd.DataFrame:
    """Bucketed time series over [0, duration], averaged over replications."""
    import pandas as pd

    return pd.DataFrame(timeseries_columns(records, width))


def _cell(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    number = float(value)  # type: ignore[arg-type]
    return "" if math.isnan(number) else "%.6g" % number  # noqa: UP031 (the C format pandas applies)


def write_csv(path: Path, columns: Mapping[str, np.ndarray]) -> Path:
    """Write columns as ``timeseries.csv``: a header, floats as ``%.6g``, booleans as True/False, NaN empty.

    The same text as ``DataFrame.to_csv(index=False, float_format="%.6g")``, without pandas.
    """
    names = list(columns)
    rows = zip(*(columns[n].tolist() for n in names), strict=True)
    text = ",".join(names) + "\n" + "".join(",".join(map(_cell, row)) + "\n" for row in rows)
    path.write_text(text)
    return path
