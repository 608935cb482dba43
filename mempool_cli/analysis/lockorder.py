"""lockdep's dependency graph over every explored execution, and its cycles.

``mpsim run --potential``: a second breadth-first pass over the states the
search visits (the same model, the same reductions, so the same states),
asking the model which lock orders each transition creates
(``KernelModel.lock_orders``, kernel/lockdep.py for the rules), plus the
orders kswapd's reclaim creates in any scenario. Each order keeps the
first transition BFS met it on, so its witness is a shortest schedule.
The search itself records nothing: a run without ``--potential`` does no
part of this.

A cycle of the graph is what lockdep would warn about ("possible circular
locking dependency"), whether or not the scenario can hang on it; only
the minimal cycles are kept (none whose nodes include another's).
"""

from __future__ import annotations

import math
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx

from mempool_cli.explore import path_to
from mempool_cli.kernel.lockdep import FS_RECLAIM, Node
from mempool_cli.kernel.model import KernelModel

__all__ = ["MAX_CYCLES", "LockOrder", "OrderGraph", "lock_order_graph"]

MAX_CYCLES = 32  # cycles reported at most, shortest first


@dataclass(frozen=True, slots=True)
class LockOrder:
    """One order ``held -> taken`` (node ids as the wait-for graph has them) and its witness.

    ``task`` and ``schedule`` (successor indices from the initial state, the
    last one the move that makes the order) are None for an order kswapd
    makes in any scenario; ``entry`` then names the reclaimable entry.
    ``line`` is the source line of the step the task was in.
    """

    held: str
    taken: str
    held_name: str
    taken_name: str
    task: str | None
    schedule: tuple[int, ...] | None
    line: int | None
    entry: str | None = None
    waits: bool = False  # taken is a completion: the task waits for it


@dataclass(frozen=True, slots=True)
class OrderGraph:
    """The orders found, in the order BFS met them, and whether every state was visited."""

    orders: tuple[LockOrder, ...]
    complete: bool
    declared: tuple[str, ...] = ()  # node ids in declaration order: locks, completions, fs_reclaim

    def cycles(self) -> list[list[LockOrder]]:
        """The minimal cycles, each as its orders from its first node, shortest first: a
        lock taken while held (lockdep's "possible recursive locking") is one, and a longer
        cycle is kept unless the nodes of a shorter one of two or more are among its own.

        >>> a = LockOrder("mutex:A", "mutex:B", "A", "B", "t", (0,), 3)
        >>> b = LockOrder("mutex:B", "mutex:A", "B", "A", "u", (1,), 9)
        >>> [[o.held for o in c] for c in OrderGraph((a, b), True).cycles()]
        [['mutex:A', 'mutex:B']]
        """
        g = nx.DiGraph()
        rank: dict[str, int] = {node: i for i, node in enumerate(self.declared)}
        for o in self.orders:
            for node in (o.held, o.taken):
                rank.setdefault(node, len(rank))
            if not g.has_edge(o.held, o.taken):
                g.add_edge(o.held, o.taken, order=o)
        found: list[list[str]] = []
        for cycle in nx.simple_cycles(g):
            start = min(range(len(cycle)), key=lambda i: rank[cycle[i]])
            found.append(cycle[start:] + cycle[:start])
        found.sort(key=lambda c: (len(c), [rank[n] for n in c]))
        minimal: list[list[str]] = []
        for cycle in found:
            nodes = set(cycle)
            # a lock taken twice (a self-loop) hides no cycle through other nodes
            if len(cycle) == 1 or not any(len(m) > 1 and set(m) <= nodes for m in minimal):
                minimal.append(cycle)
            if len(minimal) >= MAX_CYCLES:
                break
        return [
            [g.edges[c[i], c[(i + 1) % len(c)]]["order"] for i in range(len(c))] for c in minimal
        ]


def lock_order_graph(
    model: KernelModel,
    max_states: int | None = None,
    max_seconds: float | None = None,
    should_stop: Callable[[], bool] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> OrderGraph:
    """Walk every state of ``model`` breadth-first and collect lockdep's orders.

    Bounded like a search: at most ``max_states`` states and ``max_seconds``;
    a walk cut short says so (``complete`` false) and keeps what it found.
    """
    rules = model.lockdep
    limit = math.inf if max_states is None else max_states
    deadline = math.inf if max_seconds is None else clock() + max_seconds
    by_rep = model.representative_successors
    first = model.initial()
    start = model.representative(first) if by_rep is not None else first
    successors = by_rep if by_rep is not None else model.successors
    ids: dict[object, int] = {start: 0}
    states = [start]
    parent = array("i", [-1])
    via = array("I", [0])
    seen: dict[tuple[Node, Node], tuple[int, int, int]] = {}  # order -> (state, action, pc)
    complete = True
    head = 0
    while head < len(states):
        if head % 256 == 0 and (clock() >= deadline or (should_stop is not None and should_stop())):
            complete = False
            break
        s = states[head]
        for k, (action, nxt, _labels) in enumerate(successors(s)):
            for pair in model.lock_orders(s, action):
                if pair not in seen:
                    seen[pair] = (head, k, model.task_view(s, action[0]).pc)
            if nxt not in ids:
                if len(states) >= limit:
                    complete = False
                    continue
                ids[nxt] = len(states)
                states.append(nxt)
                parent.append(head)
                via.append(k)
        head += 1

    orders: list[LockOrder] = []
    for (held, taken), (sid, k, pc) in seen.items():
        schedule = (*path_to(parent, via, sid), k)
        t = _real_actor(model, first, schedule)
        ins = model.instr(t, pc) if pc < len(model.info[t].program.instrs) else None
        orders.append(
            LockOrder(
                held=rules.node_id(held),
                taken=rules.node_id(taken),
                held_name=rules.node_name(held),
                taken_name=rules.node_name(taken),
                task=model.info[t].name,
                schedule=schedule,
                line=ins.span.line if ins is not None and ins.span.line else None,
                waits=taken[0] == "completion",
            )
        )
    known = {(o.held, o.taken) for o in orders}
    for entry, before, after in rules.reclaim_orders():
        named = (rules.node_id(before), rules.node_id(after))
        if named in known:
            continue  # an execution shows it already, with a schedule
        known.add(named)
        spec = model.entries[entry]
        orders.append(
            LockOrder(
                held=named[0],
                taken=named[1],
                held_name=rules.node_name(before),
                taken_name=rules.node_name(after),
                task=None,
                schedule=None,
                line=spec.span.line or None,
                entry=spec.name or f"reclaimable[{entry}]",
                waits=after[0] == "completion",
            )
        )
    declared = (
        *(rules.node_id(("lock", i)) for i in range(len(model.locks))),
        *(rules.node_id(("completion", i)) for i in range(len(model.completions))),
        rules.node_id(FS_RECLAIM),
    )
    return OrderGraph(tuple(orders), complete, declared)


def _real_actor(model: KernelModel, first: object, schedule: tuple[int, ...]) -> int:
    """The real task that takes the schedule's last step (under symmetry the walk saw a
    representative, whose task ids are its own)."""
    state = first
    action = None
    for k in schedule:
        action, state, _ = model.successors(state)[k]  # type: ignore[arg-type]
    assert action is not None
    return int(action[0])
