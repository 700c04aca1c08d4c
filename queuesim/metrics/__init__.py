"""Metrics: pure numpy/pandas functions from event records to tables and the summary. No SimPy here."""

from queuesim.metrics.summary import latency_samples, summarize
from queuesim.metrics.tables import deliveries_frame, messages_frame, requests_frame
from queuesim.metrics.timeseries import timeseries

__all__ = [
    "summarize", "latency_samples", "timeseries", "messages_frame", "deliveries_frame",
    "requests_frame",
]
