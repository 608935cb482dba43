"""KernelModel's queries: task views, waits, lock owners, counters, restart_step.

Each expectation is read off the scenario by hand: which step the task
stands at, what the kernel rule makes it wait on, what it holds.
"""

from __future__ import annotations

from mempool_cli.kernel.model import REAPER, KernelModel, State
from mempool_cli.kernel.view import TaskView, Wait
from mempool_cli.scenario import gfp as G
from mempool_cli.scenario.gfp import parse_gfp

from .kernel_builders import model, moves, only, run_task, scenario, task

GFP_KERNEL = parse_gfp("GFP_KERNEL")


def one_mempool_alloc_at_min(elements: int, kernel: str = "latest") -> KernelModel:
    """One task's GFP_NOIO mempool_alloc from pool0 (``elements`` in reserve), memory at min."""
    sc = scenario(
        task("t", ("mempool_alloc", {"pool": "pool0", "gfp": "GFP_NOIO", "as": "e"})),
        free=4,
        min=4,
        pools={"pool0": elements},
    )
    return model(sc, kernel)


def reaper_move(m: KernelModel, s: State, v: int) -> State:
    (nxt,) = [n for (actor, choice), n, _ in m.successors(s) if (actor, choice) == (REAPER, v)]
    return nxt


def test_task_at_start_is_at_a_boundary_and_holds_nothing() -> None:
    m = model(
        scenario(
            task("a", ("mutex_lock", "M"), ("mutex_unlock", "M"), rss=3),
            task("b", ("mutex_lock", "M"), ("mutex_unlock", "M")),
            locks={"M": "mutex"},
            pools={"pool0": 1},
        )
    )
    s = m.initial()
    assert m.task_view(s, 0) == TaskView(
        name="a",
        pc=0,
        wait=None,
        killed=False,
        memdie=False,
        victim=False,
        oom_skip=False,
        reaped=False,
        exited=False,
        rss=3,
        pages=0,
        elements=(0,),
    )
    assert m.task_view(s, 0).at_boundary
    assert [v.name for v in m.task_views(s)] == ["a", "b"]
    assert m.lock_owner(s, 0) is None


def test_mutex_waiter_and_owner() -> None:
    """b sleeps in mutex_lock(M) while a, which took M first, holds it."""
    m = model(
        scenario(
            task("a", ("mutex_lock", "M"), ("mutex_unlock", "M")),
            task("b", ("mutex_lock", "M"), ("mutex_unlock", "M")),
            locks={"M": "mutex"},
        )
    )
    s = only(m, m.initial(), 0)  # a: mutex_lock(M) -> acquired
    s = only(m, s, 1)  # b: mutex_lock(M) -> sleeps
    assert m.lock_owner(s, 0) == 0
    a, b = m.task_views(s)
    assert a.at_boundary and a.pc == 1 and a.wait is None
    assert not b.at_boundary and b.pc == 0
    assert b.wait == Wait("mutex", 0, "mutex_lock")
    # a unlocks: M is free, b is still inside mutex_lock until it runs
    s = only(m, s, 0)
    assert m.lock_owner(s, 0) is None
    assert m.task_view(s, 1).wait == Wait("mutex", 0, "mutex_lock")


def test_spinlock_waiter_spins_on_the_lock() -> None:
    m = model(
        scenario(
            task("a", ("spin_lock", "S"), ("spin_unlock", "S")),
            task("b", ("spin_lock", "S"), ("spin_unlock", "S")),
            locks={"M": "mutex", "S": "spinlock"},
        )
    )
    s = only(m, m.initial(), 1)  # b takes S
    s = only(m, s, 0)  # a spins on S
    assert m.lock_owner(s, 1) == 1 and m.lock_owner(s, 0) is None
    assert m.task_view(s, 0).wait == Wait("spinlock", 1, "spin_lock")


def test_completion_wait_and_complete_all() -> None:
    m = model(
        scenario(
            task("a", ("wait_for_completion", "C")),
            task("b", ("complete_all", "C")),
            completions={"C": 0},
        )
    )
    s = only(m, m.initial(), 0)  # count 0: a sleeps
    assert m.task_view(s, 0).wait == Wait("completion", 0, "wait_for_completion")
    assert not m.completed_all(s, 0)
    s = only(m, s, 1)
    assert m.completed_all(s, 0)


