"""The catalogue of summary figures: the typed structure of ``summary.json`` and, for every figure in it, its path, kind, unit, format and whether an SLO may limit it.

Every layer names figures through this module: the metrics fill the typed structure, SLOs,
sweep columns, plans, CLI tables and reports resolve a dotted path (``latency.end_to_end.p99``,
``queues.orders.mean_wait``) to its :class:`FigureSpec` and format values with it.

The catalogue is read from the structure itself: each field of the TypedDicts below carries its
entry as ``Annotated`` metadata, so adding a figure to ``summary.json`` is one annotated field
here (plus the metric that computes it); every consumer picks it up. Per-queue and per-pool
figures have path patterns (``queues.<name>.mean_wait``); the latency kinds are the fields of
:class:`Latency` and the percentiles the fields of :class:`LatencyStats`.

This module is a leaf: it imports only the standard library, numpy and :mod:`queuesim.errors`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import (
    Annotated,
    Any,
    Literal,
    NamedTuple,
    NotRequired,
    Required,
    TypedDict,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
    overload,
)

import numpy as np

from queuesim.errors import did_you_mean

__all__ = [
    "CI_LOW", "CI_HIGH",
    # units
    "DURATION_UNITS", "RATE_UNITS", "format_duration", "format_rate",
    "TimeUnit", "MS", "SECONDS", "time_unit", "display_duration",
    # the typed structure of summary.json
    "RunMeta", "Summary", "Messages", "Rates", "Latency", "LatencyStats", "QueueStats", "PoolStats", "ProducerStats",
    "Poison", "FaultRecovery", "Finding", "BreakerStats",
    # the catalogue
    "Kind", "Better", "Style", "FigureSpec", "CATALOGUE", "METADATA_KEYS",
    "LATENCY_KINDS", "LATENCY_LABELS", "LATENCY_STATS", "PERCENTILES",
    "catalogue_of", "find", "spec", "limit_spec", "quantile", "stat_label", "latency_path", "latency_parts",
    "summary_value", "value_or_none", "format_figure", "ci_paths",
    # verdicts against a limit
    "Verdict", "VERDICTS", "verdict", "percentile_floor", "worst",
]

# ---------------------------------------------------------------------------------------------
# Units. Every figure is held in seconds, per second, as a fraction or as a plain number.

#: Seconds per duration unit. Units are case-sensitive so ``m`` (minute) can never be read as mega.
DURATION_UNITS: dict[str, float] = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
#: Seconds per rate denominator: ``30/m`` is 30 per 60 seconds.
RATE_UNITS: dict[str, float] = {"s": 1.0, "m": 60.0, "h": 3600.0}


def _trim(number: float, digits: int) -> str:
    return f"{number:.{digits}g}"


def format_duration(seconds: float, digits: int = 6) -> str:
    """Format seconds compactly, as a scenario writes them, with the largest unit that keeps the number ≥ 1.

    Parameters
    ----------
    seconds : float
        The duration in seconds.
    digits : int, default 6
        Significant digits kept; the result parses back to ``seconds`` within that precision.

    Returns
    -------
    str
        For example ``'8ms'`` for 0.008, ``'1.5m'`` for 90, ``'0s'`` for 0.

    Examples
    --------
    >>> format_duration(0.008), format_duration(90), format_duration(0.00025)
    ('8ms', '1.5m', '250us')
    """
    if math.isnan(seconds):
        return "nan"
    if math.isinf(seconds):
        return "inf" if seconds > 0 else "-inf"
    sign, size = ("-" if seconds < 0 else ""), abs(seconds)
    if size == 0:
        return "0s"
    for unit in ("h", "m", "s", "ms"):
        factor = DURATION_UNITS[unit]
        # Compare after rounding so 59.9999999s prints as 1m, not 60s.
        if float(_trim(size / factor, digits)) >= 1:
            return f"{sign}{_trim(size / factor, digits)}{unit}"
    return f"{sign}{_trim(size / DURATION_UNITS['us'], digits)}us"


def format_rate(per_second: float, digits: int = 6) -> str:
    """Format a rate compactly, with the smallest denominator that keeps the number ≥ 1.

    Parameters
    ----------
    per_second : float
        Events per second.
    digits : int, default 6
        Significant digits kept.

    Returns
    -------
    str
        For example ``'900/s'``, ``'30/m'``, ``'2/h'``.
    """
    if not math.isfinite(per_second) or per_second == 0:
        return f"{per_second:g}/s"
    for unit in ("s", "m"):
        if float(_trim(per_second * RATE_UNITS[unit], digits)) >= 1:
            return f"{_trim(per_second * RATE_UNITS[unit], digits)}/{unit}"
    return f"{_trim(per_second * RATE_UNITS['h'], digits)}/h"


class TimeUnit(NamedTuple):
    """A display unit for durations: its name and the factor that converts seconds into it."""

    name: str
    scale: float

    @overload
    def __call__(self, seconds: float) -> float: ...
    @overload
    def __call__(self, seconds: np.ndarray) -> np.ndarray: ...
    def __call__(self, seconds: float | np.ndarray) -> float | np.ndarray:
        return seconds * self.scale


MS = TimeUnit("ms", 1e3)
SECONDS = TimeUnit("s", 1.0)


def time_unit(seconds: float | None) -> TimeUnit:
    """Pick the unit for an axis or a value whose typical large value is ``seconds`` (a p99, a duration).

    Milliseconds below one second, seconds otherwise (and when the value is unknown).
    """
    if seconds is None or not math.isfinite(seconds) or abs(seconds) >= 1.0:
        return SECONDS
    return MS


def _three_digits(v: float) -> str:
    """``v`` to three significant digits, never in exponent form above 1,000 (999.8 → ``'1,000'``, not ``'1e+03'``)."""
    text = f"{v:.3g}"
    return f"{v:,.0f}" if "e+" in text else text


def display_duration(seconds: float) -> str:
    """A duration with three significant digits in the unit :func:`time_unit` picks for it,
    e.g. ``'12.3 ms'``, ``'1.5 s'``, ``'1,234 s'``; 999.8 ms, which rounds to a second, is ``'1 s'``."""
    unit = time_unit(seconds)
    if unit is MS and abs(float(f"{unit(seconds):.3g}")) >= 1000:
        unit = SECONDS
    return f"{_three_digits(unit(seconds))} {unit.name}"


# ---------------------------------------------------------------------------------------------
# What an entry says about a figure.

#: Suffixes of the columns holding a figure's 95% interval in tidy tables (``sweep.parquet``):
#: ``latency.end_to_end.mean.ci95_low`` beside ``latency.end_to_end.mean``.
CI_LOW, CI_HIGH = "ci95_low", "ci95_high"

#: What a figure measures: a time (seconds), a rate (per second), a fraction (0..1), a count of
#: messages or events, a plain number (a time-averaged depth, a load ρ), or text (run context:
#: names, lists, the intervals themselves), which is not a figure one formats or limits.
Kind = Literal["duration", "rate", "fraction", "count", "number", "text"]
#: Which way a figure improves, where it has a direction.
Better = Literal["lower", "higher"]
#: How a value is written: ``compact`` as a scenario or ``--slo`` writes it (``250ms``, ``0.1%``;
#: it parses back), ``report`` for report tables (``12.3 ms``, ``1,234.5/s``), ``terminal`` for
#: the CLI's tables (``12.3 ms``, ``0.123%``, ``1,234.56 /s``).
Style = Literal["compact", "report", "terminal"]


@dataclass(frozen=True)
class FigureSpec:
    """One figure of ``summary.json``.

    Attributes
    ----------
    path : str
        Dotted path; ``<name>`` stands for a queue or pool name and ``<cause>`` for a loss cause,
        e.g. ``queues.<name>.mean_wait``.
    kind : Kind
        What it measures, which fixes its unit and formats.
    doc : str
        What it is, in a few words.
    better : {'lower', 'higher'} or None
        Which way it improves.
    limit : bool
        An SLO may put an upper limit on it (``slo:``, ``--slo``); only figures that are better
        low and do not grow with the run's length (rates, latencies, levels) may carry one.
    ci : bool
        ``summary.json``'s ``ci95`` holds its 95% interval, under the same path.
    percentile : float or None
        For a latency percentile, the percentile in percent (99.9 for ``p999``).
    """

    path: str
    kind: Kind
    doc: str
    better: Better | None = None
    limit: bool = False
    ci: bool = False
    percentile: float | None = None

    def __post_init__(self) -> None:
        if self.limit and self.better != "lower":
            raise ValueError(f"{self.path}: an SLO limit is an upper limit; only a figure better low may carry one")

    @property
    def fixed(self) -> bool:
        """Whether the path names one figure (no ``<name>`` or ``<cause>`` in it)."""
        return "<" not in self.path

    def matches(self, path: str) -> bool:
        """Whether a concrete dotted path is this figure (a placeholder matches any one key)."""
        mine, theirs = self.path.split("."), path.split(".")
        return len(mine) == len(theirs) and all(
            m == t or (m.startswith("<") and bool(t)) for m, t in zip(mine, theirs, strict=True))

    def format(self, value: Any, style: Style = "compact", *, decimals: int | None = None, unit: bool = True) -> str:
        """``value`` written in this figure's unit; see :func:`format_figure`."""
        return format_figure(self.kind, value, style, decimals=decimals, unit=unit)


