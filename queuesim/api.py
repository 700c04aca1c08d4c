"""The Python API: run a scenario and get its summary, tables and figures.

>>> import queuesim
>>> result = queuesim.run("scenarios/quickstart.yaml")        # doctest: +SKIP
>>> result.summary["latency"]["end_to_end"]["p99"]            # doctest: +SKIP
>>> result.messages.groupby("outcome").size()                 # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from queuesim import __version__
from queuesim.metrics import deliveries_frame, messages_frame, requests_frame, summarize, timeseries
from queuesim.records import RunRecord
from queuesim.scenario import Scenario, load_scenario
from queuesim.scenario.limits import MAX_REPLICATIONS, MAX_SEED
from queuesim.sim import simulate

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _simulate_one(args: tuple[Scenario, int, int]) -> RunRecord:
    scenario, replication, seed = args
    return simulate(scenario, replication, seed)


@dataclass
class RunResult:
    """Everything one ``run`` produced. Tables are built on first access."""

    scenario: Scenario
    records: list[RunRecord]
    seed: int
    source: str | None = None
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def summary(self) -> dict[str, Any]:
        """The ``summary.json`` figures (see README for every key)."""
        meta = {
            "queuesim_version": __version__,
            "scenario": self.scenario.name,
            "source": self.source,
            "seed": self.seed,
            "duration": self.scenario.duration,
            "warmup": self.scenario.warmup,
        }
        out = summarize(self.records, meta)
        out["offered_load"] = self.scenario.offered_load()
        out["warnings"] = list(self.warnings)
        if out["poison"]["cycling"]:
            out["warnings"].append(
                f"{out['poison']['cycling']} poison message(s) were still being redelivered at the end: a queue "
                "without max_receives / delivery_limit / max_deliveries retries them forever, costing a worker each time"
            )
        return out

    @cached_property
    def requests(self) -> pd.DataFrame:
        """One row per producer request."""
        return requests_frame(self.records)

    @cached_property
    def messages(self) -> pd.DataFrame:
        """One row per message at each queue (``messages.parquet``)."""
        return messages_frame(self.records)

    @cached_property
    def deliveries(self) -> pd.DataFrame:
        """One row per waiting spell and the delivery that ended it (``deliveries.parquet``)."""
        return deliveries_frame(self.records)

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        """Queue depth, in-service workers, 503s and completions per time bucket."""
        return timeseries(self.records)

    def figures(self) -> dict[str, Figure]:
        """The run's plots as matplotlib figures, keyed by file stem."""
        from queuesim.report import run_figures

        return run_figures(self.requests, self.messages, self.timeseries, self.summary)

    def save(self, out_dir: str | Path, plots: bool = True) -> list[Path]:
        """Write summary.json, scenario.json (the resolved scenario, overrides applied),
        messages.parquet, deliveries.parquet, timeseries.csv and the PNG plots."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "summary.json", out / "messages.parquet", out / "deliveries.parquet",
                   out / "timeseries.csv", out / "scenario.json"]
        written[0].write_text(json.dumps(self.summary, indent=2) + "\n")
        written[4].write_text(json.dumps(self.scenario.to_dict(), indent=2) + "\n")
        self.messages.to_parquet(written[1], index=False)
        self.deliveries.to_parquet(written[2], index=False)
        self.timeseries.to_csv(written[3], index=False, float_format="%.6g")
        if plots:
            from queuesim.report import save_all

            written += save_all(self.figures(), out)
        return written


def _replicate(
    scenario: Scenario, seed: int, replications: int, executor: Executor | None
) -> list[RunRecord]:
    jobs = [(scenario, r, seed) for r in range(replications)]
    if executor is not None:
        return list(executor.map(_simulate_one, jobs))
    if replications == 1 or (os.cpu_count() or 1) == 1:
        return [_simulate_one(j) for j in jobs]
    with ProcessPoolExecutor(max_workers=min(replications, os.cpu_count() or 1)) as pool:
        return list(pool.map(_simulate_one, jobs))


def run(
    scenario: Scenario | str | os.PathLike[str],
    *,
    seed: int | None = None,
    replications: int | None = None,
    overrides: Sequence[str] = (),
    executor: Executor | None = None,
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
    """
    source = None
    if not isinstance(scenario, Scenario):
        source = os.fspath(scenario)
        scenario = load_scenario(source, overrides)
    elif overrides:
        from queuesim.scenario import scenario_from_dict

        scenario = scenario_from_dict(scenario.to_dict(), overrides=overrides)
    seed = scenario.seed if seed is None else seed
    reps = scenario.replications if replications is None else replications
    if not 1 <= reps <= MAX_REPLICATIONS:
        raise ValueError(f"replications must be ≥ 1 and ≤ {MAX_REPLICATIONS:,}, got {reps}")
    if not 0 <= seed <= MAX_SEED:  # numpy's SeedSequence refuses a negative seed deep inside a worker
        raise ValueError(f"seed must be ≥ 0 and ≤ 2⁶³−1, got {seed}")
    warnings = [
        f"queue '{q}' is unstable: offered load {scenario.offered_load()[q]:.2f} ≥ 1 on an unbounded "
        "queue, so its backlog and waits grow with the run length"
        for q in scenario.unstable_queues()
    ]
    records = _replicate(scenario, seed, reps, executor)
    return RunResult(scenario=scenario, records=records, seed=seed, source=source, warnings=warnings)


def report(
    result: RunResult | str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    plan: str | os.PathLike[str] | None = None,
    simulate_peak: bool = True,
) -> list[Path]:
    """Write ``report.html`` (self-contained) and ``report.md`` for a run or a sweep.

    Parameters
    ----------
    result : RunResult or path
        A result in memory, or a ``queuesim run`` / ``queuesim sweep`` output directory.
    out_dir : path, optional
        Where to write; default ``reports/<result directory name>/`` (required for a RunResult).
    plan : path, optional
        A ``plan.json`` to show with a sweep (default: the one in the sweep directory, if any).
    simulate_peak : bool, default True
        For a sweep, re-simulate its peak point once to draw queue depth over time.

    Returns
    -------
    list of Path
        ``report.html``, ``report.md`` and the figures written beside report.md.
    """
    from queuesim.report import write_report

    return write_report(result, out_dir, plan=plan, simulate_peak=simulate_peak)
