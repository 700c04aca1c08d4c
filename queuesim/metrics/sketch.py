"""A mergeable quantile sketch: log-spaced buckets with a guaranteed relative error (DDSketch, in numpy).

A positive value ``x`` falls in bucket ``k = ceil(log_γ x)`` with ``γ = (1 + α) / (1 − α)``, and a
bucket stands for ``2γᵏ / (γ + 1)``, within ``α`` of every value it holds (Masson, Rim and Lee,
*DDSketch*, VLDB 2019). Bucket counts are integers, so merging two sketches adds counts and is
exact: the sketch of the parts is the sketch of the whole, bit for bit, whatever the order, which
is what keeps streamed summaries identical on every executor.

:meth:`QuantileSketch.quantile` interpolates between the buckets of the two order statistics
around the rank ``q (n − 1)``, as :func:`numpy.percentile` does between the samples themselves;
both stand-ins are within ``α`` of their samples, so the result is within ``α`` (relative) of
``numpy.percentile`` of the same nonnegative data. Count, sum, minimum and maximum are kept
exactly beside the buckets (the sum to floating-point rounding).
"""

from __future__ import annotations

import math
from typing import Self

import numpy as np

__all__ = ["ALPHA", "QuantileSketch"]

#: Relative accuracy of every quantile (0.5%).
ALPHA = 0.005


class _Store:
    """Dense integer counts of consecutive bucket keys ``offset, offset + 1, …``."""

    __slots__ = ("counts", "offset")

    def __init__(self) -> None:
        self.counts = np.zeros(0, dtype=np.int64)
        self.offset = 0

    def add_keys(self, keys: np.ndarray) -> None:
        if keys.size == 0:
            return
        lo, hi = int(keys.min()), int(keys.max())
        self._cover(lo, hi)
        self.counts += np.bincount(keys - self.offset, minlength=self.counts.size)

    def add_counts(self, offset: int, counts: np.ndarray) -> None:
        if counts.size == 0:
            return
        self._cover(offset, offset + counts.size - 1)
        start = offset - self.offset
        self.counts[start:start + counts.size] += counts

    def _cover(self, lo: int, hi: int) -> None:
        """Widen the dense range to hold keys ``lo..hi``."""
        if self.counts.size == 0:
            self.offset, self.counts = lo, np.zeros(hi - lo + 1, dtype=np.int64)
            return
        top = self.offset + self.counts.size - 1
        if lo >= self.offset and hi <= top:
            return
        new_lo, new_hi = min(lo, self.offset), max(hi, top)
        grown = np.zeros(new_hi - new_lo + 1, dtype=np.int64)
        grown[self.offset - new_lo:self.offset - new_lo + self.counts.size] = self.counts
        self.offset, self.counts = new_lo, grown

    def trimmed(self) -> tuple[int, np.ndarray]:
        """(offset, counts) without empty buckets at either end: the canonical form two equal stores share."""
        nz = np.flatnonzero(self.counts)
        if nz.size == 0:
            return 0, np.zeros(0, dtype=np.int64)
        return self.offset + int(nz[0]), self.counts[nz[0]:nz[-1] + 1]


