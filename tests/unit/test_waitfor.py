"""Wait-for graphs at the hangs of real scenarios: typed nodes and edges, the cycle, the words."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest

from mempool_cli.analysis.waitfor import NODE_TYPES, WaitFor, cycle_text, waitfor_graph
from mempool_cli.kernel.model import KernelModel, State
from mempool_cli.scenario.loader import load_scenario
from mempool_cli.verdict import concrete, kernels_for, parse_schedule, run_scenario

from .kernel_builders import scenario, task

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios" / "mempool"


def hang_graph(name: str, preset: str, outcome: str) -> tuple[WaitFor, KernelModel, State]:
    """The wait-for graph at the hang the report found, rebuilt from its replayable schedule."""
    sc = load_scenario(str(SCENARIOS / f"{name}.yaml"))
    (kernel,) = kernels_for(sc, [preset], False)
    result = run_scenario(sc, kernel)
    (finding,) = [f for f in result.findings if f.outcome == outcome]
    model = concrete(KernelModel(sc, kernel))
    state = model.initial()
    for i in parse_schedule(model, finding.schedule):
        state = model.successors(state)[i][1]
    return waitfor_graph(model, state), model, state


def test_rientjes_livelock_cycle() -> None:
    wf, _, _ = hang_graph("rientjes-2016-oom-victim", "v4.5", "livelock")
    assert wf.cycle == ("task:taskA", "mutex:M", "task:taskB", "memory", "task:taskC", "pool:pool0")
    assert cycle_text(wf.graph, wf.cycle) == (
        "taskA -[waits for]-> mutex M -[held by]-> taskB -[loops for a page]-> "
        "memory (4 free, min 4) -[8 pages back when exits]-> taskC -[retries]-> "
        "pool pool0 -[element held by]-> taskA"
    )
    assert wf.explanation == (
        "taskA waits for mutex M; M is held by taskB; taskB loops in the page allocator for a "
        "page (4 free, min 4); memory grows when taskC exits (8 pages); taskC retries "
        "mempool_alloc(pool0); taskA holds an element of pool0."
    )
    assert wf.involved == ("taskA", "taskB", "taskC")


def test_rientjes_graph_is_typed() -> None:
    wf, _, _ = hang_graph("rientjes-2016-oom-victim", "v4.5", "livelock")
    g = wf.graph
    types = {n: g.nodes[n]["type"] for n in g.nodes}
    assert set(types.values()) <= set(NODE_TYPES)
    assert types["oom_victim:taskC"] == "oom_victim"
    edges = {(u, v): g.edges[u, v]["type"] for u, v in g.edges}
    assert edges == {
        ("task:taskA", "mutex:M"): "waits_for",
        ("mutex:M", "task:taskB"): "held_by",
        ("task:taskB", "memory"): "needs_memory",
        ("memory", "task:taskC"): "rss_on_exit",
        ("memory", "oom_victim:taskC"): "oom_blocked_by",
        ("oom_victim:taskC", "task:taskC"): "cleared_by",
        ("task:taskC", "pool:pool0"): "waits_for",
        ("pool:pool0", "task:taskA"): "element_held_by",
    }
    assert g.nodes["task:taskC"]["victim"] is True
    assert g.nodes["task:taskB"]["victim"] is False


def test_weiner_abba_cycle_through_the_lock_and_the_pool() -> None:
    wf, _, _ = hang_graph("weiner-2016-abba", "v4.5", "deadlock")
    assert wf.cycle == ("task:cpu0", "mutex:L", "task:cpu1", "pool:pool0")
    assert wf.explanation == (
        "cpu0 waits for mutex L; L is held by cpu1; cpu1 retries mempool_alloc(pool0); "
        "cpu0 holds an element of pool0."
    )


def test_zero_min_pool_has_no_cycle_and_says_which_wait_has_no_way_out() -> None:
    wf, _, _ = hang_graph("rientjes-2016-zero-min-pool", "v4.5", "livelock")
    assert wf.cycle == ()
    assert wf.dead_ends == ("pool pool0",)
    assert wf.involved == ("taskB", "taskC")
    assert wf.explanation == (
        "taskB loops in the page allocator for a page (4 free, min 4); memory grows when taskC "
        "exits (8 pages); taskC retries mempool_alloc(pool0); but pool pool0 has no way out: "
        "it is empty and no live task holds one of its elements, and with min_nr 0 "
        "mempool_free never puts an element back (zero_min_pool: poll) [1.5]."
    )


def test_to_dict_is_stable_plain_data() -> None:
    wf, _, _ = hang_graph("rientjes-2016-oom-victim", "v4.5", "livelock")
    data = wf.to_dict()
    assert list(data) == ["nodes", "edges", "cycle", "explanation"]
    assert [n["id"] for n in data["nodes"]] == sorted(n["id"] for n in data["nodes"])
    assert json.loads(json.dumps(data)) == data
    again, _, _ = hang_graph("rientjes-2016-oom-victim", "v4.5", "livelock")
    assert again.to_dict() == data


def _dead_state(sc_tasks: tuple, **kw: object) -> tuple[WaitFor, KernelModel]:
    sc = scenario(*sc_tasks, **kw)  # type: ignore[arg-type]
    result = run_scenario(sc, sc.kernel)
    (finding,) = [f for f in result.findings if f.outcome == "deadlock"]
    model = concrete(KernelModel(sc))
    state = model.initial()
    for i in parse_schedule(model, finding.schedule):
        state = model.successors(state)[i][1]
    return waitfor_graph(model, state), model


def test_two_mutexes_abba() -> None:
    wf, _ = _dead_state(
        (
            task(
                "a",
                ("mutex_lock", "A"),
                ("mutex_lock", "B"),
                ("mutex_unlock", "B"),
                ("mutex_unlock", "A"),
            ),
            task(
                "b",
                ("mutex_lock", "B"),
                ("mutex_lock", "A"),
                ("mutex_unlock", "A"),
                ("mutex_unlock", "B"),
            ),
        ),
        locks={"A": "mutex", "B": "mutex"},
    )
    assert wf.cycle == ("task:a", "mutex:B", "task:b", "mutex:A")


def test_completion_nobody_will_complete_is_a_dead_end() -> None:
    wf, _ = _dead_state(
        (task("w", ("wait_for_completion", "done")),),
        completions={"done": 0},
    )
    assert wf.cycle == ()
    assert wf.dead_ends == ("completion done",)
    assert "no live task will complete it" in wf.explanation


def test_two_holders_of_one_pool_are_one_knot() -> None:
    """Each writer holds one of two elements and waits for another: both are named."""
    steps = (
        ("mempool_alloc", {"pool": "p", "gfp": "GFP_NOIO", "as": "x"}),
        ("mempool_alloc", {"pool": "p", "gfp": "GFP_NOIO", "as": "y"}),
        ("mempool_free", "y"),
        ("mempool_free", "x"),
    )
    wf, _ = _dead_state((task("w0", *steps), task("w1", *steps)), free=4, min=4, pools={"p": 2})
    assert len(wf.cycle) == 2  # one writer and the pool: no simple cycle passes both
    assert set(wf.involved) == {"w0", "w1"}
    assert "w0 holds an element of p" in wf.explanation
    assert "w1 holds an element of p" in wf.explanation


@pytest.mark.parametrize("name", ["rientjes-2016-oom-victim", "weiner-2016-abba"])
def test_every_cycle_edge_exists(name: str) -> None:
    preset, outcome = ("v4.5", "livelock") if "rientjes" in name else ("v4.5", "deadlock")
    wf, _, _ = hang_graph(name, preset, outcome)
    ring = [*wf.cycle, wf.cycle[0]]
    assert all(wf.graph.has_edge(u, v) for u, v in pairwise(ring))
    assert wf.graph.nodes[wf.cycle[0]]["type"] == "task"
