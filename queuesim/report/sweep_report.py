"""The report of a sweep: figures against load, where the SLO is met, the recommended point and the plan."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from queuesim.figures import CI_HIGH, CI_LOW, latency_parts, worst
from queuesim.report import figures_sweep as fs
from queuesim.report.formatting import as_number, figure_formatter, fmt_duration, fmt_fraction, fmt_per_second
from queuesim.report.inputs import ReportError, SweepData
from queuesim.report.plots import queue_depth
from queuesim.report.render import (
    Block,
    Cell,
    FigureBlock,
    Report,
    Section,
    Tone,
    bullets,
    note,
    p,
    png_bytes,
    table,
)
from queuesim.report.run_report import cause_title
from queuesim.report.sections import assumption_lines, headline_blocks, meta_rows, scenario_blocks
from queuesim.report.slo_table import check_limits, slo_check_table, slo_limits, slo_origin, verdict_cell, verdict_of

__all__ = ["build_sweep_report", "plan_blocks"]

def _unflatten(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A summary.json-like dict from one sweep table row (dotted columns; intervals into ``ci95``)."""
    out: dict[str, Any] = {"ci95": {}}
    for key, value in row.items():
        if key == "point" or key.startswith(("slo.", "cost.")):
            continue
        v = value.item() if isinstance(value, np.generic) else value
        if isinstance(v, float) and math.isnan(v):
            v = None
        if key.endswith("." + CI_LOW) or key.endswith("." + CI_HIGH):
            base, which = key.rsplit(".", 1)
            pair = out["ci95"].setdefault(base, [None, None])
            pair[0 if which == CI_LOW else 1] = v
            continue
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = node[part] = {}
            node = nxt
        node.setdefault(parts[-1], v)
    out["ci95"] = {k: v for k, v in out["ci95"].items() if v[0] is not None and v[1] is not None}
    return out



def _ci_columns(tbl: pd.DataFrame) -> dict[str, tuple[str, str]]:
    return {c[: -len(CI_LOW) - 1]: (c, c[: -len(CI_LOW) - 1] + "." + CI_HIGH)
            for c in tbl.columns if c.endswith("." + CI_LOW) and c[: -len(CI_LOW) - 1] + "." + CI_HIGH in tbl}



def point_verdicts(tbl: pd.DataFrame, limits: Mapping[str, float]) -> pd.Series | None:
    """Per point: the worst verdict of every limit, from each figure's 95% interval (met / borderline
    / not met, as ``run`` judges it; a missing figure does not meet its limit). Computed from
    ``limits`` so that limits added with ``--slo`` count; the table's ``slo.verdict`` (or, in a sweep
    made before verdicts, ``slo.met``) only when no limit is known."""
    if not limits:
        if "slo.verdict" in tbl:
            return tbl["slo.verdict"].astype(object)
        if "slo.met" in tbl:
            return tbl["slo.met"].map(lambda v: "met" if v is True or v == True else "not met")  # noqa: E712
        return None
    out = [worst(c.verdict for c in check_limits(_unflatten(tbl.iloc[i].to_dict()), limits)) for i in range(len(tbl))]
    return pd.Series(out, index=tbl.index, dtype=object)



def _met(verdicts: pd.Series | None) -> pd.Series | None:
    """Per point: the verdict is met (borderline is not: noise could flip it)."""
    return None if verdicts is None else verdicts.eq("met")



def is_load(path: str) -> bool:
    """Whether a swept path is a producer's rate: the load, read on the x axis."""
    return path.startswith("producers.") and path.endswith(".rate")


def is_capacity(path: str) -> bool:
    """Whether a swept path adds capacity as it grows (a pool's worker count, a queue's capacity): only
    then is "the smallest value meeting the SLO" the answer to look for."""
    return re.fullmatch(r"workers\.[^.]+\.count|queues\.[^.]+\.capacity", path) is not None


def _top_text(x: str, value: str) -> str:
    """"the highest load swept (1600/s)", or "the largest `x` swept (15s)" when x is not a load."""
    return f"the highest load swept ({value})" if is_load(x) else f"the largest `{x}` swept ({value})"


