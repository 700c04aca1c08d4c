"""The routing graph (producers → queues → worker pools → queues) and its rules, on names alone.

The rules take plain names so the loader can also run them on a scenario whose fields failed
validation, reporting a misspelt queue together with, say, a bad worker count.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence

from ._base import Violation

__all__ = ["did_you_mean", "routing_violations", "topological_order", "find_cycles"]


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""`` if none is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown_queue(name: str, queues: Sequence[str]) -> str:
    hint = did_you_mean(name, queues)
    if hint:
        return f"unknown queue {name!r}{hint}"
    return f"unknown queue {name!r}; queues are: {', '.join(queues)}"


def _edges(queues: Sequence[str], pools: Mapping[str, tuple[str | None, str | None]]) -> dict[str, list[tuple[str, str]]]:
    """Queue → [(pool, downstream queue)], keeping only edges between existing queues."""
    known = set(queues)
    edges: dict[str, list[tuple[str, str]]] = {q: [] for q in queues}
    for pool, (source, target) in pools.items():
        if source in known and target in known:
            edges[source].append((pool, target))  # type: ignore[index]
    return edges


def find_cycles(queues: Sequence[str], pools: Mapping[str, tuple[str | None, str | None]]) -> list[tuple[str, list[str]]]:
    """Find routing cycles.

    Parameters
    ----------
    queues : sequence of str
        Queue names, in file order.
    pools : mapping of pool name to (from, to)
        ``to`` is None for a pool that publishes nothing.

    Returns
    -------
    list of (pool, cycle)
        One entry per back edge: the pool whose ``to`` closes the cycle, and the cycle written as
        alternating queue and pool names starting and ending at the same queue.
    """
    edges = _edges(queues, pools)
    state: dict[str, int] = {}  # 1 = on the DFS stack, 2 = finished
    stack: list[tuple[str, str | None]] = []  # (queue, pool that led here)
    cycles: list[tuple[str, list[str]]] = []

    def visit(queue: str) -> None:
        state[queue] = 1
        for pool, target in edges[queue]:
            if state.get(target) == 1:
                start = next(i for i, (q, _) in enumerate(stack) if q == target) if target != queue else len(stack)
                walk = [*stack[start:], (queue, None)] if target != queue else [(queue, None)]
                names: list[str] = []
                for q, _ in walk:
                    names.append(q)
                names_with_pools: list[str] = []
                for i, q in enumerate(names):
                    names_with_pools.append(q)
                    via = walk[i + 1][1] if i + 1 < len(walk) else pool
                    names_with_pools.append(f"({via})")
                cycles.append((pool, [*names_with_pools, target]))
            elif target not in state:
                stack.append((queue, None))
                stack[-1] = (queue, stack[-1][1])
                stack_entry_pool = pool
                stack.append((target, stack_entry_pool))
                stack.pop()
                stack.pop()
                stack.append((queue, _incoming.get(queue)))
                _incoming[target] = pool
                visit(target)
                stack.pop()
        state[queue] = 2

    _incoming: dict[str, str | None] = {}
    for queue in queues:
        if queue not in state:
            _incoming[queue] = None
            visit(queue)
    return cycles