def _figure(kind: Kind, doc: str, **options: Any) -> FigureSpec:
    # the path is filled in when the catalogue is read from the structure
    return FigureSpec("", kind, doc, **options)


def _duration(doc: str, **options: Any) -> FigureSpec:
    return _figure("duration", doc, **options)


def _rate(doc: str, **options: Any) -> FigureSpec:
    return _figure("rate", doc, **options)


def _fraction(doc: str, **options: Any) -> FigureSpec:
    return _figure("fraction", doc, **options)


def _count(doc: str, **options: Any) -> FigureSpec:
    return _figure("count", doc, **options)


def _number(doc: str, **options: Any) -> FigureSpec:
    return _figure("number", doc, **options)


def _text(doc: str) -> FigureSpec:
    return _figure("text", doc)


def _percentile(percent: float) -> FigureSpec:
    return _duration(f"{percent:g}th percentile", better="lower", limit=True, ci=True, percentile=percent)


@dataclass(frozen=True)
class _Each:
    """Metadata of a mapping keyed by names: ``queues`` by queue, ``losses`` by cause."""

    key: str
    doc: str
    leaf: FigureSpec | None = None  # the entry of every value, when the values are figures


@dataclass(frozen=True)
class _Group:
    """Metadata of a nested block that has a label of its own (a latency kind)."""

    label: str
    doc: str