def test_pages_and_elements_held() -> None:
    """An order-1 page handle holds 2 pages; a pool element counts under its pool."""
    m = model(
        scenario(
            task(
                "t",
                ("alloc_pages", {"gfp": "GFP_KERNEL", "order": 1, "as": "p"}),
                ("mempool_alloc", {"pool": "pool1", "gfp": "GFP_NOIO", "as": "e"}),
                ("mempool_free", "e"),
                ("free_pages", "p"),
            ),
            free=16,
            min=4,
            pools={"pool0": 1, "pool1": 2},
        )
    )
    s = m.initial()
    assert m.free_pages(s) == 16 and (m.curr_nr(s, 0), m.curr_nr(s, 1)) == (1, 2)
    s = only(m, s, 0)  # 16 -> 14 free
    v = m.task_view(s, 0)
    assert (v.pages, v.elements, m.free_pages(s)) == (2, (0, 0), 14)
    s = only(m, s, 0)  # pool->alloc takes a page from the free list: the pool stays full
    v = m.task_view(s, 0)
    assert (v.pages, v.elements, m.free_pages(s)) == (2, (0, 1), 13)
    assert m.curr_nr(s, 1) == 2
    s = only(m, s, 0)  # mempool_free: pool1 is full, the element goes back to the free list
    assert m.task_view(s, 0).elements == (0, 0)
    s = only(m, s, 0)
    assert m.task_view(s, 0).pages == 0 and m.free_pages(s) == 16


def test_pool_check_then_element_from_the_pool() -> None:
    """At min, pass 1 fails; the task is in mempool_alloc before the pool check, not sleeping."""
    m = one_mempool_alloc_at_min(elements=2)
    s = only(m, m.initial(), 0)
    assert m.task_view(s, 0).wait == Wait("pool", 0, "mempool_alloc", pool=0)
    s = only(m, s, 0)  # the check pops an element
    v = m.task_view(s, 0)
    assert v.at_boundary and v.elements == (1,) and m.curr_nr(s, 0) == 1


def test_empty_pool_retry_then_sleep_on_pool_wait() -> None:
    """[1.3 A]: pass 2 runs pool->alloc with the full mask (direct reclaim, forced NORETRY)."""
    m = one_mempool_alloc_at_min(elements=0, kernel="v4.8")
    s = only(m, m.initial(), 0)  # pass 1 fails
    s = only(m, s, 0)  # empty: retry at once with the full mask
    assert m.task_view(s, 0).wait == Wait("pool", 0, "mempool_alloc", pool=0)
    s = only(m, s, 0)  # pass 2: a reclaim pass that finds nothing
    wait = m.task_view(s, 0).wait
    assert wait is not None
    assert (wait.kind, wait.pool_sleep, wait.spinning) == ("pool", False, False)
    # v4.8 forces NORETRY, NOWARN and NOMEMALLOC on every pass [1.3]
    assert wait.gfp == parse_gfp("GFP_NOIO") | G.NORETRY | G.NOWARN | G.NOMEMALLOC
    s = only(m, s, 0)  # after reclaim: NORETRY fails
    s = only(m, s, 0)  # empty again with direct reclaim: sleep on pool->wait
    assert m.task_view(s, 0).wait == Wait(
        "pool", 0, "mempool_alloc", pool=0, gfp=None, pool_sleep=True
    )


def test_plain_alloc_loops_for_a_page_with_the_scoped_mask() -> None:
    """Nothing reclaimable: the slow path spins; PF_MEMALLOC_NOIO strips IO and FS [2.3]."""
    m = model(
        scenario(
            task(
                "t",
                ("alloc_pages", {"gfp": "GFP_KERNEL", "as": "p"}),
                ("free_pages", "p"),
                flags=["PF_MEMALLOC_NOIO"],
            ),
            free=4,
            min=4,
            killer=False,
        )
    )
    s = only(m, m.initial(), 0)
    assert m.task_view(s, 0).wait == Wait(
        "page", None, "alloc_pages", gfp=parse_gfp("GFP_NOIO"), spinning=True
    )
    assert m.reclaimable_pages(s) == 0


def test_reclaim_waits_for_a_lock_and_a_completion() -> None:
    """Direct reclaim of an entry whose lock is held, or whose completion is not done."""
    m = model(
        scenario(
            task("a", ("mutex_lock", "M"), ("mutex_unlock", "M")),
            task("b", ("alloc_pages", {"gfp": "GFP_KERNEL", "as": "p"}), ("free_pages", "p")),
            free=4,
            min=4,
            locks={"M": "mutex"},
            reclaimable=[{"pages": 4, "locks": ["M"]}],
            killer=False,
        )
    )
    s = only(m, m.initial(), 0)  # a holds M
    assert m.reclaimable_pages(s) == 4
    s = only(m, s, 1)
    assert m.task_view(s, 1).wait == Wait("reclaim-lock", 0, "alloc_pages", gfp=GFP_KERNEL)
    assert m.lock_owner(s, 0) == 0

    m = model(
        scenario(
            task("b", ("alloc_pages", {"gfp": "GFP_KERNEL", "as": "p"}), ("free_pages", "p")),
            free=4,
            min=4,
            completions={"C": 0},
            reclaimable=[{"pages": 4, "waits": "C"}],
            killer=False,
        )
    )
    s = only(m, m.initial(), 0)
    assert m.task_view(s, 0).wait == Wait("reclaim-completion", 0, "alloc_pages", gfp=GFP_KERNEL)


