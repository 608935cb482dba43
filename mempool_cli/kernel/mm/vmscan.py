"""mm/vmscan.c: direct reclaim over the scenario's reclaimable entries.

Each entry is pages that reclaim may free when the caller's mask allows
(``needs``), after taking the entry's locks in order and waiting for its
completion (writeback) if it names one. Which eligible entry reclaim picks
is a choice: every one is a branch (contract, ``memory.reclaimable``).

An entry with ``trylocks`` (revision 2) is a shrinker that takes its locks
with ``mutex_trylock`` in its scan callback and returns ``SHRINK_STOP``
when one is busy [9.1]: if any is held (by another task or by the caller
itself), that pass frees nothing and makes no progress; otherwise the
reclaimer holds them until the entry's pages are freed.
"""

from __future__ import annotations

from typing import Any

from mempool_cli.kernel.config import Config
from mempool_cli.kernel.gfp import Rights
from mempool_cli.kernel.locking import consume
from mempool_cli.kernel.mm.internal import AFTER_RECLAIM, RECLAIM_LOCK, RECLAIM_WAIT, SlowPath
from mempool_cli.kernel.sched import violation
from mempool_cli.kernel.state import Work

__all__ = ["direct_reclaim", "reclaim_lock", "reclaim_wait"]

Result = Any  # False (a violation stopped it) or the SlowPath to resume


def direct_reclaim(
    k: Config, w: Work, t: int, frame: SlowPath, gfp: int, rights: Rights
) -> list[tuple[Work, Result]]:
    """Pick one eligible reclaimable entry; every choice is a branch (contract, reclaimable)."""
    eligible = [e for e, entry in enumerate(k.entries) if w.left[e] > 0 and entry.needs & ~gfp == 0]
    if not eligible:
        w.say("reclaim_nothing")
        return [(w, frame._replace(stage=AFTER_RECLAIM, did_some_progress=0))]
    needed = max(1, rights.floor + (1 << frame.order) - w.free)
    out = []
    for e in eligible:
        branch = w.copy()
        n = min(needed, branch.left[e])
        branch.say("reclaim_on", entry=e, pages=n)
        busy = [lock for lock in k.entry_trylocks[e] if branch.owners[lock] != -1]
        if busy:
            owner = branch.owners[busy[0]]
            branch.say("reclaim_trylock_fails", entry=e, lock=busy[0], owner=owner)
            out.append((branch, frame._replace(stage=AFTER_RECLAIM, did_some_progress=0)))
            continue
        for lock in k.entry_trylocks[e]:
            branch.owners[lock] = t
            branch.say("reclaim_trylock_takes", lock=lock)
        chosen = frame._replace(entry=e, lock_index=0, did_some_progress=n)
        out.append((branch, _proceed(k, branch, t, chosen)))
    return out


def _proceed(k: Config, w: Work, t: int, frame: SlowPath, waited: bool = False) -> Result:
    """Take the entry's next lock, else wait for its completion, else free the pages."""
    e, i = frame.entry, frame.lock_index
    locks = k.entry_locks[e]
    if i < len(locks):
        lock = locks[i]
        if w.owners[lock] != -1:
            w.say("reclaim_needs_lock", lock=lock, owner=w.owners[lock])
            return frame.at(RECLAIM_LOCK)
        w.owners[lock] = t
        w.say("reclaim_takes_lock", lock=lock)
        return _proceed(k, w, t, frame._replace(lock_index=i + 1))
    comp = k.entry_waits[e]
    if comp >= 0 and not waited:
        if any(k.locks[lk].kind == "spinlock" for lk in (*k.entry_trylocks[e], *locks)):
            violation(w, t, "reclaim_waits_under_spinlock")
            return False
        if w.done[comp] == 0:
            w.say("reclaim_waits", completion=comp)
            return frame.at(RECLAIM_WAIT)
        consume(w, comp)
        w.say("reclaim_already_completed", completion=comp)
    n = frame.did_some_progress
    w.left[e] -= n
    w.free += n
    released = (*k.entry_trylocks[e], *locks)
    for lock in released:
        w.owners[lock] = -1
    w.say("reclaim_frees", pages=n, free=w.free, released=released)
    return frame.at(AFTER_RECLAIM)


def reclaim_lock(k: Config, w: Work, t: int, frame: SlowPath) -> list[tuple[Work, Result]]:
    """A reclaimer blocked on an entry's lock takes it once it is free, and goes on."""
    lock = k.entry_locks[frame.entry][frame.lock_index]
    if w.owners[lock] != -1:
        return []
    return [(w, _proceed(k, w, t, frame))]


def reclaim_wait(k: Config, w: Work, t: int, frame: SlowPath) -> list[tuple[Work, Result]]:
    """A reclaimer waiting for an entry's completion wakes once it is done."""
    comp = k.entry_waits[frame.entry]
    if w.done[comp] == 0:
        return []
    consume(w, comp)
    w.say("reclaim_wakes", completion=comp)
    return [(w, _proceed(k, w, t, frame, waited=True))]


def blocked(k: Config, s: tuple[Any, ...], frame: SlowPath) -> bool:
    """A slow path with no move: reclaim asleep on an entry's lock or completion."""
    stage = frame.stage
    if stage == RECLAIM_LOCK:
        return bool(s[2][k.entry_locks[frame.entry][frame.lock_index]] != -1)
    if stage == RECLAIM_WAIT:
        return bool(s[3][k.entry_waits[frame.entry]] == 0)
    return False
