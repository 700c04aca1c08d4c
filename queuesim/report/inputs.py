"""Reading what a report is built from: a run, sweep, compare or plan output directory, or a result in memory."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from queuesim.errors import QueuesimError

__all__ = ["ReportError", "RunData", "SweepData", "CompareData", "PlanData", "load_run_dir", "run_data",
           "load_sweep_dir", "load_compare_dir", "load_plan", "load_input"]


class ReportError(QueuesimError):
    """A directory that holds no run, sweep, compare or plan result, or a result that cannot be read."""


@dataclass
class RunData:
    """What a report needs from one run.

    ``scenario`` is the validated :class:`~queuesim.scenario.Scenario` when it could be rebuilt,
    ``scenario_data`` its dict form (``Scenario.to_dict()``), ``scenario_origin`` where it came from
    (``scenario.json``, the source file, or None). ``figure_pngs`` are the PNGs the run saved.
    """

    summary: dict[str, Any]
    timeseries: pd.DataFrame | None = None
    scenario: Any = None
    scenario_data: dict[str, Any] | None = None
    scenario_origin: str | None = None
    requests: pd.DataFrame | None = None
    messages: pd.DataFrame | None = None
    figure_pngs: dict[str, bytes] = field(default_factory=dict)
    path: Path | None = None

    @property
    def diagnosis(self) -> list[Mapping[str, Any]]:
        """What limits the design, as the run found it (``summary.json``'s ``diagnosis``; empty for an older run)."""
        return [f for f in self.summary.get("diagnosis") or [] if isinstance(f, Mapping)]



@dataclass
class SweepData:
    """What a report needs from a sweep: the table, its metadata (``sweep.json``) and an optional plan."""

    table: pd.DataFrame
    meta: dict[str, Any]
    axes: list[str]
    plan: dict[str, Any] | None = None
    scenario: Any = None
    scenario_data: dict[str, Any] | None = None
    scenario_origin: str | None = None
    path: Path | None = None
    #: Each finished point's summary (``summaries.json``), keyed by point number.
    summaries: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: Each finished point's time series (``timeseries.parquet``), with a ``point`` column.
    timeseries: pd.DataFrame | None = None

    def point_timeseries(self, point: int) -> tuple[pd.DataFrame | None, dict[str, Any] | None]:
        """One point's time series and summary, as the sweep stored them (None where it did not)."""
        if self.timeseries is None or "point" not in self.timeseries:
            return None, None
        rows = self.timeseries[self.timeseries["point"] == point]
        if rows.empty:
            return None, None
        return rows.drop(columns="point").reset_index(drop=True), self.summaries.get(point)



def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ReportError(f"cannot read {path}: {error}") from None



def _scenario_from(data: Mapping[str, Any] | None, source: str | None,
                   directory: Path) -> tuple[Any, dict[str, Any] | None, str | None]:
    """(Scenario or None, its dict, where it came from): the stored dict first, else the source file."""
    from queuesim.errors import ScenarioError
    from queuesim.scenario import load_scenario, scenario_from_dict

    if data is not None:
        try:
            sc = scenario_from_dict(dict(data), source="scenario.json")
            return sc, sc.to_dict(), "scenario.json"
        except ScenarioError:
            return None, dict(data), "scenario.json"
    for candidate in source_candidates(source, directory):
        try:
            sc = load_scenario(candidate)
        except (ScenarioError, OSError):
            continue
        return sc, sc.to_dict(), str(source)
    return None, None, None



def source_candidates(source: str | None, directory: Path) -> list[Path]:
    if not source:
        return []
    path = Path(source)
    if path.is_absolute():
        return [path] if path.is_file() else []
    found = []
    for base in (Path.cwd(), *directory.resolve().parents):
        if (base / path).is_file():
            found.append(base / path)
            break
    return found



def _requests_from_messages(messages: pd.DataFrame) -> pd.DataFrame:
    """Request rows rebuilt from ``messages.parquet`` (only when the run saved no latency plot).

    A request is created with its first-stage message, is done when the last of its messages
    settles, and is completed when every one of its messages completed.
    """
    keys = ["replication", "request"]
    cols = messages[[*keys, "created", "done"]].assign(
        ok=(messages["outcome"] == "completed").to_numpy(),
        first=np.where(messages["stage"].to_numpy() == 0, messages["in_window"].to_numpy(dtype=bool), False))
    out = cols.groupby(keys, sort=False, observed=True).agg(
        created=("created", "min"), done=("done", "max"), ok=("ok", "all"), in_window=("first", "any")).reset_index()
    out["outcome"] = np.where(out.pop("ok").to_numpy(), "completed", "other")
    out["end_to_end"] = out["done"] - out["created"]
    return out



def load_run_dir(path: str | os.PathLike[str]) -> RunData:
    """Read a ``queuesim run`` output directory."""
    d = Path(path)
    summary = _read_json(d / "summary.json")
    stored = _read_json(d / "scenario.json") if (d / "scenario.json").is_file() else None
    scenario, data, origin = _scenario_from(stored, summary.get("source"), d)
    ts = pd.read_csv(d / "timeseries.csv") if (d / "timeseries.csv").is_file() else None
    pngs = {stem: (d / f"{stem}.png").read_bytes() for stem in ("latency_cdf",)
            if (d / f"{stem}.png").is_file()}
    run = RunData(summary=summary, timeseries=ts, scenario=scenario, scenario_data=data,
                  scenario_origin=origin, figure_pngs=pngs, path=d)
    if "latency_cdf" not in pngs and (d / "messages.parquet").is_file():
        run.messages = pd.read_parquet(d / "messages.parquet")
        run.requests = _requests_from_messages(run.messages)
    return run



def run_data(result: Any) -> RunData:
    """A :class:`RunData` from an in-memory :class:`~queuesim.RunResult` (no files involved)."""
    sc = result.scenario
    return RunData(summary=result.summary, timeseries=result.timeseries, scenario=sc,
                   scenario_data=sc.to_dict(), scenario_origin="the run", requests=result.requests,
                   messages=result.messages)



def _varied_columns(table: pd.DataFrame, meta: Mapping[str, Any]) -> list[str]:
    axes = [a["path"] for a in meta.get("axes") or [] if isinstance(a, Mapping) and a.get("path") in table]
    if axes:
        return axes
    # no sweep.json: the columns between `point` and the first summary figure are the varied paths
    cols = list(table.columns)
    start = cols.index("point") + 1 if "point" in cols else 0
    out = []
    for c in cols[start:]:
        if c.split(".")[0] in ("messages", "rates", "latency", "replications", "window", "seed",
                               "duration", "warmup", "offered_load", "slo", "cost"):
            break
        out.append(c)
    return out



def load_sweep_dir(path: str | os.PathLike[str], plan: str | os.PathLike[str] | None = None) -> SweepData:
    """Read a ``queuesim sweep`` output directory (and ``plan.json`` beside it or at ``plan``)."""
    d = Path(path)
    try:
        tbl = pd.read_parquet(d / "sweep.parquet")
    except (OSError, ValueError) as error:
        raise ReportError(f"cannot read {d / 'sweep.parquet'}: {error}") from None
    meta = _read_json(d / "sweep.json") if (d / "sweep.json").is_file() else {}
    plan_path = Path(plan) if plan is not None else d / "plan.json"
    plan_data = _read_json(plan_path) if plan_path.is_file() else None
    if plan is not None and plan_data is None:
        raise ReportError(f"no plan at {plan_path}")
    stored = meta.get("base_scenario") or meta.get("scenario_data")
    if stored is None and (d / "scenario.json").is_file():
        stored = _read_json(d / "scenario.json")
    scenario, data, origin = _scenario_from(stored if isinstance(stored, Mapping) else None,
                                            meta.get("source"), d)
    summaries: dict[int, dict[str, Any]] = {}
    if (d / "summaries.json").is_file():
        kept = _read_json(d / "summaries.json")
        summaries = {int(k["point"]): k["summary"] for k in kept if isinstance(k, Mapping) and "point" in k} \
            if isinstance(kept, list) else {}
    series = None
    if (d / "timeseries.parquet").is_file():
        try:
            series = pd.read_parquet(d / "timeseries.parquet")
        except (OSError, ValueError) as error:
            raise ReportError(f"cannot read {d / 'timeseries.parquet'}: {error}") from None
    return SweepData(table=tbl, meta=meta, axes=_varied_columns(tbl, meta), plan=plan_data,
                     scenario=scenario, scenario_data=data, scenario_origin=origin, path=d,
                     summaries=summaries, timeseries=series)


def sweep_data(result: Any) -> SweepData:
    """A :class:`SweepData` from an in-memory :class:`~queuesim.SweepResult` (no files involved)."""
    sc = result.scenario
    return SweepData(table=result.table, meta=result.metadata(), axes=[a.path for a in result.axes],
                     scenario=sc, scenario_data=sc.to_dict(), scenario_origin="the sweep",
                     summaries={p.index: s for p, s in zip(result.points, result.summaries, strict=True) if s is not None},
                     timeseries=result.points_timeseries())



@dataclass
class CompareData:
    """What a report needs from ``queuesim compare``: the table (``compare.csv``) and each variant's summary."""

    table: pd.DataFrame
    summaries: dict[str, dict[str, Any]]
    path: Path | None = None


@dataclass
class PlanData:
    """A capacity plan (``plan.json``) without a sweep, and the scenario it sized when it can be read."""

    plan: dict[str, Any]
    scenario: Any = None
    scenario_data: dict[str, Any] | None = None
    scenario_origin: str | None = None
    path: Path | None = None


@dataclass
class StabilityData:
    """What a report needs from ``queuesim stability``: the per-point table, the per-seed table and how the map was made."""

    table: pd.DataFrame
    seeds: pd.DataFrame
    meta: dict[str, Any]
    path: Path | None = None


_STABILITY_COLUMNS = ("base", "spike", "seeds", "p_not_recovered", "verdict")


def load_stability_dir(path: str | os.PathLike[str]) -> StabilityData:
    """Read a ``queuesim stability`` output directory (``stability.parquet``, ``stability_seeds.parquet``, ``stability.json``)."""
    d = Path(path)
    try:
        table = pd.read_parquet(d / "stability.parquet")
        seeds = pd.read_parquet(d / "stability_seeds.parquet") if (d / "stability_seeds.parquet").is_file() \
            else pd.DataFrame()
    except (OSError, ValueError) as error:
        raise ReportError(f"cannot read {d / 'stability.parquet'}: {error}") from None
    missing = [c for c in _STABILITY_COLUMNS if c not in table]
    if missing:
        raise ReportError(f"{d / 'stability.parquet'}: not a stability map (no column {', '.join(missing)})")
    meta = _read_json(d / "stability.json") if (d / "stability.json").is_file() else {}
    if not isinstance(meta, dict):
        raise ReportError(f"{d / 'stability.json'}: not the settings of a stability map")
    return StabilityData(table=table, seeds=seeds, meta=meta, path=d)


def stability_data(result: Any) -> StabilityData:
    """A :class:`~queuesim.StabilityResult` in memory, as the report reads it."""
    return StabilityData(table=result.table, seeds=result.seeds, meta=result.metadata())


def load_compare_dir(path: str | os.PathLike[str]) -> CompareData:
    """Read a ``queuesim compare`` output directory (``compare.csv`` and ``compare.json``)."""
    d = Path(path)
    try:
        table = pd.read_csv(d / "compare.csv", index_col="variant")
    except (OSError, ValueError) as error:
        raise ReportError(f"cannot read {d / 'compare.csv'}: {error}") from None
    summaries = _read_json(d / "compare.json") if (d / "compare.json").is_file() else {}
    if not isinstance(summaries, dict):
        raise ReportError(f"{d / 'compare.json'}: not a summary per variant")
    return CompareData(table=table, summaries=summaries, path=d)


def load_plan(path: str | os.PathLike[str]) -> PlanData:
    """Read a ``plan.json`` (or the folder holding it), with the scenario it names when that file is readable."""
    p = Path(path)
    file = p / "plan.json" if p.is_dir() else p
    plan = _read_json(file)
    if not isinstance(plan, dict) or "search" not in plan:
        raise ReportError(f"{file}: not a plan.json (no `search`)")
    scenario, data, origin = _scenario_from(None, plan.get("source"), file.parent)
    return PlanData(plan=plan, scenario=scenario, scenario_data=data, scenario_origin=origin, path=file.parent)


def load_input(path: str | os.PathLike[str],
               plan: str | os.PathLike[str] | None = None) -> RunData | SweepData | CompareData | PlanData | StabilityData:
    """Read a run, sweep, compare, plan or stability directory (a path to its ``summary.json``,
    ``sweep.parquet``, ``compare.csv``, ``plan.json`` or ``stability.parquet`` also works)."""
    p = Path(path)
    if p.is_file() and p.name in ("summary.json", "sweep.parquet", "sweep.json", "compare.csv", "compare.json",
                                  "plan.json", "stability.parquet", "stability.json"):
        p = p.parent
    if not p.is_dir():
        raise ReportError(f"{path}: no such directory")
    if (p / "sweep.parquet").is_file():
        return load_sweep_dir(p, plan)
    if (p / "summary.json").is_file():
        return load_run_dir(p)
    if (p / "compare.csv").is_file():
        return load_compare_dir(p)
    if (p / "stability.parquet").is_file():
        return load_stability_dir(p)
    if (p / "plan.json").is_file() or plan is not None:
        return load_plan(plan if plan is not None else p)
    raise ReportError(f"{path}: no result here: neither a run (summary.json), a sweep (sweep.parquet), "
                      "a comparison (compare.csv), a plan (plan.json) nor a stability map (stability.parquet)")
