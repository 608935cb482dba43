"""explore/graph.py: paths, hang cycles, hangs and state graphs on toy models."""

from __future__ import annotations

from typing import Any

import pytest

from mempool_cli.explore import (
    TooManyStates,
    explore,
    hang_at,
    hang_cycle,
    replay,
    shortest_path,
    state_graph,
)

from .toy_models import (
    NO_LABELS,
    CounterModel,
    GraphModel,
    GridModel,
    LockModel,
    RingModel,
    SleepPollModel,
    SpinModel,
    StarvationModel,
    abba,
    ordered_locks,
)


def end_of(model: Any, start: Any, path: list[int] | tuple[int, ...]) -> Any:
    steps = replay(model, path, start)
    return steps[-1].state_after if steps else start


def task_of(action: Any) -> Any:
    """The actor of a LockModel or GraphModel action ``(task, what)``."""
    return action[0]


def spin_actor(action: str) -> str:
    """``"t1 trylock fail"`` is a step of t1."""
    return action.split()[0]


# ---------------------------------------------------------------- shortest_path


def test_shortest_path_is_shortest_and_ends_where_it_says() -> None:
    model = GridModel(4, dims=2)
    found = shortest_path(model, (0, 0), lambda _a, s: s == (3, 2), limit=100)
    assert found is not None
    path, end = found
    assert end == (3, 2)
    assert len(path) == 5
    assert end_of(model, (0, 0), path) == (3, 2)
    # Ties go to the lower successor index: all of dimension 0 first.
    assert [s.action for s in replay(model, path, (0, 0))] == [0, 0, 0, 1, 1]


def test_shortest_path_only_takes_allowed_actions() -> None:
    model = CounterModel(top=20, label_at=-1, event_from=-1)
    goal = lambda _a, s: s == 6  # noqa: E731
    assert shortest_path(model, 0, goal, 100) == ([1, 1, 1], 6)
    assert shortest_path(model, 0, goal, 100, allowed=lambda a: a == "+1") == ([0] * 6, 6)
    assert shortest_path(model, 1, goal, 100, allowed=lambda a: a == "+2") is None


def test_a_goal_on_the_action_counts_a_step_into_a_seen_state() -> None:
    # 0 -a-> 1 -a-> 0 and 1 -b-> 0: b's only step goes back to the start.
    model = GraphModel({0: [1], 1: [0, 0]})
    found = shortest_path(model, 0, lambda a, _s: a == (1, 1), limit=10)
    assert found == ([0, 1], 0)


def test_shortest_path_gives_up_past_its_limit() -> None:
    model = RingModel(10)
    goal = lambda _a, s: s == 9  # noqa: E731
    assert shortest_path(model, 0, goal, limit=9) == ([0] * 9, 9)
    assert shortest_path(model, 0, goal, limit=8) is None


def test_one_task_alone_finishing_its_steps() -> None:
    """The shape of "can task t alone finish its step": allowed = t's actions, goal = t done."""
    model = abba()
    t0_done = lambda _a, s: s[0][0] == 4  # noqa: E731
    t0_only = lambda a: a[0] == 0  # noqa: E731
    assert shortest_path(model, model.initial(), t0_done, 64, allowed=t0_only) is not None
    # Task 1 holds B: task 0 alone gets A and then goes to sleep on B.
    b_held = ((0, 1), (0, 0), (-1, 1))
    assert shortest_path(model, b_held, t0_done, 64, allowed=t0_only) is None


# ------------------------------------------------------------------ hang_cycle


def test_hang_cycle_of_a_livelock_steps_every_actor_that_can_move() -> None:
    model = SpinModel()
    entry = (1, 1, 0, 0)  # t0 holds L and sleeps on C; t1 failed its trylock
    cycle = hang_cycle(model, entry, 10, actor=spin_actor)
    assert cycle is not None
    assert end_of(model, entry, cycle) == entry
    # t0 sleeps throughout: only t1 moves, trylock and back off.
    assert [s.action for s in replay(model, cycle, entry)] == ["t1 backoff", "t1 trylock fail"]


def test_hang_cycle_is_longer_than_the_shortest_cycle_when_it_must_be() -> None:
    # Actor 0 cycles 0 -> 1 -> 0; actor 1 can step only from 1, to 2, and 2 -> 0 is actor 0's.
    model = GraphModel({0: [1], 1: [0, 2], 2: [0]})
    actor = {(0, 0): "x", (1, 0): "x", (1, 1): "y", (2, 0): "x"}.__getitem__
    cycle = hang_cycle(model, 0, 10, actor=actor)
    assert cycle == (0, 1, 0)
    assert explore(model).findings[0].cycle == (0, 0)  # the explorer's shortest loop
    assert hang_cycle(model, 0, 10, actor) == cycle  # deterministic


def test_hang_cycle_of_a_dead_end_is_empty() -> None:
    model = abba()
    dead = ((1, 1), (1, 1), (0, 1))  # each holds one lock and sleeps on the other
    assert model.successors(dead) == []
    assert hang_cycle(model, dead, 10, actor=task_of) == ()


def test_hang_cycle_outside_a_hang_or_past_its_limit() -> None:
    assert hang_cycle(RingModel(5), 0, 4, actor=task_of) is None
    assert hang_cycle(RingModel(5), 0, 5, actor=lambda _a: "one") == (0, 0, 0, 0, 0)
    # From 0 the run can leave for good: no way home.
    leaving = GraphModel({0: [1], 1: [1]})
    assert hang_cycle(leaving, 0, 10, actor=task_of) is None


