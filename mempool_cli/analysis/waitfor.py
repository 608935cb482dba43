"""Wait-for graphs at a hang: who waits for what, and who could release it.

Nodes are typed: ``task``, ``mutex``, ``spinlock``, ``pool``,
``completion``, ``counter``, ``queue``, ``memory`` and ``oom_victim`` (a victim's mark, which
stops the OOM killer from choosing anyone else [5.2]). Edges go from a
waiter to what it waits for, and from a resource to the tasks that could
release it; each edge has a ``type`` (below) and a ``label``. A cycle
explains a hang (Java's "waiting to lock X, which is held by Y", chained);
when there is none, the resource with no way out does. This module and
``dot.py`` are the only networkx importers.

Edge types: ``waits_for`` (task -> lock, completion or pool),
``reclaim_waits_for`` (task -> what its direct reclaim needs),
``needs_memory`` (task looping in the allocator -> memory), ``held_by``
(lock -> owner), ``element_held_by`` (pool -> task holding an element),
``completed_by`` (completion -> task that can still complete it),
``rss_on_exit`` / ``pages_held_by`` (memory -> task whose exit or free
returns pages), ``oom_blocked_by`` (memory -> a victim's mark),
``cleared_by`` (the mark -> the victim, whose exit clears it), and
``interrupted_by`` (a task -> the interrupt handler running above it on its CPU;
revision 2), ``trylock_retry`` (a task going round a retry or a loop at a trylock -> the
lock, held by another task: a trylock retry loop; revision 2), ``changed_by``
(counter -> a task whose steps can still change it; a task in ``wait_event*``
``waits_for`` the counter; revision 2); and for queues (revision 2): a task asleep in
``dequeue`` or ``enqueue`` ``waits_for`` the queue; an empty queue is ``filled_by`` each
live task with an ``enqueue`` on it still ahead, a queue with items (full, or holding
elements a pool waits for) is ``drained_by`` each live task with a ``dequeue`` on it still
ahead, and a pool whose elements sit in a queue has an ``element_queued_in`` edge to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import networkx as nx

from mempool_cli import narration
from mempool_cli.kernel.model import KernelModel, State
from mempool_cli.kernel.program import COUNTER_OPS, JUMP, QUEUE_OPS
from mempool_cli.scenario.steps import COMPLETE_OPS

__all__ = ["WaitFor", "cycle_text", "waitfor_graph"]

NODE_TYPES = (
    "task",
    "mutex",
    "spinlock",
    "pool",
    "completion",
    "counter",
    "memory",
    "oom_victim",
    "queue",
)
# The steps that change a counter (a waiter on it waits for the tasks that still run one).
_CHANGES = frozenset(op for op in COUNTER_OPS if op.startswith("atomic_"))


@dataclass(frozen=True, slots=True)
class WaitFor:
    """The wait-for graph of one state, the cycle that explains it (or ``()``) and the words."""

    graph: Any  # nx.DiGraph; networkx has no type hints
    cycle: tuple[str, ...]  # node ids along the cycle, starting at a task; () if there is none
    explanation: str
    involved: tuple[str, ...]  # task names on the cycle, or on a path to a dead end
    dead_ends: tuple[str, ...] = ()  # without a cycle: what is waited for and cannot be released

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: nodes, edges (sorted, so output is stable), cycle, explanation.

        >>> from mempool_cli.scenario.kernels import PRESETS
        >>> from mempool_cli.scenario.spec import Lock, Memory, Scenario, Step, Task
        >>> sc = Scenario("x.yaml", "x", PRESETS["v4.5"], Memory(), (
        ...     Task("t", "t", None, (Step("mutex_lock", target="L"),
        ...                           Step("mutex_lock", target="L"))),),
        ...     locks=(Lock("L", "mutex"),))
        >>> m = KernelModel(sc)
        >>> s = m.initial()
        >>> for _ in range(2):
        ...     s = m.successors(s)[0][1]
        >>> d = waitfor_graph(m, s).to_dict()
        >>> d["cycle"]
        ['task:t', 'mutex:L']
        >>> [(e["from"], e["type"], e["to"]) for e in d["edges"]]
        [('mutex:L', 'held_by', 'task:t'), ('task:t', 'waits_for', 'mutex:L')]
        >>> d["explanation"]
        't waits for mutex L; L is held by t.'
        """
        g = self.graph
        return {
            "nodes": [{"id": n, **g.nodes[n]} for n in sorted(g.nodes)],
            "edges": [{"from": u, "to": v, **g.edges[u, v]} for u, v in sorted(g.edges)],
            "cycle": list(self.cycle),
            "explanation": self.explanation,
        }


