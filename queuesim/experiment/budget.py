"""What a run will cost before it starts: messages, simulation events, memory and time, from the validated model.

``validate`` prints the estimate and ``run`` refuses a scenario whose estimate is above a limit
sized to this machine's memory (``--max-events``), with the estimate and how to proceed, instead
of growing until the operating system kills it. The per-message figures are measured (README
"Speed"): a whole run with default outputs peaks at about 365 bytes per message, and the engine
handles about 10⁵ messages per CPU-second here; the estimate rounds both up.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from queuesim.errors import QueuesimError
from queuesim.scenario import Scenario, format_duration

__all__ = ["Estimate", "estimate", "check_budget", "BudgetError", "default_max_events", "BYTES_PER_MESSAGE",
           "EVENTS_PER_MESSAGE"]

#: Peak memory of a whole run per simulated message (records, summary, tables, parquet), rounded up.
BYTES_PER_MESSAGE = 400
#: Scheduled SimPy events per message delivery: publish, start of service, end of service.
EVENTS_PER_MESSAGE = 3
#: Messages the engine simulates per CPU-second on a 2-core machine like the CI's (conservative).
MESSAGES_PER_SECOND = 100_000
#: Memory of the interpreter with numpy, pandas, pyarrow and matplotlib loaded, before any record.
BASE_BYTES = 200 * 2**20
#: Share of the available memory a run may plan to use.
MEMORY_SHARE = 0.5


@dataclass(frozen=True)
class Estimate:
    """Expected size of a run, all replications included."""

    requests: float
    messages: float
    events: float
    memory_bytes: float
    cpu_seconds: float

    def __str__(self) -> str:
        if not math.isfinite(self.events):  # a rate or period at the edge of floating point
            return "more events than can be counted (more than 10^308)"
        return (f"about {_count(self.requests)} requests, {_count(self.messages)} messages, "
                f"{_count(self.events)} events, {_bytes(self.memory_bytes)} peak memory, "
                f"{format_duration(round(self.cpu_seconds, 1 if self.cpu_seconds < 60 else -1))} of CPU")


def _retry_factor(scenario: Scenario, queue: str, rho: float, attempts: int) -> float:
    """Publish attempts per request: every attempt can be refused once a bounded queue is overloaded."""
    if attempts <= 1 or rho <= 1 or not scenario.queues[queue].bounded:
        return 1.0
    refused = 1.0 - 1.0 / rho  # the share an M/M/c/K queue refuses at heavy load
    return float(sum(refused**k for k in range(attempts)))


def estimate(scenario: Scenario, replications: int | None = None, *, streamed: bool = False) -> Estimate:
    """The expected requests, messages, events, peak memory and CPU time of a run of ``scenario``.

    Messages count every stage and fan-out copy (from :meth:`Scenario.arrival_rates`), retried
    attempts at overloaded bounded queues, and one more delivery per message where workers crash
    or fail; the remaining effects (redeliveries after visibility timeouts, poison cycling) are
    not known before the run, so the estimate is a lower bound for them. A ``streamed`` run
    (``outputs: summary``) keeps no records: its memory is the interpreter's plus what is live.
    """
    reps = scenario.replications if replications is None else replications
    span = scenario.duration
    # a closed population's requests follow its response times: its throughput bound, not its ceiling
    requests = sum(scenario.expected_arrivals(name, 0.0, span) for name in scenario.producers)
    load = scenario.offered_load()
    rates = scenario.arrival_rates()
    messages = 0.0
    for queue, rate in rates.items():
        attempts = max((p.retry.attempts for p in scenario.producers.values() if p.to == queue), default=1)
        redelivery = 1.0 + sum(
            (pool.crash.probability if pool.crash is not None else 0.0)
            + (pool.failure.probability if pool.failure is not None else 0.0)
            for _, pool in scenario.pools_reading(queue)
        )
        messages += rate * span * _retry_factor(scenario, queue, load.get(queue, 0.0), attempts) * redelivery
    messages = max(messages, requests)
    events = messages * EVENTS_PER_MESSAGE
    held = 0.0 if streamed else messages * reps * BYTES_PER_MESSAGE  # the parent holds every replication
    return Estimate(requests=requests * reps, messages=messages * reps, events=events * reps,
                    memory_bytes=BASE_BYTES + held, cpu_seconds=messages * reps / MESSAGES_PER_SECOND)


def _available_memory() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def default_max_events() -> int:
    """The events a run may plan for on this machine: half its available memory at the measured cost per event."""
    per_event = BYTES_PER_MESSAGE / EVENTS_PER_MESSAGE
    return int(MEMORY_SHARE * _available_memory() / per_event)


class BudgetError(QueuesimError):
    """A run whose estimated size is above the limit: refused before it starts."""


def check_budget(scenario: Scenario, replications: int | None, max_events: int | None, *,
                 streamed: bool = False) -> Estimate:
    """The run's estimate; raise :class:`BudgetError` if it needs more than ``max_events`` (0: no limit).

    ``None`` takes :func:`default_max_events`, half this machine's available memory; a ``streamed``
    run's memory does not grow with its events, so only an explicit ``max_events`` limits it.
    """
    cost = estimate(scenario, replications, streamed=streamed)
    limit = (0 if streamed else default_max_events()) if max_events is None else max_events
    if limit and cost.events > limit:
        more = (f", or pass --max-events {int(cost.events * 1.1)} (0 for no limit) if the machine can take it"
                if math.isfinite(cost.events) else "")  # an unbounded estimate (a period of 1e-320 s) has no such flag
        raise BudgetError(
            f"this run needs {cost}, above the limit of {_count(limit)} events (half of this machine's "
            f"available memory). Shorten `duration`, lower `replications` or the rate{more}"
        )
    return cost


def _count(x: float) -> str:
    if x < 1e4:
        return f"{x:,.0f}"
    exp = math.floor(math.log10(x))
    return f"{x / 10**exp:.1f}·10^{exp}"


def _bytes(x: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if x >= size:
            return f"{x / size:.1f} {unit}"
    return f"{x:.0f} B"
