"""Checks of queuesim.theory against textbook values, exact fractions, identities and brute force."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from queuesim import theory
from queuesim.theory import (
    NetworkMetrics,
    QueueMetrics,
    erlang_b,
    erlang_c,
    jackson_network,
    jackson_tandem,
    littles_law_L,
    md1,
    mg1,
    mgc_allen_cunneen,
    min_servers_for_mean_wait,
    min_servers_for_wait,
    mm1,
    mm1_sojourn_quantile,
    mmc,
    mmc_priority,
    mmc_sojourn_cdf,
    mmc_wait_cdf,
    mmc_wait_quantile,
    mmck,
    offered_load,
)

REL = 1e-9


def assert_metrics_close(got: QueueMetrics, want: QueueMetrics, rel: float = REL, abs_: float = 1e-12) -> None:
    for field in QueueMetrics.__dataclass_fields__:
        g, w = getattr(got, field), getattr(want, field)
        assert g == pytest.approx(w, rel=rel, abs=abs_), field


def assert_little(m: QueueMetrics, mean_service: float) -> None:
    """Little's law at the whole station and at the queue, and W = Wq + E[S]."""
    assert m.in_system == pytest.approx(m.throughput * m.sojourn, rel=1e-9, abs=1e-12)
    assert m.queue_length == pytest.approx(m.throughput * m.wait, rel=1e-9, abs=1e-12)
    assert m.sojourn - m.wait == pytest.approx(mean_service, rel=1e-9)
    assert 0.0 <= m.utilization <= 1.0
    assert 0.0 <= m.p_wait <= 1.0
    assert 0.0 <= m.p_block <= 1.0


# ---------------------------------------------------------------------------------------------
# Independent references: exact rational arithmetic and a numerically solved birth-death chain.


def exact_erlang_b(c: int, a: Fraction) -> Fraction:
    terms = [a**k / math.factorial(k) for k in range(c + 1)]
    return terms[-1] / sum(terms)


def exact_erlang_c(c: int, a: Fraction) -> Fraction:
    below = sum(a**k / math.factorial(k) for k in range(c))
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (below + top)


def brute_force_mmck(lam: float, mu: float, c: int, K: int) -> QueueMetrics:
    """Solve pi Q = 0, sum(pi) = 1 for the M/M/c/K generator and read the metrics off pi."""
    n_states = K + 1
    Q = np.zeros((n_states, n_states))
    for n in range(n_states):
        if n < K:
            Q[n, n + 1] = lam
        if n > 0:
            Q[n, n - 1] = min(n, c) * mu
        Q[n, n] = -Q[n].sum()
    A = np.vstack([Q.T, np.ones(n_states)])
    rhs = np.zeros(n_states + 1)
    rhs[-1] = 1.0
    pi = np.linalg.lstsq(A, rhs, rcond=None)[0]
    states = np.arange(n_states)
    p_block = pi[K]
    throughput = lam * (1.0 - p_block)
    queue_length = float(np.sum(np.maximum(states - c, 0) * pi))
    in_system = float(np.sum(states * pi))
    busy = float(np.sum(np.minimum(states, c) * pi))
    return QueueMetrics(
        wait=queue_length / throughput,
        sojourn=in_system / throughput,
        queue_length=queue_length,
        in_system=in_system,
        utilization=busy / c,
        p_wait=float(pi[c:K].sum() / (1.0 - p_block)),
        p_block=float(p_block),
        throughput=throughput,
    )


# ---------------------------------------------------------------------------------------------
# Erlang B and C.


def test_erlang_b_textbook_value() -> None:
    assert erlang_b(10, 5.0) == pytest.approx(0.018384570336648, rel=1e-12)


def test_erlang_c_textbook_value() -> None:
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3, rel=1e-14)


@pytest.mark.parametrize("c, a", [(1, "1/2"), (3, "2"), (7, "13/2"), (20, "15"), (40, "1/3")])
def test_erlang_b_and_c_match_exact_rationals(c: int, a: str) -> None:
    exact_a = Fraction(a)
    assert erlang_b(c, float(exact_a)) == pytest.approx(
        float(exact_erlang_b(c, exact_a)), rel=1e-12
    )
    assert erlang_c(c, float(exact_a)) == pytest.approx(
        float(exact_erlang_c(c, exact_a)), rel=1e-12
    )


def test_erlang_b_edge_cases() -> None:
    assert erlang_b(0, 3.0) == 1.0
    assert erlang_b(5, 0.0) == 0.0
    assert erlang_b(1, 1.0) == pytest.approx(0.5)


@pytest.mark.parametrize("a", [1.0, 250.0, 480.0, 499.9, 2000.0])
def test_erlang_b_large_c_is_finite_and_a_probability(a: float) -> None:
    b = erlang_b(500, a)
    assert math.isfinite(b) and 0.0 <= b <= 1.0
    if a < 500:
        c = erlang_c(500, a)
        assert math.isfinite(c) and b <= c <= 1.0


def test_erlang_c_large_c_heavy_load_is_close_to_one() -> None:
    # Halfin-Whitt regime: with beta = (c - a)/sqrt(a) fixed, C stays bounded away from 0 and 1.
    assert 0.0 < erlang_c(500, 500 - 0.5 * math.sqrt(500)) < 1.0
    assert erlang_c(5000, 4999.999) > 0.99


