"""Precision-driven replications: whether a run's figures are known well enough, and how many replications to run next.

One rule serves ``queuesim run --precision`` (and ``precision:`` in a scenario) and every plan
candidate, so that a verdict is decided by the figures rather than by sampling noise:

* a figure is *precise* when the half-width of its 95% interval is at most ``target`` of its value
  (the relative half-width ``(high − low) / 2 / |value|``);
* with ``settle`` (what ``plan`` asks), a limited figure also needs its interval wholly on one
  side of its limit: a borderline verdict gets more replications;
* while some figure is neither, replications are added in rounds sized from how far the widest
  interval is from what it needs (a half-width shrinks as one over the square root of the
  replications), at most ``MAX_GROWTH`` times more per round, up to ``max_replications``; a run
  that stops there is *capped* and says what it reached;
* the figures are the SLO's limits, or without an SLO the headline ones (:data:`HEADLINE`).

>>> rule = PrecisionRule(target=0.02)
>>> rule.next_replications(summary, slo=None)          # doctest: +SKIP
8
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from queuesim.errors import Problem, ScenarioError
from queuesim.experiment.slo import Slo, check_slo
from queuesim.figures import spec, value_or_none
from queuesim.metrics.stats import BATCHES, t975
from queuesim.scenario import Scenario
from queuesim.scenario.limits import MAX_REPLICATIONS
from queuesim.scenario.study import DEFAULT_MAX_REPLICATIONS, parse_precision

__all__ = ["PrecisionRule", "HEADLINE", "MAX_GROWTH", "FIRST_ROUND", "PRECISION_SOURCE", "relative_half_width",
           "precision_rule", "describe_reached"]

#: Figures made precise when there is no SLO: what a reader of the run looks at first.
HEADLINE = ("latency.end_to_end.mean", "latency.end_to_end.p99", "rates.throughput")
#: The most a round multiplies the replications by: the projection from one noisy interval to
#: the next is rough, so it is checked before committing more.
MAX_GROWTH = 4.0
#: Replications a single run first grows to: with two or three replications the t quantile (12.7
#: for two) makes intervals wider than the ten batches of the one run were.
FIRST_ROUND = 4
#: Where problems with the target come from.
PRECISION_SOURCE = "--precision"


def relative_half_width(summary: Mapping[str, Any], path: str) -> float | None:
    """Half-width of a figure's 95% interval over its value: ``(high − low) / 2 / |value|``.

    Returns
    -------
    float or None
        ``inf`` when the figure has a value but no interval (too few samples or replications),
        0 for an interval of no width; None when the run has no such figure (no value).
    """
    value = value_or_none(summary, path)
    if value is None:
        return None
    ci = (summary.get("ci95") or {}).get(path)
    if not ci or ci[0] is None or ci[1] is None:
        return math.inf
    half = (float(ci[1]) - float(ci[0])) / 2
    if half <= 0:
        return 0.0
    return math.inf if value == 0 else half / abs(float(value))


@dataclass(frozen=True)
class PrecisionRule:
    """When a run's figures are known well enough, and how many replications to run next.

    Attributes
    ----------
    target : float or None
        Largest relative half-width of a figure's 95% interval (0.02 for ``2%``); None to only
        settle verdicts.
    settle : bool
        Also add replications while a limited figure's interval straddles its limit.
    max_replications : int
        The cap.
    """

    target: float | None = None
    settle: bool = False
    max_replications: int = DEFAULT_MAX_REPLICATIONS

    def figures(self, slo: Slo | None) -> list[str]:
        """The figures the rule watches: the SLO's limited ones, else :data:`HEADLINE`."""
        return list(slo.limits) if slo is not None and len(slo) else list(HEADLINE)

    def shortfall(self, summary: Mapping[str, Any], slo: Slo | None) -> dict[str, float]:
        """For each figure that is not precise or not settled, how many times the replications it
        needs (an estimate, ``inf`` when its interval is missing or its value sits on the limit).

        A figure the run has no value of (a response time without waiting clients) or that the
        catalogue gives no interval (a maximum) cannot be improved by replications and is left out.
        """
        need: dict[str, float] = {}
        for path in self.figures(slo):
            if not spec(path).ci:
                continue
            rel = relative_half_width(summary, path)
            if rel is None:
                continue
            if self.target is not None and rel > self.target:
                need[path] = (rel / self.target) ** 2
        if self.settle and slo is not None:
            for check in check_slo(summary, slo):
                if check.verdict != "borderline" or not check.interval or check.value is None:
                    continue
                factor = math.inf
                if check.ci95 is not None and check.value != check.limit:
                    low, high = check.ci95
                    # the side of the interval that reaches across the limit has to shrink to it
                    reach = high - check.value if check.limit > check.value else check.value - low
                    factor = (reach / abs(check.limit - check.value)) ** 2
                need[check.path] = max(need.get(check.path, 1.0), factor)
        return need

    def next_replications(self, summary: Mapping[str, Any], slo: Slo | None) -> int | None:
        """How many replications the next round should reach, or None when done (precise and
        settled, or at the cap)."""
        current = int(summary["replications"])
        need = self.shortfall(summary, slo)
        if not need or current >= self.max_replications:
            return None
        # The intervals are t-intervals: with few replications (or one run's ten batches) t is
        # well above its limit 1.96, which more replications also remove; 1.1 is a margin, the
        # projection being made from noisy intervals.
        t_now = t975(current - 1 if current >= 2 else BATCHES - 1)
        growth = min(MAX_GROWTH, 1.1 * max(need.values()) * (1.959964 / t_now) ** 2)
        wanted = max(math.ceil(current * growth), current + 1, FIRST_ROUND if current == 1 else 0)
        return min(self.max_replications, wanted)

    def report(self, summary: Mapping[str, Any], slo: Slo | None) -> dict[str, Any]:
        """The ``precision`` block of summary.json: what the run reached against the rule.

        ``reached`` is each figure's relative half-width (None without a value, ``null`` in JSON
        for a missing interval too); ``met`` says whether every figure is precise and settled;
        ``capped`` whether the run stopped at ``max_replications`` short of that.
        """
        reached = {}
        for path in self.figures(slo):
            rel = relative_half_width(summary, path)
            reached[path] = None if rel is None or math.isinf(rel) else rel
        met = not self.shortfall(summary, slo)
        return {
            "target": self.target,
            "settle": self.settle,
            "reached": reached,
            "met": met,
            "replications": int(summary["replications"]),
            "max_replications": self.max_replications,
            "capped": not met and int(summary["replications"]) >= self.max_replications,
        }