_LIMITABLE: dict[str, Any] = {"better": "lower", "limit": True}  # better low, so an SLO may put an upper limit on it

# ---------------------------------------------------------------------------------------------
# The typed structure of summary.json, field order as in the file. Counts are summed over
# replications; rates and latency distributions are pooled; None where a run has no such figure.


class RunMeta(TypedDict, total=False):
    """The run's context, given by the caller of ``summarize`` and written first."""

    queuesim_version: Annotated[str, _text("the queuesim version that wrote the summary")]
    scenario: Annotated[str, _text("the scenario's name")]
    source: Annotated[str | None, _text("the scenario file, when the run was loaded from one")]
    seed: Annotated[int, _number("the seed every replication derives its random streams from")]
    duration: Annotated[float, _duration("simulated time per replication")]
    warmup: Annotated[float, _duration("time left out of every statistic at the start")]


class Messages(TypedDict):
    """Counts of the requests created in the measurement window, and what became of them."""

    produced: Annotated[int, _count("requests created in the window")]
    accepted: Annotated[int, _count("requests a queue accepted")]
    rejected: Annotated[int, _count("503 replies, every attempt counted", better="lower")]
    gave_up: Annotated[int, _count("requests that gave up after their last retry", better="lower")]
    completed: Annotated[int, _count("requests whose work finished", better="higher")]
    duplicates: Annotated[int, _count("processings beyond the first, at every stage", better="lower")]
    lost: Annotated[int, _count("requests lost", better="lower")]
    dead_lettered: Annotated[int, _count("requests sent to a dead-letter queue", better="lower")]
    expired: Annotated[int, _count("requests dropped for being older than their queue's ttl when a worker would receive them", better="lower")]
    reneged: Annotated[int, _count("requests that left the queue unserved when their client's patience ran out", better="lower")]
    in_flight: Annotated[int, _count("requests unfinished at the end")]
    abandoned: Annotated[int, _count("requests whose client stopped waiting: at its timeout, or reneged", better="lower")]
    throttled: Annotated[int, _count("requests refused by the client's own rate limit", better="lower")]
    short_circuited: Annotated[int, _count("requests refused at once by their producer's open circuit breaker", better="lower")]
    retry_budget_exhausted: Annotated[int, _count("requests whose retry the retry budget refused", better="lower")]
    hedged: Annotated[int, _count("requests that sent a hedge copy")]
    hedge_wins: Annotated[int, _count("requests a hedge copy answered first")]
    deadline_dropped: Annotated[int, _count("messages dropped unprocessed: their client's deadline had passed")]
    cancelled: Annotated[int, _count("hedge copies dropped unprocessed: another copy had answered")]
    redeliveries: Annotated[int, _count("receives beyond the first, at every queue")]


