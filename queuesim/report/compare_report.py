"""The reports of a comparison (``queuesim compare``) and of a capacity plan on its own (``plan.json``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from queuesim.figures import worst
from queuesim.report import figures_sweep as fs
from queuesim.report.figures_compare import comparison_figure
from queuesim.report.formatting import as_number, figure_formatter, fmt_duration, fmt_fraction, fmt_per_second
from queuesim.report.inputs import CompareData, PlanData
from queuesim.report.render import Block, FigureBlock, Report, Section, Tone, bullets, note, p, png_bytes, table
from queuesim.report.run_report import cause_title
from queuesim.report.sections import meta_rows, scenario_blocks
from queuesim.report.slo_table import Check, check_limits, fmt_ci, limit_text, stored_limits, verdict_cell, verdict_of
from queuesim.report.sweep_report import plan_blocks

__all__ = ["build_compare_report", "build_plan_report"]


def _cell(row: Mapping[Any, Any], column: str, fmt: Callable[[float | None], str]) -> str:
    return fmt(as_number(row.get(column)))


def _variant_rows(data: CompareData, waits: bool) -> tuple[list[str], list[tuple[str, ...]]]:
    """The comparison table: what a waiting client sees first, then failures, duplicates and latency."""
    columns = ["variant", "brokers", "throughput"]
    if waits:
        columns += ["response p99", "abandoned"]
    columns += ["end-to-end p99", "503s", "gave up", "lost", "duplicates", "offered / base load"]
    rows = []
    for name, row in data.table.to_dict("index").items():
        offered, base = as_number(row.get("offered")), as_number(row.get("base_load"))
        cells = [f"`{name}`", str(row.get("brokers", "")), _cell(row, "throughput", fmt_per_second)]
        if waits:
            cells += [_cell(row, "response_p99", fmt_duration), _cell(row, "abandoned_rate", fmt_fraction)]
        cells += [_cell(row, "p99", fmt_duration), _cell(row, "rejection_rate", fmt_fraction),
                  _cell(row, "gave_up_rate", fmt_fraction), _cell(row, "loss_rate", fmt_fraction),
                  _cell(row, "duplicate_rate", fmt_fraction),
                  "—" if offered is None or not base else f"{offered / base:.2f}×"]
        rows.append(tuple(cells))
    return columns, rows


def _findings(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [f for f in summary.get("diagnosis") or [] if isinstance(f, Mapping)]


def _slo_rows(names: list[str], summaries: Mapping[str, Mapping[str, Any]],
              extra: Mapping[str, float] | None) -> tuple[dict[str, list[Check]], list[tuple[Any, ...]]]:
    """Each variant's limits (those it ran with, then the report's ``--slo``) checked against its
    summary: the checks by variant and one table row per variant and limit."""
    checks: dict[str, list[Check]] = {}
    rows: list[tuple[Any, ...]] = []
    for name in names:
        limits = {**stored_limits(summaries[name]), **(extra or {})}
        checks[name] = check_limits(summaries[name], limits)
        for c in checks[name]:
            rows.append((f"`{name}`", f"`{c.path}`", f"≤ {limit_text(c.path, c.limit)}",
                         figure_formatter(c.path)(c.value), fmt_ci(c), verdict_cell(c.verdict)))
    return checks, rows


def build_compare_report(data: CompareData, extra_slo: Mapping[str, float] | None = None) -> Report:
    """The report of a comparison: each variant's SLO verdicts, what limits it, the variants side by side, the figure."""
    names = [str(n) for n in data.table.index]
    summaries = {n: data.summaries.get(n) or {} for n in names}
    waits = "response_p99" in data.table and pd.to_numeric(data.table["response_p99"], errors="coerce").notna().any()
    checks, slo_rows = _slo_rows(names, summaries, extra_slo)

    details = []
    judged = {n: worst([c.verdict for c in cs]) for n, cs in checks.items() if cs}
    if judged:
        details.append("SLO: " + "; ".join(f"`{n}` {v}" for n, v in judged.items()) + ".")
    for name in names:
        found = _findings(summaries[name])
        details.append(f"`{name}`: " + (f"limited by {found[0]['message']}." if found
                                         else "nothing limits it at this load."))
    limited = [n for n in names if _findings(summaries[n])]
    tone: Tone = "warn" if limited or any(v != "met" for v in judged.values()) else "ok"
    head = f"{len(names)} variants on the same workload: " + (
        f"{len(limited)} limited ({', '.join(f'`{n}` by {cause_title(_findings(summaries[n])[0])}' for n in limited)})"
        if limited else "nothing limits any of them at this load")

    columns, rows = _variant_rows(data, bool(waits))
    fig = comparison_figure(data.table)
    drawn = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    zero = fig.get_suptitle().split("\n")[1] if "\n" in fig.get_suptitle() else ""
    caption = ("One bar per variant for " + "; ".join(drawn) + "."
               + (f" Left out as {zero}." if zero else ""))
    sections = [] if not slo_rows else [Section("slo", "Each variant against the SLO", (table(
        ("variant", "limited figure", "limit", "value", "95% CI", "verdict"), slo_rows, align="llrrrl",
        caption="The limits each variant ran with (and any given with `--slo` to the report). Met: the whole 95% "
                "interval is at or below the limit; NOT met: wholly above it; borderline: the interval contains "
                "the limit, so more replications (`--precision`) would settle it."),))]
    sections += [
        Section("variants", "Variants side by side", (
            table(columns, rows, caption="Every variant ran with the same seed and random streams keyed by "
                  "component name (common random numbers): the same requests arrive and the same service times "
                  "and faults are drawn, so differences come from the design."),
            Block("figure", figure=FigureBlock("compare", "What each variant loses, refuses and makes users wait",
                                               caption, png_bytes(fig))),
        )),
        Section("diagnosis", "What limits each variant", tuple(
            block for name in names for block in (
                p(f"`{name}`:"),
                bullets([str(f.get("message")) + "." for f in _findings(summaries[name])]
                        or ["Nothing limits it at this load (no rule of the diagnosis applies)."])))),
    ]
    first = next(iter(summaries.values()), {})
    reps = first.get("replications")
    sections.append(Section("assumptions", "Assumptions", (bullets([
        f"Each variant ran {reps} replication(s) of {fmt_duration(as_number(first.get('duration')))} with seed "
        f"{first.get('seed')}; the first {fmt_duration(as_number(first.get('warmup')))} are left out of every statistic.",
        "Rates are shares of requests (lost, gave up, abandoned), of publish attempts (503s) or of messages "
        "processed (duplicates); the response time is what a client waiting for the result sees.",
        "The diagnosis of each variant is the one its run stored (compare.json); see each summary for every figure.",
    ]),)))
    return Report(title=str(first.get("scenario") or "comparison").split(":")[0], kind="compare",
                  meta=meta_rows(first.get("source"), first.get("seed"), reps, first.get("queuesim_version"), data.path),
                  verdict=(tone, head, details), sections=sections)