# ---------------------------------------------------------------------------------------------
# Single stations.


def test_mmc_with_one_server_equals_mm1() -> None:
    assert_metrics_close(mmc(0.7, 1.3, 1), mm1(0.7, 1.3), rel=1e-12)


def test_mm1_textbook_values() -> None:
    m = mm1(0.5, 1.0)
    assert (m.wait, m.sojourn, m.queue_length, m.in_system) == pytest.approx((1.0, 2.0, 0.5, 1.0))
    assert m.p_wait == m.utilization == pytest.approx(0.5)


def test_mmc_two_servers_closed_form() -> None:
    # M/M/2: Wq = rho^2 / (mu (1 - rho^2)) with rho = lam / (2 mu).
    lam, mu = 1.2, 1.0
    rho = lam / (2 * mu)
    assert mmc(lam, mu, 2).wait == pytest.approx(rho**2 / (mu * (1 - rho**2)), rel=1e-12)


@pytest.mark.parametrize(
    "metrics, mean_service",
    [
        (mm1(0.3, 1.0), 1.0),
        (mmc(7.5, 1.0, 9), 1.0),
        (mmc(480.0, 1.0, 500), 1.0),
        (mmck(3.0, 0.5, 4, 9), 2.0),
        (mmck(30.0, 1.0, 10, 25), 1.0),
        (mmck(2.0, 1.0, 1, 10**9), 1.0),
        (mg1(0.8, 1.0, 2.5), 1.0),
        (md1(0.5, 2.0), 0.5),
        (mgc_allen_cunneen(3.0, 1.0, 0.5, 4, 1.5), 1.0),
    ],
)
def test_littles_law_inside_every_result(metrics: QueueMetrics, mean_service: float) -> None:
    assert_little(metrics, mean_service)


def test_mmc_zero_load() -> None:
    m = mmc(0.0, 2.0, 3)
    assert (m.wait, m.queue_length, m.in_system, m.p_wait) == (0.0, 0.0, 0.0, 0.0)
    assert m.sojourn == pytest.approx(0.5)


def test_mmc_wait_quantile_inverts_cdf() -> None:
    lam, mu, c = 8.0, 1.0, 10
    erl_c = erlang_c(c, lam / mu)
    for q in (0.9, 0.95, 0.99):
        t = mmc_wait_quantile(lam, mu, c, q)
        assert t > 0
        assert mmc_wait_cdf(lam, mu, c, t) == pytest.approx(q, rel=1e-12)
    # Quantiles inside the atom at zero: at least a fraction q never waits.
    assert mmc_wait_quantile(lam, mu, c, 1 - erl_c) == 0.0
    assert mmc_wait_quantile(lam, mu, c, 0.1) == 0.0


def test_mm1_sojourn_quantile_is_exponential() -> None:
    lam, mu = 0.6, 1.0
    assert mm1_sojourn_quantile(lam, mu, 0.5) == pytest.approx(math.log(2) / 0.4)
    t = mm1_sojourn_quantile(lam, mu, 0.99)
    assert mmc_sojourn_cdf(lam, mu, 1, t) == pytest.approx(0.99, rel=1e-12)


@pytest.mark.parametrize("lam, mu, c", [(2.5, 1.0, 3), (1.0, 1.0, 2), (3.0, 2.0, 2), (0.2, 1.0, 4)])
def test_mmc_sojourn_cdf_integrates_to_mean(lam: float, mu: float, c: int) -> None:
    # E[W] = integral of (1 - F); (1.0, 1.0, 2) has theta == mu, the removable singularity.
    # Composite Simpson (error ~ h^4) over a horizon where the tail is below e^-40.
    t, h = np.linspace(0.0, 40.0 / min(mu, c * mu - lam), 2_001, retstep=True)
    survival = np.array([1.0 - mmc_sojourn_cdf(lam, mu, c, float(x)) for x in t])
    weights = np.ones_like(t)
    weights[1:-1:2], weights[2:-1:2] = 4.0, 2.0
    mean = float(h / 3.0 * np.dot(weights, survival))
    assert mean == pytest.approx(mmc(lam, mu, c).sojourn, rel=1e-6)
    assert mmc_sojourn_cdf(lam, mu, c, -1.0) == 0.0


def test_mmc_sojourn_cdf_continuous_across_theta_equals_mu() -> None:
    # theta = c mu - lam = mu at lam = 1 for (mu, c) = (1, 2).
    at = mmc_sojourn_cdf(1.0, 1.0, 2, 1.7)
    near = mmc_sojourn_cdf(1.0 + 1e-9, 1.0, 2, 1.7)
    assert near == pytest.approx(at, rel=1e-8)


# ---------------------------------------------------------------------------------------------
# M/M/c/K.


@pytest.mark.parametrize(
    "lam, mu, c, K",
    [
        (0.5, 1.0, 1, 1),
        (0.5, 1.0, 1, 6),
        (2.0, 1.0, 1, 5),
        (3.0, 1.0, 3, 3),
        (2.5, 1.0, 3, 8),
        (6.0, 1.0, 3, 8),
        (3.0, 1.0, 3, 12),
        (0.3, 2.0, 5, 7),
        (9.0, 0.5, 6, 40),
    ],
)
def test_mmck_matches_brute_force_chain(lam: float, mu: float, c: int, K: int) -> None:
    assert_metrics_close(mmck(lam, mu, c, K), brute_force_mmck(lam, mu, c, K), rel=1e-8)


