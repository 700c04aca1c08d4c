"""Per-row tables as pandas DataFrames: requests, messages and deliveries of every replication.

``messages`` is what ``messages.parquet`` holds, one row per message at each queue:

==============  ===================================================================
replication     replication number
message         message id (unique within a replication)
request         the producer request this message belongs to (fan-out children share it)
producer        producer that created the request
queue           queue the message was published to
stage           0 for a producer's message, n for the n-th pipeline hop
created         first publish attempt (s)
accepted        publish accepted (s; NaN if it never was: the client gave up)
attempts        publish attempts (503s + 1 when accepted)
first_receive   first time a worker received it (s; NaN if never)
first_done      end of its first finished processing (s; NaN if none)
receives        times it was received (more than 1: redelivered)
processings     finished processings (more than 1: processed twice, a duplicate)
done            when it settled: completed, gave up, lost or dead-lettered (s)
worker          global index of the worker whose processing settled it (-1 if none)
pool            that worker's pool
outcome         completed | gave_up | lost | dead_lettered | expired | reneged | in_flight
reason          why it was lost: worker_crash | failure | broker_restart | overflow | eviction |
                no_subscriber (none otherwise)
poison          it fails on every attempt
in_window       created after the warmup (counted by every statistic)
==============  ===================================================================

``deliveries`` (``deliveries.parquet``) holds one row per waiting spell, so every delivery attempt
of every message: ``message``, ``queue``, ``since`` (became waiting), ``until`` (received,
dead-lettered, deleted or dropped; NaN if still waiting), ``worker``/``pool`` (receiver; -1/None if
none), ``started`` (processing start; later than ``until`` after a prefetch buffer), ``finished``
(processing end, failed or not), ``overhead`` (the worker's overhead on this delivery before
``started``: 0 without ``overhead:``), ``delivery`` (receive number: 2 and up are redeliveries),
``status`` (done | stale | failed | crashed | deduped | held | in_service | waiting |
dead_lettered | deleted | dropped | expired | expired_dead_lettered | reneged).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from queuesim.metrics.derive import Derived
from queuesim.records import LOSSES, OUTCOMES, STATUSES, RunRecord


def _cat(codes: np.ndarray, names: Sequence[str]) -> pd.Categorical[str]:
    return pd.Categorical.from_codes(codes.astype(np.int32), categories=pd.Index(list(names)))


def _pool_cat(worker: np.ndarray, rec: RunRecord) -> pd.Categorical[str]:
    codes = np.full(len(worker), -1, dtype=np.int32)
    ok = worker >= 0
    codes[ok] = rec.worker_pool[worker[ok]]
    return _cat(codes, rec.pools)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def requests_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per producer request, with its end-to-end latency."""
    frames = []
    for rec in records:
        r = rec.requests
        frames.append(pd.DataFrame({
            "replication": np.full(len(r["created"]), rec.replication, dtype=np.int32),
            "request": np.arange(len(r["created"]), dtype=np.int64),
            "producer": _cat(r["producer"], rec.producers),
            "created": r["created"],
            "done": r["done"],
            "end_to_end": r["done"] - r["created"],
            "outcome": _cat(r["outcome"], OUTCOMES),
            # client side: when the answer reached a waiting client, when it gave up waiting,
            # when the producer's rate limit refused it (NaN where none applies)
            "responded": r["responded"],
            "response": r["responded"] - r["created"],
            "abandoned": r["abandoned"],
            "throttled": r["throttled"],
            "in_window": r["created"] >= rec.warmup,
        }))
    return _concat(frames)


def messages_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per message at each queue (see the module docstring for the columns)."""
    frames = []
    for rec in records:
        d = Derived(rec)
        m = rec.messages
        n = len(m["created"])
        frames.append(pd.DataFrame({
            "replication": np.full(n, rec.replication, dtype=np.int32),
            "message": np.arange(n, dtype=np.int64),
            "request": m["request"],
            "producer": _cat(rec.requests["producer"][m["request"]], rec.producers),
            "queue": _cat(m["queue"], rec.queues),
            "stage": m["stage"],
            "created": m["created"],
            "accepted": m["accepted"],
            "attempts": m["attempts"],
            "first_receive": d.first_receive,
            "first_done": d.first_service,
            "receives": m["receives"],
            "processings": m["processings"],
            "done": m["done"],
            "worker": m["worker"],
            "pool": _pool_cat(m["worker"], rec),
            "outcome": _cat(m["outcome"], OUTCOMES),
            "reason": _cat(m["reason"], LOSSES),
            "poison": m["poison"].astype(bool),
            "in_window": d.message_in,
        }, copy=False))
    return _concat(frames)


def deliveries_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per waiting spell and the delivery that ended it."""
    frames = []
    for rec in records:
        dl = rec.deliveries
        n = len(dl["since"])
        frames.append(pd.DataFrame({
            "replication": np.full(n, rec.replication, dtype=np.int32),
            "message": dl["message"],
            "queue": _cat(rec.messages["queue"][dl["message"]], rec.queues),
            "since": dl["since"],
            "until": dl["until"],
            "worker": dl["worker"],
            "pool": _pool_cat(dl["worker"], rec),
            "started": dl["started"],
            "finished": dl["finished"],
            "overhead": dl["overhead"],
            "delivery": dl["delivery"],
            "status": _cat(dl["status"], STATUSES),
        }, copy=False))
    return _concat(frames)
