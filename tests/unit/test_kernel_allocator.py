"""Page-allocator rules as transition tables: state before, step, state after.

Each case names its section of kernel-semantics.md.
"""

from __future__ import annotations

import pytest

from mempool_cli.kernel.gfp import alloc_rights, passes
from mempool_cli.kernel.state import NULL
from mempool_cli.narration import halt_text
from mempool_cli.scenario import gfp as G

from .kernel_builders import handle, model, moves, only, run_task, scenario, task

ALLOC = "alloc_pages"


def one_alloc(gfp: str, order: int = 0, **traits: object) -> tuple:
    return task("t", (ALLOC, {"gfp": gfp, "order": order, "as": "p"}), **traits)


# --- [3.2] the watermark check and its boundaries -------------------------


@pytest.mark.parametrize(
    ("free_pages", "order", "floor", "ok"),
    [
        (4, 0, 4, False),  # free == min: 4 - 1 + 1 > 4 is false
        (5, 0, 4, True),  # one above min passes
        (5, 1, 4, False),  # order 1 needs two pages above the floor
        (6, 1, 4, True),
        (1, 0, None, True),  # NO_WATERMARKS takes the last page
        (0, 0, None, False),  # ... but needs it to exist
        (1, 1, None, False),
    ],
)
def test_watermark_check(free_pages: int, order: int, floor: int | None, ok: bool) -> None:
    assert passes(free_pages, order, floor) is ok


@pytest.mark.parametrize(
    ("gfp", "traits", "floor"),
    [
        ("GFP_KERNEL", {}, 8),
        ("GFP_KERNEL | __GFP_HIGH", {}, 4),  # ALLOC_HIGH: min - min/2
        ("GFP_ATOMIC", {}, 3),  # HIGH then HARDER: 8 -> 4 -> 3
        ("GFP_KERNEL", {"rt": True}, 6),  # RT task: HARDER alone, 0.75 min
        ("GFP_KERNEL", {"rt": True, "context": "softirq"}, 8),  # not outside interrupts
        ("GFP_ATOMIC | __GFP_NOMEMALLOC", {}, 4),  # NOMEMALLOC denies HARDER (4.x)
    ],
)
def test_floor_per_caller_class(gfp: str, traits: dict, floor: int) -> None:
    """[3.2] 4.4-4.14 cuts, with min = 8."""
    rights = alloc_rights(
        G.parse_gfp(gfp),
        wmark_min=8,
        context=traits.get("context", "process"),
        rt=traits.get("rt", False),
        pf_memalloc=False,
        memdie=False,
        victim=False,
        victim_reserves="all",
    )
    assert rights.floor == floor


def test_first_attempt_takes_a_page_above_min() -> None:
    m = model(scenario(one_alloc("GFP_KERNEL"), free=5, min=4))
    after = only(m, m.initial(), 0)
    assert m.free_pages(after) == 4
    assert handle(m, after, 0, "p") == ("p", 0)


def test_no_direct_reclaim_fails_at_min() -> None:
    """[3.5 step 5]: without __GFP_DIRECT_RECLAIM the request fails at once."""
    m = model(scenario(one_alloc("GFP_NOWAIT"), free=4, min=4))
    after = only(m, m.initial(), 0)
    assert m.free_pages(after) == 4
    assert handle(m, after, 0, "p") == NULL


# --- [3.3] reserves: PF_MEMALLOC, NOMEMALLOC, victims ----------------------


def test_pf_memalloc_dips_to_zero() -> None:
    """[2.3]/[3.3]: PF_MEMALLOC in process context gets NO_WATERMARKS."""
    m = model(scenario(one_alloc("GFP_NOIO", flags=["PF_MEMALLOC"]), free=1, min=4))
    after = only(m, m.initial(), 0)
    assert m.free_pages(after) == 0
    assert "depletion" in m.state_labels(after)


def test_nomemalloc_wins_over_pf_memalloc() -> None:
    """[2.1]: NOMEMALLOC forbids reserves even to PF_MEMALLOC, which may not reclaim either."""
    m = model(
        scenario(one_alloc("GFP_NOIO | __GFP_NOMEMALLOC", flags=["PF_MEMALLOC"]), free=2, min=4)
    )
    after = only(m, m.initial(), 0)
    assert m.free_pages(after) == 2
    assert handle(m, after, 0, "p") == NULL


