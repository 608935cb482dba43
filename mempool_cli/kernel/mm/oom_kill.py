"""mm/oom_kill.c: out_of_memory and the OOM reaper.

Victim selection (badness, the scan that aborts on a live victim, the
tie-break) is kernel/oom.py's [5.2]; this file is what happens around it
[5.1][5.3] and what the reaper does to a victim [5.4], per preset knob.
"""

from __future__ import annotations

from mempool_cli.kernel.config import Config
from mempool_cli.kernel.locking import read_trylock_ok
from mempool_cli.kernel.oom import ABORT, PANIC, Candidate, select_victim
from mempool_cli.kernel.sched import settle
from mempool_cli.kernel.state import (
    EXITED,
    FRAME,
    KILLED,
    MEMDIE,
    REAPED,
    RSS,
    SKIP,
    STATUS,
    VICTIM,
    Event,
    State,
    Work,
    with_field,
)
from mempool_cli.scenario import gfp as G

__all__ = ["out_of_memory", "reap"]


def out_of_memory(k: Config, w: Work, t: int, gfp: int) -> bool:
    """``out_of_memory`` [5.1]: dying current, !__GFP_FS (4.7+), select and kill [5.2-5.3].

    Returns whether the slow path may count it as progress. From 4.7
    (3da88fb3bacf) the !__GFP_FS return is here; until 4.11 it reads
    ``!(gfp_mask & (__GFP_FS | __GFP_NOFAIL))``, so a GFP_NOFS | __GFP_NOFAIL
    request goes on to kill (``nofail_forces_oom``; 06ad276ac187 makes it
    ``!(gfp_mask & __GFP_FS)``) [9.4].
    """
    if not k.scenario.oom.killer:
        w.say("oom_disabled")
        return False
    task = w.tasks[t]
    if task[STATUS] & KILLED:
        w.tasks[t] = with_field(task, STATUS, task[STATUS] | MEMDIE | VICTIM)
        w.say("oom_current_dying")
        return True
    exempt = G.FS | (G.NOFAIL if k.kernel.nofail_forces_oom else 0)
    if k.kernel.retry != "v4.5" and not gfp & exempt:
        w.say("oom_nofs")
        return True
    candidates = [
        Candidate(
            alive=not task_[STATUS] & EXITED,
            # an interrupt handler on a task's CPU (revision 2) is no process to kill
            kthread=info.kthread or info.interrupts >= 0,
            oom_score_adj=info.oom_score_adj,
            victim=bool(task_[STATUS] & VICTIM),
            skip=bool(task_[STATUS] & SKIP),
            rss=task_[RSS],
        )
        for task_, info in zip(w.tasks, k.info, strict=True)
    ]
    chosen = select_victim(candidates, k.total_pages)
    if chosen == ABORT:
        waiting = tuple(i for i, c in enumerate(candidates) if c.alive and c.victim and not c.skip)
        w.say("oom_scan_aborts", victims=waiting)
        return True
    if chosen == PANIC:
        w.halt = ("panic", t, ("oom_no_killable", ()))
        w.say("oom_panics")
        return False
    victim = w.tasks[chosen]
    w.tasks[chosen] = with_field(victim, STATUS, victim[STATUS] | KILLED | MEMDIE | VICTIM)
    w.labels.add("oom-kill")
    w.say("oom_kills", victim=chosen, rss=victim[RSS])
    if not victim[FRAME]:
        settle(k, w, chosen)
    return True


def reap(k: Config, s: State, v: int, events: list[Event] | None) -> Work:
    """One act of the OOM reaper on victim ``v`` [5.4], per the oom_reaper knob."""
    w = Work(s, events)
    task = w.tasks[v]
    status = task[STATUS] | REAPED
    mm = k.info[v].mm_lock  # revision 2: mmap_read_trylock of the victim's mmap_lock
    if mm >= 0 and not read_trylock_ok(w.owners[mm]):
        w.say("reaper_trylock_fails", victim=v, lock=mm)
    if k.info[v].mm_reapable and (mm < 0 or read_trylock_ok(w.owners[mm])):
        w.free += task[RSS]
        status |= SKIP
        if k.kernel.victim_reserves == "all":
            status &= ~MEMDIE  # 4.6-era reaper: exit_oom_victim after a reap
        w.say("reaps", victim=v, pages=task[RSS], free=w.free)
        w.tasks[v] = with_field(with_field(task, STATUS, status), RSS, 0)
    elif k.reaper_mode == "reap_or_skip":
        w.say("cannot_reap_marks", victim=v)
        w.tasks[v] = with_field(task, STATUS, status | SKIP)
    else:
        w.say("cannot_reap_gives_up", victim=v)
        w.tasks[v] = with_field(task, STATUS, status)
    return w
