"""The routing graph (producers → queues → worker pools → queues) and its rules, on names alone.

The rules take plain names so the loader can also run them on a scenario whose fields failed
validation, reporting a misspelt queue together with, say, a bad worker count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from queuesim.errors import did_you_mean

from ._base import Violation

__all__ = ["did_you_mean", "routing_violations", "topological_order", "find_cycles"]


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
        if source is not None and target is not None and source in known and target in known:
            edges[source].append((pool, target))
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
    state: dict[str, int] = {}  # 1 = on the DFS path, 2 = finished
    path: list[str] = []  # queues on the DFS path
    via: list[str] = []  # via[i] is the pool that leads from path[i] to path[i + 1]
    cycles: list[tuple[str, list[str]]] = []

    def visit(queue: str) -> None:
        state[queue] = 1
        path.append(queue)
        for pool, target in edges[queue]:
            if state.get(target) == 1:
                start = path.index(target)
                hops = [*via[start:], pool]
                cycles.append((pool, [name for q, p in zip(path[start:], hops, strict=True) for name in (q, p)] + [target]))
            elif target not in state:
                via.append(pool)
                visit(target)
                via.pop()
        path.pop()
        state[queue] = 2

    for queue in queues:
        if queue not in state:
            visit(queue)
    return cycles


def topological_order(queues: Sequence[str], pools: Mapping[str, tuple[str | None, str | None]]) -> list[str]:
    """Order queues so every queue comes after all queues feeding it; ties keep file order.

    Parameters
    ----------
    queues : sequence of str
        Queue names, in file order.
    pools : mapping of pool name to (from, to)

    Returns
    -------
    list of str
        Every queue once. Queues on a cycle (which validation rejects) are appended in file order.
    """
    edges = _edges(queues, pools)
    indegree = {q: 0 for q in queues}
    for outgoing in edges.values():
        for _, target in outgoing:
            indegree[target] += 1
    order: list[str] = []
    ready = [q for q in queues if indegree[q] == 0]
    position = {q: i for i, q in enumerate(queues)}
    while ready:
        queue = min(ready, key=position.__getitem__)
        ready.remove(queue)
        order.append(queue)
        for _, target in edges[queue]:
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    return order + [q for q in queues if q not in set(order)]


def routing_violations(
    queues: Sequence[str],
    producers: Mapping[str, str | None],
    pools: Mapping[str, tuple[str | None, str | None]],
    check_unread: bool = True,
) -> list[Violation]:
    """Check that the routing names existing queues, reads every queue and has no cycle.

    Parameters
    ----------
    queues : sequence of str
        Queue names, in file order.
    producers : mapping of producer name to its ``to``
        None where the value is missing or not a name (already reported elsewhere).
    pools : mapping of pool name to (from, to)
        None where absent or not a name.
    check_unread : bool, default True
        Whether to report queues no pool reads; a caller that could not read every pool's
        ``from`` turns this off to avoid blaming the wrong queue.

    Returns
    -------
    list of (loc, message)
        Locations such as ``('workers', 'fulfil', 'from')``.
    """
    known = list(queues)
    found: list[Violation] = []
    for name, target in producers.items():
        if target is not None and target not in known:
            found.append((("producers", name, "to"), _unknown_queue(target, known)))
    for name, (source, target) in pools.items():
        if source is not None and source not in known:
            found.append((("workers", name, "from"), _unknown_queue(source, known)))
        if target is not None and target not in known:
            found.append((("workers", name, "to"), _unknown_queue(target, known)))
    if check_unread:
        read = {source for source, _ in pools.values()}
        for queue in known:
            if queue not in read:
                found.append((("queues", queue), f"no worker pool reads queue {queue!r}; add a pool with `from: {queue}`"))
    for pool, cycle in find_cycles(known, pools):
        shown = " → ".join(f"[{n}]" if i % 2 else n for i, n in enumerate(cycle))
        found.append(
            (("workers", pool, "to"), f"routing cycle {shown} ([pools] between queues): messages would circulate forever")
        )
    return found
