"""Candidate distributions fitted to observed durations, ranked by goodness of fit, and the scenario YAML of the best."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from queuesim.scenario.distributions import (
    BaseDistribution,
    Constant,
    Empirical,
    Exponential,
    Gamma,
    Lognormal,
    Weibull,
)
from queuesim.scenario.units import format_duration, format_rate, parse_duration

from .data import Sample

__all__ = [
    "FAMILIES",
    "CandidateFit",
    "DurationFit",
    "ArrivalFit",
    "fit_durations",
    "fit_arrivals",
    "distribution_yaml",
]

#: The parametric families tried, simplest first; each is also a scenario distribution.
FAMILIES = ("exponential", "lognormal", "gamma", "weibull")
#: Quantiles kept for the empirical fallback (the whole sample when it is smaller).
EMPIRICAL_POINTS = 200
#: Above this many values the tests run on a random subsample of this size (the fit uses every value).
MAX_TEST_SIZE = 10_000

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CandidateFit:
    """One family fitted by maximum likelihood and tested against the data.

    Attributes
    ----------
    family : str
        ``exponential``, ``lognormal``, ``gamma`` or ``weibull``.
    distribution : BaseDistribution or None
        The fitted scenario distribution; None when the family cannot fit these data (``note`` says why).
    parameters : int
        Number of fitted parameters.
    log_likelihood : float
        Maximised log-likelihood (density in 1/seconds).
    ks, ks_p : float
        Kolmogorov–Smirnov statistic D and its parametric-bootstrap p-value.
    ad, ad_p : float
        Anderson–Darling statistic A² and its parametric-bootstrap p-value; the ranking uses these.
    ks_p_naive : float
        The textbook KS p-value, which assumes the parameters were known in advance. It is far
        too large when they were fitted to the same data (Lilliefors 1967); shown for contrast only.
    rejected : bool
        ``ad_p < alpha``.
    note : str
        Why a family was not fitted, or was moved in the ranking.
    """

    family: str
    distribution: BaseDistribution | None
    parameters: int
    log_likelihood: float = math.nan
    ks: float = math.nan
    ks_p: float = math.nan
    ad: float = math.nan
    ad_p: float = math.nan
    ks_p_naive: float = math.nan
    rejected: bool = True
    note: str = ""


@dataclass(frozen=True)
class DurationFit:
    """The candidates fitted to one sample, best first, and the distribution to simulate with.

    ``best`` is the first candidate the Anderson–Darling test does not reject at ``alpha`` (see
    :func:`fit_durations` for the order), or the empirical distribution when every family is
    rejected.
    """

    sample: Sample
    candidates: tuple[CandidateFit, ...]
    empirical: Empirical
    best: BaseDistribution
    best_family: str
    reason: str
    alpha: float
    replicates: int
    tested: int
    warnings: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        """Number of values."""
        return int(self.sample.values.size)

    def describe(self) -> dict[str, float]:
        """Mean, cv and percentiles of the data, in seconds."""
        x = self.sample.values
        mean = float(x.mean())
        q = np.quantile(x, [0.5, 0.9, 0.99])
        return {"mean": mean, "cv": float(x.std() / mean) if mean > 0 else math.nan,
                "p50": float(q[0]), "p90": float(q[1]), "p99": float(q[2]), "max": float(x.max())}

    def yaml(self, key: str = "service") -> str:
        """The best distribution as a scenario YAML line, e.g. ``service: {dist: gamma, mean: 8ms, cv: 0.5}``."""
        return f"{key}: {distribution_yaml(self.best, indent=len(key) + 2)}"


@dataclass(frozen=True)
class ArrivalFit:
    """Arrival times summarised as a rate and a fitted distribution of the gaps between them.

    Attributes
    ----------
    timestamps : Sample
        The timestamps as read (file order).
    gaps : DurationFit
        The candidates fitted to the sorted timestamps' gaps.
    rate, rate_ci : float, (float, float)
        Arrivals per second, 1 / mean gap, and its 95% interval (normal approximation on the
        mean gap, which holds for any renewal process with finite variance).
    span : float
        Seconds from the first timestamp to the last.
    cv : float
        Coefficient of variation of the gaps (1 for a Poisson process).
    lag1, lag1_band : float
        Lag-1 autocorrelation of the gaps, and the ±1.96/√n band it stays inside for independent gaps.
    unsorted : int
        Timestamps earlier than the one before them in the file (they are sorted first).
    poisson : bool
        Whether a Poisson process is plausible: exponential gaps not rejected and no lag-1 correlation.
    verdict : str
        The reasons, in words.
    """

    timestamps: Sample
    gaps: DurationFit
    rate: float
    rate_ci: tuple[float, float]
    span: float
    cv: float
    lag1: float
    lag1_band: float
    unsorted: int
    poisson: bool
    verdict: str
    warnings: tuple[str, ...] = field(default=())

    def yaml(self) -> str:
        """The producer's arrivals as scenario YAML: ``rate: …/s`` when Poisson is plausible, else ``interarrival: …``."""
        if self.poisson:
            return f"rate: {format_rate(self.rate, 4)}"
        return self.gaps.yaml("interarrival")


