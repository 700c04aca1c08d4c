"""Time distributions as small frozen value objects that check their parameters, print, know their moments and quantiles, and sample."""

from __future__ import annotations

import math
import numbers
from statistics import NormalDist
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BeforeValidator, Field, model_validator

from ._base import Float, Frozen, fail
from .limits import MAX_CV, MIN_CV
from .units import Duration, PositiveDuration, format_duration

__all__ = [
    "BaseDistribution",
    "Exponential",
    "Constant",
    "Uniform",
    "Lognormal",
    "Gamma",
    "Empirical",
    "Weibull",
    "Distribution",
    "DISTRIBUTIONS",
]

# A plain positive float for shape parameters; cv has no unit.
_PositiveFloat = Annotated[Float, Field(gt=0)]
#: A coefficient of variation: cv² and 1/cv² must stay finite, non-zero floats.
_Cv = Annotated[Float, Field(ge=MIN_CV, le=MAX_CV)]


class BaseDistribution(Frozen):
    """A distribution of non-negative durations in seconds.

    Subclasses declare the ``dist`` tag and their parameters, and fill in ``mean``, ``variance``,
    ``_quantile``, ``_draw`` and ``__str__``; ``scv``, ``quantile`` and ``sample`` are shared.
    """

    if TYPE_CHECKING:
        # Declared only for type checkers: some subclasses hold `mean` as a field, others compute it.
        dist: str

        @property
        def mean(self) -> float: ...

        @property
        def variance(self) -> float: ...

    @property
    def scv(self) -> float:
        """Squared coefficient of variation, variance / mean²; 0 for a distribution fixed at 0."""
        if self.mean == 0:
            return 0.0 if self.variance == 0 else math.inf
        return self.variance / self.mean**2

    def quantile(self, q: float) -> float:
        """The ``q``-quantile: the smallest duration ``d`` with P(X ≤ d) ≥ q (a p99 is ``quantile(0.99)``).

        Parameters
        ----------
        q : float
            A probability in [0, 1); 0 gives the smallest value the distribution takes.

        Raises
        ------
        ValueError
            For ``q`` outside [0, 1).
        """
        if not 0.0 <= q < 1.0:
            raise ValueError(f"a quantile needs 0 <= q < 1, got {q!r}")
        return float(self._quantile(q))

    def _quantile(self, q: float) -> float:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw a batch of values.

        Parameters
        ----------
        rng : numpy.random.Generator
            The caller's generator; distributions hold no random state of their own.
        n : int
            Number of values.

        Returns
        -------
        numpy.ndarray
            ``n`` float64 durations in seconds.
        """
        return np.asarray(self._draw(rng, n), dtype=np.float64)

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError


class Exponential(BaseDistribution):
    """Exponential (memoryless) durations: ``{dist: exponential, mean: 8ms}``."""

    dist: Literal["exponential"] = "exponential"
    mean: PositiveDuration

    @property
    def variance(self) -> float:
        """Variance, mean²."""
        return self.mean**2

    def _quantile(self, q: float) -> float:
        return -self.mean * math.log1p(-q)

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(self.mean, n)

    def __str__(self) -> str:
        return f"exponential(mean={format_duration(self.mean)})"


class Constant(BaseDistribution):
    """The same duration every time: ``{dist: constant, value: 5ms}`` or just ``5ms``."""

    dist: Literal["constant"] = "constant"
    value: Duration

    @property
    def mean(self) -> float:
        """The value itself."""
        return self.value

    @property
    def variance(self) -> float:
        """Always 0."""
        return 0.0

    def _quantile(self, q: float) -> float:
        return self.value

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, self.value)

    def __str__(self) -> str:
        return f"constant({format_duration(self.value)})"


class Uniform(BaseDistribution):
    """Uniform on [low, high]: ``{dist: uniform, low: 1ms, high: 5ms}``."""

    dist: Literal["uniform"] = "uniform"
    low: Duration
    high: Duration

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.low > self.high:
            fail("Uniform", [(("high",), f"must be ≥ low ({format_duration(self.low)})")], self.high)
        return self

    @property
    def mean(self) -> float:
        """(low + high) / 2."""
        return (self.low + self.high) / 2

    @property
    def variance(self) -> float:
        """(high − low)² / 12."""
        return (self.high - self.low) ** 2 / 12

    def _quantile(self, q: float) -> float:
        return self.low + q * (self.high - self.low)

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, n)

    def __str__(self) -> str:
        return f"uniform(low={format_duration(self.low)}, high={format_duration(self.high)})"


class Lognormal(BaseDistribution):
    """Lognormal with the given mean and coefficient of variation: ``{dist: lognormal, mean: 20ms, cv: 1.5}``.

    The underlying normal has σ² = ln(1 + cv²) and μ = ln(mean) − σ²/2, so the mean is exactly ``mean``.
    """

    dist: Literal["lognormal"] = "lognormal"
    mean: PositiveDuration
    cv: _Cv

    @property
    def variance(self) -> float:
        """(cv · mean)²."""
        return (self.cv * self.mean) ** 2

    @property
    def sigma(self) -> float:
        """Standard deviation of the underlying normal."""
        return math.sqrt(math.log1p(self.cv**2))

    @property
    def mu(self) -> float:
        """Mean of the underlying normal."""
        return math.log(self.mean) - self.sigma**2 / 2

    def _quantile(self, q: float) -> float:
        return 0.0 if q == 0 else math.exp(self.mu + self.sigma * NormalDist().inv_cdf(q))

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.lognormal(self.mu, self.sigma, n)

    def __str__(self) -> str:
        return f"lognormal(mean={format_duration(self.mean)}, cv={self.cv:g})"


class Gamma(BaseDistribution):
    """Gamma with the given mean and coefficient of variation: ``{dist: gamma, mean: 8ms, cv: 0.5}``.

    Shape k = 1/cv², scale = mean · cv². cv = 1 is the exponential; cv < 1 is more regular (Erlang-like).
    """

    dist: Literal["gamma"] = "gamma"
    mean: PositiveDuration
    cv: _Cv

    @property
    def variance(self) -> float:
        """(cv · mean)²."""
        return (self.cv * self.mean) ** 2

    @property
    def shape(self) -> float:
        """Shape k = 1/cv²."""
        return 1 / self.cv**2

    @property
    def scale(self) -> float:
        """Scale θ = mean · cv²."""
        return self.mean * self.cv**2

    def _quantile(self, q: float) -> float:
        from scipy.special import gammaincinv  # lazily: validating a scenario stays cheap

        return float(gammaincinv(self.shape, q)) * self.scale

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.gamma(self.shape, self.scale, n)

    def __str__(self) -> str:
        return f"gamma(mean={format_duration(self.mean)}, cv={self.cv:g})"


class Empirical(BaseDistribution):
    """Uniform choice among observed durations: ``{dist: empirical, samples: [3ms, 4ms, 12ms]}``."""

    dist: Literal["empirical"] = "empirical"
    samples: Annotated[tuple[Duration, ...], Field(min_length=1)]

    @property
    def mean(self) -> float:
        """Mean of the samples."""
        return math.fsum(self.samples) / len(self.samples)

    @property
    def variance(self) -> float:
        """Population variance of the samples (each is drawn with probability 1/n)."""
        mean = self.mean
        return math.fsum((x - mean) ** 2 for x in self.samples) / len(self.samples)

    def _quantile(self, q: float) -> float:
        ordered = sorted(self.samples)  # each sample has probability 1/n: the inverse of the step CDF
        return float(ordered[max(0, math.ceil(q * len(ordered) - 1e-9) - 1)])  # 1e-9: 0.29·100 is 29.000000000000004

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.choice(np.asarray(self.samples, dtype=np.float64), n)

    def __str__(self) -> str:
        return f"empirical(n={len(self.samples)}, mean={format_duration(self.mean)})"


def _weibull_scv(shape: float) -> float:
    """Squared coefficient of variation of a Weibull with this shape: Γ(1+2/k)/Γ(1+1/k)² − 1."""
    return math.expm1(math.lgamma(1 + 2 / shape) - 2 * math.lgamma(1 + 1 / shape))


# The shapes the bisection searches; cv is limited to what they reach (cv 0.01 ↔ k ≈ 128, cv 100 ↔ k ≈ 0.11).
_WEIBULL_SHAPES = (0.05, 500.0)


class Weibull(BaseDistribution):
    """Weibull with the given mean and coefficient of variation: ``{dist: weibull, mean: 20ms, cv: 0.6}``.

    The shape k solves Γ(1+2/k)/Γ(1+1/k)² = 1 + cv² (cv = 1 is the exponential, cv < 1 a
    wear-out hazard, cv > 1 a decreasing one) and the scale is mean / Γ(1 + 1/k).
    """

    dist: Literal["weibull"] = "weibull"
    mean: PositiveDuration
    cv: Annotated[Float, Field(ge=0.01, le=100)]

    @property
    def variance(self) -> float:
        """(cv · mean)²."""
        return (self.cv * self.mean) ** 2

    @property
    def shape(self) -> float:
        """Shape k, by bisection on log k (the cv of a Weibull falls as k grows)."""
        target = self.cv**2
        low, high = (math.log(k) for k in _WEIBULL_SHAPES)
        for _ in range(80):  # 80 halvings of a log-range of 9.2 reach double precision
            mid = (low + high) / 2
            if _weibull_scv(math.exp(mid)) > target:
                low = mid
            else:
                high = mid
        return math.exp((low + high) / 2)

    @property
    def scale(self) -> float:
        """Scale λ = mean / Γ(1 + 1/k)."""
        return self.mean / math.gamma(1 + 1 / self.shape)

    def _quantile(self, q: float) -> float:
        return self.scale * math.pow(-math.log1p(-q), 1 / self.shape)

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.scale * rng.weibull(self.shape, n)

    def __str__(self) -> str:
        return f"weibull(mean={format_duration(self.mean)}, cv={self.cv:g})"


#: Every distribution class, by its ``dist`` tag.
DISTRIBUTIONS: dict[str, type[BaseDistribution]] = {
    cls.model_fields["dist"].default: cls for cls in (Exponential, Constant, Uniform, Lognormal, Gamma, Empirical, Weibull)
}


def _bare_duration_is_constant(value: Any) -> Any:
    # bool first: True is a numbers.Real, and `service: yes` is a typo, not one second
    if isinstance(value, str) or (not isinstance(value, bool) and isinstance(value, numbers.Real)):
        return {"dist": "constant", "value": value}
    return value


#: Field type for any distribution; a bare duration (``8ms`` or ``0.008``) means a constant.
Distribution = Annotated[
    Exponential | Constant | Uniform | Lognormal | Gamma | Empirical | Weibull,
    Field(discriminator="dist"),
    BeforeValidator(_bare_duration_is_constant),
]
