"""Producers: open-loop clients that create requests and publish them, retrying on a 503.

Arrivals chain one event to the next (no process per message); a refused publish schedules its
own retry after the backoff, so retries never delay the next arrival, as with real clients.
"""

from __future__ import annotations

from collections.abc import Callable

from simpy import Environment
from simpy.events import Timeout

from queuesim.sim.broker import Broker
from queuesim.records import Outcome
from queuesim.sim.recorder import Recorder
from queuesim.sim.retry import backoff_delay


class Producer:
    """One producer: its arrival stream, its target queue and its retry policy."""

    def __init__(
        self,
        env: Environment,
        index: int,
        name: str,
        target: Broker,
        interarrival: Callable[[], float],
        until: float,
        attempts: int,
        backoff: tuple[str, float, float, float],
        uniform: Callable[[], float],
        rec: Recorder,
    ) -> None:
        self.env = env
        self.index = index
        self.name = name
        self.target = target
        self.interarrival = interarrival
        self.until = until
        self.attempts = attempts
        self.jitter, self.base, self.multiplier, self.cap = backoff
        self.uniform = uniform
        self.rec = rec
        self.m_attempts = rec.messages["attempts"]

    def start(self) -> None:
        self._schedule_next()

    def _schedule_next(self) -> None:
        delay = self.interarrival()
        if self.env._now + delay < self.until:
            Timeout(self.env, delay).callbacks.append(self._arrive)

    def _arrive(self, _event: object) -> None:
        rec = self.rec
        now = self.env._now
        request = rec.new_request(self.index, now)
        message = rec.new_message(request, self.target.index, 0, now)
        self._attempt(message, self.base)
        self._schedule_next()

    def _attempt(self, message: int, previous: float) -> None:
        attempt = self.m_attempts[message] + 1
        self.m_attempts[message] = attempt
        if self.target.publish(message):
            return
        now = self.env._now
        self.rec.reject(message, now)
        if attempt >= self.attempts:
            self.rec.settle(message, Outcome.GAVE_UP, now)
            return
        delay = backoff_delay(self.jitter, attempt, self.base, self.multiplier, self.cap, previous, self.uniform)
        Timeout(self.env, delay).callbacks.append(lambda _e, m=message, d=delay: self._attempt(m, d))
