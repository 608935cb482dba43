"""Revision 2's failure and control flow as transition tables: trylocks, on_fail (a list of
steps, retry, unwind), loop / break / continue, if, functions and call, ``{i}`` handles,
reclaim entries with trylocks, and the spinning rule of the hang classification."""

from __future__ import annotations

from typing import Any

import pytest

from mempool_cli.errors import ScenarioError
from mempool_cli.explore import explore
from mempool_cli.kernel.model import KernelModel, State
from mempool_cli.kernel.program import IF, JUMP, UNWIND, compile_program
from mempool_cli.kernel.state import NULL, ORDER
from mempool_cli.narration import describe, halt_text
from mempool_cli.scenario.loader import load_text

from .kernel_builders import handle


def load(text: str, **kw: Any) -> KernelModel:
    return KernelModel(load_text(text, "t.yaml"), reduce=False, **kw)


def step(m: KernelModel, s: State, t: int, choice: int = 0) -> State:
    """Task ``t``'s move ``choice`` (its only move by default)."""
    out = [n for (actor, c), n, _ in m.successors(s) if actor == t and c == choice]
    assert len(out) == 1, f"task {t} has no move {choice}"
    return out[0]


def events(m: KernelModel, s: State, t: int, choice: int = 0) -> list[str]:
    return [key for key, _ in m.action_events(s, (t, choice))]


def outcomes(m: KernelModel) -> set[str]:
    return set(explore(m).outcomes)


TWO_LOCKS = """
locks: {A: mutex, B: mutex, S: spinlock}
completions: [C]
tasks:
"""

# --- trylocks -----------------------------------------------------------------------


def trylock_model(on_fail: str = "[{complete: C}]") -> KernelModel:
    return load(
        TWO_LOCKS
        + f"""
  t:
    steps:
      - mutex_trylock: {{lock: A, on_fail: {on_fail}}}
      - mutex_unlock: A
  o:
    steps:
      - mutex_lock: A
      - mutex_unlock: A
"""
    )


def test_trylock_of_a_free_lock_takes_it() -> None:
    m = trylock_model()
    s = m.initial()
    assert events(m, s, 0) == ["trylock_takes"]
    s = step(m, s, 0)
    assert m.lock_owner(s, 0) == 0  # and on past the on_fail list, to mutex_unlock
    assert m.info[0].program.instrs[m.task_view(s, 0).pc].op == "mutex_unlock"
    assert describe(m, m.initial(), (0, 0)) == "t: mutex_trylock(A) -> 1, acquired"


def test_trylock_of_a_held_lock_fails_at_once_and_runs_its_list() -> None:
    m = trylock_model()
    s = step(m, m.initial(), 1)  # o holds A
    assert events(m, s, 0) == ["trylock_fails", "on_fail"]
    n = step(m, s, 0)
    assert m.lock_owner(n, 0) == 1  # never sleeps, takes nothing
    view = m.task_view(n, 0)
    assert view.wait is None and m.info[0].program.instrs[view.pc].op == "complete"
    n = step(m, n, 0)  # the list's complete, then on after the failed step: mutex_unlock A
    assert m.info[0].program.instrs[m.task_view(n, 0).pc].op == "mutex_unlock"
    assert describe(m, s, (0, 0)) == "t: mutex_trylock(A) -> 0, held by o; on_fail: runs its steps"


def test_trylock_of_a_lock_the_task_holds_fails() -> None:
    m = load(
        TWO_LOCKS
        + """
  t:
    steps:
      - mutex_lock: A
      - mutex_trylock: {lock: A, on_fail: [{mutex_unlock: A}]}
"""
    )
    s = step(m, m.initial(), 0)
    assert events(m, s, 0) == ["trylock_fails", "on_fail"]
    s = step(m, step(m, s, 0), 0)  # the list unlocks A; then the task exits
    assert m.lock_owner(s, 0) is None
    assert outcomes(m) == set()


