"""Stability maps: at which base load and spike does a design stop recovering, and how likely is it?

``stability()`` runs one producer's load as a spike, ``{shape: spike, base, peak, at, duration}``,
over a grid of base rates and spikes (peaks and/or durations), each point over several seeds, and
asks of every run whether the system recovered within ``horizon`` after the spike ended. A run
recovered when, from some instant on to the end of the run, both hold over a sliding ``settle``
window of its time series:

- the offered load (publish attempts per second, retries included) is within ``tolerance`` of the
  base load (the spiked producer's base plus every other producer's mean rate), beyond the noise of
  a Poisson count over the window (three standard deviations, √(base / settle) per second each:
  without it a small system's ordinary windows would read as a relapse);
- the backlog drained: the queues' total depth is at most twice its largest such average before
  the spike plus one, or ``tolerance`` of the base load's arrivals over the window, whichever is
  larger (so a busy queue's ordinary swings, at 90% load say, are not read as a backlog).

Its recovery time runs from the spike's end to the start of that final stretch. A point is
*stable* when every seed recovered, *unstable* when none did, and *bistable* when seeds disagree
(a metastable system: the same load and spike recover or not depending on chance). Every point
runs the same seeds (common random numbers: points differ only in their load); a point whose
first ``min_seeds`` seeds agree stops there, a bistable one runs all ``seeds`` to estimate its
probability of not recovering. Each seed is one :class:`~queuesim.experiment.execute.Task` (the
same task sweeps run) with its time series, classified where it ran; only the verdict comes back.

>>> import queuesim
>>> result = queuesim.stability("scenarios/retry-storm.yaml", bases="300/s..600/s:7",
...                             peaks="+0/s,600/s", durations="5s")           # doctest: +SKIP
>>> result.table[["base", "spike", "p_not_recovered", "verdict"]]             # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Sequence
from concurrent.futures import Executor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import ValidationError

from queuesim.errors import Problem, ScenarioError
from queuesim.experiment.execute import Task, resolve_scenario, run_task
from queuesim.experiment.executors import default_executor, run_tasks
from queuesim.outputs import atomic_directory
from queuesim.scenario import Scenario
from queuesim.scenario.load_shapes import Spike
from queuesim.scenario.study import parse_axis, scenario_data, set_path
from queuesim.scenario.units import format_duration, format_rate
from queuesim.version import __version__

__all__ = ["SpikePoint", "SeedVerdict", "StabilityResult", "Verdict", "recovery", "stability", "VERDICTS",
           "STABILITY_SOURCE"]

#: The ``source`` of problems in the stability options (``--base``, ``--spike-peak`` …).
STABILITY_SOURCE = "stability"
Verdict = Literal["stable", "bistable", "unstable"]
#: The verdicts, from best to worst.
VERDICTS: tuple[Verdict, ...] = ("stable", "bistable", "unstable")


@dataclass(frozen=True)
class SpikePoint:
    """One (base load, spike) point of a stability map.

    Attributes
    ----------
    index : int
        Position in the grid (bases slowest).
    base, peak : float
        The spiked producer's base and peak rates per second (a peak at or below the base: no spike).
    duration : float
        The spike's length in seconds.
    spike : str
        A short label of the spike, ``600/s × 5s`` or ``none``, the map's row.
    """

    index: int
    base: float
    peak: float
    duration: float

    @property
    def spike(self) -> str:
        if self.peak <= self.base:
            return "none"
        return f"{format_rate(self.peak)} × {format_duration(self.duration)}"


@dataclass(frozen=True)
class _SeedTask:
    """One seed of one point: everything a worker needs to run and classify it (picklable)."""

    point: int
    seed_index: int
    scenario: Scenario
    base_rate: float
    start: float
    end: float
    settle: float
    tolerance: float


@dataclass(frozen=True)
class SeedVerdict:
    """What one seed of one point showed.

    Attributes
    ----------
    point, seed_index, seed : int
    recovered : bool
        Within the horizon (see the module's rule).
    recovery_time : float
        Seconds from the spike's end to the start of the final recovered stretch; NaN if it did not recover.
    peak_ratio : float
        The largest offered load of one time-series bucket, over the base load.
    final_ratio : float
        The offered load over the last ``settle`` seconds, over the base load.
    final_depth : float
        The queues' total depth averaged over the last ``settle`` seconds.
    """

    point: int
    seed_index: int
    seed: int
    recovered: bool
    recovery_time: float
    peak_ratio: float
    final_ratio: float
    final_depth: float


def recovery(series: pd.DataFrame, base_rate: float, start: float, end: float, settle: float,
             tolerance: float) -> tuple[bool, float, float, float, float]:
    """Whether one run recovered after a spike over [start, end), read from its time series.

    Parameters
    ----------
    series : DataFrame
        One run's ``timeseries`` (``time``, ``offered``, ``depth.<queue>`` per bucket).
    base_rate : float
        Offered load per second the system should come back to.
    start, end : float
        The spike's start and end.
    settle : float
        Length of the sliding window the conditions are averaged over.
    tolerance : float
        Allowed excess of the offered load over the base (0.1: 10%).

    Returns
    -------
    (recovered, recovery_time, peak_ratio, final_ratio, final_depth)
        See :class:`SeedVerdict`.
    """
    times = series["time"].to_numpy(dtype=float)
    width = float(times[1] - times[0]) if len(times) > 1 else 1.0
    span = max(1, round(settle / width))
    offered = series["offered"].to_numpy(dtype=float) / width
    depth = series[[c for c in series.columns if c.startswith("depth.")]].sum(axis=1).to_numpy(dtype=float)
    # trailing means: the value at bucket i averages buckets i-span+1 .. i
    rolling_offered = pd.Series(offered).rolling(span, min_periods=span).mean().to_numpy()
    rolling_depth = pd.Series(depth).rolling(span, min_periods=span).mean().to_numpy()
    ends = times + width
    before = (ends <= start) & ~np.isnan(rolling_depth)
    calm_depth = float(np.max(rolling_depth[before])) if before.any() else 0.0
    drained = max(2.0 * calm_depth + 1.0, tolerance * base_rate * settle)
    limit = (1.0 + tolerance) * base_rate + 3.0 * math.sqrt(base_rate / settle)
    ok = (rolling_offered <= limit) & (rolling_depth <= drained)
    ok &= ~np.isnan(rolling_offered)
    peak_ratio = float(offered.max() / base_rate) if base_rate > 0 else math.inf
    final_ratio = float(rolling_offered[-1] / base_rate) if base_rate > 0 else math.inf
    final_depth = float(rolling_depth[-1])
    after = ends >= end + settle  # a window that lies wholly after the spike
    if not (ok[-1] and after[-1]):
        return False, math.nan, peak_ratio, final_ratio, final_depth
    # the final stretch of good windows: back from the end to the last bad one after the spike
    bad = np.flatnonzero(~ok & after)
    first_good = int(bad[-1]) + 1 if bad.size else int(np.flatnonzero(after)[0])
    recovered_at = ends[first_good] - settle  # the window that first qualified began here
    return True, max(0.0, float(recovered_at - end)), peak_ratio, final_ratio, final_depth


def _run_seed(task: _SeedTask) -> SeedVerdict:
    """Run one seed of one point with its time series and classify it (module level: process pools pickle it)."""
    execution = run_task(Task(task.scenario, 1, with_timeseries=True))
    assert execution.timeseries is not None
    recovered, time, peak, final, depth = recovery(execution.timeseries, task.base_rate, task.start, task.end,
                                                   task.settle, task.tolerance)
    return SeedVerdict(task.point, task.seed_index, task.scenario.seed, recovered, time, peak, final, depth)


@dataclass
class StabilityResult:
    """A stability map: one row per (base, spike) point, and what every seed showed.

    Attributes
    ----------
    table : DataFrame
        Per point: ``point``, ``base``, ``peak``, ``spike_duration``, ``spike`` (label), ``seeds``
        run, ``not_recovered``, ``p_not_recovered``, ``verdict`` (stable / bistable /
        unstable), ``recovery_median``/``recovery_p90``/``recovery_max`` (s, over the seeds that
        recovered; NaN if none did), ``peak_ratio_median``/``peak_ratio_max`` (peak offered load
        over base), ``final_ratio_median`` (offered over base at the end), ``stopped_early``.
    seeds : DataFrame
        One row per seed run (:class:`SeedVerdict` fields plus ``base``, ``peak``, ``spike_duration``).
    partial : bool
        Ctrl-C stopped some seeds (the table holds what finished).
    """

    scenario: Scenario
    producer: str
    points: list[SpikePoint]
    table: pd.DataFrame
    seeds: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)
    partial: bool = False
    source: str | None = None

    def boundary(self) -> dict[str, float | None]:
        """Per spike label, the lowest base that is not stable (None: every base was stable)."""
        out: dict[str, float | None] = {}
        for spike, rows in self.table.groupby("spike", sort=False):
            unstable = rows.loc[rows["verdict"] != "stable", "base"]
            out[str(spike)] = float(unstable.min()) if len(unstable) else None
        return out

    def metadata(self) -> dict[str, Any]:
        """What ``stability.json`` holds: how the map was made."""
        return {
            "queuesim_version": __version__,
            "scenario": self.scenario.name,
            "source": self.source,
            "producer": self.producer,
            **self.settings,
            "points": len(self.points),
            "seeds_run": len(self.seeds),
            "partial": self.partial,
            "boundary": self.boundary(),
            "base_scenario": self.scenario.to_dict(),
        }

    def save(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write ``stability.parquet`` (per point), ``stability.csv``, ``stability_seeds.parquet`` and
        ``stability.json`` into ``out_dir``; return their paths. (The heat map is the report's:
        :func:`queuesim.report.stability.stability_map` draws it from :attr:`table`.)"""
        names = ["stability.parquet", "stability.csv", "stability_seeds.parquet", "stability.json"]
        with atomic_directory(out_dir) as out:
            self.table.to_parquet(out / names[0], index=False)
            self.table.to_csv(out / names[1], index=False, float_format="%.6g")
            self.seeds.to_parquet(out / names[2], index=False)
            (out / names[3]).write_text(json.dumps(self.metadata(), indent=2, default=str) + "\n")
        return [Path(out_dir) / n for n in names]


def _values(spec: str | Sequence[float] | None, kind: str, what: str, default: float) -> tuple[list[float], bool]:
    """Numbers of a ``--base``/``--spike-peak``/``--spike-duration`` spec and whether they are relative (``+200/s``)."""
    if spec is None:
        return [default], False
    if not isinstance(spec, str):
        return [float(v) for v in spec], False
    text = spec.strip()
    items = [s.strip() for s in text.split(",")] if ".." not in text else [text]
    if kind == "rate" and "none" in items:  # a peak of `none`: no spike (any peak at or below the base is none)
        items = ["+0/s" if all(i == "none" or i.startswith("+") for i in items) else "0/s" if i == "none" else i
                 for i in items]
        text = ",".join(items)
    relative = all(s.startswith("+") for s in items)
    if relative:
        text = ",".join(s[1:] for s in items)
    elif any(s.startswith("+") for s in items):
        raise ValueError(f"{what}: give every value relative to the base (+200/s) or none")
    axis = parse_axis(what, text)
    if axis.kind not in (kind, "number"):
        raise ValueError(f"{what}: expected {kind}s like {'400/s' if kind == 'rate' else '5s'}, got {spec!r}")
    return [float(v) for v in axis.values], relative


def _spiked_producer(scenario: Scenario, producer: str | None) -> str:
    if producer is not None:
        if producer not in scenario.producers:
            raise ScenarioError([Problem(STABILITY_SOURCE, None, "producer",
                                         f"unknown producer {producer!r}; the scenario has {', '.join(scenario.producers)}")])
        return producer
    spiked = [n for n, p in scenario.producers.items() if isinstance(p.rate_spec, Spike)]
    open_ = [n for n, p in scenario.producers.items() if p.rate_spec is not None]
    if spiked:
        return spiked[0]
    if open_:
        return open_[0]
    raise ScenarioError([Problem(STABILITY_SOURCE, None, "producer", "no producer with a rate to spike; name one with --producer")])


def stability(
    scenario: Scenario | str | os.PathLike[str],
    *,
    producer: str | None = None,
    bases: str | Sequence[float] | None = None,
    peaks: str | Sequence[float] | None = None,
    durations: str | Sequence[float] | None = None,
    at: float | None = None,
    horizon: float = 60.0,
    seeds: int = 10,
    min_seeds: int = 4,
    tolerance: float = 0.1,
    settle: float = 5.0,
    overrides: Sequence[str] = (),
    executor: Executor | None = None,
    progress: bool = True,
) -> StabilityResult:
    """Map where a spike tips the system into a failure it does not recover from.

    Parameters
    ----------
    scenario : Scenario, str or path-like
    producer : str, optional
        The producer whose rate is spiked; default the first with a spike (else with a rate).
    bases, peaks, durations : str or sequence of float, optional
        The grid: ``'300/s..600/s:7'``, ``'none,600/s,900/s'``, ``'5s,15s'``; peaks may be
        relative to the base (``'+0/s,+200/s'``); ``none`` (or any peak at or below the base) is
        no spike. Default: the scenario's own spike (or constant rate, as the base with no spike).
    at : float, optional
        When the spike starts (default: the scenario's spike, else its warmup + 2 · settle).
    horizon : float, default 60
        How long after the spike's end a run may take to recover: each run lasts at + duration + horizon.
    seeds, min_seeds : int
        At most ``seeds`` per point; a point whose first ``min_seeds`` agree stops there.
    tolerance : float, default 0.1
        Offered load within this fraction of the base counts as back to normal.
    settle : float, default 5
        Seconds the recovery conditions are averaged over (and must hold at the end).
    overrides : sequence of str
        ``--set`` style changes to the scenario first.
    executor : concurrent.futures.Executor, optional
        Where the seeds run (default: a process pool on every core). Results do not depend on it.
    progress : bool, default True

    Returns
    -------
    StabilityResult

    Raises
    ------
    ScenarioError
        For a bad option or a point the scenario refuses, before anything runs.
    """
    base_scenario, source = resolve_scenario(scenario, overrides)
    name = _spiked_producer(base_scenario, producer)
    spec = base_scenario.producers[name]
    own = spec.rate_spec if isinstance(spec.rate_spec, Spike) else None
    own_base = own.base if own is not None else spec.rate or 0.0
    problems: list[Problem] = []
    try:
        base_values, _ = _values(bases, "rate", "--base", own_base)
        peak_values, relative = _values(peaks, "rate", "--spike-peak", own.peak if own is not None else own_base)
        duration_values, _ = _values(durations, "duration", "--spike-duration", own.duration if own is not None else settle)
    except ValueError as error:
        raise ScenarioError([Problem(STABILITY_SOURCE, None, "", str(error))]) from None
    start = at if at is not None else (own.at if own is not None else base_scenario.warmup + 2 * settle)
    if min(base_values) <= 0:
        problems.append(Problem(STABILITY_SOURCE, None, "--base", "every base rate must be > 0"))
    if min(duration_values) <= 0:
        problems.append(Problem(STABILITY_SOURCE, None, "--spike-duration", "every spike must last > 0 s"))
    if not (horizon > settle > 0):
        problems.append(Problem(STABILITY_SOURCE, None, "--horizon", f"must be longer than the settle window ({format_duration(settle)})"))
    if not 1 <= min_seeds <= seeds:
        problems.append(Problem(STABILITY_SOURCE, None, "--min-seeds", f"must be between 1 and --seeds ({seeds})"))
    if not 0 <= tolerance < 10:
        problems.append(Problem(STABILITY_SOURCE, None, "--tolerance", "must be a fraction ≥ 0 (0.1 is 10%)"))
    if start < settle:
        problems.append(Problem(STABILITY_SOURCE, None, "--spike-at", f"must leave a settle window ({format_duration(settle)}) before the spike"))
    if start <= base_scenario.warmup:
        problems.append(Problem(STABILITY_SOURCE, None, "--spike-at", f"must be after the warmup ({format_duration(base_scenario.warmup)})"))
    if problems:
        raise ScenarioError(problems)

    others = sum(p.mean_rate for n, p in base_scenario.producers.items() if n != name)
    points: list[SpikePoint] = []
    scenarios: list[Scenario] = []
    data = scenario_data(base_scenario)
    seen: set[tuple[float, float, float]] = set()
    for base in base_values:
        for peak_value in peak_values:
            for length in duration_values:
                peak = max(base + peak_value if relative else peak_value, base)
                # a peak at or below the base is no spike, whatever its length: one point, not several
                key = (base, peak, length) if peak > base else (base, base, 0.0)
                if key in seen:
                    continue
                seen.add(key)
                point = SpikePoint(len(points), base, peak, length)
                points.append(point)
                point_data = copy.deepcopy(data)
                set_path(point_data, f"producers.{name}.rate",
                         {"shape": "spike", "base": base, "peak": point.peak, "at": start, "duration": length})
                point_data["duration"] = start + length + horizon
                try:
                    scenarios.append(Scenario.model_validate(point_data))
                except ValidationError as error:
                    problems.append(Problem(STABILITY_SOURCE, None, f"base={format_rate(base)}, {point.spike}", str(error).splitlines()[0]))
    if problems:
        raise ScenarioError(problems[:10])

    seed_values = [_seed(base_scenario.seed, k) for k in range(seeds)]

    def tasks_for(point: SpikePoint, ks: range) -> list[_SeedTask]:
        sc = scenarios[point.index]
        return [_SeedTask(point.index, k, sc.model_copy(update={"seed": seed_values[k]}), point.base + others,
                          start, start + point.duration, settle, tolerance) for k in ks]

    context: AbstractContextManager[Executor] = (
        default_executor(len(points) * min_seeds) if executor is None else nullcontext(executor))
    verdicts: list[SeedVerdict] = []
    partial = False
    with context as ex:
        first = [t for p in points for t in tasks_for(p, range(min_seeds))]
        outcome = run_tasks(_run_seed, first, executor=ex, progress=progress,
                            description=f"stability {base_scenario.name} ({min_seeds} seeds a point)")
        verdicts += [v for v in outcome.results if v is not None]
        partial = outcome.interrupted
        undecided = [p for p in points if len({v.recovered for v in verdicts if v.point == p.index}) > 1]
        more = [t for p in undecided for t in tasks_for(p, range(min_seeds, seeds))]
        if more and not partial:
            outcome = run_tasks(_run_seed, more, executor=ex, progress=progress,
                                description=f"stability: {len(undecided)} bistable point(s), up to {seeds} seeds")
            verdicts += [v for v in outcome.results if v is not None]
            partial = outcome.interrupted
    seeds_table = _seeds_table(verdicts, points)
    table = _points_table(points, seeds_table, min_seeds)
    settings = {"bases": base_values, "peaks": peak_values, "peaks_relative": relative, "durations": duration_values,
                "at": start, "horizon": horizon, "seeds": seeds, "min_seeds": min_seeds, "tolerance": tolerance,
                "settle": settle, "seed_values": seed_values}
    return StabilityResult(base_scenario, name, points, table, seeds_table, settings, partial, source)


def _seed(seed: int, k: int) -> int:
    """The k-th seed of a map, the same at every point (common random numbers)."""
    return int(np.random.SeedSequence(seed, spawn_key=(0x5AB1E, k)).generate_state(1, dtype=np.uint32)[0])


def _seeds_table(verdicts: Sequence[SeedVerdict], points: Sequence[SpikePoint]) -> pd.DataFrame:
    rows = [{**asdict(v), "base": points[v.point].base, "peak": points[v.point].peak,
             "spike_duration": points[v.point].duration} for v in sorted(verdicts, key=lambda v: (v.point, v.seed_index))]
    columns = ["point", "seed_index", "seed", "base", "peak", "spike_duration", "recovered", "recovery_time",
               "peak_ratio", "final_ratio", "final_depth"]
    return pd.DataFrame(rows, columns=columns)


def _points_table(points: Sequence[SpikePoint], seeds: pd.DataFrame, min_seeds: int) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for p in points:
        mine = seeds[seeds["point"] == p.index]
        n = len(mine)
        failed = int((~mine["recovered"].astype(bool)).sum()) if n else 0
        times = mine.loc[mine["recovered"].astype(bool), "recovery_time"].to_numpy(dtype=float)
        verdict: Verdict | None = None
        if n:
            verdict = "stable" if failed == 0 else ("unstable" if failed == n else "bistable")
        rows.append({
            "point": p.index,
            "base": p.base,
            "peak": p.peak,
            "spike_duration": p.duration,
            "spike": p.spike,
            "seeds": n,
            "not_recovered": failed,
            "p_not_recovered": failed / n if n else math.nan,
            "verdict": verdict,
            "recovery_median": float(np.median(times)) if times.size else math.nan,
            "recovery_p90": float(np.quantile(times, 0.9)) if times.size else math.nan,
            "recovery_max": float(times.max()) if times.size else math.nan,
            "peak_ratio_median": float(mine["peak_ratio"].median()) if n else math.nan,
            "peak_ratio_max": float(mine["peak_ratio"].max()) if n else math.nan,
            "final_ratio_median": float(mine["final_ratio"].median()) if n else math.nan,
            "stopped_early": bool(n and n <= min_seeds and verdict != "bistable"),
        })
    return pd.DataFrame(rows)