@settings(max_examples=40, deadline=None)
@given(
    lam=st.floats(0.01, 20.0),
    mu=st.floats(0.1, 5.0),
    c=st.integers(1, 8),
    extra=st.integers(0, 30),
)
def test_mmck_matches_brute_force_chain_property(lam: float, mu: float, c: int, extra: int) -> None:
    assert_metrics_close(
        # lstsq resolves probabilities to ~1e-16 absolute: tiny waits (~1e-7 s) keep ~6 digits
        mmck(lam, mu, c, c + extra), brute_force_mmck(lam, mu, c, c + extra), rel=1e-6, abs_=1e-10
    )


@pytest.mark.parametrize("rho", [0.3, 0.9, 0.999, 1.0, 1.001, 1.5, 4.0])
@pytest.mark.parametrize("K", [1, 2, 10, 60])
def test_mmck_single_server_matches_mm1k_closed_form(rho: float, K: int) -> None:
    # P_K = rho^K (1 - rho) / (1 - rho^(K+1)), and L is the truncated geometric mean.
    m = mmck(rho, 1.0, 1, K)
    if rho == 1.0:
        p_block, in_system = 1 / (K + 1), K / 2
    else:
        p_block = rho**K * (1 - rho) / (1 - rho ** (K + 1))
        in_system = rho / (1 - rho) - (K + 1) * rho ** (K + 1) / (1 - rho ** (K + 1))
    assert m.p_block == pytest.approx(p_block, rel=1e-9)
    assert m.in_system == pytest.approx(in_system, rel=1e-9)


def test_mmck_continuous_through_rho_one() -> None:
    # Exercises the series branch of the truncated geometric mean on both sides of rho = 1.
    at = mmck(4.0, 1.0, 4, 1000)
    for eps in (1e-13, 1e-9, -1e-9, -1e-13):
        assert_metrics_close(mmck(4.0 * (1 + eps), 1.0, 4, 1000), at, rel=1e-5)
    assert_metrics_close(mmck(4.0, 1.0, 4, 200), brute_force_mmck(4.0, 1.0, 4, 200), rel=1e-8)


@pytest.mark.parametrize(
    "lam, mu, c", [(0.5, 1.0, 1), (7.0, 1.0, 9), (480.0, 1.0, 500), (0.01, 1.0, 500)]
)
def test_mmck_with_huge_K_converges_to_mmc(lam: float, mu: float, c: int) -> None:
    assert_metrics_close(mmck(lam, mu, c, c + 10**9), mmc(lam, mu, c), rel=1e-9)


def test_mmck_with_K_equal_c_is_erlang_loss() -> None:
    m = mmck(7.0, 1.0, 10, 10)
    assert m.p_block == pytest.approx(erlang_b(10, 7.0), rel=1e-12)
    assert m.p_wait == 0.0 and m.wait == 0.0 and m.queue_length == 0.0


@pytest.mark.parametrize("lam", [1.0, 400.0, 500.0, 650.0, 1e6])
@pytest.mark.parametrize("K", [500, 510, 5_000, 10**12])
def test_mmck_large_c_and_K_is_stable(lam: float, K: int) -> None:
    m = mmck(lam, 1.0, 500, K)
    assert all(math.isfinite(getattr(m, f)) for f in QueueMetrics.__dataclass_fields__)
    assert 0.0 <= m.p_block <= 1.0 and 0.0 <= m.p_wait <= 1.0 and 0.0 <= m.utilization <= 1.0
    assert m.throughput <= min(lam, 500.0) * (1 + 1e-12)
    assert_little(m, 1.0)


def test_mmck_overloaded_saturates_servers() -> None:
    m = mmck(1e6, 1.0, 500, 10**12)
    assert m.throughput == pytest.approx(500.0, rel=1e-9)
    assert m.p_block == pytest.approx(1 - 500 / 1e6, rel=1e-9)
    assert m.p_wait == pytest.approx(1.0)


def test_mmck_zero_load() -> None:
    m = mmck(0.0, 2.0, 2, 5)
    assert m.throughput == 0.0 and m.in_system == 0.0 and m.sojourn == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------
# General service.


def test_mg1_with_exponential_service_equals_mm1() -> None:
    assert_metrics_close(mg1(0.7, 1 / 1.3, 1.0), mm1(0.7, 1.3), rel=1e-12)


def test_md1_wait_formula() -> None:
    lam, mu = 0.8, 2.0
    rho = lam / mu
    assert md1(lam, mu).wait == pytest.approx(rho / (2 * mu * (1 - rho)), rel=1e-12)
    # Deterministic service halves the M/M/1 wait.
    assert md1(lam, mu).wait == pytest.approx(mm1(lam, mu).wait / 2, rel=1e-12)


