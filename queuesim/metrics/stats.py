"""Small statistics helpers: latency percentiles and the 95% confidence intervals of summary figures.

Intervals come from independent units: the replications of a run, or, for a single run,
:data:`BATCHES` consecutive batches of its window (requests by creation time).

* Means and rates over replications: Student-t on the replication values (:func:`mean_ci`).
* Means and rates of one run: batch means as a ratio estimator, on a log scale (:func:`ratio_ci`).
  Short runs of a busy queue give right-skewed batch means whose spread grows with their level,
  so a symmetric interval misses low runs; on the log scale the interval is as wide in relative
  terms whatever the level (measured on M/M/4 ρ=0.8, ``benchmarks/bench_coverage.py``).
* Percentiles: sectioning (Asmussen & Glynn): the pooled percentile, with the spread of the same
  percentile in sections, on a log scale (:func:`quantile_ci`). Sections are consecutive batches
  of the replications taken in order: groups of whole replications when there are many, batches
  of each when a few long ones hold enough samples. A section holding few samples beyond the
  percentile gives an interval that misses low, so there are only as many sections as the tail
  allows (:func:`quantile_sections`), and none (no interval) below two.
"""

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
    """95% t-interval for the mean of independent samples (the replications' values of a figure).

    ``lower`` clips the low end for quantities that cannot be negative (latencies, rates).
    """
    x = np.asarray([s for s in samples if s is not None and math.isfinite(s)], dtype=float)
    if x.size < 2:
        return None
    half = t975(x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    m = x.mean()
    low = m - half if lower is None else max(lower, m - half)
    return [float(low), float(m + half)]


#: Consecutive batches a single run is cut into for its intervals: batches a tenth of the window
#: long are nearly independent once the run is a few dozen relaxation times of its busiest queue,
#: and more of them shorten the batches faster than the t quantile gains (measured coverage).
BATCHES = 10
#: A percentile's sections hold at least this many samples beyond it per section, per section:
#: ``S`` sections need ``20·S`` tail samples each (see :func:`quantile_sections`). 10 under-covered
#: (89–92% for the p99 wait of M/M/4 at ρ = 0.8); 20 gave 93–96% from 30 s runs up.
TAIL_PER_SECTION = 20


def ratio_ci(num: Sequence[float] | np.ndarray, den: Sequence[float] | np.ndarray,
             upper: float | None = None) -> list[float] | None:
    """95% interval of ``sum(num) / sum(den)`` from the batches of one run, on a log scale.

    The ratio estimator's standard error (Σ(numᵢ − R·denᵢ)², B − 1 degrees of freedom) becomes a
    relative one, and the interval is ``R·exp(±t·se/R)``: never negative, and as wide in relative
    terms for a low batch as for a high one.

    Parameters
    ----------
    num, den : array-like
        Per batch: the figure's numerator (a sum of waits, a count of 503s, busy time) and
        denominator (samples, attempts, worker time); a batch with nothing in it has zeros.
    upper : float, optional
        Clip the high end (1 for a fraction).

    Returns
    -------
    [low, high] or None
        None with fewer than two batches or nothing in the denominator. A ratio of 0 (nothing
        happened in any batch) gives ``[0, 0]``.
    """
    s = np.asarray(num, dtype=float)
    n = np.asarray(den, dtype=float)
    if s.size < 2 or not np.isfinite(s).all() or not np.isfinite(n).all() or n.sum() <= 0:
        return None
    ratio = s.sum() / n.sum()
    residual = s - ratio * n
    se = math.sqrt(s.size / (s.size - 1) * float(residual @ residual)) / n.sum()
    half = t975(s.size - 1) * se
    if ratio > 0:
        low, high = ratio * math.exp(-half / ratio), ratio * math.exp(half / ratio)
    else:  # nothing in any batch of a non-negative figure: se is 0 too
        low, high = ratio - half, ratio + half
    if upper is not None:
        high = min(high, upper)
    return [float(low), float(high)]


def quantile_sections(samples: int, q: float, units: int) -> int:
    """How many sections a percentile's interval uses: at most ``units`` and ``⌊√(tail / 20)⌋``.

    ``tail = samples·(1 − q)`` is the expected number of samples beyond the percentile. With ``S``
    sections of ``20·S`` tail samples or more each, the spread of the sections' percentiles gives
    the interval its nominal coverage; with fewer, a run that happened to have few long busy
    periods has all its sections low and close together, and the interval misses low. More
    sections need more tail per section because the interval shrinks as ``1/√S`` while that
    small-sample shortfall does not.

    Returns
    -------
    int
        0 or 1 means too few samples in the tail for an interval.
    """
    tail = samples * (1.0 - q)
    return max(0, min(units, math.isqrt(int(tail // TAIL_PER_SECTION))))


def sections(units: Sequence[np.ndarray], count: int) -> list[np.ndarray]:
    """``units`` (replications' or batches' samples, in order) merged into ``count`` contiguous groups of near-equal size."""
    groups = np.array_split(np.arange(len(units)), count)
    # a group of one unit is that unit itself: no copy (one run's ten batches are ten sections)
    return [units[g[0]] if g.size == 1 else np.concatenate([units[i] for i in g]) if g.size else np.empty(0)
            for g in groups]


def quantile_ci(parts: Sequence[np.ndarray], q: float, estimate: float | None) -> list[float] | None:
    """95% sectioning interval of a percentile: the pooled ``estimate``, the spread of the sections' own.

    Each section's percentile is weighted by its size (the variance of a percentile falls as one
    over the samples), on a log scale when every one is positive; ``t`` has S − 1 degrees of
    freedom.

    Parameters
    ----------
    parts : sequence of arrays
        The samples of each section (see :func:`sections`); NaNs are ignored.
    q : float
        The quantile, 0..1.
    estimate : float or None
        The percentile of all samples pooled, which the interval is centred on.

    Returns
    -------
    [low, high] or None
        None with fewer than two non-empty sections or no estimate.
    """
    kept = [x[~np.isnan(x)] for x in parts]
    kept = [x for x in kept if x.size]
    if estimate is None or not math.isfinite(estimate) or len(kept) < 2:
        return None
    return sectioned_ci(np.array([x.size for x in kept], dtype=float), np.array([np.quantile(x, q) for x in kept]),
                        estimate)


def sectioned_ci(sizes: np.ndarray, values: np.ndarray, estimate: float) -> list[float]:
    """The sectioning interval from each section's sample count and percentile (two or more), centred on ``estimate``.

    What :func:`quantile_ci` does once it has the sections' percentiles; a streamed run
    (:mod:`queuesim.metrics.stream`) gives them from merged sketches instead of samples.
    """
    log = estimate > 0 and bool((values > 0).all())
    x = np.log(values) if log else values
    centre = math.log(estimate) if log else estimate
    mean = float(sizes @ x) / sizes.sum()
    var = float(sizes @ (x - mean) ** 2) / ((len(values) - 1) * sizes.sum())
    half = t975(len(values) - 1) * math.sqrt(var)
    if log:
        return [math.exp(centre - half), math.exp(centre + half)]
    return [max(0.0, centre - half), centre + half]


def percentile_ci(units: Sequence[np.ndarray], q: float, estimate: float | None) -> list[float] | None:
    """95% interval of a percentile from the samples of consecutive units (batches), pooled ``estimate`` at its centre.

    The units are merged into :func:`quantile_sections` sections (:func:`quantile_ci`); a sample
    whose every value is the same (a constant service time, an ack that never waits) has no
    sampling uncertainty and gives ``[value, value]``.

    Returns
    -------
    [low, high] or None
        None for no samples, or too few beyond the percentile for two sections.
    """
    total = sum(int(x.size) for x in units)
    if total == 0 or estimate is None:
        return None
    lowest = min(float(x.min()) for x in units if x.size)
    if lowest == max(float(x.max()) for x in units if x.size):
        return [lowest, lowest]
    count = quantile_sections(total, q, len(units))
    return quantile_ci(sections(units, count), q, estimate) if count >= 2 else None


def clean(x: float | None) -> float | None:
    """JSON-safe number: NaN and infinities become None."""
    return _num(x) if x is not None else None
