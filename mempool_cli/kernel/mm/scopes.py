"""include/linux/sched/mm.h: memalloc_{noio,nofs,noreclaim}_save / _restore [2.3].

A scope is a nesting depth per kind; while one is open, every allocation
of the task is narrowed (``current_gfp_context``: NOIO strips __GFP_IO and
__GFP_FS, NOFS strips __GFP_FS) or runs with PF_MEMALLOC (noreclaim).
"""

from __future__ import annotations

from mempool_cli.kernel.config import Config
from mempool_cli.kernel.program import Instr
from mempool_cli.kernel.sched import (
    SCOPE_INDEX,
    Moves,
    advance,
    gave_back,
    releases,
    starts,
    took,
    violation,
)
from mempool_cli.kernel.state import SCOPES, Work

__all__ = ["scope"]


@starts(*SCOPE_INDEX)
def scope(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    """Open a scope (depth + 1) or close one; a restore without a save is a violation."""
    i = SCOPE_INDEX[ins.op]
    scopes = list(w.tasks[t][SCOPES])
    if ins.op.endswith("_save"):
        scopes[i] += 1
        took(w, t, "scope", i)
    elif scopes[i] == 0:
        violation(w, t, "restore_without_save", op=ins.op)
        return [(0, w)]
    else:
        scopes[i] -= 1
        gave_back(w, t, "scope", i)
    w.set(t, SCOPES, tuple(scopes))
    w.say("scope", op=ins.op)
    advance(k, w, t)
    return [(0, w)]


@releases("scope")
def unwind_restore(k: Config, w: Work, t: int, i: int) -> None:
    """``on_fail: unwind`` closes an open scope (its ``memalloc_*_restore``)."""
    scopes = list(w.tasks[t][SCOPES])
    scopes[i] -= 1
    w.set(t, SCOPES, tuple(scopes))
    gave_back(w, t, "scope", i)
    w.say("unwind_restores", scope=i)