def task_node(name: str) -> str:
    return f"task:{name}"


def waitfor_graph(model: KernelModel, s: State) -> WaitFor:
    """Build the wait-for graph of state ``s`` and explain it.

    A task sleeping on a mutex, spinlock or completion waits for it; a
    task in ``mempool_alloc`` waits for its pool, which gets an element
    back only from the tasks holding one [1.1]; a task looping in the
    page allocator waits for memory, which grows when a task frees pages
    or exits, and which the OOM killer will not make by killing anyone
    else while a live victim has no MMF_OOM_SKIP [5.2]. Reclaim blocked
    on a lock or completion waits for that instead.
    """
    g = nx.DiGraph()
    views = model.task_views(s)
    alive = [not v.exited for v in views]

    def add_task(t: int) -> str:
        node = task_node(views[t].name)
        g.add_node(
            node,
            type="task",
            label=views[t].name,
            where=narration.where(model, s, t),
            victim=views[t].victim,
        )
        host = model.cpu_host(t)
        if host is not None:  # revision 2: a handler, on the CPU of the task it interrupts
            g.nodes[node]["cpu_of"] = views[host].name
            g.nodes[node]["level"] = model.info[t].context
        return node

    def add_lock(lock: int) -> str:
        spec = model.locks[lock]
        node = f"{spec.kind}:{spec.name}"
        g.add_node(node, type=spec.kind, label=spec.name)
        if spec.kind == "rwsem":  # every holder, by mode (revision 2)
            mode = "write" if model.rwsem_writer(s, lock) is not None else "read"
            for holder in model.lock_holders(s, lock):
                g.add_edge(node, add_task(holder), type="held_by", label=f"held for {mode} by")
            return node
        owner = model.lock_owner(s, lock)
        if owner is not None:
            g.add_edge(node, add_task(owner), type="held_by", label="held by")
            levels = _irqs_on_for(model, s, owner)
            if levels:  # revision 2: a handler on the holder's CPU could fire
                g.edges[node, task_node(views[owner].name)]["irqs_on"] = levels
        return node

    def add_completion(comp: int) -> str:
        spec = model.completions[comp]
        node = f"completion:{spec.name}"
        g.add_node(node, type="completion", label=spec.name)
        for t in range(len(views)):
            if alive[t] and _will_complete(model, s, t, views[t].pc, comp):
                g.add_edge(node, add_task(t), type="completed_by", label="can be completed by")
        return node

    def add_counter(counter: int) -> str:
        spec = model.counters[counter]
        node = f"counter:{spec.name}"
        g.add_node(node, type="counter", label=spec.name, value=model.counter_value(s, counter))
        for t in range(len(views)):
            if alive[t] and _will_change(model, t, views[t].pc, counter):
                g.add_edge(node, add_task(t), type="changed_by", label="can be changed by")
        return node

    def add_queue(q: int) -> str:
        spec = model.queues[q]
        node = f"queue:{spec.name}"
        if node in g:
            return node
        items = model.queue_items(s, q)
        g.add_node(node, type="queue", label=spec.name, items=len(items), capacity=spec.capacity)
        # an empty queue needs a task to fill it; one with items, a task to drain it
        op, kind, label = (
            ("dequeue", "drained_by", "can be drained by")
            if items
            else ("enqueue", "filled_by", "can be filled by")
        )
        for t in range(len(views)):
            if alive[t] and _will_run(model, t, views[t].pc, op, q):
                g.add_edge(node, add_task(t), type=kind, label=label)
        return node

    def add_pool(pool: int) -> str:
        spec = model.pools[pool]
        node = f"pool:{spec.name}"
        g.add_node(
            node,
            type="pool",
            label=spec.name,
            curr_nr=model.curr_nr(s, pool),
            min_nr=spec.min_nr,
        )
        for t, view in enumerate(views):
            held = view.elements[pool]
            if alive[t] and held:
                g.add_edge(
                    node,
                    add_task(t),
                    type="element_held_by",
                    label="element held by" if held == 1 else f"{held} elements held by",
                    count=held,
                )
        for q in range(len(model.queues)):  # revision 2: elements handed to a queue
            queued = sum(item == ("e", pool) for item in model.queue_items(s, q))
            if queued:
                g.add_edge(
                    node,
                    add_queue(q),
                    type="element_queued_in",
                    label="element queued in" if queued == 1 else f"{queued} elements queued in",
                    count=queued,
                )
        return node

    def add_memory() -> str:
        node = "memory"
        if node in g:
            return node
        g.add_node(
            node,
            type="memory",
            label="memory",
            free=model.free_pages(s),
            min=model.wmark_min,
            reclaimable=model.reclaimable_pages(s),
        )
        for t, view in enumerate(views):
            if not alive[t]:
                continue
            if view.pages:
                g.add_edge(
                    node, add_task(t), type="pages_held_by", label=f"{view.pages} page(s) held by"
                )
            elif view.rss:
                g.add_edge(
                    node,
                    add_task(t),
                    type="rss_on_exit",
                    label=f"{view.rss} pages back when exits",
                )
            if view.victim and not view.oom_skip and model.scenario.oom.killer:
                flag = f"oom_victim:{view.name}"
                g.add_node(flag, type="oom_victim", label=f"{view.name} is an OOM victim")
                g.add_edge(node, flag, type="oom_blocked_by", label="OOM killer waits on")
                g.add_edge(flag, add_task(t), type="cleared_by", label="cleared when exits")
        return node

    for t, view in enumerate(views):
        if not alive[t]:
            continue
        me = add_task(t)
        by = model.interrupted_by(s, t)
        if by is not None:  # revision 2: it cannot run until the handler above it returns
            g.add_edge(
                me, add_task(by), type="interrupted_by", label="is interrupted on its CPU by"
            )
            continue
        wait = view.wait
        if wait is None:
            lock = _retried_trylock(model, s, t, view.pc)
            if lock is not None:
                g.add_edge(me, add_lock(lock), type="trylock_retry", label="retries trylock of")
            continue
        res = wait.resource
        if res is None:  # a page: the allocator loops until memory grows
            g.add_edge(me, add_memory(), type="needs_memory", label="loops for a page")
            continue
        kind = wait.kind
        edge = _RECLAIM_EDGE if kind.startswith("reclaim-") else _WAIT_EDGE
        if kind == "pool":
            label = "sleeps on" if wait.pool_sleep else "retries"
            g.add_edge(me, add_pool(res), type="waits_for", label=label)
        elif kind in ("completion", "reclaim-completion"):
            g.add_edge(me, add_completion(res), **edge)
        elif kind == "rwsem":
            # revision 2: the holders it waits for, and the waiter it is queued behind (a
            # reader behind a queued writer waits for that writer, not for the readers)
            holders, behind = model.rwsem_waits_for(s, t)
            if holders:
                g.add_edge(me, add_lock(res), **edge)
            if behind is not None:
                g.add_edge(me, add_task(behind), type="queued_behind", label="is queued behind")
        elif kind == "counter":
            g.add_edge(me, add_counter(res), **edge)
        elif kind == "queue":
            g.add_edge(me, add_queue(res), **edge)
        elif model.lock_owner(s, res) is not None:
            # Else the lock was released since the task went to sleep on it: the
            # unlock woke the task, which (or whose reclaim) takes the lock when it
            # next runs; it waits for nobody. A spinlock is spun on, not slept on.
            spins = kind == "spinlock"
            g.add_edge(me, add_lock(res), **(_SPIN_EDGE if spins else edge))

    cycle = _shortest_cycle(g)
    dead_ends: tuple[str, ...] = ()
    if cycle:
        explanation, involved = _cycle_words(g, cycle)
    else:
        explanation, involved = _dead_ends(model, g)
        dead_ends = tuple(node_title(g, n) for n in _sinks(g))
    return WaitFor(g, cycle, explanation, involved, dead_ends)


