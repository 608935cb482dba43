"""Revision 2's "State a condition waits on" as transition tables: counters at their
bounds, wait_event (satisfied at once, asleep, woken by a change; eq/ne/lt/ge), the
timeouts firing at the first and the last point of a wait, the killable wait, ``if`` on a
counter, unwinding, the wait-for graph and the words."""

from __future__ import annotations

from typing import Any

import pytest

from mempool_cli.analysis.waitfor import waitfor_graph
from mempool_cli.errors import ScenarioError
from mempool_cli.explore import explore
from mempool_cli.kernel.model import KernelModel
from mempool_cli.narration import changes, describe, halt_text, where
from mempool_cli.scenario.loader import load_text
from tests.unit.transitions import events, load, moves, outcomes, step

# --- counters at their bounds ---------------------------------------------------------


def one_step(op: str, initial: Any) -> KernelModel:
    return load(f"counters: {{N: {initial}}}\ntasks:\n  t:\n    steps:\n      - {op}\n")


def test_declared_values_and_default_max() -> None:
    m = load("counters: {A: 3, B: {initial: 1, max: 2}, C: {max: 5}}\ntasks: {t: {steps: []}}")
    s = m.initial()
    assert [m.counter_value(s, i) for i in range(3)] == [3, 1, 0]
    assert [c.max for c in m.counters] == [64, 2, 5]


def test_inc_dec_set_change_the_counter() -> None:
    m = one_step("atomic_inc: N", 0)
    s = step(m, m.initial(), 0)
    assert m.counter_value(s, 0) == 1
    assert changes(m, m.initial(), s) == [("N", "0 -> 1")]
    assert describe(m, m.initial(), (0, 0)) == "t: atomic_inc(N): 0 -> 1"
    m = one_step("atomic_dec: N", 1)
    assert m.counter_value(step(m, m.initial(), 0), 0) == 0
    m = one_step("atomic_set: {counter: N, value: 7}", 1)
    assert m.counter_value(step(m, m.initial(), 0), 0) == 7


def test_dec_at_zero_is_a_violation() -> None:
    m = one_step("atomic_dec: N", 0)
    s = step(m, m.initial(), 0)
    assert m.halted(s) and m.halt_reason(s)[0] == "violation"  # type: ignore[index]
    assert "atomic_dec(N) makes it -1, outside 0..64" in halt_text(m, s)
    assert outcomes(m) == {"violation"}


def test_inc_at_max_is_a_violation_and_inc_to_max_is_not() -> None:
    m = one_step("atomic_inc: N", "{initial: 2, max: 2}")
    assert m.halted(step(m, m.initial(), 0))
    m = one_step("atomic_inc: N", "{initial: 1, max: 2}")
    s = step(m, m.initial(), 0)
    assert not m.halted(s) and m.counter_value(s, 0) == 2
    assert outcomes(m) == set()


def test_set_above_max_is_a_violation() -> None:
    m = one_step("atomic_set: {counter: N, value: 65}", 0)
    assert outcomes(m) == {"violation"}
    m = one_step("atomic_set: {counter: N, value: 64}", 0)
    assert outcomes(m) == set()


def test_initial_above_max_is_an_error_in_the_file() -> None:
    with pytest.raises(ScenarioError) as info:
        load_text("counters: {N: {initial: 3, max: 2}}\ntasks: {t: {steps: []}}", "t.yaml")
    assert "counter 'N' starts at 3, above its max 2" in str(info.value)


def test_unknown_counter_and_a_missing_comparison_are_errors() -> None:
    with pytest.raises(ScenarioError) as info:
        load_text("counters: {nr: 0}\ntasks: {t: {steps: [{atomic_inc: nx}]}}", "t.yaml")
    assert "unknown counter 'nx'" in str(info.value)
    with pytest.raises(ScenarioError) as info:
        load_text("counters: {N: 0}\ntasks: {t: {steps: [{wait_event: {counter: N}}]}}", "t.yaml")
    assert "needs a comparison: one of eq, ne, lt, ge" in str(info.value)
    with pytest.raises(ScenarioError) as info:
        text = "counters: {N: 0}\ntasks: {t: {steps: [{wait_event: {counter: N, eq: 0, lt: 1}}]}}"
        load_text(text, "t.yaml")
    assert "has one comparison; 'lt' is a second" in str(info.value)


