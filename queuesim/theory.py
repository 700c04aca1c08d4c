"""Closed-form queueing results (Erlang A/B/C, M/M/c+D, M/M/c/K, machine repair M/M/c//N, P-K, Jackson, Little) for tests and plans."""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "QueueMetrics",
    "NetworkMetrics",
    "erlang_b",
    "erlang_c",
    "mm1",
    "mm1_sojourn_quantile",
    "mmc",
    "mmc_wait_cdf",
    "mmc_wait_quantile",
    "mmc_sojourn_cdf",
    "mmc_priority",
    "mmck",
    "mg1",
    "md1",
    "mgc_allen_cunneen",
    "jackson_tandem",
    "jackson_network",
    "littles_law_L",
    "offered_load",
    "min_servers_for_wait",
    "min_servers_for_mean_wait",
    "AbandonmentMetrics",
    "erlang_a",
    "mmc_constant_patience",
    "ClosedMetrics",
    "machine_repair",
]


@dataclass(frozen=True)
class QueueMetrics:
    r"""Steady-state means of one service station.

    Times are in the unit of the rates passed in (seconds when rates are per second).
    Every instance satisfies Little's law: ``in_system == throughput * sojourn`` and
    ``queue_length == throughput * wait``.

    Attributes
    ----------
    wait : float
        Mean time an admitted customer spends waiting in queue, :math:`W_q`.
    sojourn : float
        Mean time an admitted customer spends in the system, :math:`W = W_q + E[S]`.
    queue_length : float
        Mean number waiting (not in service), :math:`L_q`.
    in_system : float
        Mean number in the system, waiting or in service, :math:`L`.
    utilization : float
        Long-run fraction of time each server is busy, in [0, 1].
    p_wait : float
        Probability that an admitted arrival has to wait (finds every server busy).
    p_block : float
        Probability that an arrival is refused because the system is full; 0 for infinite queues.
    throughput : float
        Rate of admitted customers, :math:`\lambda (1 - p_{block})`.
    """

    wait: float
    sojourn: float
    queue_length: float
    in_system: float
    utilization: float
    p_wait: float
    p_block: float
    throughput: float


class NetworkMetrics(NamedTuple):
    r"""Per-node metrics of an open network and the mean end-to-end sojourn of an external arrival.

    A named tuple so that ``nodes, sojourn = jackson_tandem(...)`` unpacks.

    Attributes
    ----------
    nodes : tuple of QueueMetrics
        One entry per node (stage), in input order; ``nodes[i].throughput`` is the node's total
        arrival rate :math:`\lambda_i` from the traffic equations.
    sojourn : float
        Mean time from entering the network to leaving it, :math:`\sum_i L_i / \sum_i \gamma_i`
        (Little's law on the whole network); for a tandem line, the sum of the stage sojourns.
    """

    nodes: tuple[QueueMetrics, ...]
    sojourn: float

    @property
    def in_system(self) -> float:
        r"""Mean number of customers in the whole network, :math:`\sum_i L_i`."""
        return math.fsum(node.in_system for node in self.nodes)


# ---------------------------------------------------------------------------------------------
# Parameter checks. Every public function validates before computing, so that a bad scenario
# fails with the parameter's name rather than with a ZeroDivisionError or a NaN deep in a plot.


