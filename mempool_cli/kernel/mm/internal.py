"""What the page allocator's files share (as mm/internal.h does): the slow path's frame.

``SlowPath`` holds the locals of one ``__alloc_pages_slowpath`` call that
survive from one atomic piece to the next; ``stage`` names the point it
resumes at after the labels and calls of mm/page_alloc.c.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

from mempool_cli.kernel.state import Work

__all__ = ["SPINNING", "SlowPath", "Stage", "take"]


class Stage(IntEnum):
    """Where a slow path resumes; an int, so frames sort as they always have."""

    retry = 0  # the *retry:* label: freelist attempts, bail-outs, then direct reclaim
    reclaim_lock = 1  # direct reclaim waits for a lock its reclaimable entry needs
    reclaim_wait = 2  # direct reclaim waits for the entry's completion (writeback)
    after_reclaim = 3  # get_page_from_freelist after reclaim, then should_reclaim_retry
    may_oom = 4  # __alloc_pages_may_oom, under oom_lock


RETRY, RECLAIM_LOCK, RECLAIM_WAIT, AFTER_RECLAIM, MAY_OOM = (
    Stage.retry,
    Stage.reclaim_lock,
    Stage.reclaim_wait,
    Stage.after_reclaim,
    Stage.may_oom,
)
# A task at these stages runs (loops in the allocator): what makes a hang a livelock.
SPINNING = frozenset({RETRY, AFTER_RECLAIM, MAY_OOM})


class SlowPath(NamedTuple):
    """The locals of one ``__alloc_pages_slowpath`` call [3.5]."""

    gfp_mask: int  # after the task's memalloc scope [2.3]
    order: int
    stage: int  # a Stage
    entry: int = -1  # the reclaimable entry direct reclaim works on
    lock_index: int = 0  # how many of the entry's locks reclaim holds
    did_some_progress: int = 0  # pages this reclaim pass frees
    no_progress_loops: int = 0  # [3.6]
    reclaimed: int = 0  # pages reclaimed so far (4.5's __GFP_REPEAT rule)
    reserve: int = 0  # the reserve class of the last attempt (gfp.RES_*)

    def at(self, stage: int) -> SlowPath:
        return SlowPath(self[0], self[1], stage, *self[3:])


def take(w: Work, order: int, how: str) -> bool:
    """Take ``1 << order`` pages off the free list; ``how`` says from where (an event key)."""
    before = w.free
    w.free -= 1 << order
    w.say("took_pages", order=order, how=how, before=before, after=w.free)
    return True