def test_spin_trylock_enters_atomic_context() -> None:
    m = load(
        TWO_LOCKS
        + """
  t:
    steps:
      - spin_trylock: {lock: S, on_fail: unwind}
      - mutex_lock: A
"""
    )
    s = step(m, step(m, m.initial(), 0), 0)
    assert "sleeps holding spinlock S" in halt_text(m, s)


def test_retry_runs_the_same_step_again() -> None:
    m = trylock_model("retry")
    s = step(m, m.initial(), 1)
    assert events(m, s, 0) == ["trylock_fails", "on_fail"]
    assert step(m, s, 0) == s  # a failed trylock changes nothing: the same state again
    s = step(m, s, 1)  # o unlocks: now the retry takes A
    assert events(m, s, 0) == ["trylock_takes"]


# --- on_fail: unwind --------------------------------------------------------------


UNWIND_TEXT = """
locks: {A: mutex, B: mutex, S: spinlock}
pools: {P: {min_nr: 1}}
memory: {free: 16, min: 4}
tasks:
  t:
    steps:
      - mutex_lock: A
      - memalloc_noio_save:
      - alloc_pages: {gfp: GFP_KERNEL, as: page}
      - mempool_alloc: {pool: P, gfp: GFP_NOIO, as: elem}
      - spin_lock: S
      - mutex_trylock: {lock: B, on_fail: unwind}
      - mutex_unlock: B
      - spin_unlock: S
      - mempool_free: elem
      - free_pages: page
      - memalloc_noio_restore:
      - mutex_unlock: A
  o:
    steps:
      - mutex_lock: B
      - mutex_unlock: B
"""


def test_unwind_releases_everything_in_reverse_order_and_exits() -> None:
    m = load(UNWIND_TEXT)
    s = step(m, m.initial(), 1)  # o holds B
    for _ in range(5):
        s = step(m, s, 0)
    assert m.task_view(s, 0).pc == 5
    free = m.free_pages(s)
    assert events(m, s, 0) == [
        "trylock_fails",
        "unwinds",
        "unwind_unlocks",  # S, taken last
        "unwind_returns",  # elem
        "pool_full_frees",
        "unwind_frees",  # page
        "unwind_restores",  # the noio scope
        "unwind_unlocks",  # A, taken first
        "exits",
    ]
    text = describe(m, s, (0, 0))
    assert text.index("unlocks S") < text.index("mempool_free(elem)")
    assert text.index("free_pages(page)") < text.index("memalloc_noio_restore")
    assert text.index("memalloc_noio_restore") < text.index("unlocks A")
    n = step(m, s, 0)
    view = m.task_view(n, 0)
    assert view.exited and m.lock_owner(n, 0) is None and m.lock_owner(n, 2) is None
    assert m.lock_owner(n, 1) == 1  # B stays o's
    assert m.free_pages(n) == free + 2  # the page and the element (the pool was full)
    assert m.scope_depths(n, 0) == (0, 0, 0)
    assert m.state_labels(n) == frozenset()


def test_unwind_order_follows_the_order_of_taking_not_the_program() -> None:
    m = load(
        """
locks: {A: mutex, B: mutex, C: mutex}
tasks:
  t:
    steps:
      - mutex_lock: A
      - mutex_lock: B
      - mutex_unlock: A
      - mutex_lock: A
      - mutex_trylock: {lock: C, on_fail: unwind}
  o:
    steps:
      - mutex_lock: C
      - mutex_unlock: C
"""
    )
    s = step(m, m.initial(), 1)
    for _ in range(4):
        s = step(m, s, 0)
    unlocked = [
        dict(fields)["lock"]
        for key, fields in m.action_events(s, (0, 0))
        if key == "unwind_unlocks"
    ]
    assert unlocked == [0, 1]  # A (taken again last) before B


def test_only_a_task_that_can_unwind_tracks_what_it_takes() -> None:
    m = load(UNWIND_TEXT)
    s = m.initial()
    assert len(s[6][0]) == ORDER + 1 and len(s[6][1]) == ORDER  # o has no unwind
    assert m.info[0].program.unwinds and not m.info[1].program.unwinds


