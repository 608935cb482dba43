"""The explorer on toy models whose answers can be worked out by hand."""

from __future__ import annotations

import ast
import dataclasses
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import mempool_cli.explore as explore_pkg
from mempool_cli.explore import Finding, Model, Result, explore, replay
from tests.unit.toy_models import (
    ChainModel,
    CounterModel,
    GraphModel,
    GridModel,
    RingModel,
    SleepPollModel,
    SpinModel,
    StarvationModel,
    abba,
    ordered_locks,
)

REPO = Path(__file__).resolve().parents[2]


def reachable(model: Any, start: Any) -> set[Any]:
    seen = {start}
    todo = [start]
    while todo:
        for _, t, _ in model.successors(todo.pop()):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return seen


def in_hang(model: Any, state: Any) -> bool:
    """Brute force: every state reachable from ``state`` leads back to it, and none is final."""
    around = reachable(model, state)
    return not any(model.is_final(s) for s in around) and all(
        state in reachable(model, s) for s in around
    )


def only(result: Result) -> Finding:
    assert len(result.findings) == 1, result.findings
    return result.findings[0]


def end_of(model: Any, schedule: tuple[int, ...]) -> Any:
    steps = replay(model, schedule)
    return steps[-1].state_after if steps else model.initial()


# ----------------------------------------------------------------- hangs


def test_abba_deadlock_has_a_four_step_shortest_schedule() -> None:
    model = abba()
    result = explore(model)
    assert result.complete and result.stop_reason is None
    finding = only(result)
    assert finding.outcome == "deadlock"
    # t0 takes A, t1 takes B, t0 sleeps on B, t1 sleeps on A.
    assert finding.schedule == (0, 1, 0, 0)
    assert finding.depth == 4
    assert finding.cycle == ()
    assert finding.hang_size == 1
    assert finding.end_state == ((1, 1), (1, 1), (0, 1))
    assert result.hangs == 1
    # Nothing shorter hangs: try every schedule of up to three steps.
    for length in range(4):
        for schedule in itertools.product(range(2), repeat=length):
            try:
                state = end_of(model, schedule)
            except ValueError:
                continue
            assert not in_hang(model, state), schedule


def test_consistent_lock_order_is_ok() -> None:
    model = ordered_locks()
    result = explore(model)
    assert result.complete
    assert result.findings == ()
    assert result.hangs == 0
    # The run does end in a state with no successors: only is_final keeps it from being a hang.
    assert any(not model.successors(s) for s in reachable(model, model.initial()))


def test_spin_retry_is_a_livelock_with_a_cycle() -> None:
    model = SpinModel()
    finding = only(explore(model))
    assert finding.outcome == "livelock"
    assert finding.schedule == (0,)  # t0 takes L
    assert finding.end_state == (1, 0, 0, 0)
    assert finding.cycle == (0, 0)  # trylock fails, back off
    assert finding.hang_size == 2


def test_sleep_poll_hang_is_a_deadlock_with_a_cycle() -> None:
    model = SleepPollModel()
    finding = only(explore(model))
    assert finding.outcome == "deadlock"  # as the model classifies it: t0 is asleep
    assert finding.schedule == (2,)  # t1 exits without completing C
    assert finding.cycle == (0, 0)  # timeout, poll
    assert finding.hang_size == 2


def test_a_cycle_that_can_be_left_is_not_a_hang() -> None:
    model = StarvationModel()
    # t0 can spin forever while t1 never runs ...
    assert (0, 0, 0) in reachable(model, (1, 0, 0))
    result = explore(model)
    # ... but t1 can always run and end it: starvation, not a hang.
    assert result.complete
    assert result.findings == ()
    assert result.hangs == 0


def test_hang_containing_a_final_state_is_not_a_hang() -> None:
    model = GraphModel({0: [1], 1: [2], 2: [1]}, final=[2])
    result = explore(model)
    assert result.findings == () and result.hangs == 0


def test_shallowest_hang_is_kept_and_every_hang_counted() -> None:
    # Depth-first order would close the deep dead end (3) first.
    model = GraphModel({0: [1, 5], 1: [2], 2: [3], 3: [], 5: []})
    result = explore(model)
    finding = only(result)
    assert finding.outcome == "deadlock"
    assert finding.schedule == (1,)
    assert finding.end_state == 5
    assert result.hangs == 2


def test_each_hang_outcome_is_reported_once_in_contract_order() -> None:
    # 0 -> dead end 1; 0 -> 2 <-> 3 (spinning); 0 -> 4 -> dead end 6
    model = GraphModel({0: [2, 1, 4], 1: [], 2: [3], 3: [2], 4: [6], 6: []}, spinning=[3])
    result = explore(model)
    assert result.outcomes == ("deadlock", "livelock")
    deadlock, livelock = result.findings
    assert deadlock.schedule == (1,) and deadlock.hang_size == 1
    assert livelock.schedule == (0,) and livelock.cycle == (0, 0) and livelock.hang_size == 2
    assert result.hangs == 3
    # classify_hang sees each hang's states once, in BFS order
    assert sorted(model.hang_calls) == [(1,), (2, 3), (6,)]