def build_plan_report(data: PlanData) -> Report:
    """The report of a capacity plan without a sweep: the recommendation, its SLO checks and every candidate."""
    plan = data.plan
    tone, head, blocks, details = plan_blocks(plan)
    final = plan.get("at_recommended") or {}
    checks = [c for c in final.get("checks") or [] if isinstance(c, Mapping)]
    plan_section: list[Block] = list(blocks)
    if checks:
        rows = []
        for c in checks:
            fmt = figure_formatter(str(c.get("path")))
            ci = c.get("ci95")
            # the verdict allows for noise; ``met`` in plan.json is the bare estimate against the limit
            rows.append((f"`{c.get('path')}`", f"≤ {fmt(as_number(c.get('limit')))}", fmt(as_number(c.get("value"))),
                         f"{fmt(ci[0])} – {fmt(ci[1])}" if ci else "—", verdict_cell(verdict_of(c))))
        plan_section.insert(1, table(("limited figure", "limit", "value", "95% CI", "verdict"), rows, align="lrrrl",
                                     caption=f"The SLO at the recommendation, from its confirmation run "
                                             f"({final.get('replications')} replications)."))
    sections = [Section("plan", "Capacity plan", tuple(plan_section))]
    fig = fs.plan_candidates(plan)
    if fig is not None:
        sections.append(Section("candidates", "Every candidate against the SLO", (Block("figure", figure=FigureBlock(
            "plan_candidates", "The plan's candidates against each limit",
            f"Each limited figure of every value of `{plan.get('search')}` the plan simulated: dots for the "
            "search, rings for the confirmation runs (more replications, fresh seeds); the dashed red line is the "
            "limit.", png_bytes(fig))),)))
    else:
        sections.append(Section("candidates", "Every candidate against the SLO", (
            note("The plan recorded no checked figure for its candidates."),)))
    sections.append(Section("scenario", "Scenario", tuple(scenario_blocks(data.scenario_data, None, data.scenario_origin))))
    notes = [f"The plan sized `{plan.get('search')}` at {plan.get('target_load')}× today's load; the figures at the "
             "recommendation come from its confirmation run, not from a sweep (run `queuesim sweep` for the curves)."]
    if data.scenario_origin and data.scenario_origin != "scenario.json":
        notes.append(f"The scenario shown is read from `{data.scenario_origin}` as it is now; overrides used when the "
                     "plan was made are not known.")
    sections.append(Section("assumptions", "Assumptions", (bullets(notes),)))
    return Report(title=str(plan.get("scenario") or "plan"), kind="plan",
                  meta=meta_rows(plan.get("source"), (data.scenario_data or {}).get("seed"), None,
                             plan.get("queuesim_version"), data.path),
                  verdict=(tone, head, details), sections=sections)
