"""Load shapes and client settings of a producer: time-varying rates, batch jobs, trace replay and the token bucket.

Every shape knows its cumulative intensity Λ(t) = ∫₀ᵗ λ(s) ds, so the expected number of arrivals
in any window (and so the mean rate over a run's window) is exact, and the simulation can draw
arrivals by inverting Λ (a time change of a unit-rate process). Nothing here imports SimPy.
"""

from __future__ import annotations

import csv
import io
import math
import os
from array import array
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    Discriminator,
    Field,
    PlainValidator,
    PrivateAttr,
    RootModel,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ._base import Float, Frozen, Int, Violation, fail
from .files import UnreadableFile, read_text
from .limits import MAX_BATCH, MAX_RATE, MAX_TRACE_BYTES
from .routing import did_you_mean
from .units import (
    RATE_TOO_HIGH,
    Duration,
    PositiveDuration,
    PositiveRate,
    Rate,
    format_duration,
    format_rate,
    parse_rate,
)

__all__ = [
    "RateStep",
    "Schedule",
    "Spike",
    "Daily",
    "RateProfile",
    "RateSpec",
    "Batch",
    "Trace",
    "RateLimit",
    "ArrivalKind",
    "SCENARIO_DIR",
    "sync_violations",
    "trace_shorthand",
]

#: Key of the pydantic validation context holding the scenario file's directory (relative trace paths).
SCENARIO_DIR = "scenario_dir"

#: How arrivals are spaced at the current rate: ``poisson`` (exponential gaps) or ``regular``
#: (evenly spaced, like a load generator's constant-arrival-rate executor).
ArrivalKind = Literal["poisson", "regular"]


def _known_keys(model: type[Frozen], value: Any) -> None:
    """Report an unknown key with a did-you-mean (used where the generic report cannot name the model's keys)."""
    if not isinstance(value, Mapping):
        return
    allowed = [info.alias or name for name, info in model.model_fields.items()]
    bad = [k for k in value if k not in allowed]
    if bad:
        violations = []
        for key in bad:
            hint = did_you_mean(str(key), allowed)
            violations.append(((str(key),), f"unknown key {key!r}{hint}" if hint else f"unknown key {key!r}; allowed keys: {', '.join(allowed)}"))
        fail(model.__name__, violations, value)


# ---------------------------------------------------------------------------------------------
# Time-varying rates


class RateStep(Frozen):
    """One step of a schedule: ``rate`` until the instant ``until`` (from the previous step's end).

    The last step may leave out ``until``: its rate then holds to the end of the run.
    """

    until: PositiveDuration | None = None
    rate: Rate

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        _known_keys(cls, value)
        return value

    def __str__(self) -> str:
        end = format_duration(self.until) if self.until is not None else "end"
        return f"{format_rate(self.rate)} until {end}"