def test_pf_memalloc_in_irq_gets_no_reserves() -> None:
    m = model(
        scenario(one_alloc("GFP_ATOMIC", flags=["PF_MEMALLOC"], context="irq"), free=2, min=8)
    )
    after = only(m, m.initial(), 0)
    assert handle(m, after, 0, "p") == NULL  # floor 3 for GFP_ATOMIC: 2 - 1 + 1 > 3 is false


def test_memalloc_noreclaim_scope_is_pf_memalloc() -> None:
    m = model(
        scenario(
            task(
                "t",
                ("memalloc_noreclaim_save", None),
                (ALLOC, {"gfp": "GFP_NOIO", "as": "p"}),
                ("memalloc_noreclaim_restore", None),
                ("free_pages", "p"),
            ),
            free=1,
            min=4,
        )
    )
    s = only(m, m.initial(), 0)
    s = only(m, s, 0)
    assert m.free_pages(s) == 0


def test_victim_all_era_takes_the_last_page() -> None:
    """[3.3] 4.5: TIF_MEMDIE in process context -> NO_WATERMARKS."""
    m = model(scenario(one_alloc("GFP_KERNEL", oom_victim=True), free=1, min=4), "v4.8")
    after = only(m, m.initial(), 0)
    assert m.free_pages(after) == 0


def test_victim_half_min_era_stops_at_half_min() -> None:
    """[3.2] 4.15: ALLOC_OOM floor is min - min/2; with min 4 the floor is 2."""
    m = model(scenario(one_alloc("GFP_KERNEL", oom_victim=True), free=3, min=4), "v4.15")
    assert m.free_pages(only(m, m.initial(), 0)) == 2
    m = model(scenario(one_alloc("GFP_KERNEL", oom_victim=True), free=2, min=4), "v4.15")
    s = run_task(m, m.initial(), 0)
    assert m.free_pages(s) == 2
    assert handle(m, s, 0, "p") == NULL  # [3.5 6.x step 18]: a victim with ALLOC_OOM does not loop


def test_victim_bailout_before_reclaim_all_era() -> None:
    """[3.5 step 7]: TIF_MEMDIE without NOFAIL fails instead of reclaiming or looping."""
    sc = scenario(
        one_alloc("GFP_KERNEL", oom_victim=True),
        free=0,
        min=4,
        reclaimable=[{"pages": 8}],
    )
    m = model(sc, "v4.5")
    after = only(m, m.initial(), 0)
    assert handle(m, after, 0, "p") == NULL
    assert after[4] == (8,)  # nothing was reclaimed


def test_nofail_victim_reclaims_all_era_v47() -> None:
    """[3.5 step 7] spares NOFAIL victims: they go on to direct reclaim."""
    sc = scenario(
        one_alloc("GFP_KERNEL | __GFP_NOFAIL", oom_victim=True),
        free=0,
        min=4,
        reclaimable=[{"pages": 8}],
    )
    m = model(sc, "v4.8")
    after = only(m, m.initial(), 0)
    assert after[4] == (3,)  # reclaim freed the 5 pages the request needs to pass min


def test_nofail_with_no_watermarks_spins_in_v45_high_priority_path() -> None:
    """[3.5 step 4]: 4.5 repeats the NO_WATERMARKS attempt forever for NOFAIL, without reclaim."""
    sc = scenario(
        one_alloc("GFP_KERNEL | __GFP_NOFAIL", oom_victim=True),
        free=0,
        min=4,
        reclaimable=[{"pages": 8}],
    )
    m = model(sc, "v4.5")
    s0 = m.initial()
    s1 = only(m, s0, 0)
    assert s1[4] == (8,)
    assert only(m, s1, 0) == s1  # a self-loop: spinning with nothing changing
    assert m.classify_hang([s1]) == "livelock"


# --- [3.2] scope: current_gfp_context ---------------------------------------


