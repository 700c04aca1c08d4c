"""Turn pydantic validation errors into Problems: the dotted field as the user wrote it, its line and a plain message."""

from __future__ import annotations

import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from ..errors import Problem
from ._base import Loc
from .overrides import OVERRIDE_SOURCE
from .routing import did_you_mean
from .yaml_lines import line_of

__all__ = ["validation_problems", "located_problem"]

_MISSING = object()


@dataclass
class _Resolved:
    """Where a pydantic ``loc`` points, in the user's terms."""

    path: list[str | int]
    #: Model owning the last path segment (for unknown keys: the model that rejected it).
    owner: type[BaseModel] | None = None
    #: The union the owner was picked from, and the key that picked it (``broker``, ``dist``).
    union: tuple[type[BaseModel], ...] = ()
    discriminator: str | None = None
    #: The declared type at the end of the path, unwrapped.
    target: Any = None
    #: The error is about a mapping key (a name), not its value.
    is_key: bool = False


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional; a union of several models becomes a tuple of them."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
            flat: list[Any] = []
            for member in members:
                inner = _unwrap(member)
                flat.extend(inner if isinstance(inner, tuple) else [inner])
            return tuple(flat)
        else:
            return tp


def _tags(model: type[BaseModel]) -> dict[str, str]:
    """Single-valued Literal fields of a model: discriminator key → tag value."""
    found = {}
    for name, info in model.model_fields.items():
        args = get_args(info.annotation) if get_origin(info.annotation) is Literal else ()
        if len(args) == 1:
            found[info.alias or name] = args[0]
    return found


def _field(model: type[BaseModel], key: str | int) -> FieldInfo | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _keys(model: type[BaseModel]) -> list[str]:
    """The keys a user may write: aliases where set (``from``, not ``from_``)."""
    return [info.alias or name for name, info in model.model_fields.items()]


def _internal(segment: str | int) -> bool:
    # pydantic adds segments such as 'function-after[_check(), SqsQueue]' that are not user keys.
    return isinstance(segment, str) and ("[" in segment or segment.startswith("function-"))


def _resolve(root: type[BaseModel], loc: Sequence[str | int]) -> _Resolved:
    """Walk ``loc`` through the schema, dropping union tags and pydantic-internal segments."""
    resolved = _Resolved(path=[])
    tp: Any = root
    union: tuple[type[BaseModel], ...] = ()
    discriminator: str | None = None
    for segment in loc:
        if segment == "[key]":
            resolved.is_key = True
            continue
        current = _unwrap(tp)
        if isinstance(current, tuple):
            chosen = [(m, k) for m in current if isinstance(m, type) and issubclass(m, BaseModel) for k, v in _tags(m).items() if v == segment]
            if chosen:
                tp, (union, discriminator) = chosen[0][0], (current, chosen[0][1])
                continue
            current = None  # not a tag: the input never reached a member (e.g. a bare-duration shorthand)
        if isinstance(current, type) and issubclass(current, BaseModel):
            resolved.path.append(segment)
            resolved.owner, resolved.union, resolved.discriminator = current, union, discriminator
            union, discriminator = (), None
            info = _field(current, segment)
            tp = info.annotation if info is not None else None
        elif get_origin(current) in (dict, Mapping):
            resolved.path.append(segment)
            tp = get_args(current)[1]
        elif get_origin(current) in (list, tuple) and isinstance(segment, int):
            resolved.path.append(segment)
            tp = get_args(current)[0]
        elif not _internal(segment):
            resolved.path.append(segment)
            tp = None
    resolved.target = _unwrap(tp)
    return resolved


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"{value!r}"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _quoted_choices(text: str) -> list[str]:
    return re.findall(r"'([^']*)'", text)


def _one_of(choices: Sequence[str], got: Any) -> str:
    message = f"must be one of: {', '.join(choices)}"
    if got is _MISSING:
        return message
    return f"{message} (got {_describe(got)}{did_you_mean(str(got), choices).replace(' (', '; ').rstrip(')')})"


def _union_tags(target: Any, key: str) -> list[str]:
    members = target if isinstance(target, tuple) else ()
    return [tag for m in members if isinstance(m, type) and issubclass(m, BaseModel) for k, tag in _tags(m).items() if k == key]


def _unknown_key(resolved: _Resolved, key: str | int) -> str:
    owner = resolved.owner
    if owner is None:
        return f"unknown key {key!r}"
    if resolved.union and resolved.discriminator:
        # A key valid for another member of the union: say which kinds have it.
        having = [_tags(m)[resolved.discriminator] for m in resolved.union if m is not owner and _field(m, key) is not None]
        if having:
            this = _tags(owner)[resolved.discriminator]
            return f"unknown key {key!r} for {resolved.discriminator} {this}: {key} is {'/'.join(having)}-only"
    allowed = _keys(owner)
    hint = did_you_mean(str(key), allowed)
    return f"unknown key {key!r}{hint}" if hint else f"unknown key {key!r}; allowed keys: {', '.join(allowed)}"


