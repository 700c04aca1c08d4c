"""Message priorities in a scenario: a producer's ``priority`` and the ``max_priority`` of the queue it publishes to.

Larger numbers are served first, RabbitMQ's convention, on every broker; a queue without
``max_priority`` has none. RabbitMQ accepts ``x-max-priority`` up to 255; Celery's Redis transport
serves priorities 0..9 in four steps (``queuesim.sim.priority``); SQS has no message priorities
(the AWS answer is one queue per class and consumers that poll the urgent one first).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._base import Violation

#: RabbitMQ's largest ``x-max-priority``.
MAX_PRIORITY = 255
#: Celery priorities on Redis run 0..9.
REDIS_MAX_PRIORITY = 9
SQS_NO_PRIORITY = ("SQS has no message priorities: publish each class to its own queue "
                   "and let the pool read them in order (`from: [urgent, bulk]`)")


def priority_violations(producers: Mapping[str, Any], queues: Mapping[str, Any]) -> list[Violation]:
    """A producer's ``priority`` needs a target queue with ``max_priority`` ≥ it (a broker would ignore or cap it silently)."""
    found: list[Violation] = []
    for name, p in producers.items():
        queue = queues.get(p.to)
        if not p.priority or queue is None:
            continue
        top = getattr(queue, "max_priority", None)
        if top is None:
            found.append((("producers", name, "priority"),
                          f"queue '{p.to}' has no `max_priority`: the broker would ignore this priority"))
        elif p.priority > top:
            found.append((("producers", name, "priority"),
                          f"must be ≤ the max_priority of queue '{p.to}' ({top}): the broker would treat it as {top}"))
        elif p.sync:
            found.append((("producers", name, "priority"), "a sync request skips the broker: nothing orders it"))
    return found
