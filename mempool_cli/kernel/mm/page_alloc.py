"""mm/page_alloc.c: alloc_pages, its slow path, the retry rules, and __free_pages.

One call of ``alloc_pages`` is several transitions (docs/model.md,
"Granularity"): the freelist attempts and bail-outs before reclaim; each
reclaim wait (mm/vmscan.py); the attempt after reclaim and the retry
decision; ``__alloc_pages_may_oom`` (mm/oom_kill.py). Reserve rights and
floors are kernel/gfp.py's [3.2][3.3].
"""

from __future__ import annotations

from typing import Any

from mempool_cli.kernel.config import Config
from mempool_cli.kernel.gfp import (
    RES_NO_WATERMARKS,
    RES_OOM,
    Rights,
    alloc_rights,
    current_gfp_context,
    passes,
)
from mempool_cli.kernel.mm import oom_kill, vmscan
from mempool_cli.kernel.mm.internal import (
    AFTER_RECLAIM,
    MAY_OOM,
    RECLAIM_LOCK,
    RECLAIM_WAIT,
    RETRY,
    SlowPath,
    take,
)
from mempool_cli.kernel.program import Instr
from mempool_cli.kernel.sched import (
    Moves,
    advance,
    atomic_reason,
    bind,
    blocks,
    fail,
    gave_back,
    releases,
    resumes,
    starts,
    violation,
)
from mempool_cli.kernel.state import (
    FRAME,
    FREED,
    HANDLES,
    MEMDIE,
    NULL,
    PC,
    SCOPES,
    STATUS,
    UNBOUND,
    VICTIM,
    State,
    Work,
    sent_to,
    set_slot,
)
from mempool_cli.scenario import gfp as G

__all__ = ["new_slowpath", "slowpath"]

MAX_RECLAIM_RETRIES = 16  # [3.6]
COSTLY_ORDER = 3  # PAGE_ALLOC_COSTLY_ORDER

Result = Any  # True (pages), False (NULL) or the SlowPath to resume