@pytest.mark.parametrize(
    ("steps", "eligible"),
    [
        ([], True),
        ([("memalloc_noio_save", None)], False),
        ([("memalloc_nofs_save", None)], True),  # entry needs only __GFP_IO
    ],
)
def test_reclaim_needs_flags_after_scope(steps: list, eligible: bool) -> None:
    """Contract: an entry is reclaimable only if gfp after the task scope has all of `needs`."""
    t = task("t", *steps, (ALLOC, {"gfp": "GFP_KERNEL", "as": "p"}))
    sc = scenario(t, free=4, min=4, reclaimable=[{"pages": 2, "needs": ["__GFP_IO"]}])
    m = model(sc, "v4.8")
    s = m.initial()
    for _ in steps:
        s = only(m, s, 0)
    s = only(m, s, 0)
    assert m.reclaimable_left(s, 0) == (1 if eligible else 2)


def test_gfp_noio_cannot_reclaim_fs_entry() -> None:
    sc = scenario(
        one_alloc("GFP_NOIO"), free=4, min=4, reclaimable=[{"pages": 2, "needs": ["__GFP_FS"]}]
    )
    m = model(sc, "v4.8")
    s = only(m, m.initial(), 0)
    assert m.reclaimable_left(s, 0) == 2


# --- [3.5]/[3.6] retry policy ------------------------------------------------


def test_noretry_gives_up_after_one_reclaim_pass() -> None:
    sc = scenario(one_alloc("GFP_KERNEL | __GFP_NORETRY"), free=4, min=4)
    m = model(sc, "v4.8")
    s = run_task(m, m.initial(), 0)
    assert handle(m, s, 0, "p") == NULL
    assert not any("oom-kill" in lab for _, _, lab in m.successors(m.initial()))


def test_reclaim_frees_what_the_request_needs() -> None:
    """Contract: reclaim frees what the request needs to pass its floor, or all the entry has."""
    sc = scenario(one_alloc("GFP_KERNEL"), free=2, min=4, reclaimable=[{"pages": 10}])
    m = model(sc, "v4.8")
    s = only(m, m.initial(), 0)
    assert m.reclaimable_left(s, 0) == 7  # 2 free, floor 4: needs 3 more so that 5 - 1 + 1 > 4
    assert m.free_pages(s) == 5
    s = only(m, s, 0)  # the attempt after reclaim
    assert m.free_pages(s) == 4 and handle(m, s, 0, "p") == ("p", 0)


def test_reclaim_choice_is_a_branch_per_entry() -> None:
    sc = scenario(one_alloc("GFP_KERNEL"), free=4, min=4, reclaimable=[{"pages": 1}, {"pages": 3}])
    m = model(sc, "v4.8")
    left = [(m.reclaimable_left(s, 0), m.reclaimable_left(s, 1)) for s in moves(m, m.initial(), 0)]
    assert sorted(left) == [(0, 3), (1, 2)]


def test_reclaim_takes_entry_locks_and_blocks_on_a_held_one() -> None:
    holder = task("h", ("mutex_lock", "FS"), ("mutex_unlock", "FS"))
    alloc = one_alloc("GFP_KERNEL")
    sc = scenario(
        holder,
        alloc,
        free=4,
        min=4,
        locks={"FS": "mutex"},
        reclaimable=[{"pages": 2, "locks": ["FS"]}],
    )
    m = model(sc, "v4.8")
    s = only(m, m.initial(), 0)  # h takes FS
    s = only(m, s, 1)  # t enters reclaim, needs FS
    wait = m.task_view(s, 1).wait
    assert wait is not None and wait.call == "alloc_pages" and wait.kind == "reclaim-lock"
    assert moves(m, s, 1) == []  # blocked on FS
    s = only(m, s, 0)  # h releases FS
    s = only(m, s, 1)  # reclaim proceeds: takes FS, frees, releases
    assert m.lock_owner(s, 0) is None and m.reclaimable_left(s, 0) == 1


def test_v47_gives_up_retrying_after_16_loops_without_progress() -> None:
    """[3.6]/[3.5 4.7]: without progress the estimate shrinks by loops/16 each pass, so the
    16th pass finds nothing available and goes to may_oom (halved at 8, zero at 16)."""
    # An entry GFP_KERNEL may not reclaim keeps `available` high: only the loop count stops it.
    sc = scenario(
        one_alloc("GFP_KERNEL"),
        free=4,
        min=4,
        reclaimable=[{"pages": 100, "needs": ["__GFP_HIGH"]}],
        killer=False,
    )
    m = model(sc, "v4.8")
    s = m.initial()
    loops = 0
    while not m.task_view(s, 0).at_boundary or loops == 0:
        s = only(m, s, 0)
        if m.alloc_stage(s, 0) == "after_reclaim":
            loops += 1
        if m.task_view(s, 0).at_boundary:
            break
    assert loops == 16
    assert handle(m, s, 0, "p") == NULL  # killer disabled: out_of_memory makes no progress


