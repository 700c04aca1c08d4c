"""Hedged requests: further copies of a request whose response is slow, the first answer winning.

A :class:`Hedger` belongs to one producer whose client waits for responses. When a request's
first copy is accepted it arms one timer; at ``after`` (a fixed delay, or a percentile of the
response times this producer has seen) a request still unanswered gets another copy, until
``copies`` are in flight. The first copy to answer wins; the others are cancelled if asked
(marked in :attr:`cancelled`, which a worker checks before starting on a message).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from simpy import Environment
from simpy.events import Timeout

from queuesim.scenario.resilience import Hedge

#: Response times remembered for a percentile delay (a sliding window).
SAMPLES = 1000
#: The percentile delay is recomputed after this many new responses.
REFRESH = 50


class Hedger:
    """The hedging policy of one producer: its timers, its copies in flight and its delay estimate.

    Parameters
    ----------
    env : simpy.Environment
    spec : Hedge
    send : callable
        ``send(request)`` publishes one more copy of ``request`` and returns its message, or -1
        when the broker refused it (a refused hedge is dropped, not retried).
    """

    def __init__(self, env: Environment, spec: Hedge, send: Callable[[int], int]) -> None:
        self.env = env
        self.fixed = spec.delay
        self.quantile = spec.quantile
        self.max_copies = spec.copies
        self.cancel = spec.cancel
        self.min_samples = spec.min_samples
        self.send = send
        self.copies: dict[int, list[int]] = {}  # request -> its copies in flight, the original first
        self.samples: deque[float] = deque(maxlen=SAMPLES)
        self.fresh = 0  # responses since the estimate was computed
        self.estimate: float | None = None
        self.cancelled: set[int] = set()  # losing copies a worker should drop instead of processing
        self.sent = 0

    @property
    def delay(self) -> float | None:
        """The current hedging delay: the fixed one, or the percentile estimate (None before enough responses)."""
        return self.fixed if self.fixed is not None else self.estimate

    def accepted(self, request: int, message: int) -> None:
        """A request's first copy was accepted: start racing the clock."""
        if request in self.copies:
            return
        self.copies[request] = [message]
        self._arm(request)

    def _arm(self, request: int) -> None:
        delay = self.delay
        if delay is not None:
            Timeout(self.env, delay).callbacks.append(lambda _e: self._fire(request))

    def _fire(self, request: int) -> None:
        copies = self.copies.get(request)
        if copies is None or len(copies) >= self.max_copies:
            return  # answered or abandoned meanwhile, or every copy is out
        message = self.send(request)
        self.sent += 1
        if message >= 0:
            copies.append(message)
            self._arm(request)

    def is_copy(self, request: int, message: int) -> bool:
        """Whether the client waits for ``message`` as one of ``request``'s copies."""
        copies = self.copies.get(request)
        return copies is not None and message in copies

    def failed(self, request: int, message: int) -> bool:
        """One copy answered with an error; True if no other copy is left to wait for."""
        copies = self.copies.get(request)
        if copies is None:
            return True
        if message in copies:
            copies.remove(message)
        if copies:
            return False
        del self.copies[request]
        return True

    def answered(self, request: int, winner: int, response_time: float) -> bool:
        """``winner`` answered first; cancel the others if asked. True if the winner was a hedge copy."""
        copies = self.copies.pop(request, [winner])
        if self.cancel:
            self.cancelled.update(m for m in copies if m != winner)
        self._observe(response_time)
        return copies[0] != winner

    def forget(self, request: int) -> None:
        """The client stopped waiting (timeout, give-up): no more copies for ``request``."""
        self.copies.pop(request, None)

    def _observe(self, response_time: float) -> None:
        if self.quantile is None:
            return
        self.samples.append(response_time)
        self.fresh += 1
        if len(self.samples) >= self.min_samples and (self.estimate is None or self.fresh >= REFRESH):
            ordered = sorted(self.samples)
            # the nearest-rank percentile: the smallest sample with at least q of them at or below it
            rank = max(1, math.ceil(self.quantile * len(ordered)))
            self.estimate = ordered[rank - 1]
            self.fresh = 0


__all__ = ["Hedger", "SAMPLES", "REFRESH"]
