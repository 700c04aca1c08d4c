"""Random streams: one numpy Generator per component, derived from the seed and the component's name.

Keying streams by name (not by creation order) means adding a producer does not change the numbers
another component draws, which is what makes common random numbers across variants possible.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np

BATCH = 4096


class Sampler(Protocol):
    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray: ...


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
    """An endless iterator of floats drawn ``batch`` at a time (Python floats: cheaper to use in the loop)."""
    while True:
        yield from draw(batch).tolist()


def stream(dist: Sampler, rng: np.random.Generator, batch: int = BATCH) -> Callable[[], float]:
    """A zero-argument callable returning the next draw of ``dist``; ``next`` on a batched iterator."""
    it = batched(lambda n: dist.sample(rng, n), batch)
    return it.__next__


def uniform_stream(rng: np.random.Generator, batch: int = BATCH) -> Callable[[], float]:
    """Next U(0,1) draw, batched (used by retry jitter)."""
    return batched(rng.random, batch).__next__
