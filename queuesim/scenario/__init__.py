"""Scenario YAML to a frozen, validated model whose errors name file, line and field; imports neither simpy nor pandas."""

from __future__ import annotations

from .distributions import (
    BaseDistribution,
    Constant,
    Distribution,
    Empirical,
    Exponential,
    Gamma,
    Lognormal,
    Uniform,
    Weibull,
)
from .loader import apply_overrides, load_scenario, parse_scenario, scenario_from_dict, with_overrides
from .model import Jitter, Producer, Queue, QueueBase, RedisQueue, RetryPolicy, Scenario, SqsQueue, WorkerPool
from .units import (
    Duration,
    PositiveDuration,
    PositiveRate,
    Rate,
    format_duration,
    format_rate,
    parse_duration,
    parse_rate,
)

__all__ = [
    # loading
    "load_scenario",
    "parse_scenario",
    "scenario_from_dict",
    "apply_overrides",
    "with_overrides",
    # the model
    "Scenario",
    "Producer",
    "RetryPolicy",
    "Jitter",
    "Queue",
    "QueueBase",
    "RedisQueue",
    "SqsQueue",
    "WorkerPool",
    # distributions
    "Distribution",
    "BaseDistribution",
    "Exponential",
    "Constant",
    "Uniform",
    "Lognormal",
    "Gamma",
    "Empirical",
    "Weibull",
    # units
    "Duration",
    "PositiveDuration",
    "Rate",
    "PositiveRate",
    "parse_duration",
    "parse_rate",
    "format_duration",
    "format_rate",
]