def test_allen_cunneen_is_exact_where_it_should_be() -> None:
    assert_metrics_close(mgc_allen_cunneen(2.5, 1.0, 1.0, 3), mmc(2.5, 1.0, 3), rel=1e-12)
    assert_metrics_close(mgc_allen_cunneen(0.6, 1.0, 0.3, 1), mg1(0.6, 1.0, 0.3), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Networks.


def test_jackson_tandem_is_sum_of_mmc_stages() -> None:
    nodes, sojourn = jackson_tandem(2.0, [(0.3, 1), (1.0, 3), (0.1, 1)])
    expected = [mmc(2.0, 1 / 0.3, 1), mmc(2.0, 1.0, 3), mmc(2.0, 10.0, 1)]
    for got, want in zip(nodes, expected, strict=True):
        assert_metrics_close(got, want)
    assert sojourn == pytest.approx(sum(m.sojourn for m in expected))


def test_jackson_network_tandem_agrees_with_jackson_tandem() -> None:
    routing = [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    net = jackson_network([2.0, 0.0, 0.0], routing, [1 / 0.3, 1.0, 10.0], [1, 3, 1])
    line = jackson_tandem(2.0, [(0.3, 1), (1.0, 3), (0.1, 1)])
    assert isinstance(net, NetworkMetrics)
    assert net.sojourn == pytest.approx(line.sojourn, rel=1e-12)
    assert net.in_system == pytest.approx(line.in_system, rel=1e-12)


def test_jackson_network_feedback_queue() -> None:
    # Single node with feedback p: lam = gamma / (1 - p); end-to-end time = visits * W.
    gamma, p, mu = 1.0, 0.25, 2.0
    net = jackson_network([gamma], [[p]], [mu])
    lam = gamma / (1 - p)
    assert net.nodes[0].throughput == pytest.approx(lam)
    assert_metrics_close(net.nodes[0], mm1(lam, mu))
    assert net.sojourn == pytest.approx(mm1(lam, mu).sojourn / (1 - p), rel=1e-12)


def test_jackson_network_traffic_equations_hand_solved() -> None:
    # lam0 = 1 + 0.5 lam2, lam1 = 0.6 lam0, lam2 = 0.4 lam0 + lam1  =>  lam = (2, 1.2, 2).
    routing = [[0.0, 0.6, 0.4], [0.0, 0.0, 1.0], [0.5, 0.0, 0.0]]
    net = jackson_network([1.0, 0.0, 0.0], routing, [3.0, 2.0, 1.5], [1, 1, 2])
    rates = [node.throughput for node in net.nodes]
    assert rates == pytest.approx([2.0, 1.2, 2.0], rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Helpers and capacity planning.


def test_littles_law_and_offered_load() -> None:
    assert littles_law_L(4.0, 0.25) == 1.0
    assert offered_load(10.0, 0.5) == 5.0
    assert offered_load(10.0, 0.5, 4) == 1.25


@pytest.mark.parametrize("lam, mu", [(5.0, 1.0), (100.0, 1.0), (0.3, 2.0), (900.0, 2.0)])
def test_min_servers_for_mean_wait_is_minimal(lam: float, mu: float) -> None:
    target = 0.05 / mu
    c = min_servers_for_mean_wait(lam, mu, target)
    assert mmc(lam, mu, c).wait <= target
    assert c == 1 or lam >= (c - 1) * mu or mmc(lam, mu, c - 1).wait > target


@pytest.mark.parametrize(
    "lam, mu, target, q", [(5.0, 1.0, 0.2, 0.95), (100.0, 1.0, 0.0, 0.8), (900.0, 2.0, 0.01, 0.99)]
)
def test_min_servers_for_wait_is_minimal(lam: float, mu: float, target: float, q: float) -> None:
    c = min_servers_for_wait(lam, mu, target, q)
    assert mmc_wait_quantile(lam, mu, c, q) <= target
    assert lam >= (c - 1) * mu or mmc_wait_quantile(lam, mu, c - 1, q) > target


def test_min_servers_zero_load() -> None:
    assert min_servers_for_mean_wait(0.0, 1.0, 1.0) == 1
    assert min_servers_for_wait(0.0, 1.0, 0.0, 0.99) == 1


# ---------------------------------------------------------------------------------------------
# Validation.


@pytest.mark.parametrize(
    "call",
    [
        lambda: erlang_b(-1, 1.0),
        lambda: erlang_b(2.5, 1.0),  # type: ignore[arg-type]
        lambda: erlang_b(True, 1.0),
        lambda: erlang_b(3, -0.1),
        lambda: erlang_b(3, math.nan),
        lambda: erlang_c(0, 0.5),
        lambda: erlang_c(2, 2.0),  # rho = 1: no steady state
        lambda: erlang_c(2, 3.0),
        lambda: mm1(1.0, 1.0),
        lambda: mm1(0.5, 0.0),
        lambda: mm1(-0.5, 1.0),
        lambda: mm1(0.5, math.inf),
        lambda: mmc(3.0, 1.0, 3),
        lambda: mmc(1.0, 1.0, 0),
        lambda: mmc_wait_quantile(1.0, 1.0, 2, 1.0),
        lambda: mmc_wait_quantile(1.0, 1.0, 2, -0.1),
        lambda: mm1_sojourn_quantile(0.5, 1.0, 1.5),
        lambda: mmck(1.0, 1.0, 3, 2),  # K < c
        lambda: mmck(1.0, 1.0, 0, 2),
        lambda: mmck(1.0, -1.0, 1, 2),
        lambda: mg1(1.0, 1.0, 0.5),
        lambda: mg1(0.5, 1.0, -0.5),
        lambda: mg1(0.5, 0.0, 1.0),
        lambda: md1(2.0, 1.0),
        lambda: mgc_allen_cunneen(4.0, 1.0, 1.0, 4),
        lambda: mgc_allen_cunneen(1.0, 1.0, 1.0, 4, scv_arrival=-1.0),
        lambda: jackson_tandem(1.0, []),
        lambda: jackson_tandem(1.0, [(0.5, 1), (2.0, 1)]),  # second stage unstable
        lambda: jackson_tandem(1.0, [(0.5, 0)]),
        lambda: jackson_network([1.0], [[1.0]], [2.0]),  # customers never leave
        lambda: jackson_network([1.0, 0.0], [[0.0, 0.7], [0.0, 0.0]], [2.0]),  # mus shape
        lambda: jackson_network([1.0, 0.0], [[0.0, 0.7], [0.6, 0.6]], [2.0, 2.0]),  # row sum > 1
        lambda: jackson_network([1.0, -1.0], [[0.0, 0.0], [0.0, 0.0]], [2.0, 2.0]),
        lambda: jackson_network([0.0, 0.0], [[0.0, 0.0], [0.0, 0.0]], [2.0, 2.0]),
        lambda: jackson_network(
            [1.0, 0.0], [[0.0, 1.0], [0.0, 0.0]], [2.0, 0.5]
        ),  # node 1 unstable
        lambda: littles_law_L(-1.0, 1.0),
        lambda: offered_load(1.0, 0.0),
        lambda: min_servers_for_mean_wait(1.0, 1.0, 0.0),
        lambda: min_servers_for_wait(1.0, 1.0, -1.0, 0.9),
        lambda: min_servers_for_wait(1.0, 1.0, 1.0, 1.0),
    ],
)
def test_invalid_parameters_raise_value_error(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        call()


def test_public_api_is_curated() -> None:
    assert sorted(theory.__all__) == sorted(
        name
        for name, obj in vars(theory).items()
        if not name.startswith("_") and getattr(obj, "__module__", None) == theory.__name__
    )


# ---------------------------------------------------------------------------------------------
# Erlang-A (M/M/c+M) against a truncated birth-death chain, a tagged customer's absorbing chain,
# the θ = μ case (an M/M/∞ in disguise) and the θ → 0 limit (Erlang C).


def brute_force_erlang_a(lam: float, mu: float, c: int, theta: float, n_max: int) -> theory.AbandonmentMetrics:
    """Solve pi Q = 0 on states 0..n_max, then follow a tagged arrival through the queue by first-step analysis."""
    n_states = n_max + 1
    Q = np.zeros((n_states, n_states))
    for n in range(n_states):
        if n < n_max:
            Q[n, n + 1] = lam
        if n > 0:
            Q[n, n - 1] = min(n, c) * mu + max(n - c, 0) * theta
        Q[n, n] = -Q[n].sum()
    A = np.vstack([Q.T, np.ones(n_states)])
    rhs = np.zeros(n_states + 1)
    rhs[-1] = 1.0
    pi = np.linalg.lstsq(A, rhs, rcond=None)[0]
    assert pi[-1] < 1e-14, "truncation too short: the last state holds mass"
    waiting = pi[c:]  # an arrival in state c + j finds j customers waiting ahead of it
    queue_length = float(np.arange(waiting.size) @ waiting)
    # Tagged arrival with k customers ahead: the head moves at c*mu + k*theta, the tagged customer
    # abandons at theta; p[k] = P(served | k ahead), m[k] = E[wait; served | k ahead].
    p = np.zeros(waiting.size)
    m = np.zeros(waiting.size)
    for k in range(waiting.size):
        advance = c * mu + k * theta
        out = advance + theta
        p[k] = advance / out * (p[k - 1] if k else 1.0)
        m[k] = p[k] / out + advance / out * (m[k - 1] if k else 0.0)
    p_abandon = float(waiting @ (1.0 - p))
    wait = queue_length / lam
    wait_served = float(waiting @ m) / (1.0 - p_abandon)
    throughput = lam * (1.0 - p_abandon)
    return theory.AbandonmentMetrics(
        p_abandon=p_abandon,
        p_wait=float(waiting.sum()),
        wait=wait,
        wait_served=wait_served,
        wait_abandoned=(wait - float(waiting @ m)) / p_abandon,
        queue_length=queue_length,
        utilization=throughput / (c * mu),
        throughput=throughput,
    )


ERLANG_A_CASES = [
    # lam, mu, c, theta, chain length
    (0.5, 1.0, 1, 0.2, 200),  # M/M/1+M, light
    (1.5, 1.0, 1, 0.5, 200),  # M/M/1+M, overloaded: stable only through abandonment
    (3.5, 1.0, 4, 0.5, 200),
    (9.0, 0.5, 12, 0.05, 800),  # overloaded, patient customers: a long queue
    (95.0, 1.0, 100, 0.1, 800),  # QED regime, rho = 0.95
    (480.0, 1.0, 500, 0.5, 1200),  # several hundred servers
    (250.0, 2.0, 120, 1.0, 1400),  # overloaded, rho = 1.04
]


@pytest.mark.parametrize(("lam", "mu", "c", "theta", "n_max"), ERLANG_A_CASES)
def test_erlang_a_matches_brute_force_chain(lam: float, mu: float, c: int, theta: float, n_max: int) -> None:
    got = theory.erlang_a(lam, mu, c, theta)
    want = brute_force_erlang_a(lam, mu, c, theta, n_max)
    for field in theory.AbandonmentMetrics.__dataclass_fields__:
        g, w = getattr(got, field), getattr(want, field)
        print(f"{field}: closed form {g:.12g}, chain {w:.12g}, rel. error {abs(g - w) / abs(w):.1e}")
        assert g == pytest.approx(w, rel=1e-7, abs=1e-13), field


@pytest.mark.parametrize(("lam", "mu", "c", "theta", "n_max"), ERLANG_A_CASES)
def test_erlang_a_identities(lam: float, mu: float, c: int, theta: float, n_max: int) -> None:
    m = theory.erlang_a(lam, mu, c, theta)
    assert m.p_abandon == pytest.approx(theta * m.wait, rel=1e-12)
    assert m.queue_length == pytest.approx(lam * m.wait, rel=1e-12)
    assert m.wait == pytest.approx(m.p_abandon * m.wait_abandoned + (1 - m.p_abandon) * m.wait_served, rel=1e-9)
    assert m.wait_served > 0.0 and m.wait_abandoned > 0.0
    assert 0.0 <= m.p_abandon <= m.p_wait <= 1.0
    assert 0.0 < m.utilization <= 1.0


@pytest.mark.parametrize(("lam", "c"), [(0.8, 1), (3.0, 4), (40.0, 50), (300.0, 280)])
def test_erlang_a_with_patience_equal_to_service_is_an_infinite_server_queue(lam: float, c: int) -> None:
    # With theta = mu every customer present leaves at rate mu, waiting or served, so the number in
    # system is Poisson(lam / mu) (M/M/inf): P(W > 0) = P(N >= c), P(Ab) = E[(N - c)+] / a.
    from scipy import stats

    mu = 2.0
    a = lam / mu
    n = np.arange(0, int(a + 40 * math.sqrt(a) + 100))
    pmf = stats.poisson.pmf(n, a)
    m = theory.erlang_a(lam, mu, c, mu)
    assert m.p_wait == pytest.approx(float(stats.poisson.sf(c - 1, a)), rel=1e-9)
    assert m.p_abandon == pytest.approx(float(np.maximum(n - c, 0) @ pmf) / a, rel=1e-9)


@pytest.mark.parametrize(("lam", "mu", "c"), [(0.5, 1.0, 1), (0.9, 1.0, 1), (3.5, 1.0, 4), (190.0, 1.0, 200), (460.0, 1.0, 500)])
def test_erlang_a_tends_to_erlang_c_as_patience_grows(lam: float, mu: float, c: int) -> None:
    base = mmc(lam, mu, c)
    for theta in (1e-10, 1e-12):
        m = theory.erlang_a(lam, mu, c, theta)
        assert m.p_wait == pytest.approx(base.p_wait, rel=1e-6)
        assert m.wait == pytest.approx(base.wait, rel=1e-6)
        assert m.wait_served == pytest.approx(base.wait, rel=1e-6)
        assert m.p_abandon == pytest.approx(theta * base.wait, rel=1e-6)
    exact = theory.erlang_a(lam, mu, c, 0.0)
    assert (exact.p_abandon, exact.p_wait, exact.wait) == (0.0, base.p_wait, base.wait)


def test_erlang_a_single_server_closed_form() -> None:
    # M/M/1+M: pi_{1+j} / pi_1 = prod_{k=1}^{j} lam / (mu + k theta); summed by hand for theta = mu,
    # where N ~ Poisson(rho): P(W > 0) = 1 - e^{-rho}.
    rho = 0.7
    m = theory.erlang_a(rho, 1.0, 1, 1.0)
    assert m.p_wait == pytest.approx(1.0 - math.exp(-rho), rel=1e-12)
    assert m.p_abandon == pytest.approx((rho - 1.0 + math.exp(-rho)) / rho, rel=1e-10)


def test_erlang_a_heavy_overload_is_fluid_limit() -> None:
    # Far above capacity nearly every server is busy and the excess arrivals abandon: P(Ab) -> 1 - c mu / lam.
    m = theory.erlang_a(600.0, 1.0, 500, 0.01)
    assert m.p_abandon == pytest.approx(1.0 - 500.0 / 600.0, rel=1e-6)
    assert m.utilization == pytest.approx(1.0, abs=1e-9)
    assert math.isfinite(m.wait_served) and m.wait_served > m.wait


@pytest.mark.parametrize(
    "call",
    [
        lambda: theory.erlang_a(1.0, 1.0, 2, -0.1),
        lambda: theory.erlang_a(1.0, 0.0, 2, 0.1),
        lambda: theory.erlang_a(1.0, 1.0, 0, 0.1),
        lambda: theory.erlang_a(-1.0, 1.0, 1, 0.1),
        lambda: theory.erlang_a(1.0, 1.0, 1, math.inf),
        lambda: theory.erlang_a(2.0, 1.0, 2, 0.0),  # no abandonment and rho = 1: no steady state
    ],
)
def test_erlang_a_invalid_parameters_raise(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        call()


def test_erlang_a_without_arrivals() -> None:
    m = theory.erlang_a(0.0, 1.0, 3, 0.5)
    assert (m.p_abandon, m.p_wait, m.wait, m.throughput) == (0.0, 0.0, 0.0, 0.0)


# -- M/M/c+D -----------------------------------------------------------------------------------


def _level_crossing(lam: float, mu: float, c: int, spent, p_abandons, breaks=()) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(P(Ab), E[W]) of M/M/c+G from the virtual-wait density f(x) = κu exp(-κx + λH(x)), by quadrature.

    ``spent(x)`` is H(x), the integral of the patience survival function up to x, which is also
    the mean wait E[min(x, patience)] of an arrival seeing virtual wait x; it abandons with
    probability ``p_abandons(x)`` = G(x). ``breaks`` are the points where G jumps.
    """
    from scipy.integrate import quad

    kappa = c * mu
    top = 60.0 / kappa + 60.0 / max(kappa - lam, kappa / 10)

    def integral(g) -> float:  # type: ignore[no-untyped-def]
        return float(quad(lambda x: math.exp(-kappa * x + lam * spent(x)) * g(x), 0, top,
                          points=list(breaks) or None, limit=400, epsabs=0, epsrel=1e-11)[0])

    busy = kappa * integral(lambda x: 1.0)
    u = 1.0 / (1.0 / erlang_b(c, lam / mu) - 1.0 + busy)
    return kappa * u * integral(p_abandons), kappa * u * integral(spent)


def test_the_virtual_wait_density_behind_mmc_plus_d_reproduces_erlang_a() -> None:
    # the level-crossing density that gives the M/M/c+D closed form, with exponential patience
    # (θ = 50), agrees with the Erlang-A birth-death chain
    lam, mu, c, theta = 400.0, 100.0, 4, 50.0
    p_ab, wait = _level_crossing(lam, mu, c, lambda x: -math.expm1(-theta * x) / theta, lambda x: -math.expm1(-theta * x))
    exact = theory.erlang_a(lam, mu, c, theta)
    assert p_ab == pytest.approx(exact.p_abandon, rel=1e-7)
    assert wait == pytest.approx(exact.wait, rel=1e-7)


@pytest.mark.parametrize(("lam", "mu", "c", "tau"), [(400.0, 100.0, 4, 0.02), (90.0, 100.0, 1, 0.05), (30.0, 1.0, 20, 0.3)])
def test_mmc_constant_patience_matches_its_density_by_quadrature(lam: float, mu: float, c: int, tau: float) -> None:
    m = theory.mmc_constant_patience(lam, mu, c, tau)
    p_ab, wait = _level_crossing(lam, mu, c, lambda x: min(x, tau), lambda x: 1.0 if x > tau else 0.0, breaks=(tau,))
    assert m.p_abandon == pytest.approx(p_ab, rel=1e-6)
    assert m.wait == pytest.approx(wait, rel=1e-6)
    assert m.queue_length == pytest.approx(lam * m.wait) and m.wait_abandoned == tau


def test_mmc_constant_patience_limits() -> None:
    # no patience at all is the loss system; patience beyond every wait is Erlang C
    zero = theory.mmc_constant_patience(300.0, 100.0, 4, 0.0)
    assert zero.p_abandon == pytest.approx(erlang_b(4, 3.0), rel=1e-12) and zero.wait == 0.0
    base = mmc(300.0, 100.0, 4)
    for far in (1e3, math.inf):
        m = theory.mmc_constant_patience(300.0, 100.0, 4, far)
        assert m.p_wait == pytest.approx(base.p_wait, rel=1e-12) and m.wait == pytest.approx(base.wait, rel=1e-12)
        assert m.p_abandon < 1e-100
    # far into overload the excess abandons: P(Ab) -> 1 - c mu / lam, every patience spent in full
    over = theory.mmc_constant_patience(1000.0, 1.0, 2, 10.0)
    assert over.p_abandon == pytest.approx(1 - 2 / 1000, rel=1e-9) and over.wait == pytest.approx(10.0, rel=1e-6)
    # the scaled (overload) and series (near-critical) branches join the plain formula smoothly
    for lam, tau in ((500.0, 0.01 - 1e-12), (500.0, 0.01 + 1e-12), (400.0 + 0.5, 0.02), (400.0 + 0.4, 0.02)):
        a, b = theory.mmc_constant_patience(lam, 100.0, 4, tau), theory.mmc_constant_patience(lam * (1 + 1e-12), 100.0, 4, tau)
        assert a.p_abandon == pytest.approx(b.p_abandon, rel=1e-9) and a.wait == pytest.approx(b.wait, rel=1e-9)
    with pytest.raises(ValueError):
        theory.mmc_constant_patience(500.0, 100.0, 4, math.inf)
    with pytest.raises(ValueError):
        theory.mmc_constant_patience(500.0, 100.0, 4, -1.0)


# -- Cobham's non-preemptive priority M/M/c --------------------------------------------------------


def test_mmc_priority_with_one_class_is_mmc() -> None:
    (only,) = mmc_priority([3.2], 1.0, 4)
    assert_metrics_close(only, mmc(3.2, 1.0, 4), rel=1e-12)


def test_mmc_priority_single_server_matches_the_residual_work_formula() -> None:
    # M/G/1 non-preemptive priorities: W_k = W0 / ((1 - s_{k-1})(1 - s_k)), W0 = sum lam_i E[S^2] / 2 = lam / mu^2
    lams, mu = [0.2, 0.3, 0.25], 1.0
    w0 = sum(lams) * 2 / mu**2 / 2
    sigma = np.cumsum([0.0, *lams]) / mu
    for k, got in enumerate(mmc_priority(lams, mu, 1)):
        assert got.wait == pytest.approx(w0 / ((1 - sigma[k]) * (1 - sigma[k + 1])), rel=1e-12)


@settings(max_examples=50)
@given(
    shares=st.lists(st.floats(0.01, 1.0), min_size=1, max_size=5),
    c=st.integers(1, 40),
    rho=st.floats(0.05, 0.97),
)
def test_mmc_priority_conserves_the_fcfs_mean_wait(shares: list[float], c: int, rho: float) -> None:
    # Kleinrock's conservation law: with equal service rates, priorities only redistribute the wait
    mu = 2.0
    lam = rho * c * mu
    lams = [lam * s / sum(shares) for s in shares]
    classes = mmc_priority(lams, mu, c)
    weighted = sum(lk * m.wait for lk, m in zip(lams, classes, strict=True)) / lam
    assert weighted == pytest.approx(mmc(lam, mu, c).wait, rel=1e-9)
    waits = [m.wait for m in classes]
    assert waits == sorted(waits)  # a higher class never waits longer
    for m in classes:
        assert m.in_system == pytest.approx(m.throughput * m.sojourn, rel=1e-12)


def test_mmc_priority_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        mmc_priority([], 1.0, 2)
    with pytest.raises(ValueError):
        mmc_priority([1.0, 1.5], 1.0, 2)  # rho = 1.25
    with pytest.raises(ValueError):
        mmc_priority([1.0, -0.5], 1.0, 2)


# ---------------------------------------------------------------------------------------------
# The machine-repair model (M/M/c//N) against its birth-death chain solved numerically.


def brute_force_machine_repair(users: int, think: float, mu: float, c: int) -> theory.ClosedMetrics:
    """Solve pi Q = 0 for the number at the station (births (N-n)/Z, deaths min(n,c)mu) and read the figures off pi."""
    n_states = users + 1
    Q = np.zeros((n_states, n_states))
    for n in range(n_states):
        if n < users:
            Q[n, n + 1] = (users - n) / think
        if n > 0:
            Q[n, n - 1] = min(n, c) * mu
        Q[n, n] = -Q[n].sum()
    A = np.vstack([Q.T, np.ones(n_states)])
    rhs = np.zeros(n_states + 1)
    rhs[-1] = 1.0
    pi = np.linalg.lstsq(A, rhs, rcond=None)[0]
    states = np.arange(n_states)
    throughput = float(np.sum(np.minimum(states, c) * mu * pi))
    in_system = float(np.sum(states * pi))
    queue_length = float(np.sum(np.maximum(states - c, 0) * pi))
    # the arrival distribution: state n weighted by the arrival rate (N - n)/Z there
    arriving = (users - states) * pi
    return theory.ClosedMetrics(
        throughput=throughput,
        response=in_system / throughput,
        wait=queue_length / throughput,
        in_system=in_system,
        queue_length=queue_length,
        thinking=users - in_system,
        utilization=throughput / (c * mu),
        p_wait=float(arriving[c:].sum() / arriving.sum()),
    )


@pytest.mark.parametrize(("users", "think", "mu", "c"), [
    (1, 1.0, 1.0, 1), (5, 0.5, 1.0, 1), (20, 0.1, 100.0, 2), (40, 2.0, 3.0, 8), (200, 0.05, 50.0, 10), (3, 1.0, 1.0, 5),
])
def test_machine_repair_matches_brute_force_chain(users: int, think: float, mu: float, c: int) -> None:
    got, want = theory.machine_repair(users, think, mu, c), brute_force_machine_repair(users, think, mu, c)
    for field in theory.ClosedMetrics.__dataclass_fields__:
        assert getattr(got, field) == pytest.approx(getattr(want, field), rel=1e-8, abs=1e-12), field


def test_machine_repair_laws_and_limits() -> None:
    m = theory.machine_repair(20, 0.1, 100.0, 2)
    assert m.throughput == pytest.approx(20 / (m.response + 0.1), rel=1e-12)  # interactive response time law
    assert m.response - m.wait == pytest.approx(1 / 100.0, rel=1e-12)
    assert m.thinking == pytest.approx(m.throughput * 0.1, rel=1e-12)  # Little's law for the thinkers
    # one user alone: never waits; throughput 1/(Z + 1/mu)
    one = theory.machine_repair(1, 0.3, 10.0, 1)
    assert one.wait == 0.0 and one.throughput == pytest.approx(1 / 0.4)
    # as many servers as users: nobody ever waits
    assert theory.machine_repair(5, 1.0, 2.0, 5).wait == pytest.approx(0.0, abs=1e-15)
    # a huge population saturates the servers: X -> c mu
    assert theory.machine_repair(5000, 1.0, 1.0, 10).throughput == pytest.approx(10.0, rel=1e-9)
    with pytest.raises(ValueError):
        theory.machine_repair(0, 1.0, 1.0, 1)
    with pytest.raises(ValueError):
        theory.machine_repair(3, 0.0, 1.0, 1)