def _real(name: str, value: float, *, positive: bool = False) -> float:
    """Return ``value`` as a finite float that is >= 0 (> 0 when ``positive``), else raise."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if positive and x <= 0.0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if x < 0.0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return x


def _count(name: str, value: int, *, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum``; floats such as 2.0 are refused, not truncated."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if n < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {n}")
    return n


def _probability(name: str, value: float) -> float:
    """Return ``value`` as a float in [0, 1); q = 1 would be an infinite quantile."""
    q = _real(name, value)
    if q >= 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return q


def _stable(lam: float, capacity: float, what: str) -> None:
    """Raise unless ``lam < capacity``: the steady state of an infinite queue exists only then."""
    if lam >= capacity:
        raise ValueError(
            f"{what} is unstable: utilization {lam / capacity:.6g} >= 1, "
            "so the queue grows without bound and no steady state exists"
        )


# ---------------------------------------------------------------------------------------------
# Erlang B / C.


def _erlang_b_sequence(a: float) -> Iterator[float]:
    """Yield B(1, a), B(2, a), ... by the stable forward recurrence (no factorials, no overflow)."""
    b = 1.0  # B(0, a): with no servers every arrival is lost
    k = 0
    while True:
        k += 1
        # B only shrinks, so a*b <= a and nothing overflows; once B underflows to 0 it stays 0,
        # which is the correct value to double precision.
        b = a * b / (k + a * b)
        yield b


def _log_erlang_b(c: int, a: float) -> float:
    """Natural log of B(c, a), exact even where B itself would underflow (a << c); a > 0."""
    log_a = math.log(a)
    log_b = 0.0
    for k in range(1, c + 1):
        # log of the forward recurrence; exp(log_b) <= 1 so the denominator never overflows.
        log_b = log_a + log_b - math.log(k + a * math.exp(log_b))
    return log_b


def _erlang_c_from_b(c: int, a: float, b: float) -> float:
    """Erlang C from Erlang B with the same (c, a); requires a < c."""
    rho = a / c
    # Denominator 1 - rho + rho*b > 0 for rho < 1, and the form avoids 1/B (which overflows).
    return b / (1.0 - rho * (1.0 - b))


def erlang_b(c: int, a: float) -> float:
    r"""Blocking probability of the Erlang loss system M/M/c/c (Erlang's B formula).

    .. math:: B(c, a) = \frac{a^c / c!}{\sum_{k=0}^{c} a^k / k!}

    computed with the recurrence :math:`B(0) = 1`, :math:`B(k) = a B(k-1) / (k + a B(k-1))`,
    which is stable for any number of servers (no factorials or powers are formed). By the
    insensitivity property the result also holds for M/G/c/c with the same mean service time.

    Parameters
    ----------
    c : int
        Number of servers, >= 0 (B(0, a) = 1: with no server everything is lost).
    a : float
        Offered load in Erlangs, :math:`a = \lambda / \mu = \lambda E[S]`, >= 0.

    Returns
    -------
    float
        Probability that an arrival finds all ``c`` servers busy and is lost, in [0, 1].

    Raises
    ------
    ValueError
        If ``c`` is not a non-negative integer or ``a`` is negative or not finite.

    References
    ----------
    L. Kleinrock, *Queueing Systems, Vol. 1: Theory*, Wiley (1975), ch. 3 (M/M/m/m).
    D. L. Jagerman, "Some properties of the Erlang loss function", *Bell System Technical
    Journal* 53(3) (1974) -- the recurrence.
    """
    c = _count("c", c, minimum=0)
    a = _real("a", a)
    if c == 0:
        return 1.0
    return next(itertools.islice(_erlang_b_sequence(a), c - 1, None))


def erlang_c(c: int, a: float) -> float:
    r"""Probability that an arrival has to wait in M/M/c (Erlang's C formula).

    .. math:: C(c, a) = \frac{B(c, a)}{1 - \rho\,(1 - B(c, a))}, \qquad \rho = a / c,

    built on :func:`erlang_b`, so it is stable for hundreds or thousands of servers.

    Parameters
    ----------
    c : int
        Number of servers, >= 1.
    a : float
        Offered load in Erlangs, :math:`a = \lambda / \mu`, with ``0 <= a < c``.

    Returns
    -------
    float
        :math:`P(W_q > 0)`, in [0, 1).

    Raises
    ------
    ValueError
        If a parameter is invalid, or if ``a >= c`` (the queue is unstable and C does not exist).

    References
    ----------
    D. Gross, J. F. Shortle, J. M. Thompson, C. M. Harris, *Fundamentals of Queueing Theory*,
    4th ed., Wiley (2008), ch. 2 (M/M/c).
    """
    c = _count("c", c)
    a = _real("a", a)
    _stable(a, float(c), f"M/M/{c} with offered load {a}")
    return _erlang_c_from_b(c, a, erlang_b(c, a))


# ---------------------------------------------------------------------------------------------
# Markovian single stations.


def mm1(lam: float, mu: float) -> QueueMetrics:
    r"""Steady-state metrics of the M/M/1 queue.

    With :math:`\rho = \lambda / \mu < 1`: :math:`W = 1/(\mu - \lambda)`,
    :math:`W_q = \rho/(\mu - \lambda)`, :math:`L = \rho/(1 - \rho)`,
    :math:`L_q = \rho^2/(1 - \rho)`, :math:`P(\text{wait}) = \rho`.

    Parameters
    ----------
    lam : float
        Arrival rate :math:`\lambda`, >= 0.
    mu : float
        Service rate :math:`\mu` of the server, > 0.

    Returns
    -------
    QueueMetrics

    Raises
    ------
    ValueError
        If a parameter is invalid or :math:`\lambda \ge \mu`.

    References
    ----------
    L. Kleinrock, *Queueing Systems, Vol. 1: Theory*, Wiley (1975), ch. 3.
    """
    lam = _real("lam", lam)
    mu = _real("mu", mu, positive=True)
    _stable(lam, mu, f"M/M/1 with lam={lam}, mu={mu}")
    rho = lam / mu
    sojourn = 1.0 / (mu - lam)
    return QueueMetrics(
        wait=rho * sojourn,
        sojourn=sojourn,
        queue_length=rho * rho / (1.0 - rho),
        in_system=rho / (1.0 - rho),
        utilization=rho,
        p_wait=rho,
        p_block=0.0,
        throughput=lam,
    )


def mm1_sojourn_quantile(lam: float, mu: float, q: float) -> float:
    r"""The q-quantile of the sojourn time in M/M/1 (FCFS), which is Exp(:math:`\mu - \lambda`).

    .. math:: t_q = -\ln(1 - q) / (\mu - \lambda)

    Parameters
    ----------
    lam : float
        Arrival rate, >= 0.
    mu : float
        Service rate, > 0 and > ``lam``.
    q : float
        Probability level in [0, 1), e.g. 0.99 for the p99.

    Returns
    -------
    float
        Time :math:`t_q` with :math:`P(W \le t_q) = q`.

    Raises
    ------
    ValueError
        If a parameter is invalid or the queue is unstable.

    References
    ----------
    L. Kleinrock, *Queueing Systems, Vol. 1: Theory*, Wiley (1975), ch. 3.
    """
    lam = _real("lam", lam)
    mu = _real("mu", mu, positive=True)
    q = _probability("q", q)
    _stable(lam, mu, f"M/M/1 with lam={lam}, mu={mu}")
    return -math.log1p(-q) / (mu - lam)


def _mmc_checked(lam: float, mu: float, c: int) -> tuple[float, float, int, float]:
    """Validate M/M/c parameters; return (lam, mu, c, C) with C the Erlang C probability."""
    lam = _real("lam", lam)
    mu = _real("mu", mu, positive=True)
    c = _count("c", c)
    _stable(lam, c * mu, f"M/M/{c} with lam={lam}, mu={mu}")
    a = lam / mu
    return lam, mu, c, _erlang_c_from_b(c, a, erlang_b(c, a))


def mmc(lam: float, mu: float, c: int) -> QueueMetrics:
    r"""Steady-state metrics of the M/M/c queue (infinite waiting room, FCFS).

    With :math:`a = \lambda/\mu`, :math:`\rho = a/c < 1` and :math:`C = C(c, a)`
    (:func:`erlang_c`): :math:`W_q = C / (c\mu - \lambda)`, :math:`W = W_q + 1/\mu`,
    :math:`L_q = \lambda W_q`, :math:`L = \lambda W`, :math:`P(\text{wait}) = C`.

    Parameters
    ----------
    lam : float
        Arrival rate, >= 0.
    mu : float
        Service rate of one server, > 0.
    c : int
        Number of servers, >= 1.

    Returns
    -------
    QueueMetrics

    Raises
    ------
    ValueError
        If a parameter is invalid or :math:`\lambda \ge c\mu`.

    References
    ----------
    D. Gross, J. F. Shortle, J. M. Thompson, C. M. Harris, *Fundamentals of Queueing Theory*,
    4th ed., Wiley (2008), ch. 2 (M/M/c).
    """
    lam, mu, c, erl_c = _mmc_checked(lam, mu, c)
    wait = erl_c / (c * mu - lam)
    sojourn = wait + 1.0 / mu
    return QueueMetrics(
        wait=wait,
        sojourn=sojourn,
        queue_length=lam * wait,
        in_system=lam * sojourn,
        utilization=lam / (c * mu),
        p_wait=erl_c,
        p_block=0.0,
        throughput=lam,
    )


def mmc_wait_cdf(lam: float, mu: float, c: int, t: float) -> float:
    r"""Distribution function of the waiting time in queue of M/M/c (FCFS).

    .. math:: P(W_q \le t) = 1 - C\, e^{-(c\mu - \lambda) t}, \qquad t \ge 0,

    an atom of mass :math:`1 - C` at zero plus an exponential tail.

    Parameters
    ----------
    lam, mu, c
        As in :func:`mmc`.
    t : float
        Time; negative times give 0.

    Returns
    -------
    float
        :math:`P(W_q \le t)`.

    Raises
    ------
    ValueError
        If a parameter is invalid or the queue is unstable.

    References
    ----------
    D. Gross, J. F. Shortle, J. M. Thompson, C. M. Harris, *Fundamentals of Queueing Theory*,
    4th ed., Wiley (2008), ch. 2 (M/M/c waiting-time distribution).
    """
    lam, mu, c, erl_c = _mmc_checked(lam, mu, c)
    t = float(t)
    if math.isnan(t):
        raise ValueError("t must not be NaN")
    if t < 0.0:
        return 0.0
    return 1.0 - erl_c * math.exp(-(c * mu - lam) * t)


def mmc_wait_quantile(lam: float, mu: float, c: int, q: float) -> float:
    r"""The q-quantile of the waiting time in queue of M/M/c (FCFS).

    Inverting :math:`P(W_q > t) = C e^{-(c\mu - \lambda) t}`:

    .. math:: t_q = \frac{\ln\big(C / (1 - q)\big)}{c\mu - \lambda} \text{ if } q > 1 - C,
              \text{ else } 0

    (the quantile falls in the atom at zero when at least a fraction q does not wait).

    Parameters
    ----------
    lam, mu, c
        As in :func:`mmc`.
    q : float
        Probability level in [0, 1), e.g. 0.95.

    Returns
    -------
    float
        Smallest :math:`t \ge 0` with :math:`P(W_q \le t) \ge q`.

    Raises
    ------
    ValueError
        If a parameter is invalid or the queue is unstable.

    References
    ----------
    D. Gross, J. F. Shortle, J. M. Thompson, C. M. Harris, *Fundamentals of Queueing Theory*,
    4th ed., Wiley (2008), ch. 2.
    """
    lam, mu, c, erl_c = _mmc_checked(lam, mu, c)
    q = _probability("q", q)
    return _wait_quantile(erl_c, c * mu - lam, q)


def _wait_quantile(erl_c: float, theta: float, q: float) -> float:
    """Quantile of a waiting time with atom 1 - C at 0 and tail C exp(-theta t)."""
    if 1.0 - q >= erl_c:
        return 0.0
    return (math.log(erl_c) - math.log1p(-q)) / theta


def mmc_sojourn_cdf(lam: float, mu: float, c: int, t: float) -> float:
    r"""Distribution function of the sojourn time (wait plus service) in M/M/c (FCFS).

    The sojourn is :math:`W_q + S` with :math:`S \sim \text{Exp}(\mu)` independent of
    :math:`W_q`, and :math:`W_q` is 0 with probability :math:`1 - C` and otherwise
    :math:`\text{Exp}(\theta)`, :math:`\theta = c\mu - \lambda`. Hence

    .. math:: P(W \le t) = (1 - C)(1 - e^{-\mu t})
              + C \left(1 - \frac{\theta e^{-\mu t} - \mu e^{-\theta t}}
                                  {\theta - \mu}\right),

    with the limit :math:`1 - e^{-\mu t}(1 + \mu t)` for the last bracket's tail when
    :math:`\theta = \mu`. For c = 1 this is :math:`1 - e^{-(\mu - \lambda) t}`.

    Parameters
    ----------
    lam, mu, c
        As in :func:`mmc`.
    t : float
        Time; negative times give 0.

    Returns
    -------
    float
        :math:`P(W \le t)`.

    Raises
    ------
    ValueError
        If a parameter is invalid or the queue is unstable.

    References
    ----------
    D. Gross, J. F. Shortle, J. M. Thompson, C. M. Harris, *Fundamentals of Queueing Theory*,
    4th ed., Wiley (2008), ch. 2.
    """
    lam, mu, c, erl_c = _mmc_checked(lam, mu, c)
    t = float(t)
    if math.isnan(t):
        raise ValueError("t must not be NaN")
    if t <= 0.0:
        return 0.0
    theta = c * mu - lam
    # P(Exp(theta) + Exp(mu) > t) is symmetric in the two rates; writing it around the smaller
    # rate with expm1 avoids both overflow and the 0/0 cancellation as theta -> mu.
    lo, hi = min(theta, mu), max(theta, mu)
    d = hi - lo
    spread = t if d == 0.0 else -math.expm1(-d * t) / d
    tail_both = math.exp(-lo * t) * (1.0 + lo * spread)
    return (1.0 - erl_c) * -math.expm1(-mu * t) + erl_c * (1.0 - tail_both)


# ---------------------------------------------------------------------------------------------
# M/M/c/K. States n = 0..K; weights relative to state c are c!/(n! a^(c-n)) below c and rho^j,
# j = n - c, from c to K. The part below c sums to (c/a)/B(c-1, a), the part from c up is a
# truncated geometric series; both are handled in log space, so the cost is O(c) for any K.


def mmc_priority(lams: Sequence[float], mu: float, c: int) -> list[QueueMetrics]:
    r"""Per-class steady-state metrics of the non-preemptive priority M/M/c queue (Cobham's formula).

    Classes are listed highest priority first and share one exponential service rate :math:`\mu`;
    within a class service is FCFS, and a started service is never interrupted. With
    :math:`\lambda = \sum_k \lambda_k`, :math:`a = \lambda/\mu`, :math:`\sigma_k = \sum_{i \le k}
    \lambda_i / (c\mu)` (:math:`\sigma_0 = 0`) and :math:`C = C(c, a)` (:func:`erlang_c`), class
    :math:`k` waits

    .. math:: W_{q,k} = \frac{C / (c\mu)}{(1 - \sigma_{k-1})(1 - \sigma_k)}

    (an arrival finding every server busy waits a residual :math:`1/(c\mu)` for the first to free,
    plus the work of its own and higher classes). One class gives :func:`mmc`; the λ-weighted mean of
    :math:`W_{q,k}` equals the FCFS :math:`W_q` (Kleinrock's conservation law).

    Parameters
    ----------
    lams : sequence of float
        Arrival rate of each class, >= 0, highest priority first.
    mu : float
        Service rate of one server, > 0, the same for every class.
    c : int
        Number of servers, >= 1.

    Returns
    -------
    list of QueueMetrics
        One per class: ``wait``, ``sojourn``, ``queue_length`` (:math:`\lambda_k W_{q,k}`),
        ``in_system``, ``throughput`` of that class; ``utilization`` and ``p_wait`` are the whole
        queue's (a class's arrival waits with probability :math:`C`, whatever its priority).

    Raises
    ------
    ValueError
        If a parameter is invalid, no class is given or :math:`\lambda \ge c\mu`.

    References
    ----------
    A. Cobham, "Priority assignment in waiting line problems", *J. Oper. Res. Soc. America* 2(1), 70–76 (1954);
    D. Gross, J. F. Shortle, J. M. Thompson, C. M. Harris, *Fundamentals of Queueing Theory*, 4th ed.,
    Wiley (2008), §3.4.1 (non-preemptive priorities, M/M/c).
    """
    if not lams:
        raise ValueError("give at least one class")
    rates = [_real(f"lams[{k}]", lam) for k, lam in enumerate(lams)]
    _lam, mu, c, erl_c = _mmc_checked(math.fsum(rates), mu, c)
    w0 = erl_c / (c * mu)
    out: list[QueueMetrics] = []
    above = 0.0  # sigma_{k-1}
    for lam_k in rates:
        upto = above + lam_k / (c * mu)
        wait = w0 / ((1.0 - above) * (1.0 - upto))
        sojourn = wait + 1.0 / mu
        out.append(QueueMetrics(wait=wait, sojourn=sojourn, queue_length=lam_k * wait, in_system=lam_k * sojourn,
                                utilization=_lam / (c * mu), p_wait=erl_c, p_block=0.0, throughput=lam_k))
        above = upto
    return out


def _logaddexp(x: float, y: float) -> float:
    """log(exp(x) + exp(y)) without overflow; either argument may be -inf."""
    hi, lo = max(x, y), min(x, y)
    if hi == -math.inf:
        return -math.inf
    return hi + math.log1p(math.exp(lo - hi))


def _log_geometric_sum(m: int, x: float) -> float:
    """log of sum_{j=0}^{m} exp(j x); -inf for m < 0 (empty sum)."""
    if m < 0:
        return -math.inf
    if x == 0.0:
        return math.log(m + 1)
    if x > 0.0:
        # Factor out the largest term so the remaining ratio is < 1 and nothing overflows.
        return m * x + _log_geometric_sum(m, -x)
    # expm1 keeps full precision when x or (m+1)x is tiny (rho close to 1).
    return math.log(-math.expm1((m + 1) * x)) - math.log(-math.expm1(x))


def _inv_expm1(y: float) -> float:
    """1 / (exp(y) - 1) for y > 0, without OverflowError for large y."""
    return math.exp(-y) if y > 700.0 else 1.0 / math.expm1(y)


def _truncated_geometric_mean(m: int, x: float) -> float:
    """Mean of j in {0..m} under weights exp(j x)."""
    if m == 0:
        return 0.0
    if x > 0.0:
        # Mirror j -> m - j so that the weights decrease.
        return m - _truncated_geometric_mean(m, -x)
    s = -x
    big_m = float(m + 1)
    y = big_m * s
    if y < 0.05:
        # Closed form 1/expm1(s) - M/expm1(Ms) cancels catastrophically here; use its Taylor
        # series from the Bernoulli expansion of y/(e^y - 1). Truncation error ~ y^7/6e5 relative.
        return (
            (big_m - 1.0) / 2.0
            - (big_m * y - s) / 12.0
            + (big_m * y**3 - s**3) / 720.0
            - (big_m * y**5 - s**5) / 30240.0
        )
    # Relative cancellation error here is at most ~2 eps / y <= 40 eps.
    return _inv_expm1(s) - big_m * _inv_expm1(y)


def mmck(lam: float, mu: float, c: int, K: int) -> QueueMetrics:
    r"""Steady-state metrics of the M/M/c/K queue (c servers, at most K customers in the system).

    ``K`` counts customers in service too, so ``K >= c``; a queuesim queue with ``capacity``
    waiting places served by ``c`` workers is M/M/c/K with ``K = capacity + c``. Arrivals that
    find K customers present are lost. The chain is finite, so any load (also
    :math:`\rho \ge 1`) has a steady state.

    With :math:`a = \lambda/\mu` and :math:`\rho = a/c`, the stationary distribution is

    .. math:: p_n = p_0 \frac{a^n}{n!} \; (n \le c), \qquad
              p_n = p_0 \frac{a^c}{c!} \rho^{n-c} \; (c < n \le K),

    and :math:`p_{block} = p_K` (PASTA), throughput :math:`\lambda_e = \lambda(1 - p_K)`,
    :math:`L_q = \sum_{n > c} (n - c) p_n`, :math:`L = L_q + \lambda_e/\mu`,
    :math:`W_q = L_q/\lambda_e`, :math:`W = W_q + 1/\mu`, utilization
    :math:`\lambda_e/(c\mu)`, and :math:`P(\text{wait} \mid \text{admitted}) =
    \sum_{n=c}^{K-1} p_n / (1 - p_K)`.

    No factorial or power is formed: the mass below c comes from the Erlang B recurrence
    (:math:`\sum_{n<c} p_n / p_c = (c/a) / B(c-1, a)`) and the mass from c to K is a truncated
    geometric series summed in closed form in log space, so the cost is O(c) for any K and
    there is no overflow for hundreds of servers or K in the billions.

    Parameters
    ----------
    lam : float
        Arrival rate (offered, before blocking), >= 0.
    mu : float
        Service rate of one server, > 0.
    c : int
        Number of servers, >= 1.
    K : int
        Capacity of the whole system (waiting plus in service), ``K >= c``.

    Returns
    -------
    QueueMetrics
        Times are per admitted customer; ``throughput`` is the admitted rate.

    Raises
    ------
    ValueError
        If a parameter is invalid or ``K < c``.

    References
    ----------
    D. Gross, J. F. Shortle, J. M. Thompson, C. M. Harris, *Fundamentals of Queueing Theory*,
    4th ed., Wiley (2008), ch. 2 (truncated queues M/M/c/K).
    L. Kleinrock, *Queueing Systems, Vol. 1: Theory*, Wiley (1975), ch. 3.
    """
    lam = _real("lam", lam)
    mu = _real("mu", mu, positive=True)
    c = _count("c", c)
    K = _count("K", K)
    if c > K:
        raise ValueError(f"K (system capacity, servers included) must be >= c={c}, got {K}")
    if lam == 0.0:
        # Empty system; an arrival (were there one) would be served at once.
        return QueueMetrics(0.0, 1.0 / mu, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    a = lam / mu
    m = K - c  # number of waiting places
    x = math.log(a) - math.log(c)  # log rho
    # Log-weights of: all states below c; states c..K; states c..K-1; state K. They are taken
    # relative to the heaviest tail state (c when rho <= 1, K when rho > 1) so that every log
    # stays O(c + log K): relative to p_c, log p_K = m log rho would be ~1e13 for K = 1e12,
    # and differences of such numbers keep only a few significant digits.
    if x > 0.0:
        log_below = math.log(c) - math.log(a) - _log_erlang_b(c - 1, a) - m * x
        log_from_c = _log_geometric_sum(m, -x)
        log_from_c_not_full = -x + _log_geometric_sum(m - 1, -x)
        log_full = 0.0
    else:
        log_below = math.log(c) - math.log(a) - _log_erlang_b(c - 1, a)
        log_from_c = _log_geometric_sum(m, x)
        log_from_c_not_full = _log_geometric_sum(m - 1, x)
        log_full = m * x
    log_total = _logaddexp(log_below, log_from_c)

    p_from_c = math.exp(log_from_c - log_total)  # P(N >= c)
    p_block = math.exp(log_full - log_total)  # P(N = K)
    # P(N < K) and P(c <= N < K) are summed directly rather than as 1 - p_K and
    # P(N >= c) - p_K, which cancel badly when rho is large and p_K is close to 1.
    p_admit = math.exp(_logaddexp(log_below, log_from_c_not_full) - log_total)
    p_wait_and_admit = math.exp(log_from_c_not_full - log_total)

    queue_length = p_from_c * _truncated_geometric_mean(m, x)
    throughput = lam * p_admit
    # Mean number of busy servers, lambda_e / mu; the min only absorbs a last-ulp rounding
    # excess when every server is saturated (a * p_admit -> c from either side).
    busy = min(a * p_admit, float(c))
    wait = queue_length / throughput
    sojourn = wait + 1.0 / mu
    return QueueMetrics(
        wait=wait,
        sojourn=sojourn,
        queue_length=queue_length,
        in_system=queue_length + busy,
        utilization=busy / c,
        p_wait=p_wait_and_admit / p_admit,
        p_block=p_block,
        throughput=throughput,
    )


# ---------------------------------------------------------------------------------------------
# General service times.


def mg1(lam: float, mean_service: float, scv_service: float) -> QueueMetrics:
    r"""Steady-state means of the M/G/1 queue (FCFS) by the Pollaczek-Khinchine formula.

    With :math:`\rho = \lambda E[S] < 1` and :math:`E[S^2] = E[S]^2 (1 + c_s^2)`:

    .. math:: W_q = \frac{\lambda E[S^2]}{2(1 - \rho)}
              = \frac{\rho E[S] (1 + c_s^2)}{2 (1 - \rho)},

    :math:`W = W_q + E[S]`, :math:`L_q = \lambda W_q`, :math:`L = \lambda W`, and
    :math:`P(\text{wait}) = \rho` (PASTA: the server is busy a fraction rho of the time).

    Parameters
    ----------
    lam : float
        Arrival rate, >= 0.
    mean_service : float
        Mean service time :math:`E[S]`, > 0.
    scv_service : float
        Squared coefficient of variation of the service time, :math:`c_s^2 = Var[S]/E[S]^2`,
        >= 0 (0 deterministic, 1 exponential).

    Returns
    -------
    QueueMetrics

    Raises
    ------
    ValueError
        If a parameter is invalid or :math:`\rho \ge 1`.

    References
    ----------
    L. Kleinrock, *Queueing Systems, Vol. 1: Theory*, Wiley (1975), ch. 5 (M/G/1).
    """
    lam = _real("lam", lam)
    mean_service = _real("mean_service", mean_service, positive=True)
    scv_service = _real("scv_service", scv_service)
    _stable(lam, 1.0 / mean_service, f"M/G/1 with lam={lam}, mean_service={mean_service}")
    rho = lam * mean_service
    wait = rho * mean_service * (1.0 + scv_service) / (2.0 * (1.0 - rho))
    sojourn = wait + mean_service
    return QueueMetrics(
        wait=wait,
        sojourn=sojourn,
        queue_length=lam * wait,
        in_system=lam * sojourn,
        utilization=rho,
        p_wait=rho,
        p_block=0.0,
        throughput=lam,
    )


def md1(lam: float, mu: float) -> QueueMetrics:
    r"""Steady-state means of the M/D/1 queue: :func:`mg1` with constant service time 1/μ.

    .. math:: W_q = \frac{\rho}{2 \mu (1 - \rho)}

    Parameters
    ----------
    lam : float
        Arrival rate, >= 0.
    mu : float
        Service rate (the service time is exactly :math:`1/\mu`), > 0.

    Returns
    -------
    QueueMetrics

    Raises
    ------
    ValueError
        If a parameter is invalid or :math:`\lambda \ge \mu`.

    References
    ----------
    L. Kleinrock, *Queueing Systems, Vol. 1: Theory*, Wiley (1975), ch. 5.
    """
    mu = _real("mu", mu, positive=True)
    return mg1(lam, 1.0 / mu, 0.0)


def mgc_allen_cunneen(
    lam: float,
    mean_service: float,
    scv_service: float,
    c: int,
    scv_arrival: float = 1.0,
) -> QueueMetrics:
    r"""Approximate means of the G/G/c queue by the Allen-Cunneen formula.

    .. math:: W_q \approx W_q^{M/M/c} \cdot \frac{c_a^2 + c_s^2}{2},
              \qquad W_q^{M/M/c} = \frac{C(c, a)}{c\mu - \lambda}

    This is an **approximation**, not an exact result: it is exact for M/M/c
    (:math:`c_a^2 = c_s^2 = 1`) and for M/G/1 (where it reduces to Pollaczek-Khinchine), and
    is good at moderate-to-heavy load; it is least reliable at light load and for very bursty
    arrivals, so validate against simulation before relying on it there. ``p_wait`` is the
    M/M/c Erlang C probability, also an approximation for non-exponential times.

    Parameters
    ----------
    lam : float
        Arrival rate, >= 0.
    mean_service : float
        Mean service time, > 0.
    scv_service : float
        Squared coefficient of variation of service times :math:`c_s^2`, >= 0.
    c : int
        Number of servers, >= 1.
    scv_arrival : float, default 1.0
        Squared coefficient of variation of inter-arrival times :math:`c_a^2`, >= 0
        (1 for Poisson arrivals).

    Returns
    -------
    QueueMetrics
        Approximate; Little's law holds between its fields.

    Raises
    ------
    ValueError
        If a parameter is invalid or :math:`\lambda E[S] \ge c`.

    References
    ----------
    A. O. Allen, *Probability, Statistics, and Queueing Theory*, 2nd ed., Academic Press (1990).
    G. Bolch, S. Greiner, H. de Meer, K. S. Trivedi, *Queueing Networks and Markov Chains*,
    2nd ed., Wiley (2006), ch. 6 (G/G/m approximations).
    """
    mean_service = _real("mean_service", mean_service, positive=True)
    scv_service = _real("scv_service", scv_service)
    scv_arrival = _real("scv_arrival", scv_arrival)
    base = mmc(lam, 1.0 / mean_service, c)
    wait = base.wait * (scv_arrival + scv_service) / 2.0
    sojourn = wait + mean_service
    return QueueMetrics(
        wait=wait,
        sojourn=sojourn,
        queue_length=base.throughput * wait,
        in_system=base.throughput * sojourn,
        utilization=base.utilization,
        p_wait=base.p_wait,
        p_block=0.0,
        throughput=base.throughput,
    )


# ---------------------------------------------------------------------------------------------
# Jackson networks.


def jackson_tandem(lam: float, stages: Sequence[tuple[float, int]]) -> NetworkMetrics:
    r"""Open tandem line of M/M/c stations fed by a Poisson stream (Jackson / Burke).

    By Burke's theorem the departures of a stable M/M/c queue are Poisson(λ), so every stage
    behaves as an independent M/M/c with arrival rate λ and the mean end-to-end sojourn is
    :math:`\sum_i W_i`.

    Parameters
    ----------
    lam : float
        Arrival rate into the first stage, >= 0.
    stages : sequence of (mean_service, servers)
        One pair per stage in order: mean service time (> 0) and number of servers (>= 1).

    Returns
    -------
    NetworkMetrics
        ``nodes`` (one :class:`QueueMetrics` per stage) and ``sojourn``; unpacks as
        ``nodes, sojourn``.

    Raises
    ------
    ValueError
        If ``stages`` is empty, a parameter is invalid, or any stage is unstable.

    References
    ----------
    P. J. Burke, "The output of a queuing system", *Operations Research* 4(6) (1956).
    J. R. Jackson, "Jobshop-like queueing systems", *Management Science* 10(1) (1963).
    """
    if len(stages) == 0:
        raise ValueError("stages must not be empty")
    nodes = []
    for i, stage in enumerate(stages):
        if len(stage) != 2:
            raise ValueError(f"stages[{i}] must be (mean_service, servers), got {stage!r}")
        mean_service, servers = stage
        mean_service = _real(f"stages[{i}] mean_service", mean_service, positive=True)
        try:
            nodes.append(mmc(lam, 1.0 / mean_service, servers))
        except ValueError as exc:
            raise ValueError(f"stages[{i}]: {exc}") from None
    return NetworkMetrics(tuple(nodes), math.fsum(node.sojourn for node in nodes))


def jackson_network(
    external_rates: npt.ArrayLike,
    routing_matrix: npt.ArrayLike,
    mus: npt.ArrayLike,
    servers: Sequence[int] | int = 1,
) -> NetworkMetrics:
    r"""Open Jackson network of M/M/c nodes with Markovian routing.

    Solves the traffic equations :math:`\lambda = \gamma + \lambda P`, i.e.
    :math:`(I - P)^T \lambda = \gamma`, then treats node i as an independent M/M/c_i with
    arrival rate :math:`\lambda_i` (Jackson's product-form theorem). The mean end-to-end
    sojourn of an external arrival is :math:`\sum_i L_i / \sum_i \gamma_i` by Little's law.

    Parameters
    ----------
    external_rates : array_like, shape (n,)
        Poisson arrival rates :math:`\gamma_i` from outside into each node, >= 0, not all 0.
    routing_matrix : array_like, shape (n, n)
        :math:`P_{ij}` = probability that a customer leaving node i goes next to node j;
        entries >= 0, row sums <= 1 (the remainder leaves the network). Every customer must
        eventually leave (spectral radius of P below 1).
    mus : array_like, shape (n,)
        Service rate of one server at each node, > 0.
    servers : int or sequence of int, default 1
        Servers per node (one int applies to every node), >= 1.

    Returns
    -------
    NetworkMetrics
        ``nodes[i].throughput`` is the total arrival rate :math:`\lambda_i` of node i.

    Raises
    ------
    ValueError
        If shapes or values are invalid, the network is not open (some customers never leave),
        or any node is unstable (:math:`\lambda_i \ge c_i \mu_i`).

    References
    ----------
    J. R. Jackson, "Jobshop-like queueing systems", *Management Science* 10(1) (1963).
    D. Gross, J. F. Shortle, J. M. Thompson, C. M. Harris, *Fundamentals of Queueing Theory*,
    4th ed., Wiley (2008), ch. 4 (networks).
    """
    gamma = np.asarray(external_rates, dtype=float)
    routing = np.asarray(routing_matrix, dtype=float)
    rates = np.asarray(mus, dtype=float)
    if gamma.ndim != 1 or gamma.size == 0:
        raise ValueError(
            f"external_rates must be a non-empty 1-D sequence, got shape {gamma.shape}"
        )
    n = gamma.size
    if routing.shape != (n, n):
        raise ValueError(f"routing_matrix must have shape ({n}, {n}), got {routing.shape}")
    if rates.shape != (n,):
        raise ValueError(f"mus must have shape ({n},), got {rates.shape}")
    if isinstance(servers, int):
        counts = [servers] * n
    else:
        counts = list(servers)
        if len(counts) != n:
            raise ValueError(f"servers must have {n} entries, got {len(counts)}")
    for name, arr in (("external_rates", gamma), ("routing_matrix", routing)):
        if not np.all(np.isfinite(arr)) or np.any(arr < 0.0):
            raise ValueError(f"{name} must be finite and >= 0")
    if gamma.sum() <= 0.0:
        raise ValueError("at least one external arrival rate must be > 0")
    row_sums = routing.sum(axis=1)
    if np.any(row_sums > 1.0 + 1e-9):
        bad = int(np.argmax(row_sums))
        raise ValueError(f"routing_matrix row {bad} sums to {row_sums[bad]:.6g} > 1")
    # With substochastic P, spectral radius 1 means a set of nodes customers can enter but
    # never leave: the traffic equations are then singular or have no finite solution.
    if np.max(np.abs(np.linalg.eigvals(routing))) >= 1.0 - 1e-9:
        raise ValueError("routing_matrix describes a network that customers never leave (not open)")

    arrival = np.linalg.solve((np.eye(n) - routing).T, gamma)
    # The solution is non-negative in exact arithmetic; clip rounding noise only.
    arrival = np.where(arrival < 0.0, 0.0, arrival)

    nodes = []
    for i in range(n):
        try:
            nodes.append(mmc(float(arrival[i]), float(rates[i]), counts[i]))
        except ValueError as exc:
            raise ValueError(f"node {i} (arrival rate {arrival[i]:.6g}): {exc}") from None
    total_in_system = math.fsum(node.in_system for node in nodes)
    return NetworkMetrics(tuple(nodes), total_in_system / float(gamma.sum()))


# ---------------------------------------------------------------------------------------------
# Small helpers and capacity planning.


def littles_law_L(lam: float, W: float) -> float:
    r"""Mean number in a system from Little's law, :math:`L = \lambda W`.

    Parameters
    ----------
    lam : float
        Long-run arrival (throughput) rate, >= 0.
    W : float
        Mean time spent in the system, >= 0.

    Returns
    -------
    float
        :math:`L`.

    Raises
    ------
    ValueError
        If a parameter is negative or not finite.

    References
    ----------
    J. D. C. Little, "A proof for the queuing formula L = λW", *Operations Research* 9(3) (1961).
    """
    return _real("lam", lam) * _real("W", W)


def offered_load(lam: float, mean_service: float, c: int = 1) -> float:
    r"""Offered load per server, :math:`\rho = \lambda E[S] / c`.

    With ``c = 1`` (the default) this is the total offered load :math:`a = \lambda E[S]` in
    Erlangs, the ``a`` of :func:`erlang_b` and :func:`erlang_c`; with ``c`` servers it is the
    traffic intensity, which must be below 1 for an infinite queue to be stable.

    Parameters
    ----------
    lam : float
        Arrival rate, >= 0.
    mean_service : float
        Mean service time, > 0.
    c : int, default 1
        Number of servers, >= 1.

    Returns
    -------
    float
        :math:`\lambda E[S] / c`.

    Raises
    ------
    ValueError
        If a parameter is invalid.

    References
    ----------
    L. Kleinrock, *Queueing Systems, Vol. 1: Theory*, Wiley (1975), ch. 2.
    """
    lam = _real("lam", lam)
    mean_service = _real("mean_service", mean_service, positive=True)
    c = _count("c", c)
    return lam * mean_service / c


def _min_servers(lam: float, mu: float, good_enough: Callable[[int, float], bool]) -> int:
    """Smallest stable c >= 1 for which ``good_enough(c, erlang_c)`` holds, in O(c) total.

    B(c, a) is advanced by one recurrence step per candidate rather than recomputed. The
    search ends because C(c, a) -> 0 as c grows, so every criterion used here is met.
    """
    if lam == 0.0:
        return 1
    a = lam / mu
    for c, b in enumerate(_erlang_b_sequence(a), start=1):
        if c > a and good_enough(c, _erlang_c_from_b(c, a, b)):
            return c
    raise AssertionError("unreachable: _erlang_b_sequence is infinite")


def min_servers_for_wait(lam: float, mu: float, target_wait_quantile_s: float, q: float) -> int:
    r"""Smallest number of M/M/c servers whose q-quantile of waiting time meets a target.

    Finds the least c with :math:`\lambda < c\mu` and :func:`mmc_wait_quantile`
    :math:`(\lambda, \mu, c, q) \le` ``target_wait_quantile_s``. This is the analytic Erlang-C
    staffing estimate; it assumes Poisson arrivals and exponential service.

    Parameters
    ----------
    lam : float
        Arrival rate, >= 0 (0 gives 1 server).
    mu : float
        Service rate of one server, > 0.
    target_wait_quantile_s : float
        Largest acceptable q-quantile of the wait in queue, >= 0 (in the time unit of the
        rates, seconds for rates per second). 0 asks that a fraction q not wait at all.
    q : float
        Probability level in [0, 1), e.g. 0.95.

    Returns
    -------
    int
        The minimal number of servers, >= 1.

    Raises
    ------
    ValueError
        If a parameter is invalid.

    References
    ----------
    D. Gross, J. F. Shortle, J. M. Thompson, C. M. Harris, *Fundamentals of Queueing Theory*,
    4th ed., Wiley (2008), ch. 2.
    """
    lam = _real("lam", lam)
    mu = _real("mu", mu, positive=True)
    target = _real("target_wait_quantile_s", target_wait_quantile_s)
    q = _probability("q", q)
    return _min_servers(lam, mu, lambda c, erl_c: _wait_quantile(erl_c, c * mu - lam, q) <= target)


def min_servers_for_mean_wait(lam: float, mu: float, target: float) -> int:
    r"""Smallest number of M/M/c servers whose mean wait in queue meets a target.

    Finds the least c with :math:`\lambda < c\mu` and
    :math:`W_q = C(c, a)/(c\mu - \lambda) \le` ``target``. Analytic Erlang-C estimate;
    assumes Poisson arrivals and exponential service.

    Parameters
    ----------
    lam : float
        Arrival rate, >= 0 (0 gives 1 server).
    mu : float
        Service rate of one server, > 0.
    target : float
        Largest acceptable mean wait in queue, > 0 (M/M/c never reaches exactly 0).

    Returns
    -------
    int
        The minimal number of servers, >= 1.

    Raises
    ------
    ValueError
        If a parameter is invalid.

    References
    ----------
    D. Gross, J. F. Shortle, J. M. Thompson, C. M. Harris, *Fundamentals of Queueing Theory*,
    4th ed., Wiley (2008), ch. 2.
    """
    lam = _real("lam", lam)
    mu = _real("mu", mu, positive=True)
    target = _real("target", target, positive=True)
    return _min_servers(lam, mu, lambda c, erl_c: erl_c / (c * mu - lam) <= target)


# ---------------------------------------------------------------------------------------------
# Erlang-A: M/M/c with exponentially distributed patience (abandonment from the queue).


@dataclass(frozen=True)
class AbandonmentMetrics:
    r"""Steady-state figures of the M/M/c+M (Erlang-A, Palm) queue.

    Times are in the unit of the rates passed in. Every instance satisfies
    ``p_abandon == theta * wait`` (each waiting customer abandons at rate θ) and
    ``queue_length == lam * wait`` (Little's law on the queue, abandoning customers included).

    Attributes
    ----------
    p_abandon : float
        :math:`P(\text{Ab})`, the fraction of arrivals that leave the queue before service starts.
    p_wait : float
        :math:`P(W > 0)`, the fraction of arrivals that find every server busy (PASTA).
    wait : float
        :math:`E[W]`, mean time in queue over **all** arrivals, served and abandoning.
    wait_served : float
        :math:`E[W \mid \text{served}]`, mean time in queue of the arrivals that get served.
    wait_abandoned : float
        :math:`E[W \mid \text{abandoned}]`, mean time an abandoning arrival waited; NaN when no
        one abandons (``p_abandon == 0``).
    queue_length : float
        Mean number waiting, :math:`L_q = \lambda E[W]`.
    utilization : float
        Fraction of time each server is busy, :math:`\lambda (1 - P(\text{Ab})) / (c\mu)`.
    throughput : float
        Rate of served customers, :math:`\lambda (1 - P(\text{Ab}))`.
    """

    p_abandon: float
    p_wait: float
    wait: float
    wait_served: float
    wait_abandoned: float
    queue_length: float
    utilization: float
    throughput: float


def erlang_a(lam: float, mu: float, c: int, theta: float) -> AbandonmentMetrics:
    r"""Probability of abandonment, probability of waiting and mean waits of M/M/c+M (Erlang-A).

    Poisson arrivals (rate λ), ``c`` exponential servers (rate μ each), FCFS, and each waiting
    customer abandons after an exponential patience of mean 1/θ if service has not started by
    then (an abandoning customer leaves the queue and is never served). The number in system is
    a birth–death chain with death rate :math:`\min(n, c)\mu + (n - c)^+\theta`, stable for every
    λ when θ > 0. With :math:`x = c\mu/\theta`, :math:`y = \lambda/\theta`,
    :math:`t_j = y^j / \prod_{k=1}^{j}(x + k) = \pi_{c+j}/\pi_c`,
    :math:`A = \sum_{j \ge 0} t_j = x e^y y^{-x} \gamma(x, y)` and :math:`B = B(c, \lambda/\mu)`
    (:func:`erlang_b`):

    .. math::

        P(W > 0) = \frac{A B}{1 + (A - 1) B}, \qquad
        P(\text{Ab}) = \frac{\theta\,E[L_q]}{\lambda}, \qquad E[W] = \frac{P(\text{Ab})}{\theta}.

    An arrival that finds j others waiting is served with probability
    :math:`c\mu / (c\mu + (j+1)\theta)` and, if served, waited
    :math:`\sum_{k=1}^{j+1} 1/(c\mu + k\theta)` on average, which gives
    :math:`E[W \mid \text{served}]`. The sums over j are taken in log space over the window
    of j that holds all but a negligible part of the mass (the terms are log-concave in j), so
    the result is stable for hundreds of servers, heavy overload and small θ; θ = 0 is M/M/c
    (:func:`mmc`, Erlang C), the θ → 0 limit.

    Parameters
    ----------
    lam : float
        Arrival rate λ, >= 0.
    mu : float
        Service rate μ of one server, > 0.
    c : int
        Number of servers, >= 1.
    theta : float
        Abandonment rate θ of a waiting customer (1 / mean patience), >= 0. With θ = 0 the
        queue must be stable (λ < cμ).

    Returns
    -------
    AbandonmentMetrics

    Raises
    ------
    ValueError
        If a parameter is invalid, or θ = 0 and λ >= cμ.

    References
    ----------
    O. Garnett, A. Mandelbaum, M. Reiman, "Designing a call center with impatient customers",
    *Manufacturing & Service Operations Management* 4(3) (2002).
    A. Mandelbaum, S. Zeltyn, "The Palm/Erlang-A queue, with applications to call centers",
    lecture notes, Technion (2007) -- :math:`A(x, y)`, :math:`P(W>0)`, :math:`P(\text{Ab})`.
    """
    lam = _real("lam", lam)
    mu = _real("mu", mu, positive=True)
    c = _count("c", c)
    theta = _real("theta", theta)
    nan = math.nan
    if theta == 0.0:
        base = mmc(lam, mu, c)  # raises when unstable: without abandonment the queue can grow for ever
        return AbandonmentMetrics(0.0, base.p_wait, base.wait, base.wait, nan, base.queue_length,
                                  base.utilization, base.throughput)
    if lam == 0.0:
        return AbandonmentMetrics(0.0, 0.0, 0.0, 0.0, nan, 0.0, 0.0, 0.0)

    from scipy.special import digamma, expit, gammaln  # lazily: importing theory stays cheap

    x, y = c * mu / theta, lam / theta
    # t_j / t_{j-1} = y / (x + j) falls with j, so the terms rise to a peak near j = y - x and
    # then fall off at least like a Gaussian of width ~sqrt(max(x, y)), and geometrically once
    # the ratio is below 1: the window [start, stop) holds all but ~1e-17 of the sum.
    peak = max(0, math.floor(y - x))
    width = 40.0 * math.sqrt(max(x, y) + 1.0)
    start = max(0, math.floor(peak - width))
    stop = peak + math.ceil(width) + 50
    ratio = y / (x + peak + 1.0)
    if ratio < 1.0:
        stop = min(stop, peak + math.ceil(40.0 / -math.log(ratio)) + 50)
    if stop - start > 5_000_000:
        raise ValueError(
            f"erlang_a: theta={theta} is too small for lam={lam}, c*mu={c * mu}: the queue holds about "
            f"{peak:,} customers; use a larger theta"
        )
    j = np.arange(start, stop, dtype=np.float64)
    # log t_j by cumulative sums of log(y / (x + k)): differences of gammaln at large x would
    # lose ~1e-7 of relative accuracy; the offset log t_start only matters far into overload.
    log_t0 = start * math.log(y) - float(gammaln(x + start + 1.0) - gammaln(x + 1.0)) if start else 0.0
    steps = math.log(y) - np.log(x + j[1:])
    log_t = log_t0 + np.concatenate(([0.0], np.cumsum(steps)))
    top = float(log_t.max())
    weights = np.exp(log_t - top)
    total = math.fsum(weights)
    q = weights / total  # q_j = pi_{c+j} / P(W > 0)
    log_a = top + math.log(total)

    log_b = _log_erlang_b(c, lam / mu)
    # P(W > 0) = AB / (1 + (A - 1)B) = 1 / (1 + (1/B - 1)/A), in logs so that neither A nor 1/B overflows
    p_wait = float(expit(log_a + log_b - math.log1p(-math.exp(log_b))))
    mean_ahead = math.fsum(q * j)  # E[customers waiting | W > 0]
    queue_length = p_wait * mean_ahead
    wait = queue_length / lam
    p_abandon = theta * wait

    # Served arrival that found j waiting: P(served) = c mu / (c mu + (j+1) theta), and its mean
    # wait given served is H_j = sum_{k=1}^{j+1} 1 / (c mu + k theta) (one exponential stage per
    # customer ahead and one for itself, each racing its own patience).
    cmu = c * mu
    k = np.arange(start + 1, stop + 1, dtype=np.float64)
    before = float(digamma(x + start + 1.0) - digamma(x + 1.0)) / theta if start else 0.0
    h = before + np.cumsum(1.0 / (cmu + k * theta))
    served_given_j = cmu / (cmu + k * theta)
    wait_and_served = p_wait * math.fsum(q * served_given_j * h)
    wait_served = wait_and_served / (1.0 - p_abandon)
    wait_abandoned = (wait - wait_and_served) / p_abandon if p_abandon > 0.0 else nan
    throughput = lam * (1.0 - p_abandon)
    return AbandonmentMetrics(
        p_abandon=p_abandon,
        p_wait=p_wait,
        wait=wait,
        wait_served=wait_served,
        wait_abandoned=wait_abandoned,
        queue_length=queue_length,
        utilization=min(1.0, throughput / cmu),  # < 1 exactly; rounding may overshoot far into overload
        throughput=throughput,
    )


# ---------------------------------------------------------------------------------------------
# M/M/c+D: M/M/c with the same, constant patience for everyone.


def _h_integral(beta: float, tau: float) -> float:
    r""":math:`\int_0^\tau x e^{-\beta x} dx`, without cancellation when beta * tau is small."""
    x = beta * tau
    if abs(x) < 1e-2:  # the series, to x**4: its error is below x**5 / 840 relative
        return tau * tau * (0.5 - x / 3 + x * x / 8 - x**3 / 30 + x**4 / 144)
    return (-math.expm1(-x) - x * math.exp(-x)) / (beta * beta)


def mmc_constant_patience(lam: float, mu: float, c: int, tau: float) -> AbandonmentMetrics:
    r"""Probability of abandonment and mean waits of M/M/c+D: every customer's patience is ``tau``.

    Poisson arrivals (rate λ), ``c`` exponential servers (rate μ each), FCFS; a customer whose
    wait would exceed τ leaves the queue at τ, unserved. In the *virtual* wait V (what an arrival
    with infinite patience would wait) a customer is served iff V ≤ τ, so (a level-crossing
    argument, as for M/M/c+G: Baccelli & Hébuterne 1981) V has, with κ = cμ, an atom on the
    states with j < c busy servers, :math:`P_j = u\,(c!/a^c)\,a^j/j!`, and the density
    :math:`f(x) = \kappa u\,e^{-\kappa x + \lambda \min(x, \tau)}` for x > 0. With β = κ − λ,
    :math:`E = e^{-\beta\tau}`, :math:`g = \int_0^\tau e^{-\beta x}dx`,
    :math:`h = \int_0^\tau x e^{-\beta x}dx` and B = B(c, λ/μ) (:func:`erlang_b`),
    normalisation gives :math:`u = 1 / (1/B - 1 + \kappa g + E)` and

    .. math::

        P(W > 0) = u(\kappa g + E), \qquad P(\text{Ab}) = uE, \qquad
        E[W] = u(\kappa h + \tau E), \qquad E[W \mid \text{served}] = \frac{u\kappa h}{1 - P(\text{Ab})}.

    τ = 0 is the loss system (P(Ab) = Erlang B), τ → ∞ with λ < κ is Erlang C. Stable for every λ
    when τ is finite: in overload the terms are scaled by :math:`e^{\beta\tau}`.

    Parameters
    ----------
    lam : float
        Arrival rate λ, >= 0.
    mu : float
        Service rate μ of one server, > 0.
    c : int
        Number of servers, >= 1.
    tau : float
        Patience τ, >= 0 (``math.inf`` for none, which needs λ < cμ).

    Returns
    -------
    AbandonmentMetrics
        ``wait_abandoned`` is τ (every abandoning customer waits exactly its patience).

    Raises
    ------
    ValueError
        If a parameter is invalid, or τ is infinite and λ >= cμ.
    """
    lam = _real("lam", lam)
    mu = _real("mu", mu, positive=True)
    c = _count("c", c)
    try:
        tau = float(tau)
    except (TypeError, ValueError):
        raise ValueError(f"tau must be a real number, got {tau!r}") from None
    if math.isnan(tau) or tau < 0:
        raise ValueError(f"tau must be >= 0, got {tau!r}")
    nan = math.nan
    kappa = c * mu
    if math.isinf(tau):
        base = mmc(lam, mu, c)  # raises when unstable: without abandonment the queue can grow for ever
        return AbandonmentMetrics(0.0, base.p_wait, base.wait, base.wait, nan, base.queue_length,
                                  base.utilization, base.throughput)
    if lam == 0.0:
        return AbandonmentMetrics(0.0, 0.0, 0.0, 0.0, nan, 0.0, 0.0, 0.0)
    beta = kappa - lam
    x = beta * tau
    # every term scaled by s = max(1, E): E = exp(-beta tau) overflows far into overload
    if x < -1.0:
        log_scale = -x
        e_s = 1.0  # E / s
        g_s = math.expm1(x) / beta  # g / s: (e^x - 1) / beta, both negative
        h_s = (math.expm1(x) - x) / (beta * beta)  # h / s
    else:
        log_scale = 0.0
        e_s = math.exp(-x)
        g_s = tau if x == 0 else -math.expm1(-x) / beta
        h_s = _h_integral(beta, tau)
    log_b = _log_erlang_b(c, lam / mu)
    # (1/B - 1) / s, in logs: 1/B alone overflows for many lightly loaded servers
    log_rest = math.log1p(-math.exp(log_b)) - log_b - log_scale if log_b < 0 else -math.inf
    busy = kappa * g_s + e_s  # (kappa g + E) / s, > 0
    # P(W > 0) = busy / (rest + busy), as a logistic of the log ratio so that neither overflows
    gap = log_rest - math.log(busy)
    p_wait = 1.0 / (1.0 + math.exp(gap)) if gap < 700 else 0.0
    u_s = p_wait / busy  # u * s
    p_abandon = u_s * e_s
    wait = u_s * (kappa * h_s + tau * e_s)
    wait_served = u_s * kappa * h_s / (1.0 - p_abandon) if p_abandon < 1.0 else nan
    throughput = lam * (1.0 - p_abandon)
    return AbandonmentMetrics(
        p_abandon=p_abandon,
        p_wait=p_wait,
        wait=wait,
        wait_served=wait_served,
        wait_abandoned=tau if p_abandon > 0.0 else nan,
        queue_length=lam * wait,
        utilization=min(1.0, throughput / kappa),
        throughput=throughput,
    )


# ---------------------------------------------------------------------------------------------
# The machine-repair model: a closed population of N users in front of c servers (M/M/c//N).


@dataclass(frozen=True)
class ClosedMetrics:
    r"""Steady-state figures of a closed population: N users who think, then wait for c servers.

    Times are in the unit of the rates passed in. Every instance satisfies the interactive
    response time law ``throughput == users / (response + think)`` and Little's law at the
    station, ``in_system == throughput * response``.

    Attributes
    ----------
    throughput : float
        Requests completed per unit time, :math:`X`.
    response : float
        Mean time from sending a request to its completion (waiting and service), :math:`R`.
    wait : float
        Mean time a request waits before its service starts, :math:`W_q = R - 1/\mu`.
    in_system : float
        Mean number of requests at the station (waiting or in service), :math:`L`.
    queue_length : float
        Mean number waiting, :math:`L_q`.
    thinking : float
        Mean number of users thinking, :math:`N - L`.
    utilization : float
        Fraction of time each server is busy, :math:`X / (c\mu)`.
    p_wait : float
        Probability that a request finds every server busy (by the arrival theorem: the
        time-stationary probability of the same system with one user fewer).
    """

    throughput: float
    response: float
    wait: float
    in_system: float
    queue_length: float
    thinking: float
    utilization: float
    p_wait: float


def _machine_repair_log_weights(users: int, r: float, c: int) -> npt.NDArray[np.float64]:
    """log π_n + const for n = 0..users: birth rate (N − n)λ, death rate min(n, c)μ, r = λ/μ."""
    from scipy.special import gammaln  # lazily: importing theory stays cheap

    n = np.arange(users + 1, dtype=np.float64)
    log_births = gammaln(users + 1.0) - gammaln(users - n + 1.0) + n * math.log(r)  # N!/(N-n)! r^n
    deaths = np.where(n <= c, gammaln(n + 1.0), math.lgamma(c + 1.0) + (n - c) * math.log(c))  # n! or c! c^(n-c)
    weights: npt.NDArray[np.float64] = log_births - deaths
    return weights


def machine_repair(users: int, think: float, mu: float, c: int) -> ClosedMetrics:
    r"""Throughput and response time of the machine-repair model, M/M/c//N (a closed interactive system).

    Each of ``users`` users thinks for an exponential time of mean ``think`` (Z), then sends one
    request and waits for it; ``c`` servers of exponential service rate μ serve the requests FCFS.
    The number of requests at the station is a birth–death chain on 0..N with birth rate
    :math:`(N - n)/Z` and death rate :math:`\min(n, c)\mu`, so with :math:`r = 1/(Z\mu)`

    .. math::

        \pi_n \propto \binom{N}{n} r^n \; (n \le c), \qquad
        \pi_n \propto \frac{N!}{(N-n)!\, c!\, c^{n-c}} r^n \; (n > c),

    and :math:`X = \sum_n \min(n, c)\mu\,\pi_n`, :math:`L = \sum_n n\,\pi_n`,
    :math:`R = L / X` (Little), which satisfies :math:`X = N / (R + Z)`. The weights are summed in
    log space (log-gamma), so thousands of users and hundreds of servers do not overflow.

    Parameters
    ----------
    users : int
        Population N, >= 1.
    think : float
        Mean think time Z, > 0.
    mu : float
        Service rate of one server, > 0.
    c : int
        Number of servers, >= 1.

    Returns
    -------
    ClosedMetrics

    Raises
    ------
    ValueError
        If a parameter is invalid.

    References
    ----------
    D. Gross, J. F. Shortle, J. M. Thompson, C. M. Harris, *Fundamentals of Queueing Theory*,
    4th ed., Wiley (2008), §2.8 (finite-source queues, the machine-repair problem).
    L. Kleinrock, *Queueing Systems, Vol. 1: Theory*, Wiley (1975), §3.8 (finite customer population).
    """
    users = _count("users", users)
    think = _real("think", think, positive=True)
    mu = _real("mu", mu, positive=True)
    c = _count("c", c)
    log_w = _machine_repair_log_weights(users, 1.0 / (think * mu), c)
    weights = np.exp(log_w - log_w.max())
    pi = weights / math.fsum(weights)
    n = np.arange(users + 1, dtype=np.float64)
    busy = np.minimum(n, c)
    throughput = mu * math.fsum(busy * pi)
    in_system = math.fsum(n * pi)
    queue_length = math.fsum(np.maximum(n - c, 0.0) * pi)
    response = in_system / throughput
    wait = queue_length / throughput
    # arrival theorem: a request sees the station as it is in steady state with N − 1 users
    if users == 1:
        p_wait = 0.0
    else:
        log_w1 = _machine_repair_log_weights(users - 1, 1.0 / (think * mu), c)
        w1 = np.exp(log_w1 - log_w1.max())
        p_wait = math.fsum(w1[c:]) / math.fsum(w1)
    return ClosedMetrics(
        throughput=throughput,
        response=response,
        wait=wait,
        in_system=in_system,
        queue_length=queue_length,
        thinking=users - in_system,
        utilization=throughput / (c * mu),
        p_wait=p_wait,
    )
