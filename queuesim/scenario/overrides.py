"""``--set path.to.key=value`` overrides, applied to plain scenario data before validation."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import Problem, ScenarioError
from ._base import Loc
from .limits import MAX_DEPTH
from .yaml_lines import load_value

__all__ = ["OVERRIDE_SOURCE", "parse_override", "apply_overrides", "apply_overrides_collecting"]

#: The ``source`` of every problem caused by an override.
OVERRIDE_SOURCE = "--set"


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """Split ``'workers.fulfil.count=12'`` into a key path and a value.

    Parameters
    ----------
    text : str
        ``dotted.path=value``. The value is read as a YAML scalar or flow collection, so ``12`` is
        an int, ``5ms`` a string, ``{dist: constant, value: 5ms}`` a mapping and an empty value null.

    Returns
    -------
    (path, value)
        ``path`` is the tuple of dotted segments.

    Raises
    ------
    ValueError
        If there is no ``=``, a path segment is empty, the path is deeper than a scenario may
        nest, or the value is not valid YAML.
    """
    key, sep, raw = text.partition("=")
    if not sep:
        raise ValueError(f"expected path=value, like workers.fulfil.count=12, got {text!r}")
    path = tuple(part.strip() for part in key.split("."))
    if not all(path):
        raise ValueError(f"empty key in path {key.strip()!r}, in {text!r}")
    if len(path) > MAX_DEPTH:
        raise ValueError(f"the path has {len(path)} keys; a scenario nests at most {MAX_DEPTH} levels")
    try:
        value = load_value(raw)
    except ValueError as error:
        raise ValueError(f"cannot read value {_shown(raw.strip())} as YAML: {error}") from None
    return path, value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> Loc:
    """Set ``value`` at ``path`` inside ``data``, creating missing mappings; return the path as written in the data."""
    node: Any = data
    written: list[str | int] = []
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        where = ".".join(path[:depth]) or "the scenario"
        if isinstance(node, list):
            # isascii: '²'.isdigit() is true, and int('²') fails
            if not (part.isascii() and part.isdigit() and int(part) < len(node)):
                raise ValueError(f"{where} is a list of {len(node)}; {part!r} is not an index into it")
            position = int(part)
            written.append(position)
            if last:
                node[position] = value
                continue
            child = node[position]
            if child is None:  # null: the override creates the mapping
                child = node[position] = {}
        elif isinstance(node, dict):
            written.append(part)
            if last:
                node[part] = value
                continue
            child = node.get(part)
            if child is None:  # missing or null: the override creates the mapping
                child = node[part] = {}
        else:
            raise ValueError(f"{where} is {_shown(node)}, not a mapping, so it has no key {part!r}")
        node = child
    return tuple(written)


def apply_overrides_collecting(data: Mapping[str, Any], overrides: Sequence[str]) -> tuple[dict[str, Any], list[Loc], list[Problem]]:
    """Apply overrides to a deep copy of ``data``, collecting problems instead of raising.

    Parameters
    ----------
    data : mapping
        Scenario data as loaded from YAML; not modified.
    overrides : sequence of str
        ``path=value`` strings, applied in order (a later one wins).

    Returns
    -------
    (data, paths, problems)
        The new data, the path each applied override wrote, and one problem per override that
        could not be applied (source ``--set``, no line).
    """
    result = copy.deepcopy(dict(data))
    paths: list[Loc] = []
    problems: list[Problem] = []
    for text in overrides:
        try:
            path, value = parse_override(text)
            paths.append(_set(result, path, value))
        except ValueError as error:
            field = text.partition("=")[0].strip() if "=" in text else ""
            problems.append(Problem(OVERRIDE_SOURCE, None, field, str(error)))
    return result, paths, problems


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a deep copy of ``data`` with ``path=value`` overrides applied.

    Parameters
    ----------
    data : mapping
        Scenario data as loaded from YAML; not modified.
    overrides : sequence of str
        For example ``['workers.fulfil.count=12', 'workers.fulfil.service={dist: constant, value: 5ms}']``.
        A path into a mapping that does not exist yet is created; whether the result is a valid
        scenario is for validation to say.

    Returns
    -------
    dict
        The overridden data.

    Raises
    ------
    ScenarioError
        Listing every override that is malformed or cannot be applied.
    """
    result, _, problems = apply_overrides_collecting(data, overrides)
    if problems:
        raise ScenarioError(problems)
    return result