class Rates(TypedDict):
    """Rates per second of window and fractions of requests or attempts."""

    throughput: Annotated[float, _rate("completed per second", better="higher", ci=True)]
    rejection: Annotated[float | None, _fraction("rejected / publish attempts", ci=True, **_LIMITABLE)]
    loss: Annotated[float | None, _fraction("lost / produced", ci=True, **_LIMITABLE)]
    duplicate: Annotated[float | None, _fraction(
        "duplicates / messages processed at least once (every stage and outcome, dead-lettered ones too)",
        ci=True, **_LIMITABLE)]
    gave_up: Annotated[float | None, _fraction("gave up / produced", ci=True, **_LIMITABLE)]
    offered: Annotated[float, _rate("publish attempts per second, retries included", ci=True)]
    abandoned: Annotated[float | None, _fraction("abandoned / produced", ci=True, **_LIMITABLE)]
    base_load: Annotated[float | None, _rate("the producers' configured arrivals per second")]
    short_circuited: Annotated[float | None, _fraction("short-circuited / produced", ci=True, **_LIMITABLE)]


class LatencyStats(TypedDict):
    """One latency distribution, in seconds; the percentile fields define the percentiles."""

    mean: Annotated[float | None, _duration("mean", ci=True, **_LIMITABLE)]
    p50: Annotated[float | None, _percentile(50.0)]
    p90: Annotated[float | None, _percentile(90.0)]
    p95: Annotated[float | None, _percentile(95.0)]
    p99: Annotated[float | None, _percentile(99.0)]
    p999: Annotated[float | None, _percentile(99.9)]
    max: Annotated[float | None, _duration("largest", **_LIMITABLE)]
    count: Annotated[int, _count("samples")]


class Latency(TypedDict):
    """The latency kinds; labels are the short names tables print."""

    end_to_end: Annotated[LatencyStats, _Group("end to end", "creation → last work done")]
    queue_wait: Annotated[LatencyStats, _Group("queue wait", "accepted publish → first receive")]
    service: Annotated[LatencyStats, _Group("service", "every processing")]
    ack: Annotated[LatencyStats, _Group("publish ack", "creation → accepted publish, retries and backoff included")]
    response: Annotated[LatencyStats, _Group("client response", "creation → response, for clients that wait for one")]


class QueueStats(TypedDict):
    """One queue's figures, pooled over replications; depths are time averages over the window."""

    mean_depth: Annotated[float, _number("time-average of waiting messages", ci=True, **_LIMITABLE)]
    lost: Annotated[int, _count("messages lost at this queue", better="lower")]
    losses: Annotated[dict[str, int], _Each("cause", "by cause", _count("messages lost at this queue by cause", better="lower"))]
    duplicates: Annotated[int, _count("processings beyond the first of this queue's messages", better="lower")]
    poison: Annotated[int, _count("poison messages seen")]
    max_depth: Annotated[int, _count("most messages waiting at once", **_LIMITABLE)]
    accepted: Annotated[int, _count("messages accepted")]
    throughput: Annotated[float, _rate("messages accepted per second")]
    rejected: Annotated[int, _count("publishes answered 503", better="lower")]
    dead_lettered: Annotated[int, _count("messages dead-lettered (past their receive limit, or expired with ttl_dead_letter)", better="lower")]
    redeliveries: Annotated[int, _count("receives beyond the first")]
    mean_wait: Annotated[float | None, _duration("waiting time per accepted message, every spell (Little's law)", ci=True,
                                                 **_LIMITABLE)]
    expired: Annotated[int, _count("messages older than the queue's ttl when a worker would receive them (dropped or dead-lettered)", better="lower")]
    reneged: Annotated[int, _count("messages that left the queue when their client's patience ran out", better="lower")]


class PoolStats(TypedDict):
    """One worker pool's figures."""

    count: Annotated[int, _count("workers")]
    utilization: Annotated[float, _fraction("busy time (service and overhead) / worker time", ci=True, **_LIMITABLE)]
    completed: Annotated[int, _count("processings finished, duplicates included")]
    crashes: Annotated[int, _count("worker crashes", better="lower")]
    failures: Annotated[int, _count("processings that failed", better="lower")]
    deduplicated: Annotated[int, _count("duplicates an idempotent pool skipped")]
    # elastic pools only (a schedule, an autoscaler, a deploy: queuesim.metrics.capacity); `count` is then the ceiling
    count_mean: NotRequired[Annotated[float, _number("mean workers provisioned (worker-seconds / window)", better="lower")]]
    count_max: NotRequired[Annotated[int, _count("most workers provisioned at once")]]
    worker_seconds: NotRequired[Annotated[float, _duration("provisioned (billed) worker time, starting and draining workers included", better="lower")]]
    scale_ups: NotRequired[Annotated[int, _count("scaling decisions that raised the count")]]
    scale_downs: NotRequired[Annotated[int, _count("scaling decisions that lowered the count")]]
    time_at_max: NotRequired[Annotated[float, _duration("seconds per replication at the pool's ceiling (autoscaler max, largest scheduled step)")]]


