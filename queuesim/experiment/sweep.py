"""``sweep()``: run every point of a grid, replications included, into one tidy table.

>>> import queuesim
>>> result = queuesim.sweep("scenarios/quickstart.yaml", ["workers.fulfil.count=8..12"])  # doctest: +SKIP
>>> result.table[["workers.fulfil.count", "latency.end_to_end.p99"]]                       # doctest: +SKIP
>>> result.save("reports/quickstart-sweep")                                                 # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from queuesim.experiment.execute import (
    Execution,
    Job,
    Outputs,
    PointRounds,
    Task,
    point_outputs,
    resolve_scenario,
    run_task,
    stream_replication,
)
from queuesim.experiment.executors import default_executor, run_tasks
from queuesim.experiment.grid import Point, Seeds, make_points, sweep_axes
from queuesim.experiment.precision import PrecisionRule, precision_rule
from queuesim.experiment.progress import Bar
from queuesim.experiment.slo import Slo, merge_slo
from queuesim.experiment.sweep_table import point_row, sweep_table
from queuesim.figures import Summary
from queuesim.outputs import atomic_directory
from queuesim.scenario import Scenario
from queuesim.scenario.study import Axis
from queuesim.version import __version__

if TYPE_CHECKING:
    import pandas as pd  # a sweep builds its table lazily: running one scenario never loads pandas

__all__ = ["evaluate_point", "SweepResult", "sweep", "run_points", "run_executions"]


def evaluate_point(task: Task) -> Execution:
    """Run one point in this process and return its summary (and time series if asked), not its records.

    Replications run serially here: the executor parallelises over points, and the seeds of a
    point's replications depend on (seed, replication number) only.
    """
    return run_task(task)


def run_executions(
    scenarios: Sequence[Scenario],
    replications: int | None,
    *,
    executor: Executor | None = None,
    progress: bool | Bar = True,
    description: str = "points",
    names: Sequence[str] | None = None,
    with_timeseries: bool = False,
    errors: dict[int, str] | None = None,
    limits: Mapping[str, float] | None = None,
    precision: PrecisionRule | None = None,
    slo: Slo | None = None,
    outputs: Outputs | None = None,
) -> tuple[list[Execution | None], bool]:
    """Run several scenarios on an executor (a fresh process pool if None), without their records.

    With ``errors`` (a dict), a failing point's error is recorded there and the others go on;
    without it the first failure raises :class:`~queuesim.experiment.executors.TaskFailed`.
    ``limits`` are SLO limits beyond each scenario's own, for the points' diagnosis. A shared
    :class:`~queuesim.experiment.progress.Bar` as ``progress`` is advanced by each point's replications.
    With ``precision``, each point adds replications until the rule holds for its ``slo`` figures.
    ``outputs`` (default each scenario's) ``summary`` streams the points that can
    (:class:`~queuesim.experiment.execute.PointRounds`); when all of them do, their replications
    are sent to the executor one by one rather than a point at a time, so that a point's
    precision rounds use every core.

    Returns
    -------
    (executions, interrupted)
        ``executions[i]`` is None for a point Ctrl-C stopped before it finished (or that failed).
    """
    extra = tuple(sorted((limits or {}).items()))
    tasks = [Task(s, replications or s.replications, with_timeseries, extra, precision, slo, outputs) for s in scenarios]
    rounds = [PointRounds(t.scenario, t.scenario.seed, t.replications, limits=limits, outputs=outputs,
                          precision=precision, slo=slo) for t in tasks]
    if all(r.streamed for r in rounds):
        jobs = sum(t.replications for t in tasks)
        streamed: AbstractContextManager[Executor] = default_executor(jobs) if executor is None else nullcontext(executor)
        with streamed as ex:
            return _run_rounds(rounds, ex, progress, description, names, with_timeseries, errors)
    context: AbstractContextManager[Executor] = default_executor(len(tasks)) if executor is None else nullcontext(executor)
    with context as ex:
        outcome = run_tasks(
            evaluate_point,
            tasks,
            executor=ex,
            progress=progress,
            description=description,
            describe=(lambda i: f"point {i} ({names[i]})") if names else None,
            failures="raise" if errors is None else "record",
            weight=float(replications) if replications and isinstance(progress, Bar) else 1.0,
        )
    if errors is not None:
        errors.update(outcome.errors)
    return outcome.results, outcome.interrupted


def _run_rounds(
    rounds: Sequence[PointRounds], executor: Executor, progress: bool | Bar, description: str,
    names: Sequence[str] | None, with_timeseries: bool, errors: dict[int, str] | None,
) -> tuple[list[Execution | None], bool]:
    """Streamed points, a replication per task: each round sends every unfinished point's next replications."""
    failed: dict[int, str] = {}
    interrupted = False
    shared = isinstance(progress, Bar)
    own = progress if isinstance(progress, Bar) else Bar(description, sum(r.target for r in rounds), enabled=progress)
    with nullcontext(own) if shared else own as bar:
        while not interrupted:
            pending = [(i, job) for i, r in enumerate(rounds) if not r.done and i not in failed for job in r.jobs()]
            if not pending:
                break

            def describe(k: int, pending: Sequence[tuple[int, Job]] = pending) -> str:
                i, job = pending[k]
                return f"point {i}{f' ({names[i]})' if names else ''}, replication {job[1]}"

            outcome = run_tasks(stream_replication, [job for _, job in pending], executor=executor, progress=bar,
                                description=description, describe=describe,
                                failures="raise" if errors is None else "record")
            interrupted = outcome.interrupted
            for k, message in outcome.errors.items():
                failed.setdefault(pending[k][0], message)
            for i, r in enumerate(rounds):
                got = [res for (j, _), res in zip(pending, outcome.results, strict=True) if j == i]
                if i in failed or r.done or not got or any(g is None for g in got):
                    continue
                before = r.target
                r.add(got)
                if not r.done:
                    bar.grow(r.target - before)  # the precision rule asked for more
    if errors is not None:
        errors.update(failed)
    done: list[Execution | None] = []
    for i, r in enumerate(rounds):
        if r.done and i not in failed:
            execution = r.execution(keep_records=False, with_timeseries=with_timeseries)
            execution.streams = None  # as run_task: the caller asked for the summary and series only
            done.append(execution)
        else:
            done.append(None)
    return done, interrupted


def run_points(
    scenarios: Sequence[Scenario],
    replications: int | None,
    *,
    executor: Executor | None = None,
    progress: bool | Bar = True,
    description: str = "points",
    names: Sequence[str] | None = None,
    limits: Mapping[str, float] | None = None,
    precision: PrecisionRule | None = None,
    slo: Slo | None = None,
    outputs: Outputs | None = None,
) -> tuple[list[Summary | None], bool]:
    """Summaries of several scenarios run on an executor (a fresh process pool if None).

    Returns
    -------
    (summaries, interrupted)
        ``summaries[i]`` is None for a point Ctrl-C stopped before it finished.
    """
    done, interrupted = run_executions(scenarios, replications, executor=executor, progress=progress,
                                       description=description, names=names, limits=limits, precision=precision,
                                       slo=slo, outputs=outputs)
    return [None if e is None else e.summary for e in done], interrupted


@dataclass
class SweepResult:
    """A finished (or interrupted) sweep.

    Attributes
    ----------
    scenario : Scenario
        The base scenario.
    axes : list of Axis
        What was varied, in grid order (first axis slowest).
    points : list of Point
        Every point of the grid, finished or not.
    summaries : list of dict or None
        summary.json of each point, None where Ctrl-C stopped it.
    timeseries : list of DataFrame or None
        Each point's bucketed time series (``timeseries.parquet`` with a ``point`` column), for the
        report's queue depth at the peak.
    table : pandas.DataFrame
        One row per finished point (see :mod:`queuesim.experiment.sweep_table` for the columns);
        ``table.attrs['partial']`` is True after Ctrl-C.
    partial : bool
        Whether some points did not run.
    slo : Slo or None
        The limits the ``slo.*`` columns check.
    """

    scenario: Scenario
    axes: list[Axis]
    points: list[Point]
    summaries: list[Summary | None]
    table: pd.DataFrame
    partial: bool = False
    slo: Slo | None = None
    replications: int = 1
    seeds: Seeds = "common"
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: Each point's time series (averaged over its replications), None where it did not run.
    timeseries: list[pd.DataFrame | None] = field(default_factory=list)
    #: Point number → the error that stopped it (``TypeName: message``); such a point has a row with only it.
    errors: dict[int, str] = field(default_factory=dict)
    #: Per point, each replication's offered over base load (what tells a bistable point); None where it did not run.
    offered_ratios: list[list[float | None] | None] = field(default_factory=list)

    @property
    def finished(self) -> int:
        """Number of points that ran."""
        return sum(s is not None for s in self.summaries)

    def metadata(self) -> dict[str, Any]:
        """What ``sweep.json`` holds: the sweep's description and completeness, not its figures."""
        return {
            "queuesim_version": __version__,
            "scenario": self.scenario.name,
            "source": self.source,
            "axes": [{"path": a.path, "spec": a.spec, "kind": a.kind, "values": list(a.values)} for a in self.axes],
            "points": len(self.points),
            "finished": self.finished,
            "partial": self.partial,
            "errors": {str(k): v for k, v in sorted(self.errors.items())},
            "replications": self.replications,
            "seeds": self.seeds,
            "slo": self.slo.limits if self.slo is not None else None,
            "cost": self.scenario.cost.model_dump(mode="json") if self.scenario.cost is not None else None,
            "base_scenario": self.scenario.to_dict(),
        }

    def points_timeseries(self) -> pd.DataFrame:
        """Every finished point's time series in one long table, keyed by its ``point`` column."""
        import pandas as pd

        frames = [ts.assign(point=p.index) for p, ts in zip(self.points, self.timeseries, strict=False) if ts is not None]
        if not frames:
            return pd.DataFrame({"point": pd.Series(dtype="int64")})
        table = pd.concat(frames, ignore_index=True)
        return table[["point", *(c for c in table.columns if c != "point")]]

    def save(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write ``sweep.parquet``, ``sweep.csv``, ``sweep.json``, and each point's summary and time series
        (``summaries.json``, ``timeseries.parquet``) into ``out_dir``; return their paths.

        Each entry of ``summaries.json`` is ``{point, summary, offered_ratios}``: the last, per
        replication, is what its ``bistable`` diagnosis was read from (the summary pools them).
        """
        names = ["sweep.parquet", "sweep.csv", "sweep.json", "summaries.json", "timeseries.parquet"]
        with atomic_directory(out_dir) as out:  # swapped in whole: never two sweeps' files side by side
            self.table.to_parquet(out / names[0], index=False)
            self.table.to_csv(out / names[1], index=False, float_format="%.9g")
            (out / names[2]).write_text(json.dumps(self.metadata(), indent=2) + "\n")
            ratios = self.offered_ratios or [None] * len(self.points)
            kept = [{"point": p.index, "summary": s, "offered_ratios": r}
                    for p, s, r in zip(self.points, self.summaries, ratios, strict=True) if s is not None]
            (out / names[3]).write_text(json.dumps(kept, indent=1) + "\n")
            self.points_timeseries().to_parquet(out / names[4], index=False)
        return [Path(out_dir) / n for n in names]


def sweep(
    scenario: Scenario | str | os.PathLike[str],
    vary: Sequence[str] | None = None,
    *,
    executor: Executor | None = None,
    progress: bool = True,
    replications: int | None = None,
    overrides: Sequence[str] = (),
    slo: Slo | Mapping[str, Any] | Sequence[str] | None = None,
    seeds: Seeds | None = None,
) -> SweepResult:
    """Run a scenario over a grid of values and collect one row per point.

    Parameters
    ----------
    scenario : Scenario, str or path-like
        A loaded scenario or a YAML file. Its ``sweep:`` section gives the grid.
    vary : sequence of str, optional
        ``path=values`` specs (like ``--vary``) added to the ``sweep:`` section; a path in both
        takes the values given here. ``a..b`` is the integers a to b, ``a..b:n`` n evenly spaced
        values (``200/s..2000/s:10``), ``a,b,c`` a list.
    executor : concurrent.futures.Executor, optional
        Where points run. Default: a process pool on every core (serial for one point or one core).
        Results do not depend on it.
    progress : bool, default True
        Show a progress bar (points done, time left) on stderr.
    replications : int, optional
        Replications per point; default the scenario's.
    overrides : sequence of str
        ``--set`` style ``path=value`` changes to the base scenario.
    slo : Slo, mapping or sequence of str, optional
        Limits added to the scenario's ``slo:``; they give the ``slo.*`` columns.
    seeds : {'common', 'independent'}, optional
        Default from the ``sweep:`` section, else ``common`` (every point runs with the
        scenario's seed: common random numbers).

    Returns
    -------
    SweepResult
        With ``partial=True`` if Ctrl-C stopped the sweep: the finished points are kept.

    Raises
    ------
    ScenarioError
        For a bad scenario or sweep specification, before any point runs.
    """
    scenario, source = resolve_scenario(scenario, overrides)
    axes = sweep_axes(scenario, vary)
    seeds = seeds or (scenario.sweep.seeds if scenario.sweep is not None else "common")
    limits = merge_slo(scenario, slo)
    rule = precision_rule(scenario)  # a scenario's `precision:` holds at every point
    built = make_points(scenario, axes, seeds)
    reps = replications or scenario.replications
    points = [p for p, _ in built]
    errors: dict[int, str] = {}
    done, interrupted = run_executions(
        [s for _, s in built],
        reps,
        executor=executor,
        progress=progress,
        description=f"sweep {scenario.name}",
        names=[p.describe() for p in points],
        with_timeseries=True,
        errors=errors,
        limits=None if limits is None else limits.limits,
        precision=rule,
        slo=limits,
        outputs=point_outputs(scenario),
    )
    summaries = [None if e is None else e.summary for e in done]
    rows = [point_row(p, s, summary, limits) for (p, s), summary in zip(built, summaries, strict=True) if summary is not None]
    # a failed point keeps its row: its settings and the error, no figures
    rows += [{"point": points[i].index, **points[i].values, "error": message} for i, message in errors.items()]
    table = sweep_table(rows, [a.path for a in axes])
    table.attrs["partial"] = interrupted or bool(errors)
    return SweepResult(
        scenario=scenario,
        axes=list(axes),
        points=points,
        summaries=summaries,
        table=table,
        partial=interrupted or bool(errors),
        slo=limits,
        replications=reps,
        seeds=seeds,
        source=source,
        timeseries=[None if e is None else e.timeseries for e in done],
        errors=errors,
        offered_ratios=[None if e is None else e.offered_ratios for e in done],
    )