# ---------------------------------------------------------------------------------------------
# The families: maximum-likelihood fits with scipy.stats (location fixed at 0: durations start at 0).


def _stats() -> Any:
    from scipy import stats  # lazily: importing queuesim.calibration stays cheap

    return stats


def _frozen(family: str, x: Array) -> Any:
    """The scipy.stats frozen distribution fitted by maximum likelihood to ``x`` (all > 0 except for exponential)."""
    st = _stats()
    if family == "exponential":
        return st.expon(scale=float(x.mean()))
    if family == "lognormal":
        s, _, scale = st.lognorm.fit(x, floc=0)
        return st.lognorm(s, scale=scale)
    if family == "gamma":
        a, _, scale = st.gamma.fit(x, floc=0)
        return st.gamma(a, scale=scale)
    if family == "weibull":
        k, scale = _weibull_mle(x)
        return st.weibull_min(k, scale=scale)
    raise ValueError(f"unknown family {family!r}")


def _weibull_mle(x: Array) -> tuple[float, float]:
    """Maximum-likelihood Weibull (location 0): the shape solves the profile equation, then the scale follows.

    The shape k solves Σ xᵏ ln x / Σ xᵏ − 1/k − mean(ln x) = 0, increasing in k, by Brent's method:
    the same optimum scipy's ``weibull_min.fit(x, floc=0)`` finds by Nelder–Mead, 50× faster,
    which the bootstrap's hundreds of refits need.
    """
    from scipy.optimize import brentq

    z = np.log(x)
    top = float(z.max())
    z = z - top  # ≤ 0, so exp(k z) never overflows
    mean_z = float(z.mean())

    def score(k: float) -> float:
        w = np.exp(k * z)
        return float(w @ z / w.sum()) - 1.0 / k - mean_z

    low, high = 1e-3, 1e3
    k = float(brentq(score, low, high, xtol=1e-12, rtol=1e-10)) if score(low) < 0 < score(high) else (
        low if score(low) >= 0 else high)
    scale = math.exp(top + math.log(float(np.mean(np.exp(k * z)))) / k)
    return k, scale


def _scenario_distribution(family: str, frozen: Any) -> BaseDistribution:
    """The scenario distribution with the fitted distribution's mean and cv (exactly that distribution)."""
    mean, var = (float(v) for v in frozen.stats(moments="mv"))
    if family == "exponential":
        return Exponential(mean=mean)
    cv = math.sqrt(var) / mean
    if family == "lognormal":
        return Lognormal(mean=mean, cv=cv)
    if family == "gamma":
        return Gamma(mean=mean, cv=cv)
    return Weibull(mean=mean, cv=cv)


def _statistics(x_sorted: Array, frozen: Any) -> tuple[float, float]:
    """(KS D, Anderson–Darling A²) of sorted data against a continuous distribution."""
    n = x_sorted.size
    cdf = frozen.cdf(x_sorted)
    i = np.arange(1, n + 1)
    d = max(float(np.max(i / n - cdf)), float(np.max(cdf - (i - 1) / n)))
    # A² = -n - (1/n) Σ (2i - 1) [ln F(x_i) + ln(1 - F(x_{n+1-i}))], with log cdf/sf for the tails
    # cdf and sf are each accurate in their own tail (and 5× faster than scipy's logcdf for gamma)
    log_f = np.log(np.maximum(cdf, 1e-300))
    log_s = np.log(np.maximum(frozen.sf(x_sorted[::-1]), 1e-300))
    a2 = -n - float(np.sum((2 * i - 1) * (log_f + log_s))) / n
    return d, a2