def test_hang_entry_is_its_shallowest_state() -> None:
    # SCC {1, 2, 3}: 2 is reached in one step, 1 and 3 in two.
    model = GraphModel({0: [4, 2], 4: [1], 1: [2], 2: [3], 3: [1]})
    finding = only(explore(model))
    assert finding.end_state == 2
    assert finding.schedule == (1,)
    assert finding.cycle == (0, 0, 0)
    assert finding.hang_size == 3


def test_hang_cycle_is_shortest() -> None:
    # From 1: 1 -> 2 -> 3 -> 1 follows index 0 each time; 1 -> 3 -> 1 is shorter.
    model = GraphModel({0: [1], 1: [2, 3], 2: [3], 3: [1]})
    finding = only(explore(model))
    assert finding.end_state == 1
    assert finding.cycle == (1, 0)


def test_self_loop_hang_has_a_one_step_cycle() -> None:
    model = GraphModel({0: [1], 1: [1]})
    finding = only(explore(model))
    assert (finding.outcome, finding.schedule, finding.cycle) == ("deadlock", (0,), (0,))
    assert finding.hang_size == 1


def test_initial_state_can_be_a_hang() -> None:
    finding = only(explore(GraphModel({0: []})))
    assert (finding.outcome, finding.schedule, finding.depth) == ("deadlock", (), 0)


# ---------------------------------------------------------------- labels


def test_state_label_is_found_at_its_shallowest_depth() -> None:
    # 7 = 2 + 2 + 2 + 1 is four steps; a depth-first search following +1 would take seven.
    result = explore(CounterModel(top=20, label_at=7, event_from=-1))
    finding = only(result)
    assert finding.outcome == "depletion"
    assert finding.depth == 4
    assert finding.schedule == (0, 1, 1, 1)  # the first schedule BFS meets
    assert finding.end_state == 7
    assert (finding.cycle, finding.hang_size) == ((), 0)


def test_transition_label_schedule_ends_with_that_transition() -> None:
    model = CounterModel(top=20, label_at=-1, event_from=5)
    finding = only(explore(model))
    assert finding.outcome == "oom-kill"
    # 6 is three steps away, but the labelled step is 5 -(+1)-> 6: four steps.
    assert finding.schedule == (0, 1, 1, 0)
    assert finding.end_state == 6
    last = replay(model, finding.schedule)[-1]
    assert (last.state_before, last.index, last.state_after) == (5, 0, 6)
    assert "oom-kill" in last.labels


def test_of_several_labelled_places_the_first_bfs_meets_is_kept() -> None:
    # 0 -> 1 -> 2 -> 3 and 0 -> 4 -> 5: depletion on 3 and 5, oom-kill on 2 -> 3 and 4 -> 5.
    model = GraphModel(
        {0: [1, 4], 1: [2], 2: [3], 3: [], 4: [5], 5: []},
        labels={3: ["depletion"], 5: ["depletion"]},
        events={(2, 0): ["oom-kill"], (4, 0): ["oom-kill"]},
        final=[3, 5],
    )
    result = explore(model)
    assert [(f.outcome, f.schedule, f.end_state) for f in result.findings] == [
        ("depletion", (1, 0), 5),
        ("oom-kill", (1, 0), 5),
    ]


def test_initial_state_label() -> None:
    finding = only(explore(GraphModel({0: [1]}, labels={0: ["violation"]}, final=[1])))
    assert (finding.outcome, finding.schedule, finding.end_state) == ("violation", (), 0)


def test_findings_are_in_contract_order_then_by_name() -> None:
    model = GraphModel(
        {0: [1], 1: [2], 2: []},
        labels={1: ["zeta", "violation"], 2: ["alpha", "depletion", "oom-panic"]},
        events={(0, 0): ["oom-kill"]},
        final=[2],
    )
    result = explore(model)
    assert result.outcomes == ("oom-panic", "depletion", "violation", "oom-kill", "alpha", "zeta")


def test_label_and_hang_of_one_outcome_give_one_finding_the_shallower() -> None:
    model = GraphModel({0: [1, 2], 1: [3], 2: [], 3: [4], 4: []}, labels={1: ["deadlock"]})
    finding = only(explore(model))
    assert (finding.outcome, finding.schedule, finding.hang_size) == ("deadlock", (0,), 0)

    model = GraphModel({0: [1, 2], 1: [], 2: [3], 3: [4]}, labels={4: ["deadlock"]}, final=[4])
    finding = only(explore(model))
    assert (finding.outcome, finding.schedule, finding.hang_size) == ("deadlock", (0,), 1)


def test_counts_states_and_transitions() -> None:
    # 0..10; states 0..8 have two successors, 9 has one, 10 none.
    result = explore(CounterModel(top=10, label_at=-1, event_from=-1))
    assert (result.states, result.transitions, result.hangs) == (11, 19, 0)


# ----------------------------------------------------------------- replay

