"""A producer's circuit breaker: closed, open and half-open, with its state timeline.

The producer asks :meth:`Breaker.permit` before each publish attempt and reports the attempt's
result with :meth:`Breaker.record` (at once for a fire-and-forget publish, when the response or
the timeout comes for a client that waits). Each permit carries the breaker's *epoch*, bumped on
every state change, so a result that arrives after the breaker changed state (a slow call let
through while closed, answered after it opened) is ignored rather than counted against the wrong
state; resilience4j likewise resets its window on each transition.
"""

from __future__ import annotations

from collections import deque

from simpy import Environment
from simpy.events import Timeout

from queuesim.records import BREAKER_STATES
from queuesim.scenario.resilience import CircuitBreaker

CLOSED, OPEN, HALF_OPEN = 0, 1, 2
#: What :meth:`Breaker.permit` returns for a call it refuses.
REFUSED = -1
# 3 failures of 15 calls is a 20% rate: compare ratios with a little slack for float rounding
_EPS = 1e-12


class Breaker:
    """One circuit breaker (see :class:`queuesim.scenario.resilience.CircuitBreaker` for the rules).

    Attributes
    ----------
    timeline : list of (float, str)
        Every state change as (time, state), starting with (0, "closed").
    refused : int
        Calls refused (short-circuited) while open or half-open.
    opened : int
        Times it opened.
    """

    def __init__(self, env: Environment, spec: CircuitBreaker) -> None:
        self.env = env
        self.rate = spec.failure_rate
        self.consecutive = spec.consecutive_failures
        self.needed = spec.calls_needed
        self.open_for = spec.open_for
        self.trials = spec.trials
        self.window: deque[bool] = deque(maxlen=spec.window)  # True: a failure
        self.failures = 0  # failures in the window
        self.streak = 0  # consecutive failures
        self.state = CLOSED
        self.epoch = 0
        self.started = 0  # half-open: trial calls let through
        self.answered = 0  # half-open: trial calls with a result
        self.failed = 0  # half-open: trial calls that failed
        self.refused = 0
        self.opened = 0
        self.timeline: list[tuple[float, str]] = [(0.0, BREAKER_STATES[CLOSED])]

    def permit(self, now: float) -> int:
        """The epoch this call runs in, or :data:`REFUSED` (open, or half-open with every trial taken)."""
        state = self.state
        if state == CLOSED:
            return self.epoch
        if state == HALF_OPEN and self.started < self.trials:
            self.started += 1
            return self.epoch
        self.refused += 1
        return REFUSED

    def record(self, epoch: int, failed: bool, now: float) -> None:
        """The result of a call permitted in ``epoch``; ignored if the breaker has changed state since."""
        if epoch != self.epoch:
            return
        if self.state == CLOSED:
            if self.consecutive is not None:
                self.streak = self.streak + 1 if failed else 0
                if self.streak >= self.consecutive:
                    self._open(now)
                return
            window = self.window
            if len(window) == window.maxlen and window[0]:
                self.failures -= 1  # the oldest call leaves the window
            window.append(failed)
            self.failures += failed
            if len(window) >= self.needed and self.failures / len(window) >= self.rate - _EPS:
                self._open(now)
        elif self.state == HALF_OPEN:
            self.answered += 1
            self.failed += failed
            if failed and self.consecutive is not None:
                self._open(now)  # Polly's classic breaker: a failed probe breaks it again
            elif self.answered == self.trials:
                if self.consecutive is None and self.failed / self.trials >= self.rate - _EPS:
                    self._open(now)
                else:
                    self._close(now)

    def _change(self, state: int, now: float) -> None:
        self.state = state
        self.epoch += 1
        self.timeline.append((now, BREAKER_STATES[state]))

    def _open(self, now: float) -> None:
        self._change(OPEN, now)
        self.opened += 1
        epoch = self.epoch
        Timeout(self.env, self.open_for).callbacks.append(lambda _e: self._half_open(epoch))

    def _half_open(self, epoch: int) -> None:
        if self.epoch != epoch:  # cannot happen (nothing leaves OPEN but this timer); kept as an invariant
            return
        self._change(HALF_OPEN, self.env.now)
        self.started = self.answered = self.failed = 0

    def _close(self, now: float) -> None:
        self._change(CLOSED, now)
        self.window.clear()
        self.failures = 0
        self.streak = 0


__all__ = ["Breaker", "CLOSED", "OPEN", "HALF_OPEN", "REFUSED"]
