"""One experiment: a scenario's replications simulated and summarized; the task every other experiment runs.

``execute`` is what ``queuesim.run`` (through the API), sweeps, plans, compare and every executor
call: it runs the replications (in this process, or mapped over an executor), then builds
``summary.json`` once. With ``outputs="summary"`` the replications stream their statistics
(:mod:`queuesim.metrics.stream`) and keep no records, so memory does not grow with the run.
``Task`` is the picklable form that a sweep or a plan sends to a process pool or a Dask worker;
it brings back only what its caller asked for (the summary, optionally the time series), since
shipping the event records of every point back would cost more than running it; tasks stream.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Executor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from queuesim.experiment.budget import check_budget
from queuesim.experiment.executors import default_executor
from queuesim.figures import RunMeta, Summary
from queuesim.metrics.stream import StreamLayout, StreamSink, StreamStats, stream_timeseries, summarize_streams
from queuesim.metrics.summary import summarize
from queuesim.records import RunRecord
from queuesim.scenario import Scenario, load_scenario, scenario_from_dict
from queuesim.sim import simulate
from queuesim.version import __version__

if TYPE_CHECKING:
    import pandas as pd

#: What a run keeps: ``full`` every record (tables, parquet, plots), ``summary`` streamed statistics only.
Outputs = Literal["full", "summary"]

__all__ = [
    "Outputs", "Execution", "Task", "execute", "run_task", "run_experiment", "resolve_scenario", "simulate_replication",
    "stream_replication", "summary_of", "scenario_warnings",
]


def simulate_replication(args: tuple[Scenario, int, int]) -> RunRecord:
    """Simulate replication ``r`` of a scenario with ``seed``: ``args = (scenario, r, seed)`` (picklable)."""
    scenario, replication, seed = args
    return simulate(scenario, replication, seed)


def stream_replication(args: tuple[Scenario, int, int]) -> StreamStats:
    """Simulate replication ``r`` streaming its statistics: ``args = (scenario, r, seed)`` (picklable); no records kept."""
    scenario, replication, seed = args
    sink = StreamSink(StreamLayout.of(scenario))
    record = simulate(scenario, replication, seed, sink=sink)
    return sink.result(record.extra)


def scenario_warnings(scenario: Scenario) -> list[str]:
    """Warnings known before anything runs: unbounded queues offered a load of 1 or more."""
    load = scenario.offered_load()
    return [
        f"queue '{q}' is unstable: offered load {load[q]:.2f} ≥ 1 on an unbounded "
        "queue, so its backlog and waits grow with the run length"
        for q in scenario.unstable_queues()
    ]


def summary_of(
    scenario: Scenario, records: Sequence[RunRecord] | Sequence[StreamStats], seed: int, source: str | None = None,
    warnings: Sequence[str] | None = None,
) -> Summary:
    """The ``summary.json`` figures of a run's records (or streamed statistics), with the run's context and warnings."""
    meta: RunMeta = {
        "queuesim_version": __version__,
        "scenario": scenario.name,
        "source": source,
        "seed": seed,
        "duration": scenario.duration,
        "warmup": scenario.warmup,
    }
    if records and isinstance(records[0], StreamStats):
        out = summarize_streams([r for r in records if isinstance(r, StreamStats)], meta)
    else:
        out = summarize([r for r in records if isinstance(r, RunRecord)], meta)
    out["offered_load"] = scenario.offered_load()
    notes = list(scenario_warnings(scenario) if warnings is None else warnings)
    out["warnings"] = notes
    cycling = out["poison"]["cycling"]
    if cycling:
        notes.append(
            f"{cycling} poison message(s) were still being redelivered at the end: a queue "
            "without max_receives / delivery_limit / max_deliveries retries them forever, costing a worker each time"
        )
    return out


@dataclass
class Execution:
    """What one experiment produced: the records (when kept) or the streamed statistics, the summary, the time series.

    ``series`` holds the time series columns (averaged over replications) when asked for;
    :attr:`timeseries` is the same as a DataFrame.
    """

    scenario: Scenario
    seed: int
    summary: Summary
    records: list[RunRecord] | None = None
    series: dict[str, np.ndarray] | None = None
    warnings: list[str] = field(default_factory=list)
    streams: list[StreamStats] | None = None

    @property
    def timeseries(self) -> pd.DataFrame | None:
        """The time series as a DataFrame (``timeseries.csv``), or None when not asked for."""
        if self.series is None:
            return None
        import pandas as pd

        return pd.DataFrame(self.series)


def _series(records: Sequence[RunRecord]) -> dict[str, np.ndarray]:
    from queuesim.metrics.timeseries import timeseries_columns

    return timeseries_columns(records)


def execute(
    scenario: Scenario,
    replications: int | None = None,
    *,
    seed: int | None = None,
    executor: Executor | None = None,
    source: str | None = None,
    keep_records: bool = True,
    with_timeseries: bool = False,
    outputs: Outputs | None = None,
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
        Also compute the bucketed time series (averaged over replications).
    outputs : {'full', 'summary'}, optional
        Default the scenario's ``outputs``. ``summary`` streams each replication's statistics
        and keeps no records (percentiles from a sketch, within 0.5%).
    """
    seed = scenario.seed if seed is None else seed
    reps = scenario.replications if replications is None else replications
    if reps < 1:
        raise ValueError("replications must be ≥ 1")
    jobs = [(scenario, r, seed) for r in range(reps)]
    warnings = scenario_warnings(scenario)
    if (outputs or scenario.outputs) == "summary":
        if executor is None:
            streams = [stream_replication(j) for j in jobs]
        else:
            streams = list(executor.map(stream_replication, jobs))
        summary = summary_of(scenario, streams, seed, source, warnings)
        series = stream_timeseries(streams) if with_timeseries else None
        return Execution(scenario=scenario, seed=seed, summary=summary, series=series, warnings=warnings,
                         streams=streams)
    if executor is None:
        records = [simulate_replication(j) for j in jobs]
    else:
        records = list(executor.map(simulate_replication, jobs))
    summary = summary_of(scenario, records, seed, source, warnings)
    return Execution(scenario=scenario, seed=seed, summary=summary, records=records if keep_records else None,
                     series=_series(records) if with_timeseries else None, warnings=warnings)


