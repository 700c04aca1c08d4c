"""What goes wrong: worker crashes, handler failures, poison messages, and scheduled broker outages and restarts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ._base import Float, Frozen, fail
from .units import Duration

__all__ = ["Crash", "Chance", "BrokerFault", "Variants"]

Probability = Float


class Chance(Frozen):
    """An event that happens to a processing with a fixed ``probability``."""

    probability: Probability = Field(ge=0, le=1)


class Crash(Chance):
    """A worker dies mid-message with ``probability`` per message and is back after ``restart``.

    The same ``restart`` delay applies to crashes drawn from the pool's ``mtbf``.
    """

    probability: Probability = Field(0.0, ge=0, le=1)
    restart: Duration = 5.0


class BrokerFault(Frozen):
    """A scheduled broker fault on one queue.

    ``restart``: the broker is down for ``downtime``; messages it had not persisted are lost (per
    the queue's persistence), connections drop. ``outage``: publishes fail (503) and receives
    block for ``duration``; nothing is lost.
    """

    at: Duration
    queue: str
    kind: Literal["restart", "outage"]
    downtime: Duration | None = None
    duration: Duration | None = None

    @model_validator(mode="after")
    def _length_matches_kind(self) -> BrokerFault:
        if self.kind == "restart" and self.duration is not None:
            fail("BrokerFault", [(("duration",), "a restart takes `downtime`, not `duration`")], self.duration)
        if self.kind == "outage" and self.downtime is not None:
            fail("BrokerFault", [(("downtime",), "an outage takes `duration`, not `downtime`")], self.downtime)
        if self.kind == "outage" and self.duration is None:
            fail("BrokerFault", [(("duration",), "an outage needs a `duration`")])
        return self

    @property
    def length(self) -> float:
        """How long the broker is unavailable."""
        value = self.downtime if self.kind == "restart" else self.duration
        return float(value) if value is not None else 0.0

    @property
    def end(self) -> float:
        return self.at + self.length


#: ``variants:`` — named sets of ``--set`` style overrides (dotted path → value) that
#: ``queuesim compare`` runs side by side with common random numbers.
Variants = dict[str, dict[str, Any]]

