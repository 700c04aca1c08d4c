"""Calibration from data: read a column of a recorded log, fit candidate distributions, print the scenario YAML.

Above the scenario model and beside the engine: it never imports ``queuesim.sim``.
"""

from __future__ import annotations

from .data import MIN_VALUES, UNITS, DataError, Sample, read_durations, read_timestamps, unit_from_name
from .fit import FAMILIES, ArrivalFit, CandidateFit, DurationFit, distribution_yaml, fit_arrivals, fit_durations

__all__ = [
    "read_durations",
    "read_timestamps",
    "fit_durations",
    "fit_arrivals",
    "distribution_yaml",
    "Sample",
    "DurationFit",
    "CandidateFit",
    "ArrivalFit",
    "DataError",
    "FAMILIES",
    "UNITS",
    "MIN_VALUES",
    "unit_from_name",
]