_WAIT_EDGE = {"type": "waits_for", "label": "waits for"}
_SPIN_EDGE = {"type": "waits_for", "label": "spins on"}
_RECLAIM_EDGE = {"type": "reclaim_waits_for", "label": "reclaim waits for"}


def _irqs_on_for(model: KernelModel, s: State, t: int) -> str:
    """Which handler levels could fire on task ``t``'s CPU as it stands (``interrupts``,
    ``softirqs``, or ``""``): those of the handlers that interrupt it (revision 2)."""
    levels = {model.info[h].context for h in model.handlers_of[t]}
    if not levels:
        return ""
    hard, soft = model.irqs_off(s, t)
    on = [
        word
        for level, word, off in (("irq", "interrupts", hard), ("softirq", "softirqs", hard or soft))
        if level in levels and not off
    ]
    return " and ".join(on)


def _retried_trylock(model: KernelModel, s: State, t: int, pc: int) -> int | None:
    """The lock of the trylock task ``t`` stands at, when it goes round to it again (a retry
    or a loop) and another task holds the lock; else None."""
    program = model.info[t].program
    if pc >= len(program.instrs) or pc not in program.spin_pcs:
        return None
    ins = program.instrs[pc]
    if not ins.op.endswith("_trylock"):
        return None
    owner = model.lock_owner(s, ins.arg)
    return ins.arg if owner is not None and owner != t else None


