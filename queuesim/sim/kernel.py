"""The engine's kernel: SimPy's environment, whose run loop also fires bare timers.

Every message needs two timers (its arrival, its service's end). A SimPy event for each is an
object built per timer and a call of :meth:`simpy.core.Environment.step` per event. :func:`after`
puts the callback itself on SimPy's queue instead, at the key a ``Timeout`` scheduled there would
have (time, priority, event id), and :meth:`Engine.run` calls it straight from the heap; every
other event (processes, timeouts, conditions) goes through SimPy's own step, unchanged. The order
of events is SimPy's, so results are those of ``Timeout``s.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from heapq import heappop, heappush
from types import FunctionType, MethodType
from typing import Any

from simpy import Environment
from simpy.core import EmptySchedule, StopSimulation
from simpy.events import NORMAL, URGENT, Event

__all__ = ["Engine", "after", "at"]

Callback = Callable[[], None]
#: What a bare callback on the queue may be (anything else there is a SimPy event).
_METHOD, _PARTIAL, _FUNCTION = MethodType, partial, FunctionType


class Engine(Environment):
    """A SimPy environment whose queue may also hold bare callbacks (scheduled by :func:`after`)."""

    def step(self) -> None:
        """Process the next event, or call the next bare callback."""
        queue: list[Any] = self._queue
        try:
            self._now, _, _, event = heappop(queue)
        except IndexError:
            raise EmptySchedule from None
        kind = event.__class__
        if kind is _METHOD or kind is _PARTIAL or kind is _FUNCTION:
            event()
        else:
            self._process(event)

    def run(self, until: float | Event | None = None) -> Any:
        """Run like :meth:`simpy.core.Environment.run`; the loop is inlined so a bare callback costs no step call."""
        if until is not None:
            if not isinstance(until, Event):
                when = float(until)
                if when <= self._now:
                    raise ValueError(f"until ({when}) must be greater than the current simulation time")
                stop = Event(self)
                stop._ok = True
                stop._value = None
                self.schedule(stop, URGENT, when - self._now)
                until = stop
            elif until.processed:
                return until.value
            until.callbacks.append(StopSimulation.callback)
        queue: list[Any] = self._queue  # events and bare callbacks
        process = self._process
        try:
            while True:
                try:
                    self._now, _, _, event = heappop(queue)
                except IndexError:
                    raise EmptySchedule from None
                kind = event.__class__
                if kind is _METHOD or kind is _PARTIAL or kind is _FUNCTION:
                    event()
                else:
                    process(event)
        except StopSimulation as exc:
            return exc.args[0]
        except EmptySchedule:
            if until is not None:
                assert isinstance(until, Event) and not until.triggered
                raise RuntimeError(f'No scheduled events left but "until" event was not triggered: {until}') from None
        return None

    def _process(self, event: Event) -> None:
        # the body of simpy.core.Environment.step once the event is popped
        callbacks, event.callbacks = event.callbacks, None  # type: ignore[assignment]
        assert callbacks is not None
        for i, callback in enumerate(callbacks):
            try:
                callback(event)
            except StopSimulation:
                # the rest run when the simulation resumes, as in SimPy
                event.callbacks = callbacks[i + 1:]
                self.schedule(event, URGENT - 1)  # type: ignore[arg-type]
                raise
        if not event._ok and not hasattr(event, "_defused"):
            exc = type(event._value)(*event._value.args)
            exc.__cause__ = event._value
            raise exc


def after(env: Environment, delay: float, callback: Callback) -> None:
    """Call ``callback()`` (a function, bound method or partial) ``delay`` (≥ 0) after now, where a ``Timeout`` scheduled now would run; ``env`` must be an :class:`Engine`."""
    heappush(env._queue, (env._now + delay, NORMAL, next(env._eid), callback))  # type: ignore[misc]


def at(env: Environment, when: float, eid: int, callback: Callback) -> None:
    """Call ``callback()`` at ``when`` with the event id ``eid`` taken earlier (the tie order of that moment)."""
    heappush(env._queue, (when, NORMAL, eid, callback))  # type: ignore[misc]
