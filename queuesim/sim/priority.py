"""Priority queues: the broker's ready deque split into one FIFO per priority level, the highest served first.

:class:`PriorityReady` stands in for a :class:`~queuesim.sim.broker.Broker`'s ``ready`` deque (the
same ``append``/``appendleft``/``popleft``/iteration), so every broker kind gains priorities without
a hook of its own, and a queue without ``max_priority`` keeps the plain deque: the FIFO path pays
nothing. A returned message (``appendleft``) goes to the head of its own level.

A message's level comes from its request's producer (``priority``, larger first: RabbitMQ's
convention); fan-out children and messages of no producer are priority 0. RabbitMQ serves
``min(priority, max_priority)`` as its own level (``x-max-priority``); Celery's Redis transport
keeps one list per *priority step* (Kombu's ``PRIORITY_STEPS = [0, 3, 6, 9]``, 0 served first) and
rounds a priority down to its step, so Celery priorities 1 and 2 share the list of 0
(:func:`redis_levels`).

Priorities order only what waits *at the broker*: a message already prefetched by a consumer (its
``buffer``, a Celery worker's reserved tasks) is ahead of any later message, whatever its priority.
"""

from __future__ import annotations

from bisect import bisect
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from queuesim.scenario.model import QueueBase, RedisQueue
from queuesim.scenario.priority import REDIS_MAX_PRIORITY
from queuesim.sim.recorder import Recorder

#: Kombu's Redis transport keeps one list per step (kombu/transport/redis.py ``PRIORITY_STEPS``).
REDIS_PRIORITY_STEPS = (0, 3, 6, 9)


def rabbit_levels(max_priority: int) -> list[int]:
    """Level of each priority 0..max_priority on RabbitMQ: the priority itself (x-max-priority caps it)."""
    return list(range(max_priority + 1))


def redis_levels(max_priority: int) -> list[int]:
    """Level of each priority 0..max_priority (larger first) on Celery's Redis transport.

    queuesim's priority ``p`` is Celery's ``9 - p`` (the transport serves 0 first); Kombu puts it in
    the list of ``steps[bisect(steps, 9 - p) - 1]``, and serves the lists in step order.
    """
    steps = REDIS_PRIORITY_STEPS
    # a higher level is served first: the step's rank counted from the last step
    return [len(steps) - bisect(steps, REDIS_MAX_PRIORITY - p) for p in range(max_priority + 1)]


class PriorityReady:
    """One FIFO of ``(message, since)`` entries per level; ``popleft`` takes the head of the highest non-empty one.

    Parameters
    ----------
    levels : sequence of int
        Level of each priority number (index); priorities past the end take the last entry.
    priority_of_producer : sequence of int
        Each producer's ``priority``, by producer index.
    request, stage, producer : array
        The recorder's columns: a message's request and stage, a request's producer.
    """

    __slots__ = ("_count", "_levels", "_producer", "_queues", "_request", "_stage", "_top")

    def __init__(self, levels: Sequence[int], priority_of_producer: Sequence[int],
                 request: Any, stage: Any, producer: Any) -> None:
        top = max(levels)
        # a producer's level, resolved once: the hot path reads two columns and one list
        self._levels = [levels[min(p, len(levels) - 1)] for p in priority_of_producer]
        self._queues: list[deque[tuple[int, float]]] = [deque() for _ in range(top + 1)]
        self._top = top
        self._count = 0
        self._request, self._stage, self._producer = request, stage, producer

    def level(self, message: int) -> int:
        """The level a message waits at: its producer's, for a producer's own (stage-0) message; else 0."""
        if self._stage[message]:
            return 0
        level: int = self._levels[self._producer[self._request[message]]]
        return level

    def append(self, entry: tuple[int, float]) -> None:
        self._queues[self.level(entry[0])].append(entry)
        self._count += 1

    def appendleft(self, entry: tuple[int, float]) -> None:
        self._queues[self.level(entry[0])].appendleft(entry)
        self._count += 1

    def popleft(self) -> tuple[int, float]:
        for queue in reversed(self._queues):
            if queue:
                self._count -= 1
                return queue.popleft()
        raise IndexError("pop from an empty priority queue")

    def clear(self) -> None:
        for queue in self._queues:
            queue.clear()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self) -> Iterator[tuple[int, float]]:
        """Every entry in the order they would be served."""
        for queue in reversed(self._queues):
            yield from queue


def priority_ready(spec: QueueBase, rec: Recorder, priorities: Sequence[int]) -> PriorityReady | None:
    """The ready queue of a queue spec with ``max_priority``, for producers of these priorities; None without one."""
    top = getattr(spec, "max_priority", None)
    if top is None:
        return None
    levels = redis_levels(top) if isinstance(spec, RedisQueue) else rabbit_levels(top)
    return PriorityReady(levels, priorities, rec.messages["request"], rec.messages["stage"], rec.requests["producer"])


__all__ = ["REDIS_PRIORITY_STEPS", "PriorityReady", "priority_ready", "rabbit_levels", "redis_levels"]
