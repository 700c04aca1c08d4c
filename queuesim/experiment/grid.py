"""Sweep grids: axes from ``--vary`` and the ``sweep:`` section, and the validated scenario of every point.

Every point is built and validated before anything runs, so a bad value stops the sweep with a
located error instead of failing on a worker halfway through.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from queuesim.errors import Problem, ScenarioError
from queuesim.scenario import Scenario
from queuesim.scenario.limits import MAX_POINTS
from queuesim.scenario.problems import validation_problems
from queuesim.scenario.study import Axis, axis_value_problems, parse_axis, path_problem, scenario_data, set_path

__all__ = ["VARY_SOURCE", "Seeds", "Point", "parse_vary", "sweep_axes", "make_points", "point_seed"]

#: The ``source`` of problems in ``--vary`` arguments (and ``vary=`` in Python).
VARY_SOURCE = "--vary"
#: The ``source`` of problems that only a combination of swept values has.
GRID_SOURCE = "sweep"

#: ``common``: every point runs with the scenario's seed; ``independent``: a seed per point.
Seeds = Literal["common", "independent"]


@dataclass(frozen=True)
class Point:
    """One point of a sweep grid.

    Attributes
    ----------
    index : int
        Position in the grid (first axis slowest); the ``point`` column of the table.
    values : dict
        Varied path → table value (numbers in summary units: seconds, per second).
    labels : dict
        Varied path → readable value (``250ms``).
    seed : int
        The seed the point runs with: derived from the point, never from where it runs.
    """

    index: int
    values: dict[str, Any]
    labels: dict[str, str]
    seed: int

    def describe(self) -> str:
        """``workers.fulfil.count=4, producers.web.rate=200/s``."""
        return ", ".join(f"{path}={label}" for path, label in self.labels.items())


def parse_vary(specs: Sequence[str], scenario: Scenario, source: str = VARY_SOURCE) -> list[Axis]:
    """Read ``path=values`` arguments into axes checked against the scenario.

    Parameters
    ----------
    specs : sequence of str
        ``'workers.fulfil.count=4..16'``, ``'producers.web.rate=200/s..2000/s:10'``,
        ``'queues.orders.broker=redis,sqs'``.
    scenario : Scenario
        Paths must exist in it and every value must be valid in it.
    source : str, default '--vary'
        Where problems say the specs came from.

    Returns
    -------
    list of Axis

    Raises
    ------
    ScenarioError
        Listing every malformed spec, unknown path (with did-you-mean), empty range and value the
        scenario refuses (a wrong unit), before anything runs.
    """
    data = scenario.to_dict()
    axes: list[Axis] = []
    problems: list[Problem] = []
    for text in specs:
        path, sep, spec = text.partition("=")
        path = path.strip()
        if not sep or not path:
            problems.append(Problem(source, None, "", f"expected path=values, like workers.fulfil.count=4..16, got {text!r}"))
            continue
        if any(a.path == path for a in axes):
            problems.append(Problem(source, None, path, "varied twice; give all its values in one --vary"))
            continue
        where = path_problem(data, path)
        if where is not None:
            problems.append(Problem(source, None, path, where))
            continue
        try:
            axes.append(parse_axis(path, spec))
        except ValueError as error:
            problems.append(Problem(source, None, path, str(error)))
    for axis in axes:  # the base scenario is valid, so each axis can be checked whatever the others' problems
        problems += [Problem(source, None, axis.path, message) for message in axis_value_problems(scenario, axis)]
    if problems:
        raise ScenarioError(problems)
    return axes


def sweep_axes(scenario: Scenario, vary: Sequence[str] | None = None) -> list[Axis]:
    """The axes of a sweep: the scenario's ``sweep:`` section, with ``vary`` specs replacing or adding paths.

    Raises
    ------
    ScenarioError
        If a spec is bad, or there is nothing to vary.
    """
    axes = scenario.sweep.axes() if scenario.sweep is not None else []
    extra = parse_vary(list(vary or ()), scenario)
    replaced = {a.path for a in extra}
    axes = [a for a in axes if a.path not in replaced] + extra
    if not axes:
        raise ScenarioError([Problem(VARY_SOURCE, None, "", "nothing to vary: add a `sweep:` section or --vary path=values")])
    points = math.prod(len(axis) for axis in axes)
    if points > MAX_POINTS:  # before make_points builds and validates every one
        raise ScenarioError([Problem(VARY_SOURCE, None, "", f"the grid has {points:,} points; a sweep runs at most {MAX_POINTS:,}")])
    return axes


def point_seed(seed: int, settings: dict[str, Any]) -> int:
    """A seed for one point, derived from the scenario seed and the point's settings only.

    Keyed by the values (not the position in the grid), so adding a value to an axis leaves the
    seeds of the other points unchanged.
    """
    key = json.dumps(settings, sort_keys=True, default=str).encode()
    digest = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")
    return int(np.random.SeedSequence(seed, spawn_key=(digest,)).generate_state(1, dtype=np.uint32)[0])


def make_points(scenario: Scenario, axes: Sequence[Axis], seeds: Seeds = "common") -> list[tuple[Point, Scenario]]:
    """Every point of the grid (first axis slowest) with its validated scenario.

    Point scenarios have no ``sweep`` section; with ``seeds='independent'`` their ``seed`` is
    :func:`point_seed` (unless ``seed`` itself is swept).

    Raises
    ------
    ScenarioError
        If a combination of values is invalid (each value alone was checked by the axis).
    """
    base = scenario_data(scenario)
    out: list[tuple[Point, Scenario]] = []
    problems: list[Problem] = []
    for index, picks in enumerate(itertools.product(*(range(len(a)) for a in axes))):
        data = copy.deepcopy(base)
        settings = {}
        for axis, i in zip(axes, picks, strict=True):
            set_path(data, axis.path, axis.settings[i])
            settings[axis.path] = axis.settings[i]
        if seeds == "independent" and "seed" not in settings:
            data["seed"] = point_seed(scenario.seed, settings)
        point = Point(
            index=index,
            values={a.path: a.values[i] for a, i in zip(axes, picks, strict=True)},
            labels={a.path: a.labels[i] for a, i in zip(axes, picks, strict=True)},
            seed=int(data.get("seed", scenario.seed)),
        )
        try:
            out.append((point, Scenario.model_validate(data)))
        except ValidationError as error:
            for p in validation_problems(error, Scenario, source=GRID_SOURCE, data=data, lines={}):
                problems.append(Problem(GRID_SOURCE, None, p.field, f"at {point.describe()}: {p.message}"))
            if len(problems) >= 10:
                break
    if problems:
        raise ScenarioError(problems)
    return out
