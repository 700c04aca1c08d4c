"""Service-level objectives: upper limits on summary.json figures, parsed with located errors and checked against a run.

Each limit gets a verdict from the figure's 95% interval (``ci95``): met when the interval is at
or below the limit, not met when it is wholly above, borderline when it contains the limit (more
replications, ``--precision``, would settle it). ``met`` on a check or a report is the plain
comparison of the estimate, kept for the ``slo.met`` columns.

>>> from queuesim.experiment.slo import parse_slo, check_slo
>>> slo = parse_slo(["latency.end_to_end.p99=500ms", "rates.rejection=0.1%"])
>>> slo.limits
{'latency.end_to_end.p99': 0.5, 'rates.rejection': 0.001}
>>> check_slo(result.summary, slo).verdict                  # doctest: +SKIP
'met'
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from queuesim.errors import Problem, ScenarioError
from queuesim.figures import (
    VERDICTS,
    Kind,
    Verdict,
    format_figure,
    limit_spec,
    percentile_floor,
    summary_value,
    verdict,
    worst,
)
from queuesim.scenario import Scenario
from queuesim.scenario.study import Slo, slo_name_problems
from queuesim.scenario.yaml_lines import load_value

__all__ = ["Slo", "SloCheck", "SloReport", "Verdict", "VERDICTS", "worst", "parse_slo", "merge_slo", "check_slo"]


@dataclass(frozen=True)
class SloCheck:
    """One limit checked against one run.

    ``value`` is None when the run has no such figure (no message completed, so no latency):
    that counts as not met, since nothing shows the limit holds. ``ci95`` is the figure's 95%
    interval from summary.json; ``interval`` says whether the catalogue gives the figure one at
    all (every mean, percentile, rate, depth and utilization; not the maxima).
    """

    path: str
    kind: Kind
    limit: float
    value: float | None
    ci95: tuple[float, float] | None = None
    interval: bool = True
    #: For a percentile without an interval, a 95% lower bound from the lower percentiles' intervals.
    floor: float | None = None

    @property
    def met(self) -> bool:
        """Whether the figure's estimate is at or below its limit (the point comparison, noise aside)."""
        return self.value is not None and self.value <= self.limit

    @property
    def clear_cut(self) -> bool:
        """Whether the 95% interval lies wholly on one side of the limit (False without an interval)."""
        if self.ci95 is None:
            return False
        low, high = self.ci95
        return high <= self.limit or low > self.limit

    @property
    def verdict(self) -> Verdict:
        """``met`` when the whole 95% interval is at or below the limit, ``not met`` when it is wholly
        above, ``borderline`` when it straddles the limit (:func:`queuesim.figures.verdict`).

        A figure the catalogue gives an interval but this run could not (too few samples beyond a
        percentile) is borderline, unless a lower percentile's interval is already above the limit
        (``floor``): then it is not met. A maximum has no interval and is judged on its value. No
        value at all is not met.
        """
        return verdict(self.value, self.limit, self.ci95, self.interval, self.floor)

    def __str__(self) -> str:
        sign = "≤" if self.met else ">"
        mark = {"met": "met", "borderline": "borderline", "not met": "NOT met"}[self.verdict]
        text = f"{self.path} = {format_figure(self.kind, self.value)} {sign} {format_figure(self.kind, self.limit)}: {mark}"
        if self.verdict == "borderline":
            text += (f" (95% CI {format_figure(self.kind, self.ci95[0])} … {format_figure(self.kind, self.ci95[1])})"
                     if self.ci95 is not None else " (no interval)")
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; ``met`` is the point comparison, ``verdict`` the one that allows for noise."""
        return {
            "path": self.path,
            "limit": self.limit,
            "value": self.value,
            "ci95": list(self.ci95) if self.ci95 else None,
            "met": self.met,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class SloReport:
    """Every limit of an SLO checked against one run; ``met`` when all are."""

    checks: tuple[SloCheck, ...]

    @property
    def met(self) -> bool:
        """Whether every limit holds on the estimates (the point comparison)."""
        return all(c.met for c in self.checks)

    @property
    def verdict(self) -> Verdict:
        """The worst verdict of the limits: ``met`` only when every interval is at or below its limit."""
        return worst(c.verdict for c in self.checks)

    @property
    def failed(self) -> list[SloCheck]:
        """The limits that do not hold."""
        return [c for c in self.checks if not c.met]

    def __iter__(self) -> Iterator[SloCheck]:
        return iter(self.checks)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: ``{"met": bool, "verdict": ..., "checks": [...]}``."""
        return {"met": self.met, "verdict": self.verdict, "checks": [c.to_dict() for c in self.checks]}


