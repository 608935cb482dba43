"""Stubborn sets (docs/model.md, "Stubborn sets"), transition by transition.

Each test drives an unreduced model to a state by hand and asks the
reduced model which tasks it expands there: a strict subset where the
chosen tasks' steps touch nothing the others may ever touch, and every
task where a member is blocked on one that is about to sleep, where a
move is visible (the last free page) or where a move goes round a loop
(the cycle proviso). Partial order is off in these models, so the sets
seen are the stubborn sets' own. The outcome sets are compared with no
reduction on each scenario too.
"""

from __future__ import annotations

from mempool_cli.explore import explore
from mempool_cli.kernel.model import KernelModel, State
from mempool_cli.scenario.loader import load_text

from .transitions import load, step

HEADER = "mpsim: 1\nname: t\nkernel: latest\n"


def reduced(text: str) -> KernelModel:
    """Only the stubborn sets on: partial order off, no copies (no symmetry)."""
    return KernelModel(load_text(text, "t.yaml"), partial_order=False)


def expanded(m: KernelModel, s: State) -> set[int]:
    """The tasks whose moves the reduced model explores in ``s``."""
    return {actor for (actor, _), _, _ in m.successors(s)}


def same_outcomes(text: str) -> None:
    full = explore(load(text))
    for m in (reduced(text), KernelModel(load_text(text, "t.yaml"))):
        got = explore(m)
        assert got.outcomes == full.outcomes
        assert got.states <= full.states


DISJOINT = (
    HEADER
    + """\
memory: {free: 8, min: 2}
locks: {L: mutex, M: mutex}
tasks:
  done_with_l:
    steps: [{mutex_lock: L}, {mutex_unlock: L}]
  a:
    steps: [{mutex_lock: L}, {mutex_unlock: L}, {mutex_lock: M}, {mutex_unlock: M}]
  b:
    steps: [{mutex_lock: M}, {mutex_unlock: M}]
"""
)


def test_a_lock_no_one_else_will_touch_again_is_taken_alone() -> None:
    """Once done_with_l has exited, a's steps on L commute with everything b may do."""
    m, full = reduced(DISJOINT), load(DISJOINT)
    assert m.reductions == ("stubborn-sets",)
    s = m.initial()
    # at first, L is the others' too: a's and done_with_l's lock steps conflict, b's M
    # step conflicts with a's future; b's closure {b, a} leaves done_with_l out
    assert expanded(m, s) == {0, 1}
    s = step(full, step(full, step(full, s, 0), 0), 0)  # done_with_l locks, unlocks, exits
    assert m.task_view(s, 0).exited
    assert expanded(m, s) == {1}  # a's L step: nobody else's future names L
    same_outcomes(DISJOINT)


def test_a_blocked_waiter_joins_with_the_holder_and_the_rest_waits() -> None:
    """b is asleep on L, which a holds: a's unlock enables b, so both are in the set
    (b has no move), and c, on its own lock, is left for later."""
    text = (
        HEADER
        + """\
memory: {free: 8, min: 2}
locks: {L: mutex, K: mutex}
tasks:
  a:
    steps: [{mutex_lock: L}, {mutex_unlock: L}]
  b:
    steps: [{mutex_lock: L}, {mutex_unlock: L}]
  c:
    steps: [{mutex_lock: K}, {mutex_unlock: K}, {mutex_lock: K}, {mutex_unlock: K}]
  d:
    steps: [{mutex_lock: K}, {mutex_unlock: K}]
"""
    )
    m, full = reduced(text), load(text)
    s = step(full, step(full, m.initial(), 0), 1)  # a takes L, b sleeps on it
    assert m.task_view(s, 1).wait is not None
    assert expanded(m, s) == {0}
    same_outcomes(text)


def test_a_holder_about_to_sleep_makes_the_set_everything() -> None:
    """b waits for L; its holder a goes to sleep on C next (a move into a wait is no
    key move), and the task that completes C shares it with a: no set leaves anyone out."""
    text = (
        HEADER
        + """\
memory: {free: 8, min: 2}
locks: {L: mutex}
completions: [C]
tasks:
  a:
    steps: [{mutex_lock: L}, {wait_for_completion: C}, {mutex_unlock: L}]
  b:
    steps: [{mutex_lock: L}, {mutex_unlock: L}]
  c:
    steps: [{complete: C}]
"""
    )
    m, full = reduced(text), load(text)
    s = step(full, step(full, m.initial(), 0), 1)
    assert expanded(m, s) == {0, 2} == {t for (t, _), _, _ in full.successors(s)}
    same_outcomes(text)


def test_the_move_that_takes_the_last_free_page_is_visible() -> None:
    """Depletion reads the free pages: the GFP_ATOMIC allocation that takes the last one
    is never a key move (a PF_MEMALLOC task ignores the watermarks)."""
    text = (
        HEADER
        + """\
memory: {free: 1, min: 2}
tasks:
  eater:
    flags: [PF_MEMALLOC]
    steps: [{alloc_pages: {gfp: GFP_NOWAIT, as: p}}, {free_pages: p}]
  giver:
    flags: [PF_MEMALLOC]
    steps: [{alloc_pages: {gfp: GFP_NOWAIT, as: q}}, {free_pages: q}]
"""
    )
    m = reduced(text)
    s = m.initial()
    assert expanded(m, s) == {0, 1}
    assert "depletion" in explore(m).outcomes
    same_outcomes(text)


def test_a_move_round_a_loop_is_never_in_a_set() -> None:
    """The cycle proviso: a daemon's unlock at the end of its forever loop jumps back (the
    pc falls), and the lock's other user would go to sleep on it: both go."""
    text = (
        HEADER
        + """\
memory: {free: 8, min: 2}
locks: {M: mutex}
tasks:
  spinner:
    daemon: true
    steps:
      - repeat: {forever: true, steps: [{mutex_lock: M}, {mutex_unlock: M}]}
  user:
    steps: [{mutex_lock: M}, {mutex_unlock: M}]
"""
    )
    m, full = reduced(text), load(text)
    s = step(full, m.initial(), 0)  # the spinner holds M, its unlock jumps back
    assert expanded(m, s) == {0, 1}
    same_outcomes(text)


def test_no_sets_where_every_step_meets_every_other_program() -> None:
    """Copies that all allocate from one pool under one mutex: each step touches the page
    allocator or the mutex, which every other copy's program touches too, so the model
    builds no stubborn sets (they would never leave a task out; docs/model.md, "When it is
    built"). One task with a lock of its own turns them on."""
    shared = (
        HEADER
        + """\
memory: {free: 4, min: 4}
pools: {P: {min_nr: 3}}
locks: {L: mutex}
tasks:
  worker:
    count: 2
    steps:
      - mempool_alloc: {pool: P, gfp: GFP_NOIO, as: a}
      - mutex_lock: L
      - mutex_unlock: L
      - mempool_free: a
"""
    )
    assert "stubborn-sets" not in KernelModel(load_text(shared, "t.yaml")).reductions
    private = shared.replace("locks: {L: mutex}", "locks: {L: mutex, M: mutex}") + (
        "  other:\n    steps: [{mutex_lock: M}, {mutex_unlock: M}]\n"
    )
    assert "stubborn-sets" in KernelModel(load_text(private, "t.yaml")).reductions
    same_outcomes(private)
