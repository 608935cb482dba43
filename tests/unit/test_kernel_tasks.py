"""Locks, completions, scopes, fatal signals and the OOM reaper as transition tables."""

from __future__ import annotations

from mempool_cli.kernel.oom import ABORT, PANIC, Candidate, badness, select_victim
from mempool_cli.kernel.view import Wait
from mempool_cli.narration import halt_text

from .kernel_builders import model, moves, only, run_task, scenario, task


def test_mutex_sleeps_then_wakes_when_released() -> None:
    a = task("a", ("mutex_lock", "M"), ("mutex_unlock", "M"))
    b = task("b", ("mutex_lock", "M"), ("mutex_unlock", "M"))
    m = model(scenario(a, b, locks={"M": "mutex"}))
    s = only(m, m.initial(), 0)
    assert m.lock_owner(s, 0) == 0
    s = only(m, s, 1)
    assert m.task_view(s, 1).wait == Wait("mutex", 0, "mutex_lock")
    assert moves(m, s, 1) == []
    s = only(m, s, 0)
    s = only(m, s, 1)
    assert m.lock_owner(s, 0) == 1 and m.task_view(s, 1).at_boundary


def test_unlock_of_a_lock_not_held_is_a_violation() -> None:
    m = model(scenario(task("a", ("mutex_unlock", "M")), locks={"M": "mutex"}))
    s = only(m, m.initial(), 0)
    assert m.state_labels(s) == {"violation"} and m.successors(s) == []


def test_sleeping_in_atomic_context_is_a_violation() -> None:
    t = task("a", ("spin_lock", "S"), ("mutex_lock", "M"))
    m = model(scenario(t, locks={"S": "spinlock", "M": "mutex"}))
    s = run_task(m, m.initial(), 0)
    assert "sleeps holding spinlock S" in halt_text(m, s)


def test_wait_in_irq_context_is_a_violation() -> None:
    m = model(
        scenario(task("a", ("wait_for_completion", "C"), context="irq"), completions={"C": 0})
    )
    s = only(m, m.initial(), 0)
    assert "irq context" in halt_text(m, s)


def test_completion_counts_and_complete_all() -> None:
    w = task("w", ("wait_for_completion", "C"), ("wait_for_completion", "C"))
    c = task("c", ("complete_all", "C"))
    m = model(scenario(w, c, completions={"C": 1}))
    s = only(m, m.initial(), 0)  # consumes the initial count
    assert m.done_count(s, 0) == 0
    s = only(m, s, 0)
    assert not m.task_view(s, 0).at_boundary
    s = only(m, s, 1)
    s = only(m, s, 0)
    assert m.task_view(s, 0).at_boundary and m.completed_all(s, 0)  # complete_all stays done


def test_scopes_nest_and_unbalanced_restore_is_a_violation() -> None:
    t = task(
        "a",
        ("memalloc_noio_save", None),
        ("memalloc_noio_save", None),
        ("memalloc_noio_restore", None),
    )
    m = model(scenario(t))
    s = run_task(m, m.initial(), 0, limit=3)
    assert m.scope_depths(s, 0) == (1, 0, 0)
    m = model(scenario(task("a", ("memalloc_nofs_restore", None))))
    assert "without a matching save" in halt_text(m, only(m, m.initial(), 0))


def test_killed_task_unwinds_only_what_it_holds() -> None:
    """Contract, fatal signals: acquiring steps skipped, held things released, complete* run."""
    t = task(
        "v",
        ("mutex_lock", "M"),  # in progress at start: not skipped
        ("mutex_lock", "N"),  # skipped
        ("alloc_pages", {"gfp": "GFP_KERNEL", "as": "p"}),  # skipped
        ("complete", "C"),  # runs
        ("mutex_unlock", "N"),  # skipped: N is not held
        ("mutex_unlock", "M"),  # runs
        oom_victim=True,
    )
    m = model(scenario(t, locks={"M": "mutex", "N": "mutex"}, completions={"C": 0}))
    s = only(m, m.initial(), 0)
    assert m.lock_owner(s, 0) == 0 and m.lock_owner(s, 1) is None
    assert m.task_view(s, 0).pc == 3  # now at `complete`
    s = only(m, s, 0)
    assert m.done_count(s, 0) == 1 and m.task_view(s, 0).pc == 5
    s = run_task(m, s, 0)
    assert m.task_view(s, 0).exited and not m.halted(s)


