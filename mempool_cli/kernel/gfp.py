"""Task scope and reserve rights of an allocation: [2.3], [3.2], [3.3].

Pure functions of a gfp mask, the task's static traits and its dynamic
flags. The numbers they return are watermark floors in pages.
"""

from __future__ import annotations

from dataclasses import dataclass

from mempool_cli.scenario import gfp as G

__all__ = ["Rights", "alloc_rights", "current_gfp_context", "passes"]

# Reserve classes of one allocation attempt.
RES_NONE = 0
RES_NO_WATERMARKS = 1
RES_OOM = 2  # ALLOC_OOM, 4.15+ victims [3.2]


def current_gfp_context(gfp: int, noio: bool, nofs: bool) -> int:
    """Apply PF_MEMALLOC_NOIO / _NOFS scopes [2.3]: NOIO strips IO and FS, else NOFS strips FS.

    >>> current_gfp_context(G.COMPOSITE["GFP_KERNEL"], True, False) == G.COMPOSITE["GFP_NOIO"]
    True
    >>> current_gfp_context(G.COMPOSITE["GFP_KERNEL"], False, True) == G.COMPOSITE["GFP_NOFS"]
    True
    """
    if noio:
        return gfp & ~(G.IO | G.FS)
    if nofs:
        return gfp & ~G.FS
    return gfp


@dataclass(frozen=True, slots=True)
class Rights:
    """What one slow-path attempt may take: its floor at min, and its reserve class."""

    floor: int  # min watermark after ALLOC_HIGH / ALLOC_HARDER / ALLOC_OOM cuts
    reserve: int  # RES_NONE, RES_NO_WATERMARKS or RES_OOM
    harder_floor: int  # ALLOC_HARDER alone: the NOFAIL nopage cpuset fallback [3.6][9.4]


def alloc_rights(
    gfp: int,
    *,
    wmark_min: int,
    context: str,
    rt: bool,
    pf_memalloc: bool,
    memdie: bool,
    victim: bool,
    victim_reserves: str,
) -> Rights:
    """``gfp_to_alloc_flags`` and the watermark cuts, 4.5 [3.3] or 4.15 [3.3] rules.

    ``victim_reserves == "all"`` is the TIF_MEMDIE era: a victim in process
    context gets NO_WATERMARKS. ``"half_min"`` is the ALLOC_OOM era: reserve
    flags are computed with 4.15's precedence and replace the others.

    >>> alloc_rights(G.COMPOSITE["GFP_ATOMIC"], wmark_min=8, context="process", rt=False,
    ...              pf_memalloc=False, memdie=False, victim=False, victim_reserves="all").floor
    3
    """
    in_interrupt = context != "process"
    high = bool(gfp & G.HIGH)
    harder = not gfp & G.NOMEMALLOC if gfp & G.ATOMIC else rt and not in_interrupt
    reserve = RES_NONE
    if not gfp & G.NOMEMALLOC:
        if (
            gfp & G.MEMALLOC
            or (context == "softirq" and pf_memalloc)
            or (not in_interrupt and pf_memalloc)
        ):
            reserve = RES_NO_WATERMARKS
        elif not in_interrupt:
            if victim_reserves == "all" and memdie:
                reserve = RES_NO_WATERMARKS
            elif victim_reserves == "half_min" and victim:
                reserve = RES_OOM
    return Rights(
        floor=_floor(wmark_min, high, harder, reserve),
        reserve=reserve,
        # __alloc_pages_cpuset_fallback(gfp, order, ALLOC_HARDER, ac): no ALLOC_HIGH in it.
        harder_floor=_floor(wmark_min, False, True, RES_NONE),
    )


def _floor(wmark_min: int, high: bool, harder: bool, reserve: int) -> int:
    """``__zone_watermark_ok``'s cuts to min, in the kernel's integer order [3.2]."""
    if reserve == RES_OOM:
        # 4.15: reserve flags replace alloc_flags, so HIGH is gone; OOM halves.
        return wmark_min - wmark_min // 2
    floor = wmark_min
    if high:
        floor -= floor // 2
    if harder:
        floor -= floor // 4
    return floor


def passes(free: int, order: int, floor: int | None) -> bool:
    """The contract's check: ``free - 2^order + 1 > floor``; ``None`` is NO_WATERMARKS.

    >>> passes(4, 0, 4), passes(5, 0, 4), passes(1, 0, None), passes(0, 0, None)
    (False, True, True, False)
    """
    need = 1 << order
    if floor is None:
        return free >= need
    return free - need + 1 > floor
