"""Calibration from data: parameters recovered from seeded samples, families told apart, YAML that parses, clean errors."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from queuesim import parse_scenario
from queuesim.calibration import (
    DataError,
    Sample,
    fit_arrivals,
    fit_durations,
    read_durations,
    read_timestamps,
    unit_from_name,
)
from queuesim.cli import app
from queuesim.scenario import Empirical, Exponential, Gamma, Lognormal, Weibull
from scipy import special
from typer.testing import CliRunner

runner = CliRunner()
QUEUESIM = str(Path(sys.executable).parent / "queuesim")  # the installed command, as a user runs it
N = 3000
Z = 4.0  # tolerances are Z asymptotic standard errors of the maximum-likelihood estimates at this N


def sample_of(x: np.ndarray, unit: str = "s") -> Sample:
    return Sample(np.asarray(x, dtype=float), np.arange(2, x.size + 2), "<test>", "d", unit)


def draw(dist: Exponential | Lognormal | Gamma | Weibull, seed: int, n: int = N) -> np.ndarray:
    return dist.sample(np.random.default_rng(seed), n)


def service_of(snippet: str) -> object:
    """Parse a ``service: …`` snippet inside a minimal scenario and return the worker's distribution."""
    body = textwrap.indent(snippet, "    ")
    text = f"name: t\nduration: 10s\nproducers: {{p: {{to: q, rate: 10/s}}}}\nqueues: {{q: {{broker: redis}}}}\n" \
           f"workers:\n  w:\n    from: q\n    count: 2\n{body}\n"
    return parse_scenario(text).workers["w"].service


# --- the standard errors the tolerances come from ---------------------------------------------
# Asymptotic variances of the MLEs at sample size n, carried to (mean, cv) by the delta method.


def se_exponential(mean: float, n: int) -> tuple[float, float]:
    return mean / math.sqrt(n), 0.0


def se_lognormal(mean: float, cv: float, n: int) -> tuple[float, float]:
    s2 = math.log1p(cv**2)  # var(mu_hat) = s2/n, var(s2_hat) = 2 s2²/n, independent
    se_mean = mean * math.sqrt((s2 + s2**2 / 2) / n)
    se_cv = (1 + cv**2) / (2 * cv) * math.sqrt(2 * s2**2 / n)  # d cv / d s2 = e^{s2} / (2 cv)
    return se_mean, se_cv


def se_gamma(mean: float, cv: float, n: int) -> tuple[float, float]:
    k = 1 / cv**2
    var_k = k / (n * (k * float(special.polygamma(1, k)) - 1))  # the shape's asymptotic variance
    return mean * cv / math.sqrt(n), 0.5 * k**-1.5 * math.sqrt(var_k)  # the MLE mean is the sample mean


def se_weibull(mean: float, cv: float, n: int) -> tuple[float, float]:
    k = Weibull(mean=mean, cv=cv).shape
    var_k = 6 * k**2 / (math.pi**2 * n)  # asymptotic variance of the shape MLE

    def cv_of(shape: float) -> float:
        return math.sqrt(math.expm1(math.lgamma(1 + 2 / shape) - 2 * math.lgamma(1 + 1 / shape)))

    slope = (cv_of(k * 1.0001) - cv_of(k * 0.9999)) / (0.0002 * k)
    return mean * cv / math.sqrt(n), abs(slope) * math.sqrt(var_k)


CASES = [
    (Exponential(mean=0.010), se_exponential(0.010, N), 11),
    (Lognormal(mean=0.020, cv=1.5), se_lognormal(0.020, 1.5, N), 12),
    (Gamma(mean=0.008, cv=0.5), se_gamma(0.008, 0.5, N), 13),
    (Weibull(mean=0.030, cv=0.4), se_weibull(0.030, 0.4, N), 14),
    (Weibull(mean=0.030, cv=2.0), se_weibull(0.030, 2.0, N), 15),
]