def test_killable_wait_with_a_fatal_signal_takes_its_on_fail() -> None:
    m = load(
        """
locks: {A: mutex}
completions: [C]
tasks:
  t:
    oom_victim: true
    steps:
      - wait_for_completion_killable: {completion: C, on_fail: unwind}
      - mutex_lock: A
      - mutex_unlock: A
"""
    )
    s = m.initial()  # the first step of a victim at start is in progress: it runs
    assert events(m, s, 0) == ["wait_interrupted_at_once", "unwinds", "exits"]
    assert m.task_view(step(m, s, 0), 0).exited


def test_mutex_lock_killable_on_fail_list_is_unwound_as_a_killed_task() -> None:
    m = load(
        """
locks: {A: mutex, B: mutex}
tasks:
  t:
    oom_victim: true
    steps:
      - mutex_lock_killable: {lock: A, on_fail: [{mutex_lock: B}, {mutex_unlock: B}]}
      - mutex_unlock: A
  o:
    steps:
      - mutex_lock: A
      - mutex_unlock: A
"""
    )
    s = step(m, m.initial(), 1)  # o holds A; t, killed, returns -EINTR at once
    assert events(m, s, 0) == ["wait_interrupted_at_once", "on_fail"]
    s = step(m, s, 0)  # the list is unwound as a killed task's steps are: all skipped
    assert m.task_view(s, 0).pc == len(m.info[0].program.instrs)
    assert events(m, s, 0) == ["exits"]


# --- allocations -------------------------------------------------------------------


def alloc_model(on_fail: str | None) -> KernelModel:
    extra = f", on_fail: {on_fail}" if on_fail else ""
    return load(
        f"""
memory: {{free: 4, min: 4}}
completions: [C]
tasks:
  t:
    steps:
      - alloc_pages: {{gfp: GFP_NOWAIT, as: page{extra}}}
      - free_pages: page
"""
    )


def test_a_failed_allocation_without_on_fail_binds_null_and_goes_on() -> None:
    m = alloc_model(None)
    s = step(m, m.initial(), 0)
    assert handle(m, s, 0, "page") == NULL and m.task_view(s, 0).pc == 1


def test_a_failed_allocation_runs_its_list_with_the_handle_null() -> None:
    m = alloc_model("[{complete: C}]")
    s = step(m, m.initial(), 0)
    assert handle(m, s, 0, "page") == NULL
    assert m.info[0].program.instrs[m.task_view(s, 0).pc].op == "complete"


def test_an_allocation_retried_for_ever_is_a_livelock() -> None:
    m = alloc_model("retry")
    s = step(m, m.initial(), 0)
    assert m.task_view(s, 0).pc == 0
    assert outcomes(m) == {"livelock"}


def test_mempool_alloc_null_takes_its_on_fail() -> None:
    m = load(
        """
memory: {free: 4, min: 4}
pools: {P: {min_nr: 1}}
tasks:
  a:
    steps:
      - mempool_alloc: {pool: P, gfp: GFP_NOIO, as: e}
      - mempool_free: e
  t:
    steps:
      - mempool_alloc: {pool: P, gfp: GFP_NOWAIT, as: e, on_fail: unwind}
      - mempool_free: e
"""
    )
    s = m.initial()
    while m.task_view(s, 0).pc == 0:
        s = step(m, s, 0)  # a takes the pool's only element
    s = run(m, s, 1)
    assert m.task_view(s, 1).exited and handle(m, s, 1, "e") == NULL


def run(m: KernelModel, s: State, t: int) -> State:
    for _ in range(50):
        nxt = [n for (actor, _), n, _ in m.successors(s) if actor == t]
        if not nxt:
            break
        s = nxt[0]
    return s


# --- loop, break, continue ------------------------------------------------------------


def ops(m: KernelModel, t: int = 0) -> list[str]:
    return [ins.op for ins in m.info[t].program.instrs]


