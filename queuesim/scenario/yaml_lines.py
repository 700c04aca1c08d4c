"""YAML text to plain data plus a map from every key path to the 1-based line it is written on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import Problem, ScenarioError
from ._base import Loc

__all__ = ["YamlDocument", "read_yaml", "line_of"]

_MERGE_TAG = "tag:yaml.org,2002:merge"
_SKIP = object()  # a key we cannot place: complex, or rejected by the constructor


@dataclass
class YamlDocument:
    """Parsed YAML: the data, the line of each key path, and problems PyYAML tolerates but we do not."""

    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def _syntax_problem(source: str, error: yaml.YAMLError) -> Problem:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        what = error.problem or str(error)
        if error.context:
            # PyYAML reads "<context>, <problem>": "while parsing a flow node, expected the node content".
            context_line = error.context_mark.line + 1 if error.context_mark else None
            where = f" (line {context_line})" if context_line not in (None, line) else ""
            what = f"{error.context}{where}, {what}"
        return Problem(source, line, "", f"invalid YAML: {what}")
    return Problem(source, None, "", f"invalid YAML: {error}")


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
        On a YAML syntax error, at the line PyYAML reports.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(None)
        walker = _LineWalker(source)
        walker.walk(node, ())
        # Construct after walking: SafeLoader flattens merge keys in place while constructing.
        data = loader.construct_document(node)
    except yaml.YAMLError as error:
        raise ScenarioError([_syntax_problem(source, error)]) from None
    finally:
        loader.dispose()
    return YamlDocument(data, walker.lines, walker.problems)


class _LineWalker:
    def __init__(self, source: str):
        self.source = source
        self.lines: dict[Loc, int] = {}
        self.problems: list[Problem] = []
        self._constructor = yaml.SafeLoader("")
        self._on_path: set[int] = set()  # node ids being walked; YAML aliases can make cycles

    def _key(self, node: Node) -> Any:
        if not isinstance(node, ScalarNode):
            return _SKIP  # complex keys are rejected by the constructor or by validation
        try:
            return self._constructor.construct_object(node)
        except yaml.YAMLError:
            return _SKIP

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


def line_of(lines: dict[Loc, int], path: Loc) -> int | None:
    """Line of the deepest key on ``path`` that is written in the file, or None if not even the first is."""
    for end in range(len(path), 0, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None
