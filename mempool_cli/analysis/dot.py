"""DOT for ``mpsim graph``: the wait-for graph at a hang, or the state graph of a small scenario.

Graphs are built with networkx and written by pydot, never by string
concatenation; ``render_graphviz`` runs Graphviz's ``dot`` for svg/png
when it is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import textwrap
from collections.abc import Sequence
from typing import Any

import networkx as nx
import pydot

from mempool_cli import narration
from mempool_cli.errors import EnvironmentProblem, UsageError
from mempool_cli.explore import TooManyStates
from mempool_cli.explore import state_graph as explore_state_graph
from mempool_cli.kernel.model import KernelModel, State
from mempool_cli.narration import action_token

__all__ = ["MAX_DRAWN_STATES", "render_graphviz", "state_graph", "states_dot", "waitfor_dot"]

MAX_DRAWN_STATES = 2_000

# Node shapes by wait-for node type: lockdep's actors are boxes, resources have shapes.
_SHAPES = {
    "task": {"shape": "box", "style": "rounded"},
    "mutex": {"shape": "octagon"},
    "spinlock": {"shape": "doubleoctagon"},
    "pool": {"shape": "cylinder"},
    "completion": {"shape": "diamond"},
    "counter": {"shape": "hexagon"},
    "memory": {"shape": "box3d"},
    "oom_victim": {"shape": "note"},
    "queue": {"shape": "cds"},  # revision 2
}
_HIGHLIGHT = "red"


def _quote(text: str) -> str:
    """A DOT double-quoted ID, so ``task:taskA`` is a name and not a node with a port."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _to_pydot(
    g: Any,
    name: str,
    graph_attrs: dict[str, str],
    clusters: dict[str, tuple[str, list[str]]] | None = None,
) -> pydot.Dot:
    """Write a networkx DiGraph (string node ids, string attributes) as a pydot graph;
    ``clusters`` maps a cluster id to its label and the nodes drawn inside it."""
    dot = pydot.Dot(name, graph_type="digraph", fontname="Helvetica", **graph_attrs)
    dot.set_node_defaults(fontname="Helvetica", fontsize="10")
    dot.set_edge_defaults(fontname="Helvetica", fontsize="9")
    inside = {}
    for cid, (label, members) in (clusters or {}).items():
        sub = pydot.Cluster(cid, label=_quote(label), style="dashed", fontname="Helvetica")
        dot.add_subgraph(sub)  # type: ignore[arg-type]  # a Cluster is a Subgraph in DOT
        for member in members:
            inside[member] = sub
    for node, data in g.nodes(data=True):
        (inside.get(node) or dot).add_node(
            pydot.Node(_quote(node), obj_dict=None, **_strings(data))
        )
    for u, v, data in g.edges(data=True):
        dot.add_edge(pydot.Edge(_quote(u), _quote(v), obj_dict=None, **_strings(data)))
    return dot


def _strings(data: dict[str, Any]) -> dict[str, Any]:
    return {str(k): str(v) for k, v in data.items()}