@pytest.mark.parametrize(("true", "se", "seed"), CASES, ids=[str(c[0]) for c in CASES])
def test_fit_recovers_the_parameters_and_picks_the_family(true: object, se: tuple[float, float], seed: int) -> None:
    assert isinstance(true, (Exponential, Lognormal, Gamma, Weibull))
    fitted = fit_durations(sample_of(draw(true, seed)), replicates=99, seed=seed)
    top = fitted.candidates[0]
    assert top.family == true.dist and fitted.best_family == true.dist, [(c.family, c.ad, c.ad_p) for c in fitted.candidates]
    got = fitted.best
    se_mean, se_cv = se
    print(f"{true}: fitted {got}; mean ± {Z * se_mean:.3g}, cv ± {Z * se_cv:.3g}")
    assert abs(got.mean - true.mean) <= Z * se_mean
    if se_cv:
        assert abs(math.sqrt(got.scv) - math.sqrt(true.scv)) <= Z * se_cv
    # the other families are rejected: the true one is told apart, not merely ranked first
    # (gamma and Weibull contain the exponential, so they fit exponential data too)
    nested = ("gamma", "weibull") if true.dist == "exponential" else ()
    others = [c for c in fitted.candidates if c.family != true.dist and c.family not in nested]
    assert all(c.rejected for c in others), [(c.family, c.ad_p) for c in others]


def test_bootstrap_p_values_are_smaller_than_the_textbook_ones() -> None:
    # The textbook KS p-value treats fitted parameters as known, so it is biased upwards (Lilliefors).
    fitted = fit_durations(sample_of(draw(Gamma(mean=0.01, cv=0.7), 21, 500)), replicates=199)
    best = fitted.candidates[0]
    assert best.family == "gamma" and not best.rejected
    assert best.ks_p_naive > best.ks_p


def test_every_family_rejected_falls_back_to_the_empirical_distribution() -> None:
    x = 0.01 * (np.random.default_rng(5).pareto(2.5, N) + 1.0)  # a shifted Pareto: none of the families
    fitted = fit_durations(sample_of(x), replicates=99)
    assert all(c.rejected for c in fitted.candidates)
    assert fitted.best_family == "empirical" and isinstance(fitted.best, Empirical)
    assert len(fitted.best.samples) == 200
    assert fitted.best.mean == pytest.approx(float(x.mean()), rel=0.02)
    parsed = service_of(fitted.yaml())
    assert parsed == fitted.best


@pytest.mark.parametrize(("true", "seed"), [(c[0], c[2]) for c in CASES] + [(Empirical(samples=(0.001, 0.002, 0.004)), 0)],
                         ids=str)
def test_printed_yaml_parses_as_a_service_distribution(true: object, seed: int) -> None:
    fitted = fit_durations(sample_of(np.resize(np.asarray(true.samples), 60)) if isinstance(true, Empirical)
                           else sample_of(draw(true, seed, 400)), replicates=39)  # type: ignore[arg-type]
    for candidate in [c.distribution for c in fitted.candidates if c.distribution is not None] + [fitted.empirical]:
        from queuesim.calibration import distribution_yaml

        parsed = service_of(f"service: {distribution_yaml(candidate, indent=9)}")
        assert type(parsed) is type(candidate)
        assert parsed.mean == pytest.approx(candidate.mean, rel=1e-3)
        assert parsed.scv == pytest.approx(candidate.scv, rel=2e-3, abs=1e-12)
    assert service_of(fitted.yaml()) is not None


def test_zeros_rule_out_the_positive_families() -> None:
    x = np.round(draw(Exponential(mean=0.002), 3, 500), 3)  # rounded to 1 ms: many zeros and ties
    fitted = fit_durations(sample_of(x), replicates=39)
    skipped = {c.family: c.note for c in fitted.candidates if c.distribution is None}
    assert set(skipped) == {"lognormal", "gamma", "weibull"}
    assert "<test>:" in skipped["gamma"] and "is never 0" in skipped["gamma"]
    assert any("rounded to about 1ms" in w for w in fitted.warnings)


def test_a_constant_column_is_a_constant() -> None:
    fitted = fit_durations(sample_of(np.full(50, 0.005)))
    assert fitted.best_family == "constant" and fitted.yaml() == "service: 5ms"


# --- arrivals ---------------------------------------------------------------------------------


def test_poisson_timestamps_give_a_rate() -> None:
    rate = 250.0
    t = 1.7e9 + np.cumsum(np.random.default_rng(8).exponential(1 / rate, N))
    arrivals = fit_arrivals(sample_of(t), replicates=99)
    assert arrivals.poisson, arrivals.verdict
    low, high = arrivals.rate_ci
    assert low < rate < high and high - low < 0.2 * rate
    assert abs(arrivals.cv - 1.0) < Z / math.sqrt(N)  # sd of a sample cv of exponentials is ~1/sqrt(n)
    yaml = arrivals.yaml()
    assert yaml.startswith("rate: ") and yaml.endswith("/s")
    doc = f"name: t\nduration: 10s\nproducers: {{p: {{to: q, {yaml}}}}}\nqueues: {{q: {{broker: redis}}}}\n" \
          "workers: {w: {from: q, count: 2, service: 1ms}}\n"
    assert parse_scenario(doc).producers["p"].rate == pytest.approx(arrivals.rate, rel=1e-3)


