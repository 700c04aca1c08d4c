"""Small statistics helpers: latency percentiles and 95% confidence intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import numpy as np

from queuesim.figures import PERCENTILES, LatencyStats

# two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom (no scipy dependency)
_T975 = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
]


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError("need at least one degree of freedom")
    if df <= 30:
        return _T975[df - 1]
    # Cornish-Fisher expansion around the normal quantile; error < 1e-4 for df > 30
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def describe(values: np.ndarray) -> LatencyStats:
    """Mean, percentiles and max of a latency sample (None where the sample is empty)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    out: dict[str, float | int | None]
    if values.size == 0:
        out = {"mean": None, **dict.fromkeys(PERCENTILES), "max": None, "count": 0}
    else:
        qs = np.percentile(values, list(PERCENTILES.values()))
        out = {"mean": float(values.mean())}
        out.update({k: float(q) for k, q in zip(PERCENTILES, qs, strict=True)})
        out.update({"max": float(values.max()), "count": int(values.size)})
    # the percentile keys are PERCENTILES, which the catalogue reads from LatencyStats itself
    return cast(LatencyStats, out)


def mean_ci(samples: Sequence[float], lower: float | None = 0.0) -> list[float] | None:
    """95% t-interval for the mean of independent samples (replications or batch means).

    ``lower`` clips the low end for quantities that cannot be negative (latencies, rates).
    """
    x = np.asarray([s for s in samples if s is not None and math.isfinite(s)], dtype=float)
    if x.size < 2:
        return None
    half = t975(x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    m = x.mean()
    low = m - half if lower is None else max(lower, m - half)
    return [float(low), float(m + half)]


def clean(x: float | None) -> float | None:
    """JSON-safe number: NaN and infinities become None."""
    return _num(x) if x is not None else None
