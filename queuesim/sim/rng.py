"""Random streams: one numpy Generator per component, derived from the seed and the component's name.

Keying streams by name (not by creation order) means adding a producer does not change the numbers
another component draws, which is what makes common random numbers across variants possible.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from itertools import chain, repeat
from typing import Protocol

import numpy as np

BATCH = 4096


class Sampler(Protocol):
    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray: ...


class ExponentialSampler:
    """Exponential draws with mean ``mean`` (Poisson arrivals at rate 1/mean, an mtbf clock)."""

    def __init__(self, mean: float) -> None:
        self.mean = mean

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(self.mean, n)


def name_key(name: str) -> int:
    """A stable 32-bit integer for a component name (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "little")


def component_rng(seed: int, replication: int, stream: str) -> np.random.Generator:
    """The Generator of one component's stream, e.g. ``"producer:web:arrivals"``.

    The same (seed, replication, stream) gives the same numbers on every machine and executor.
    """
    ss = np.random.SeedSequence(seed, spawn_key=(replication, name_key(stream)))
    return np.random.Generator(np.random.PCG64(ss))


def batched(draw: Callable[[int], np.ndarray], batch: int = BATCH) -> Iterator[float]:
    """An endless iterator of floats drawn ``batch`` at a time (Python floats: cheaper to use in the loop).

    A chain over lists, not a generator: its ``__next__`` steps a list iterator in C, and Python
    code runs once per batch rather than a generator frame resumed per draw (two draws a message).
    """
    lists: Iterator[list[float]] = map(lambda n: draw(n).tolist(), repeat(batch))
    return chain.from_iterable(lists)


def stream(dist: Sampler, rng: np.random.Generator, batch: int = BATCH) -> Callable[[], float]:
    """A zero-argument callable returning the next draw of ``dist``; ``next`` on a batched iterator."""
    it = batched(lambda n: dist.sample(rng, n), batch)
    return it.__next__


def uniform_stream(rng: np.random.Generator, batch: int = BATCH) -> Callable[[], float]:
    """Next U(0,1) draw, batched (used by retry jitter)."""
    return batched(rng.random, batch).__next__


class Streams:
    """The named random streams of one component, e.g. ``Streams(seed, 0, "queue:orders")``.

    A purpose names one stream: ``"latency"`` is ``queue:orders:latency``. Asking twice for the
    same uniform stream gives the same stream, so two parts of a component can share one (a pool's
    crash and failure decisions take turns on ``workers:<name>:faults``).
    """

    def __init__(self, seed: int, replication: int, component: str) -> None:
        self.seed = seed
        self.replication = replication
        self.component = component
        self._uniform: dict[str, Callable[[], float]] = {}

    def rng(self, purpose: str) -> np.random.Generator:
        """A fresh Generator of the stream ``<component>:<purpose>``."""
        return component_rng(self.seed, self.replication, f"{self.component}:{purpose}")

    def uniform(self, purpose: str) -> Callable[[], float]:
        """U(0,1) draws of the stream ``<component>:<purpose>``, shared by every caller of that purpose."""
        if purpose not in self._uniform:
            self._uniform[purpose] = uniform_stream(self.rng(purpose))
        return self._uniform[purpose]

    def draws(self, dist: Sampler, purpose: str) -> Callable[[], float]:
        """Draws of ``dist`` from the stream ``<component>:<purpose>`` (one distribution per purpose)."""
        return stream(dist, self.rng(purpose))
