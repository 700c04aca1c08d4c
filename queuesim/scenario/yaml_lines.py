"""YAML text to plain data plus a map from every key path to the 1-based line it is written on, within bounded time and memory."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import Problem, ScenarioError
from ._base import Loc
from .limits import MAX_DEPTH, MAX_NODES

__all__ = ["YamlDocument", "read_yaml", "load_value", "line_of"]

_MERGE_TAG = "tag:yaml.org,2002:merge"
_SKIP = object()  # a key we cannot place: complex, unhashable, or rejected by the constructor
_CORE = "tag:yaml.org,2002:"
# Types no scenario field takes; refusing them keeps every loaded value JSON-like (str, number, bool,
# null, list, mapping), so nothing downstream meets a date, bytes or a set.
_REFUSED_TAGS = ("timestamp", "binary", "set", "omap", "pairs")


def _tag(tag: str | None) -> str:
    return "!!" + tag.removeprefix(_CORE) if tag and tag.startswith(_CORE) else str(tag)


def _refuse(loader: yaml.SafeLoader, node: Node) -> Any:
    raise ConstructorError(None, None, f"the tag {_tag(node.tag)} is not used in scenarios; write a plain value", node.start_mark)


class _Loader(yaml.SafeLoader):
    """The safe loader without timestamps (``2001-12-14`` is text), with a nesting limit and located constructor errors."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        # The composer recurses once per level: stop before Python's recursion limit does.
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels of mappings and lists", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError):
            # PyYAML's scalar constructors raise plain Python errors: `!!float abc`, `!!bool maybe`.
            raise ConstructorError(None, None, f"cannot read this value as {_tag(node.tag)}", node.start_mark) from None


# A date-like value is read as text, so `duration: 2001-13-45` is a duration error, not a calendar one.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _CORE + "timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _name in _REFUSED_TAGS:
    _Loader.add_constructor(_CORE + _name, _refuse)


@dataclass
class YamlDocument:
    """Parsed YAML: the data, the line of each key path, and problems PyYAML tolerates but we do not."""

    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


