"""Wait-for graphs at a hang: who waits for what, and who could release it.

Nodes are typed (task, mutex, spinlock, pool, completion, memory); edges
go from a waiter to the resource it waits for, and from a resource to the
tasks that could release it. A cycle explains a hang; when there is none,
the resource with no way out does. This is the only module that imports
networkx.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx

from mempool_cli.kernel.model import (
    ALL,
    EXITED,
    FRAME,
    HANDLES,
    LOCK,
    MP_WAIT,
    PC,
    RSS,
    SKIP,
    STATUS,
    VICTIM,
    WAIT,
    KernelModel,
    State,
)

__all__ = ["WaitFor", "waitfor_graph"]


@dataclass(frozen=True, slots=True)
class WaitFor:
    graph: Any  # nx.DiGraph
    cycle: tuple[str, ...]  # node ids along the cycle that explains the hang, or ()
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: nodes, edges (in a stable order) and the cycle."""
        g = self.graph
        return {
            "nodes": [{"id": n, **g.nodes[n]} for n in sorted(g.nodes)],
            "edges": [
                {"from": u, "to": v, **g.edges[u, v]} for u, v in sorted(g.edges)
            ],
            "cycle": list(self.cycle),
            "explanation": self.explanation,
        }


def _task_id(name: str) -> str:
    return f"task:{name}"


def waitfor_graph(model: KernelModel, s: State) -> WaitFor:
    """Build the wait-for graph of state ``s`` and explain it.

    Edges: task -> mutex/spinlock it waits for -> owner; task -> pool it
    sleeps on -> tasks holding that pool's elements; task -> completion ->
    tasks that can still complete it; a task looping in the allocator ->
    memory -> who could free pages (an unexited OOM victim, holders of
    pages, tasks whose exit returns rss); reclaim blocked on a lock or a
    completion adds that edge too.
    """
    g = nx.DiGraph()
    names = model.task_names()
    tasks = s[6]
    alive = [not t[STATUS] & EXITED for t in tasks]

    def add_task(t: int) -> str:
        node = _task_id(names[t])
        status = tasks[t][STATUS]
        g.add_node(
            node,
            type="task",
            label=names[t],
            where=model.where(s, t),
            victim=bool(status & VICTIM),
        )
        return node

    def add_lock(lock: int) -> str:
        spec = model.locks[lock]
        node = f"{spec.kind}:{spec.name}"
        g.add_node(node, type=spec.kind, label=spec.name)
        owner = s[2][lock]
        if owner >= 0:
            g.add_edge(node, add_task(owner), type="held_by", label="held by")
        return node

    def add_completion(comp: int) -> str:
        spec = model.completions[comp]
        node = f"completion:{spec.name}"
        g.add_node(node, type="completion", label=spec.name)
        for t in range(len(tasks)):
            if alive[t] and _will_complete(model, s, t, comp):
                g.add_edge(node, add_task(t), type="completed_by", label="can complete")
        return node

    def add_pool(pool: int) -> str:
        spec = model.pools[pool]
        node = f"pool:{spec.name}"
        g.add_node(node, type="pool", label=spec.name, curr_nr=s[1][pool])
        for t in range(len(tasks)):
            if alive[t] and any(v == ("e", pool) for v in tasks[t][HANDLES]):
                g.add_edge(node, add_task(t), type="element_held_by", label="element held by")
        return node

    def add_memory() -> str:
        node = "memory"
        g.add_node(node, type="memory", label=f"memory ({s[0]} free, min {model.wmark_min})")
        for t in range(len(tasks)):
            if not alive[t]:
                continue
            status = tasks[t][STATUS]
            if status & VICTIM and not status & SKIP:
                g.add_edge(node, add_task(t), type="victim_must_exit", label="OOM victim must exit")
            elif any(isinstance(v, tuple) and v[0] == "p" for v in tasks[t][HANDLES]):
                g.add_edge(node, add_task(t), type="pages_held_by", label="pages held by")
            elif tasks[t][RSS]:
                g.add_edge(node, add_task(t), type="rss_on_exit", label="frees rss on exit")
        return node

    for t in range(len(tasks)):
        if not alive[t]:
            continue
        me = add_task(t)
        frame = tasks[t][FRAME]
        if frame is None:
            continue
        kind = frame[0]
        if kind in ("lock", "spin"):
            g.add_edge(me, add_lock(frame[1]), type="waits_for", label="waits for")
        elif kind == "comp":
            g.add_edge(me, add_completion(frame[1]), type="waits_for", label="waits for")
        elif kind == "alloc":
            _alloc_edges(model, s, g, me, frame[1], add_lock, add_completion, add_memory)
        elif kind == "mempool":
            inner = frame[5]
            if inner is not None and inner[2] in (LOCK, WAIT):
                _alloc_edges(model, s, g, me, inner, add_lock, add_completion, add_memory)
            else:
                label = "sleeps on" if frame[4] == MP_WAIT else "retries"
                g.add_edge(me, add_pool(frame[1]), type="waits_for", label=label)

    cycle = _shortest_cycle(g)
    return WaitFor(graph=g, cycle=cycle, explanation=_explain(g, cycle))


