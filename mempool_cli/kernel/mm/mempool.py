"""mm/mempool.c: mempool_alloc and mempool_free [1.3]-[1.5].

``mempool_alloc`` reads top to bottom like the kernel's: force
__GFP_NORETRY and __GFP_NOWARN (and __GFP_NOMEMALLOC per the preset),
take a first pass without direct reclaim or IO (``gfp_temp``), then at
*repeat_alloc:* call ``pool->alloc``; on NULL, under ``pool->lock``, take
an element, or retry at once with the full mask, or return NULL without
direct reclaim, or sleep on ``pool->wait`` (5 s, uninterruptible) and go
back to *repeat_alloc*. Each stage is a point another CPU can observe.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

from mempool_cli.kernel.config import Config
from mempool_cli.kernel.mm.internal import RECLAIM_LOCK, RECLAIM_WAIT, SlowPath
from mempool_cli.kernel.mm.page_alloc import new_slowpath, slowpath
from mempool_cli.kernel.mm.vmscan import blocked as reclaim_blocked
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
    STATUS,
    UNBOUND,
    State,
    Work,
    sent_to,
    set_slot,
)
from mempool_cli.scenario import gfp as G

__all__ = ["MempoolAlloc", "Mp"]


class Mp(IntEnum):
    """Where a ``mempool_alloc`` call resumes; an int, so frames sort as they always have."""

    pool_alloc = 0  # inside pool->alloc (a page allocator slow path in ``alloc``)
    pool_locked = 1  # pool->alloc returned NULL: the check under pool->lock
    repeat_alloc = 2  # the *repeat_alloc:* label
    wait = 3  # asleep on pool->wait (woken by a refill or the 5 s timeout)


POOL_ALLOC, POOL_LOCKED, REPEAT_ALLOC, WAIT = (
    Mp.pool_alloc,
    Mp.pool_locked,
    Mp.repeat_alloc,
    Mp.wait,
)


class MempoolAlloc(NamedTuple):
    """The locals of one ``mempool_alloc`` call."""

    pool: int
    gfp_mask: int  # the caller's mask with the forced flags
    gfp_temp: int  # the mask of this pass (the first one lacks reclaim and IO)
    stage: int  # an Mp
    alloc: SlowPath | None  # pool->alloc's slow path while it runs


@starts("mempool_alloc")
def mempool_alloc(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    """``mempool_alloc`` entry [1.3]: the forced flags per variant, then the first pass."""
    reason = atomic_reason(k, w, t)
    if reason and ins.gfp & G.DIRECT_RECLAIM:
        violation(w, t, "alloc_may_sleep", op="mempool_alloc", gfp=ins.gfp, why=reason)
        return [(0, w)]
    gfp_mask = ins.gfp | G.NORETRY | G.NOWARN
    if k.kernel.mempool_nomemalloc != "if_pool_nonempty":
        gfp_mask |= G.NOMEMALLOC
    gfp_temp = gfp_mask & ~(G.DIRECT_RECLAIM | G.IO)
    w.say("mempool_alloc", pool=ins.pool, gfp=ins.gfp)
    return _repeat_alloc(k, w, t, ins.pool, gfp_mask, gfp_temp)


def _repeat_alloc(k: Config, w: Work, t: int, pool: int, gfp_mask: int, gfp_temp: int) -> Moves:
    """*repeat_alloc:* NOMEMALLOC for this pass per the variant, then pool->alloc [1.3 A-C]."""
    policy = k.kernel.mempool_nomemalloc
    attempt = gfp_temp
    if policy == "if_pool_nonempty" and w.curr[pool] != 0:
        attempt |= G.NOMEMALLOC
    elif policy == "victim_if_empty" and w.curr[pool] == 0 and w.tasks[t][STATUS] & MEMDIE:
        attempt &= ~G.NOMEMALLOC
    w.say("pool_alloc", gfp=attempt)
    call = MempoolAlloc(pool, gfp_mask, gfp_temp, POOL_ALLOC, None)
    return _pool_alloc(k, w, t, call, new_slowpath(k, w, t, attempt, k.pools[pool].order))


def _pool_alloc(k: Config, w: Work, t: int, call: MempoolAlloc, alloc: SlowPath) -> Moves:
    """One piece of pool->alloc (alloc_pages); its NULL leads to the check under pool->lock."""
    out = []
    for c, (x, result) in enumerate(slowpath(k, w, t, alloc)):
        if x.halt is None:
            if isinstance(result, SlowPath):
                x.set(t, FRAME, call._replace(stage=POOL_ALLOC, alloc=result))
            elif result:
                _done(k, x, t, ("e", call.pool))
            else:
                x.set(t, FRAME, call._replace(stage=POOL_LOCKED, alloc=None))
        out.append((c, x))
    return out


def _done(k: Config, w: Work, t: int, value: tuple[str, int] | tuple[str]) -> None:
    ins = k.instr(t, w.tasks[t][PC])
    if bind(k, w, t, ins.bind, value):
        if value == NULL:
            fail(k, w, t)  # its on_fail, or go on as in version 1
        else:
            advance(k, w, t)


@blocks(MempoolAlloc)
def _blocked(k: Config, s: State, task: tuple[object, ...], frame: MempoolAlloc) -> bool:
    return frame.alloc is not None and reclaim_blocked(k, s, frame.alloc)


@resumes(MempoolAlloc)
def _resumes(k: Config, w: Work, t: int, frame: MempoolAlloc) -> Moves:
    stage = frame.stage
    if stage == POOL_ALLOC:
        assert frame.alloc is not None
        return _pool_alloc(k, w, t, frame, frame.alloc)
    if stage == POOL_LOCKED:
        return [(0, _pool_locked(k, w, t, frame))]
    if stage == REPEAT_ALLOC:
        return _repeat_alloc(k, w, t, frame.pool, frame.gfp_mask, frame.gfp_temp)
    w.say("pool_wakes", pool=frame.pool)
    return _repeat_alloc(k, w, t, frame.pool, frame.gfp_mask, frame.gfp_mask)


def _pool_locked(k: Config, w: Work, t: int, f: MempoolAlloc) -> Work:
    """Under pool->lock: take an element, retry with the full mask, fail or sleep [1.3 A]."""
    pool = f.pool
    if w.curr[pool] > 0:
        w.curr[pool] -= 1
        w.say("pool_takes", pool=pool, left=w.curr[pool], capacity=k.pool_capacity(pool))
        _done(k, w, t, ("e", pool))
    elif f.gfp_temp & G.DIRECT_RECLAIM != f.gfp_mask & G.DIRECT_RECLAIM:
        w.say("pool_empty_retry", pool=pool)
        w.set(t, FRAME, MempoolAlloc(pool, f.gfp_mask, f.gfp_mask, REPEAT_ALLOC, None))
    elif not f.gfp_mask & G.DIRECT_RECLAIM:
        w.say("pool_empty_null", pool=pool)
        _done(k, w, t, NULL)
    else:
        w.say("pool_sleeps", pool=pool)
        w.set(t, FRAME, MempoolAlloc(pool, f.gfp_mask, f.gfp_mask, WAIT, None))
    return w


def in_reclaim_wait(frame: MempoolAlloc) -> bool:
    """pool->alloc is asleep in direct reclaim (an entry's lock or completion)."""
    return frame.alloc is not None and frame.alloc.stage in (RECLAIM_LOCK, RECLAIM_WAIT)


@starts("mempool_free")
def mempool_free(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    """mempool_free [1.4], with the zero-min-pool branch of the 2025 fix [1.5]."""
    value = w.tasks[t][HANDLES][ins.arg]
    if sent_to(value) >= 0:  # revision 2: handed to a queue, whose dequeuer owns it
        violation(w, t, "free_sent", op="mempool_free", handle=ins.arg, queue=sent_to(value))
        return [(0, w)]
    if value == NULL:
        w.say("free_null", op="mempool_free", handle=ins.arg)
        advance(k, w, t)
        return [(0, w)]
    if value in (FREED, UNBOUND):
        violation(w, t, "double_free", op="mempool_free", handle=ins.arg)
        return [(0, w)]
    if value[0] == "p":
        violation(w, t, "mempool_free_on_pages", handle=ins.arg)
        return [(0, w)]
    pool = value[1]
    if ins.pool >= 0 and ins.pool != pool:
        violation(w, t, "mempool_free_wrong_pool", handle=ins.arg, to=ins.pool, came=pool)
        return [(0, w)]
    _give_back(k, w, t, ins.arg, pool)
    advance(k, w, t)
    return [(0, w)]


def _give_back(k: Config, w: Work, t: int, slot: int, pool: int) -> None:
    """The element in ``slot`` goes back: into the pool below its reserve, else to the zone."""
    spec = k.pools[pool]
    w.set(t, HANDLES, set_slot(w.tasks[t][HANDLES], slot, FREED))
    gave_back(w, t, "handle", slot)
    refill = w.curr[pool] < spec.min_nr or (
        spec.min_nr == 0 and k.kernel.zero_min_pool == "one_element" and w.curr[pool] == 0
    )
    if refill:
        w.curr[pool] += 1
        w.say(
            "pool_refilled",
            handle=slot,
            pool=pool,
            curr=w.curr[pool],
            capacity=k.pool_capacity(pool),
        )
    else:
        w.free += 1 << spec.order
        w.say("pool_full_frees", handle=slot, pool=pool, free=w.free)


@releases("element")
def unwind_mempool_free(k: Config, w: Work, t: int, slot: int) -> None:
    """``on_fail: unwind`` returns an element to its pool (``mempool_free``)."""
    w.say("unwind_returns", handle=slot)
    _give_back(k, w, t, slot, w.tasks[t][HANDLES][slot][1])