def test_regular_arrivals_are_not_poisson_and_give_an_interarrival_distribution() -> None:
    t = np.cumsum(draw(Gamma(mean=0.01, cv=0.3), 9))
    arrivals = fit_arrivals(sample_of(t), replicates=99)
    assert not arrivals.poisson and "exponential gaps rejected" in arrivals.verdict
    assert arrivals.gaps.best_family == "gamma"
    doc = f"name: t\nduration: 10s\nproducers:\n  p:\n    to: q\n    {arrivals.yaml()}\n" \
          "queues: {q: {broker: redis}}\nworkers: {w: {from: q, count: 2, service: 1ms}}\n"
    gaps = parse_scenario(doc).producers["p"].interarrival
    assert isinstance(gaps, Gamma) and gaps.cv == pytest.approx(0.3, abs=Z * se_gamma(0.01, 0.3, N)[1])


def test_a_changing_rate_shows_as_correlated_gaps() -> None:
    # Alternating 5 s at 50/s and 5 s at 500/s: each gap is exponential, but neighbours share a rate.
    rng = np.random.default_rng(10)
    gaps = np.concatenate([rng.exponential(1 / r, int(r * 5)) for r in [50.0, 500.0] * 3])
    arrivals = fit_arrivals(sample_of(np.cumsum(gaps)), replicates=49)
    assert arrivals.lag1 > arrivals.lag1_band and not arrivals.poisson
    assert any("correlated" in w for w in arrivals.warnings)


def test_unsorted_timestamps_are_sorted_and_counted() -> None:
    t = np.cumsum(np.random.default_rng(2).exponential(0.01, 200))
    t[[10, 50]] = t[[50, 10]]
    arrivals = fit_arrivals(sample_of(t), replicates=39)
    assert arrivals.unsorted == 2
    assert arrivals.span == pytest.approx(t.max() - t.min())


# --- reading logs -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "unit"), [("duration_ms", "ms"), ("latencyMs", "ms"), ("wait (s)", "s"),
                                            ("service-time-us", "us"), ("elapsed_seconds", "s"), ("t_micros", "us"),
                                            ("duration", None), ("items", None)])
def test_unit_from_the_column_name(name: str, unit: str | None) -> None:
    assert unit_from_name(name) == unit


def write(tmp_path: Path, text: str, name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def rows(values: list[str], header: str = "id,duration_ms") -> str:
    return header + "\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values))


def test_read_durations_in_the_named_unit(tmp_path: Path) -> None:
    path = write(tmp_path, rows([str(v) for v in range(1, 31)]))
    sample = read_durations(path, "duration_ms")
    assert sample.unit == "ms" and sample.values[0] == pytest.approx(0.001) and list(sample.lines[:2]) == [2, 3]
    assert read_durations(path, "duration_ms", unit="s").values[0] == 1.0


def test_semicolons_and_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "a;wait_s\n" + "".join(f"{i};{0.1 * (i + 1):.2f}\n\n" for i in range(25)))
    sample = read_durations(path, "wait_s")
    assert sample.values.size == 25 and list(sample.lines[:2]) == [2, 4]


def problems(path: Path, column: str, **kwargs: object) -> list[str]:
    with pytest.raises(DataError) as info:
        read_durations(path, column, **kwargs)  # type: ignore[arg-type]
    return [str(p) for p in info.value.problems]


def test_errors_name_the_file_and_line(tmp_path: Path) -> None:
    values = [str(v) for v in range(1, 31)]
    values[4], values[9], values[12], values[20] = "abc", "", "-3", "1e"
    path = write(tmp_path, rows(values))
    assert problems(path, "duration_ms") == [
        f"{path}:6: duration_ms: not a number: 'abc'",
        f"{path}:11: duration_ms: empty value",
        f"{path}:14: duration_ms: negative duration: -3",
        f"{path}:22: duration_ms: not a number: '1e'",
    ]
    skipped = read_durations(path, "duration_ms", skip_invalid=True)
    assert skipped.values.size == 26 and skipped.skipped == 4