def test_killable_wait_returns_on_a_fatal_signal() -> None:
    holder = task("h", ("mutex_lock", "M"), ("mutex_unlock", "M"))
    v = task("v", ("mutex_lock_killable", "M"), ("mutex_unlock", "M"), oom_victim=True)
    m = model(scenario(holder, v, locks={"M": "mutex"}))
    s = only(m, m.initial(), 0)  # h holds M
    s = only(m, s, 1)  # v is killed already: killable lock returns -EINTR at once
    assert m.task_view(s, 1).at_boundary and m.lock_owner(s, 0) == 0
    s = only(m, s, 1)  # unwinding skips the unlock of M (not held) and exits
    assert m.task_view(s, 1).exited


def test_reaper_modes() -> None:
    """[5.4] and the contract's oom_reaper knob."""
    v = task(
        "v", ("mutex_lock", "M"), ("mutex_unlock", "M"), oom_victim=True, rss=8, mm_reapable=False
    )
    for kernel, marks_skip in (("v4.8", False), ("v4.15", True)):
        m = model(scenario(v, free=4, locks={"M": "mutex"}), kernel)
        reaps = [n for (a, _), n, _ in m.successors(m.initial()) if a == -1]
        assert len(reaps) == 1
        view = m.task_view(reaps[0], 0)
        assert view.oom_skip is marks_skip and view.reaped
        assert m.free_pages(reaps[0]) == 4
    reapable = task("v", ("mutex_lock", "M"), ("mutex_unlock", "M"), oom_victim=True, rss=8)
    m = model(scenario(reapable, free=4, locks={"M": "mutex"}), "v4.8")
    (s,) = [n for (a, _), n, _ in m.successors(m.initial()) if a == -1]
    view = m.task_view(s, 0)
    assert m.free_pages(s) == 12 and view.oom_skip and not view.memdie
    assert [a for (a, _), _, _ in m.successors(s) if a == -1] == []  # acts once
    m = model(scenario(reapable, free=4, locks={"M": "mutex"}), "v4.5")
    assert [a for (a, _), _, _ in m.successors(m.initial()) if a == -1] == []  # no reaper


def test_exit_returns_rss() -> None:
    m = model(scenario(task("a", ("complete", "C"), rss=3), free=5, completions={"C": 0}))
    s = run_task(m, m.initial(), 0)
    assert m.free_pages(s) == 8 and m.is_final(s)


# --- [5.2] victim selection --------------------------------------------------


def cand(
    rss: int,
    adj: int = 0,
    victim: bool = False,
    skip: bool = False,
    kthread: bool = False,
    alive: bool = True,
) -> Candidate:
    return Candidate(alive, kthread, adj, victim, skip, rss)


def test_select_highest_badness_ties_to_last() -> None:
    assert select_victim([cand(5), cand(9), cand(9), cand(1)], 100) == 2


def test_select_skips_unkillable() -> None:
    assert select_victim([cand(9, adj=-1000), cand(1, kthread=True), cand(0)], 100) == 2
    assert select_victim([cand(9, skip=True), cand(1, alive=False)], 100) == PANIC


def test_select_aborts_on_a_live_victim_even_at_adj_minus_1000() -> None:
    assert select_victim([cand(9), cand(0, adj=-1000, victim=True)], 100) == ABORT
    assert select_victim([cand(9), cand(0, victim=True, skip=True)], 100) == 0


def test_badness_uses_adj_scaled_by_total() -> None:
    assert badness(0, 500, 20) > badness(9, 0, 20)  # 0 + 500*20/1000 = 10 > 9
    assert select_victim([cand(9), cand(0, adj=500)], 20) == 1


def test_oom_kill_marks_and_settles_victim() -> None:
    a = task("a", ("alloc_pages", {"gfp": "GFP_KERNEL", "as": "p"}), ("free_pages", "p"))
    b = task("b", ("mutex_lock", "M"), ("mutex_unlock", "M"), rss=5)
    m = model(scenario(a, b, free=4, min=4, locks={"M": "mutex"}), "v4.8")
    s = m.initial()
    while not m.task_view(s, 1).killed:
        s = only(m, s, 0)
    view = m.task_view(s, 1)
    assert view.memdie and view.victim and view.pc == 2


def test_panic_when_nobody_is_killable() -> None:
    a = task(
        "a",
        ("alloc_pages", {"gfp": "GFP_KERNEL", "as": "p"}),
        ("free_pages", "p"),
        oom_score_adj=-1000,
    )
    m = model(scenario(a, free=4, min=4), "v4.8")
    s = run_task(m, m.initial(), 0)
    assert m.state_labels(s) == {"oom-panic"} and m.is_final(s)
