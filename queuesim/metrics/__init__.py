"""Metrics: pure numpy/pandas functions from event records to tables and the summary. No SimPy here.

The per-row tables (pandas) are imported on first use (PEP 562), so a run that writes only its
summary never imports pandas (and the pyarrow pandas brings along).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from queuesim.metrics.summary import latency_samples, summarize
from queuesim.metrics.timeseries import timeseries

if TYPE_CHECKING:
    from queuesim.metrics.tables import deliveries_frame, messages_frame, requests_frame

__all__ = [
    "summarize", "latency_samples", "timeseries", "messages_frame", "deliveries_frame",
    "requests_frame",
]

_TABLES = ("messages_frame", "deliveries_frame", "requests_frame")  # in queuesim.metrics.tables


def __getattr__(name: str) -> Any:
    if name not in _TABLES:
        raise AttributeError(f"module 'queuesim.metrics' has no attribute {name!r}")
    value = getattr(importlib.import_module("queuesim.metrics.tables"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