def _will_complete(model: KernelModel, s: State, t: int, pc: int, comp: int) -> bool:
    """Whether task ``t``, at ``pc``, can still reach a complete/complete_all of ``comp``."""
    if model.completed_all(s, comp):
        return False
    program = model.info[t].program.instrs
    start = pc
    # A back edge ahead of pc makes its whole loop reachable again.
    for ins in program[start:]:
        if ins.op == JUMP:
            start = min(start, ins.arg)
    return any(ins.op in COMPLETE_OPS and ins.arg == comp for ins in program[start:])


def _will_change(model: KernelModel, t: int, pc: int, counter: int) -> bool:
    """Whether task ``t``, at ``pc``, can still reach an atomic_* step on ``counter``."""
    program = model.info[t].program.instrs
    start = pc
    for ins in program[start:]:  # a back edge ahead of pc makes its loop reachable again
        if ins.op == JUMP:
            start = min(start, ins.arg)
    return any(ins.op in _CHANGES and ins.arg == counter for ins in program[start:])


def _will_run(model: KernelModel, t: int, pc: int, op: str, q: int) -> bool:
    """Whether task ``t``, at ``pc``, can still reach an ``op`` (enqueue, dequeue) on queue
    ``q``; a task asleep in one is at it."""
    program = model.info[t].program.instrs
    start = pc
    for ins in program[start:]:  # a back edge ahead of pc makes its loop reachable again
        if ins.op == JUMP:
            start = min(start, ins.arg)
    return any(ins.op == op and ins.op in QUEUE_OPS and ins.arg == q for ins in program[start:])


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


def cycle_text(g: Any, cycle: tuple[str, ...]) -> str:
    """The cycle as one line of nodes and edge labels, back to where it started.

    ``taskA -[waits for]-> mutex M -[held by]-> taskA`` for a task that
    takes a mutex it holds.
    """
    if not cycle:
        return ""
    ring = [*cycle, cycle[0]]
    out = [node_title(g, ring[0])]
    for u, v in pairwise(ring):
        out.append(f"-[{g.edges[u, v]['label']}]-> {node_title(g, v)}")
    return " ".join(out)