def _friendly(error: Mapping[str, Any], resolved: _Resolved) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if resolved.is_key:
        if kind == "string_pattern_mismatch":
            return f"invalid name {value!r}: use letters, digits, '_' and '-' (no dots or spaces)"
        return f"invalid name {_describe(value)}: names must be strings"
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return _unknown_key(resolved, resolved.path[-1])
    if kind in ("literal_error", "enum"):
        return _one_of(_quoted_choices(ctx.get("expected", "")), value)
    if kind == "union_tag_invalid":
        return _one_of(_quoted_choices(ctx.get("expected_tags", "")), ctx.get("tag", value))
    if kind == "union_tag_not_found":
        key = _quoted_choices(ctx.get("discriminator", ""))
        return f"required: one of {', '.join(_union_tags(resolved.target, key[0] if key else ''))}"
    comparisons = {"greater_than_equal": ("ge", "≥"), "greater_than": ("gt", ">"), "less_than_equal": ("le", "≤"), "less_than": ("lt", "<")}
    if kind in comparisons:
        bound, symbol = comparisons[kind]
        return f"must be {symbol} {_number(ctx.get(bound))}"
    if kind in ("int_type", "int_parsing"):
        return f"must be an integer, got {_describe(value)}"
    if kind == "int_from_float":
        return f"must be a whole number, got {_describe(value)}"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number, got {_describe(value)}"
    if kind == "finite_number":
        return "must be a finite number"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, got {_describe(value)}"
    if kind == "string_type":
        return f"must be a string, got {_describe(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return f"must be a mapping (key: value), got {_describe(value)}"
    if kind in ("list_type", "tuple_type"):
        return f"must be a list, got {_describe(value)}"
    if kind == "too_short":
        wanted = ctx.get("min_length", 1)
        if isinstance(value, Mapping):
            return "must have at least one entry" if wanted == 1 else f"must have at least {wanted} entries"
        return "must not be empty" if wanted == 1 else f"must have at least {wanted} items"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')}, got {_describe(value)}"
    if kind == "invalid_key":
        return "keys must be strings"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    # Lower-case "Input should be ..." to read after "field: ", but leave acronyms ("URL ...") alone.
    return message if message[1:2].isupper() else message[:1].lower() + message[1:]


def _within_data(path: Sequence[str | int], data: Any) -> list[str | int]:
    """Cut ``path`` where the data turns scalar: past a bare ``8ms`` the rest is pydantic's expansion of it."""
    kept: list[str | int] = []
    node = data
    for segment in path:
        if node is _MISSING:
            kept.append(segment)
        elif isinstance(node, Mapping):
            kept.append(segment)
            node = node.get(segment, _MISSING)
        elif isinstance(node, list) and isinstance(segment, int) and 0 <= segment < len(node):
            kept.append(segment)
            node = node[segment]
        else:
            break
    return kept


def _exists(data: Any, path: Sequence[str | int]) -> bool:
    node = data
    for segment in path:
        if isinstance(node, Mapping):
            if segment not in node:
                return False
            node = node[segment]
        elif isinstance(node, list) and isinstance(segment, int) and 0 <= segment < len(node):
            node = node[segment]
        else:
            return False
    return True


def located_problem(
    path: Sequence[str | int],
    message: str,
    *,
    source: str,
    data: Any,
    lines: Mapping[Loc, int],
    overrides: Sequence[Loc] = (),
    original: Any = None,
) -> Problem:
    """Place a message on a field: a line in the file, or ``--set`` if an override put the value there.

    Parameters
    ----------
    path : sequence of str or int
        Field path in user keys (tags already removed).
    message : str
        What is wrong.
    source : str
        The file path as given, or ``<string>`` / ``<dict>``.
    data : object
        The data that was validated (after overrides).
    lines : mapping
        Key path → line, from :func:`~queuesim.scenario.yaml_lines.read_yaml`.
    overrides : sequence of key paths
        Paths written by ``--set`` overrides.
    original : object, optional
        The data before overrides, to tell keys the file has from keys an override created.

    Returns
    -------
    Problem
    """
    kept = tuple(_within_data(path, data))
    field = ".".join(str(s) for s in kept)
    for written in overrides:
        inside = kept[: len(written)] == written
        created_ancestor = written[: len(kept)] == kept and not _exists(original, kept)
        if inside or created_ancestor:
            return Problem(OVERRIDE_SOURCE, None, field, message)
    return Problem(source, line_of(lines, kept), field, message)


def validation_problems(
    error: ValidationError,
    root: type[BaseModel],
    *,
    source: str,
    data: Any,
    lines: Mapping[Loc, int],
    overrides: Sequence[Loc] = (),
    original: Any = None,
) -> list[Problem]:
    """Translate every error of a pydantic ValidationError into a Problem.

    Parameters
    ----------
    error : pydantic.ValidationError
        From validating ``data`` against ``root``.
    root : type of BaseModel
        The model validated, to map locations to fields and allowed keys.
    source, data, lines, overrides, original
        As for :func:`located_problem`.

    Returns
    -------
    list of Problem
        In pydantic's order.
    """
    problems = []
    for item in error.errors():
        resolved = _resolve(root, item["loc"])
        message = _friendly(item, resolved)
        path = list(resolved.path)
        if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            # Point at the tag key itself (queues.orders.broker), not the whole entry.
            path += _quoted_choices((item.get("ctx") or {}).get("discriminator", ""))[:1]
        problems.append(
            located_problem(path, message, source=source, data=data, lines=lines, overrides=overrides, original=original)
        )
    return problems