def test_loop_compiles_to_a_back_jump_with_break_past_it() -> None:
    m = load(
        TWO_LOCKS
        + """
  t:
    steps:
      - loop:
          steps:
            - mutex_lock: B
            - mutex_trylock: {lock: A, on_fail: [{mutex_unlock: B}, continue]}
            - break
      - mutex_unlock: A
      - mutex_unlock: B
"""
    )
    program = m.info[0].program.instrs
    assert ops(m) == [
        "mutex_lock",
        "mutex_trylock",
        JUMP,  # the success path over the on_fail list
        "mutex_unlock",
        JUMP,  # continue
        JUMP,  # break
        JUMP,  # the loop's back jump
        "mutex_unlock",
        "mutex_unlock",
    ]
    assert program[1].fail == 3 and program[2].arg == 5
    assert (program[4].arg, program[4].leave) == (0, 7)  # continue: back; a killed task leaves
    assert program[5].arg == 7  # break: past the back jump
    assert (program[6].arg, program[6].leave) == (0, 7)
    assert m.info[0].program.spin_pcs == frozenset(range(7))


def test_break_and_continue_in_nested_positions() -> None:
    m = load(
        """
locks: {A: mutex}
completions: {C: 0}
tasks:
  t:
    steps:
      - loop:
          steps:
            - alloc_pages: {gfp: GFP_NOWAIT, as: p, on_fail: [break]}
            - loop:
                steps:
                  - if: {not_null: p, then: [{free_pages: p}, break], else: [continue]}
            - complete: C
      - complete_all: C
"""
    )
    program = m.info[0].program.instrs
    inner_if = ops(m).index(IF)
    brk = program[inner_if + 2]  # after free_pages: the inner break
    assert brk.op == JUMP and program[brk.arg - 1].op == JUMP  # lands after the inner back jump
    assert program[brk.arg].op == "complete"
    # the outer on_fail break leaves the outer loop: to complete_all
    outer_break = program[program[0].fail]
    assert program[outer_break.arg].op == "complete_all"


def test_a_loop_runs_until_break() -> None:
    m = load(
        """
locks: {A: mutex}
completions: {C: 0}
tasks:
  t:
    steps:
      - loop:
          steps:
            - mutex_trylock: {lock: A, on_fail: [break]}
            - complete: C
      - mutex_unlock: A
"""
    )
    s = run(m, m.initial(), 0)
    assert m.task_view(s, 0).exited and m.done_count(s, 0) == 1  # one pass, then break
    assert outcomes(m) == set()


def test_a_loop_that_never_breaks_without_sleeping_is_a_livelock() -> None:
    m = load(
        """
memory: {free: 16, min: 4}
tasks:
  t:
    steps:
      - loop:
          steps:
            - alloc_pages: {gfp: GFP_NOWAIT, as: p, on_fail: [break]}
            - free_pages: p
"""
    )
    assert outcomes(m) == {"livelock"}


def test_a_killed_task_leaves_a_loop_at_its_back_edge() -> None:
    m = load(
        """
locks: {A: mutex}
tasks:
  t:
    oom_victim: true
    steps:
      - loop:
          steps:
            - mutex_lock: A
            - mutex_unlock: A
      - mutex_lock: A
"""
    )
    s = run(m, m.initial(), 0)
    assert m.task_view(s, 0).exited and m.lock_owner(s, 0) is None


# --- if ----------------------------------------------------------------------------------


IF_TEXT = """
memory: {free: %d, min: 4}
locks: {A: mutex}
completions: {C: 0, D: 0}
tasks:
  t:
    steps:
      - alloc_pages: {gfp: GFP_NOWAIT, as: p}
      - if: {null: p, then: [{complete: C}], else: [{complete: D}, {free_pages: p}]}
      - mutex_lock: A
      - if: {held: A, then: [{mutex_unlock: A}]}
"""