def test_reclaim_inside_mempool_alloc_names_the_pool() -> None:
    """Pass 2 of mempool_alloc reclaims with the full mask and blocks on the entry's lock."""
    m = model(
        scenario(
            task("a", ("mutex_lock", "M"), ("mutex_unlock", "M")),
            task("b", ("mempool_alloc", {"pool": "pool0", "gfp": "GFP_KERNEL", "as": "e"})),
            free=4,
            min=4,
            pools={"pool0": 0},
            locks={"M": "mutex"},
            reclaimable=[{"pages": 4, "locks": ["M"]}],
        ),
        "v4.8",
    )
    s = only(m, m.initial(), 0)  # a holds M
    for _ in range(3):  # pass 1 fails, empty pool: retry, pass 2 reaches reclaim
        s = only(m, s, 1)
    full = GFP_KERNEL | G.NORETRY | G.NOWARN | G.NOMEMALLOC
    assert m.task_view(s, 1).wait == Wait("reclaim-lock", 0, "mempool_alloc", pool=0, gfp=full)


def test_victim_flags_and_the_reaper() -> None:
    """A victim at start has SIGKILL, TIF_MEMDIE and the victim mark; the 4.8 reaper frees its
    rss, sets MMF_OOM_SKIP and (victim_reserves: all) clears TIF_MEMDIE [5.4]."""
    m = model(
        scenario(
            task("v", ("mutex_lock", "M"), ("mutex_unlock", "M"), rss=8, oom_victim=True),
            task("w", ("mutex_lock", "M"), ("mutex_unlock", "M")),
            free=16,
            locks={"M": "mutex"},
        ),
        "v4.8",
    )
    s = m.initial()
    v = m.task_view(s, 0)
    assert (v.killed, v.memdie, v.victim, v.oom_skip, v.reaped, v.exited) == (
        True,
        True,
        True,
        False,
        False,
        False,
    )
    s = reaper_move(m, s, 0)
    v = m.task_view(s, 0)
    assert (v.killed, v.memdie, v.victim, v.oom_skip, v.reaped) == (True, False, True, True, True)
    assert v.rss == 0 and m.free_pages(s) == 24
    assert not m.task_view(s, 1).victim


def test_exited_task() -> None:
    m = model(scenario(task("t", ("complete", "C"), rss=2), free=10, completions={"C": 0}))
    s = run_task(m, m.initial(), 0)
    v = m.task_view(s, 0)
    assert v.exited and v.at_boundary and v.pc == 1 and v.rss == 0
    assert m.free_pages(s) == 12
    assert not moves(m, s, 0)


def test_halted_after_a_violation() -> None:
    m = model(scenario(task("t", ("mutex_unlock", "M")), locks={"M": "mutex"}))
    s = m.initial()
    assert not m.halted(s)
    assert m.halted(only(m, s, 0))  # unlocking a free mutex


def test_restart_step_clears_only_the_frame() -> None:
    """Pass 1 at min changes nothing but the frame, so restarting it gives the start back,
    and running the step again leads where it led."""
    m = one_mempool_alloc_at_min(elements=2)
    s = only(m, m.initial(), 0)
    assert not m.task_view(s, 0).at_boundary
    back = m.restart_step(s, 0)
    assert back == m.initial()
    assert m.task_view(back, 0).at_boundary and m.task_view(back, 0).pc == 0
    assert only(m, back, 0) == s

    # A task that holds something keeps it: only its position in the step is reset.
    m = model(
        scenario(
            task("a", ("mutex_lock", "M"), ("mutex_unlock", "M")),
            task("b", ("mutex_lock", "M"), ("mutex_unlock", "M")),
            locks={"M": "mutex"},
        )
    )
    s = only(m, only(m, m.initial(), 0), 1)  # b sleeps on M, held by a
    back = m.restart_step(s, 1)
    assert m.lock_owner(back, 0) == 0
    assert m.task_view(back, 1).at_boundary and m.task_view(back, 1).pc == 0
    assert m.task_view(back, 0) == m.task_view(s, 0)
