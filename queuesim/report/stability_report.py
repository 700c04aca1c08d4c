"""The report of a stability map (``queuesim stability``): where a spike tips the design into a failure it does not recover from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from queuesim.figures import format_rate
from queuesim.report.formatting import as_number, fmt_duration
from queuesim.report.inputs import StabilityData
from queuesim.report.render import Block, FigureBlock, Report, Section, Tone, bullets, note, p, png_bytes, table
from queuesim.report.sections import meta_rows, scenario_blocks
from queuesim.report.stability import stability_map

__all__ = ["build_stability_report"]


def _ratio(v: Any) -> str:
    x = as_number(v)  # None for a missing or NaN value
    return "—" if x is None else f"{x:.2f}×"


def _time(v: Any) -> str:
    return fmt_duration(as_number(v))  # an em dash for a missing or NaN value


def _spike_lines(tbl: pd.DataFrame) -> list[str]:
    """Per spike, in the map's order: where the stable region ends and which points are bistable."""
    lines = []
    for spike, rows in tbl.groupby("spike", sort=False):
        rows = rows.sort_values("base")
        bad = rows[rows["verdict"] != "stable"]
        bistable = rows.loc[rows["verdict"] == "bistable", "base"]
        what = "no spike" if spike == "none" else f"spike `{spike}`"
        if bad.empty:
            text = f"{what}: every base load recovered, up to {format_rate(float(rows['base'].max()))}"
        else:
            first = float(bad["base"].min())
            stable_below = rows.loc[(rows["verdict"] == "stable") & (rows["base"] < first), "base"]
            text = (f"{what}: stable up to {format_rate(float(stable_below.max()))}, " if len(stable_below)
                    else f"{what}: not stable at any base load mapped; ") + \
                f"not from {format_rate(first)}"
        if len(bistable):
            text += "; bistable (seeds disagree) at " + ", ".join(format_rate(float(b)) for b in bistable)
        lines.append(text)
    return lines


def _point_rows(tbl: pd.DataFrame) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for r in tbl.sort_values(["spike", "base"], kind="stable").to_dict("records"):
        seeds = int(r.get("seeds") or 0)
        failed = int(r.get("not_recovered") or 0)
        rows.append((
            str(r["spike"]), format_rate(float(r["base"])), str(r.get("verdict") or "not run"),
            f"{failed} of {seeds}" + (" (stopped early)" if r.get("stopped_early") else ""),
            _time(r.get("recovery_median")), _time(r.get("recovery_p90")),
            f"{_ratio(r.get('peak_ratio_median'))} ({_ratio(r.get('peak_ratio_max'))})",
            _ratio(r.get("final_ratio_median")),
        ))
    return rows


def _settings(meta: Mapping[str, Any]) -> list[str]:
    def dur(key: str) -> str:
        return _time(meta.get(key))

    tolerance = as_number(meta.get("tolerance"))
    out = [
        f"Spikes on producer `{meta.get('producer')}` at {dur('at')}; each run lasts the spike plus a "
        f"{dur('horizon')} horizon after it.",
        f"A seed recovered when, over a sliding {dur('settle')} window from some instant to the run's end, the "
        f"offered load (attempts per second, retries included) stays within "
        f"{'—' if tolerance is None else f'{tolerance:.0%}'} of the base load (plus three Poisson standard "
        "deviations) and the queues hold at most twice their pre-spike depth plus one; its recovery time runs "
        "from the spike's end to the start of that final stretch.",
        f"Every point ran the same seeds (common random numbers), at most {meta.get('seeds')}: a point stopped "
        f"after its first {meta.get('min_seeds')} when they agreed, a bistable one ran them all. The scenario "
        "below is the base design; each point replaced the producer's rate with its base and spike.",
    ]
    if meta.get("partial"):
        out.append("The map was interrupted: points hold the seeds that finished.")
    return out


def build_stability_report(data: StabilityData) -> Report:
    """The report of a stability map: the stable region per spike, the heat map, every point and how it was made."""
    tbl, meta = data.table, data.meta
    verdicts = tbl["verdict"].fillna("not run")
    unstable, bistable = int((verdicts == "unstable").sum()), int((verdicts == "bistable").sum())
    tone: Tone = "ok" if unstable == bistable == 0 else "warn"
    head = (f"Every one of {len(tbl)} points recovered from its spike" if tone == "ok" else
            f"{unstable + bistable} of {len(tbl)} points do not always recover: {unstable} unstable, {bistable} bistable")
    lines = _spike_lines(tbl)
    fig = stability_map(tbl, title=None)
    name = str(meta.get("scenario") or "stability map")
    sections = [
        Section("map", "Stability map", (
            Block("figure", figure=FigureBlock(
                "stability", "Probability of not recovering, per base load and spike",
                "Each cell is one (base load, spike) point, coloured from green (every seed recovered) to red (none "
                "did); hatched cells are bistable (the seeds disagree: the same load and spike recover or not by "
                "chance, the mark of a metastable system); the thick line bounds the stable region.",
                png_bytes(fig))),
        )),
        Section("points", "Every point", (
            table(("spike", "base", "verdict", "not recovered", "recovery p50", "recovery p90",
                   "peak offered ÷ base, median (max)", "offered ÷ base at the end"),
                  _point_rows(tbl), align="llllrrrr",
                  caption="Recovery times are over the seeds that recovered; the offered load counts every publish "
                          "attempt, retries included, so a storm shows as a ratio well above 1."),
        )),
        Section("method", "How the map was made", (bullets(_settings(meta)),)),
        Section("scenario", "Scenario", tuple(scenario_blocks(meta.get("base_scenario"), None, meta.get("source")))
                if meta.get("base_scenario") else (note("stability.json holds no scenario."),)),
    ]
    if not lines:
        sections[0] = Section("map", "Stability map", (p("The map holds no point."),))
    seed = (meta.get("base_scenario") or {}).get("seed")
    return Report(title=name, kind="stability",
                  meta=meta_rows(meta.get("source"), seed, None, meta.get("queuesim_version"), data.path),
                  verdict=(tone, head, lines), sections=sections)