@dataclass(frozen=True)
class Task:
    """Everything one experiment needs to run anywhere: its scenario (seed included) and what to bring back.

    Tasks stream their statistics (``outputs="summary"``): a point needs only its summary.
    """

    scenario: Scenario
    replications: int
    with_timeseries: bool = False
    outputs: Outputs = "summary"


def run_task(task: Task) -> Execution:
    """Run a task in this process (replications serially: the executor parallelises over tasks), without its records."""
    done = execute(task.scenario, task.replications, keep_records=False, with_timeseries=task.with_timeseries,
                   outputs=task.outputs)
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
    outputs: Outputs | None = None,
) -> Execution:
    """Resolve a scenario and execute it with its records kept: one replication here, several on a
    process pool over every core unless ``executor`` says otherwise.

    ``max_events`` refuses a run estimated above it (:func:`queuesim.experiment.budget.check_budget`;
    None: half this machine's memory; 0, the default: no limit) before anything is simulated.
    ``outputs="summary"`` (default: the scenario's ``outputs``) streams the statistics and keeps
    no records; its memory does not grow with the run, so the memory limit does not apply to it.
    """
    resolved, source = resolve_scenario(scenario, overrides)
    reps = resolved.replications if replications is None else replications
    if reps < 1:
        raise ValueError("replications must be ≥ 1")
    mode: Outputs = outputs or resolved.outputs
    if max_events != 0:
        check_budget(resolved, reps, max_events, streamed=mode == "summary")
    context: AbstractContextManager[Executor | None] = (
        nullcontext(executor) if executor is not None or reps == 1 else default_executor(reps)
    )
    with context as ex:
        return execute(resolved, reps, seed=seed, executor=ex, source=source, outputs=mode,
                       with_timeseries=mode == "summary")
