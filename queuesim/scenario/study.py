"""The optional study sections of a scenario: what to vary (``sweep:``), the service-level objectives (``slo:``), how precise a run must be (``precision:``) and the prices (``cost:``).

Everything here is plain data and parsing; running a sweep or a plan lives in ``queuesim.experiment``
and ``queuesim.experiment.plan``. Checks that need the rest of the scenario (does ``workers.fulfl.count``
exist, is every swept value valid) run in :func:`study_violations`, which the scenario calls from
its whole-scenario rule, so they are reported with file and line like any other problem.
"""

from __future__ import annotations

import copy
import json
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, RootModel, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from queuesim.figures import limit_spec

from ._base import Frozen, Int, Loc, Violation, fail
from .limits import MAX_AXIS_VALUES, MAX_POINTS, MAX_REPLICATIONS
from .problems import validation_problems
from .routing import did_you_mean
from .units import DURATION_UNITS, RATE_UNITS, as_float, format_duration, format_rate, parse_duration
from .yaml_lines import load_value

if TYPE_CHECKING:
    from .model import Scenario

__all__ = [
    "Axis",
    "parse_axis",
    "SweepSpec",
    "Slo",
    "parse_slo_limit",
    "PrecisionSpec",
    "parse_precision",
    "DEFAULT_MAX_REPLICATIONS",
    "Cost",
    "slo_name_problems",
    "path_problem",
    "axis_value_problems",
    "set_path",
    "scenario_data",
    "study_violations",
]

# ---------------------------------------------------------------------------------------------
# Sweep axes: ``4..16``, ``200/s..2000/s:10``, ``redis,sqs``, ``[5ms, 10ms]``.

#: What the values of an axis are: plain numbers, durations (seconds), rates (per second), or other
#: YAML values (names, booleans, mappings), which the table holds as text.
AxisKind = Literal["number", "duration", "rate", "other"]

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_INT_RE = re.compile(r"^\s*[+-]?\d+\s*$")
_NUMBER_RE = re.compile(rf"^\s*{_NUMBER}\s*$")
_DURATION_RE = re.compile(rf"^\s*(?P<number>{_NUMBER})\s*(?P<unit>us|µs|ms|s|m|h)\s*$")
_RATE_RE = re.compile(rf"^\s*(?P<number>{_NUMBER})\s*/\s*(?P<unit>s|m|h)\s*$")
# Characters that make a spec a list or mapping rather than a range end.
_NOT_IN_RANGE = frozenset(",[]{}")

_RANGE_HINT = "write start..stop (integers, step 1), start..stop:count (count evenly spaced values) or a list a,b,c"


@dataclass(frozen=True)
class Axis:
    """One swept setting: a dotted scenario path and the values it takes.

    Attributes
    ----------
    path : str
        Where the values go, e.g. ``workers.fulfil.count``; also the name of its table column.
    spec : str
        The values as the user wrote them (``4..16``), for messages and reports.
    kind : {'number', 'duration', 'rate', 'other'}
        Durations are held in seconds and rates per second, like every figure in ``summary.json``.
    values : tuple
        The table value of each point: int or float for numbers, durations and rates (None for a
        null), the text as written for other values.
    settings : tuple
        What is written into the scenario data for each point: a duration or rate keeps its unit,
        so a value of the wrong unit is refused by validation rather than misread.
    labels : tuple of str
        Short readable forms for messages and plots (``250ms``, ``900/s``).
    """

    path: str
    spec: str
    kind: AxisKind
    values: tuple[Any, ...]
    settings: tuple[Any, ...]
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.values)


def _tidy(x: float) -> float:
    # 12 significant digits: 0.1 + 0.2 in a linspace prints and compares as 0.3.
    return float(f"{x:.12g}")


def _quantity(text: str) -> tuple[AxisKind, float | int] | None:
    """A number, duration or rate written as text; None for anything else."""
    if _INT_RE.match(text):
        return "number", int(text)
    if _NUMBER_RE.match(text):
        return "number", float(text)
    match = _DURATION_RE.match(text)
    if match:
        return "duration", float(match["number"]) * DURATION_UNITS[match["unit"]]
    match = _RATE_RE.match(text)
    if match:
        return "rate", float(match["number"]) / RATE_UNITS[match["unit"]]
    return None


