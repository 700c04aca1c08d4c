"""Warnings about a valid scenario: settings that run, but whose figures are likely not what was meant.

Each warning is one line of text (``summary.json``'s ``warnings`` and ``queuesim validate`` print
them). An *error-level* warning starts with :data:`ERROR`: the scenario still runs, but some of
its work can be redone for ever, so its figures grow with the run length instead of settling.
"""

from __future__ import annotations

from .model import Scenario, SqsQueue
from .units import format_duration

__all__ = ["ERROR", "is_error", "visibility_warnings"]

#: The prefix of an error-level warning.
ERROR = "error: "

#: The share of jobs a warning is about: a visibility timeout below the service time's p99.
SERVICE_QUANTILE = 0.99


def is_error(warning: str) -> bool:
    """Whether a warning is error-level (starts with :data:`ERROR`)."""
    return warning.startswith(ERROR)


def visibility_warnings(scenario: Scenario) -> list[str]:
    """Pools reading an SQS queue whose service time's p99 exceeds the queue's visibility timeout.

    More than 1% of such a pool's jobs outlive the timeout and are received again while they run.
    On a standard queue each is received again every timeout until its first processing ends and
    deletes it (duplicates, bounded). Where a late delete fails (a FIFO queue, whose receipt
    handle expires with the timeout, or ``stale_receipts: ignored``) a job that outlives the timeout
    never gets deleted: without ``max_receives`` it can be redone for ever, an error-level warning.
    """
    out: list[str] = []
    for name, queue in scenario.queues.items():
        if not isinstance(queue, SqsQueue) or any(p.sync for p in scenario.producers.values() if p.to == name):
            continue  # a sync producer's queue has no broker, so no visibility timeout
        vt = queue.visibility_timeout
        for pool_name, pool in scenario.pools_reading(name):
            p99 = pool.service.quantile(SERVICE_QUANTILE)
            if p99 <= vt:
                continue
            head = (f"queue '{name}': the service time of pool '{pool_name}' has p99 {format_duration(p99, 3)}, "
                    f"above the visibility timeout ({format_duration(vt, 3)}): more than 1% of its jobs outlive it")
            rule = queue.receipt_rule
            if rule == "delete":
                out.append(f"{head} and are received again every {format_duration(vt, 3)} until their first "
                           "processing ends and deletes them (a duplicate each time); raise visibility_timeout "
                           "above the longest job")
                continue
            why = ("a FIFO receipt handle expires with the timeout, so their deletes fail" if rule == "expire"
                   else "with stale_receipts: ignored only the latest receipt deletes")
            if queue.max_receives is None:
                out.append(f"{ERROR}{head}: {why} and, without max_receives, such a job can be redone for ever; "
                           "set max_receives (a dead-letter queue) or raise visibility_timeout")
            else:
                out.append(f"{head}: {why}, so such a job is processed again until it is dead-lettered after "
                           f"{queue.max_receives} receives; raise visibility_timeout above the longest job")
    return out