def _pick_axes(axes: Sequence[str]) -> tuple[str, str | None, list[str]]:
    """(x, series, others): x is the first producer rate swept (else the first path)."""
    rates = [a for a in axes if a.startswith("producers.") and a.endswith(".rate")]
    x = rates[0] if rates else axes[0]
    rest = [a for a in axes if a != x]
    return x, (rest[0] if rest else None), rest[1:]



def _close(a: Any, b: Any) -> bool:
    fa, fb = as_number(a), as_number(b)
    if fa is not None and fb is not None:
        return math.isclose(fa, fb, rel_tol=1e-6, abs_tol=1e-9)
    return bool(a == b)



def _plan_point(plan: Mapping[str, Any] | None, x: str, axes: Sequence[str]) -> dict[str, Any]:
    """The plan's recommendation as varied-path values (its load on the x axis when x is a producer rate)."""
    if not plan:
        return {}
    point = {k: v for k, v in (plan.get("recommended") or {}).items() if k in axes and v is not None}
    if point and x.startswith("producers.") and x.endswith(".rate") and as_number(plan.get("target_rate")) is not None:
        point.setdefault(x, plan["target_rate"])
    return point



def _rows_matching(tbl: pd.DataFrame, values: Mapping[str, Any]) -> pd.Series:
    mask = pd.Series(True, index=tbl.index)
    for k, v in values.items():
        mask &= tbl[k].map(lambda t, v=v: _close(t, v))
    return mask



def _meeting(tbl: pd.DataFrame, x: str, series: str | None, met: pd.Series | None) -> list[tuple[Any, list[Any]]]:
    """Per x value: the series values whose point meets the SLO, in order."""
    out: list[tuple[Any, list[Any]]] = []
    if met is None or series is None:
        return out
    order = fs._series_levels(tbl, series)
    _, levels, _ = fs.x_positions(tbl, x)
    for lv in levels:
        rows = tbl[(tbl[x] == lv) & met.fillna(False).to_numpy()]
        good = set(rows[series].tolist())
        out.append((lv, [v for v in order if v in good]))
    return out


def _meeting_text(values: Sequence[Any], series: str) -> str:
    """The series values meeting the SLO at one x: the smallest for a capacity path, all of them otherwise."""
    if not values:
        return "none swept"
    fmt = fs.value_formatter(series)
    if is_capacity(series):
        return fmt(values[0])
    return ", ".join(fmt(v) for v in values)



def _focus_row(tbl: pd.DataFrame, x: str, series: str | None, met: pd.Series | None,
               plan_pt: Mapping[str, Any]) -> tuple[int, str]:
    """(row position, why): the recommended point, else the cheapest point meeting the SLO at the
    highest load, else the highest-load point with the most capacity. ``tbl`` has a RangeIndex,
    so row labels are positions."""
    if plan_pt:
        mask = _rows_matching(tbl, plan_pt)
        if mask.any():
            return int(np.flatnonzero(mask.to_numpy())[0]), "the point the plan recommends"
    _, levels, _ = fs.x_positions(tbl, x)
    top = levels[-1]
    at_top = tbl[x] == top
    where = _top_text(x, fs.value_formatter(x)(top))
    if met is not None and series is not None:
        good = at_top & met.fillna(False)
        if good.any():
            if is_capacity(series) and fs.is_numeric(tbl[series]):
                return int(tbl[good][series].idxmin()), f"the least `{series}` meeting the SLO at {where}"
            return int(tbl[good].index[0]), f"the first point meeting the SLO at {where}"
    rows = tbl[at_top]
    if series is not None and is_capacity(series) and fs.is_numeric(tbl[series]):
        return int(rows[series].idxmax()), f"the most `{series}` at {where}"
    return int(rows.index[0]), where



def _describe_point(row: Any, axes: Sequence[str]) -> str:
    return ", ".join(f"`{a}` = {fs.value_formatter(a)(row[a])}" for a in axes)



_RUN_SETTINGS = ("duration", "warmup", "seed")