class ProducerStats(TypedDict):
    """One producer's requests: the same counts and latency kinds as the whole run's, for its requests only."""

    messages: Messages
    latency: Latency


class Poison(TypedDict):
    """Poison messages and what became of them."""

    seen: Annotated[int, _count("poison messages seen")]
    dead_lettered: Annotated[int, _count("poison messages dead-lettered")]
    lost: Annotated[int, _count("poison messages lost")]
    cycling: Annotated[int, _count("poison messages still being redelivered at the end", better="lower")]


class BreakerStats(TypedDict):
    """One producer's circuit breaker over the window (times averaged over replications)."""

    opened: Annotated[int, _count("times it opened", better="lower")]
    time_open: Annotated[float, _duration("time open per replication", better="lower")]
    open_fraction: Annotated[float, _fraction("time open / window", **_LIMITABLE)]
    half_open_fraction: Annotated[float, _fraction("time half-open / window")]
    short_circuited: Annotated[int, _count("requests it refused", better="lower")]


class FaultRecovery(TypedDict):
    """One scheduled broker fault: the backlog it built and how long it took to drain."""

    at: float
    queue: str
    kind: str
    end: float
    depth_before: float
    backlog_peak: int
    drain_time: float | None
    drained: int
    replications: int
    durable_point: NotRequired[list[float | None]]


class Finding(TypedDict):
    """One entry of ``diagnosis``: a cause that limits the design and the figure that shows it.

    ``cause`` is one of the rule names of :mod:`queuesim.metrics.diagnosis` (``saturation``,
    ``metastable``, ``visibility_timeout``…), ``figure`` a dotted summary path and ``value`` its
    value in summary units (None where the evidence is not one summary figure), ``message`` one
    sentence naming the cause with its numbers.
    """

    cause: str
    figure: str
    value: float | None
    message: str


class Summary(RunMeta):
    """``summary.json``: the headline figures of a run."""

    replications: Annotated[int, _count("independent replications pooled")]
    window: Annotated[float, _duration("measured time per replication (duration − warm-up)")]
    messages: Messages
    rates: Rates
    latency: Latency
    queues: Annotated[dict[str, QueueStats], _Each("name", "per queue")]
    workers: Annotated[dict[str, PoolStats], _Each("name", "per worker pool")]
    producers: Annotated[dict[str, ProducerStats], _Each("name", "per producer (a priority class, a tenant)")]
    ci95: Annotated[dict[str, list[float] | None], _text("95% intervals [low, high] keyed by figure path")]
    ci_method: Annotated[str, _text("how the intervals were made: replications, or batch_means of the one run")]
    losses: Annotated[dict[str, int], _Each("cause", "by cause", _count("messages lost by cause", better="lower"))]
    poison: Poison
    faults: Annotated[list[FaultRecovery], _text("recovery after each scheduled broker fault")]
    effective_load: Annotated[dict[str, float | None], _Each("name", "per queue", _number(
        "measured load ρ: accepted/s × worker-seconds per message (busy time and crash restarts, "
        "redeliveries and retries included) / worker time not lost to mtbf crashes; above 1 the backlog grew",
        better="lower"))]
    breakers: Annotated[dict[str, BreakerStats], _Each("name", "per producer with a circuit breaker")]
    # the API adds these two after summarizing: the scenario knows them, the records do not
    offered_load: NotRequired[Annotated[dict[str, float], _Each("name", "per queue", _number(
        "offered load ρ before the run: arrivals × expected worker-seconds per message (overhead, "
        "crashes, failures and their redeliveries included) / workers available"))]]
    warnings: NotRequired[Annotated[list[str], _text("what the run warns about")]]
    # added last, by the experiment layer, from the summary, the time series and the scenario
    diagnosis: NotRequired[Annotated[list[Finding], _text("what limits the design, most fundamental cause first")]]
    # only in a precision-driven run (queuesim.experiment.precision): what the replications reached
    precision: NotRequired[Annotated[dict[str, Any], _text("target, relative half-width reached per figure, "
                                                          "replications used, capped or not")]]
    # only with SLO limits (the scenario's slo: and any given with --slo): each limit and its verdict
    slo: NotRequired[Annotated[dict[str, Any], _text("the SLO limits the run was checked against: verdict "
                                                    "(the worst), met, and per limit path, limit, value, "
                                                    "ci95, met and verdict")]]