class QuantileSketch:
    """Quantiles of a stream of numbers within a relative error ``alpha``, mergeable exactly.

    Parameters
    ----------
    alpha : float, default ALPHA
        Relative accuracy: every quantile is within ``alpha`` of the exact one (see the module docstring).

    Examples
    --------
    >>> s = QuantileSketch()
    >>> s.add(np.arange(1.0, 1001.0))
    >>> abs(s.quantile(0.99) - np.percentile(np.arange(1.0, 1001.0), 99)) <= 0.005 * 990.01
    True
    """

    __slots__ = ("_ln_gamma", "alpha", "count", "gamma", "maximum", "minimum", "negative", "positive", "total", "zeros")

    def __init__(self, alpha: float = ALPHA) -> None:
        if not 0 < alpha < 1:
            raise ValueError("alpha must be in (0, 1)")
        self.alpha = alpha
        self.gamma = (1 + alpha) / (1 - alpha)
        self._ln_gamma = math.log(self.gamma)
        self.positive = _Store()
        self.negative = _Store()  # keys of |x| for x < 0
        self.zeros = 0
        self.count = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf

    def _keys(self, magnitudes: np.ndarray) -> np.ndarray:
        keys: np.ndarray = np.ceil(np.log(magnitudes) / self._ln_gamma).astype(np.int64)
        return keys

    def add(self, values: np.ndarray) -> None:
        """Add a batch of values; NaNs are left out (as the summary leaves out unfinished samples)."""
        x = np.asarray(values, dtype=float)
        x = x[~np.isnan(x)]
        if x.size:
            self._add_keyed(x, *self._keyed(x))

    def add_grouped(self, values: np.ndarray, groups: np.ndarray, parts: list[QuantileSketch]) -> None:
        """Add NaN-free ``values`` here and each ``values[i]`` to ``parts[groups[i]]`` too (same ``alpha``).

        The same buckets as :meth:`add` on this sketch and on each part's share, with the bucket
        keys (a logarithm per value) computed once for the whole batch rather than once more per part.
        """
        x = np.asarray(values, dtype=float)
        if x.size == 0:
            return
        keys, pos, neg = self._keyed(x)
        self._add_keyed(x, keys, pos, neg)
        present = np.flatnonzero(np.bincount(groups))  # the groups present, without np.unique's sort
        if present.size == 1:  # most batches of rows fall in one group: its share is the whole batch
            parts[int(present[0])]._add_keyed(x, keys, pos, neg)
            return
        for g in present.tolist():
            mine = groups == g
            parts[g]._add_keyed(x[mine], keys[mine], pos[mine], neg[mine])

    def _keyed(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(key of |x|, x > 0, x < 0) per value of NaN-free ``x``; a zero's key is meaningless."""
        pos, neg = x > 0, x < 0
        magnitude = np.abs(x)
        magnitude[~(pos | neg)] = 1.0  # zeros are counted apart: keep log() off them
        return self._keys(magnitude), pos, neg

    def _add_keyed(self, x: np.ndarray, keys: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> None:
        self.count += int(x.size)
        self.total += float(x.sum())
        self.minimum = min(self.minimum, float(x.min()))
        self.maximum = max(self.maximum, float(x.max()))
        self.positive.add_keys(keys[pos])
        if neg.any():
            self.negative.add_keys(keys[neg])
        self.zeros += int(x.size - np.count_nonzero(pos) - np.count_nonzero(neg))

    def merge(self, other: QuantileSketch) -> None:
        """Add every value of ``other`` (same ``alpha``): counts add exactly."""
        if other.alpha != self.alpha:
            raise ValueError("cannot merge sketches of different accuracy")
        self.positive.add_counts(*other.positive.trimmed())
        self.negative.add_counts(*other.negative.trimmed())
        self.zeros += other.zeros
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    @classmethod
    def merged(cls, sketches: list[QuantileSketch], alpha: float = ALPHA) -> Self:
        """One sketch holding every value of ``sketches``, merged in the given order."""
        out = cls(alpha)
        for s in sketches:
            out.merge(s)
        return out

    @property
    def mean(self) -> float | None:
        """Exact mean (to rounding), None when empty."""
        return self.total / self.count if self.count else None

    def _value(self, key: int) -> float:
        return 2.0 * self.gamma**key / (self.gamma + 1.0)

    def _order_statistic(self, i: int, neg_cum: np.ndarray, pos_cum: np.ndarray, neg_off: int, pos_off: int) -> float:
        """Stand-in for the ``i``-th smallest value (0-based), within ``alpha`` of it, clamped to [min, max].

        The smallest and the largest are known exactly.
        """
        if i == 0:
            return self.minimum
        if i == self.count - 1:
            return self.maximum
        n_neg = int(neg_cum[-1]) if neg_cum.size else 0
        if i < n_neg:  # negatives come largest magnitude first
            j = int(np.searchsorted(neg_cum, n_neg - i, side="left"))
            v = -self._value(neg_off + j)
        elif i < n_neg + self.zeros:
            v = 0.0
        else:
            j = int(np.searchsorted(pos_cum, i - n_neg - self.zeros, side="right"))
            v = self._value(pos_off + j)
        return min(max(v, self.minimum), self.maximum)

    def quantile(self, q: float) -> float | None:
        """The ``q``-quantile (0 ≤ q ≤ 1), interpolated as :func:`numpy.percentile`; None when empty."""
        if not 0 <= q <= 1:
            raise ValueError("q must be in [0, 1]")
        if self.count == 0:
            return None
        pos_off, pos = self.positive.trimmed()
        neg_off, neg = self.negative.trimmed()
        pos_cum, neg_cum = np.cumsum(pos), np.cumsum(neg)
        rank = q * (self.count - 1)
        lo = math.floor(rank)
        hi = min(lo + 1, self.count - 1)
        a = self._order_statistic(lo, neg_cum, pos_cum, neg_off, pos_off)
        if hi == lo or rank == lo:
            return a
        b = self._order_statistic(hi, neg_cum, pos_cum, neg_off, pos_off)
        return a + (b - a) * (rank - lo)

    def state(self) -> tuple[int, tuple[int, bytes], tuple[int, bytes], int]:
        """(count, positive buckets, negative buckets, zeros) in canonical form: equal for equal bucket contents."""
        po, pc = self.positive.trimmed()
        no, nc = self.negative.trimmed()
        return self.count, (po, pc.tobytes()), (no, nc.tobytes()), self.zeros