def _resolved_sweep_scenario(sweep: SweepData) -> tuple[dict[str, Any] | None, bool]:
    """The base scenario as the sweep ran it: the stored one, or the source file's with the duration,
    warm-up and seed the table records (``--set`` overrides of those show in every row).

    Returns the scenario dict and whether it was changed from the source file here (then the
    changes are reported in the assumptions as settings the table gave).
    """
    data = sweep.scenario_data
    if data is None:
        return None, False
    data = json.loads(json.dumps(data))
    changed = False
    for key in _RUN_SETTINGS:
        if key in sweep.axes or key not in sweep.table:
            continue
        values = sweep.table[key].dropna().unique()
        if len(values) == 1 and as_number(values[0]) is not None and not _close(values[0], data.get(key)):
            v = values[0].item() if isinstance(values[0], np.generic) else values[0]
            data[key] = int(v) if key == "seed" else float(v)
            changed = True
    reps = sweep.meta.get("replications")
    if isinstance(reps, int) and reps != data.get("replications"):
        data["replications"] = reps
        changed = True
    return data, changed



def _peak_timeseries(sweep: SweepData, row: Mapping[Any, Any]) -> tuple[pd.DataFrame | None, dict[str, Any] | None, str]:
    """Time series of one point, as the sweep stored it (averaged over the point's replications)."""
    point = row.get("point")
    if point is None or (isinstance(point, float) and math.isnan(point)):
        return None, None, "the sweep table has no point numbers"
    ts, summary = sweep.point_timeseries(int(point))
    if ts is None:
        return None, None, ("this sweep folder keeps no time series (timeseries.parquet, written since "
                            "queuesim 0.2): run the sweep again to draw it")
    reps = (summary or {}).get("replications")
    return ts, summary, f"{reps} replication(s) averaged" if reps else "as the sweep ran it"



def _sweep_points_table(tbl: pd.DataFrame, axes: Sequence[str], verdicts: pd.Series | None,
                        limits: Mapping[str, float], findings: Mapping[int, Sequence[Mapping[str, Any]]]) -> Block:
    figs = ["rates.throughput", "latency.end_to_end.p50", "latency.end_to_end.p99", "rates.rejection",
            "rates.loss", "rates.duplicate"]
    figs += [p_ for p_ in limits if p_ not in figs]
    figs = [f for f in figs if f in tbl]
    names = {"rates.throughput": "throughput", "latency.end_to_end.p50": "e2e p50", "latency.end_to_end.p99": "e2e p99",
             "rates.rejection": "503 rate", "rates.loss": "loss", "rates.duplicate": "duplicates"}
    columns = [*axes, *(names.get(f, f) for f in figs)] + (["SLO"] if verdicts is not None else [])
    if findings:
        columns.append("limited by")
    rows = []
    for i in range(len(tbl)):
        r = tbl.iloc[i]
        cells = [Cell(fs.value_formatter(a)(r[a])) for a in axes]
        for f in figs:
            v = as_number(r[f])
            tone: Tone = "bad" if f in limits and (v is None or v > limits[f]) else ""
            cells.append(Cell(figure_formatter(f)(v), tone))
        if verdicts is not None:
            cells.append(verdict_cell(verdict_of({"verdict": verdicts.iloc[i]})))
        if findings:
            found = findings.get(int(r["point"]), ()) if as_number(r.get("point")) is not None else ()
            causes = [cause_title(f) for f in found]
            bistable = any(f.get("cause") == "bistable" for f in found)
            cells.append(Cell(", ".join(causes[:2]) or "—", "warn" if bistable else ""))
        rows.append(cells)
    return table(columns, rows, caption="Every point of the sweep; figures above their SLO limit are marked"
                 + ("; *limited by* is each point's diagnosis, a bistable point (its replications disagreed) "
                    "marked" if findings else "") + ".")



