"""Arrival processes beyond the constant-rate Poisson stream: time-varying rates, batch jobs, trace replay.

Each process is an iterator of ``(time, count)``: absolute creation times in increasing order and
how many requests arrive at that instant. Times are drawn in numpy batches.

A time-varying rate λ(t) with cumulative intensity Λ(t) is simulated by a time change: if
S₁ < S₂ < … are the arrival "hazards" of a unit-rate process (partial sums of Exp(1) gaps for
Poisson arrivals, 1, 2, 3 … for regular ones), then tₖ = Λ⁻¹(Sₖ) are the arrivals at rate λ(t)
(Çinlar's inversion method). It is exact, wastes no draws (unlike thinning), and a piecewise
constant rate inverts in closed form; a daily curve inverts by a safeguarded Newton iteration.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from queuesim.sim.rng import BATCH

Arrivals = Iterator[tuple[float, int]]


def unit_hazards(rng: np.random.Generator | None, batch: int = BATCH) -> Iterator[np.ndarray]:
    """Batches of increasing hazards S₁ < S₂ < …: cumulative Exp(1) draws, or 1, 2, 3 … when ``rng`` is None (regular)."""
    done = 0.0
    start = 1
    while True:
        if rng is None:
            block = np.arange(start, start + batch, dtype=float)
            start += batch
        else:
            block = done + np.cumsum(rng.standard_exponential(batch))
            done = float(block[-1])
        yield block


def piecewise(segments: list[tuple[float, float, float]], hazards: Iterator[np.ndarray]) -> Arrivals:
    """Arrivals of a piecewise-constant rate: ``(start, end, rate)`` segments contiguous from 0.

    Within segment i, t = startᵢ + (S − Λ(startᵢ)) / rateᵢ. An arrival exactly at a boundary
    belongs to the later segment; after the last finite end nothing arrives.
    """
    starts = np.array([a for a, _, _ in segments], dtype=float)
    rates = np.array([r for _, _, r in segments], dtype=float)
    spans = np.array([(b - a) * r if r > 0 else 0.0 for a, b, r in segments], dtype=float)
    ends = np.cumsum(spans)  # Λ at each segment's end (inf for an open last segment with rate > 0)
    begins = np.concatenate([[0.0], ends[:-1]])  # Λ at each segment's start
    for block in hazards:
        seg = np.searchsorted(ends, block, side="right")
        inside = seg < len(segments)
        times = starts[seg[inside]] + (block[inside] - begins[seg[inside]]) / rates[seg[inside]]
        yield from ((t, 1) for t in times.tolist())
        if not inside.all():
            return


def sinusoid(mean: float, amplitude: float, peak_at: float, period: float, hazards: Iterator[np.ndarray]) -> Arrivals:
    """Arrivals at λ(t) = mean + amplitude·cos(2π(t − peak_at)/period), by inverting Λ numerically.

    Λ(t) − mean·t lies in [−2a/ω, 2a/ω] (a = amplitude, ω = 2π/period), so the root for hazard S
    is within 2a/(ω·mean) of S/mean; Newton steps that leave that bracket fall back to bisection.
    """
    w = 2 * math.pi / period
    offset = math.sin(w * peak_at)

    def cumulative(t: np.ndarray) -> np.ndarray:
        return mean * t + amplitude / w * (np.sin(w * (t - peak_at)) + offset)

    reach = 2 * amplitude / w / mean  # |t − S/mean| ≤ reach
    for block in hazards:
        lo = np.maximum(block / mean - reach, 0.0)
        hi = block / mean + reach
        t = np.clip(block / mean, lo, hi)
        for _ in range(100):
            f = cumulative(t) - block
            lo = np.where(f < 0, t, lo)
            hi = np.where(f > 0, t, hi)
            slope = mean + amplitude * np.cos(w * (t - peak_at))
            with np.errstate(divide="ignore", invalid="ignore"):
                step = np.where(slope > 0, t - f / slope, np.nan)
            ok = (step > lo) & (step < hi)
            new = np.where(ok, step, (lo + hi) / 2)
            if np.all(np.abs(new - t) <= 1e-12 * np.maximum(1.0, t)):
                t = new
                break
            t = new
        yield from ((x, 1) for x in t.tolist())


def batches(times: np.ndarray) -> Arrivals:
    """Arrivals at given sorted times, requests at the same instant grouped into one count."""
    if times.size == 0:
        return iter(())
    instants, counts = np.unique(times, return_counts=True)
    return zip(instants.tolist(), counts.tolist(), strict=True)


def for_profile(profile: Any, arrivals: str, rng: np.random.Generator) -> Arrivals:
    """The arrival iterator of a time-varying rate (a scenario ``Schedule``, ``Spike`` or ``Daily``)."""
    hazards = unit_hazards(None if arrivals == "regular" else rng)
    if hasattr(profile, "segments"):
        return piecewise(profile.segments(), hazards)
    return sinusoid(profile.mean, profile.amplitude, profile.peak_at, profile.period, hazards)


def regular_rate(rate: float) -> Arrivals:
    """Evenly spaced arrivals at a constant rate: 1/rate, 2/rate, …"""
    return piecewise([(0.0, math.inf, rate)], unit_hazards(None))


__all__ = ["Arrivals", "unit_hazards", "piecewise", "sinusoid", "batches", "for_profile", "regular_rate"]