# ---------------------------------------------------------------------------------------------
# The catalogue, read from the structure.


def _strip(hint: Any) -> tuple[Any, tuple[Any, ...]]:
    """(type, Annotated metadata) of a field, without Required/NotRequired."""
    while get_origin(hint) in (Required, NotRequired):
        (hint,) = get_args(hint)
    if get_origin(hint) is Annotated:
        base, *meta = get_args(hint)
        return base, tuple(meta)
    return hint, ()


def _fields(block: Any) -> Iterator[tuple[str, Any, tuple[Any, ...]]]:
    for key, hint in get_type_hints(block, include_extras=True).items():
        yield (key, *_strip(hint))


def _read(block: Any, prefix: str) -> Iterator[FigureSpec]:
    for key, base, meta in _fields(block):
        path = f"{prefix}{key}"
        entry = next((m for m in meta if isinstance(m, FigureSpec | _Each)), None)
        if isinstance(entry, FigureSpec):
            # a producer's figures have no ``ci95`` interval (the run's, each queue's and each pool's have)
            yield replace(entry, path=path, ci=entry.ci and not path.startswith("producers."))
        elif isinstance(entry, _Each):
            each = f"{path}.<{entry.key}>"
            if entry.leaf is not None:
                yield replace(entry.leaf, path=each)
            else:
                yield from _read(get_args(base)[1], each + ".")
        elif is_typeddict(base):
            yield from _read(base, path + ".")
        else:
            raise TypeError(f"summary field {path} has no catalogue entry: annotate it")


def catalogue_of(structure: type) -> tuple[FigureSpec, ...]:
    """The entries a TypedDict structure declares, in field order (:data:`CATALOGUE` is that of :class:`Summary`).

    Raises
    ------
    TypeError
        For a field that is neither an annotated figure, a nested structure nor a mapping of them:
        a figure cannot be added to the summary without its entry.
    """
    return tuple(_read(structure, ""))


#: Every figure of summary.json, in file order.
CATALOGUE: tuple[FigureSpec, ...] = catalogue_of(Summary)
_FIXED = {s.path: s for s in CATALOGUE if s.fixed}
_PATTERNS = [s for s in CATALOGUE if not s.fixed]

#: Top-level keys that describe the run rather than measure it (text, lists, the intervals).
METADATA_KEYS = frozenset(s.path for s in CATALOGUE if s.kind == "text" and "." not in s.path)
#: The latency kinds, in file order, and their short labels.
LATENCY_LABELS: dict[str, str] = {key: next(m for m in meta if isinstance(m, _Group)).label for key, _, meta in _fields(Latency)}
LATENCY_KINDS: tuple[str, ...] = tuple(LATENCY_LABELS)
#: The duration statistics of each latency kind (``mean``, the percentiles, ``max``).
LATENCY_STATS: tuple[str, ...] = tuple(s.path.rsplit(".", 1)[1] for s in CATALOGUE
                                       if s.path.startswith(f"latency.{LATENCY_KINDS[0]}.") and s.kind == "duration")
#: Percentile name → percent (``p999`` → 99.9), as :func:`numpy.percentile` takes it.
PERCENTILES: dict[str, float] = {key: m.percentile for key, _, meta in _fields(LatencyStats)
                                 for m in meta if isinstance(m, FigureSpec) and m.percentile is not None}


def ci_paths(queues: Sequence[str], pools: Sequence[str]) -> list[str]:
    """The concrete paths of every figure the catalogue gives an interval, in summary.json's order (a queue's, then the next's)."""
    entries = [s for s in CATALOGUE if s.ci]
    paths = [s.path for s in entries if s.fixed]
    for block, names in (("queues", queues), ("workers", pools)):
        pattern = [s.path for s in entries if s.path.startswith(f"{block}.<name>.")]
        paths += [p.replace("<name>", name) for name in names for p in pattern]
    return paths


def find(path: str) -> FigureSpec | None:
    """The entry of a concrete dotted path (``queues.orders.mean_wait``), or None if it names no figure."""
    found = _FIXED.get(path)
    if found is not None:
        return found
    return next((s for s in _PATTERNS if s.matches(path)), None)


def spec(path: str) -> FigureSpec:
    """The entry of a concrete dotted path.

    Raises
    ------
    ValueError
        For a path that names no figure, with a did-you-mean hint.
    """
    found = find(path)
    if found is None:
        raise ValueError(f"unknown summary path {path!r}{did_you_mean(path, (s.path for s in CATALOGUE))}")
    return found