def build_sweep_report(sweep: SweepData, extra_slo: Mapping[str, Any] | None = None,
                       simulate_peak: bool = True) -> Report:
    """The report of a sweep (with its capacity plan when there is one)."""
    tbl = sweep.table.reset_index(drop=True)
    meta = sweep.meta
    limits = slo_limits(sweep.scenario, sweep.scenario_data)
    own = dict(limits)
    if isinstance(meta.get("slo"), Mapping):
        limits.update({k: float(v) for k, v in meta["slo"].items() if as_number(v) is not None})
    if extra_slo:
        limits.update(extra_slo)
    if not sweep.axes:
        raise ReportError(f"{sweep.path}: the sweep table names no varied path")
    x, series, others = _pick_axes(sweep.axes)
    plan = sweep.plan
    plan_pt = _plan_point(plan, x, sweep.axes)
    verdicts_all = point_verdicts(tbl, limits)
    met_all = _met(verdicts_all)
    data, resolved = _resolved_sweep_scenario(sweep)

    # with more than two varied paths the figures show one slice: the others at the focus point
    focus_i, why = _focus_row(tbl, x, series, met_all, plan_pt)
    focus = tbl.iloc[focus_i]
    sliced = tbl
    slice_note = ""
    if others:
        fixed = {o: focus[o] for o in others}
        sliced = tbl[_rows_matching(tbl, fixed)].reset_index(drop=True)
        slice_note = " Figures show the points with " + ", ".join(
            f"`{o}` = {fs.value_formatter(o)(v)}" for o, v in fixed.items()) + "."
    verdicts = point_verdicts(sliced, limits)
    met = _met(verdicts)
    ci = _ci_columns(tbl)
    # each point's diagnosis, as its run found it (summaries.json); replications that disagree make it bistable
    findings = {k: [f for f in (v.get("diagnosis") or []) if isinstance(f, Mapping)] for k, v in sweep.summaries.items()}
    bistable = {k for k, found in findings.items() if any(f.get("cause") == "bistable" for f in found)}
    focus_summary = _unflatten(focus.to_dict())
    reps = as_number(focus_summary.get("replications")) or as_number(meta.get("replications"))
    focus_summary.setdefault("ci_method", "replications" if reps and reps >= 2 else "batch_means")

    # verdict and recommendation, in the sweep's own terms: x is the load only when it is a rate,
    # and "the smallest value meeting the SLO" is asked only of a path that adds capacity
    meeting = _meeting(sliced, x, series, met)
    rec_blocks: list[Block] = []
    details: list[str] = []
    xf = fs.value_formatter(x)
    if series is not None and meeting:
        capacity = is_capacity(series)
        rows = [(xf(lv), _meeting_text(vs, series)) for lv, vs in meeting]
        across = table((x, f"smallest {series} meeting the SLO" if capacity else f"{series} values meeting the SLO"),
                       rows, caption=("Read across the sweep: the least capacity that meets every limit at each "
                                      f"value of `{x}`." if capacity else
                                      f"Read across the sweep: at each value of `{x}`, the values of `{series}` "
                                      "whose point meets every limit."))
    if plan:
        tone, head, shown_plan, details = plan_blocks(plan)
        rec_blocks += shown_plan
        if series is not None and meeting:
            rec_blocks += [p("The sweep, read across every value it ran:"), across]
    elif met is not None:
        _, levels, _ = fs.x_positions(sliced, x)
        top = levels[-1]
        where = _top_text(x, xf(top))
        if series is not None and meeting:
            best = meeting[-1][1]
            if not best:
                tone, head = "bad", f"The SLO is not met at {where} by any `{series}` swept"
            elif is_capacity(series):
                tone, head = "ok", f"At {where}, `{series}` = {_meeting_text(best, series)} is the smallest value meeting the SLO"
            else:
                tone, head = "ok", f"At {where}, the SLO is met with `{series}` = {_meeting_text(best, series)}"
            rec_blocks.append(across)
        else:
            good = sliced[met.fillna(False).to_numpy()]
            if len(good):
                tone, head = "ok", f"The SLO is met up to `{x}` = {xf(good[x].max())} of the values swept"
            else:
                tone, head = "bad", "The SLO is met at none of the points swept"
        n_met = int(met.fillna(False).sum())
        n_border = int(verdicts.eq("borderline").sum()) if verdicts is not None else 0
        details.append(f"{n_met} of {len(sliced)} points meet every limit"
                       + (f"; {n_border} borderline (a 95% interval contains a limit: run them with `--precision` "
                          "to settle them)" if n_border else "") + ".")
        rec_blocks.append(p("No capacity plan is stored with this sweep: run `queuesim plan SCENARIO --load 2x` "
                            "for the smallest worker count meeting the SLO at a target load, beside its Erlang-C estimate."))
    else:
        tone, head = "muted", "No SLO in the scenario: add an `slo:` section to get a verdict per point"
        rec_blocks.append(p("With no SLO there is nothing to recommend against; the figures show how latency "
                            "and failures grow with load."))
    details.append(f"Headline figures below are at {_describe_point(focus, sweep.axes)} ({why}).")
    focus_found = findings.get(int(focus["point"]), []) if as_number(focus.get("point")) is not None else []
    if focus_found:
        details.append(f"There, limited by {focus_found[0].get('message')}.")
    if bistable:
        odd = [tbl.iloc[i] for i in range(len(tbl)) if int(tbl.iloc[i]["point"]) in bistable]
        details.append(f"{len(odd)} point(s) bistable, their replications disagreeing (some went into a retry storm, "
                       "some did not): " + "; ".join(_describe_point(r, sweep.axes) for r in odd[:4])
                       + (" …" if len(odd) > 4 else "") + ". There the outcome depends on chance: run more replications.")
    verdict = (tone, head, details)

    sections = [Section("scenario", "Scenario", (
        p("Swept: " + "; ".join(_axis_text(a, tbl) for a in sweep.axes) + f" — {len(tbl)} points."),
        *scenario_blocks(data, None, sweep.scenario_origin, sweep.axes)))]
    headline = headline_blocks(focus_summary, focus=f"At {_describe_point(focus, sweep.axes)}. ")
    checks = check_limits(focus_summary, limits)
    if checks:
        headline.insert(0, slo_check_table(checks))
    sections.append(Section("figures", "Headline figures", tuple(headline)))

    fig_lat = fs.latency_vs_load(sliced, x, series, limits, ci)
    drawn = [ax.get_title() for ax in fig_lat.axes if ax.get_visible() and ax.get_title()]
    against = "each load" if is_load(x) else f"each `{x}`"
    sections.append(Section("latency", "Latency against load" if is_load(x) else f"Latency against `{x}`", (
        Block("figure", figure=FigureBlock(
            "latency_vs_load", "Latency percentiles against load" if is_load(x) else f"Latency percentiles against `{x}`",
            f"{', '.join(drawn) or 'Latency'} at {against}" + ("" if series is None else f", one line per `{series}`")
            + "; the dashed red line is the SLO limit, shaded bands 95% intervals where the table has them. A y axis "
            f"switches to a log scale when latencies span more than {fs.LATENCY_LOG_SPREAD:g}×, as they do near "
            "saturation." + slice_note, png_bytes(fig_lat))),)))
    fig_rates = fs.rates_vs_load(sliced, x, series, limits, ci)
    panels = [ax.get_title() for ax in fig_rates.axes if ax.get_visible() and ax.get_title()]
    zero = fig_rates.get_suptitle().split("\n")[1] if "\n" in fig_rates.get_suptitle() else ""
    sections.append(Section("rates", "Failure rates against load" if is_load(x) else f"Failure rates against `{x}`", (
        Block("figure", figure=FigureBlock(
            "rates_vs_load", "Failure rates against load",
            (f"Shares at {against}: {'; '.join(panels)}" if panels else "No failure rate is above zero at any point")
            + "; shaded bands are 95% intervals (clipped to 0–100%), dashed red lines SLO limits."
            + (f" Not drawn, {zero}." if zero else "") + slice_note, png_bytes(fig_rates))),)))

    if met is not None:
        annotate = None
        lat_limits = [k for k in limits if latency_parts(k) is not None and k in sliced]
        if lat_limits:
            annotate = sliced[lat_limits[0]].map(lambda v: fmt_duration(as_number(v)))
        flagged = sliced["point"].map(lambda v: as_number(v) is not None and int(v) in bistable) if "point" in sliced else None
        fig_map = fs.slo_heatmap(sliced, x, series, verdicts if verdicts is not None else met, annotate,
                                 plan_pt or None, flagged if bistable else None)
        cap = ("Green where every SLO limit is met (its whole 95% interval at or below the limit), red where "
               "at least one is not met (wholly above), yellow where one is borderline (its interval contains "
               "the limit: the noise could go either way)"
               + (f"; each cell shows `{lat_limits[0]}`" if lat_limits else "")
               + ("; the outlined cell is the plan's recommendation" if plan_pt else "")
               + ("; a dashed orange outline marks a bistable point (its replications disagreed)" if bistable
                  and flagged is not None and flagged.any() else "") + "." + slice_note)
        map_blocks: tuple[Block, ...] = (Block("figure", figure=FigureBlock("slo_heatmap", "Where the SLO is met", cap, png_bytes(fig_map))),)
        if series is None:
            map_blocks += (note("Only one path was swept, so the map is a single row."),)
    else:
        map_blocks = (note("No SLO in the scenario or the sweep, so there is no map of where it is met."),)
    sections.append(Section("slo-map", "Where the SLO is met", map_blocks))

    top_x = fs.x_positions(tbl, x)[1][-1]
    peak_i, peak_why = (focus_i, why) if _close(focus[x], top_x) else _focus_row(tbl, x, series, met_all, {})
    peak = tbl.iloc[peak_i]
    if simulate_peak:
        ts, ts_summary, how = _peak_timeseries(sweep, peak.to_dict())
    else:
        ts, ts_summary, how = None, None, "turned off (`--no-simulate`)"
    if ts is not None:
        fig_q = queue_depth(ts, ts_summary)
        qblocks: tuple[Block, ...] = (Block("figure", figure=FigureBlock(
            "queue_depth_peak", "Queue depth over time at the peak",
            f"Messages waiting and busy workers over time at {_describe_point(peak, sweep.axes)} ({peak_why}), "
            f"from the sweep ({how}); the warm-up is shaded.", png_bytes(fig_q))),)
    else:
        qblocks = (note(f"No time series for the peak point: {how}."),)
    sections.append(Section("queue-depth", "Queue depth over time at the peak", qblocks))

    sections.append(Section("recommendation", "Recommendation", tuple(rec_blocks)))
    sections.append(Section("points", "All points", (_sweep_points_table(tbl, sweep.axes, verdicts_all, limits, findings),)))
    source = meta.get("source") or (plan or {}).get("source")
    assumptions = assumption_lines(None, data, sweep.scenario_origin, source, sweep.path,
                               meta or {"replications": "?", "seeds": "?"}, skip_diff=resolved,
                               slo_note=slo_origin(limits, own, "to the sweep or the report (`--slo`)"))
    if plan:
        est = plan.get("analytic_estimate") or {}
        if est.get("assumptions"):
            assumptions.append(f"Analytic estimate ({est.get('model')}): {est['assumptions']}.")
    sections.append(Section("assumptions", "Assumptions", (bullets(assumptions),)))
    title = str(meta.get("scenario") or (sweep.scenario_data or {}).get("name") or "sweep")
    return Report(title=title, kind="sweep",
                  meta=meta_rows(source, (data or {}).get("seed"), meta.get("replications"),
                             meta.get("queuesim_version"), sweep.path),
                  verdict=verdict, sections=sections)



