"""One experiment: a scenario's replications simulated and summarized; the task every other experiment runs.

``execute`` is what ``queuesim.run`` (through the API), sweeps, plans, compare and every executor
call: it runs the replications (in this process, or mapped over an executor), then builds
``summary.json`` once; with a precision rule (:mod:`queuesim.experiment.precision`) it adds
replications in rounds until the rule is satisfied or capped. With ``outputs="summary"`` the
replications stream their statistics (:mod:`queuesim.metrics.stream`) and keep no records, so
memory does not grow with the run; what the stream cannot give as the full summary does (Celery
pools, priorities, several producers, elastic pools, a one-replication verdict on a queue or pool
figure) runs with records instead (:func:`queuesim.metrics.stream.stream_refusal`,
:func:`queuesim.metrics.stream.stream_interval_gap`). ``Task`` is the picklable form
that a sweep or a plan sends to a process pool or a Dask worker; it brings back only what its
caller asked for (the summary, optionally the time series), since shipping the event records of
every point back would cost more than running it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from queuesim.errors import Problem, ScenarioError
from queuesim.experiment.budget import check_budget
from queuesim.experiment.executors import default_executor
from queuesim.experiment.precision import PrecisionRule, precision_rule
from queuesim.experiment.progress import Reporter, SimClock
from queuesim.experiment.slo import Slo, check_slo, merge_slo
from queuesim.figures import RunMeta, Summary
from queuesim.metrics.diagnosis import TimeSeries, diagnose, offered_ratios
from queuesim.metrics.stream import (
    StreamLayout,
    StreamSink,
    StreamStats,
    stream_interval_gap,
    stream_offered_ratios,
    stream_refusal,
    stream_timeseries,
    summarize_streams,
)
from queuesim.metrics.summary import summarize
from queuesim.metrics.timeseries import timeseries_columns
from queuesim.records import RunRecord
from queuesim.scenario import Scenario, load_scenario, scenario_from_dict
from queuesim.scenario.advice import visibility_warnings
from queuesim.scenario.limits import MAX_REPLICATIONS, MAX_SEED
from queuesim.sim import simulate
from queuesim.version import __version__

if TYPE_CHECKING:
    import pandas as pd

#: What a run keeps: ``full`` every record (tables, parquet, plots), ``summary`` streamed statistics only.
Outputs = Literal["full", "summary"]
#: What a replication job carries: (scenario, replication, seed[, progress reporter]).
Job = tuple[Scenario, int, int] | tuple[Scenario, int, int, Reporter | None]

__all__ = [
    "Outputs", "Execution", "PointRounds", "Task", "point_outputs", "execute", "run_task", "run_experiment", "resolve_scenario", "simulate_replication",
    "stream_replication", "summary_of", "scenario_warnings", "run_warnings",
]


def simulate_replication(args: Job) -> RunRecord:
    """Simulate replication ``r`` of a scenario with ``seed``: ``args = (scenario, r, seed[, reporter])`` (picklable).

    A :class:`~queuesim.experiment.progress.Reporter` receives the simulated time as the run goes.
    """
    scenario, replication, seed = args[:3]
    reporter = args[3] if len(args) > 3 else None
    return simulate(scenario, replication, seed, progress=reporter)


def stream_replication(args: Job) -> StreamStats:
    """Simulate replication ``r`` streaming its statistics (``args`` as :func:`simulate_replication`'s); no records kept."""
    scenario, replication, seed = args[:3]
    reporter = args[3] if len(args) > 3 else None
    sink = StreamSink(StreamLayout.of(scenario))
    record = simulate(scenario, replication, seed, progress=reporter, sink=sink)
    return sink.result(record.extra)


def scenario_warnings(scenario: Scenario) -> list[str]:
    """Warnings known before anything runs: unbounded queues offered a load of 1 or more (faults included),
    and jobs that outlive an SQS visibility timeout (:func:`queuesim.scenario.advice.visibility_warnings`)."""
    load = scenario.offered_load()
    nominal = scenario.offered_load(faults=False)
    out = []
    for q in scenario.unstable_queues():
        why = "" if load[q] == nominal[q] else (
            f" ({nominal[q]:.2f} without faults: crash restarts, failed work and redeliveries make up the rest)")
        out.append(f"queue '{q}' is unstable: offered load {load[q]:.2f} ≥ 1 on an unbounded queue{why}, "
                   "so its backlog and waits grow with the run length")
    return out + visibility_warnings(scenario)


def run_warnings(scenario: Scenario, summary: Summary) -> list[str]:
    """Warnings only the run can give: an unbounded queue whose measured load reached 1 though the model's stayed below."""
    offered = summary.get("offered_load") or scenario.offered_load()
    return [
        f"queue '{q}' ran at an effective load of {rho:.2f} ≥ 1 (offered {offered[q]:.2f} before the run): "
        "redeliveries, duplicates and retried work took more of its workers than the model expected, so its "
        "backlog grew with the run length"
        for q, rho in summary["effective_load"].items()
        if rho is not None and rho >= 1 and offered.get(q, 0.0) < 1 and not scenario.queues[q].bounded
    ]


def summary_of(
    scenario: Scenario, records: Sequence[RunRecord | StreamStats], seed: int, source: str | None = None,
    warnings: Sequence[str] | None = None, series: TimeSeries | None = None,
    limits: Mapping[str, float] | None = None, ratios: Sequence[float | None] | None = None,
) -> Summary:
    """The ``summary.json`` figures of a run's records (or streamed statistics), with the run's context,
    warnings and diagnosis.

    ``series`` (the run's time series) and ``ratios`` (:func:`~queuesim.metrics.diagnosis.offered_ratios`)
    are computed here when the caller does not have them: the diagnosis reads both. ``limits``
    are SLO limits beyond the scenario's own ``slo:``.
    """
    meta: RunMeta = {
        "queuesim_version": __version__,
        "scenario": scenario.name,
        "source": source,
        "seed": seed,
        "duration": scenario.duration,
        "warmup": scenario.warmup,
    }
    streams = [r for r in records if isinstance(r, StreamStats)]
    full = [r for r in records if isinstance(r, RunRecord)]
    out = summarize_streams(streams, meta) if streams else summarize(full, meta)
    out["offered_load"] = scenario.offered_load()
    notes = list(scenario_warnings(scenario) if warnings is None else warnings)
    out["warnings"] = notes
    notes += run_warnings(scenario, out)
    cycling = out["poison"]["cycling"]
    if cycling:
        notes.append(
            f"{cycling} poison message(s) were still being redelivered at the end: a queue "
            "without max_receives / delivery_limit / max_deliveries retries them forever, costing a worker each time"
        )
    slo = {**(scenario.slo.limits if scenario.slo is not None else {}), **(limits or {})}
    if series is None:
        series = stream_timeseries(streams) if streams else timeseries_columns(full)
    if ratios is None:
        ratios = stream_offered_ratios(streams) if streams else offered_ratios(full)
    out["diagnosis"] = diagnose(out, series, scenario.to_dict(), slo, ratios)
    return out


@dataclass
class Execution:
    """What one experiment produced: the records (when kept) or the streamed statistics, the summary, the time series.

    ``series`` holds the time series columns (averaged over replications) when kept;
    :attr:`timeseries` is the same as a DataFrame.
    """

    scenario: Scenario
    seed: int
    summary: Summary
    records: list[RunRecord] | None = None
    series: dict[str, np.ndarray] | None = None
    warnings: list[str] = field(default_factory=list)
    #: Per replication, offered load over base load (what tells a bistable point; not in summary.json).
    offered_ratios: list[float | None] = field(default_factory=list)
    streams: list[StreamStats] | None = None

    @property
    def timeseries(self) -> pd.DataFrame | None:
        """The time series as a DataFrame (``timeseries.csv``), or None when not kept."""
        if self.series is None:
            return None
        import pandas as pd

        return pd.DataFrame(self.series)
    #: The SLO limits the run was checked against (the scenario's and any given), None without.
    slo: Slo | None = None


def execute(
    scenario: Scenario,
    replications: int | None = None,
    *,
    seed: int | None = None,
    executor: Executor | None = None,
    source: str | None = None,
    keep_records: bool = True,
    with_timeseries: bool = False,
    limits: Mapping[str, float] | None = None,
    clock: SimClock | None = None,
    outputs: Outputs | None = None,
    precision: PrecisionRule | None = None,
    slo: Slo | None = None,
) -> Execution:
    """Simulate ``replications`` of ``scenario`` (default: its own) and summarize them.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario.
    replications, seed : int, optional
        Override the scenario's values.
    executor : concurrent.futures.Executor, optional
        Where the replications run; None runs them here, one after the other. Results do not
        depend on it: replication ``r`` draws its streams from (seed, r, component name) only.
    source : str, optional
        The scenario file, recorded in the summary.
    keep_records : bool, default True
        Keep the event records (needed for tables, parquet files and plots); full outputs only.
    with_timeseries : bool, default False
        Also keep the bucketed time series (averaged over replications); it is computed either
        way, for the diagnosis, and kept with the records too (the run's outputs write it).
    limits : mapping, optional
        SLO limits beyond the scenario's own, for the diagnosis (a sweep's or a plan's ``--slo``).
    clock : SimClock, optional
        The progress bar the replications report their simulated time to.
    outputs : {'full', 'summary'}, optional
        Default the scenario's ``outputs``. ``summary`` streams each replication's statistics
        and keeps no records (percentiles from a sketch, within its relative accuracy, 0.5%).
    precision : PrecisionRule, optional
        Add replications in rounds (on ``executor``) until the rule is satisfied or capped; the
        summary then has a ``precision`` block saying what was reached.
    slo : Slo, optional
        The limits whose figures ``precision`` watches (without them, the headline figures).
    """
    seed = scenario.seed if seed is None else seed
    reps = scenario.replications if replications is None else replications
    if reps < 1:
        raise ValueError("replications must be ≥ 1")
    rounds = PointRounds(scenario, seed, reps, source=source, limits=limits, outputs=outputs, precision=precision,
                         slo=slo)
    job = stream_replication if rounds.streamed else simulate_replication
    while not rounds.done:
        # replication r always draws from (seed, r): a later round only adds replications, the
        # ones already run are kept as they are
        first = len(rounds.results)
        if clock is not None and first:
            clock.more(rounds.target - first, scenario.duration)
        reporters = [None if clock is None else clock.reporter(scenario.duration, executor)
                     for _ in range(first, rounds.target)]
        jobs: list[Job] = [(*j, reporter) for j, reporter in zip(rounds.jobs(), reporters, strict=True)]
        rounds.add([job(j) for j in jobs] if executor is None else list(executor.map(job, jobs)))
        if clock is not None:  # replications that could not report as they ran (a Dask worker) count when done
            for reporter in reporters:
                if reporter is None:
                    clock.finished(scenario.duration)
    return rounds.execution(keep_records=keep_records, with_timeseries=with_timeseries)


def watched_figures(checked: Slo | None, precision: PrecisionRule | None) -> list[str]:
    """The figures whose intervals a run reads: its SLO's limited ones (for the verdicts) and its precision rule's."""
    return [*(checked.limits if checked is not None else ()), *(precision.figures(checked) if precision is not None else ())]


def point_outputs(scenario: Scenario) -> Outputs:
    """What a sweep point or plan candidate runs with: the scenario's ``outputs`` when it sets one, else ``summary``.

    Their records are never written, so by default they stream wherever the stream gives the
    full summary's figures (:class:`PointRounds`): percentiles within the sketch's 0.5%, every
    other figure the same. A scenario that says ``outputs: full`` keeps the exact percentiles.
    """
    return scenario.outputs if "outputs" in scenario.model_fields_set else "summary"


class PointRounds:
    """One experiment's replications, run in rounds until its precision rule (if any) is satisfied.

    :func:`execute` drives it with its own jobs; a sweep or a plan whose points stream drives many
    at once, sending every point's next replications to the executor together
    (:func:`queuesim.experiment.sweep.run_executions`), so one point's precision rounds use every
    core. Either way replication ``r`` draws from (seed, r) only, and the summary is built from
    the replications in order: the figures do not depend on who ran what.

    A point streams (keeps no records) when ``outputs`` (default the scenario's) is ``summary``,
    :func:`~queuesim.metrics.stream.stream_refusal` names nothing, and the stream has an interval
    for every figure its SLO limits and precision rule watch (:func:`~queuesim.metrics.stream.stream_interval_gap`).
    """

    def __init__(self, scenario: Scenario, seed: int, replications: int, *, source: str | None = None,
                 limits: Mapping[str, float] | None = None, outputs: Outputs | None = None,
                 precision: PrecisionRule | None = None, slo: Slo | None = None) -> None:
        self.scenario, self.seed, self.source = scenario, seed, source
        self.limits, self.precision, self.slo = limits, precision, slo
        self.target = replications
        self.warnings = scenario_warnings(scenario)
        self.checked = merge_slo(scenario, slo)  # the limits the summary's verdicts are checked against
        watched = [*watched_figures(self.checked, precision), *(limits or ())]
        self.streamed = ((outputs or scenario.outputs) == "summary" and stream_refusal(scenario) is None
                         and stream_interval_gap(watched, replications) is None)
        self.results: list[RunRecord | StreamStats] = []
        self.summary: Summary | None = None
        self.series: dict[str, np.ndarray] = {}
        self.ratios: list[float | None] = []
        self.done = False

    def jobs(self) -> list[tuple[Scenario, int, int]]:
        """The replications the next round runs: (scenario, replication, seed) each."""
        return [(self.scenario, r, self.seed) for r in range(len(self.results), self.target)]

    def add(self, results: Sequence[RunRecord | StreamStats]) -> None:
        """Take a round's replications (in order), summarize all so far and decide whether another round is needed."""
        self.results += results
        streams = [r for r in self.results if isinstance(r, StreamStats)]
        records = [r for r in self.results if isinstance(r, RunRecord)]
        if self.streamed:
            self.series, self.ratios = stream_timeseries(streams), stream_offered_ratios(streams)
        else:
            self.series, self.ratios = timeseries_columns(records), offered_ratios(records)
        self.summary = summary_of(self.scenario, self.results, self.seed, self.source, self.warnings, self.series,
                                  self.limits, self.ratios)
        more = None if self.precision is None else self.precision.next_replications(self.summary, self.slo)
        if more is None:
            self.done = True
        else:
            self.target = more

    def execution(self, *, keep_records: bool = True, with_timeseries: bool = False) -> Execution:
        """The finished experiment (:meth:`add` has said it is done)."""
        summary = self.summary
        assert self.done and summary is not None
        if self.precision is not None:
            summary["precision"] = self.precision.report(summary, self.slo)
        # the limits this run was checked against, with their verdicts, so that a report or a later
        # reader of summary.json sees the same verdicts without being told the --slo limits again
        if self.checked is not None:
            summary["slo"] = check_slo(summary, self.checked).to_dict()
        streams = [r for r in self.results if isinstance(r, StreamStats)]
        records = [r for r in self.results if isinstance(r, RunRecord)]
        return Execution(scenario=self.scenario, seed=self.seed, summary=summary,
                         records=records if keep_records and not self.streamed else None,
                         series=self.series if with_timeseries or (keep_records and not self.streamed) else None,
                         warnings=self.warnings, offered_ratios=self.ratios,
                         streams=streams if self.streamed else None, slo=self.slo)


@dataclass(frozen=True)
class Task:
    """Everything one experiment needs to run anywhere: its scenario (seed included) and what to bring back.

    A task runs as its ``outputs`` (default its scenario's) says: with ``summary`` it streams where
    the stream gives the full summary's figures (:class:`PointRounds`), else it runs with records.
    """

    scenario: Scenario
    replications: int
    with_timeseries: bool = False
    #: SLO limits beyond the scenario's own (a sweep's or plan's), for the diagnosis.
    limits: tuple[tuple[str, float], ...] = ()
    #: Add replications until this rule is satisfied (a precision-driven point or plan candidate)...
    precision: PrecisionRule | None = None
    #: ...for the figures of these limits (the scenario's and the sweep's or plan's).
    slo: Slo | None = None
    #: None: the scenario's ``outputs``; ``summary`` streams unless the point needs its records'
    #: figures (:class:`PointRounds` says when).
    outputs: Outputs | None = None


def run_task(task: Task) -> Execution:
    """Run a task in this process (replications serially: the executor parallelises over tasks), without its records."""
    done = execute(task.scenario, task.replications, keep_records=False, with_timeseries=task.with_timeseries,
                   limits=dict(task.limits), outputs=task.outputs, precision=task.precision, slo=task.slo)
    done.streams = None  # the summary and series are what the caller asked for: do not ship the sketches back
    return done


def resolve_scenario(
    scenario: Scenario | str | os.PathLike[str], overrides: Sequence[str] = ()
) -> tuple[Scenario, str | None]:
    """A validated scenario from a loaded one or a YAML path, with ``--set`` style overrides; and its file."""
    if not isinstance(scenario, Scenario):
        source = os.fspath(scenario)
        return load_scenario(source, overrides), source
    if overrides:
        return scenario_from_dict(scenario.to_dict(), overrides=overrides), None
    return scenario, None


def run_experiment(
    scenario: Scenario | str | os.PathLike[str],
    *,
    seed: int | None = None,
    replications: int | None = None,
    overrides: Sequence[str] = (),
    executor: Executor | None = None,
    max_events: int | None = 0,
    clock: SimClock | None = None,
    outputs: Outputs | None = None,
    slo: Slo | Mapping[str, Any] | Sequence[str] | None = None,
    precision: float | str | None = None,
    max_replications: int | None = None,
) -> Execution:
    """Resolve a scenario and execute it with its records kept: one replication here, several on a
    process pool over every core unless ``executor`` says otherwise.

    ``max_events`` refuses a run estimated above it (:func:`queuesim.experiment.budget.check_budget`;
    None: half this machine's memory; 0, the default: no limit) before anything is simulated.
    ``clock`` is the progress bar its replications report to. ``slo`` adds limits to the
    scenario's (the execution carries the merged ones, and the diagnosis reads them); ``precision``
    (``'2%'``; default the scenario's ``precision:``) adds replications, up to ``max_replications``,
    until every SLO figure (or headline figure) is that precise. ``outputs="summary"`` (default: the
    scenario's ``outputs``) streams the statistics and keeps no records; its memory does not grow
    with the run, so the memory limit does not apply to it. It refuses (ScenarioError) what the
    stream does not give as the full summary does, naming the field.
    """
    resolved, source = resolve_scenario(scenario, overrides)
    reps = resolved.replications if replications is None else replications
    if not 1 <= reps <= MAX_REPLICATIONS:
        raise ValueError(f"replications must be ≥ 1 and ≤ {MAX_REPLICATIONS:,}, got {reps}")
    if seed is not None and not 0 <= seed <= MAX_SEED:  # numpy's SeedSequence refuses it deep inside a worker
        raise ValueError(f"seed must be ≥ 0 and ≤ 2⁶³−1, got {seed}")
    limits = merge_slo(resolved, slo)
    rule = precision_rule(resolved, precision, max_replications)
    if rule is not None and rule.max_replications < reps:
        raise ValueError(f"max_replications ({rule.max_replications}) is below the replications asked for ({reps})")
    mode: Outputs = outputs or resolved.outputs
    if mode == "summary":
        refused = stream_refusal(resolved)
        gap = stream_interval_gap(watched_figures(limits, rule), reps)
        if refused is None and gap is not None:
            refused = ("slo" if limits is not None and gap in limits.limits else "precision",
                       f"the interval of {gap} from one replication (batch means of the queue and pool figures "
                       "need the records; two or more replications stream it)")
        if refused is not None:
            raise ScenarioError([Problem(source or "<scenario>", None, "outputs", (
                f"outputs: summary does not stream {refused[1]} ({refused[0]}) yet: run it with outputs: full"))])
    if max_events != 0:
        check_budget(resolved, reps if rule is None else rule.max_replications, max_events, streamed=mode == "summary")
    parallel = reps > 1 or rule is not None
    context: AbstractContextManager[Executor | None] = (
        nullcontext(executor) if executor is not None or not parallel
        else default_executor(reps if rule is None else rule.max_replications)
    )
    with context as ex:
        return execute(resolved, reps, seed=seed, executor=ex, source=source, clock=clock, precision=rule, slo=limits,
                       limits=None if limits is None else limits.limits, outputs=mode, with_timeseries=mode == "summary")
