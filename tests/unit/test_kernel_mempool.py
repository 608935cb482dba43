"""mempool_alloc / mempool_free [1.3]-[1.5] as transition tables."""

from __future__ import annotations

from mempool_cli.kernel.state import FREED, NULL
from mempool_cli.narration import halt_text

from .kernel_builders import handle, model, only, run_task, scenario, task


def mp_task(gfp: str = "GFP_NOIO", pool: str = "pool0", **traits: object):
    return task(
        "t",
        ("mempool_alloc", {"pool": pool, "gfp": gfp, "as": "e"}),
        ("mempool_free", "e"),
        **traits,
    )


def test_first_pass_uses_the_allocator_above_the_watermark() -> None:
    """[1.3 A step 4]: an element from pool->alloc does not touch the pool."""
    m = model(scenario(mp_task(), free=8, min=4, pools={"pool0": 1}))
    s = only(m, m.initial(), 0)
    assert m.free_pages(s) == 7 and m.curr_nr(s, 0) == 1
    assert handle(m, s, 0, "e") == ("e", 0)


def test_pool_element_below_the_watermark() -> None:
    """[1.3 A steps 4-5]: pass 1 fails at min, the pool check pops an element."""
    m = model(scenario(mp_task(), free=4, min=4, pools={"pool0": 2}))
    s = only(m, m.initial(), 0)
    assert m.mempool_stage(s, 0) == "pool_locked"
    s = only(m, s, 0)
    assert m.curr_nr(s, 0) == 1 and m.free_pages(s) == 4
    assert handle(m, s, 0, "e") == ("e", 0)


def test_empty_pool_retries_at_once_with_full_mask_then_sleeps() -> None:
    """[1.3 A steps 6-8]."""
    m = model(scenario(mp_task(), free=4, min=4, pools={"pool0": 0}), "v4.8")
    s = only(m, m.initial(), 0)  # pass 1 fails
    s = only(m, s, 0)  # pool empty, first pass: retry immediately
    assert m.mempool_stage(s, 0) == "repeat_alloc"
    s = only(m, s, 0)  # pass 2: one reclaim pass (nothing), NORETRY
    s = only(m, s, 0)  # after reclaim: fail
    s = only(m, s, 0)  # pool check: empty, reclaim allowed -> sleep
    assert m.mempool_stage(s, 0) == "wait"


def test_no_direct_reclaim_returns_null_when_empty() -> None:
    """[1.3 A step 7]: the only way mempool_alloc fails."""
    m = model(scenario(mp_task("GFP_NOWAIT"), free=4, min=4, pools={"pool0": 0}), "v4.8")
    s = run_task(m, m.initial(), 0, limit=3)
    assert handle(m, s, 0, "e") == NULL


def test_forced_nomemalloc_denies_pf_memalloc_reserves() -> None:
    """[3.8] PF_MEMALLOC caller, classic mempool: cannot reclaim, cannot use reserves: it sleeps."""
    m = model(scenario(mp_task(flags=["PF_MEMALLOC"]), free=2, min=4, pools={"pool0": 0}), "v4.8")
    s = run_task(m, m.initial(), 0, limit=6)
    assert m.free_pages(s) == 2
    assert m.mempool_stage(s, 0) == "wait"


def test_if_pool_nonempty_drains_reserves_when_empty() -> None:
    """[1.3 B]: f9054c70 drops NOMEMALLOC for an empty pool; PF_MEMALLOC then dips to zero."""
    m = model(scenario(mp_task(flags=["PF_MEMALLOC"]), free=1, min=4, pools={"pool0": 0}), "v4.6")
    s = only(m, m.initial(), 0)
    assert m.free_pages(s) == 0
    assert "depletion" in m.state_labels(s)


def test_if_pool_nonempty_keeps_nomemalloc_while_elements_remain() -> None:
    m = model(scenario(mp_task(flags=["PF_MEMALLOC"]), free=1, min=4, pools={"pool0": 1}), "v4.6")
    s = only(m, m.initial(), 0)
    assert m.free_pages(s) == 1  # NOMEMALLOC was set: no reserves
    s = only(m, s, 0)
    assert m.curr_nr(s, 0) == 0