class Toggle:
    """Actor 0 flips a bit (a 2-cycle), actor 1 counts to 3 (a 3-cycle): all states are one hang."""

    def successors(self, s: tuple[int, int]) -> list[tuple[Any, tuple[int, int], frozenset[str]]]:
        a, b = s
        return [((0, 0), (1 - a, b), frozenset()), ((1, 0), (a, (b + 1) % 3), frozenset())]


class Exit:
    """State 0 can reach the absorbing state 1 and never come back: 0 is not in a hang."""

    def successors(self, s: int) -> list[tuple[Any, int, frozenset[str]]]:
        return [((0, 0), 1, frozenset())]


def walk(model: Any, start: Any, indices: tuple[int, ...]) -> tuple[Any, set[int]]:
    actors = set()
    s = start
    for i in indices:
        action, s, _ = model.successors(s)[i]
        actors.add(action[0])
    return s, actors


def test_toggle_cycle_steps_every_actor_and_returns() -> None:
    cycle = hang_cycle(Toggle(), (0, 0), 6, actor=task_of)  # type: ignore[arg-type]
    assert cycle is not None
    end, actors = walk(Toggle(), (0, 0), cycle)
    assert end == (0, 0)
    assert actors == {0, 1}
    # The explorer's shortest cycle would be actor 0 twice; this one is longer on purpose.
    assert len(cycle) > 2


def test_toggle_cycle_is_deterministic() -> None:
    assert hang_cycle(Toggle(), (0, 0), 6, task_of) == hang_cycle(Toggle(), (0, 0), 6, task_of)  # type: ignore[arg-type]


def test_toggle_bound_and_a_state_outside_a_hang() -> None:
    assert hang_cycle(Toggle(), (0, 0), 3, task_of) is None  # type: ignore[arg-type]
    assert hang_cycle(Exit(), 0, 10, task_of) is None  # type: ignore[arg-type]


# --------------------------------------------------------------------- hang_at


def test_hang_at_tells_hangs_from_states_with_a_way_out() -> None:
    model = SpinModel()
    assert hang_at(model, model.initial(), 100) is None
    assert hang_at(model, (1, 1, 0, 0), 100) == ("livelock", 2)
    # A way out exists from every state of a starvation cycle.
    starve = StarvationModel()
    assert hang_at(starve, starve.initial(), 100) is None
    assert hang_at(starve, (1, 0, 0), 100) is None


def test_hang_at_a_dead_end_and_a_sleep_poll_loop() -> None:
    model = abba()
    assert hang_at(model, ((1, 1), (1, 1), (0, 1)), 10) == ("deadlock", 1)
    assert hang_at(ordered_locks(), ordered_locks().initial(), 100) is None
    poll = SleepPollModel()
    forgot = (0, 1, 0)  # t1 exited without completing C: t0 sleeps and polls for ever
    assert hang_at(poll, forgot, 10) == ("deadlock", 2)


def test_hang_at_does_not_call_a_final_state_a_hang() -> None:
    model = GraphModel({0: [1], 1: [1]}, final=[1])
    assert hang_at(model, 1, 10) is None
    assert hang_at(GraphModel({0: [1], 1: [1]}), 1, 10) == ("deadlock", 1)


def test_hang_at_gives_up_past_its_limit() -> None:
    with pytest.raises(TooManyStates) as err:
        hang_at(RingModel(10), 0, 9)
    assert err.value.limit == 9
    assert hang_at(RingModel(10), 0, 10) == ("livelock", 10)


# ----------------------------------------------------------------- state_graph


@pytest.mark.parametrize(
    "model",
    [abba(), ordered_locks(), SpinModel(), SleepPollModel(), GridModel(3), RingModel(4)],
    ids=lambda m: type(m).__name__,
)
def test_state_graph_has_the_states_and_transitions_explore_counts(model: Any) -> None:
    graph = state_graph(model, 10_000)
    result = explore(model)
    assert len(graph.states) == result.states
    assert len(graph.edges) == result.transitions
    assert graph.states[0] == model.initial()
    assert len(set(graph.states)) == len(graph.states)
    for e in graph.edges:  # each edge is the successor it says it is
        action, nxt, labels = model.successors(graph.states[e.source])[e.nth]
        assert (action, nxt, labels) == (e.action, graph.states[e.target], e.labels)
    assert [e.source for e in graph.edges] == sorted(e.source for e in graph.edges)


def test_state_graph_keeps_event_labels_and_refuses_past_its_limit() -> None:
    model = GraphModel({0: [1, 1], 1: []}, events={(0, 1): ["oom-kill"]})
    graph = state_graph(model, 2)
    assert [(e.source, e.target, e.nth, e.labels) for e in graph.edges] == [
        (0, 1, 0, NO_LABELS),
        (0, 1, 1, frozenset({"oom-kill"})),
    ]
    with pytest.raises(TooManyStates, match="more than 1 states"):
        state_graph(model, 1)


def test_lock_model_state_graph_is_small() -> None:
    assert len(state_graph(LockModel([[("lock", 0), ("unlock", 0)]], 1), 10).states) == 3