# --- wait_event -----------------------------------------------------------------------

WAITER = """
counters: {{N: {initial}}}
tasks:
  w:
    steps:
      - {op}: {{counter: N, {cmp}: {n}{extra}}}
  c:
    steps:
      - atomic_dec: N
"""


def waiter(
    initial: int = 1, cmp: str = "eq", n: int = 0, op: str = "wait_event", extra: str = ""
) -> KernelModel:
    return load(WAITER.format(initial=initial, cmp=cmp, n=n, op=op, extra=extra))


def test_wait_event_satisfied_at_once_does_not_sleep() -> None:
    m = waiter(initial=0)
    s = m.initial()
    assert events(m, s, 0) == ["event_holds"]
    assert describe(m, s, (0, 0)) == "w: wait_event(N == 0) -> holds (N is 0)"
    assert m.task_view(step(m, s, 0), 0).wait is None


def test_wait_event_sleeps_then_a_change_wakes_it() -> None:
    m = waiter(initial=1)
    s = step(m, m.initial(), 0)
    assert events(m, m.initial(), 0) == ["event_sleeps"]
    view = m.task_view(s, 0)
    assert view.wait is not None and view.wait.kind == "counter" and view.wait.resource == 0
    assert moves(m, s, 0) == {}  # asleep: no move until N changes
    assert where(m, s, 0) == "sleeps in wait_event(N == 0), N is 1"
    g = waitfor_graph(m, s)
    assert ("task:w", "counter:N") in g.graph.edges
    assert g.graph.edges["counter:N", "task:c"]["type"] == "changed_by"
    s = step(m, s, 1)  # atomic_dec: N is 0
    assert events(m, s, 0) == ["event_wakes"]
    s = step(m, s, 0)
    assert m.task_view(s, 0).wait is None
    assert outcomes(m) == set()


def test_wait_event_that_never_holds_is_a_deadlock_explained_by_the_counter() -> None:
    m = waiter(initial=2)
    result = explore(m)
    assert set(result.outcomes) == {"deadlock"}


@pytest.mark.parametrize(
    ("cmp", "n", "value", "holds"),
    [
        ("eq", 1, 1, True),
        ("eq", 1, 2, False),
        ("ne", 1, 2, True),
        ("ne", 1, 1, False),
        ("lt", 2, 1, True),
        ("lt", 2, 2, False),
        ("ge", 2, 2, True),
        ("ge", 2, 1, False),
    ],
)
def test_each_comparison_at_its_boundary(cmp: str, n: int, value: int, holds: bool) -> None:
    m = waiter(initial=value, cmp=cmp, n=n)
    assert events(m, m.initial(), 0) == ["event_holds" if holds else "event_sleeps"]


# --- timeouts ---------------------------------------------------------------------------


def test_wait_event_timeout_may_fire_at_the_first_point_of_its_wait() -> None:
    m = waiter(initial=1, op="wait_event_timeout", extra=", on_fail: [{atomic_inc: N}]")
    s = step(m, m.initial(), 0)  # asleep, N is 1
    assert sorted(moves(m, s, 0)) == [1]  # the timeout: the only move, at once
    assert events(m, s, 0, 1) == ["event_times_out", "on_fail"]
    n = step(m, s, 0, 1)
    assert m.counter_value(n, 0) == 1 and m.task_view(n, 0).wait is None  # runs its list
    n = step(m, n, 0)
    assert m.counter_value(n, 0) == 2


def test_wait_event_timeout_may_fire_at_the_last_point_before_the_change() -> None:
    m = waiter(initial=1, op="wait_event_timeout", extra=", on_fail: unwind")
    s = step(m, m.initial(), 0)
    assert 1 in moves(m, s, 0)  # the last point: c is about to change N, w may still time out
    woken = step(m, s, 1)  # c changes N: the condition holds, and wins over the timeout
    assert sorted(moves(m, woken, 0)) == [0]
    assert events(m, woken, 0) == ["event_wakes"]