def test_victim_if_empty_helps_only_victims() -> None:
    """[1.3 C] Hocko RFC 1/2: NOMEMALLOC dropped only for TIF_MEMDIE callers on an empty pool."""
    victim = model(
        scenario(mp_task(oom_victim=True), free=1, min=4, pools={"pool0": 0}), "rfc-2016-07"
    )
    assert victim.free_pages(only(victim, victim.initial(), 0)) == 0
    memalloc = model(
        scenario(mp_task(flags=["PF_MEMALLOC"]), free=1, min=4, pools={"pool0": 0}), "rfc-2016-07"
    )
    assert memalloc.free_pages(only(memalloc, memalloc.initial(), 0)) == 1


def test_free_refills_a_short_pool() -> None:
    """[1.4 step 3]: curr_nr < min_nr: the element goes back into the pool."""
    m = model(scenario(mp_task(), free=4, min=4, pools={"pool0": 1}))
    s = run_task(m, m.initial(), 0, limit=3)
    assert m.curr_nr(s, 0) == 1 and m.free_pages(s) == 4


def test_free_to_a_full_pool_goes_to_the_allocator() -> None:
    """[1.4 step 4]."""
    m = model(scenario(mp_task(), free=8, min=4, pools={"pool0": 1}))
    s = run_task(m, m.initial(), 0, limit=2)
    assert m.curr_nr(s, 0) == 1 and m.free_pages(s) == 8


def test_zero_min_pool_poll_never_refills() -> None:
    """[1.5] before 2025: min_nr 0 holds nothing and frees always go to the allocator."""
    m = model(scenario(mp_task(), free=8, min=4, pools={"pool0": 0}), "v4.15")
    assert m.initial()[1] == (0,)
    s = run_task(m, m.initial(), 0, limit=2)
    assert m.curr_nr(s, 0) == 0 and m.free_pages(s) == 8


def test_zero_min_pool_one_element_after_fix() -> None:
    """[1.5] 2025 fix: one element prefilled; a free to an empty zero-min pool keeps the element."""
    m = model(scenario(mp_task(), free=4, min=4, pools={"pool0": 0}), "latest")
    assert m.initial()[1] == (1,)
    s = run_task(m, m.initial(), 0, limit=4)
    assert m.curr_nr(s, 0) == 1 and m.free_pages(s) == 4 and handle(m, s, 0, "e") == FREED


def test_mempool_free_of_pages_is_a_violation() -> None:
    t = task("t", ("alloc_pages", {"gfp": "GFP_KERNEL", "as": "p"}), ("mempool_free", "p"))
    m = model(scenario(t, pools={"pool0": 1}))
    s = run_task(m, m.initial(), 0)
    assert "violation" in m.state_labels(s)


def test_free_to_the_wrong_pool_is_a_violation() -> None:
    t = task(
        "t",
        ("mempool_alloc", {"pool": "a", "gfp": "GFP_NOIO", "as": "e"}),
        ("mempool_free", {"handle": "e", "to_pool": "b"}),
    )
    m = model(scenario(t, pools={"a": 1, "b": 1}))
    s = run_task(m, m.initial(), 0)
    assert "violation" in m.state_labels(s) and "came from pool a" in halt_text(m, s)


def test_double_free_is_a_violation() -> None:
    t = task(
        "t",
        ("mempool_alloc", {"pool": "a", "gfp": "GFP_NOIO", "as": "e"}),
        ("mempool_free", "e"),
        ("mempool_free", "e"),
    )
    m = model(scenario(t, pools={"a": 1}))
    s = run_task(m, m.initial(), 0)
    assert "already freed" in halt_text(m, s)


def test_held_element_at_exit_is_a_violation() -> None:
    t = task("t", ("mempool_alloc", {"pool": "a", "gfp": "GFP_NOIO", "as": "e"}))
    m = model(scenario(t, pools={"a": 1}))
    s = run_task(m, m.initial(), 0)
    assert "exits still holding e" in halt_text(m, s)