def precision_rule(
    scenario: Scenario,
    precision: float | str | None = None,
    max_replications: int | None = None,
    *,
    settle: bool = False,
) -> PrecisionRule | None:
    """The rule a run of ``scenario`` follows: ``precision`` (``'2%'``, 0.02) or the scenario's ``precision:``.

    Returns
    -------
    PrecisionRule or None
        None when neither asks for a target and ``settle`` is off (a run of fixed replications).

    Raises
    ------
    ScenarioError
        For a target that is not a relative half-width in (0, 1), or a cap below the scenario's
        replications.
    """
    own = scenario.precision
    target = own.target if own is not None else None
    if precision is not None:
        try:
            target = parse_precision(precision)
        except ValueError as error:
            raise ScenarioError([Problem(PRECISION_SOURCE, None, "", str(error))]) from None
    cap = max_replications if max_replications is not None else own.max_replications if own is not None else DEFAULT_MAX_REPLICATIONS
    if not max(2, scenario.replications) <= cap <= MAX_REPLICATIONS:
        raise ScenarioError([Problem("--max-replications", None, "",
                                     f"must be ≥ 2, ≥ the scenario's replications ({scenario.replications}) "
                                     f"and ≤ {MAX_REPLICATIONS:,}, got {cap}")])
    if target is None and not settle:
        return None
    return PrecisionRule(target=target, settle=settle, max_replications=cap)


def describe_reached(block: Mapping[str, Any], paths: Sequence[str] | None = None) -> str:
    """One line on what a precision block reached, for the CLI: ``'12 replications; ± 1.8% … (target 2%)'``."""
    reached = block.get("reached") or {}
    parts = [f"{p} ±{'?' if v is None else f'{v:.1%}'}" for p, v in reached.items() if paths is None or p in paths]
    target = block.get("target")
    head = f"{block.get('replications')} replication(s)"
    if target is not None:
        head += f", target ±{target:.1%}"
    state = "reached" if block.get("met") else ("capped at max_replications" if block.get("capped") else "not reached")
    return f"{head}: {state}; " + ", ".join(parts)