def _bootstrap_p(family: str, frozen: Any, n: int, observed: tuple[float, float], replicates: int,
                 rng: np.random.Generator) -> tuple[float, float]:
    """Parametric-bootstrap p-values of (D, A²): draw from the fit, refit each draw, recompute both.

    Refitting every replicate is what accounts for the parameters having been estimated from the
    data: the statistics of a fitted model are smaller than those of a known one.
    """
    above = np.zeros(2)
    for _ in range(replicates):
        draw = np.sort(frozen.rvs(size=n, random_state=rng))
        if family != "exponential":
            draw = np.maximum(draw, np.finfo(float).tiny)  # an underflow to 0 would stop the refit
        stats = _statistics(draw, _frozen(family, draw))
        above += np.asarray(stats) >= np.asarray(observed)
    p = (1.0 + above) / (replicates + 1.0)
    return float(p[0]), float(p[1])


def _lr_p(simple: CandidateFit, richer: CandidateFit) -> float:
    """p-value of the likelihood-ratio test of a nested one-parameter-richer family (χ² with 1 df)."""
    stat = max(0.0, 2.0 * (richer.log_likelihood - simple.log_likelihood))
    return float(_stats().chi2.sf(stat, 1))


def _empirical(x: Array) -> Empirical:
    if x.size <= EMPIRICAL_POINTS:
        points = np.sort(x)
    else:  # mid-point quantiles: each stands for 1/EMPIRICAL_POINTS of the data
        points = np.quantile(x, (np.arange(EMPIRICAL_POINTS) + 0.5) / EMPIRICAL_POINTS)
    # rounded as the YAML prints them, so that the object and its snippet are the same distribution
    return Empirical(samples=tuple(parse_duration(_duration(float(v))) for v in points))


