"""The quantile sketch: its stated relative error against numpy.percentile, and exact merging."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from queuesim.metrics.sketch import ALPHA, QuantileSketch

# latencies as they come: zeros (a message received at once), tiny and huge values, repeats
values = st.lists(
    st.one_of(st.just(0.0), st.floats(min_value=1e-9, max_value=1e6, allow_nan=False, allow_infinity=False)),
    min_size=1, max_size=400,
)
quantiles = st.floats(min_value=0.0, max_value=1.0)


def _sketch(x: np.ndarray) -> QuantileSketch:
    s = QuantileSketch()
    s.add(x)
    return s


@settings(max_examples=300, deadline=None)
@given(values, quantiles)
def test_every_quantile_is_within_alpha_of_numpy_percentile(data: list[float], q: float) -> None:
    x = np.asarray(data)
    exact = float(np.percentile(x, q * 100))
    got = _sketch(x).quantile(q)
    assert got is not None
    assert abs(got - exact) <= ALPHA * exact * (1 + 1e-12) + 1e-300


@settings(max_examples=200, deadline=None)
@given(values, st.lists(st.integers(min_value=0, max_value=400), max_size=4))
def test_the_sketch_of_the_parts_is_the_sketch_of_the_whole_bit_for_bit(data: list[float], cuts: list[int]) -> None:
    x = np.asarray(data)
    bounds = sorted({0, len(x), *(min(c, len(x)) for c in cuts)})
    parts = [_sketch(x[a:b]) for a, b in itertools.pairwise(bounds)]
    whole = _sketch(x)
    for order in (parts, parts[::-1]):  # in any order: counts are integers
        merged = QuantileSketch.merged(order)
        assert merged.state() == whole.state()
        assert (merged.count, merged.minimum, merged.maximum) == (whole.count, whole.minimum, whole.maximum)
        assert [merged.quantile(q) for q in (0, 0.5, 0.99, 1)] == [whole.quantile(q) for q in (0, 0.5, 0.99, 1)]
    assert math.isclose(QuantileSketch.merged(parts).total, float(x.sum()), rel_tol=1e-12, abs_tol=1e-12)


signed = st.lists(st.one_of(st.just(0.0), st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)),
                  min_size=1, max_size=300)


@settings(max_examples=200, deadline=None)
@given(signed, st.lists(st.integers(min_value=0, max_value=3), min_size=300, max_size=300))
def test_a_grouped_add_fills_each_part_as_adding_its_share_would(data: list[float], labels: list[int]) -> None:
    x, groups = np.asarray(data), np.asarray(labels[:len(data)])
    whole, parts = QuantileSketch(), [QuantileSketch() for _ in range(4)]
    whole.add_grouped(x, groups, parts)
    assert whole.state() == _sketch(x).state() and whole.total == _sketch(x).total
    for g, part in enumerate(parts):
        alone = _sketch(x[groups == g])
        assert part.state() == alone.state()
        assert (part.total, part.minimum, part.maximum) == (alone.total, alone.minimum, alone.maximum)


def test_count_mean_and_extremes_are_exact() -> None:
    x = np.random.default_rng(3).lognormal(-4, 1.5, 20_000)
    s = _sketch(np.concatenate([x, [np.nan]]))  # NaN: an unfinished sample, left out
    assert s.count == x.size and s.maximum == x.max() and s.minimum == x.min()
    assert s.mean == pytest.approx(x.mean(), rel=1e-12)
    assert s.quantile(1.0) == x.max() and s.quantile(0.0) == x.min()


def test_an_empty_sketch_has_no_quantile_and_bad_inputs_are_refused() -> None:
    assert QuantileSketch().quantile(0.5) is None and QuantileSketch().mean is None
    with pytest.raises(ValueError):
        QuantileSketch().quantile(1.5)
    with pytest.raises(ValueError):
        QuantileSketch(0.005).merge(QuantileSketch(0.01))


def test_negative_values_keep_their_order() -> None:
    x = np.array([-5.0, -1.0, 0.0, 2.0, 8.0])
    s = _sketch(x)
    got = [s.quantile(q) for q in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert got[0] == -5.0 and got[-1] == 8.0 and got[2] == 0.0
    assert got[1] == pytest.approx(-1.0, rel=ALPHA) and got[3] == pytest.approx(2.0, rel=ALPHA)