TOYS: dict[str, Callable[[], Any]] = {
    "abba": abba,
    "ordered": ordered_locks,
    "spin": SpinModel,
    "sleep-poll": SleepPollModel,
    "starvation": StarvationModel,
    "counter": CounterModel,
    "graph": lambda: GraphModel(
        {0: [2, 1, 4], 1: [], 2: [3], 3: [2], 4: [6, 7], 6: [], 7: [7]},
        labels={4: ["depletion"]},
        events={(4, 1): ["oom-kill"]},
        spinning=[3],
    ),
}


@pytest.mark.parametrize("name", sorted(TOYS))
def test_every_finding_replays(name: str) -> None:
    model = TOYS[name]()
    result = explore(model)
    assert result.complete
    for finding in result.findings:
        end = end_of(model, finding.schedule)
        assert end == finding.end_state
        assert finding.depth == len(finding.schedule)
        if finding.hang_size:
            assert in_hang(model, end)
            assert len(reachable(model, end)) == finding.hang_size
            assert end_of_cycle(model, end, finding.cycle) == end
        else:
            steps = replay(model, finding.schedule)
            labels = steps[-1].labels if steps else model.state_labels(end)
            assert finding.outcome in labels


def end_of_cycle(model: Any, start: Any, cycle: tuple[int, ...]) -> Any:
    steps = replay(model, cycle, start)
    return steps[-1].state_after if steps else start


def test_toy_models_satisfy_the_protocol() -> None:
    for make in TOYS.values():
        assert isinstance(make(), Model)


# ----------------------------------------------------------- determinism


def test_two_runs_are_identical() -> None:
    for make in TOYS.values():
        first = dataclasses.replace(explore(make()), seconds=0.0)
        second = dataclasses.replace(explore(make()), seconds=0.0)
        assert first == second


_HASHSEED_SCRIPT = """
import json
from mempool_cli.explore import explore
from tests.unit.toy_models import GraphModel, abba
labels = {n: ["zeta", "alpha", "violation", "depletion", "oom-kill"][: n + 1] for n in range(5)}
edges = {0: [1, 2], 1: [3], 2: [3, 4], 3: [], 4: [4]}
out = []
for model in (abba(), GraphModel(edges, labels=labels, events={(2, 1): ["beta", "gamma"]})):
    r = explore(model)
    out.append([r.states, r.transitions, r.hangs, [repr(f) for f in r.findings]])
print(json.dumps(out))
"""


def test_results_do_not_depend_on_hash_seed() -> None:
    outputs = []
    for seed in ("1", "2", "3"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(REPO))
        done = subprocess.run(
            [sys.executable, "-c", _HASHSEED_SCRIPT],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0][1][3]  # the graph model did produce findings


# ------------------------------------------------------------------ scale


def test_big_ring_needs_no_recursion() -> None:
    size = 200_000
    assert size > sys.getrecursionlimit() * 10
    result = explore(RingModel(size))
    finding = only(result)
    assert finding.outcome == "livelock"
    assert finding.schedule == ()
    assert finding.cycle == (0,) * size
    assert finding.hang_size == size


def test_long_chain_deadlock() -> None:
    result = explore(ChainModel(200_000, stuck=True))
    finding = only(result)
    assert finding.outcome == "deadlock"
    assert finding.depth == 199_999
    assert finding.end_state == 199_999


def test_grid_of_three_counters_is_ok() -> None:
    size = 60
    result = explore(GridModel(size))
    assert result.complete
    assert result.findings == ()
    assert result.states == size**3
    assert result.transitions == 3 * size * size * (size - 1)


# ---------------------------------------------------------- architecture


def test_explorer_imports_nothing_of_the_kernel() -> None:
    package = Path(explore_pkg.__file__).parent
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert name.startswith("mempool_cli.explore") or not name.startswith(
                    "mempool_cli"
                ), f"{path.name} imports {name}"


@pytest.mark.parametrize(
    "model",
    [GridModel(12), SpinModel(), StarvationModel(), abba(), CounterModel()],
    ids=["grid", "spin", "starvation", "abba", "counter"],
)
def test_the_table_that_replaces_the_dict_finds_the_same_search(
    monkeypatch: pytest.MonkeyPatch, model: Any
) -> None:
    """From _DICT_MAX states on, the state -> id map is an open-addressing table (it grows at
    half full): made to take over after 4 states in an 8-slot table, the search gives the
    same states, transitions, findings and hang count as with the dict alone."""
    from mempool_cli.explore import search

    whole = explore(model)
    monkeypatch.setattr(search, "_DICT_MAX", 4)
    monkeypatch.setattr(search, "_TABLE_MIN", 8)
    tabled = explore(model)
    assert tabled.states == whole.states > 4
    assert (tabled.transitions, tabled.hangs) == (whole.transitions, whole.hangs)
    assert [(f.outcome, f.schedule, f.cycle) for f in tabled.findings] == [
        (f.outcome, f.schedule, f.cycle) for f in whole.findings
    ]
