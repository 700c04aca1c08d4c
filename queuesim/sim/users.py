"""Closed and capped clients: a fixed population of users with think time, and a cap on an open producer's requests in flight.

Both are driven by one event, "this request has ended for its client", which the producer reports
(:meth:`Producer.start_gate`): for a client that waits, its response, its abandonment at the
timeout or its giving up; for a fire-and-forget client, the end of all the work its request caused.
Users are callbacks on SimPy timeouts, not processes: a user is nothing but its next think timer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from simpy import Environment
from simpy.events import Timeout


class Gate:
    """At most ``limit`` requests in flight; a request beyond it waits in the client, first come first served.

    ``start(message)`` makes a request's first publish attempt; ``wanted(request, message)`` says
    whether a queued request is still worth starting (its client may have abandoned it meanwhile).
    """

    def __init__(self, limit: int, start: Callable[[int], None], wanted: Callable[[int, int], bool]) -> None:
        self.limit = limit
        self.start = start
        self.wanted = wanted
        self.busy = 0
        self.holding: set[int] = set()  # requests that hold a slot
        self.queue: deque[tuple[int, int]] = deque()  # (request, message) waiting for a slot
        self.peak_queue = 0
        self._draining = False

    def admit(self, request: int, message: int) -> None:
        """A new request: start it if a slot is free, else queue it."""
        if self.busy < self.limit and not self.queue:
            self.busy += 1
            self.holding.add(request)
            self.start(message)
            return
        self.queue.append((request, message))
        self.peak_queue = max(self.peak_queue, len(self.queue))
        self._drain()

    def release(self, request: int) -> None:
        """``request`` ended for its client: free its slot and start what waits (a queued request that ended holds none)."""
        if request not in self.holding:
            return
        self.holding.discard(request)
        self.busy -= 1
        self._drain()

    def _drain(self) -> None:
        # a started request can end at once (refused, short-circuited) and release its slot inside
        # start(): loop here instead of recursing, so a long client queue cannot overflow the stack
        if self._draining:
            return
        self._draining = True
        try:
            while self.queue and self.busy < self.limit:
                request, message = self.queue.popleft()
                if not self.wanted(request, message):
                    continue
                self.busy += 1
                self.holding.add(request)
                self.start(message)
        finally:
            self._draining = False


class Users:
    """``count`` users, each thinking for a drawn time, then sending one request and waiting for it to end.

    ``send(now)`` creates and publishes a request; :meth:`release` is called once for each request
    that ends for its client, which sets its user thinking again. Users start by thinking, so they
    do not all send at time 0; no user sends at or after ``until``.
    """

    def __init__(self, env: Environment, count: int, think: Callable[[], float], send: Callable[[float], None],
                 until: float) -> None:
        self.env = env
        self.count = count
        self.think = think
        self.send = send
        self.until = until

    def start(self) -> None:
        for _ in range(self.count):
            self._think()

    def release(self, request: int) -> None:
        """A request ended for its client: its user thinks, then sends the next."""
        self._think()

    def _think(self) -> None:
        delay = self.think()
        if self.env.now + delay < self.until:
            Timeout(self.env, delay).callbacks.append(self._wake)

    def _wake(self, _event: object) -> None:
        self.send(self.env.now)


__all__ = ["Gate", "Users"]