def node_title(g: Any, node: str) -> str:
    """``taskA``, ``mutex M``, ``pool pool0 (0/1)``, ``memory (4 free, min 4)``."""
    data = g.nodes[node]
    kind = data["type"]
    if kind == "task":
        return str(data["label"])
    if kind == "memory":
        return f"memory ({data['free']} free, min {data['min']})"
    if kind == "pool":
        return f"pool {data['label']}"
    if kind == "oom_victim":
        return f"OOM victim mark of {node.split(':', 1)[1]}"
    return f"{kind} {data['label']}"


def _clause(g: Any, u: str, v: str) -> str:
    """One edge in words."""
    edge = g.edges[u, v]
    kind = edge["type"]
    un, vn = g.nodes[u], g.nodes[v]
    if kind == "waits_for" and vn["type"] == "pool":
        verb = "sleeps in" if edge["label"] == "sleeps on" else "retries"
        return f"{un['label']} {verb} mempool_alloc({vn['label']})"
    if kind == "waits_for" and vn["type"] == "spinlock":
        return f"{un['label']} spins on {node_title(g, v)}"
    if kind == "waits_for":
        return f"{un['label']} waits for {node_title(g, v)}"
    if kind == "trylock_retry":
        return f"{un['label']} retries a trylock of {node_title(g, v)} in a loop, never sleeping"
    if kind == "reclaim_waits_for":
        return f"{un['label']}'s direct reclaim waits for {node_title(g, v)}"
    if kind == "needs_memory":
        return f"{un['label']} loops in the page allocator for a page ({un_free(g)})"
    if kind == "held_by":
        levels = edge.get("irqs_on")
        if levels:
            return f"{un['label']} is held by {vn['label']} with {levels} on"
        return f"{un['label']} is held by {vn['label']}"
    if kind == "interrupted_by":
        level = "hard irq" if vn.get("level") == "irq" else "softirq"
        return (
            f"{vn['label']} ({level}) interrupts {un['label']} on its CPU and must return "
            f"before {un['label']} runs again"
        )
    if kind == "element_held_by":
        return f"{vn['label']} holds {_elements(edge)} of {un['label']}"
    if kind == "completed_by":
        return f"only {vn['label']} can complete {un['label']}"
    if kind == "changed_by":
        return f"counter {un['label']} (now {un['value']}) can be changed by {vn['label']}"
    if kind == "filled_by":
        return f"queue {un['label']} is empty and can be filled by {vn['label']}"
    if kind == "drained_by":
        return (
            f"queue {un['label']} ({un['items']}/{un['capacity']} queued) can be drained by "
            f"{vn['label']}"
        )
    if kind == "element_queued_in":
        verb = "sits" if edge.get("count", 1) == 1 else "sit"
        return f"{_elements(edge)} of {un['label']} {verb} in queue {vn['label']}"
    if kind == "rss_on_exit":
        return f"memory grows when {vn['label']} exits ({edge['label'].split()[0]} pages)"
    if kind == "pages_held_by":
        return f"memory grows when {vn['label']} frees its {edge['label'].split()[0]} page(s)"
    if kind == "oom_blocked_by":
        victim = v.split(":", 1)[1]
        return (
            f"the OOM killer picks no new victim while {victim} is an OOM victim "
            "without MMF_OOM_SKIP"
        )
    if kind == "cleared_by":
        return f"{vn['label']} stays one until it exits"
    return f"{node_title(g, u)} {edge['label']} {node_title(g, v)}"


def _elements(edge: dict[str, Any]) -> str:
    """How many pool elements an edge counts, in words: "an element", "3 elements"."""
    count = edge.get("count", 1)
    return "an element" if count == 1 else f"{count} elements"


def un_free(g: Any) -> str:
    data = g.nodes["memory"]
    return f"{data['free']} free, min {data['min']}"


