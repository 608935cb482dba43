"""Searches over a Model's state graph from one state: paths, hang cycles, hangs, drawings.

``explore`` answers "which outcomes, by which shortest schedules" for a
whole model; the functions here answer the questions a report then asks
about one state of it: the shortest path to a goal, a loop through a hang
that every actor of the hang takes part in, whether a state lies in a
hang at all, and the whole (small) state graph to draw.

Each is generic over ``Model``: what an action or a state means to the
caller (which actor took a step, whether a task is at a step boundary)
comes in as a function, so the explorer never imports the kernel. Each is
bounded by the number of states it may hold, and successors are tried in
their stable order, so every answer is deterministic.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from mempool_cli.explore.model import Model

__all__ = [
    "Edge",
    "StateGraph",
    "TooManyStates",
    "hang_at",
    "hang_cycle",
    "shortest_path",
    "state_graph",
]

S = TypeVar("S", bound=Hashable)


class TooManyStates(Exception):
    """More than ``limit`` states are reachable: the search gave up without an answer."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit:,} states are reachable")
        self.limit = limit


def shortest_path(
    model: Model[S],
    start: S,
    goal: Callable[[Any, S], bool],
    limit: int,
    allowed: Callable[[Any], bool] | None = None,
) -> tuple[list[int], S] | None:
    """The shortest schedule from ``start`` whose last step ``(action, next_state)`` meets ``goal``.

    Only actions ``allowed`` accepts are taken (all, by default); the goal
    is tested on every step taken, also on a step into a state seen before.
    Returns the successor indices and the state they end in, or None when
    no such step is reachable within ``limit`` states (``start`` counts).
    Only ``model.successors`` is called.

    >>> class Line:  # 0 -> 1 -> 2 -> 3 by "+1"; "+2" jumps two ahead
    ...     def successors(self, s):
    ...         return [("+1", s + 1, frozenset()), ("+2", s + 2, frozenset())] if s < 3 else []
    >>> shortest_path(Line(), 0, lambda _a, s: s == 3, limit=10)
    ([0, 1], 3)
    >>> shortest_path(Line(), 0, lambda _a, s: s == 3, 10, allowed=lambda a: a == "+1")
    ([0, 0, 0], 3)
    >>> shortest_path(Line(), 0, lambda _a, s: s == 3, limit=2) is None
    True
    """
    prev: dict[S, tuple[S, int] | None] = {start: None}
    queue = deque([start])
    while queue:
        s = queue.popleft()
        for k, (action, nxt, _) in enumerate(model.successors(s)):
            if allowed is not None and not allowed(action):
                continue
            if goal(action, nxt):
                path = [k]
                back = prev[s]
                while back is not None:
                    path.append(back[1])
                    back = prev[back[0]]
                path.reverse()
                return path, nxt
            if nxt not in prev:
                if len(prev) >= limit:
                    return None
                prev[nxt] = (s, k)
                queue.append(nxt)
    return None


def hang_cycle(
    model: Model[S], entry: S, limit: int, actor: Callable[[Any], Hashable]
) -> tuple[int, ...] | None:
    """A walk from ``entry`` back to it that takes a step of every actor that can move in the hang.

    ``actor`` names the actor that takes an action (for the kernel, the
    task; every act of the OOM reaper is one actor). ``entry`` must lie in
    a bottom strongly connected component (a hang): every state reachable
    from it is in the hang, so plain BFS stays inside. The walk goes
    greedily to the nearest step of an actor not yet seen, then home by a
    shortest path. Returns None if the hang holds more than ``limit``
    states or ``entry`` is not in one, and ``()`` for a hang with no step
    at all. Only ``model.successors`` is called.

    >>> class Ring:  # two actors: 0 cycles 0->1->2->0, actor 1 only moves at 2
    ...     def successors(self, s):
    ...         out = [((0, 0), (s + 1) % 3, frozenset())]
    ...         return out + ([((1, 0), 0, frozenset())] if s == 2 else [])
    >>> hang_cycle(Ring(), 0, 10, actor=lambda a: a[0])  # 0 -a-> 1 -a-> 2 -b-> 0
    (0, 0, 1)
    >>> hang_cycle(Ring(), 0, 2, actor=lambda a: a[0]) is None  # three states, limit two
    True
    """
    actors: set[Hashable] = set()
    seen = {entry}
    queue = deque([entry])
    while queue:
        s = queue.popleft()
        for action, nxt, _ in model.successors(s):
            actors.add(actor(action))
            if nxt not in seen:
                if len(seen) >= limit:
                    return None
                seen.add(nxt)
                queue.append(nxt)
    if not actors:
        return ()
    walk: list[int] = []
    state = entry
    todo = set(actors)
    while todo:
        found = shortest_path(model, state, lambda action, _nxt: actor(action) in todo, limit)
        if found is None:
            return None
        path, _ = found
        walk.extend(path)
        for i in path:  # mark every actor the path stepped
            action, state, _ = model.successors(state)[i]
            todo.discard(actor(action))
    if state != entry:
        home = shortest_path(model, state, lambda _action, nxt: nxt == entry, limit)
        if home is None:
            return None
        walk.extend(home[0])
    return tuple(walk)