def limit_spec(path: str) -> FigureSpec:
    """The entry of a path an SLO may limit.

    ``queues.<name>.*`` and ``workers.<name>.*`` are accepted for any name here; whether the name
    exists is checked against the scenario.

    Raises
    ------
    ValueError
        For a path that is not a limitable figure, with a did-you-mean hint.
    """
    found = find(path)
    if found is not None and found.limit:
        return found
    if found is not None and found.better == "higher":
        raise ValueError(f"{path} is better when higher; an SLO is an upper limit (see `plan` for capacity)")
    limited = [s.path for s in CATALOGUE if s.limit]
    parts = path.split(".")
    per_name = [p.split(".")[2] for p in limited if p.startswith(f"{parts[0]}.<name>.") and p.count(".") == 2]
    if len(parts) == 3 and per_name:
        hint = did_you_mean(parts[2], per_name)
        raise ValueError(f"unknown summary path {path!r}{hint or f'; {parts[0]}.<name>. takes ' + ', '.join(per_name)}")
    hint = did_you_mean(path, limited)
    where = ("; limits go on latency.<kind>.<stat>, rates.<rate>, queues.<name>.<figure>, workers.<name>.utilization"
             " or producers.<name>.latency.<kind>.<stat>")
    raise ValueError(f"unknown summary path {path!r}{hint or where}")


def quantile(stat: str) -> float | None:
    """The quantile (0..1) of a percentile statistic, exactly as written (``p999`` → 0.999); None for ``mean``, ``max``."""
    percent = PERCENTILES.get(stat)
    return None if percent is None else float(Fraction(str(percent)) / 100)


def stat_label(stat: str) -> str:
    """A latency statistic as a column heading: ``p99.9`` for ``p999``, the name otherwise."""
    percent = PERCENTILES.get(stat)
    return stat if percent is None else f"p{percent:g}"


def latency_path(kind: str, stat: str) -> str:
    """``latency.<kind>.<stat>``, checked against the catalogue."""
    return spec(f"latency.{kind}.{stat}").path


def latency_parts(path: str) -> tuple[str, str] | None:
    """(kind, stat) of a latency figure's path (``latency.end_to_end.p99``), None for any other path."""
    parts = path.split(".")
    if len(parts) == 3 and parts[0] == "latency" and parts[1] in LATENCY_KINDS and parts[2] in LATENCY_STATS:
        return parts[1], parts[2]
    return None


# ---------------------------------------------------------------------------------------------
# Values in a summary.


def summary_value(summary: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of a summary.json dict.

    Raises
    ------
    KeyError
        Naming the first missing key, with a did-you-mean hint.
    """
    node: Any = summary
    parts = path.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, Mapping) or part not in node:
            keys = list(node) if isinstance(node, Mapping) else []
            where = ".".join(parts[:depth]) or "the summary"
            raise KeyError(f"{where} has no {part!r}{did_you_mean(part, keys)}")
        node = node[part]
    return node


def value_or_none(summary: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or None where the summary has no such key (an older file, another run)."""
    try:
        return summary_value(summary, path)
    except KeyError:
        return None


# ---------------------------------------------------------------------------------------------
# Formats.


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool | str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _compact(kind: Kind, v: float) -> str:
    if kind == "duration":
        return format_duration(v, digits=4)
    if kind == "rate":
        return format_rate(v, digits=4)
    if kind == "fraction":
        return f"{v:.3g}" if v == 0 else f"{v * 100:.3g}%"
    return f"{v:.4g}"


def _report(kind: Kind, v: float) -> str:
    if kind == "duration":
        return display_duration(v)
    if kind == "rate":
        return f"{v:,.1f}/s" if v >= 10 else f"{v:.3g}/s"
    if kind == "fraction":
        return "0%" if v == 0 else f"{v * 100:.3g}%"
    if kind == "count":
        return f"{round(v):,}"
    return _three_digits(v)


def _terminal(kind: Kind, v: float, decimals: int | None, unit: bool) -> str:
    if kind == "duration":
        return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.3f} s"
    if kind == "rate":
        return f"{v:,.{2 if decimals is None else decimals}f}" + (" /s" if unit else "")
    if kind == "fraction":
        return f"{v:.{3 if decimals is None else decimals}%}"
    if kind == "count":
        return f"{v:,.0f}"
    return f"{v:.{2 if decimals is None else decimals}f}"


