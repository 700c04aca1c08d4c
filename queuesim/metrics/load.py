"""The load a run actually put on each queue's workers, measured: the post-run counterpart of the offered load.

The offered load is known before the run (:meth:`queuesim.scenario.Scenario.offered_load`); what
only the run knows is how much work each message really took: redeliveries after a visibility
timeout, duplicates, handler timeouts, client retries. ``effective_load`` measures, per queue,

    ρ_eff = (messages accepted / s) × (worker-seconds per message) / (workers × availability)

where a message's worker-seconds are the busy time of its deliveries (overhead, service, failed
and crashed processings, duplicates) plus the ``restart`` after each crash of a processing, and
availability is the share of worker time not lost to ``mtbf`` crashes, both measured over the
window. It matches the offered load when the model knows every source of work, exceeds it when
the run found more, and is above 1 when the backlog grew without bound (the workers were busy
all along and still fell behind), even though utilization can never exceed 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np

from queuesim.metrics.derive import Derived, overlap

__all__ = ["effective_load", "downtime", "load_of"]


def downtime(extra: Mapping[str, Any], pool: str, kind: str, lo: float, hi: float) -> float:
    """Worker-seconds of one pool down after crashes of one kind inside [lo, hi] (a record's ``extra["downtime"]``)."""
    logs = cast(Mapping[str, Mapping[str, list[list[float]]]], extra.get("downtime", {}))
    spans = np.asarray(logs.get(pool, {}).get(kind, []), dtype=float).reshape(-1, 2)
    return float(overlap(spans[:, 0], spans[:, 1], lo, hi).sum())


def load_of(accepted: int, worked: int, work: float, supply: float) -> float | None:
    """ρ_eff from its parts: messages accepted, messages a worker began, their worker-seconds, worker-seconds available.

    0 for a queue that accepted nothing, None when no message was begun (or no worker time was left).
    """
    if accepted == 0:
        return 0.0
    if worked == 0 or supply <= 0:
        return None
    return accepted * work / (worked * supply)


def _pools_of(d: Derived, queue: str) -> list[int]:
    reads = cast(Mapping[str, str], d.rec.extra.get("reads", {}))
    return [pi for pi, name in enumerate(d.rec.pools) if reads.get(name) == queue]


def effective_load(deriveds: Sequence[Derived]) -> dict[str, float | None]:
    """The measured load per queue, pooled over replications (see the module docstring).

    Parameters
    ----------
    deriveds : sequence of Derived
        One per replication of the same scenario.

    Returns
    -------
    dict of str to float or None
        Keyed by queue name; None for a queue that accepted messages but whose workers never
        started one (no measure of their cost), 0 for a queue that accepted none.
    """
    rec0 = deriveds[0].rec
    lo, hi = deriveds[0].window
    counts = np.bincount(rec0.worker_pool, minlength=len(rec0.pools))
    out: dict[str, float | None] = {}
    for qi, queue in enumerate(rec0.queues):
        pools = _pools_of(deriveds[0], queue)
        workers = int(sum(counts[pi] for pi in pools))
        accepted = worked = 0
        work = lost = 0.0
        for d in deriveds:
            msg, dl = d.rec.messages, d.rec.deliveries
            accepted += int(np.count_nonzero(d.message_in & (msg["queue"] == qi) & ~np.isnan(msg["accepted"])))
            began = dl["started"] - dl["overhead"]
            rows = np.isin(d.delivery_pool, pools) & (began >= lo) & (began < hi)
            # distinct messages begun, by marking ids (linear) rather than np.unique (a sort or hash)
            begun = np.zeros(msg["created"].size, dtype=np.bool_)
            begun[dl["message"][rows]] = True
            worked += int(np.count_nonzero(begun))
            for pi in pools:
                work += float(overlap(*d.busy_of(pi), lo, hi).sum())
                work += downtime(d.rec.extra, rec0.pools[pi], "per_message", lo, hi)
                lost += downtime(d.rec.extra, rec0.pools[pi], "clock", lo, hi)
        supply = workers * (hi - lo) * len(deriveds) - lost  # worker-seconds not down after an mtbf crash
        out[queue] = load_of(accepted, worked, work, supply)
    return out
