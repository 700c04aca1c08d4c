"""Deadlines of many entries behind one armed SimPy event: a timer per queue instead of one per message.

A broker that hides each received message for a visibility timeout, or a queue whose clients
renege, needs one deadline per message. A SimPy ``Timeout`` per message puts one live entry per
message into SimPy's heap and one more event per message through the loop, although almost every
such deadline is answered before it comes (the message is acknowledged, or served). Here the
deadlines wait in the queue's own structure, time-ordered (a deque when they are added in time
order, as a constant timeout gives; a heap otherwise), and only the earliest *live* one has an
event in SimPy's heap. Entries that died meanwhile (acknowledged, served) are skipped lazily when
they reach the head: each is looked at once.

Exactness: each entry takes a SimPy event id when it is added, as a ``Timeout`` created at that
moment would, and the armed event is pushed onto SimPy's queue at the entry's exact time with that
id. So same-instant events run in the order a ``Timeout`` per entry would have given them, and
replacing those timeouts changes no result. This reads SimPy's private ``env._queue`` and
``env._eid``: its public API schedules only "now + delay" under a fresh id, which would fire up to
an ulp away from the deadline and after events scheduled between the entry and its arming.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Mapping
from functools import partial

from simpy import Environment

from queuesim.sim.kernel import at

Entry = tuple[float, int, int, int]  # (time, SimPy event id, key, token)
Key = tuple[float, int]  # (time, event id): the order SimPy runs events in


class Deadlines:
    """Entries due at given times, served by one armed SimPy event at the earliest live one.

    Parameters
    ----------
    env : simpy.Environment
    live : callable or mapping
        ``live(key, token)``: whether an entry still matters (a dead one never comes back to life);
        or a mapping, where an entry is live while ``live.get(key) == token``.
    due : callable
        ``due(key, token)``: called at the entry's time, if it is still live then.
    ordered : bool, default True
        The caller adds entries in non-decreasing time (a constant timeout): a deque, O(1) per
        entry. False keeps them in a heap (random deadlines, such as a client's patience).
    """

    def __init__(self, env: Environment, live: Callable[[int, int], bool] | Mapping[int, int],
                 due: Callable[[int, int], None], *, ordered: bool = True) -> None:
        self.env = env
        # a mapping: an entry is live while it maps its key to its token (a dict lookup, not a call per entry)
        self._tokens: Mapping[int, int] | None = None
        if isinstance(live, Mapping):
            tokens = self._tokens = live
            self._live: Callable[[int, int], bool] = lambda key, token: tokens.get(key) == token
        else:
            self._live = live
        self._due = due
        self.ordered = ordered  # a lane (queuesim.sim.lane) appends such entries itself, as add() does
        self._deque: deque[Entry] = deque()
        self._heap: list[Entry] = []
        self._armed: set[Key] = set()  # keys of the events in SimPy's queue (one, or a few with a heap)
        self._firing = False

    def __len__(self) -> int:
        return len(self._deque) + len(self._heap)

    def add(self, when: float, key: int, token: int = 0) -> None:
        """A deadline at ``when`` (absolute time, ≥ now) for ``(key, token)``."""
        env = self.env
        entry = (when, next(env._eid), key, token)
        if self.ordered:
            self._deque.append(entry)
            if not self._armed and not self._firing:
                self._arm_head()
        else:
            heapq.heappush(self._heap, entry)
            if not self._firing and (not self._armed or (when, entry[1]) < min(self._armed)):
                self._arm(entry)  # the new head: earlier than anything armed

    def _head(self) -> Entry | None:
        """The earliest live entry, dropping the dead ones before it."""
        live = self._live
        if self.ordered:
            q = self._deque
            tokens = self._tokens
            if tokens is not None:
                token_of = tokens.get
                while q:
                    head = q[0]
                    if token_of(head[2]) == head[3]:
                        return head
                    q.popleft()
                return None
            while q:
                head = q[0]
                if live(head[2], head[3]):
                    return head
                q.popleft()
        else:
            h = self._heap
            while h:
                head = h[0]
                if live(head[2], head[3]):
                    return head
                heapq.heappop(h)
        return None

    def _arm_head(self) -> None:
        head = self._head()
        if head is not None and (head[0], head[1]) not in self._armed:
            self._arm(head)

    def _arm(self, entry: Entry) -> None:
        when, eid = entry[0], entry[1]
        self._armed.add((when, eid))
        # at the entry's own time and event id (taken when it was added), not after(): the order of ties stays the entry's
        at(self.env, when, eid, partial(self._fire, when, eid))

    def _fire(self, when: float, eid: int) -> None:
        self._armed.discard((when, eid))
        fired = (when, eid)
        self._firing = True
        try:
            while True:
                head = self._head()
                if head is None or (head[0], head[1]) > fired:
                    break
                if self.ordered:
                    self._deque.popleft()
                else:
                    heapq.heappop(self._heap)
                self._due(head[2], head[3])
        finally:
            self._firing = False
        self._arm_head()


__all__ = ["Deadlines"]
