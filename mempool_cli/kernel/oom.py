"""OOM victim selection: [5.1], [5.2].

``select_victim`` is ``select_bad_process`` over plain per-task facts;
the model applies the kill ([5.3]) itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ABORT", "PANIC", "Candidate", "badness", "select_victim"]

ABORT = -1  # a live victim exists: nobody new is killed [5.2]
PANIC = -2  # no eligible task: "System is deadlocked on memory" [5.1 step 7]


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the scan sees of one task, in declaration order."""

    alive: bool
    kthread: bool
    oom_score_adj: int
    victim: bool  # tsk_is_oom_victim / TIF_MEMDIE
    skip: bool  # MMF_OOM_SKIP
    rss: int


def badness(rss: int, oom_score_adj: int, total: int) -> int:
    """``rss + oom_score_adj * total / 1000``, scaled by 1000 to stay exact.

    The kernel divides ``totalpages / 1000`` first, which makes the
    adjustment vanish on the small machines scenarios describe; the
    contract's formula keeps it, so we compare ``1000*rss + adj*total``.
    An eligible task never scores below 1, as in ``oom_badness``.

    >>> badness(8, 0, 20), badness(0, 500, 20), badness(0, -500, 20)
    (8000, 10000, 1)
    """
    return max(1000 * rss + oom_score_adj * total, 1)


def select_victim(tasks: Sequence[Candidate], total: int) -> int:
    """Index of the task to kill, or ``ABORT`` / ``PANIC`` [5.2].

    Kernel threads and exited tasks are skipped. A victim whose mm lacks
    MMF_OOM_SKIP aborts the scan whatever its oom_score_adj (the 4.5 scan
    checks TIF_MEMDIE before the adj). Otherwise the highest badness wins
    and ties go to the task scanned later, i.e. declared last.

    >>> c = lambda rss, **kw: Candidate(True, False, kw.get("adj", 0), kw.get("victim", False),
    ...                                 kw.get("skip", False), rss)
    >>> select_victim([c(3), c(3), c(1)], 7)
    1
    >>> select_victim([c(3), c(1, victim=True)], 4)
    -1
    >>> select_victim([c(3, adj=-1000)], 3)
    -2
    """
    best = PANIC
    best_score = 0
    for i, t in enumerate(tasks):
        if not t.alive or t.kthread:
            continue
        if t.victim and not t.skip:
            return ABORT
        if t.skip or t.oom_score_adj == -1000:
            continue
        score = badness(t.rss, t.oom_score_adj, total)
        if score >= best_score:
            best, best_score = i, score
    return best
