"""The Python API: run a scenario and get its summary, tables and figures.

>>> import queuesim
>>> result = queuesim.run("scenarios/quickstart.yaml")        # doctest: +SKIP
>>> result.summary["latency"]["end_to_end"]["p99"]            # doctest: +SKIP
>>> result.messages.groupby("outcome").size()                 # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from queuesim.errors import QueuesimError
from queuesim.experiment.execute import Execution, Outputs, run_experiment, summary_of
from queuesim.experiment.slo import Slo, SloReport, check_slo
from queuesim.figures import Summary
from queuesim.metrics.timeseries import write_csv
from queuesim.outputs import atomic_directory
from queuesim.records import RunRecord
from queuesim.scenario import Scenario

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure

    from queuesim.experiment.compare import Comparison
    from queuesim.metrics.stream import StreamStats


class NoRecordsError(QueuesimError):
    """A per-row table or a plot was asked of a run made with ``outputs: summary``, which keeps no records."""


@dataclass
class RunResult:
    """Everything one ``run`` produced. Tables are built on first access.

    A run made with ``outputs="summary"`` has no ``records`` (its ``streams`` hold the streamed
    statistics): its summary and time series are there, its per-row tables and plots are not.
    """

    scenario: Scenario
    records: list[RunRecord]
    seed: int
    source: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: The summary when the experiment layer already built it (``run`` does); else built on first access.
    precomputed_summary: Summary | None = field(default=None, repr=False, compare=False)
    #: Streamed statistics, one per replication, when the run kept no records (``outputs="summary"``).
    streams: list[StreamStats] | None = field(default=None, repr=False, compare=False)
    #: The time series columns the experiment layer already built (streamed runs).
    series: dict[str, np.ndarray] | None = field(default=None, repr=False, compare=False)
    #: The SLO limits of the run: the scenario's ``slo:`` and any given to :func:`run`.
    slo: Slo | None = None

    @property
    def outputs(self) -> Outputs:
        """``full`` when the records were kept, ``summary`` when only streamed statistics were."""
        return "summary" if self.streams is not None else "full"

    def _records(self, what: str) -> list[RunRecord]:
        if self.streams is not None:
            raise NoRecordsError(f"{what} needs the per-message records, which a run with outputs: summary does "
                                 "not keep; run with outputs: full (the default) for them")
        return self.records

    def verdicts(self) -> SloReport | None:
        """Each SLO limit checked against the summary (met / borderline / not met), None without an SLO."""
        return None if self.slo is None else check_slo(self.summary, self.slo)

    @cached_property
    def summary(self) -> Summary:
        """The ``summary.json`` figures (every key is described in :mod:`queuesim.figures`)."""
        if self.precomputed_summary is not None:
            return self.precomputed_summary
        return summary_of(self.scenario, self.streams or self.records, self.seed, self.source, self.warnings)

    @cached_property
    def requests(self) -> pd.DataFrame:
        """One row per producer request."""
        from queuesim.metrics.tables import requests_frame

        return requests_frame(self._records("the requests table"))

    @cached_property
    def messages(self) -> pd.DataFrame:
        """One row per message at each queue (``messages.parquet``)."""
        from queuesim.metrics.tables import messages_frame

        return messages_frame(self._records("the messages table"))

    @cached_property
    def deliveries(self) -> pd.DataFrame:
        """One row per waiting spell and the delivery that ended it (``deliveries.parquet``)."""
        from queuesim.metrics.tables import deliveries_frame

        return deliveries_frame(self._records("the deliveries table"))

    def _series(self) -> dict[str, np.ndarray]:
        if self.series is None:
            if self.streams is not None:
                from queuesim.metrics.stream import stream_timeseries

                self.series = stream_timeseries(self.streams)
            else:
                from queuesim.metrics.timeseries import timeseries_columns

                self.series = timeseries_columns(self.records)
        return self.series

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        """Queue depth, in-service workers, 503s and completions per time bucket."""
        import pandas as pd

        return pd.DataFrame(self._series())

    def figures(self) -> dict[str, Figure]:
        """The run's plots as matplotlib figures, keyed by file stem."""
        from queuesim.report import run_figures, run_figures_from

        records = self._records("plots")
        if "requests" in self.__dict__ and "messages" in self.__dict__:  # already built: the same columns
            return run_figures(self.requests, self.messages, self._series(), self.summary)
        # the plots read two latency samples: no tables (and no pandas) for them
        from queuesim.metrics.summary import pooled_samples

        samples = pooled_samples(records, ("end_to_end", "queue_wait"))
        return run_figures_from(samples["end_to_end"], samples["queue_wait"], self._series(), self.summary)

    def save(self, out_dir: str | Path, plots: bool = True) -> list[Path]:
        """Write summary.json, scenario.json (the resolved scenario, overrides applied),
        messages.parquet, deliveries.parquet, timeseries.csv and the PNG plots; a run with
        ``outputs: summary`` writes summary.json, scenario.json and timeseries.csv only.

        The folder is built aside and swapped in whole (:func:`queuesim.outputs.atomic_directory`):
        an interrupted save leaves the previous run's folder as it was, never a mix of two runs.
        """
        target = Path(out_dir)
        with atomic_directory(target) as out:
            written = [out / "summary.json", out / "scenario.json", out / "timeseries.csv"]
            written[0].write_text(json.dumps(self.summary, indent=2) + "\n")
            written[1].write_text(json.dumps(self.scenario.to_dict(), indent=2) + "\n")
            write_csv(written[2], self._series())
            if self.streams is None:
                from queuesim.metrics.parquet import write_deliveries, write_messages

                written += [write_messages(self.records, out / "messages.parquet"),
                            write_deliveries(self.records, out / "deliveries.parquet")]
                if plots:
                    from queuesim.report import save_all

                    written += save_all(self.figures(), out)
        return [target / p.relative_to(out) for p in written]


