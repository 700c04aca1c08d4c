"""Fuzzing: mutated example scenarios and mangled CLI arguments get a located error or a clean accept, never a traceback.

The mutations live in ``tests/fuzzing.py`` (shared with ``benchmarks/fuzz_soak.py``, which runs
10⁴ of them with a time and memory limit per input). Hypothesis drives them through
``st.randoms()``, so a failure shrinks and prints the ``@reproduce_failure`` line that replays it.
The number of examples follows the profile (conftest): 15 × its examples, 300 in ``make test``.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzzing

EXAMPLES = 15 * settings().max_examples  # settings() reads the loaded profile
#: Seconds an answer may take: the inputs are a few KB; a hang or a quadratic blow-up exceeds it.
BOUND = 10.0
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _check(answer: fuzzing.Answer, description: str) -> None:
    assert answer.kind in ("line", "no-line", "accepted"), f"{description}: {answer.kind}: {answer.first}"
    assert answer.seconds < BOUND, f"{description}: {answer.seconds:.1f} s"


@SETTINGS
@given(rng=st.randoms(use_true_random=False))
def test_a_mutated_example_scenario_validates_or_gives_a_clean_error(rng: random.Random) -> None:
    with tempfile.TemporaryDirectory() as folder:
        args, description = fuzzing.file_case(rng, Path(folder))
        _check(fuzzing.answer(args), description)


@SETTINGS
@given(rng=st.randoms(use_true_random=False))
def test_mangled_set_vary_seed_and_out_arguments_give_a_clean_error(rng: random.Random) -> None:
    args, description = fuzzing.argument_case(rng)
    _check(fuzzing.answer(args), description)


def test_the_classifier_tells_failures_from_clean_answers() -> None:
    # the harness itself: what counts as clean must exclude what issue 11 reported
    clean = fuzzing.classify(2, "error x.yaml:3: workers.w.count: must be ≥ 1\n", None, 0.1)
    assert clean.kind == "line"
    assert fuzzing.classify(2, "error --set: seed: must be ≥ 0\n", None, 0.1).kind == "no-line"
    assert fuzzing.classify(0, "ok x.yaml: 1 producer(s)\n", None, 0.1).kind == "accepted"
    assert fuzzing.classify(1, "", ValueError("month must be in 1..12"), 0.1).kind == "traceback"
    assert fuzzing.classify(2, "error x.yaml:1: a\x1bb: unknown key\n", None, 0.1).kind == "traceback"
    assert fuzzing.classify(1, "error something went wrong\n", None, 0.1).kind == "traceback"
    assert fuzzing.classify(2, "Traceback (most recent call last):\n", None, 0.1).kind == "traceback"


def test_every_mutation_changes_some_example() -> None:
    # a mutator that never changes its input would make the fuzzing above weaker than it reads
    rng = random.Random(3)
    for name, mutator in fuzzing.MUTATORS.items():
        changed = sum(mutator(path.read_bytes(), rng) != path.read_bytes() for path in fuzzing.EXAMPLES for _ in range(5))
        assert changed > 0, name