class _Unreadable(Exception):
    """A YAML error reduced to a message, the problem alone (without PyYAML's context) and a line."""

    def __init__(self, message: str, line: int | None, problem: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problem = problem or message
        self.line = line


def _located(error: yaml.YAMLError, text: str) -> _Unreadable:
    if isinstance(error, yaml.reader.ReaderError):
        # Raised for a control character anywhere in the text; PyYAML gives a character offset only.
        position = max(0, min(error.position, len(text)))
        return _Unreadable(
            f"the control character {error.character:#06x} is not allowed in YAML (write it as \"\\x{error.character:02x}\" in double quotes)",
            text.count("\n", 0, position) + 1,
        )
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        what = error.problem or "cannot be read"
        if error.context:
            # PyYAML reads "<context>, <problem>": "while parsing a flow node, expected the node content".
            context_line = error.context_mark.line + 1 if error.context_mark else None
            where = f" (line {context_line})" if context_line not in (None, line) else ""
            return _Unreadable(f"{error.context}{where}, {what}", line, what)
        return _Unreadable(what, line)
    return _Unreadable(str(error), None)


def _check_expansion(root: Node) -> None:
    """Refuse alias cycles and documents whose aliases expand past MAX_NODES ("billion laughs")."""
    sizes: dict[int, int] = {}

    def size(node: Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            if known < 0:
                raise ComposerError(None, None, "an alias refers to the mapping or list that contains it (a cycle)", node.start_mark)
            return known
        sizes[id(node)] = -1  # on the current path
        total = 1
        if isinstance(node, MappingNode):
            total += sum(size(key) + size(value) for key, value in node.value)
        elif isinstance(node, SequenceNode):
            total += sum(size(item) for item in node.value)
        if total > MAX_NODES:
            # The first node past the limit, in file order: its aliases are the ones to look at.
            raise ComposerError(None, None, f"aliases expand this to more than {MAX_NODES:,} values", node.start_mark)
        sizes[id(node)] = total
        return total

    size(root)  # depth ≤ MAX_DEPTH, so the recursion is shallow


def _compose(text: str) -> tuple[_Loader, Node | None]:
    """The node graph of one document, checked for depth and expansion; the caller disposes of the loader."""
    try:
        loader = _Loader(text)
    except yaml.YAMLError as error:  # the reader checks every character up front
        raise _located(error, text) from None
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_expansion(node)
    except yaml.YAMLError as error:
        loader.dispose()
        raise _located(error, text) from None
    return loader, node


def read_yaml(text: str, source: str) -> YamlDocument:
    """Parse one YAML document with the safe loader, recording where each key is.

    Parameters
    ----------
    text : str
        The YAML text.
    source : str
        Name used in problems (the file path as given).

    Returns
    -------
    YamlDocument
        ``data`` is None for an empty document. ``lines`` maps a key path such as
        ``('workers', 'fulfil', 'count')`` to the line of that key; list items map to the line
        of the item. ``problems`` lists duplicate keys.

    Raises
    ------
    ScenarioError
        On a YAML syntax error, a control character, a value its tag cannot read (``!!int abc``),
        a tag no scenario uses (``!!timestamp``), nesting deeper than 32 levels or aliases that
        expand to more than a million values, at the line PyYAML reports.
    """
    try:
        loader, node = _compose(text)
    except _Unreadable as error:
        raise ScenarioError([Problem(source, error.line, "", f"invalid YAML: {error.message}")]) from None
    if node is None:
        loader.dispose()
        return YamlDocument(None)
    try:
        walker = _LineWalker(source)
        walker.walk(node, ())
        # Construct after walking: SafeLoader flattens merge keys in place while constructing.
        data = loader.construct_document(node)
    except yaml.YAMLError as error:
        problem = _located(error, text)
        raise ScenarioError([Problem(source, problem.line, "", f"invalid YAML: {problem.message}")]) from None
    finally:
        loader.dispose()
    return YamlDocument(data, walker.lines, walker.problems)


def load_value(text: str) -> Any:
    """Read one YAML value, such as a ``--set`` or ``--vary`` value, under the limits a file has.

    Parameters
    ----------
    text : str
        ``12``, ``5ms``, ``{dist: constant, value: 5ms}``, ``[a, b]``; empty text is null.

    Returns
    -------
    object
        A str, int, float, bool, None, list or dict (dates stay text).

    Raises
    ------
    ValueError
        With a printable message, for anything :func:`read_yaml` refuses.
    """
    try:
        loader, node = _compose(text)
    except _Unreadable as error:
        raise ValueError(error.problem) from None
    try:
        return None if node is None else loader.construct_document(node)
    except yaml.YAMLError as error:
        raise ValueError(_located(error, text).problem) from None
    finally:
        loader.dispose()


class _LineWalker:
    def __init__(self, source: str):
        self.source = source
        self.lines: dict[Loc, int] = {}
        self.problems: list[Problem] = []
        self._constructor = _Loader("")
        self._on_path: set[int] = set()  # node ids being walked; YAML aliases can make cycles

    def _key(self, node: Node) -> Any:
        if not isinstance(node, ScalarNode):
            return _SKIP  # complex keys are rejected by the constructor or by validation
        try:
            key = self._constructor.construct_object(node)
        except yaml.YAMLError:
            return _SKIP
        # `!!map a: 1` makes a scalar key construct to an (unhashable) empty dict: the constructor reports it.
        return key if isinstance(key, Hashable) else _SKIP

    def _pairs(self, node: MappingNode, path: Loc, report: bool) -> dict[Any, tuple[Node, Node]]:
        """Effective key → (key node, value node): explicit keys win over merged ones, earlier merges over later."""
        explicit: dict[Any, tuple[Node, Node]] = {}
        merged: dict[Any, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for src in sources:
                    if isinstance(src, MappingNode) and id(src) not in self._on_path:
                        self._on_path.add(id(src))
                        for key, pair in self._pairs(src, path, report=False).items():
                            merged.setdefault(key, pair)
                        self._on_path.discard(id(src))
                continue
            key = self._key(key_node)
            if key is _SKIP:
                continue
            if key in explicit and report:
                first = explicit[key][0].start_mark.line + 1
                dotted = ".".join(str(k) for k in (*path, key))
                self.problems.append(
                    Problem(self.source, key_node.start_mark.line + 1, dotted, f"duplicate key {key!r} (first written on line {first})")
                )
            explicit[key] = (key_node, value_node)
        return {**merged, **explicit}

    def walk(self, node: Node, path: Loc) -> None:
        if id(node) in self._on_path:
            return
        self._on_path.add(id(node))
        if isinstance(node, MappingNode):
            for key, (key_node, value_node) in self._pairs(node, path, report=True).items():
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                self.walk(value_node, (*path, key))
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = item.start_mark.line + 1
                self.walk(item, (*path, index))
        self._on_path.discard(id(node))


def line_of(lines: Mapping[Loc, int], path: Loc) -> int | None:
    """Line of the deepest key on ``path`` that is written in the file, or None if not even the first is."""
    for end in range(len(path), 0, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None
