"""Shared helpers: build scenarios from YAML snippets and compare simulated figures with theory."""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import settings
from queuesim import Scenario, parse_scenario
from queuesim.metrics.stats import t975

# Hypothesis: few examples in `make test`, a longer search with HYPOTHESIS_PROFILE=thorough. print_blob
# prints the @reproduce_failure(...) line that replays a failing example exactly, seed included.
settings.register_profile("default", max_examples=20, print_blob=True)
settings.register_profile("thorough", max_examples=400, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def scenario(text: str, **overrides: object) -> Scenario:
    """A Scenario from an indented YAML snippet; keyword overrides become ``--set`` values."""
    sets = [f"{k.replace('__', '.')}={v}" for k, v in overrides.items()]
    return parse_scenario(textwrap.dedent(text), source="<test>", overrides=sets)


def assert_close_to_theory(samples: list[float], expected: float, label: str, z: float = 4.0) -> float:
    """Check replication estimates against a closed form with a tolerance from their spread.

    The tolerance is ``z`` standard errors of the replication mean (t-scaled), so it shrinks as
    the run grows; returns the relative error for reporting.
    """
    x = np.asarray(samples, dtype=float)
    mean = float(x.mean())
    se = float(x.std(ddof=1) / math.sqrt(x.size))
    tol = z / 1.96 * t975(x.size - 1) * se
    rel = abs(mean - expected) / abs(expected) if expected else abs(mean)
    print(f"{label}: simulated {mean:.6g} ± {tol:.3g} (z={z}), theory {expected:.6g}, rel. error {rel:.2%}")
    assert abs(mean - expected) <= tol, (
        f"{label}: simulated {mean:.6g}, theory {expected:.6g}, tolerance {tol:.3g} from {x.size} replications"
    )
    return rel


@pytest.fixture
def make_scenario() -> Callable[..., Scenario]:
    return scenario