def format_figure(kind: Kind, value: Any, style: Style = "compact", *, decimals: int | None = None,
                  unit: bool = True) -> str:
    """A value of a figure of ``kind`` in its unit; an em dash for a missing or non-finite value.

    Parameters
    ----------
    kind : Kind
        The figure's kind (:attr:`FigureSpec.kind`).
    value : number or None
        In summary units: seconds, per second, a fraction.
    style : {'compact', 'report', 'terminal'}, default 'compact'
        ``compact``: as a scenario or ``--slo`` writes it (``250ms``, ``0.1%``, ``0`` for a zero
        fraction, ``12``), so it parses back; ``report``: three significant digits in a readable
        unit (``12.3 ms``, ``0.123%``, ``1,234.5/s``, ``12,345``); ``terminal``: the CLI's fixed
        decimals (``12.3 ms`` / ``1.234 s``, ``0.123%``, ``1,234.56 /s``, ``12,345``, ``2.02``).
    decimals : int, optional
        Terminal style only: decimals of a fraction's percentage (3), a rate (2) or a number (2).
    unit : bool, default True
        Terminal style only: append `` /s`` to a rate (off where the column heading says it).

    Examples
    --------
    >>> format_figure("duration", 0.25), format_figure("fraction", 0.001), format_figure("count", 12.0)
    ('250ms', '0.1%', '12')
    >>> format_figure("duration", 0.0123, "report"), format_figure("rate", 1234.5, "terminal")
    ('12.3 ms', '1,234.50 /s')
    """
    if kind == "text":
        return "—" if value is None else str(value)
    v = _finite(value)
    if v is None:
        return "—"
    if style == "compact":
        return _compact(kind, v)
    if style == "report":
        return _report(kind, v)
    return _terminal(kind, v, decimals, unit)


# ---------------------------------------------------------------------------------------------
# Verdicts: a figure against an upper limit, allowing for its sampling noise.

#: What a limit's 95% interval says: wholly at or below the limit (``met``), wholly above it
#: (``not met``), or straddling it (``borderline``: more replications would settle it).
Verdict = Literal["met", "borderline", "not met"]
#: The verdicts from best to worst.
VERDICTS: tuple[Verdict, ...] = ("met", "borderline", "not met")


def verdict(value: float | None, limit: float, ci: Sequence[float | None] | None, interval: bool = True,
            floor: float | None = None) -> Verdict:
    """A figure against its upper limit: ``met`` when its whole 95% interval is at or below the limit,
    ``not met`` when wholly above, ``borderline`` when the interval contains the limit.

    Parameters
    ----------
    value : float or None
        The estimate; None (the run has no such figure) is not met, since nothing shows the limit holds.
    limit : float
    ci : [low, high] or None
        The figure's 95% interval from ``summary.json``'s ``ci95``.
    interval : bool, default True
        Whether the catalogue gives the figure an interval (:attr:`FigureSpec.ci`). One that should
        have an interval but has none in this run (too few samples beyond a percentile) is
        borderline, unless ``floor`` is above the limit; one that never has one (a maximum) is
        judged on its value.
    floor : float, optional
        A 95% lower bound for a figure without an interval (:func:`percentile_floor`).

    Examples
    --------
    >>> verdict(0.19, 0.2, [0.18, 0.195]), verdict(0.199, 0.2, [0.19, 0.21]), verdict(0.25, 0.2, [0.21, 0.3])
    ('met', 'borderline', 'not met')
    """
    if value is None:
        return "not met"
    if ci is not None and ci[0] is not None and ci[1] is not None:
        low, high = float(ci[0]), float(ci[1])
        return "met" if high <= limit else "not met" if low > limit else "borderline"
    if interval:
        return "not met" if floor is not None and floor > limit else "borderline"
    return "met" if value <= limit else "not met"


def percentile_floor(summary: Mapping[str, Any], path: str) -> float | None:
    """A 95% lower bound for a latency percentile that has no interval of its own (too few samples
    beyond it): the highest low end among the intervals of the lower percentiles of the same
    latency, since a percentile is at least every lower one (p99 ≥ p90).

    Returns
    -------
    float or None
        None for any other figure, or when no lower percentile has an interval.
    """
    parts = latency_parts(path)
    if parts is None or parts[1] not in PERCENTILES:
        return None
    kind, stat = parts
    intervals = summary.get("ci95") or {}
    lows = [ci[0] for lower, percent in PERCENTILES.items() if percent < PERCENTILES[stat]
            for ci in [intervals.get(latency_path(kind, lower))] if ci and ci[0] is not None]
    return max(lows) if lows else None


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """The worst of several verdicts (``met`` for none)."""
    return max(verdicts, key=VERDICTS.index, default="met")