def _alloc_edges(model, s, g, me, frame, add_lock, add_completion, add_memory) -> None:  # type: ignore[no-untyped-def]
    stage = frame[2]
    if stage == LOCK:
        lock = model.entry_locks[frame[3]][frame[4]]
        g.add_edge(me, add_lock(lock), type="reclaim_waits_for", label="reclaim waits for")
    elif stage == WAIT:
        comp = model.entry_waits[frame[3]]
        g.add_edge(me, add_completion(comp), type="reclaim_waits_for", label="reclaim waits for")
    else:
        g.add_edge(me, add_memory(), type="needs_memory", label="loops for a page")


def _will_complete(model: KernelModel, s: State, t: int, comp: int) -> bool:
    """Whether task ``t`` can still reach a complete/complete_all of ``comp``."""
    if s[3][comp] == ALL:
        return False
    program = model.info[t].program.instrs
    start = s[6][t][PC]
    # A back edge ahead of pc makes its whole loop reachable again.
    for ins in program[start:]:
        if ins.op == "jump":
            start = min(start, ins.arg)
    return any(ins.op in ("complete", "complete_all") and ins.arg == comp for ins in program[start:])


def _shortest_cycle(g: Any) -> tuple[str, ...]:
    """The shortest cycle through a task (ties: smallest node names), starting at a task, or ()."""
    best: list[str] | None = None
    for start in sorted(n for n in g.nodes if g.nodes[n]["type"] == "task"):
        for succ in sorted(g.successors(start)):
            try:
                back = nx.shortest_path(g, succ, start)
            except nx.NetworkXNoPath:
                continue
            candidate = [start, *back[:-1]]
            if best is None or (len(candidate), candidate) < (len(best), best):
                best = candidate
    return tuple(best) if best else ()


def _explain(g: Any, cycle: tuple[str, ...]) -> str:
    """Say in words why nothing can move: the cycle, or the edge with no way out."""
    if cycle:
        parts = []
        ring = [*cycle, cycle[0]]
        for u, v in zip(ring, ring[1:], strict=False):
            template = _SENTENCE[g.edges[u, v]["type"]]
            parts.append(template.format(u=_label(g, u), v=_label(g, v, bare=True)))
        return "; ".join(parts)
    dead_ends = []
    for node in sorted(g.nodes):
        kind = g.nodes[node]["type"]
        if kind == "task" or g.out_degree(node):
            continue
        waiters = sorted(_label(g, u) for u in g.predecessors(node))
        if not waiters:
            continue
        if kind == "memory":
            why = "no reclaimable pages and nothing that could free memory"
        elif kind == "pool":
            why = "empty, and no live task holds one of its elements"
        elif kind == "completion":
            why = "no live task will complete it"
        else:
            why = "held by nobody who can release it"
        dead_ends.append(f"{', '.join(waiters)} wait on {_label(g, node)}: {why}")
    return "; ".join(dead_ends)


_SENTENCE = {
    "waits_for": "{u} waits for {v}",
    "held_by": "{u} is held by {v}",
    "needs_memory": "{u} loops for a page: {v}",
    "victim_must_exit": "{u} grows only when OOM victim {v} exits",
    "pages_held_by": "{u} grows when {v} frees its pages",
    "rss_on_exit": "{u} grows when {v} exits",
    "element_held_by": "{u} gets an element back only from {v}",
    "completed_by": "{u} can be completed only by {v}",
    "reclaim_waits_for": "{u}'s direct reclaim waits for {v}",
}


def _label(g: Any, node: str, bare: bool = False) -> str:
    data = g.nodes[node]
    if data["type"] == "task":
        return data["label"] + (" (OOM victim)" if data.get("victim") and not bare else "")
    if data["type"] == "memory":
        return data["label"]
    return f"{data['type']} {data['label']}"
