"""The bounds every input is held to, so that any file or option validates or fails in bounded time and memory.

Each bound is far above what a real scenario needs and below what would overflow a record column,
exhaust memory before the first event, or let one file take minutes to read. README's "Bad input"
section lists them; a value past one is a located error like any other.
"""

from __future__ import annotations

__all__ = [
    "MAX_SCENARIO_BYTES",
    "MAX_TRACE_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_NAMES",
    "MAX_SEED",
    "MAX_REPLICATIONS",
    "MAX_WORKERS",
    "MAX_FANOUT",
    "MAX_BATCH",
    "MAX_ATTEMPTS",
    "MAX_INT",
    "MAX_SECONDS",
    "MAX_RATE",
    "MIN_CV",
    "MAX_CV",
    "MAX_AXIS_VALUES",
    "MAX_POINTS",
    "MAX_SHOWN",
    "MAX_PROBLEMS_SHOWN",
]

#: A scenario file: a large one is a few kilobytes, an empirical distribution with 10⁴ samples ~100 KiB.
MAX_SCENARIO_BYTES = 1 << 20
#: A trace (CSV of timestamps): ~4 million rows.
MAX_TRACE_BYTES = 64 << 20
#: Nested mappings and lists, in a file or a ``--set`` / ``--vary`` value (a scenario uses about 6).
MAX_DEPTH = 32
#: YAML nodes once every alias is expanded (a "billion laughs" file expands to 10⁹ from < 1 KB).
MAX_NODES = 1_000_000
#: Producers, queues and worker pools, each (record columns hold their index in 16 bits).
MAX_NAMES = 10_000
#: ``seed`` (and ``--seed``): a non-negative 64-bit signed integer.
MAX_SEED = 2**63 - 1
#: ``replications`` (and ``--replications``).
MAX_REPLICATIONS = 10_000
#: Workers in one pool (``count``).
MAX_WORKERS = 100_000
#: Messages one processing publishes downstream (``fanout``).
MAX_FANOUT = 100_000
#: Requests in one batch (``batch.size``).
MAX_BATCH = 1_000_000
#: Publish attempts per request (``retry.attempts``): fits the 32-bit ``attempts`` column.
MAX_ATTEMPTS = 1_000_000_000
#: Any other integer (capacities, limits, column indices): a 64-bit signed integer.
MAX_INT = 2**63 - 1
#: Any duration: about 31.7 years; simulated time keeps sub-microsecond resolution below it.
MAX_SECONDS = 1e9
#: Any rate, per second.
MAX_RATE = 1e9
#: A coefficient of variation (lognormal, gamma): cv² and 1/cv² stay finite, non-zero floats.
MIN_CV = 1e-6
MAX_CV = 1e6
#: Values of one swept path: each is validated on the whole scenario before anything runs.
MAX_AXIS_VALUES = 1_000
#: Points of a sweep grid (the product of its axes).
MAX_POINTS = 10_000
#: Characters of one error message printed; the rest is elided (a 1 MiB key is not echoed whole).
MAX_SHOWN = 500
#: Problems printed for one command; the rest are counted (50,000 unknown keys need no 50,000 lines).
MAX_PROBLEMS_SHOWN = 1_000
