"""The SLO of a report: its limits (from the scenario, the sweep and ``--slo``) checked against a summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from queuesim.figures import Verdict, find, percentile_floor, value_or_none, verdict
from queuesim.report.formatting import as_number, figure_formatter
from queuesim.report.render import Block, Cell, Tone, table

__all__ = ["Check", "check_limits", "fmt_ci", "stored_limits", "verdict_cell", "verdict_of"]

#: How a verdict shows in a report's tables: the word and its tone.
VERDICT_CELLS: dict[Verdict, tuple[str, Tone]] = {"met": ("met", "ok"), "borderline": ("borderline", "warn"),
                                                 "not met": ("NOT met", "bad")}


def verdict_of(stored: Mapping[str, Any]) -> Verdict:
    """The verdict a stored check or evaluation holds (``verdict``); files written before verdicts
    existed have only ``met``/``meets_slo``, the estimate against the limit, read as met / not met."""
    v = stored.get("verdict")
    for known in VERDICT_CELLS:
        if v == known:
            return known
    return "met" if stored.get("meets_slo", stored.get("met")) else "not met"


def verdict_cell(v: Verdict) -> Cell:
    """A verdict as a table cell: met (ok), borderline (warn) or NOT met (bad)."""
    text, tone = VERDICT_CELLS[v]
    return Cell(text, tone)

def slo_limits(scenario: Any, data: Mapping[str, Any] | None,
                extra: Mapping[str, Any] | None = None) -> dict[str, float]:
    """The SLO limits in summary units: the scenario's ``slo:`` (if the model has one), then ``extra``."""
    limits: dict[str, float] = {}
    slo = getattr(scenario, "slo", None)
    if slo is not None:
        limits.update(getattr(slo, "limits", None) or dict(slo))
    elif data and isinstance(data.get("slo"), Mapping):
        limits.update({k: float(v) for k, v in data["slo"].items() if as_number(v) is not None})
    if extra:
        limits.update({k: float(v) for k, v in extra.items() if as_number(v) is not None})
    return limits



def stored_limits(summary: Mapping[str, Any] | None) -> dict[str, float]:
    """The limits a run was checked against when it ran (summary.json's ``slo`` block: its scenario's
    ``slo:`` and any ``--slo``), so that its report judges the same limits; empty for older files."""
    block = (summary or {}).get("slo")
    checks = block.get("checks") if isinstance(block, Mapping) else None
    out: dict[str, float] = {}
    for c in checks if isinstance(checks, list) else []:
        if isinstance(c, Mapping) and isinstance(c.get("path"), str) and as_number(c.get("limit")) is not None:
            out[c["path"]] = float(c["limit"])
    return out



@dataclass(frozen=True)
class Check:
    """One SLO limit against one summary."""

    path: str
    limit: float
    value: float | None
    ci: tuple[float, float] | None
    #: For a percentile without an interval, a 95% lower bound from the lower percentiles' intervals.
    floor: float | None = None

    @property
    def verdict(self) -> Verdict:
        """Met / borderline / not met from the figure's 95% interval (:func:`queuesim.figures.verdict`)."""
        entry = find(self.path)
        return verdict(self.value, self.limit, self.ci, entry is not None and entry.ci, self.floor)

    @property
    def met(self) -> bool:
        """Whether the verdict is met: the whole 95% interval at or below the limit."""
        return self.verdict == "met"

    @property
    def borderline(self) -> bool:
        """The 95% interval has the limit inside it (or is missing): more replications would settle it."""
        return self.verdict == "borderline"



def check_limits(summary: Mapping[str, Any], limits: Mapping[str, float]) -> list[Check]:
    """Each limit against the summary's figure (a missing figure does not meet its limit)."""
    out = []
    intervals = summary.get("ci95") or {}
    for path, limit in limits.items():
        ci = intervals.get(path)
        ci_t = (float(ci[0]), float(ci[1])) if ci and as_number(ci[0]) is not None and as_number(ci[1]) is not None else None
        out.append(Check(path, float(limit), as_number(value_or_none(summary, path)), ci_t, percentile_floor(summary, path)))
    return out



def limit_text(path: str, limit: float) -> str:
    return figure_formatter(path)(limit) if not path.startswith("rates.") or limit else "0"



def slo_check_table(checks: Sequence[Check]) -> Block:
    rows = []
    for c in checks:
        fmt = figure_formatter(c.path)
        status = verdict_cell(c.verdict)
        rows.append((Cell(f"`{c.path}`"), Cell(f"≤ {limit_text(c.path, c.limit)}"), Cell(fmt(c.value)),
                     Cell(f"{fmt(c.ci[0])} – {fmt(c.ci[1])}" if c.ci else "—"), status))
    return table(("limited figure", "limit", "value", "95% CI", "verdict"), rows, align="lrrrl",
                 caption="Met: the whole 95% interval is at or below the limit; NOT met: wholly above it; "
                         "borderline: the interval contains the limit (or the run had too few samples for "
                         "one), so more replications (`--precision`) would settle it. A maximum has no "
                         "interval and is judged on its value.")



def fmt_ci(c: Check) -> str:
    """The interval of a check in its figure's unit."""
    fmt = figure_formatter(c.path)
    return f"{fmt(c.ci[0])} – {fmt(c.ci[1])}" if c.ci else "—"



def slo_origin(limits: Mapping[str, float], scenario_limits: Mapping[str, float], where: str,
               run_limits: Mapping[str, float] | None = None) -> str:
    """Where the SLO limits came from, for the assumptions; ``run_limits`` are those the run itself
    was checked against (its summary's ``slo`` block), the scenario's and any ``--slo`` of the run."""
    if not limits:
        return "No SLO: the scenario has no `slo:` section and none was given with `--slo`."
    own = [k for k in limits if k in scenario_limits and scenario_limits[k] == limits[k]]
    ran = [f"`{k}`" for k in limits if k not in own and run_limits and run_limits.get(k) == limits[k]]
    given = [f"`{k}`" for k in limits if k not in own and f"`{k}`" not in ran]
    text = "SLO limits come from the scenario's `slo:` section" if own else "The scenario has no `slo:` section"
    if ran:
        text += f"; {', '.join(ran)} {'was' if len(ran) == 1 else 'were'} given with `--slo` when the run was made"
    if given:
        text += f"; {', '.join(given)} {'was' if len(given) == 1 else 'were'} given {where}"
    return text + "."