@starts("alloc_pages")
def alloc_pages(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    """alloc_pages entry: might_sleep_if, task scope [2.3], then the first freelist attempt."""
    reason = atomic_reason(k, w, t)
    if reason and ins.gfp & G.DIRECT_RECLAIM:
        violation(w, t, "alloc_may_sleep", op="alloc_pages", gfp=ins.gfp, why=reason)
        return [(0, w)]
    w.say("alloc_pages", order=ins.order, gfp=ins.gfp)
    return _results(k, t, slowpath(k, w, t, new_slowpath(k, w, t, ins.gfp, ins.order)))


@blocks(SlowPath)
def _slowpath_blocked(k: Config, s: State, task: tuple[Any, ...], frame: SlowPath) -> bool:
    return vmscan.blocked(k, s, frame)


@resumes(SlowPath)
def _alloc_pages_resumes(k: Config, w: Work, t: int, frame: SlowPath) -> Moves:
    return _results(k, t, slowpath(k, w, t, frame))


def _results(k: Config, t: int, pairs: list[tuple[Work, Result]]) -> Moves:
    return [(c, _alloc_pages_result(k, x, t, r)) for c, (x, r) in enumerate(pairs)]


def _alloc_pages_result(k: Config, w: Work, t: int, result: Result) -> Work:
    if w.halt is not None:
        return w
    if isinstance(result, SlowPath):
        w.set(t, FRAME, result)
        return w
    ins = k.instr(t, w.tasks[t][PC])
    value = ("p", ins.order) if result else NULL
    if bind(k, w, t, ins.bind, value):
        if result:
            advance(k, w, t)
        else:
            fail(k, w, t)  # NULL: its on_fail, or go on as in version 1
    return w


def new_slowpath(k: Config, w: Work, t: int, gfp: int, order: int) -> SlowPath:
    """The frame of a new allocation, its mask narrowed by the task's scope [2.3]."""
    scopes = w.tasks[t][SCOPES]
    info = k.info[t]
    eff = current_gfp_context(gfp, info.pf_noio or scopes[0] > 0, info.pf_nofs or scopes[1] > 0)
    return SlowPath(eff, order, RETRY)


def rights(k: Config, w: Work, t: int, gfp: int) -> Rights:
    task = w.tasks[t]
    info = k.info[t]
    return alloc_rights(
        gfp,
        wmark_min=k.wmark_min,
        context=info.context,
        rt=info.rt,
        pf_memalloc=pf_memalloc(k, task, t),
        memdie=bool(task[STATUS] & MEMDIE),
        victim=bool(task[STATUS] & VICTIM),
        victim_reserves=k.kernel.victim_reserves,
    )


def pf_memalloc(k: Config, task: tuple[Any, ...], t: int) -> bool:
    """PF_MEMALLOC: the task's flag, or a memalloc_noreclaim scope [2.3]."""
    return k.info[t].pf_memalloc or task[SCOPES][2] > 0


def slowpath(k: Config, w: Work, t: int, frame: SlowPath) -> list[tuple[Work, Result]]:
    """One atomic piece of ``__alloc_pages_slowpath`` [3.5].

    Returns (work, result) pairs: result True (got pages), False (NULL)
    or the next SlowPath. The fast path at the low mark is folded into
    the first attempt: any request that passes ``low`` passes the slow
    path's lower floor too, and kswapd is not modelled [3.4].
    """
    stage = frame.stage
    if stage == RETRY:
        return _retry(k, w, t, frame)
    if stage == RECLAIM_LOCK:
        return vmscan.reclaim_lock(k, w, t, frame)
    if stage == RECLAIM_WAIT:
        return vmscan.reclaim_wait(k, w, t, frame)
    if stage == AFTER_RECLAIM:
        return [(w, _after_reclaim(k, w, t, frame))]
    return [(w, _may_oom(k, w, t, frame))]


def _retry(k: Config, w: Work, t: int, frame: SlowPath) -> list[tuple[Work, Result]]:
    """The *retry:* label: freelist attempts, then the bail-outs before reclaim [3.5 3-7].

    ``__alloc_pages_slowpath``. A NO_WATERMARKS-eligible NOFAIL request
    repeats its attempt without reclaim only in 4.5's
    ``__alloc_pages_high_priority`` (``nofail_no_watermarks_loop``; 4.6
    makes it one attempt). A PF_MEMALLOC NOFAIL request loops (4.6-4.10:
    ``cond_resched(); goto retry``), from 4.11 through the nopage fallback
    at ALLOC_HARDER first (``nofail_nopage_fallback``, 9a67f6488eca) [9.4].
    """
    gfp, order = frame.gfp_mask, frame.order
    if gfp & G.DIRECT_RECLAIM:
        gfp &= ~G.ATOMIC  # [3.5 step 1]: ATOMIC with DIRECT_RECLAIM is dropped
    r = rights(k, w, t, gfp)
    frame = frame._replace(reserve=r.reserve)
    if passes(w.free, order, r.floor):
        return [(w, take(w, order, "free_list"))]
    if r.reserve == RES_NO_WATERMARKS and passes(w.free, order, None):
        return [(w, take(w, order, "no_watermarks"))]
    task = w.tasks[t]
    nofail = bool(gfp & G.NOFAIL)
    kernel = k.kernel
    if r.reserve == RES_NO_WATERMARKS and nofail and kernel.nofail_no_watermarks_loop:
        w.say("nofail_loops_high_priority")
        return [(w, frame)]
    if not gfp & G.DIRECT_RECLAIM:
        w.say("fails_below_watermark", free=w.free, floor=r.floor)
        return [(w, False)]
    if pf_memalloc(k, task, t):
        if nofail:
            if kernel.nofail_nopage_fallback and passes(w.free, order, r.harder_floor):
                return [(w, take(w, order, "harder_nofail"))]
            w.say("pf_memalloc_nofail_loops")
            return [(w, frame)]
        w.say("fails_pf_memalloc")
        return [(w, False)]
    if kernel.victim_reserves == "all" and task[STATUS] & MEMDIE and not nofail:
        w.say("fails_memdie")
        return [(w, False)]
    return vmscan.direct_reclaim(k, w, t, frame, gfp, r)


def _after_reclaim(k: Config, w: Work, t: int, frame: SlowPath) -> Result:
    """Freelist attempt after reclaim, then the retry decision: 4.5 [3.5 10-11] or 4.7 [3.6].

    ``should_reclaim_retry``: with ``retry: v4.7`` the reclaimable pages are
    scaled down by ``no_progress_loops/16`` (4.7-4.11); ``v4.12`` counts
    them whole (Weiner, "mm: remove unnecessary back-off function when
    retrying page reclaim", 2017; absent from 4.19's source).
    """
    gfp, order = frame.gfp_mask, frame.order
    progress, loops = frame.did_some_progress, frame.no_progress_loops
    r = rights(k, w, t, gfp)
    if passes(w.free, order, r.floor):
        return take(w, order, "after_reclaim")
    if gfp & G.NORETRY:
        w.say("fails_noretry")
        return False
    if k.kernel.retry == "v4.5":
        reclaimed = min(frame.reclaimed + progress, 1 << order)
        frame = frame._replace(reclaimed=reclaimed)
        if (progress and order <= COSTLY_ORDER) or (gfp & G.REPEAT and reclaimed < 1 << order):
            w.say("reclaim_progress_retry")
            return frame.at(RETRY)
        w.say("no_progress_may_oom")
        return frame.at(MAY_OOM)
    if order > COSTLY_ORDER and not gfp & G.REPEAT:
        w.say("fails_costly")
        return False
    loops = 0 if progress and order <= COSTLY_ORDER else loops + 1
    frame = frame._replace(no_progress_loops=loops)
    if loops > MAX_RECLAIM_RETRIES:
        w.say("should_reclaim_retry_gives_up", loops=loops)
        return frame.at(MAY_OOM)
    available = w.free + sum(w.left)
    if k.kernel.retry == "v4.7":
        available -= -(-loops * available // MAX_RECLAIM_RETRIES)
    if passes(available, order, r.floor):
        w.say("should_reclaim_retry", available=available, loops=loops)
        return frame.at(RETRY)
    w.say("should_reclaim_retry_may_oom")
    return frame.at(MAY_OOM)


def _may_oom(k: Config, w: Work, t: int, frame: SlowPath) -> Result:
    """``__alloc_pages_may_oom`` and what the slow path does with its answer [3.7], [3.5], [9.4].

    One atomic step under oom_lock: the high-watermark attempt, the
    bail-outs, ``out_of_memory``. Three NOFAIL changes, each its own knob:
    until 4.11 NOFAIL skips the bail-outs (82553a937f12,
    ``nofail_forces_oom``; 06ad276ac187 removes it); from 4.6 a NOFAIL
    request tries ALLOC_NO_WATERMARKS once ``out_of_memory`` has run
    (5020e285856c, ``nofail_reserves_after_oom``); from 4.11 a NOFAIL
    request that ends at nopage tries ALLOC_HARDER, then retries
    (9a67f6488eca / 6c18ba7a1899, ``nofail_nopage_fallback``). The
    bail-outs in kernel order: costly order, __GFP_RETRY_MAYFAIL (4.13),
    lowmem (``__GFP_DMA``/``__GFP_DMA32`` ask for a zone below
    ZONE_NORMAL: x86-64 zones), 4.5's !__GFP_FS "keep looping", THISNODE.
    """
    gfp, order = frame.gfp_mask, frame.order
    kernel = k.kernel
    if passes(w.free, order, k.wmark_high):
        return take(w, order, "high_watermark")
    nofail = bool(gfp & G.NOFAIL)
    bypass = nofail and kernel.nofail_forces_oom
    progress = False
    call_oom = True
    if not bypass:
        if order > COSTLY_ORDER:
            w.say("may_oom_costly")
            call_oom = False
        elif kernel.retry_mayfail and gfp & G.REPEAT:
            w.say("may_oom_retry_mayfail")
            call_oom = False
        elif gfp & G.LOWMEM:
            w.say("may_oom_lowmem")
            call_oom = False
        elif kernel.retry == "v4.5" and not gfp & G.FS:
            w.say("may_oom_nofs_loops")
            call_oom, progress = False, True
        elif gfp & G.THISNODE:
            w.say("may_oom_thisnode")
            call_oom = False
    if call_oom:
        progress = oom_kill.out_of_memory(k, w, t, gfp) or nofail
        if w.halt is not None:
            return False
        if nofail and kernel.nofail_reserves_after_oom and passes(w.free, order, None):
            return take(w, order, "reserves_after_oom")
    task = w.tasks[t]
    if (
        kernel.victim_reserves == "half_min"
        and task[STATUS] & VICTIM
        and (frame.reserve == RES_OOM or gfp & G.NOMEMALLOC)
    ):
        w.say("fails_victim_had_reserves")
        return False
    if progress:
        return frame._replace(no_progress_loops=0, stage=RETRY)
    if nofail:
        if kernel.nofail_nopage_fallback:
            r = rights(k, w, t, gfp)
            if passes(w.free, order, r.harder_floor):
                return take(w, order, "harder_nofail")
        return frame.at(RETRY)
    w.say("fails_no_progress")
    return False


@starts("free_pages")
def free_pages(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    """__free_pages: pages back to the free list; NULL is a no-op."""
    value = w.tasks[t][HANDLES][ins.arg]
    if sent_to(value) >= 0:  # revision 2: handed to a queue, whose dequeuer owns it
        violation(w, t, "free_sent", op="free_pages", handle=ins.arg, queue=sent_to(value))
        return [(0, w)]
    if value == NULL:
        w.say("free_null", op="free_pages", handle=ins.arg)
    elif value in (FREED, UNBOUND):
        violation(w, t, "double_free", op="free_pages", handle=ins.arg)
        return [(0, w)]
    elif value[0] == "e":
        violation(w, t, "free_pages_on_element", handle=ins.arg, pool=value[1])
        return [(0, w)]
    else:
        w.free += 1 << value[1]
        w.set(t, HANDLES, set_slot(w.tasks[t][HANDLES], ins.arg, FREED))
        gave_back(w, t, "handle", ins.arg)
        w.say("pages_freed", handle=ins.arg, pages=1 << value[1], free=w.free)
    advance(k, w, t)
    return [(0, w)]


@releases("pages")
def unwind_free_pages(k: Config, w: Work, t: int, slot: int) -> None:
    """``on_fail: unwind`` frees the pages a handle holds (``__free_pages``)."""
    value = w.tasks[t][HANDLES][slot]
    w.free += 1 << value[1]
    w.set(t, HANDLES, set_slot(w.tasks[t][HANDLES], slot, FREED))
    gave_back(w, t, "handle", slot)
    w.say("unwind_frees", handle=slot, free=w.free)
