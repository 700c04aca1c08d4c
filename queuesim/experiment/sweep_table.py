"""The tidy sweep table (``sweep.parquet``): one row per point, one column per varied path and per summary.json figure.

Column names are an interface: scripts, reports and notebooks select them by name, so a name
once written is never changed. They follow fixed rules:

* ``point``: the point's index in the grid (first axis slowest);
* one column per varied path, named by the path (``workers.fulfil.count``), holding the value in
  summary units (seconds, per second) or as text for names and mappings;
* one column per numeric leaf of summary.json, named by its dotted path
  (``latency.end_to_end.p99``, ``rates.rejection``, ``queues.orders.mean_depth``); a varied path
  that is also a summary path (``workers.fulfil.count``) appears once;
* beside every figure summary.json gives a 95% interval for, ``<path>.ci95_low`` and
  ``<path>.ci95_high`` (NaN when there are too few replications or batches);
* with an SLO: ``slo.met`` and one ``slo.<path>.met`` per limit (the estimates at or below their
  limits, as before), and ``slo.verdict`` and one ``slo.<path>.verdict`` per limit: ``met`` when the
  95% interval is at or below the limit, ``not met`` when wholly above it, ``borderline`` when it
  straddles it (see :mod:`queuesim.experiment.slo`);
* with prices: ``cost.workers_per_hour``, ``cost.broker_requests_per_second``,
  ``cost.broker_per_hour``, ``cost.total_per_hour``, ``cost.total_per_month``.

Metadata (scenario name, version, warnings) is not repeated on every row; it goes to ``sweep.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from queuesim.experiment.cost import run_cost
from queuesim.experiment.grid import Point
from queuesim.experiment.slo import Slo, check_slo
from queuesim.figures import CI_HIGH, CI_LOW, METADATA_KEYS
from queuesim.scenario import Scenario

if TYPE_CHECKING:
    import pandas as pd  # a sweep builds its table lazily: running one scenario never loads pandas

__all__ = ["METADATA_KEYS", "CI_LOW", "CI_HIGH", "flatten_summary", "point_row", "sweep_table"]



def flatten_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Numeric leaves of a summary.json dict by dotted path, each 95% interval right after its figure.

    Strings and lists are metadata and left out; None stays None (no such figure in this run).
    """
    intervals: Mapping[str, Any] = summary.get("ci95") or {}
    out: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if not prefix and key in METADATA_KEYS:
                continue
            if isinstance(value, Mapping):
                walk(value, f"{path}.")
            elif value is None or isinstance(value, (bool, int, float, np.number)):
                out[path] = value
                if path in intervals:
                    ci = intervals[path] or (None, None)
                    out[f"{path}.{CI_LOW}"], out[f"{path}.{CI_HIGH}"] = ci[0], ci[1]

    walk(summary, "")
    return out


def point_row(point: Point, scenario: Scenario, summary: Mapping[str, Any], slo: Slo | None) -> dict[str, Any]:
    """The table row of one finished point."""
    row: dict[str, Any] = {"point": point.index, **point.values}
    for key, value in flatten_summary(summary).items():
        row.setdefault(key, value)
    if slo is not None:
        report = check_slo(summary, slo)
        row["slo.met"] = report.met
        row.update({f"slo.{c.path}.met": c.met for c in report.checks})
        row["slo.verdict"] = report.verdict
        row.update({f"slo.{c.path}.verdict": c.verdict for c in report.checks})
    cost = run_cost(scenario, summary)
    if cost is not None:
        row.update({f"cost.{k}": v for k, v in cost.items() if k != "currency"})
    return row


def sweep_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = ()) -> pd.DataFrame:
    """Rows into a DataFrame sorted by point, with one dtype per column.

    Parameters
    ----------
    rows : sequence of mapping
        From :func:`point_row`.
    columns : sequence of str
        Columns to lead with (the varied paths), also when no row finished.
    """
    import pandas as pd

    order = ["point", *columns]
    for row in rows:
        order += [k for k in row if k not in order]
    order = list(dict.fromkeys(order))
    table = pd.DataFrame.from_records(list(rows), columns=order)
    if len(table):
        table = table.sort_values("point", kind="stable").reset_index(drop=True)
    for name in table.columns:
        column = table[name]
        if column.dtype == object and column.isna().all():
            table[name] = column.astype("float64")  # a figure no point has (no completions): NaN, not None
    return table
