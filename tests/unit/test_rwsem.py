"""Revision 2's rwsem as transition tables: readers share, a writer is alone, a reader
arriving while a writer waits (queues always; takes it at once only on stealing presets),
downgrade_write waking the queued readers, bad releases, killable waits, trylocks with
``on_fail``, unwinding a killed task, and ``mm_lock`` against the OOM reaper."""

from __future__ import annotations

import pytest

from mempool_cli.analysis.waitfor import waitfor_graph
from mempool_cli.errors import ScenarioError
from mempool_cli.explore import explore
from mempool_cli.kernel.model import REAPER, KernelModel, State
from mempool_cli.narration import describe, halt_text, where
from mempool_cli.scenario.kernels import PRESETS, RWSEM_READER_STEALING
from mempool_cli.scenario.loader import load_text

HEADER = """
memory: {free: 10, min: 1, low: 2, high: 3}
locks: {L: rwsem, M: mutex}
completions: [C]
tasks:
"""


def load(text: str, kernel: str | None = None) -> KernelModel:
    scenario = load_text(HEADER + text, "t.yaml")
    return KernelModel(scenario, PRESETS[kernel] if kernel else None, reduce=False)


def moves(m: KernelModel, s: State, t: int) -> dict[int, State]:
    return {c: n for (actor, c), n, _ in m.successors(s) if actor == t}


def step(m: KernelModel, s: State, t: int, choice: int = 0) -> State:
    return moves(m, s, t)[choice]


def events(m: KernelModel, s: State, t: int, choice: int = 0) -> list[str]:
    return [key for key, _ in m.action_events(s, (t, choice))]


def outcomes(m: KernelModel) -> set[str]:
    return set(explore(m).outcomes)


READERS = """
  r1:
    steps: [down_read: L, wait_for_completion: C, up_read: L]
  r2:
    steps: [down_read: L, complete: C, up_read: L]
"""


def test_readers_share() -> None:
    m = load(READERS)
    s = step(m, step(m, m.initial(), 0), 1)
    assert m.lock_holders(s, 0) == (0, 1)
    assert m.rwsem_writer(s, 0) is None
    assert outcomes(m) == set()


WRITER_BEHIND_READER = """
  r:
    steps: [down_read: L, wait_for_completion: C, up_read: L]
  w:
    steps: [down_write: L, up_write: L]
  late:
    steps: [down_read: L, complete: C, up_read: L]
"""


def test_a_writer_is_alone_and_queues_behind_a_reader() -> None:
    m = load(WRITER_BEHIND_READER, "v4.19")
    s = step(m, m.initial(), 0)
    assert events(m, s, 1) == ["rwsem_sleeps"]
    s = step(m, s, 1)
    assert m.task_view(s, 1).wait.kind == "rwsem"
    assert m.rwsem_queue(s, 0) == ((1, True),)
    assert moves(m, s, 1) == {}  # asleep while a reader holds it
    assert where(m, s, 1) == "sleeps in down_write(L), held for read by r"


@pytest.mark.parametrize("kernel", ["v4.5", "v4.19", "v5.4", "v6.6"])
def test_a_reader_arriving_while_a_writer_waits(kernel: str) -> None:
    """It may always queue behind the writer; only on stealing presets take it at once."""
    m = load(WRITER_BEHIND_READER, kernel)
    s = step(m, step(m, m.initial(), 0), 1)  # r holds for read, w queued
    got = moves(m, s, 2)
    steals = kernel in RWSEM_READER_STEALING
    assert set(got) == ({0, 1} if steals else {0})
    queued = got[0]
    assert m.rwsem_queue(queued, 0) == ((1, True), (2, False))
    assert where(m, queued, 2) == "sleeps in down_read(L), queued behind w"
    if steals:
        assert events(m, s, 2, 1) == ["rwsem_steals"]
        assert m.lock_holders(got[1], 0) == (0, 2)
    # queued behind the writer, `late` never completes C: r waits for ever, w for r
    assert "deadlock" in outcomes(m)


RECURSION = """
  a:
    steps: [down_read: L, down_read: L, up_read: L, up_read: L]
  b:
    steps: [down_write: L, up_write: L]
"""