def _label(kind: AxisKind, value: Any) -> str:
    if value is None:
        return "null"
    if kind == "duration":
        return format_duration(value)
    if kind == "rate":
        return format_rate(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _unit_of(text: str) -> str:
    match = _DURATION_RE.match(text) or _RATE_RE.match(text)
    return match["unit"] if match else ""


def _split_range(text: str) -> tuple[str, str, str | None] | None:
    """``start..stop[:count]`` split into its stripped parts, or None if it is not that shape.

    Split by hand rather than by a regular expression: a pattern with lazy groups between
    optional spaces backtracks for minutes on a few hundred spaces.
    """
    start, _, rest = text.partition("..")
    stop, colon, count = rest.partition(":")
    start, stop, count = start.strip(), stop.strip(), count.strip()
    if not start or not stop or ":" in count or _NOT_IN_RANGE.intersection(start + stop):
        return None
    return start, stop, count if colon else None


def _parse_range(parts: tuple[str, str, str | None], text: str) -> tuple[AxisKind, list[Any], list[Any], list[str]]:
    start_text, stop_text, count_text = parts
    start, stop = _quantity(start_text), _quantity(stop_text)
    for end_text, parsed in ((start_text, start), (stop_text, stop)):
        if parsed is None:
            raise ValueError(f"cannot read {end_text!r} in {text!r} as a number, duration (250ms) or rate (900/s)")
    assert start is not None and stop is not None
    (kind, a), (stop_kind, b) = start, stop
    if kind != stop_kind:
        raise ValueError(f"{text!r} starts with a {kind} and stops with a {stop_kind}; write both ends the same way")
    if count_text is None:
        if not (kind == "number" and isinstance(a, int) and isinstance(b, int)):
            raise ValueError(f"{text!r}: give the number of values, e.g. {start_text}..{stop_text}:10 (only integer ranges step by 1)")
        if b < a:
            raise ValueError(f"empty range {text!r}: {a} is above {b} (write {b}..{a})")
        if b - a + 1 > MAX_AXIS_VALUES:  # before listing them: 1..10**18 is a short string
            raise ValueError(f"{text!r} has {b - a + 1:,} values; an axis takes at most {MAX_AXIS_VALUES:,} (give a count: {start_text}..{stop_text}:100)")
        values: list[Any] = list(range(a, b + 1))
    else:
        if not _INT_RE.match(count_text):
            raise ValueError(f"count {count_text!r} in {text!r} must be a whole number of values")
        count = int(count_text)
        if count < 1:
            raise ValueError(f"empty range {text!r}: the count must be at least 1")
        if count > MAX_AXIS_VALUES:
            raise ValueError(f"{text!r} asks for {count:,} values; an axis takes at most {MAX_AXIS_VALUES:,}")
        if count == 1 and a != b:
            raise ValueError(f"{text!r}: one value cannot span {start_text}..{stop_text}; give a count of 2 or more")
        # Space the values in the unit the range starts in, so 5ms..20ms:4 writes 5ms, 10ms, 15ms, 20ms.
        unit = _unit_of(start_text)
        scale = DURATION_UNITS[unit] if kind == "duration" else 1 / RATE_UNITS[unit] if kind == "rate" else 1.0
        step = 0.0 if count == 1 else (b - a) / scale / (count - 1)
        written = [_tidy(a / scale + i * step) for i in range(count)]
        if kind == "number":
            integral = isinstance(a, int) and isinstance(b, int) and all(v.is_integer() for v in written)
            values = [int(v) for v in written] if integral else written
            return kind, values, list(values), [_label(kind, v) for v in values]
        settings = [f"{v:.12g}{unit}" if kind == "duration" else f"{v:.12g}/{unit}" for v in written]
        values = [_quantity(t)[1] for t in settings]  # type: ignore[index]
        return kind, values, settings, [_label(kind, v) for v in values]
    return kind, values, list(values), [_label(kind, v) for v in values]


def _items(spec: Any) -> list[Any] | None:
    """The items of a list spec (a YAML list, ``[a, b]`` or ``a,b,c`` text); None if ``spec`` is one value."""
    if isinstance(spec, (list, tuple)):
        return list(spec)
    if isinstance(spec, str):
        stripped = spec.strip()
        if stripped.startswith("["):
            try:
                loaded = load_value(stripped)
            except ValueError as error:
                raise ValueError(f"cannot read {spec!r} as a YAML list: {error}") from None
            if not isinstance(loaded, list):  # `[a] b` is text that starts with a bracket
                raise ValueError(f"cannot read {spec!r} as a YAML list")
            return loaded
        if "," in stripped and not stripped.startswith("{"):
            items = []
            for part in stripped.split(","):
                if not part.strip():
                    raise ValueError(f"empty item in the list {spec!r}")
                try:
                    items.append(load_value(part))
                except ValueError:
                    items.append(part.strip())
            return items
    return None


def _json(value: Any, separators: tuple[str, str] | None = None) -> str:
    """JSON text of a value, for labels and duplicate checks; repr for what JSON cannot hold (non-text keys, cycles)."""
    try:
        return json.dumps(value, separators=separators, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _classify(item: Any) -> tuple[AxisKind | None, Any, Any, str]:
    """(kind, table value, setting, label) of one listed item; kind None for a null."""
    if item is None:
        return None, None, None, "null"
    if not isinstance(item, bool) and isinstance(item, numbers.Real):
        value = int(item) if isinstance(item, numbers.Integral) else float(item)
        return "number", value, value, _label("number", value)
    if isinstance(item, str):
        found = _quantity(item)
        if found is not None:
            kind, value = found
            return kind, value, item.strip(), item.strip()
        return "other", item, item, item
    text = _json(item, separators=(", ", ": ")) if isinstance(item, (Mapping, list, tuple)) else str(item).lower()
    return "other", text, item, text


def parse_axis(path: str, spec: Any) -> Axis:
    """Read the values of one swept path.

    Parameters
    ----------
    path : str
        Dotted scenario path, e.g. ``'producers.web.rate'``.
    spec : str, number or list
        ``'4..16'`` (integers, step 1), ``'200/s..2000/s:10'`` (10 evenly spaced values, ends
        included), ``'redis,sqs'`` or a list (each item read as YAML, like ``--set``), or a
        single value.

    Returns
    -------
    Axis

    Raises
    ------
    ValueError
        With a user-facing message: unreadable or empty range, ends of different units, a list
        mixing units, a repeated value.

    Examples
    --------
    >>> parse_axis("workers.fulfil.count", "4..6").values
    (4, 5, 6)
    >>> parse_axis("producers.web.rate", "200/s..2000/s:3").values
    (200.0, 1100.0, 2000.0)
    """
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        raise ValueError(f"no values; {_RANGE_HINT}")
    shown = spec if isinstance(spec, str) else _json(spec)
    items = _items(spec)
    if items is None and isinstance(spec, str) and ".." in spec:
        parts = _split_range(spec)
        if parts is None:
            raise ValueError(f"cannot read {spec!r} as a range; {_RANGE_HINT}")
        range_kind, values, settings, labels = _parse_range(parts, spec)
        return Axis(path, shown, range_kind, tuple(values), tuple(settings), tuple(labels))
    if items is None:
        try:
            items = [load_value(spec) if isinstance(spec, str) else spec]
        except ValueError as error:
            raise ValueError(f"cannot read {spec!r} as a value: {error}") from None
    if not items:
        raise ValueError(f"empty list: give at least one value; {_RANGE_HINT}")
    if len(items) > MAX_AXIS_VALUES:
        raise ValueError(f"{len(items):,} values; an axis takes at most {MAX_AXIS_VALUES:,}")
    classified = [_classify(item) for item in items]
    kinds = {k for k, *_ in classified if k is not None}
    quantities = kinds & {"number", "duration", "rate"}
    if len(quantities) > 1 and "other" not in kinds:
        mixed = " and ".join(f"{q}s" for q in sorted(quantities))
        raise ValueError(f"{shown!r} mixes {mixed}; write every value with the same unit")
    kind: AxisKind = kinds.pop() if len(kinds) == 1 else ("number" if not kinds else "other")
    # One type per table column: quantities keep their numbers, anything else is held as its text.
    values = [label for *_, label in classified] if kind == "other" else [v for _, v, _, _ in classified]
    settings = [s for _, _, s, _ in classified]
    labels = [label for *_, label in classified]
    seen: dict[Any, str] = {}
    for value, label in zip(values, labels, strict=True):
        key = _json(value)
        if key in seen:
            raise ValueError(f"{label!r} is listed twice in {shown!r}" + (f" (as {seen[key]!r})" if seen[key] != label else ""))
        seen[key] = label
    return Axis(path, shown, kind, tuple(values), tuple(settings), tuple(labels))


def _checked_axis_spec(value: Any) -> Any:
    # Only the path is known here through the dict key, so parse with a placeholder path.
    try:
        parse_axis("", value)
    except ValueError as error:
        raise PydanticCustomError("sweep_values", "{reason}", {"reason": str(error)}) from None
    return list(value) if isinstance(value, tuple) else value


#: A swept path's values as written: ``'4..16'``, ``'200/s..2000/s:10'``, ``'a,b'`` or a list.
AxisSpec = Annotated[Any, BeforeValidator(_checked_axis_spec)]


class SweepSpec(Frozen):
    """The ``sweep:`` section: a grid of scenario variants, run with the scenario's replications.

    ``vary`` maps dotted scenario paths to values; the grid is their product, first path
    slowest. ``seeds: common`` (the default) runs every point with the scenario's seed, so points
    differ only in what is varied (common random numbers: comparisons between points are much
    less noisy); ``independent`` gives each point its own seed, derived from the point's values.
    """

    vary: Annotated[dict[str, AxisSpec], Field(min_length=1)]
    seeds: Literal["common", "independent"] = "common"

    def axes(self) -> list[Axis]:
        """The parsed axes, in file order."""
        return [parse_axis(path, spec) for path, spec in self.vary.items()]


# ---------------------------------------------------------------------------------------------
# SLOs: upper limits keyed by summary.json paths (queuesim.figures says which figures take one).


def _fraction(value: Any, path: str) -> float:
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%") and _NUMBER_RE.match(text[:-1]):
            value = float(text[:-1]) / 100
        elif _DURATION_RE.match(text) or _RATE_RE.match(text):
            raise ValueError(f"{path} is a fraction (write 0.001 or 0.1%), not {'a duration' if _DURATION_RE.match(text) else 'a rate'}")
        else:
            raise ValueError(f"expected a fraction like 0.001 or 0.1%, got {value!r}")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(as_float(value)):
        raise ValueError(f"expected a fraction like 0.001 or 0.1%, got {value!r}")
    if not 0 <= value <= 1:
        raise ValueError(f"must be between 0 and 1 (a fraction: 0.001 or 0.1%), got {value!r}")
    return float(value)


def parse_slo_limit(path: str, value: Any) -> float:
    """Parse the limit of one SLO to a float: seconds for latencies, a fraction for rates.

    Parameters
    ----------
    path : str
        summary.json dotted path, e.g. ``'latency.end_to_end.p99'``.
    value : number or str
        ``500ms`` or 0.5 (seconds) for a latency; 0.001 or ``'0.1%'`` for a rate or utilization;
        a number for a depth.

    Raises
    ------
    ValueError
        For an unknown path or a value of the wrong kind.
    """
    kind = limit_spec(path).kind  # which figures take a limit, and their kinds, are the catalogue's
    if kind == "duration":
        if isinstance(value, str) and (_RATE_RE.match(value) or value.strip().endswith("%")):
            raise ValueError(f"{path} is a latency: give a duration like 500ms, got {value!r}")
        return parse_duration(value)
    if kind == "fraction":
        return _fraction(value, path)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(as_float(value)) and value >= 0:
        return float(value)
    raise ValueError(f"expected a number of messages ≥ 0, got {value!r}")


class Slo(RootModel[dict[str, float]]):
    """The ``slo:`` section: upper limits keyed by summary.json dotted paths.

    ``{latency.end_to_end.p99: 500ms, rates.rejection: 0.001, rates.loss: 0}``: a point meets the
    SLO when every figure is at or below its limit. Limits are held in summary units (seconds,
    fractions).
    """

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _parse_limits(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data  # pydantic reports "must be a mapping"
        parsed: dict[str, float] = {}
        found: list[Violation] = []
        for path, value in data.items():
            try:
                parsed[str(path)] = parse_slo_limit(str(path), value)
            except ValueError as error:
                found.append(((str(path),), str(error)))
        fail("Slo", found, data)
        return parsed

    @property
    def limits(self) -> dict[str, float]:
        """Path → limit, in file order."""
        return dict(self.root)

    def __iter__(self) -> Any:
        return iter(self.root)

    def __len__(self) -> int:
        return len(self.root)


# ---------------------------------------------------------------------------------------------
# Precision: how many replications a run needs (queuesim.experiment.precision runs the rule).

#: Most replications a precision-driven run or a plan candidate adds up to, unless told otherwise.
DEFAULT_MAX_REPLICATIONS = 50


def parse_precision(value: Any) -> float:
    """A relative half-width: ``2%`` or 0.02, strictly between 0 and 1.

    Raises
    ------
    ValueError
        For anything else.
    """
    if isinstance(value, str) and not value.strip().endswith("%"):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"expected a relative half-width like 2% or 0.02, got {value!r}") from None
    target = _fraction(value, "precision")
    if not 0 < target < 1:
        raise ValueError(f"must be above 0 and below 100% (a relative half-width like 2%), got {value!r}")
    return target


class PrecisionSpec(Frozen):
    """The ``precision:`` section: keep adding replications until every SLO figure (without an SLO: the
    mean and p99 end-to-end latency and the throughput) has a 95% interval whose half-width is at
    most ``target`` of its value, or ``max_replications`` are done.

    ``precision: 2%`` is short for ``precision: {target: 2%}``.
    """

    target: Annotated[float, BeforeValidator(parse_precision)]
    max_replications: Int = Field(DEFAULT_MAX_REPLICATIONS, ge=2, le=MAX_REPLICATIONS)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return data if isinstance(data, Mapping) else {"target": data}


# ---------------------------------------------------------------------------------------------
# Prices.


def _price(value: Any) -> Any:
    def one(x: Any, where: str) -> float:
        if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(as_float(x)) and x >= 0:
            return float(x)
        raise PydanticCustomError("price", "{reason}", {"reason": f"{where}must be a price ≥ 0, got {x!r}"})

    if isinstance(value, Mapping):
        return {str(k): one(v, f"{k}: ") for k, v in value.items()}
    if not isinstance(value, bool) and isinstance(value, numbers.Real):
        return one(value, "")
    raise PydanticCustomError("price", "{reason}", {"reason": f"must be a price ≥ 0 or a mapping of names to prices, got {value!r}"})


#: A price, or one price per pool / queue name.
Price = Annotated[float | dict[str, float], BeforeValidator(_price)]


class Cost(Frozen):
    """The ``cost:`` section: prices that turn a run into money per hour.

    ``worker_per_hour`` is the price of one worker (one number for every pool, or per pool name);
    ``broker_per_million_requests`` prices broker API calls (one number, or per queue name). A
    request is a publish (accepted or refused), a receive or a delete, SQS-style without
    batching; idle polls are not counted.
    """

    currency: str = "USD"
    worker_per_hour: Price = 0.0
    broker_per_million_requests: Price = 0.0

    def worker_price(self, pool: str) -> float:
        """Price per hour of one worker of ``pool``."""
        p = self.worker_per_hour
        return p.get(pool, 0.0) if isinstance(p, dict) else p

    def broker_price(self, queue: str) -> float:
        """Price per million requests on ``queue``."""
        p = self.broker_per_million_requests
        return p.get(queue, 0.0) if isinstance(p, dict) else p


# ---------------------------------------------------------------------------------------------
# Checks against the whole scenario.


def path_problem(data: Any, path: str) -> str | None:
    """Why ``path`` does not name a setting of the scenario data, or None if it does.

    Parameters
    ----------
    data : mapping
        ``Scenario.to_dict()``: every field, defaults included, so an unset optional field
        (``queues.orders.capacity``) still has a path.
    path : str
        Dotted path, e.g. ``'workers.fulfil.count'``.
    """
    if not path or any(not part for part in path.split(".")):
        return f"empty key in path {path!r}"
    parts = path.split(".")
    if parts[0] in ("sweep",):
        return "the sweep section cannot itself be swept"
    node = data
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth]) or "the scenario"
        if isinstance(node, list):
            if not (part.isascii() and part.isdigit() and int(part) < len(node)):
                return f"unknown path {path!r}: {where} is a list of {len(node)}; {part!r} is not an index into it"
            node = node[int(part)]
        elif isinstance(node, Mapping):
            if part not in node:
                keys = [str(k) for k in node]
                hint = did_you_mean(part, keys)
                if hint:
                    return f"unknown path {path!r}: {where} has no {part!r}{hint}"
                return f"unknown path {path!r}: {where} has no {part!r}; it has {', '.join(keys)}"
            node = node[part]
        else:
            return f"unknown path {path!r}: {where} is {node!r}, not a mapping"
    return None


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at a dotted ``path`` inside ``data``, creating missing mappings (lists are indexed by number)."""
    parts = path.split(".")
    node: Any = data
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
        else:
            if not isinstance(node.get(part), (dict, list)):
                node[part] = {}
            node = node[part]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def scenario_data(scenario: Scenario) -> dict[str, Any]:
    """The scenario as its author wrote it, as plain data, without its ``sweep`` section: the base of every variant.

    Only fields that were set are kept, so a variant can change a kind (``queues.orders.broker``
    from redis to sqs) without the defaults of the old kind (redis' ``mode``) coming along.
    """
    data = scenario.model_dump(mode="json", by_alias=True, exclude_unset=True)
    data.pop("sweep", None)
    return data


def axis_value_problems(scenario: Scenario, axis: Axis, limit: int = 3) -> list[str]:
    """Validate each value of an axis alone on the scenario; messages for the ones that fail.

    Parameters
    ----------
    scenario : Scenario
        The base scenario; its ``sweep`` section is ignored.
    axis : Axis
        Its path must exist (see :func:`path_problem`).
    limit : int, default 3
        Messages kept, at most one per failing field.

    Returns
    -------
    list of str
        ``'<value>: <message>'``, naming the field when the failure is elsewhere (``warmup``).
    """
    base = scenario_data(scenario)
    found: list[str] = []
    seen: set[str] = set()
    for setting, label in zip(axis.settings, axis.labels, strict=True):
        data = copy.deepcopy(base)
        set_path(data, axis.path, setting)
        try:
            type(scenario).model_validate(data)
        except ValidationError as error:
            for problem in validation_problems(error, type(scenario), source="", data=data, lines={}):
                if problem.field in seen:  # one message per field: a wrong unit fails every value alike
                    continue
                seen.add(problem.field)
                where = "" if problem.field in ("", axis.path) else f"{problem.field}: "
                found.append(f"value {label}: {where}{problem.message}")
        if len(found) >= limit:
            break
    return found[:limit]


def _name_problem(kind: str, name: str, names: Sequence[str]) -> str:
    hint = did_you_mean(name, names)
    return f"unknown {kind} {name!r}{hint}" if hint else f"unknown {kind} {name!r}; {kind}s are: {', '.join(names)}"


def slo_name_problems(slo: Slo, queues: Sequence[str], pools: Sequence[str],
                      producers: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """(path, message) for each SLO on ``queues.<name>``, ``workers.<name>`` or ``producers.<name>`` whose name is not in the scenario."""
    found = []
    for path in slo:
        kind, name = path.split(".")[:2]
        if kind == "queues" and name not in queues:
            found.append((path, _name_problem("queue", name, queues)))
        elif kind == "workers" and name not in pools:
            found.append((path, _name_problem("worker pool", name, pools)))
        elif kind == "producers" and producers is not None and name not in producers:
            found.append((path, _name_problem("producer", name, producers)))
    return found


def study_violations(scenario: Scenario, check_values: bool = True) -> list[Violation]:
    """Problems of the sweep, slo, precision and cost sections that need the rest of the scenario.

    Parameters
    ----------
    scenario : Scenario
        Validated field by field.
    check_values : bool, default True
        Also validate each swept value on the scenario (skipped while other whole-scenario rules
        fail, as every value would fail with them).

    Returns
    -------
    list of (loc, message)
    """
    found: list[Violation] = []
    queues, pools = list(scenario.queues), list(scenario.workers)
    if scenario.slo is not None:
        found += [(("slo", path), message)
                  for path, message in slo_name_problems(scenario.slo, queues, pools, list(scenario.producers))]
    if scenario.precision is not None and scenario.precision.max_replications < scenario.replications:
        found.append((("precision", "max_replications"),
                      f"must be ≥ replications ({scenario.replications}): the run starts with those"))
    if scenario.cost is not None:
        for field, kind, names in (("worker_per_hour", "worker pool", pools), ("broker_per_million_requests", "queue", queues)):
            prices = getattr(scenario.cost, field)
            if isinstance(prices, dict):
                for name in prices:
                    if name not in names:
                        found.append((("cost", field, name), _name_problem(kind, name, names)))
                missing = [n for n in names if n not in prices]
                if missing:
                    found.append((("cost", field), f"no price for {', '.join(missing)}: price every {kind}, or give one number for all"))
    if scenario.sweep is not None:
        data = scenario.to_dict()  # every field, defaults included, so an unset option still has a path
        valid: list[tuple[Loc, Axis]] = []
        for path, spec in scenario.sweep.vary.items():
            loc: Loc = ("sweep", "vary", path)
            problem = path_problem(data, path)
            if problem is not None:
                found.append((loc, problem))
            else:
                valid.append((loc, parse_axis(path, spec)))
        points = math.prod(len(axis) for _, axis in valid)
        if points > MAX_POINTS:
            found.append((("sweep", "vary"), f"the grid has {points:,} points; a sweep runs at most {MAX_POINTS:,}"))
        if check_values and not found:  # with other problems every value would fail with them
            for loc, axis in valid:
                found += [(loc, message) for message in axis_value_problems(scenario, axis)]
    return found