def test_wait_for_completion_timeout_fires_first_or_last_and_done_wins() -> None:
    m = load(
        """
completions: [C]
tasks:
  w:
    steps:
      - wait_for_completion_timeout: {completion: C, on_fail: [{complete: C}]}
  c:
    steps:
      - complete: C
"""
    )
    s = step(m, m.initial(), 0)
    assert m.task_view(s, 0).wait.call == "wait_for_completion_timeout"  # type: ignore[union-attr]
    assert sorted(moves(m, s, 0)) == [1]
    assert events(m, s, 0, 1) == ["completion_times_out", "on_fail"]
    done = step(m, s, 1)
    assert sorted(moves(m, done, 0)) == [0]
    assert m.done_count(step(m, done, 0), 0) == 0
    assert outcomes(m) == set()


# --- killable ---------------------------------------------------------------------------


def test_wait_event_killable_with_a_fatal_signal() -> None:
    m = load(
        """
counters: {N: 1}
tasks:
  w:
    oom_victim: true
    steps:
      - wait_event_killable: {counter: N, eq: 0, on_fail: unwind}
  c:
    steps:
      - atomic_dec: N
"""
    )
    s = m.initial()  # a victim at start is inside its first step: it runs and fails at once
    assert events(m, s, 0) == ["wait_interrupted_at_once", "unwinds", "exits"]
    assert m.task_view(step(m, s, 0), 0).exited


def test_wait_event_killable_asleep_is_interrupted_by_the_kill() -> None:
    m = waiter(initial=1, op="wait_event_killable", extra=", on_fail: unwind")
    s = step(m, m.initial(), 0)
    assert moves(m, s, 0) == {}
    # the OOM killer is the only sender; a test sets the bit by hand
    from mempool_cli.kernel.state import KILLED, STATUS, with_field

    tasks = list(s[6])
    tasks[0] = with_field(tasks[0], STATUS, tasks[0][STATUS] | KILLED)
    killed = (*s[:6], tuple(tasks))
    assert sorted(moves(m, killed, 0)) == [1]
    assert events(m, killed, 0, 1) == ["event_interrupted", "unwinds", "exits"]


# --- if on a counter --------------------------------------------------------------------

BRANCH = """
counters: {{N: {initial}}}
tasks:
  t:
    steps:
      - if: {{counter: N, ge: 2, then: [{{atomic_inc: N}}], else: [{{atomic_dec: N}}]}}
"""


@pytest.mark.parametrize(
    ("initial", "after", "word"), [(2, 3, "true, then"), (1, 0, "false, else")]
)
def test_if_on_a_counter_takes_each_branch(initial: int, after: int, word: str) -> None:
    m = load(BRANCH.format(initial=initial))
    s = m.initial()
    assert describe(m, s, (0, 0)) == f"t: if (N >= 2) -> {word}"
    s = step(m, step(m, s, 0), 0)
    assert m.counter_value(s, 0) == after


def test_if_on_a_shared_counter_is_not_local_and_on_a_private_one_is() -> None:
    shared = KernelModel(
        load_text(BRANCH.format(initial=2) + "  o:\n    steps: [{atomic_inc: N}]\n", "t.yaml")
    )
    assert shared.partial_order is None or not shared.partial_order.local_pcs[0] & {0}
    private = KernelModel(load_text(BRANCH.format(initial=2), "t.yaml"))
    assert private.partial_order is not None and 0 in private.partial_order.local_pcs[0]


# --- unwinding --------------------------------------------------------------------------


def test_a_killed_task_runs_atomic_steps_and_skips_the_waits() -> None:
    m = load(
        """
counters: {N: 1}
completions: [C]
tasks:
  t:
    oom_victim: true
    steps:
      - atomic_inc: N
      - wait_event: {counter: N, eq: 0}
      - wait_event_timeout: {counter: N, eq: 0, on_fail: unwind}
      - wait_for_completion_timeout: {completion: C, on_fail: unwind}
      - atomic_dec: N
      - atomic_set: {counter: N, value: 5}
"""
    )
    s = m.initial()
    s = step(m, s, 0)  # atomic_inc (in progress at start), then the waits are skipped
    assert m.counter_value(s, 0) == 2
    assert m.info[0].program.instrs[m.task_view(s, 0).pc].op == "atomic_dec"
    s = step(m, step(m, s, 0), 0)
    assert m.counter_value(s, 0) == 5
    assert outcomes(m) == set()