@pytest.mark.parametrize("kernel", ["v4.19", "v6.6"])
def test_read_recursion_against_a_queued_writer_deadlocks(kernel: str) -> None:
    m = load(RECURSION, kernel)
    s = step(m, step(m, m.initial(), 0), 1)
    s = step(m, s, 0)  # a queues behind b
    assert moves(m, s, 0) == {} and moves(m, s, 1) == {}
    graph = waitfor_graph(m, s)
    assert graph.cycle
    assert "a is queued behind b" in graph.explanation
    assert "deadlock" in outcomes(m)


DOWNGRADE = """
  w:
    steps: [down_write: L, downgrade_write: L, up_read: L]
  r:
    steps: [down_read: L, up_read: L]
"""


def test_downgrade_write_wakes_the_queued_readers() -> None:
    m = load(DOWNGRADE, "v4.19")
    s = step(m, step(m, m.initial(), 0), 1)  # w writes, r queued
    assert moves(m, s, 1) == {}
    assert events(m, s, 0) == ["rwsem_released"]
    s = step(m, s, 0)
    assert m.lock_holders(s, 0) == (0, 1)  # r got its hold from the waker
    assert m.rwsem_queue(s, 0) == ()
    assert events(m, s, 1) == ["rwsem_wakes"]
    assert outcomes(m) == set()


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("[up_read: L]", "up_read(L) without holding it for read"),
        ("[up_write: L]", "up_write(L) without holding it for write"),
        ("[down_read: L, up_write: L]", "up_write(L) without holding it for write"),
        ("[down_read: L, downgrade_write: L]", "downgrade_write(L) without holding it for write"),
        ("[down_write: L, up_read: L]", "up_read(L) without holding it for read"),
    ],
)
def test_a_release_not_held_that_way_is_a_violation(steps: str, message: str) -> None:
    m = load(f"  t:\n    steps: {steps}\n")
    result = explore(m)
    assert set(result.outcomes) == {"violation"}
    s = m.initial()
    while not m.halted(s):
        s = step(m, s, 0)
    assert halt_text(m, s).endswith(message)


def test_exit_holding_a_read_hold_is_a_violation() -> None:
    m = load("  t:\n    steps: [down_read: L]\n")
    assert set(explore(m).outcomes) == {"violation"}


KILLABLE = """
  h:
    steps: [down_write: L, wait_for_completion: C, up_write: L]
  v:
    oom_victim: true
    steps:
      - {op}: {{lock: L, on_fail: [complete: C]}}
      - {release}: L
"""


@pytest.mark.parametrize(
    ("op", "release"), [("down_read_killable", "up_read"), ("down_write_killable", "up_write")]
)
def test_a_killable_wait_with_a_fatal_signal_fails_into_on_fail(op: str, release: str) -> None:
    m = load(KILLABLE.format(op=op, release=release))
    s = step(m, m.initial(), 0)  # h holds L for write
    assert events(m, s, 1) == ["wait_interrupted_at_once", "on_fail"]
    assert outcomes(m) == set()  # v completes C on its error path; h finishes


KILLED_IN_QUEUE = """
  h:
    steps: [down_write: L, complete: C, mutex_lock: M, up_write: L, mutex_unlock: M]
  v:
    steps:
      - mutex_lock: M
      - wait_for_completion: C
      - {op}: {{lock: L, on_fail: unwind}}
      - {release}: L
      - mutex_unlock: M
"""


def test_a_killable_waiter_leaves_the_queue_on_a_fatal_signal() -> None:
    m = load(KILLED_IN_QUEUE.format(op="down_read_killable", release="up_read"))
    s = m.initial()
    s = step(m, s, 1)  # v: mutex M
    s = step(m, s, 0)  # h: write L
    s = step(m, s, 0)  # h: complete C
    s = step(m, s, 1)  # v: wait C
    s = step(m, s, 1)  # v: queues on L
    assert m.rwsem_queue(s, 0) == ((1, False),)
    assert moves(m, s, 1) == {}
    # the fatal signal arrives (as the OOM killer would send it)
    task = s[6][1]
    s = (*s[:6], (s[6][0], (task[0], task[1], task[2] | 1, *task[3:])))
    assert events(m, s, 1, 1) == ["rwsem_interrupted", "unwinds", "unwind_unlocks", "exits"]
    after = step(m, s, 1, 1)
    assert m.rwsem_queue(after, 0) == ()
    assert m.task_view(after, 1).exited


TRYLOCK = """
  r:
    steps: [down_read: L, wait_for_completion: C, up_read: L]
  w:
    steps: [down_write: L, up_write: L]
  t:
    steps:
      - {op}: {{lock: L, on_fail: [complete: C]}}
"""
HELD = """      - if: {{held: L, then: [{release}: L, complete: C]}}
"""


