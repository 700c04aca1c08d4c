"""Side-by-side runs: the same workload and faults on different brokers, with common random numbers.

Variants come from a scenario's ``variants:`` section (named sets of ``--set`` style overrides) or
from several scenario files. Every variant runs with the same seed, and random streams are keyed
by component name, so arrivals, service draws and fault draws are the same numbers in each: the
differences come from the broker semantics, not from sampling noise.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from queuesim.errors import Problem, ScenarioError
from queuesim.experiment.cost import mean_workers, run_cost
from queuesim.experiment.execute import Execution, resolve_scenario, run_experiment
from queuesim.experiment.progress import SimClock
from queuesim.experiment.slo import Slo, check_slo
from queuesim.figures import Summary, summary_value
from queuesim.outputs import atomic_directory
from queuesim.scenario import Scenario, load_scenario, scenario_from_dict
from queuesim.scenario.files import read_text
from queuesim.scenario.limits import MAX_SCENARIO_BYTES
from queuesim.scenario.yaml_lines import line_of, read_yaml

#: (column, summary path) of the comparison table, in display order
COLUMNS = [
    ("produced", "messages.produced"),
    ("completed", "messages.completed"),
    ("throughput", "rates.throughput"),
    ("lost", "messages.lost"),
    ("loss_rate", "rates.loss"),
    ("duplicates", "messages.duplicates"),
    ("duplicate_rate", "rates.duplicate"),
    ("redeliveries", "messages.redeliveries"),
    ("dead_lettered", "messages.dead_lettered"),
    ("rejection_rate", "rates.rejection"),
    ("gave_up", "messages.gave_up"),
    ("in_flight", "messages.in_flight"),
    ("p50", "latency.end_to_end.p50"),
    ("p99", "latency.end_to_end.p99"),
    ("p999", "latency.end_to_end.p999"),
    ("ack_p99", "latency.ack.p99"),
    ("poison_cycling", "poison.cycling"),
    # added later (columns are only ever appended): what a waiting client sees, and retries' share
    ("gave_up_rate", "rates.gave_up"),
    ("abandoned", "messages.abandoned"),
    ("abandoned_rate", "rates.abandoned"),
    ("response_p50", "latency.response.p50"),
    ("response_p99", "latency.response.p99"),
    ("offered", "rates.offered"),
    ("base_load", "rates.base_load"),
    ("rejected", "messages.rejected"),  # 503s
]


def variant_scenarios(path: str) -> dict[str, Scenario]:
    """The variants of one scenario file, each validated before anything runs."""
    base = load_scenario(path)
    if not base.variants:
        return {}
    doc = read_yaml(read_text(path, MAX_SCENARIO_BYTES, "scenario file"), path)  # load_scenario read it already
    raw = dict(doc.data)
    raw.pop("variants", None)
    out: dict[str, Scenario] = {}
    problems: list[Problem] = []
    for name, sets in base.variants.items():
        overrides = [f"{k}={json.dumps(v)}" for k, v in sets.items()]
        try:
            sc = scenario_from_dict(raw, source=path, overrides=overrides)
        except ScenarioError as err:
            # point at the variant's line: its overrides caused the problem
            line = line_of(doc.lines, ("variants", name))
            problems += [Problem(path, line, p.field, f"{p.message} (in variant {name})") for p in err.problems]
            continue
        out[name] = sc.model_copy(update={"name": f"{base.name}:{name}"})
    if problems:
        raise ScenarioError(problems)
    return out


@dataclass
class Comparison:
    """The experiment of every variant (records kept) and a one-row-per-variant table of the figures that differ."""

    executions: dict[str, Execution]

    @property
    def summaries(self) -> dict[str, Summary]:
        """Each variant's summary.json, by variant name."""
        return {name: e.summary for name, e in self.executions.items()}

    @property
    def table(self) -> pd.DataFrame:
        """One row per variant: its brokers and the figures of :data:`COLUMNS`, losses by cause and drain times;
        with SLO limits, ``slo.verdict`` and one ``slo.<path>.verdict`` per limit (met / borderline / not met)."""
        rows = []
        for name, done in self.executions.items():
            s = done.summary
            row: dict[str, Any] = {"variant": name, "brokers": ", ".join(
                sorted({_broker_label(q) for q in done.scenario.queues.values()}))}
            row.update({col: summary_value(s, path) for col, path in COLUMNS})
            if done.slo is not None:
                report = check_slo(s, done.slo)
                row["slo.verdict"] = report.verdict
                row.update({f"slo.{c.path}.verdict": c.verdict for c in report.checks})
            for reason, n in s["losses"].items():
                row[f"lost.{reason}"] = n
            for i, f in enumerate(s["faults"]):
                row[f"fault{i + 1}.drain_time"] = f["drain_time"]
            scenario = done.scenario
            if any(p.elastic for p in scenario.workers.values()) or scenario.cost is not None:
                # capacity over time (issue 12): workers billed on average, and the price of the design
                row["workers_mean"] = sum(mean_workers(scenario, p, s) for p in scenario.workers)
                cost = run_cost(scenario, s)
                if cost is not None:
                    row["cost_per_hour"] = cost["total_per_hour"]
            rows.append(row)
        return pd.DataFrame(rows).set_index("variant")

    def write_into(self, out: Path) -> list[Path]:
        """Write compare.csv and compare.json (every variant's summary) into a folder; return their paths."""
        paths = [out / "compare.csv", out / "compare.json"]
        self.table.to_csv(paths[0])
        paths[1].write_text(json.dumps(self.summaries, indent=2) + "\n")
        return paths

    def save(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write compare.csv and compare.json into ``out_dir``, swapped in whole; return their paths."""
        with atomic_directory(out_dir) as out:
            names = [p.name for p in self.write_into(out)]
        return [Path(out_dir) / n for n in names]


def _broker_label(q: Any) -> str:
    # each queue spec names its own kind (QueueBase.label), so a new broker kind is never mislabelled
    return str(q.label)


def compare(
    sources: Sequence[str | os.PathLike[str] | Scenario],
    *,
    seed: int | None = None,
    replications: int | None = None,
    overrides: Sequence[str] = (),
    executor: Executor | None = None,
    progress: bool = False,
    slo: Slo | Mapping[str, Any] | Sequence[str] | None = None,
) -> Comparison:
    """Run variants side by side with common random numbers.

    Parameters
    ----------
    sources : sequence of paths or Scenarios
        One scenario with a ``variants:`` section, or several scenarios (one variant each).
    seed, replications, overrides, executor
        As for :func:`queuesim.run`; the same seed drives every variant.
    progress : bool, default False
        Show one bar on stderr (a terminal only) of the simulated time of every variant.
    slo : Slo, mapping or sequence of str, optional
        Limits added to each variant's own ``slo:``; the table gets a verdict per limit.
    """
    variants: dict[str, Scenario | str] = {}
    if len(sources) == 1 and not isinstance(sources[0], Scenario):
        variants.update(variant_scenarios(os.fspath(sources[0])))
    if not variants:
        stems = [src.name if isinstance(src, Scenario) else Path(src).stem for src in sources]
        for src, stem in zip(sources, stems, strict=True):
            # x/a.yaml and y/a.yaml share a stem: name each by its path instead of keeping one row
            name = stem if stems.count(stem) == 1 or isinstance(src, Scenario) else os.fspath(Path(src).with_suffix(""))
            if name in variants:
                raise ScenarioError([Problem(os.fspath(src) if not isinstance(src, Scenario) else name, None, "",
                                             f"given twice: variant {name!r} would be compared with itself")])
            variants[name] = src if isinstance(src, Scenario) else os.fspath(src)
    if seed is None:
        first = next(iter(variants.values()))
        seed = first.seed if isinstance(first, Scenario) else load_scenario(first).seed
    # every variant is resolved (so validated) before the first one runs; that also sizes the bar
    resolved = [resolve_scenario(sc, overrides)[0] for sc in variants.values()]
    reps = [sc.replications if replications is None else replications for sc in resolved]
    total = sum(sc.duration * n for sc, n in zip(resolved, reps, strict=True))
    with SimClock(total, sum(reps), f"compare {len(resolved)} variants", enabled=progress) as clock:
        return Comparison({
            name: run_experiment(sc, seed=seed, replications=replications, overrides=overrides, executor=executor,
                                 clock=clock, slo=slo)
            for name, sc in variants.items()
        })