def _axis_text(path: str, tbl: pd.DataFrame) -> str:
    fmt = fs.value_formatter(path)
    vals = list(dict.fromkeys(tbl[path].tolist()))
    if fs.is_numeric(tbl[path]):
        vals = sorted(vals)
    shown = ", ".join(fmt(v) for v in vals) if len(vals) <= 8 else f"{fmt(vals[0])} … {fmt(vals[-1])} ({len(vals)} values)"
    return f"`{path}` = {shown}"



def plan_blocks(plan: Mapping[str, Any]) -> tuple[Tone, str, list[Block], list[str]]:
    """The capacity plan: verdict, blocks and verdict details."""
    search = str(plan.get("search") or next(iter(plan.get("recommended") or {"setting": None})))
    rec = (plan.get("recommended") or {}).get(search)
    cur = (plan.get("current") or {}).get(search)
    load = as_number(plan.get("target_load"))
    rate = as_number(plan.get("target_rate"))
    at = f"{load:g}× today's load" if load is not None else "the target load"
    if rate is not None:
        at += f" ({fmt_per_second(rate)})"
    # the verdict of the confirmation run: met only when every limit's 95% interval is below it
    final_verdict = verdict_of(plan)
    evals = [e for e in plan.get("evaluations") or [] if isinstance(e, Mapping)]
    if rec is None:
        tone: Tone = "bad"
        head = f"No `{search}` searched meets the SLO at {at}"
    else:
        tone = "ok" if final_verdict == "met" else "warn"
        head = (f"Recommended: `{search}` = {rec} for {at}"
                + {"met": "", "borderline": " (borderline on its confirmation run: an interval contains a limit)",
                   "not met": " (its confirmation run did not meet every limit)"}[final_verdict])
    details = []
    if cur is not None:
        today = [e for e in evals if e.get("value") == cur]
        cm = None if not today else verdict_of(today[-1])
        details.append(f"Today `{search}` = {cur}" + ("" if cm is None else {
            "met": f", which meets the SLO at {at}", "borderline": f", which is borderline against the SLO at {at}",
            "not met": f", which does not meet the SLO at {at}"}[cm]) + ".")
    est = plan.get("analytic_estimate") or {}
    if est.get("value") is not None:
        details.append(f"Analytic estimate ({est.get('model')}): {est['value']}.")
    rows = [("target load", at), ("recommended", f"`{search}` = {rec if rec is not None else 'none found'}"),
            ("SLO verdict (confirmation run)", final_verdict if rec is not None else "—"),
            ("confirmed with more replications", "yes" if plan.get("confirmed") else "no")]
    if cur is not None:
        rows.append(("current setting", f"`{search}` = {cur}"))
    sat, sat_a = as_number(plan.get("saturation_throughput")), as_number(plan.get("saturation_throughput_analytic"))
    if sat is not None or sat_a is not None:
        rows.append(("saturation throughput of the current design",
                     f"{fmt_per_second(sat)} simulated" + ("" if sat_a is None else f", {fmt_per_second(sat_a)} analytic")))
    head_room = as_number(plan.get("headroom"))
    if head_room is not None:
        rows.append(("headroom over today's load", fmt_fraction(head_room)))
    if est:
        rows.append(("analytic estimate", f"{est.get('value') if est.get('value') is not None else 'not available'} ({est.get('model')})"))
    cost = plan.get("cost")
    if isinstance(cost, Mapping):
        cur_sym = cost.get("currency", "")
        for k, v in cost.items():
            if as_number(v) is not None:
                rows.append((f"cost: {k.replace('_', ' ')}", f"{as_number(v):,.2f} {cur_sym}".strip()))
    blocks = [table(("plan", "value"), rows, align="ll")]
    per = est.get("per_limit") or {}
    skipped = est.get("not_modelled") or {}
    if per or skipped:
        erows = [(f"`{k}`", str(v) if v is not None else "—", "") for k, v in per.items()]
        erows += [(f"`{k}`", "—", str(why)) for k, why in skipped.items()]
        blocks.append(table(("limit", f"smallest {search} (analytic)", "not modelled because"), erows, align="lrl",
                            caption="The Erlang-C estimate per SLO limit, beside the simulated answer above."))
    if evals:
        erows2 = []
        for e in evals:
            erows2.append((str(e.get("value")), str(e.get("replications")), fmt_per_second(as_number(e.get("throughput"))),
                           verdict_cell(verdict_of(e)),
                           "confirmation" if e.get("confirmation") else "search"))
        blocks.append(table((search, "replications", "throughput", "SLO", "run"), erows2, align="rrrll",
                            caption="Every candidate the plan simulated, in the order it ran, with its verdict from "
                                    "the 95% intervals (borderline: an interval contains a limit, so the candidate "
                                    "does not count as meeting the SLO)."))
    for n in plan.get("notes") or []:
        blocks.append(note(str(n)))
    return tone, head, blocks, details