def waitfor_dot(waitfor: dict[str, Any], title: str) -> str:
    """The wait-for graph of a finding (``FindingReport.waitfor``) as DOT, its cycle in red.

    >>> wf = {"nodes": [{"id": "task:a", "type": "task", "label": "a", "where": "sleeps"},
    ...                 {"id": "mutex:L", "type": "mutex", "label": "L"}],
    ...       "edges": [{"from": "task:a", "to": "mutex:L", "type": "waits_for",
    ...                  "label": "waits for"},
    ...                 {"from": "mutex:L", "to": "task:a", "type": "held_by", "label": "held by"}],
    ...       "cycle": ["task:a", "mutex:L"], "explanation": "a waits for L; L is held by a."}
    >>> print(waitfor_dot(wf, "x"))  # doctest: +ELLIPSIS
    digraph wait_for {
    ...
    "task:a" [label="a\\nsleeps", shape=box, style=rounded, color=red, penwidth=2];
    "mutex:L" [label="mutex L", shape=octagon, color=red, penwidth=2];
    "task:a" -> "mutex:L" [label="waits for", color=red, fontcolor=red, penwidth=2];
    ...
    """
    g = nx.DiGraph()
    cycle = waitfor["cycle"]
    ring = set(zip(cycle, [*cycle[1:], *cycle[:1]], strict=True)) if cycle else set()
    # Without a cycle, what is waited for and leads nowhere is the point of the picture.
    sources = {e["from"] for e in waitfor["edges"]}
    targets = {e["to"] for e in waitfor["edges"]}
    for node in waitfor["nodes"]:
        kind = node["type"]
        attrs = {"label": _node_label(node), **_SHAPES.get(kind, {})}
        if kind == "task" and node.get("victim"):
            attrs["peripheries"] = "2"
        if node["id"] in cycle:
            attrs.update(color=_HIGHLIGHT, penwidth="2")
        elif not cycle and kind != "task" and node["id"] in targets - sources:
            attrs.update(color=_HIGHLIGHT, penwidth="2", label=attrs["label"] + "\nno way out")
        g.add_node(node["id"], **attrs)
    for edge in waitfor["edges"]:
        attrs = {"label": edge["label"]}
        if (edge["from"], edge["to"]) in ring:
            attrs.update(color=_HIGHLIGHT, fontcolor=_HIGHLIGHT, penwidth="2")
        elif edge["type"] in ("rss_on_exit", "pages_held_by", "oom_blocked_by", "cleared_by"):
            attrs["style"] = "dashed"
        g.add_edge(edge["from"], edge["to"], **attrs)
    # One clause a line, long clauses wrapped, so the caption is no wider than the graph.
    clauses = re.split(r"(?<=\.) |; ", waitfor["explanation"])
    caption = "\n".join([title, *(line for c in clauses for line in textwrap.wrap(c, 72))])
    # Top to bottom: a cycle drawn left to right is one long row, too wide to read on a page.
    graph = _to_pydot(g, "wait_for", {"labelloc": "t", "label": caption}, _cpu_clusters(waitfor))
    return str(graph.to_string())