def fit_durations(sample: Sample, *, alpha: float = 0.05, replicates: int = 199, seed: int = 0) -> DurationFit:
    """Fit every family in :data:`FAMILIES` to a sample of durations and rank them.

    Each family is fitted by maximum likelihood (location 0) with scipy.stats, then tested with
    the Kolmogorov–Smirnov and Anderson–Darling statistics. Their p-values come from a
    parametric bootstrap (``replicates`` samples of the same size drawn from the fit, each refitted)
    because parameters estimated from the data make the textbook p-values too large.

    Ranking: families the Anderson–Darling test does not reject at ``alpha`` first, by their A²
    (which weighs the tails, where waits are decided); then the rejected ones, by A². The
    exponential goes first when it is not rejected and a likelihood-ratio test finds that neither
    gamma nor Weibull — which contain it as shape 1 — needs its extra parameter (simplest
    adequate model). The best is the first not rejected; when every family is rejected, the
    empirical distribution of the data (:data:`EMPIRICAL_POINTS` quantiles) is.

    Parameters
    ----------
    sample : Sample
        Durations in seconds, >= 0 (see :func:`queuesim.calibration.read_durations`).
    alpha : float, default 0.05
        Level of the tests.
    replicates : int, default 199
        Bootstrap samples per family (p-values in steps of 1/(replicates+1)).
    seed : int, default 0
        Seed of the bootstrap draws and of the subsample above :data:`MAX_TEST_SIZE` values.

    Returns
    -------
    DurationFit
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if replicates < 1:
        raise ValueError(f"replicates must be >= 1, got {replicates!r}")
    if 1.0 / (replicates + 1) >= alpha:  # the smallest bootstrap p-value must be able to fall below alpha
        raise ValueError(f"with {replicates} bootstrap replicates no p-value is below {alpha:g}: "
                         f"use at least {math.ceil(1 / alpha)}")
    rng = np.random.default_rng(seed)
    x = np.asarray(sample.values, dtype=np.float64)
    warnings: list[str] = []
    empirical = _empirical(x)
    if x.size and float(x.std()) <= 1e-12 * max(float(x.mean()), 1e-300):
        constant = Constant(value=float(x.mean()))
        return DurationFit(sample, (), empirical, constant, "constant", "every value is the same", alpha, replicates,
                           int(x.size), ("a constant: nothing to fit",))

    tested = x if x.size <= MAX_TEST_SIZE else rng.choice(x, MAX_TEST_SIZE, replace=False)
    if tested.size < x.size:
        warnings.append(f"tests run on a random subsample of {tested.size:,} of the {x.size:,} values "
                        "(the fitted parameters use every value)")
    tested_sorted = np.sort(tested)
    zeros = np.flatnonzero(x == 0)
    # Rounding matters to the tests when the resolution is coarser than the typical gap between
    # neighbouring order statistics (~IQR / n): the data's steps then show in the KS/AD statistics.
    distinct = np.unique(x)
    step = float(np.min(np.diff(distinct))) if distinct.size > 1 else 0.0
    q1, q3 = np.quantile(x, [0.25, 0.75])
    if step > (q3 - q1) / x.size:
        warnings.append(f"the values are rounded to about {format_duration(step, 3)}, coarser than the spacing of "
                        f"{x.size:,} values: the tests assume continuous values and will reject families that fit")

    fits: list[CandidateFit] = []
    for family in FAMILIES:
        parameters = 1 if family == "exponential" else 2
        if family != "exponential" and zeros.size:
            fits.append(CandidateFit(family, None, parameters, note=(
                f"not fitted: {zeros.size} value(s) are 0 (first at {sample.where(int(zeros[0]))}); a {family} "
                "is never 0 — is the column rounded to its unit?")))
            continue
        frozen = _frozen(family, x)
        try:
            dist = _scenario_distribution(family, frozen)
        except ValidationError as exc:  # a fitted shape outside what the scenario distribution accepts
            fits.append(CandidateFit(family, None, parameters, note=f"not usable: {exc.errors()[0]['msg']}"))
            continue
        frozen_tested = frozen if tested.size == x.size else _frozen(family, tested)
        d, a2 = _statistics(tested_sorted, frozen_tested)
        ks_p, ad_p = _bootstrap_p(family, frozen_tested, tested.size, (d, a2), replicates, rng)
        fits.append(CandidateFit(
            family, dist, parameters,
            log_likelihood=float(np.sum(frozen.logpdf(x))),
            ks=d, ks_p=ks_p, ad=a2, ad_p=ad_p,
            ks_p_naive=float(_stats().kstwo.sf(d, tested.size)),
            rejected=ad_p < alpha,
        ))

    ranked = sorted(fits, key=lambda f: (f.distribution is None, f.rejected, f.ad))
    ranked = _prefer_exponential(ranked, alpha)
    best = next((f for f in ranked if f.distribution is not None and not f.rejected), None)
    if best is not None:
        assert best.distribution is not None
        reason = best.note or f"not rejected (Anderson–Darling p = {best.ad_p:.3g}) and closest in A²"
        return DurationFit(sample, tuple(ranked), empirical, best.distribution, best.family, reason, alpha,
                           replicates, int(tested.size), tuple(warnings))
    reason = (f"every family is rejected at {alpha:g}: the empirical distribution of the data "
              f"({len(empirical.samples)} quantiles) reproduces it, but not beyond its largest value")
    return DurationFit(sample, tuple(ranked), empirical, empirical, "empirical", reason, alpha, replicates,
                       int(tested.size), tuple(warnings))


def _prefer_exponential(ranked: list[CandidateFit], alpha: float) -> list[CandidateFit]:
    by_name = {f.family: f for f in ranked}
    expo = by_name["exponential"]
    if expo.distribution is None or expo.rejected or ranked[0] is expo:
        return ranked
    nesting = [by_name[name] for name in ("gamma", "weibull") if by_name[name].distribution is not None]
    p_values = {f.family: _lr_p(expo, f) for f in nesting}
    if any(p < alpha for p in p_values.values()):
        return ranked
    tests = ", ".join(f"{name} p = {p:.2g}" for name, p in p_values.items())
    note = ("simplest adequate model: not rejected, and the extra shape parameter of gamma and Weibull is not "
            f"needed (likelihood-ratio {tests})" if p_values else "simplest adequate model")
    moved = CandidateFit(**{**expo.__dict__, "note": note})
    return [moved, *(f for f in ranked if f is not expo)]


# ---------------------------------------------------------------------------------------------
# Arrivals: the gaps between sorted timestamps.


def fit_arrivals(timestamps: Sample, *, alpha: float = 0.05, replicates: int = 199, seed: int = 0) -> ArrivalFit:
    """Fit the gaps between arrival timestamps, estimate the rate and judge whether arrivals are Poisson.

    A Poisson process has independent exponential gaps (cv 1). The verdict is "plausible" when
    the exponential fit of the gaps is not rejected (see :func:`fit_durations`) and the lag-1
    autocorrelation of the gaps is inside its ±1.96/√n band; a rate that changes over the log
    (a daily pattern, bursts) shows as cv > 1 and correlated gaps, which no renewal process models.

    Parameters
    ----------
    timestamps : Sample
        Timestamps in seconds (see :func:`queuesim.calibration.read_timestamps`); sorted here.
    alpha, replicates, seed
        As in :func:`fit_durations`.

    Returns
    -------
    ArrivalFit
    """
    t = np.asarray(timestamps.values, dtype=np.float64)
    order = np.argsort(t, kind="stable")
    unsorted = int(np.sum(np.diff(t) < 0))
    t_sorted = t[order]
    gaps = np.diff(t_sorted)
    # the gap ending at timestamp k is reported at k's line
    gap_sample = Sample(gaps, timestamps.lines[order][1:], timestamps.source, f"gaps of {timestamps.column}",
                        timestamps.unit, timestamps.skipped)
    span = float(t_sorted[-1] - t_sorted[0])
    if span <= 0:
        from queuesim.errors import Problem

        from .data import DataError

        raise DataError([Problem(timestamps.source, None, timestamps.column, "every timestamp is the same: no rate")])
    gap_fit = fit_durations(gap_sample, alpha=alpha, replicates=replicates, seed=seed)
    n = gaps.size
    mean = float(gaps.mean())
    sd = float(gaps.std(ddof=1))
    half = 1.96 * sd / math.sqrt(n)
    rate = 1.0 / mean
    rate_ci = (1.0 / (mean + half), 1.0 / (mean - half) if mean > half else math.inf)
    cv = sd / mean
    centred = gaps - mean
    lag1 = float(np.dot(centred[:-1], centred[1:]) / np.dot(centred, centred)) if n > 2 else math.nan
    band = 1.96 / math.sqrt(n)
    expo = next(f for f in gap_fit.candidates if f.family == "exponential")
    reasons = []
    if expo.rejected:
        reasons.append(f"exponential gaps rejected (Anderson–Darling p = {expo.ad_p:.3g})")
    else:
        reasons.append(f"exponential gaps not rejected (Anderson–Darling p = {expo.ad_p:.3g})")
    reasons.append(f"gap cv {cv:.3g} (Poisson: 1)")
    correlated = abs(lag1) > band
    reasons.append(f"lag-1 autocorrelation {lag1:+.3f} ({'outside' if correlated else 'inside'} ±{band:.3f})")
    poisson = not expo.rejected and not correlated
    warnings = list(gap_fit.warnings)
    if unsorted:
        warnings.append(f"{unsorted} timestamp(s) were earlier than the one before them; sorted first")
    if correlated:
        warnings.append("the gaps are correlated: the rate changes over the log (bursts, a daily pattern); "
                        "a renewal process (interarrival:) cannot reproduce that — consider a rate profile or trace:")
    verdict = ("plausible: " if poisson else "not plausible: ") + "; ".join(reasons)
    return ArrivalFit(timestamps, gap_fit, rate, rate_ci, span, cv, lag1, band, unsorted, poisson, verdict,
                      tuple(warnings))


# ---------------------------------------------------------------------------------------------
# YAML in the scenario's own syntax.


def _duration(seconds: float) -> str:
    return format_duration(seconds, 4)


def distribution_yaml(dist: BaseDistribution, indent: int = 0, width: int = 100) -> str:
    """A distribution in scenario YAML flow syntax (``{dist: lognormal, mean: 20ms, cv: 1.5}``).

    Parameters
    ----------
    dist : BaseDistribution
        Any scenario distribution.
    indent : int, default 0
        Column at which the text starts, so that wrapped lines of a long empirical list line up.
    width : int, default 100
        Line length at which an empirical list wraps.

    Returns
    -------
    str
        Durations with 4 significant digits; parses back (``parse_scenario``) to the same
        distribution within that precision.
    """
    fmt: dict[type[BaseDistribution], Callable[[Any], str]] = {
        Exponential: lambda d: f"{{dist: exponential, mean: {_duration(d.mean)}}}",
        Lognormal: lambda d: f"{{dist: lognormal, mean: {_duration(d.mean)}, cv: {d.cv:.4g}}}",
        Gamma: lambda d: f"{{dist: gamma, mean: {_duration(d.mean)}, cv: {d.cv:.4g}}}",
        Weibull: lambda d: f"{{dist: weibull, mean: {_duration(d.mean)}, cv: {d.cv:.4g}}}",
        Constant: lambda d: _duration(d.value),
    }
    if type(dist) in fmt:
        return fmt[type(dist)](dist)
    if isinstance(dist, Empirical):
        head = "{dist: empirical, samples: ["
        lines: list[str] = []
        line = head
        pad = " " * (indent + len(head))
        for i, v in enumerate(dist.samples):
            item = _duration(v) + (", " if i < len(dist.samples) - 1 else "]}")
            if len(line) + len(item) + (indent if not lines else 0) > width and line.strip() not in ("", head):
                lines.append(line.rstrip())
                line = pad
            line += item
        lines.append(line)
        return "\n".join(lines)
    raise TypeError(f"no YAML form for {type(dist).__name__}")