def run(
    scenario: Scenario | str | os.PathLike[str],
    *,
    seed: int | None = None,
    replications: int | None = None,
    overrides: Sequence[str] = (),
    executor: Executor | None = None,
    max_events: int | None = 0,
    outputs: Outputs | None = None,
    slo: Slo | Mapping[str, Any] | Sequence[str] | None = None,
    precision: float | str | None = None,
    max_replications: int | None = None,
    progress: bool = False,
) -> RunResult:
    """Simulate a scenario (a path to YAML or a loaded :class:`Scenario`).

    Parameters
    ----------
    seed, replications : int, optional
        Override the scenario's values.
    overrides : sequence of str
        ``path=value`` settings applied before validation (like ``--set`` on the command line).
    executor : concurrent.futures.Executor, optional
        Where replications run; by default in-process for one, a process pool for several.
        Results are identical on every executor: each replication's random streams derive from
        (seed, replication number, component name) only.
    max_events : int or None, default 0
        Refuse (``BudgetError``) a run estimated to need more simulation events than this, before
        it starts; None sizes the limit to this machine's memory (as ``queuesim run`` does), 0 sets none.
    outputs : {'full', 'summary'}, optional
        Default the scenario's ``outputs`` (``full``). ``summary`` streams the statistics and keeps
        no records: memory stays flat however long the run, the summary has the same keys (its
        percentiles within 0.5%), and the per-row tables and plots are not available.
    slo : Slo, mapping or sequence of str, optional
        Limits added to the scenario's ``slo:`` (``['latency.end_to_end.p99=500ms']``):
        :meth:`RunResult.verdicts` checks them, and ``precision`` watches their figures.
    precision : float or str, optional
        Keep adding replications until every SLO figure (without an SLO: the mean and p99
        end-to-end latency and the throughput) has a 95% interval no wider than ``±precision`` of
        its value (``'2%'`` or 0.02); default the scenario's ``precision:``. The summary's
        ``precision`` block says what was reached.
    max_replications : int, optional
        The cap of a precision-driven run (default the scenario's, else 50).
    progress : bool, default False
        Show one bar on stderr (a terminal only): simulated time, replications done, time left; a
        precision-driven run grows it with each round.
    """
    from queuesim.experiment.execute import resolve_scenario
    from queuesim.experiment.progress import SimClock

    resolved, source = resolve_scenario(scenario, overrides)
    reps = resolved.replications if replications is None else replications
    with SimClock(resolved.duration * reps, reps, f"run {resolved.name}", enabled=progress) as clock:
        done = run_experiment(resolved if source is None else source, seed=seed, replications=replications,
                              overrides=overrides if source is not None else (), executor=executor,
                              max_events=max_events, clock=clock, slo=slo, precision=precision,
                              max_replications=max_replications, outputs=outputs)
    return _result(done)