def test_missing_file_column_unit_and_too_few_rows(tmp_path: Path) -> None:
    assert problems(tmp_path / "nope.csv", "x") == [f"{tmp_path / 'nope.csv'}: no such file"]
    path = write(tmp_path, rows([str(v) for v in range(1, 31)]))
    assert problems(path, "duration") == [
        f"{path}:1: duration: no such column (did you mean 'duration_ms'?); the header has: id, duration_ms"]
    assert problems(write(tmp_path, rows(["1"] * 30, "id,duration"), "b.csv"), "duration") == [
        f"{tmp_path / 'b.csv'}:1: duration: cannot tell the unit: pass --unit ms|s|us, or name the column with a unit "
        "suffix (duration_ms, wait_s, latency_us)"]
    short = write(tmp_path, rows(["1", "2", "3"]), "c.csv")
    assert problems(short, "duration_ms") == [
        f"{short}: duration_ms: only 3 values (need at least 20 to tell one distribution from another)"]
    assert problems(write(tmp_path, "", "d.csv"), "x") == [
        f"{tmp_path / 'd.csv'}:1: empty file: expected a header row naming the columns"]


def test_many_bad_rows_are_summarised(tmp_path: Path) -> None:
    path = write(tmp_path, rows(["x"] * 40))
    found = problems(path, "duration_ms")
    assert len(found) == 11 and found[-1].endswith("… and 30 more rows like these (--skip-invalid leaves them out)")


def test_iso_timestamps(tmp_path: Path) -> None:
    stamps = [f"2024-05-01T12:00:{s:06.3f}Z" for s in np.linspace(0, 30, 31)]
    path = write(tmp_path, "at\n" + "\n".join(stamps) + "\n")
    sample = read_timestamps(path, "at")
    assert sample.unit is None and np.diff(sample.values) == pytest.approx(np.full(30, 1.0))
    mixed = write(tmp_path, "at\n" + "\n".join([*stamps[:25], "2024-05-01T12:01:00", *stamps[25:]]) + "\n", "m.csv")
    with pytest.raises(DataError) as info:
        read_timestamps(mixed, "at")
    assert [str(p) for p in info.value.problems] == [
        f"{mixed}:27: at: lacks a time zone, unlike the first timestamp: '2024-05-01T12:01:00'"]


# --- the command ------------------------------------------------------------------------------


def log_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(4)
    created = 1.7e12 + np.cumsum(rng.exponential(1000 / 80, 1500))
    service = Lognormal(mean=0.02, cv=1.2).sample(rng, 1500) * 1000
    return write(tmp_path, "id,created_ms,duration_ms\n"
                 + "".join(f"{i},{c:.3f},{s:.4f}\n" for i, (c, s) in enumerate(zip(created, service, strict=True))))


def test_fit_command_prints_the_ranking_and_yaml_that_parses(tmp_path: Path) -> None:
    res = runner.invoke(app, ["fit", str(log_file(tmp_path)), "--column", "duration_ms", "--replicates", "49"])
    assert res.exit_code == 0, res.output
    out = res.stdout
    for word in ("lognormal", "gamma", "weibull", "exponential", "empirical", "KS D", "AD A²", "bootstrap", "best"):
        assert word in out
    snippet = out.strip().splitlines()[-1]
    assert snippet.startswith("service: {dist: lognormal")
    parsed = service_of(snippet)
    assert isinstance(parsed, Lognormal) and parsed.cv == pytest.approx(1.2, abs=Z * se_lognormal(0.02, 1.2, 1500)[1])


def test_fit_command_on_timestamps(tmp_path: Path) -> None:
    res = runner.invoke(app, ["fit", str(log_file(tmp_path)), "-c", "created_ms", "--timestamps", "--replicates", "49"])
    assert res.exit_code == 0, res.output
    assert "Poisson arrivals: plausible" in res.stdout
    assert res.stdout.strip().splitlines()[-1].startswith("rate: ")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--column", "duration"], ":1: duration: no such column (did you mean 'duration_ms'?)"),
        (["--column", "id"], "cannot tell the unit"),
        (["--column", "duration_ms", "--unit", "h"], "Invalid value for '--unit'"),
        (["--column", "duration_ms", "--alpha", "0.01", "--replicates", "50"], "no p-value is below 0.01: use at least 100"),
    ],
)
def test_fit_command_errors_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    res = runner.invoke(app, ["fit", str(log_file(tmp_path)), *args])
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit)
    assert expected in " ".join(res.stderr.split())


def test_fit_command_bad_rows_exit_2_without_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, rows([str(v) for v in range(1, 30)] + ["fast"]))
    res = subprocess.run([QUEUESIM, "fit", str(path), "-c", "duration_ms"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{path}:31: duration_ms: not a number: 'fast'" in " ".join(res.stderr.split())
    missing = subprocess.run([QUEUESIM, "fit", str(tmp_path / "none.csv"), "-c", "x"],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no such file" in missing.stderr and "Traceback" not in missing.stderr