@pytest.mark.parametrize(
    ("op", "release"), [("down_read_trylock", "up_read"), ("down_write_trylock", "up_write")]
)
def test_trylocks_fail_while_anyone_waits_and_run_on_fail(op: str, release: str) -> None:
    m = load(TRYLOCK.format(op=op) + HELD.format(release=release))
    s = step(m, step(m, m.initial(), 0), 1)  # r reads, w queued
    assert events(m, s, 2) == ["rwsem_trylock_fails", "on_fail"]
    s2 = step(m, s, 2)
    assert m.lock_holders(s2, 0) == (0,)
    assert outcomes(m) == set()  # t's error path completes C for r


def test_a_read_trylock_of_a_read_held_rwsem_takes_it() -> None:
    m = load(TRYLOCK.format(op="down_read_trylock") + "      - up_read: L\n")
    s = step(m, m.initial(), 0)
    assert events(m, s, 2) == ["trylock_takes"]


def test_a_trylock_needs_on_fail() -> None:
    with pytest.raises(ScenarioError) as info:
        load("  t:\n    steps: [down_read_trylock: L]\n")
    assert "without 'on_fail'" in info.value.problems[0].message


def test_a_killed_task_unwinds_rwsem_steps_by_their_roles() -> None:
    """The victim's first step is in progress (it runs); then it skips down_* and runs the
    releases of what it holds."""
    m = load(
        """
  v:
    oom_victim: true
    steps: [down_read: L, down_write: L, up_write: L, up_read: L]
"""
    )
    s = step(m, m.initial(), 0)
    assert m.lock_holders(s, 0) == (0,)
    assert events(m, s, 0) == ["rwsem_released"]
    assert outcomes(m) == set()


REAPER_SCENARIO = """
  h:
    steps: [down_write: L, wait_for_completion: C, up_write: L]
  v:
    oom_victim: true
    rss: 4
    mm_lock: L
    steps: [complete: C]
"""


def reaper_moves(m: KernelModel, s: State) -> dict[int, State]:
    return {c: n for (actor, c), n, _ in m.successors(s) if actor == REAPER}


def test_mm_lock_held_for_write_makes_one_reaper_attempt_cannot_reap() -> None:
    m = load(REAPER_SCENARIO, "v4.19")
    s = m.initial()
    free = m.free_pages(s)
    assert m.free_pages(reaper_moves(m, s)[1]) == free + 4  # L free: it reaps
    s = step(m, s, 0)  # h holds L for write
    (after,) = reaper_moves(m, s).values()
    keys = [key for key, _ in m.action_events(s, (REAPER, 1))]
    assert keys == ["reaper_trylock_fails", "cannot_reap_marks"]
    assert m.free_pages(after) == free
    assert m.task_view(after, 1).reaped and m.task_view(after, 1).oom_skip
    text = describe(m, s, (REAPER, 1))
    assert "mmap_read_trylock(L) of v fails" in text


def test_mm_lock_must_be_an_rwsem() -> None:
    with pytest.raises(ScenarioError) as info:
        load("  t:\n    mm_lock: M\n    steps: [complete: C]\n")
    assert "mm_lock 'M' is a mutex; it must be an rwsem" in info.value.problems[0].message


def test_a_reclaim_entry_cannot_name_an_rwsem() -> None:
    text = """
memory: {free: 10, min: 1, low: 2, high: 3, reclaimable: [{pages: 2, locks: [L]}]}
locks: {L: rwsem}
tasks:
  t: {steps: [complete: C]}
completions: [C]
"""
    with pytest.raises(ScenarioError) as info:
        load_text(text, "t.yaml")
    assert "cannot name the rwsem 'L'" in info.value.problems[0].message


def test_symmetry_is_off_with_an_rwsem() -> None:
    scenario = load_text(
        HEADER + "  t:\n    count: 2\n    steps: [down_read: L, up_read: L]\n", "t.yaml"
    )
    assert KernelModel(scenario).symmetry is None


def test_the_stealing_presets() -> None:
    assert "v4.19" not in RWSEM_READER_STEALING and "v4.11" not in RWSEM_READER_STEALING
    assert {"v5.4", "v5.10", "v6.12", "latest"} <= RWSEM_READER_STEALING
