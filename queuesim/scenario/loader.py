"""Load a scenario from a file, YAML text or a dict, apply ``--set`` overrides, and validate with file:line errors."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import Problem, ScenarioError
from ._base import SCENARIO_RULE, Loc
from .files import UnreadableFile, read_text
from .limits import MAX_SCENARIO_BYTES
from .load_shapes import SCENARIO_DIR
from .model import Scenario
from .overrides import apply_overrides, apply_overrides_collecting
from .problems import located_problem, validation_problems
from .routing import routing_violations
from .yaml_lines import read_yaml

__all__ = ["load_scenario", "parse_scenario", "scenario_from_dict", "with_overrides", "apply_overrides"]

_EXPECTED = "expected a mapping with duration, producers, queues and workers"


def _by_line(problems: list[Problem]) -> list[Problem]:
    # Problems without a line (--set, a missing top-level key) come last; ties keep discovery order.
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0))


def _name(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _routing_of_raw(data: Mapping[str, Any]) -> tuple[list[str], dict[str, str | None], dict[str, tuple[str | None, str | None]], bool]:
    """Best-effort routing names from unvalidated data; anything malformed becomes None."""
    queues = data.get("queues")
    producers = data.get("producers")
    workers = data.get("workers")
    queue_names = [q for q in queues if isinstance(q, str)] if isinstance(queues, Mapping) else []
    targets = {
        str(n): _name(p.get("to")) for n, p in (producers.items() if isinstance(producers, Mapping) else ()) if isinstance(p, Mapping)
    }
    pools = {
        str(n): (_name(w.get("from")), _name(w.get("to")))
        for n, w in (workers.items() if isinstance(workers, Mapping) else ())
        if isinstance(w, Mapping)
    }
    every_from_known = isinstance(workers, Mapping) and len(pools) == len(workers) and all(f is not None for f, _ in pools.values())
    return queue_names, targets, pools, every_from_known


def _validate(
    data: Any,
    *,
    source: str,
    lines: Mapping[Loc, int],
    overrides: Sequence[str],
    default_name: str | None,
    problems: list[Problem],
) -> Scenario:
    if data is None:
        raise ScenarioError([Problem(source, None, "", f"the scenario is empty; {_EXPECTED}")])
    if not isinstance(data, Mapping):
        # Text is named, not quoted: `validate /etc/shadow` must not print the file's first line.
        kind = "a list" if isinstance(data, list) else f"{type(data).__name__} {data!r}" if isinstance(data, (int, float)) else "text"
        raise ScenarioError([Problem(source, None, "", f"{_EXPECTED} at the top level, got {kind}")])
    original = data
    data, written, override_problems = apply_overrides_collecting(data, overrides)
    problems = [*problems, *override_problems]
    if default_name is not None:
        data.setdefault("name", default_name)
    place = {"source": source, "data": data, "lines": lines, "overrides": written, "original": original}
    try:
        # relative paths in the scenario (trace files) resolve against the scenario file's folder
        folder = os.path.dirname(os.path.abspath(source)) if os.path.exists(source) else os.getcwd()
        scenario = Scenario.model_validate(data, context={SCENARIO_DIR: folder})
    except ValidationError as error:
        found = validation_problems(error, Scenario, **place)
        if not any(e["type"] == SCENARIO_RULE for e in error.errors()):
            # Field errors stop pydantic before the scenario-wide rules; check routing on the raw names
            # so a misspelt queue is reported in the same run as, say, a bad count.
            queues, targets, pools, check_unread = _routing_of_raw(data)
            if queues:
                seen = {p.field for p in found}
                for path, message in routing_violations(queues, targets, pools, check_unread):
                    problem = located_problem(path, message, **place)
                    if problem.field not in seen:
                        found.append(problem)
        raise ScenarioError(_by_line([*problems, *found])) from None
    if problems:
        raise ScenarioError(_by_line(problems))
    return scenario


def parse_scenario(
    text: str,
    source: str = "<string>",
    overrides: Sequence[str] = (),
    *,
    default_name: str = "scenario",
) -> Scenario:
    """Parse and validate scenario YAML.

    Parameters
    ----------
    text : str
        The YAML document.
    source : str, default '<string>'
        Name used in problems, normally the file path as the user gave it.
    overrides : sequence of str, default ()
        ``path=value`` strings applied before validation, e.g. ``'workers.fulfil.count=12'``.
    default_name : str, default 'scenario'
        The scenario's ``name`` when the YAML has none.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        Listing every problem found, sorted by line, each with source, line and dotted field.
    """
    document = read_yaml(text, source)
    return _validate(
        document.data,
        source=source,
        lines=document.lines,
        overrides=overrides,
        default_name=default_name,
        problems=document.problems,
    )


def load_scenario(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Scenario:
    """Read, parse and validate a scenario file.

    Parameters
    ----------
    path : str or path-like
        The YAML file. Problems name it exactly as given.
    overrides : sequence of str, default ()
        ``path=value`` strings (the CLI's ``--set``), applied before validation.

    Returns
    -------
    Scenario
        Named after the file stem unless the file sets ``name``.

    Raises
    ------
    ScenarioError
        If the file cannot be read, is not valid YAML, or does not describe a valid scenario.
    """
    source = os.fspath(path)
    try:
        text = read_text(source, MAX_SCENARIO_BYTES, "scenario file")
    except UnreadableFile as error:
        raise ScenarioError([Problem(source, error.line, "", error.reason)]) from None
    return parse_scenario(text, source, overrides, default_name=Path(source).stem or "scenario")


def scenario_from_dict(data: Mapping[str, Any], source: str = "<dict>", overrides: Sequence[str] = ()) -> Scenario:
    """Validate scenario data that is already in Python (no line numbers).

    Parameters
    ----------
    data : mapping
        As YAML would load it; durations may be numbers of seconds or strings like ``'8ms'``.
        Not modified.
    source : str, default '<dict>'
        Name used in problems.
    overrides : sequence of str, default ()
        ``path=value`` strings applied before validation.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        Listing every problem found.
    """
    return _validate(data, source=source, lines={}, overrides=overrides, default_name=None, problems=[])


def with_overrides(scenario: Scenario, overrides: Sequence[str]) -> Scenario:
    """A new scenario with ``path=value`` overrides applied, e.g. one sweep point.

    Parameters
    ----------
    scenario : Scenario
        Left unchanged.
    overrides : sequence of str
        ``path=value`` strings, e.g. ``['producers.web.rate=1200/s']``.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        If an override is malformed or makes the scenario invalid.
    """
    return scenario_from_dict(scenario.to_dict(), source=scenario.name, overrides=overrides)
