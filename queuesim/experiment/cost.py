"""What a run costs per hour under the scenario's ``cost:`` prices: workers by the hour, broker requests by the million."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queuesim.scenario import Scenario
from queuesim.scenario.autoscale import LambdaSqs

__all__ = ["HOURS_PER_MONTH", "broker_requests_per_second", "mean_workers", "run_cost"]

#: Hours in an average month (8,760 / 12), as cloud price lists use.
HOURS_PER_MONTH = 730.0


def broker_requests_per_second(summary: Mapping[str, Any]) -> dict[str, float]:
    """Broker API requests per second at each queue, from a run's summary.

    A message accepted by a queue costs a publish, a receive and a delete; a refused publish
    (503) costs one request; each redelivery one more receive; a dead-lettered message no delete.
    SQS-style accounting without batching; idle polls are not counted.
    """
    span = float(summary["window"]) * int(summary["replications"])
    out = {}
    for name, q in summary["queues"].items():
        requests = 3 * q["accepted"] + q["rejected"] + q["redeliveries"] - q["dead_lettered"]
        out[name] = requests / span if span > 0 else 0.0
    return out


def mean_workers(scenario: Scenario, pool: str, summary: Mapping[str, Any]) -> float:
    """Workers billed on average over the window: the fixed count, or an elastic pool's worker-seconds / window.

    An elastic pool pays for every provisioned worker, starting and draining ones included
    (``count_mean``); a ``lambda_sqs`` pool pays only for its invocations, its busy time
    (``count_mean × utilization``), as Lambda bills by duration, not by concurrency.
    """
    spec = scenario.workers[pool]
    figures = summary["workers"][pool]
    if not spec.elastic or "count_mean" not in figures:
        return float(spec.count)
    if isinstance(spec.autoscale, LambdaSqs):
        return float(figures["count_mean"]) * float(figures["utilization"])
    return float(figures["count_mean"])


def run_cost(scenario: Scenario, summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """Cost per hour of the design a run simulated, or None when the scenario has no ``cost:``.

    Returns
    -------
    dict or None
        ``currency``; ``workers_per_hour`` (every worker of every pool, busy or idle; an elastic
        pool's mean provisioned count, :func:`mean_workers`);
        ``broker_requests_per_second``; ``broker_per_hour``; ``total_per_hour`` and
        ``total_per_month`` (730 hours).
    """
    prices = scenario.cost
    if prices is None:
        return None
    workers = sum(mean_workers(scenario, name, summary) * prices.worker_price(name) for name in scenario.workers)
    requests = broker_requests_per_second(summary)
    broker = sum(rate * 3600 / 1e6 * prices.broker_price(name) for name, rate in requests.items())
    return {
        "currency": prices.currency,
        "workers_per_hour": workers,
        "broker_requests_per_second": sum(requests.values()),
        "broker_per_hour": broker,
        "total_per_hour": workers + broker,
        "total_per_month": (workers + broker) * HOURS_PER_MONTH,
    }