def hang_at(model: Model[S], s: S, limit: int) -> tuple[str, int] | None:
    """``(outcome, size)`` of the hang ``s`` lies in, or None if some path from ``s`` leads out.

    ``s`` is in a hang when no final state is reachable from it and every
    state reachable from it can get back to it (the reachable set is then
    the bottom SCC). The outcome is ``model.classify_hang`` of its states.
    Raises TooManyStates when more than ``limit`` states are reachable.

    >>> class Drain:  # 0 <-> 1 forever, or 1 -> 2 -> 2 (a dead end that never finishes)
    ...     edges = {0: [1], 1: [0, 2], 2: [2]}
    ...     def successors(self, s): return [("go", t, frozenset()) for t in self.edges[s]]
    ...     def is_final(self, s): return False
    ...     def classify_hang(self, states): return f"deadlock of {sorted(states)}"
    >>> hang_at(Drain(), 0, 10) is None, hang_at(Drain(), 2, 10)
    (True, ('deadlock of [2]', 1))
    >>> hang_at(Drain(), 0, 2)
    Traceback (most recent call last):
    ...
    mempool_cli.explore.graph.TooManyStates: more than 2 states are reachable
    """
    seen: dict[S, int] = {s: 0}
    order = [s]
    preds: list[list[int]] = [[]]
    head = 0
    while head < len(order):
        if model.is_final(order[head]):
            return None
        for _, v, _ in model.successors(order[head]):
            j = seen.get(v)
            if j is None:
                if len(order) >= limit:
                    raise TooManyStates(limit)
                j = seen[v] = len(order)
                order.append(v)
                preds.append([])
            preds[j].append(head)
        head += 1
    back = {0}
    stack = [0]
    while stack:
        for i in preds[stack.pop()]:
            if i not in back:
                back.add(i)
                stack.append(i)
    if len(back) != len(order):
        return None
    return model.classify_hang(order), len(order)


class Edge(NamedTuple):
    """One transition of a ``StateGraph``: the ``nth`` successor of state ``source``."""

    source: int
    target: int
    nth: int
    action: Any
    labels: frozenset[str]


@dataclass(frozen=True, slots=True)
class StateGraph:
    """Every reachable state, numbered in BFS order from 0 (the initial state), and every edge.

    Edges come state by state in that order, each state's in successor order.
    """

    states: tuple[Any, ...]
    edges: tuple[Edge, ...]


def state_graph(model: Model[S], limit: int) -> StateGraph:
    """The whole state graph of ``model`` by BFS; raises TooManyStates past ``limit`` states.

    >>> class Counter:  # 0 -> 1 -> 2 -> 0, and 1 -> 1
    ...     def initial(self): return 0
    ...     def successors(self, s):
    ...         stay = [("stay", 1, frozenset())] if s == 1 else []
    ...         return [("inc", (s + 1) % 3, frozenset()), *stay]
    >>> g = state_graph(Counter(), 10)
    >>> g.states, [(e.source, e.target, e.nth, e.action) for e in g.edges]
    ((0, 1, 2), [(0, 1, 0, 'inc'), (1, 2, 0, 'inc'), (1, 1, 1, 'stay'), (2, 0, 0, 'inc')])
    >>> state_graph(Counter(), 2)
    Traceback (most recent call last):
    ...
    mempool_cli.explore.graph.TooManyStates: more than 2 states are reachable
    """
    first = model.initial()
    ids = {first: 0}
    states = [first]
    edges: list[Edge] = []
    queue = deque([first])
    while queue:
        s = queue.popleft()
        for k, (action, nxt, labels) in enumerate(model.successors(s)):
            j = ids.get(nxt)
            if j is None:
                if len(states) >= limit:
                    raise TooManyStates(limit)
                j = ids[nxt] = len(states)
                states.append(nxt)
                queue.append(nxt)
            edges.append(Edge(ids[s], j, k, action, labels))
    return StateGraph(tuple(states), tuple(edges))