def _result(done: Execution) -> RunResult:
    if done.streams is not None:
        return RunResult(scenario=done.scenario, records=[], seed=done.seed, source=done.summary.get("source"),
                         warnings=done.warnings, precomputed_summary=done.summary, streams=done.streams,
                         series=done.series)
    assert done.records is not None  # run_experiment keeps them
    return RunResult(scenario=done.scenario, records=done.records, seed=done.seed,
                     source=done.summary.get("source"), warnings=done.warnings, precomputed_summary=done.summary,
                     series=done.series, slo=done.slo)


@dataclass
class CompareResult:
    """Variants run side by side (:func:`compare`): each variant's :class:`RunResult`, a table and a figure."""

    comparison: Comparison

    @cached_property
    def results(self) -> dict[str, RunResult]:
        """Each variant's run, by variant name."""
        return {name: _result(done) for name, done in self.comparison.executions.items()}

    @property
    def table(self) -> pd.DataFrame:
        """One row per variant: brokers, counts, rates, latency percentiles, losses by cause, drain times."""
        return self.comparison.table

    def figure(self) -> Figure:
        """Loss, duplicates and p99 per variant as three bar panels."""
        from queuesim.report.figures_compare import comparison_figure

        return comparison_figure(self.table)

    def save(self, out_dir: str | os.PathLike[str], plots: bool = True) -> list[Path]:
        """Write compare.csv, compare.json (every variant's summary) and compare.png, swapped in whole."""
        with atomic_directory(out_dir) as out:
            names = [p.name for p in self.comparison.write_into(out)]
            if plots:
                self.figure().savefig(out / "compare.png", dpi=100)
                names.append("compare.png")
        return [Path(out_dir) / n for n in names]


def compare(
    sources: Sequence[str | os.PathLike[str] | Scenario],
    *,
    seed: int | None = None,
    replications: int | None = None,
    overrides: Sequence[str] = (),
    executor: Executor | None = None,
    slo: Slo | Mapping[str, Any] | Sequence[str] | None = None,
    progress: bool = False,
) -> CompareResult:
    """Run variants side by side with common random numbers.

    Parameters
    ----------
    sources : sequence of paths or Scenarios
        One scenario with a ``variants:`` section, or several scenarios (one variant each).
    seed, replications, overrides, executor
        As for :func:`run`; the same seed drives every variant, so the same requests arrive and
        the same faults are drawn in each: the differences come from the design.
    slo : Slo, mapping or sequence of str, optional
        Limits added to each variant's ``slo:``; the table gets ``slo.verdict`` and a
        ``slo.<path>.verdict`` column per limit (met / borderline / not met).
    progress : bool, default False
        Show one bar on stderr (a terminal only) of the simulated time of every variant.
    """
    from queuesim.experiment.compare import compare as run_comparison

    return CompareResult(run_comparison(sources, seed=seed, replications=replications, overrides=overrides,
                                        executor=executor, progress=progress, slo=slo))


def report(
    result: RunResult | str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    plan: str | os.PathLike[str] | None = None,
    simulate_peak: bool = True,
) -> list[Path]:
    """Write ``report.html`` (self-contained) and ``report.md`` for a run, sweep, comparison or plan.

    Parameters
    ----------
    result : RunResult or path
        A result in memory, or a ``queuesim run`` / ``sweep`` / ``compare`` / ``plan`` output directory.
    out_dir : path, optional
        Where to write; default the result directory itself (required for a RunResult).
    plan : path, optional
        A ``plan.json`` to show with a sweep (default: the one in the sweep directory, if any).
    simulate_peak : bool, default True
        For a sweep, draw the queue depth over time at its peak point (from the time series it kept).

    Returns
    -------
    list of Path
        ``report.html``, ``report.md`` and the figures written beside report.md.
    """
    from queuesim.report import write_report

    return write_report(result, out_dir, plan=plan, simulate_peak=simulate_peak)