class Schedule(RootModel[tuple[RateStep, ...]]):
    """A piecewise-constant rate: ``[{until: 5m, rate: 100/s}, {until: 10m, rate: 900/s}]``.

    Step i holds from the previous step's ``until`` (0 for the first) to its own. After the last
    ``until`` no more requests arrive, unless the last step has no ``until`` (it holds to the end).
    """

    model_config = {"frozen": True}
    root: Annotated[tuple[RateStep, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _increasing(self) -> Schedule:
        found: list[Violation] = []
        last = 0.0
        for i, step in enumerate(self.root):
            if step.until is None:
                if i != len(self.root) - 1:
                    found.append(((i, "until"), "required: only the last step may leave out `until` (it then holds to the end of the run)"))
                continue
            if step.until <= last:
                found.append(((i, "until"), f"must be after the previous step's until ({format_duration(last)})"))
            last = step.until
        if not found and not any(s.rate > 0 for s in self.root):
            found.append(((), "every step has rate 0: no request would ever arrive"))
        fail("Schedule", found, [str(s) for s in self.root])
        return self

    def segments(self) -> list[tuple[float, float, float]]:
        """``(start, end, rate)`` of each step, contiguous from 0; the last ``end`` may be inf."""
        out, start = [], 0.0
        for step in self.root:
            end = math.inf if step.until is None else step.until
            out.append((start, end, step.rate))
            start = end
        return out

    @property
    def mean_rate(self) -> float:
        """Long-run rate: the last step's when it is open-ended, else the mean over the schedule."""
        segs = self.segments()
        if math.isinf(segs[-1][1]):
            return segs[-1][2]
        return _piecewise_cumulative(segs, segs[-1][1]) / segs[-1][1]

    @property
    def peak_rate(self) -> float:
        return max(s.rate for s in self.root)

    def cumulative(self, t: float) -> float:
        """Λ(t): expected arrivals in [0, t]."""
        return _piecewise_cumulative(self.segments(), t)

    def scaled(self, factor: float) -> Schedule:
        return Schedule(tuple(RateStep(until=s.until, rate=s.rate * factor) for s in self.root))

    def __str__(self) -> str:
        return "schedule(" + ", ".join(str(s) for s in self.root) + ")"


class Spike(Frozen):
    """``base`` except ``peak`` during [``at``, ``at`` + ``duration``): ``{shape: spike, base: 200/s, peak: 2000/s, at: 2m, duration: 30s}``."""

    shape: Literal["spike"] = "spike"
    base: Rate
    peak: Rate
    at: Duration
    duration: PositiveDuration

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        _known_keys(cls, value)
        return value

    @model_validator(mode="after")
    def _some_load(self) -> Spike:
        if self.base == 0 and self.peak == 0:
            fail("Spike", [(("peak",), "base and peak are both 0: no request would ever arrive")], self.peak)
        return self

    def segments(self) -> list[tuple[float, float, float]]:
        end = self.at + self.duration
        segs = [(self.at, end, self.peak), (end, math.inf, self.base)]
        return ([(0.0, self.at, self.base)] if self.at > 0 else []) + segs

    @property
    def mean_rate(self) -> float:
        """Long-run rate: ``base`` (a spike is a transient)."""
        return self.base

    @property
    def peak_rate(self) -> float:
        return max(self.base, self.peak)

    def cumulative(self, t: float) -> float:
        return _piecewise_cumulative(self.segments(), t)

    def scaled(self, factor: float) -> Spike:
        return self.model_copy(update={"base": self.base * factor, "peak": self.peak * factor})

    def __str__(self) -> str:
        return (f"spike({format_rate(self.base)}, {format_rate(self.peak)} from {format_duration(self.at)} "
                f"for {format_duration(self.duration)})")


class Daily(Frozen):
    """A sinusoidal daily curve: λ(t) = mean + amplitude · cos(2π (t − peak_at) / period).

    ``{shape: daily, mean: 500/s, amplitude: 300/s, peak_at: 14h}`` swings between 200/s (at 2h)
    and 800/s (at 14h). ``amplitude`` is a rate, at most ``mean``; ``period`` defaults to 24h.
    """

    shape: Literal["daily"] = "daily"
    mean: PositiveRate
    amplitude: Rate
    peak_at: Duration = 0.0
    period: PositiveDuration = 86400.0

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        _known_keys(cls, value)
        return value

    @model_validator(mode="after")
    def _non_negative(self) -> Daily:
        if self.amplitude > self.mean:
            fail("Daily", [(("amplitude",), f"must be ≤ mean ({format_rate(self.mean)}): a rate cannot go below 0")], self.amplitude)
        return self

    @property
    def omega(self) -> float:
        return 2 * math.pi / self.period

    @property
    def mean_rate(self) -> float:
        return self.mean

    @property
    def peak_rate(self) -> float:
        return self.mean + self.amplitude

    def rate_at(self, t: np.ndarray | float) -> np.ndarray | float:
        return self.mean + self.amplitude * np.cos(self.omega * (np.asarray(t) - self.peak_at))

    def cumulative(self, t: np.ndarray | float) -> np.ndarray | float:
        """Λ(t) = mean·t + (amplitude/ω)(sin ω(t − peak_at) + sin ω·peak_at)."""
        w = self.omega
        t = np.asarray(t, dtype=float)
        out = self.mean * t + self.amplitude / w * (np.sin(w * (t - self.peak_at)) + math.sin(w * self.peak_at))
        return float(out) if out.ndim == 0 else out

    def scaled(self, factor: float) -> Daily:
        return self.model_copy(update={"mean": self.mean * factor, "amplitude": self.amplitude * factor})

    def __str__(self) -> str:
        return (f"daily(mean={format_rate(self.mean)}, amplitude={format_rate(self.amplitude)}, "
                f"peak_at={format_duration(self.peak_at)}, period={format_duration(self.period)})")


#: A time-varying rate.
RateProfile = Schedule | Spike | Daily


def _piecewise_cumulative(segments: Sequence[tuple[float, float, float]], t: float) -> float:
    total = 0.0
    for start, end, rate in segments:
        if t <= start:
            break
        total += rate * (min(t, end) - start)
    return total


_SHAPES = ("spike", "daily")
_RATE_HINT = "expected a rate (900/s), a list of {until, rate} steps, or a mapping with `shape: spike` or `shape: daily`"


def _rate_kind(value: Any) -> str:
    # Tags with "[" are skipped when an error location is mapped back to the user's keys, so an
    # error inside a step reads producers.web.rate.1.until, as written.
    if isinstance(value, (Spike, Daily)):
        return value.shape
    if isinstance(value, Schedule):
        return "rate[steps]"
    if isinstance(value, (list, tuple)):
        return "rate[steps]"
    if isinstance(value, Mapping):
        shape = value.get("shape")
        return shape if shape in _SHAPES else "rate[shape]"
    return "rate[number]"


def _bad_shape(value: Any) -> Any:
    shape = value.get("shape") if isinstance(value, Mapping) else None
    if shape is None:
        reason = f"{_RATE_HINT}; this mapping has no `shape`"
    else:
        hint = did_you_mean(str(shape), _SHAPES)
        reason = f"unknown shape {shape!r}{hint}; shapes are: {', '.join(_SHAPES)} (or write a list of {{until, rate}} steps)"
    raise PydanticCustomError("rate_shape", "{reason}", {"reason": reason})


def _positive_rate(value: Any) -> float:
    try:
        rate = parse_rate(value)
    except ValueError as exc:
        raise PydanticCustomError("rate", "{reason}", {"reason": str(exc)}) from None
    if rate <= 0:
        raise PydanticCustomError("rate", "{reason}", {"reason": f"must be > 0, got {value!r}"})
    if rate > MAX_RATE:
        raise PydanticCustomError("rate", "{reason}", {"reason": RATE_TOO_HIGH})
    return rate


#: Field type of a producer's ``rate``: a constant (Poisson) rate, a schedule, a spike or a daily curve.
RateSpec = Annotated[
    Annotated[float, PlainValidator(_positive_rate), Tag("rate[number]")] | Annotated[Schedule, Tag("rate[steps]")] | Annotated[Spike, Tag("spike")] | Annotated[Daily, Tag("daily")] | Annotated[float, PlainValidator(_bad_shape), Tag("rate[shape]")],
    Discriminator(_rate_kind),
]


# ---------------------------------------------------------------------------------------------
# Batch jobs and trace replay


class Batch(Frozen):
    """A periodic batch job: ``size`` requests every ``every``, the first at ``at``.

    ``spread`` 0 (default) creates the whole batch in one instant, as a scheduler (cron, Celery
    beat) enqueuing an aggregation's tasks does; a positive ``spread`` spaces them evenly over it.
    """

    every: PositiveDuration
    size: Int = Field(ge=1, le=MAX_BATCH)
    at: Duration = 0.0
    spread: Duration = 0.0

    @model_validator(mode="after")
    def _spread_within_period(self) -> Batch:
        if self.spread > self.every:
            fail("Batch", [(("spread",), f"must be ≤ every ({format_duration(self.every)}): batches would overlap")], self.spread)
        return self

    def starts(self, until: float) -> np.ndarray:
        """Batch start times before ``until``."""
        if self.at >= until:
            return np.empty(0)
        return self.at + self.every * np.arange(math.ceil((until - self.at) / self.every))

    def times(self, until: float) -> np.ndarray:
        """Every request's creation time before ``until``, in order."""
        starts = self.starts(until)
        offsets = np.arange(self.size) * (self.spread / self.size)
        out: np.ndarray = (starts[:, None] + offsets[None, :]).ravel()
        return np.asarray(out[out < until])

    def expected(self, lo: float, hi: float) -> float:
        """Requests created in [lo, hi), the same count as ``times(hi)`` holds there, without listing them.

        A batch of 10⁵ every millisecond for an hour has 3.6·10¹¹ requests: too many to list just
        to count them while validating. Each batch offset's times grow with the batch number (in
        floating point too), so a binary search per offset counts them exactly.
        """
        if not lo < hi or self.at >= hi:
            return 0.0
        periods = (hi - self.at) / self.every
        if not periods < 2**53:  # beyond exact integers (or inf): the count is only an estimate anyway
            return periods * self.size
        starts = math.ceil(periods)
        offsets, repeats = np.unique(np.arange(self.size) * (self.spread / self.size), return_counts=True)
        inside = self._count_before(hi, offsets, starts) - self._count_before(lo, offsets, starts)
        return float(np.dot(inside, repeats))

    def _count_before(self, t: float, offsets: np.ndarray, starts: int) -> np.ndarray:
        """Per offset, how many of the first ``starts`` batches create that request before ``t``."""
        low = np.zeros(offsets.size, dtype=np.int64)
        high = np.full(offsets.size, starts, dtype=np.int64)
        while (low < high).any():
            mid = (low + high) // 2
            # the same float operations as starts() and times(), so boundaries agree exactly
            before = (self.at + self.every * mid.astype(np.float64)) + offsets < t
            low = np.where(before, mid + 1, low)
            high = np.where(before, high, mid)
        return low

    @property
    def mean_rate(self) -> float:
        return self.size / self.every


def trace_shorthand(value: Any) -> Any:
    return {"file": value} if isinstance(value, (str, os.PathLike)) else value


class Trace(Frozen):
    """Replay of recorded arrival times: ``trace: arrivals.csv`` or ``{file, column, speed, rebase}``.

    The file is CSV; ``column`` (index or header name, default the first) holds timestamps in
    seconds. Blank lines and lines starting with ``#`` are skipped; a first row that is not a number
    is a header. Times are sorted; ``rebase: true`` subtracts the first (for epoch timestamps);
    ``speed: 2`` replays twice as fast. A relative ``file`` is relative to the scenario file's
    directory (to the working directory for a scenario given as text or a dict).
    """

    file: str
    column: Int | str = 0
    speed: Annotated[Float, Field(gt=0)] = 1.0
    rebase: bool = False
    _times: array[float] = PrivateAttr(default_factory=lambda: array("d"))

    @field_validator("file", mode="before")
    @classmethod
    def _resolve(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, (str, os.PathLike)):
            return value
        def refuse(reason: str) -> PydanticCustomError:
            return PydanticCustomError("trace_file", "{reason}", {"reason": reason})

        if "\0" in os.fspath(value):
            raise refuse("a file name cannot contain a NUL character")
        try:
            path = Path(value).expanduser()
        except RuntimeError:  # ~user of an unknown user
            raise refuse(f"no such file: {os.fspath(value)} (cannot expand ~)") from None
        if not path.is_absolute():
            base = (info.context or {}).get(SCENARIO_DIR)
            path = (Path(base) if base is not None else Path.cwd()) / path
        # exists, not is_file: a directory, FIFO or device is refused by name when it is read
        if not path.exists():
            where = "" if Path(value).is_absolute() else f" (looked in {path.parent})"
            raise refuse(f"no such file: {os.fspath(value)}{where}")
        try:
            return os.fspath(path.resolve())
        except (OSError, RuntimeError):  # a symlink loop
            raise refuse(f"cannot resolve the path {os.fspath(value)}") from None

    @model_validator(mode="after")
    def _read(self) -> Trace:
        times = _read_trace(self.file, self.column)
        if self.rebase and times.size:
            times = times - times[0]
        times = times / self.speed
        self._times = array("d", times.tolist())
        return self

    @property
    def times(self) -> np.ndarray:
        """Arrival times in seconds, sorted (a read-only view)."""
        if not self._times:  # built without validation (model_construct)
            times = _read_trace(self.file, self.column)
            self._times = array("d", ((times - times[0] if self.rebase else times) / self.speed).tolist())
        out = np.frombuffer(self._times, dtype=float)
        out.flags.writeable = False
        return out

    def expected(self, lo: float, hi: float) -> float:
        t = self.times
        return float(np.searchsorted(t, hi, side="left") - np.searchsorted(t, lo, side="left"))

    @property
    def mean_rate(self) -> float:
        """Timestamps per second of the trace's span (0 to the last one)."""
        t = self.times
        return t.size / t[-1] if t[-1] > 0 else 0.0  # all at 0: one burst, no long-run rate

    def __str__(self) -> str:
        return f"trace({Path(self.file).name}, {len(self._times)} arrivals)"


def _read_trace(file: str, column: int | str) -> np.ndarray:
    """Sorted timestamps from one CSV column; errors name the file and line."""
    relative = os.path.relpath(file)
    shown = file if relative.startswith("..") else relative

    def problem(line: int | None, reason: str) -> PydanticCustomError:
        where = f"{shown}:{line}" if line is not None else shown
        return PydanticCustomError("trace_file", "{reason}", {"reason": f"{where}: {reason}"})

    try:
        text = read_text(file, MAX_TRACE_BYTES, "trace file")
    except UnreadableFile as error:
        raise problem(error.line, error.reason) from None
    # Messages name lines and columns but never quote a cell: `trace: /etc/shadow` must not print it.
    values: list[float] = []
    index = column if isinstance(column, int) else None
    header_allowed = True
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            line = reader.line_num
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            if index is None:  # a named column: the first row must be the header naming it
                names = [c.strip() for c in row]
                if column not in names:
                    raise problem(line, f"no column {column!r} in the header row")
                index, header_allowed = names.index(str(column)), False
                continue
            if index >= len(row):
                raise problem(line, f"no column {index} (the row has {len(row)})")
            try:
                value = float(row[index])
            except ValueError:
                if header_allowed:
                    header_allowed = False
                    continue
                raise problem(line, f"column {index} is not a time in seconds (a number)") from None
            header_allowed = False
            if not math.isfinite(value) or value < 0:
                raise problem(line, f"a time must be a finite number of seconds ≥ 0, got {value:g}")
            values.append(value)
    except csv.Error as error:
        raise problem(reader.line_num or None, f"not valid CSV ({error})") from None
    if not values:
        raise problem(None, "no timestamps in the file")
    return np.sort(np.asarray(values, dtype=float), kind="stable")


# ---------------------------------------------------------------------------------------------
# Client-side rate limit


class RateLimit(Frozen):
    """A token bucket at the producer: ``burst`` tokens, refilled at ``rate``; each publish attempt takes one.

    The bucket starts full, so over any interval of length t from a full bucket at most
    ``burst + rate·t`` attempts go out. An attempt that finds no token is refused at the client
    (throttled) and the request ends there: it is not retried.
    """

    rate: PositiveRate
    burst: Int = Field(1, ge=1)


# ---------------------------------------------------------------------------------------------
# Scenario-wide rules


def sync_violations(producers: Mapping[str, Any], pools: Mapping[str, Any], queues: Sequence[str]) -> list[tuple[tuple[str | int, ...], str]]:
    """A queue that a ``sync: true`` producer targets is replaced by the workers' accept backlog.

    So every producer writing to it must be synchronous and no pool may publish to it.

    Parameters
    ----------
    producers : mapping of name to Producer
    pools : mapping of name to WorkerPool
    queues : sequence of str
        Known queue names (unknown targets are reported by the routing rules).
    """
    found: list[tuple[tuple[str | int, ...], str]] = []
    sync_queues = {p.to for p in producers.values() if getattr(p, "sync", False) and p.to in queues}
    for queue in sorted(sync_queues):
        writers = [n for n, p in producers.items() if p.to == queue]
        mixed = [n for n in writers if not producers[n].sync]
        for name in mixed:
            sync = [n for n in writers if producers[n].sync]
            found.append(((
                "producers", name, "sync"),
                f"queue {queue!r} is served inline for producer {sync[0]!r} (sync: true): every producer "
                "to it must be sync too, or give this one its own queue",
            ))
        for name, pool in pools.items():
            if pool.to == queue:
                found.append(((
                    "workers", name, "to"),
                    f"queue {queue!r} is served inline (a producer to it has sync: true): a worker pool cannot publish to it",
                ))
    return found
