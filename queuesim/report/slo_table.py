"""The SLO of a report: its limits (from the scenario, the sweep and ``--slo``) checked against a summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from queuesim.figures import value_or_none
from queuesim.report.formatting import as_number, figure_formatter
from queuesim.report.render import Block, Cell, table

__all__ = ["Check", "check_limits", "fmt_ci"]

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



@dataclass(frozen=True)
class Check:
    """One SLO limit against one summary."""

    path: str
    limit: float
    value: float | None
    ci: tuple[float, float] | None

    @property
    def met(self) -> bool:
        return self.value is not None and self.value <= self.limit

    @property
    def borderline(self) -> bool:
        """The 95% interval has the limit inside it: more replications would settle it."""
        return self.ci is not None and self.ci[0] <= self.limit < self.ci[1]



def check_limits(summary: Mapping[str, Any], limits: Mapping[str, float]) -> list[Check]:
    """Each limit against the summary's figure (a missing figure does not meet its limit)."""
    out = []
    intervals = summary.get("ci95") or {}
    for path, limit in limits.items():
        ci = intervals.get(path)
        ci_t = (float(ci[0]), float(ci[1])) if ci and as_number(ci[0]) is not None and as_number(ci[1]) is not None else None
        out.append(Check(path, float(limit), as_number(value_or_none(summary, path)), ci_t))
    return out



def limit_text(path: str, limit: float) -> str:
    return figure_formatter(path)(limit) if not path.startswith("rates.") or limit else "0"



def slo_check_table(checks: Sequence[Check]) -> Block:
    rows = []
    for c in checks:
        fmt = figure_formatter(c.path)
        status = (Cell("met · borderline", "warn") if c.met and c.borderline else Cell("met", "ok") if c.met
                  else Cell("NOT met · borderline", "warn") if c.borderline else Cell("NOT met", "bad"))
        rows.append((Cell(f"`{c.path}`"), Cell(f"≤ {limit_text(c.path, c.limit)}"), Cell(fmt(c.value)),
                     Cell(f"{fmt(c.ci[0])} – {fmt(c.ci[1])}" if c.ci else ""), status))
    return table(("limited figure", "limit", "value", "95% CI", "status"), rows, align="lrrrl",
                 caption="A limit is met when the figure is at or below it; borderline: the 95% "
                         "interval contains the limit.")



def fmt_ci(c: Check) -> str:
    """The interval of a check in its figure's unit."""
    fmt = figure_formatter(c.path)
    return f"{fmt(c.ci[0])} – {fmt(c.ci[1])}" if c.ci else "—"



def slo_origin(limits: Mapping[str, float], scenario_limits: Mapping[str, float], where: str) -> str:
    """Where the SLO limits came from, for the assumptions."""
    if not limits:
        return "No SLO: the scenario has no `slo:` section and none was given with `--slo`."
    own = [k for k in limits if k in scenario_limits and scenario_limits[k] == limits[k]]
    given = [f"`{k}`" for k in limits if k not in own]
    text = "SLO limits come from the scenario's `slo:` section" if own else "The scenario has no `slo:` section"
    if given:
        text += f"; {', '.join(given)} {'was' if len(given) == 1 else 'were'} given {where}"
    return text + "."