@pytest.mark.parametrize(("free", "branch"), [(4, "C"), (16, "D")])
def test_if_takes_one_branch(free: int, branch: str) -> None:
    m = load(IF_TEXT % free)
    s = step(m, m.initial(), 0)
    assert events(m, s, 0) == ["branch"]
    taken = "true, then" if branch == "C" else "false, else"
    assert describe(m, s, (0, 0)) == f"t: if (null: p) -> {taken}"
    s = step(m, s, 0)
    assert m.info[0].program.instrs[m.task_view(s, 0).pc].op == "complete"
    s = step(m, s, 0)
    assert m.done_count(s, 0 if branch == "C" else 1) == 1
    s = run(m, s, 0)
    assert m.task_view(s, 0).exited and m.lock_owner(s, 0) is None  # held: A was true


def test_not_null_and_a_lock_not_held() -> None:
    m = load(
        """
locks: {A: mutex}
completions: {C: 0}
tasks:
  t:
    steps:
      - alloc_pages: {gfp: GFP_KERNEL, as: p}
      - if: {not_null: p, then: [{free_pages: p}]}
      - if: {held: A, then: [{complete: C}]}
"""
    )
    s = run(m, m.initial(), 0)
    assert m.task_view(s, 0).exited and m.done_count(s, 0) == 0
    assert outcomes(m) == set()


# --- functions, call, {i} ------------------------------------------------------------------


def test_call_inlines_the_function() -> None:
    called = load_text(
        """
locks: {A: mutex}
functions:
  take: {steps: [{mutex_lock: A}]}
  put: {steps: [{mutex_unlock: A}, {call: done}]}
  done: {steps: [{free_pages: p}]}
tasks:
  t:
    steps:
      - alloc_pages: {gfp: GFP_KERNEL, as: p}
      - call: take
      - call: put
""",
        "t.yaml",
    )
    inline = load_text(
        """
locks: {A: mutex}
tasks:
  t:
    steps:
      - alloc_pages: {gfp: GFP_KERNEL, as: p}
      - mutex_lock: A
      - mutex_unlock: A
      - free_pages: p
""",
        "t.yaml",
    )
    a = compile_program(called, called.tasks[0].steps)
    b = compile_program(inline, inline.tasks[0].steps)
    assert [(i.op, i.arg, i.bind) for i in a.instrs] == [(i.op, i.arg, i.bind) for i in b.instrs]
    assert a.handles == b.handles == ("p",)


def test_per_pass_handles() -> None:
    sc = load_text(
        """
pools: {P: {min_nr: 3}}
tasks:
  t:
    steps:
      - repeat: {times: 3, steps: [{mempool_alloc: {pool: P, gfp: GFP_NOIO, as: "bio{i}"}}]}
      - mempool_free: bio1
      - repeat: {times: 3, steps: [{if: {not_null: "bio{i}", then: [{mempool_free: "bio{i}"}]}}]}
""",
        "t.yaml",
    )
    program = compile_program(sc, sc.tasks[0].steps)
    assert program.handles == ("bio0", "bio1", "bio2")
    assert [i.bind for i in program.instrs[:3]] == [0, 1, 2]
    m = KernelModel(sc)
    assert outcomes(m) == {"violation"}  # bio1 is freed twice: once by name, once by pass 1


def test_a_function_called_in_a_repeat_gets_the_callers_pass() -> None:
    sc = load_text(
        """
pools: {P: {min_nr: 2}}
functions:
  get: {steps: [{mempool_alloc: {pool: P, gfp: GFP_NOIO, as: "e{i}"}}]}
  put: {steps: [{mempool_free: "e{i}"}]}
tasks:
  t:
    steps:
      - repeat: {times: 2, steps: [{call: get}]}
      - repeat: {times: 2, steps: [{call: put}]}
""",
        "t.yaml",
    )
    assert compile_program(sc, sc.tasks[0].steps).handles == ("e0", "e1")
    assert outcomes(KernelModel(sc)) == set()