def _from_strings(items: Sequence[str], source: str) -> tuple[dict[str, Any], list[Problem]]:
    limits: dict[str, Any] = {}
    problems = []
    for text in items:
        path, sep, raw = text.partition("=")
        if not sep or not path.strip():
            problems.append(Problem(source, None, "", f"expected path=limit, like latency.end_to_end.p99=500ms, got {text!r}"))
            continue
        try:
            limits[path.strip()] = load_value(raw)  # the loader --set uses: no tag or control-character tracebacks
        except ValueError:
            limits[path.strip()] = raw.strip()
    return limits, problems


def parse_slo(
    limits: Slo | Mapping[str, Any] | Sequence[str],
    scenario: Scenario | None = None,
    source: str = "--slo",
) -> Slo:
    """Read SLO limits from a mapping or ``path=limit`` strings (the CLI's ``--slo``).

    Parameters
    ----------
    limits : Slo, mapping or sequence of str
        ``{'latency.end_to_end.p99': '500ms'}`` or ``['rates.rejection=0.1%']``.
    scenario : Scenario, optional
        When given, ``queues.<name>`` and ``workers.<name>`` paths must name its queues and pools.
    source : str, default '--slo'
        Where problems say the limits came from.

    Returns
    -------
    Slo

    Raises
    ------
    ScenarioError
        Listing every unknown path (with did-you-mean) and every limit of the wrong kind.
    """
    if isinstance(limits, Slo):
        slo = limits
        problems: list[Problem] = []
    else:
        if isinstance(limits, Mapping):
            raw, problems = dict(limits), []
        else:
            raw, problems = _from_strings(list(limits), source)
        try:
            slo = Slo.model_validate(raw)
        except ValidationError as error:
            for item in error.errors():
                path = ".".join(str(p) for p in item["loc"])
                problems.append(Problem(source, None, path, str(item["msg"])))
            raise ScenarioError(problems) from None
    if scenario is not None:
        problems += [Problem(source, None, p, m) for p, m in slo_name_problems(slo, list(scenario.queues), list(scenario.workers),
                                                                                   list(scenario.producers))]
    if problems:
        raise ScenarioError(problems)
    return slo


def merge_slo(scenario: Scenario, extra: Slo | Mapping[str, Any] | Sequence[str] | None = None) -> Slo | None:
    """The scenario's ``slo:`` with ``extra`` limits added (an extra limit on the same path wins).

    Returns
    -------
    Slo or None
        None when neither has a limit.
    """
    merged = dict(scenario.slo.limits) if scenario.slo is not None else {}
    if extra is not None:
        merged.update(parse_slo(extra, scenario).limits)
    return Slo.model_validate(merged) if merged else None


def check_slo(summary: Mapping[str, Any], slo: Slo | Mapping[str, Any]) -> SloReport:
    """Check a run's summary.json figures against every limit.

    Parameters
    ----------
    summary : mapping
        ``RunResult.summary``.
    slo : Slo or mapping
        The limits; a mapping is parsed with :func:`parse_slo`.

    Returns
    -------
    SloReport

    Raises
    ------
    KeyError
        If the summary has no figure at a limited path (a queue or pool the run does not have).
    """
    parsed = slo if isinstance(slo, Slo) else parse_slo(slo)
    intervals = summary.get("ci95") or {}
    checks = []
    for path, limit in parsed.limits.items():
        value = summary_value(summary, path)
        ci = intervals.get(path)
        entry = limit_spec(path)
        checks.append(
            SloCheck(
                path=path,
                kind=entry.kind,
                limit=limit,
                value=None if value is None else float(value),
                ci95=(float(ci[0]), float(ci[1])) if ci and ci[0] is not None and ci[1] is not None else None,
                interval=entry.ci,
                floor=percentile_floor(summary, path),
            )
        )
    return SloReport(tuple(checks))