def _cpu_clusters(waitfor: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    """Revision 2: each CPU an interrupt handler shares, as a box around the task it
    interrupts and its handlers (the CPU relation a hang in a handler turns on)."""
    out: dict[str, tuple[str, list[str]]] = {}
    ids = {node["id"] for node in waitfor["nodes"]}
    for node in waitfor["nodes"]:
        host = node.get("cpu_of")
        if host is None:
            continue
        cid = "cpu_" + re.sub(r"\W", "_", host)
        host_id = f"task:{host}"
        members = out.setdefault(cid, (f"CPU of {host}", [host_id] if host_id in ids else []))[1]
        members.append(node["id"])
    return out


def _node_label(node: dict[str, Any]) -> str:
    kind = node["type"]
    if kind == "task":
        label = str(node["label"])
        if node.get("victim"):
            label += " (OOM victim)"
        if node.get("cpu_of"):
            label += " (hard irq)" if node.get("level") == "irq" else " (softirq)"
        return f"{label}\n{node['where']}" if node.get("where") else label
    if kind == "pool":
        return f"pool {node['label']}\n{node['curr_nr']}/{node['min_nr']} elements"
    if kind == "memory":
        return f"memory\n{node['free']} free, min {node['min']}"
    if kind == "oom_victim":
        return str(node["label"])
    if kind == "queue":  # revision 2
        return f"queue {node['label']}\n{node['items']}/{node['capacity']} queued"
    return f"{kind} {node['label']}"


# ------------------------------------------------------------ state graph


def state_graph(model: KernelModel, limit: int = MAX_DRAWN_STATES) -> tuple[Any, list[State]]:
    """Every reachable state, as a MultiDiGraph over state numbers; UsageError past ``limit``.

    The search is ``explore.state_graph``; this adds what a drawing needs:
    edge attribute ``token`` is the schedule token of the step (``taskB``,
    ``reaper@taskC``), ``labels`` its event labels; node 0 is the initial
    state.
    """
    try:
        found = explore_state_graph(model, limit)
    except TooManyStates:
        raise UsageError(
            f"mpsim graph --states: {model.scenario.name} under {model.kernel.name} "
            f"has more than {limit:,} states, too many to draw; draw the wait-for "
            "graph of a finding instead (without --states)"
        ) from None
    g = nx.MultiDiGraph()
    g.add_nodes_from(range(len(found.states)))
    for e in found.edges:
        g.add_edge(
            e.source, e.target, key=e.nth, token=action_token(model, e.action), labels=e.labels
        )
    return g, list(found.states)


def states_dot(
    model: KernelModel, path: Sequence[int] = (), loop: Sequence[int] = (), title: str = ""
) -> str:
    """The state graph as DOT: ``path`` (successor indices from the start) and ``loop`` in red.

    Final states have a double border, states in a hang are filled, and
    states where an outcome label first holds are orange.
    """
    g, states = state_graph(model)
    hang_members: set[int] = set()
    for component in nx.attracting_components(g):
        if not any(model.is_final(states[i]) for i in component):
            hang_members |= set(component)
    ids = {s: i for i, s in enumerate(states)}
    on_path: set[tuple[int, int, int]] = set()
    node = 0
    for i in [*path, *loop]:
        j = ids[model.successors(states[node])[i][1]]
        on_path.add((node, j, i))
        node = j
    path_nodes = {u for u, _, _ in on_path} | {v for _, v, _ in on_path} | {0}
    out = nx.MultiDiGraph()
    for i, s in enumerate(states):
        labels = sorted(model.state_labels(s))
        text = f"#{i}  free {model.free_pages(s)}"
        pools = ", ".join(f"{p.name} {model.curr_nr(s, k)}" for k, p in enumerate(model.pools))
        owners = ((lock, model.lock_owner(s, k)) for k, lock in enumerate(model.locks))
        held = ", ".join(f"{lock.name}:{model.info[o].name}" for lock, o in owners if o is not None)
        text += "".join(f"\n{part}" for part in (pools, held) if part)
        if labels:
            text += "\n" + ", ".join(labels)
        attrs = {"label": text, "shape": "box", "tooltip": narration.summarize(model, s, "")}
        if model.is_final(s) and not model.halted(s):
            attrs["peripheries"] = "2"
        if i in hang_members:
            attrs.update(style="filled", fillcolor="mistyrose")
        if labels:
            attrs["color"] = "orange"
        if i in path_nodes and (path or loop):
            attrs.update(color=_HIGHLIGHT, penwidth="2")
        out.add_node(f"s{i}", **attrs)
    for u, v, k, data in g.edges(keys=True, data=True):
        attrs = {"label": data["token"]}
        if data["labels"]:
            attrs["label"] += "\n" + ", ".join(sorted(data["labels"]))
        if (u, v, k) in on_path:
            attrs.update(color=_HIGHLIGHT, fontcolor=_HIGHLIGHT, penwidth="2")
        out.add_edge(f"s{u}", f"s{v}", **attrs)  # a multigraph: each choice is its own arrow
    return str(_to_pydot(out, "states", {"labelloc": "t", "label": title}).to_string())


# --------------------------------------------------------------- graphviz


def render_graphviz(dot_text: str, fmt: str) -> bytes:
    """Run Graphviz's ``dot -T<fmt>``; EnvironmentProblem (exit 2) when it is not installed."""
    exe = shutil.which("dot")
    if exe is None:
        raise EnvironmentProblem(
            f"mpsim: --format {fmt} needs Graphviz's `dot` on PATH (e.g. apt-get install "
            "graphviz); --format dot writes the DOT text without it"
        )
    done = subprocess.run(
        [exe, f"-T{fmt}"], input=dot_text.encode(), capture_output=True, check=False
    )
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise EnvironmentProblem(f"mpsim: dot -T{fmt} failed: {message}")
    return done.stdout