def test_v45_loops_while_reclaim_makes_progress() -> None:
    sc = scenario(one_alloc("GFP_KERNEL"), free=4, min=4, reclaimable=[{"pages": 3}], killer=False)
    m = model(sc, "v4.5")
    s = run_task(m, m.initial(), 0)
    assert handle(m, s, 0, "p") == ("p", 0)


def test_nofs_may_oom_reports_progress_without_a_kill_v45() -> None:
    """[3.7 step 4]: 4.5 keeps a !__GFP_FS request looping, and kills nobody."""
    other = task("other", ("mutex_lock", "L"), ("mutex_unlock", "L"), rss=5)
    sc = scenario(one_alloc("GFP_NOFS"), other, free=4, min=4, locks={"L": "mutex"})
    m = model(sc, "v4.5")
    s = m.initial()
    for _ in range(20):
        nxt = [(lab, n) for (a, _), n, lab in m.successors(s) if a == 0]
        assert len(nxt) == 1
        assert "oom-kill" not in nxt[0][0]
        s = nxt[0][1]
    assert not m.task_view(s, 0).at_boundary  # still looping
    view = m.task_view(s, 1)
    assert not (view.killed or view.memdie or view.victim)  # nobody was killed


def test_kernel_may_oom_kills_the_biggest_task() -> None:
    other = task("other", ("mutex_lock", "L"), ("mutex_unlock", "L"), rss=5)
    sc = scenario(one_alloc("GFP_KERNEL"), other, free=4, min=4, locks={"L": "mutex"})
    m = model(sc, "v4.5")
    s = only(m, m.initial(), 0)  # attempt + reclaim (nothing)
    s = only(m, s, 0)  # after reclaim: no progress
    labels = [lab for (a, _), _, lab in m.successors(s) if a == 0]
    s = only(m, s, 0)  # may_oom
    assert labels == [frozenset({"oom-kill"})]
    view = m.task_view(s, 1)
    assert view.killed and view.memdie and view.victim
    # the victim was at a step boundary: unwinding skipped its mutex_lock and the
    # unlock of a lock it does not hold
    assert view.pc == 2


def test_atomic_high_order_with_direct_reclaim_is_a_violation_in_spinlock() -> None:
    t = task("t", ("spin_lock", "S"), (ALLOC, {"gfp": "GFP_KERNEL", "as": "p"}))
    m = model(scenario(t, locks={"S": "spinlock"}))
    s = only(m, m.initial(), 0)
    s = only(m, s, 0)
    assert "violation" in m.state_labels(s)
    assert "holding spinlock S" in halt_text(m, s)


def test_gfp_atomic_inside_spinlock_is_fine() -> None:
    t = task(
        "t",
        ("spin_lock", "S"),
        (ALLOC, {"gfp": "GFP_ATOMIC", "as": "p"}),
        ("spin_unlock", "S"),
        ("free_pages", "p"),
    )
    m = model(scenario(t, locks={"S": "spinlock"}))
    s = run_task(m, m.initial(), 0)
    assert not m.halted(s) and m.is_final(s)


def test_gfp_repeat_at_small_order_changes_nothing_before_retry_mayfail() -> None:
    """[3.5 4.7]: __GFP_REPEAT only matters for costly orders until it became
    __GFP_RETRY_MAYFAIL (~4.13), which never OOM-kills [3.6]. Found by a scenario probe."""
    other = task("other", ("mutex_lock", "L"), ("mutex_unlock", "L"), rss=5)
    t = one_alloc("GFP_KERNEL | __GFP_RETRY_MAYFAIL")
    for kernel, may_kill in (("v4.8", True), ("v4.15", False)):
        m = model(scenario(t, other, free=4, min=4, locks={"L": "mutex"}), kernel)
        s = m.initial()
        killed = False
        for _ in range(60):
            nxt = [(lab, n) for (a, _), n, lab in m.successors(s) if a == 0]
            if not nxt:
                break
            killed |= "oom-kill" in nxt[0][0]
            s = nxt[0][1]
        assert killed is may_kill