def _sentence(g: Any, path: list[str]) -> str:
    return "; ".join(_clause(g, u, v) for u, v in pairwise(path)) + "."


def _cycle_words(g: Any, cycle: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """The cycle in words, then the other tasks caught in the same knot of waits.

    A cycle is one loop; other tasks of its strongly connected component
    wait inside the same knot (two writers that each hold half of a pool
    wait on one pool node, so no simple cycle passes through both), and
    their waits are named after it.
    """
    words = _sentence(g, [*cycle, cycle[0]])
    component = next(c for c in nx.strongly_connected_components(g) if cycle[0] in c)
    on_cycle = set(cycle)
    ring = set(zip(cycle, [*cycle[1:], cycle[0]], strict=True))
    tasks = [n for n in cycle if g.nodes[n]["type"] == "task"]
    others = sorted(n for n in component - on_cycle if g.nodes[n]["type"] == "task")
    for t in others:
        edges = sorted(
            e
            for e in [*g.out_edges(t), *g.in_edges(t)]
            if e not in ring and e[0] in component and e[1] in component
        )
        edges.sort(key=lambda e: e[0] != t)  # its own waits first
        if edges:
            words += " " + "; ".join(_clause(g, u, v) for u, v in edges) + "."
        tasks.append(t)
    return words, tuple(g.nodes[n]["label"] for n in tasks)


def _dead_ends(model: KernelModel, g: Any) -> tuple[str, tuple[str, ...]]:
    """No cycle: each resource nothing can release, the waits that lead to it, why it is stuck."""
    parts: list[str] = []
    involved: list[str] = []
    tasks = sorted(n for n in g.nodes if g.nodes[n]["type"] == "task")
    for node in _sinks(g):
        # Every task that ends up waiting on this dead end, farthest first.
        reach = []
        for t in tasks:
            try:
                path = nx.shortest_path(g, t, node)
            except nx.NetworkXNoPath:
                continue
            reach.append((-len(path), t, path))
        reach.sort()
        covered: set[tuple[str, str]] = set()
        chains = []
        for _, t, path in reach:
            edges = [e for e in pairwise(path) if e not in covered]
            if not edges:
                continue
            covered.update(edges)
            chains.append("; ".join(_clause(g, u, v) for u, v in edges))
            label = g.nodes[t]["label"]
            if label not in involved:
                involved.append(label)
        parts.append(
            "; ".join(chains)
            + f"; but {node_title(g, node)} has no way out: {_why_stuck(model, g, node)}."
        )
    for t in tasks:
        if g.nodes[t]["label"] not in involved and g.out_degree(t):
            involved.append(g.nodes[t]["label"])
    return " ".join(parts), tuple(involved)


def _sinks(g: Any) -> list[str]:
    """Resources someone waits on that lead nowhere: nobody can release them."""
    return [
        n
        for n in sorted(g.nodes)
        if g.nodes[n]["type"] != "task" and not g.out_degree(n) and g.in_degree(n)
    ]


def _why_stuck(model: KernelModel, g: Any, node: str) -> str:
    data = g.nodes[node]
    kind = data["type"]
    if kind == "memory":
        if data["reclaimable"]:
            return (
                f"{data['reclaimable']} reclaimable pages remain but no waiter may reclaim them, "
                "and no live task holds pages or rss to return"
            )
        return "nothing is reclaimable and no live task holds pages or rss to return"
    if kind == "pool":
        text = "it is empty and no live task holds one of its elements"
        if data["min_nr"] == 0 and model.kernel.zero_min_pool == "poll":
            text += (
                ", and with min_nr 0 mempool_free never puts an element back "
                "(zero_min_pool: poll) [1.5]"
            )
        return text
    if kind == "completion":
        return "no live task will complete it"
    if kind == "counter":
        return f"it is {data['value']} and no live task will change it"
    if kind == "queue":
        if data["items"]:
            return "no live task will dequeue from it"
        return "it is empty and no live task will enqueue on it"
    return "no live task can release it"