@pytest.mark.parametrize("around", ["repeat: {times: 1, steps: [{call: f}]}", "call: f"])
def test_a_repeat_inside_a_function_counts_its_own_passes(around: str) -> None:
    """``{i}`` in a repeat of a function body is that repeat's pass, whether or not the call
    stands in a repeat of its own: the loader binds b0 and b1, as the compiler does."""
    text = f"""
memory: {{free: 8, min: 0}}
functions:
  f:
    steps:
      - repeat: {{times: 2, steps: [{{alloc_pages: {{gfp: GFP_KERNEL, as: "b{{i}}"}}}}]}}
tasks:
  t:
    steps:
      - {around}
      - free_pages: b0
      - free_pages: b1
"""
    sc = load_text(text, "t.yaml")
    assert compile_program(sc, sc.tasks[0].steps).handles == ("b0", "b1")
    assert outcomes(KernelModel(sc)) == set()
    with pytest.raises(ScenarioError, match="unknown handle 'b2'"):
        load_text(text + "      - free_pages: b2\n", "t.yaml")


# --- reclaim trylocks ----------------------------------------------------------------------


SHRINKER = """
memory:
  free: 4
  min: 4
  reclaimable: [{name: bufio, pages: 8, trylocks: [L]}]
oom: {killer: false}
locks: {L: mutex}
tasks:
  t:
    steps:
      %s
      - alloc_pages: {gfp: GFP_NOIO, as: p}
      - free_pages: p
      %s
"""


def test_reclaim_trylock_succeeds_on_a_free_lock() -> None:
    m = load(SHRINKER % ("", ""))
    s = step(m, m.initial(), 0)
    keys = events(m, m.initial(), 0)
    assert "reclaim_trylock_takes" in keys and "reclaim_frees" in keys
    assert m.lock_owner(s, 0) is None  # released with the pages
    assert describe(m, m.initial(), (0, 0)).count("reclaimable bufio") == 1
    assert outcomes(m) == set()


def test_reclaim_trylock_on_a_held_lock_makes_no_progress() -> None:
    m = load(SHRINKER % ("- mutex_lock: L", "- mutex_unlock: L"))
    s = step(m, m.initial(), 0)
    keys = events(m, s, 0)
    assert "reclaim_trylock_fails" in keys and "reclaim_frees" not in keys
    assert m.reclaimable_left(step(m, s, 0), 0) == 8
    text = describe(m, s, (0, 0))
    assert "reclaimable bufio: mutex_trylock(L) fails, held by itself: no progress" in text
    # without the trylock the reclaimer would sleep on L forever; with it, it fails
    assert outcomes(m) == set()


# --- the classification ---------------------------------------------------------------------


def test_a_trylock_retry_against_a_sleeping_owner_is_a_livelock() -> None:
    m = load(
        TWO_LOCKS
        + """
  t:
    steps:
      - mutex_trylock: {lock: A, on_fail: retry}
      - mutex_unlock: A
  o:
    steps:
      - mutex_lock: A
      - wait_for_completion: C
      - mutex_unlock: A
"""
    )
    result = explore(m)
    assert set(result.outcomes) == {"deadlock", "livelock"}


def test_abba_back_off_is_ok_without_fairness() -> None:
    m = load(
        TWO_LOCKS
        + """
  t:
    steps:
      - loop:
          steps:
            - mutex_lock: B
            - mutex_trylock: {lock: A, on_fail: [{mutex_unlock: B}, continue]}
            - break
      - mutex_unlock: A
      - mutex_unlock: B
  o:
    steps:
      - mutex_lock: A
      - mutex_lock: B
      - mutex_unlock: B
      - mutex_unlock: A
"""
    )
    assert outcomes(m) == set()


def test_a_loop_that_sleeps_on_the_way_is_a_deadlock() -> None:
    m = load(
        TWO_LOCKS
        + """
  t:
    steps:
      - loop:
          steps:
            - wait_for_completion: C
            - mutex_trylock: {lock: A, on_fail: [continue]}
            - break
      - mutex_unlock: A
"""
    )
    assert outcomes(m) == {"deadlock"}


def test_unwind_targets_are_compiled() -> None:
    m = load(UNWIND_TEXT)
    assert m.info[0].program.instrs[5].fail == UNWIND