# --- [9.4] the NOFAIL / OOM history, one knob per change --------------------


def _walk(m, s, t: int = 0, limit: int = 80) -> tuple[object, bool]:
    """Step task ``t`` alone (one move each) until its step ends; the state and whether it
    OOM-killed on the way."""
    killed = False
    for _ in range(limit):
        nxt = [(lab, n) for (a, _), n, lab in m.successors(s) if a == t]
        if not nxt:
            break
        assert len(nxt) == 1
        killed |= "oom-kill" in nxt[0][0]
        s = nxt[0][1]
        if m.task_view(s, t).at_boundary:
            break
    return s, killed


def _nofs_nofail(kernel: str, free: int) -> tuple[object, bool, object]:
    hog = task("hog", ("mutex_lock", "L"), ("mutex_unlock", "L"), rss=5)
    sc = scenario(one_alloc("GFP_NOFS | __GFP_NOFAIL"), hog, free=free, min=4, locks={"L": "mutex"})
    m = model(sc, kernel)
    s, killed = _walk(m, m.initial())
    return m, killed, s


@pytest.mark.parametrize(
    ("kernel", "kills"),
    [
        ("v4.5", True),  # !__GFP_FS bail-out sits inside may_oom's !NOFAIL block
        ("v4.6", True),
        ("v4.8", True),  # out_of_memory returns early only for !(gfp & (FS | NOFAIL))
        ("v4.11", False),  # 06ad276ac187: !(gfp & __GFP_FS), NOFAIL no longer kills
        ("v4.15", False),
        ("latest", False),
    ],
)
def test_nofs_nofail_oom_kills_until_4_11(kernel: str, kills: bool) -> None:
    """[9.4]: GFP_NOFS | __GFP_NOFAIL under min OOM-kills on 4.5-4.10, not from 4.11.

    The v4.8 case livelocked before the knobs were split (the model applied 4.11's
    out_of_memory check to 4.7-4.10)."""
    _, killed, _ = _nofs_nofail(kernel, free=4)
    assert killed is kills


def test_nofs_nofail_takes_a_reserve_page_after_the_kill_v48() -> None:
    """[9.4] 5020e285856c: after out_of_memory a NOFAIL request tries ALLOC_NO_WATERMARKS, so
    on v4.8 the page comes from below min in the same may_oom step that killed."""
    m, killed, s = _nofs_nofail("v4.8", free=4)
    assert killed and m.free_pages(s) == 3
    assert handle(m, s, 0, "p") == ("p", 0)


def test_nofs_nofail_takes_a_reserve_page_without_a_kill_v411() -> None:
    """[9.4] 6c18ba7a1899: from 4.11 a NOFS | NOFAIL request that may not kill still gets the
    NO_WATERMARKS attempt after out_of_memory reported progress."""
    m, killed, s = _nofs_nofail("v4.11", free=4)
    assert not killed and m.free_pages(s) == 3
    assert m.task_view(s, 1).pc == 0 and not m.task_view(s, 1).killed


def test_nofs_nofail_with_no_page_at_all_loops_from_4_11() -> None:
    """With free 0 the reserves hold nothing: 4.11+ loops for ever and kills nobody."""
    m, killed, s = _nofs_nofail("v4.11", free=0)
    assert not killed and not m.task_view(s, 0).at_boundary


@pytest.mark.parametrize(("kernel", "gets_page"), [("v4.5", False), ("v4.6", True)])
def test_reserves_after_oom_arrive_in_4_6(kernel: str, gets_page: bool) -> None:
    """[9.4] 5020e285856c is in 4.6 (read in 4.6.2's __alloc_pages_may_oom), not in the 4.5
    text: with the killer off, a NOFAIL request still reports progress, and from 4.6 it
    then takes the last pages below min."""
    sc = scenario(one_alloc("GFP_KERNEL | __GFP_NOFAIL"), free=2, min=4, killer=False)
    m = model(sc, kernel)
    s = m.initial()
    for _ in range(12):
        s = only(m, s, 0)
        if m.task_view(s, 0).at_boundary:
            break
    assert m.task_view(s, 0).at_boundary is gets_page
    assert m.free_pages(s) == (1 if gets_page else 2)


