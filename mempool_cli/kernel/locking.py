"""kernel/locking/ and kernel/sched/completion.c: mutexes, spinlocks, completions.

A mutex waiter sleeps (``TASK_UNINTERRUPTIBLE``, or ``TASK_KILLABLE`` for
``mutex_lock_killable``) until the owner unlocks; ``mutex_unlock`` wakes it
and it takes the mutex when it next runs. A spinlock waiter spins: it is
never asleep, so it is no deadlock's sleeper but holds its CPU. A
completion is a count ``done`` that ``complete`` raises and a wait
consumes; ``complete_all`` makes every wait pass for ever (contract,
steps; [1.6] for where the block layer uses them).

``mutex_trylock`` and ``spin_trylock`` (revision 2; kernel/locking/mutex.c
``mutex_trylock`` -> ``__mutex_trylock``, include/linux/spinlock.h
``spin_trylock`` -> ``queued_spin_trylock``) take the lock when it is free
and otherwise return 0 at once, never sleeping or spinning: the step fails
and its ``on_fail`` runs [9.1]. A trylock of a lock the task holds itself
fails too (the owner field is set; no recursion check).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from mempool_cli.kernel.config import Config
from mempool_cli.kernel.program import Instr
from mempool_cli.kernel.sched import (
    Moves,
    advance,
    blocks,
    cannot_sleep,
    fail,
    gave_back,
    releases,
    resumes,
    starts,
    took,
    violation,
    wake_or_interrupt,
)
from mempool_cli.kernel.state import ALL, ATOMIC, FRAME, KILLED, STATUS, State, Work

__all__ = ["CompletionWait", "LockWait", "SpinWait", "consume"]


class LockWait(NamedTuple):
    """A task asleep in ``__mutex_lock_common`` on ``lock``."""

    lock: int
    killable: bool


class SpinWait(NamedTuple):
    """A task spinning in ``queued_spin_lock_slowpath`` on ``lock``."""

    lock: int


class CompletionWait(NamedTuple):
    """A task asleep in ``wait_for_common`` on ``completion``."""

    completion: int
    killable: bool


# ------------------------------------------------------------------ mutex


@starts("mutex_lock", "mutex_lock_killable")
def mutex_lock(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    """mutex_lock / mutex_lock_killable: take a free mutex, else sleep (un)interruptibly."""
    killable = ins.op == "mutex_lock_killable"
    if cannot_sleep(k, w, t, ins, ins.arg, killable, "-EINTR"):
        return [(0, w)]
    owner = w.owners[ins.arg]
    if owner == -1:
        w.owners[ins.arg] = t
        took(w, t, "lock", ins.arg)
        w.say("lock_acquired", op=ins.op, lock=ins.arg)
        advance(k, w, t)
    else:
        w.say("mutex_sleeps", op=ins.op, lock=ins.arg, owner=owner)
        w.set(t, FRAME, LockWait(ins.arg, killable))
    return [(0, w)]


@blocks(LockWait)
def _mutex_blocked(k: Config, s: State, task: tuple[Any, ...], frame: LockWait) -> bool:
    return s[2][frame.lock] != -1 and not (frame.killable and task[STATUS] & KILLED)


@resumes(LockWait)
def _mutex_wakes(k: Config, w: Work, t: int, frame: LockWait) -> Moves:
    lock = frame.lock

    def take(got: Work) -> None:
        got.owners[lock] = t
        took(got, t, "lock", lock)
        got.say("mutex_wakes", lock=lock)

    return wake_or_interrupt(
        k,
        w,
        t,
        w.owners[lock] == -1,
        take,
        frame.killable,
        ("mutex_interrupted", {"lock": lock}),
    )


@starts("mutex_unlock", "spin_unlock")
def unlock(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    """mutex_unlock / spin_unlock; unlocking a lock the task does not hold is a violation."""
    owner = w.owners[ins.arg]
    if owner != t:
        violation(w, t, "unlock_not_held", op=ins.op, lock=ins.arg, owner=owner)
        return [(0, w)]
    w.owners[ins.arg] = -1
    gave_back(w, t, "lock", ins.arg)
    if ins.op == "spin_unlock":
        w.set(t, ATOMIC, w.tasks[t][ATOMIC] - 1)
    w.say("unlocked", op=ins.op, lock=ins.arg)
    advance(k, w, t)
    return [(0, w)]


@releases("lock")
def unwind_unlock(k: Config, w: Work, t: int, lock: int) -> None:
    """``on_fail: unwind`` drops a lock the task holds (mutex_unlock / spin_unlock)."""
    w.owners[lock] = -1
    gave_back(w, t, "lock", lock)
    if k.locks[lock].kind == "spinlock":
        w.set(t, ATOMIC, w.tasks[t][ATOMIC] - 1)
    w.say("unwind_unlocks", lock=lock)


# --------------------------------------------------------------- trylocks


@starts("mutex_trylock", "spin_trylock")
def trylock(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    """mutex_trylock / spin_trylock: 1 and the lock when it is free, else 0 at once [9.1]."""
    owner = w.owners[ins.arg]
    if owner != -1:
        w.say("trylock_fails", op=ins.op, lock=ins.arg, owner=owner)
        fail(k, w, t)
        return [(0, w)]
    w.owners[ins.arg] = t
    took(w, t, "lock", ins.arg)
    if ins.op == "spin_trylock":
        w.set(t, ATOMIC, w.tasks[t][ATOMIC] + 1)
    w.say("trylock_takes", op=ins.op, lock=ins.arg)
    advance(k, w, t)
    return [(0, w)]


# --------------------------------------------------------------- spinlock


@starts("spin_lock")
def spin_lock(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    owner = w.owners[ins.arg]
    if owner == -1:
        w.owners[ins.arg] = t
        took(w, t, "lock", ins.arg)
        w.set(t, ATOMIC, w.tasks[t][ATOMIC] + 1)
        w.say("lock_acquired", op=ins.op, lock=ins.arg)
        advance(k, w, t)
    else:
        w.say("spin_spins", lock=ins.arg, owner=owner)
        w.set(t, FRAME, SpinWait(ins.arg))
    return [(0, w)]


@blocks(SpinWait)
def _spin_blocked(k: Config, s: State, task: tuple[Any, ...], frame: SpinWait) -> bool:
    return bool(s[2][frame.lock] != -1)


@resumes(SpinWait)
def _spin_acquires(k: Config, w: Work, t: int, frame: SpinWait) -> Moves:
    lock = frame.lock
    if w.owners[lock] != -1:
        return []
    w.owners[lock] = t
    took(w, t, "lock", lock)
    w.set(t, ATOMIC, w.tasks[t][ATOMIC] + 1)
    w.say("spin_acquires", lock=lock)
    advance(k, w, t)
    return [(0, w)]


# ------------------------------------------------------------ completions


@starts("wait_for_completion", "wait_for_completion_killable")
def wait_for_completion(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    killable = ins.op == "wait_for_completion_killable"
    if cannot_sleep(k, w, t, ins, ins.arg, killable, "-ERESTARTSYS"):
        return [(0, w)]
    if w.done[ins.arg] != 0:
        consume(w, ins.arg)
        w.say("completion_done", op=ins.op, completion=ins.arg)
        advance(k, w, t)
    else:
        w.say("completion_sleeps", op=ins.op, completion=ins.arg)
        w.set(t, FRAME, CompletionWait(ins.arg, killable))
    return [(0, w)]


def consume(w: Work, comp: int) -> None:
    """A wait takes one ``done`` (none after complete_all: every wait passes)."""
    if w.done[comp] != ALL:
        w.done[comp] -= 1


@blocks(CompletionWait)
def _completion_blocked(k: Config, s: State, task: tuple[Any, ...], frame: CompletionWait) -> bool:
    return s[3][frame.completion] == 0 and not (frame.killable and task[STATUS] & KILLED)


@resumes(CompletionWait)
def _completion_wakes(k: Config, w: Work, t: int, frame: CompletionWait) -> Moves:
    comp = frame.completion

    def take(got: Work) -> None:
        consume(got, comp)
        got.say("completion_wakes", completion=comp)

    return wake_or_interrupt(
        k,
        w,
        t,
        w.done[comp] != 0,
        take,
        frame.killable,
        ("completion_interrupted", {"completion": comp}),
    )


@starts("complete", "complete_all")
def complete(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    if ins.op == "complete_all" or w.done[ins.arg] == ALL:
        w.done[ins.arg] = ALL
    else:
        w.done[ins.arg] = min(w.done[ins.arg] + 1, k.completion_cap[ins.arg])
    w.say("completed", op=ins.op, completion=ins.arg)
    advance(k, w, t)
    return [(0, w)]