@pytest.mark.parametrize(
    ("kernel", "free", "gets_page"),
    [
        ("v4.8", 4, False),  # 4.6-4.10: PF_MEMALLOC NOFAIL just loops (cond_resched; retry)
        ("v4.11", 4, True),  # 9a67f6488eca: nopage tries ALLOC_HARDER: floor 4 - 4/4 = 3
        ("v4.11", 3, False),  # 3 - 1 + 1 > 3 is false: the fallback's boundary
        ("latest", 4, True),
    ],
)
def test_pf_memalloc_nofail_gets_the_harder_fallback_from_4_11(
    kernel: str, free: int, gets_page: bool
) -> None:
    """[9.4][3.5 6.x step 20]: NOMEMALLOC denies PF_MEMALLOC's NO_WATERMARKS, direct reclaim
    is refused for PF_MEMALLOC; what is left is the nopage fallback."""
    t = one_alloc("GFP_NOIO | __GFP_NOFAIL | __GFP_NOMEMALLOC", flags={"PF_MEMALLOC"})
    m = model(scenario(t, free=free, min=4), kernel)
    s1 = only(m, m.initial(), 0)
    if gets_page:
        assert m.task_view(s1, 0).at_boundary and m.free_pages(s1) == free - 1
    else:
        assert only(m, s1, 0) == s1  # spins, nothing changes


def test_harder_fallback_ignores_gfp_high() -> None:
    """__alloc_pages_cpuset_fallback(gfp, order, ALLOC_HARDER, ac) passes no ALLOC_HIGH: with
    __GFP_HIGH the first attempt has floor 2, the fallback still 3."""
    rights = alloc_rights(
        G.parse_gfp("GFP_NOIO | __GFP_HIGH"),
        wmark_min=4,
        context="process",
        rt=False,
        pf_memalloc=False,
        memdie=False,
        victim=False,
        victim_reserves="all",
    )
    assert (rights.floor, rights.harder_floor) == (2, 3)


@pytest.mark.parametrize(
    ("gfp", "kernel", "kills"),
    [
        ("GFP_KERNEL", "v4.15", True),
        ("GFP_KERNEL | __GFP_THISNODE", "v4.15", False),  # [3.7 step 3]
        ("GFP_KERNEL | __GFP_DMA32", "v4.15", False),  # lowmem: zone below ZONE_NORMAL
        ("GFP_DMA | GFP_KERNEL", "v4.5", False),
        ("GFP_KERNEL | __GFP_HIGHMEM", "v4.15", True),  # HIGHMEM is not lowmem
        ("GFP_KERNEL | __GFP_THISNODE | __GFP_NOFAIL", "v4.8", True),  # NOFAIL skips bail-outs
        ("GFP_KERNEL | __GFP_THISNODE | __GFP_NOFAIL", "v4.11", False),
    ],
)
def test_may_oom_bailouts_for_zone_and_node(gfp: str, kernel: str, kills: bool) -> None:
    hog = task("hog", ("mutex_lock", "L"), ("mutex_unlock", "L"), rss=5)
    m = model(scenario(one_alloc(gfp), hog, free=0, min=4, locks={"L": "mutex"}), kernel)
    _, killed = _walk(m, m.initial())
    assert killed is kills


@pytest.mark.parametrize(("kernel", "passes_before_oom"), [("v4.11", 16), ("v4.15", 17)])
def test_should_reclaim_retry_backoff_ends_after_4_11(kernel: str, passes_before_oom: int) -> None:
    """[3.6]: 4.7-4.11 scale the reclaimable pages by loops/16, so the 16th pass goes to may_oom;
    4.12 dropped the back-off (absent from 4.19's should_reclaim_retry): 16 passes retry, the
    17th gives up."""
    sc = scenario(
        one_alloc("GFP_KERNEL"),
        free=4,
        min=4,
        reclaimable=[{"pages": 100, "needs": ["__GFP_HIGH"]}],
        killer=False,
    )
    m = model(sc, kernel)
    s, loops = m.initial(), 0
    for _ in range(200):
        s = only(m, s, 0)
        loops += m.alloc_stage(s, 0) == "after_reclaim"
        if m.alloc_stage(s, 0) == "may_oom" or m.task_view(s, 0).at_boundary:
            break
    assert loops == passes_before_oom
