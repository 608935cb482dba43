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
    IRQ_UNIT,
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
from mempool_cli.kernel.state import (
    ALL,
    ATOMIC,
    FRAME,
    KILLED,
    STATUS,
    RwsemState,
    State,
    Work,
)

__all__ = ["CompletionWait", "LockWait", "RwsemWait", "SpinWait", "consume", "read_trylock_ok"]


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


@starts(
    "mutex_unlock", "spin_unlock", "spin_unlock_irq", "spin_unlock_irqrestore", "spin_unlock_bh"
)
def unlock(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    """mutex_unlock / spin_unlock; unlocking a lock the task does not hold is a violation.

    ``spin_unlock_irq`` / ``_irqrestore`` / ``_bh`` (revision 2) release the lock, then
    turn the level their ``spin_lock_*`` turned off back on (kernel/irq.py).
    """
    owner = w.owners[ins.arg]
    if owner != t:
        violation(w, t, "unlock_not_held", op=ins.op, lock=ins.arg, owner=owner)
        return [(0, w)]
    w.owners[ins.arg] = -1
    gave_back(w, t, "lock", ins.arg)
    if ins.op != "mutex_unlock":
        unit = IRQ_UNIT.get(ins.op, 0)
        w.set(t, ATOMIC, w.tasks[t][ATOMIC] - 1 - unit)
        if unit:
            gave_back(w, t, "irq", unit)
    w.say("unlocked", op=ins.op, lock=ins.arg)
    advance(k, w, t)
    return [(0, w)]


@releases("lock")
def unwind_unlock(k: Config, w: Work, t: int, lock: int) -> None:
    """``on_fail: unwind`` drops a lock the task holds (mutex_unlock / spin_unlock, or
    up_write / up_read of an rwsem: the write hold if it has it, else one read hold)."""
    if lock in k.rwsems:
        sem: RwsemState = w.owners[lock]
        if sem.writer == t:
            sem = sem._replace(writer=-1)
        else:
            sem = sem._replace(readers=_without(sem.readers, t))
        w.owners[lock] = _grant_readers(sem)
        gave_back(w, t, "lock", lock)
        w.say("unwind_unlocks", lock=lock)
        return
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


@starts("spin_lock", "spin_lock_irq", "spin_lock_irqsave", "spin_lock_bh")
def spin_lock(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    """spin_lock: take the lock, or spin on it (``SpinWait``) until its owner lets go.

    ``spin_lock_irq`` / ``_irqsave`` / ``_bh`` (revision 2) first turn their level off
    on the task's CPU, then take or spin: a handler of that level cannot fire on this
    CPU while the task spins or holds the lock (include/linux/spinlock_api_smp.h).
    """
    unit = IRQ_UNIT.get(ins.op, 0)
    if unit:
        w.set(t, ATOMIC, w.tasks[t][ATOMIC] + unit)
        took(w, t, "irq", unit)
    owner = w.owners[ins.arg]
    if owner == -1:
        w.owners[ins.arg] = t
        took(w, t, "lock", ins.arg)
        w.set(t, ATOMIC, w.tasks[t][ATOMIC] + 1)
        w.say("lock_acquired", op=ins.op, lock=ins.arg)
        advance(k, w, t)
    else:
        w.say("spin_spins", lock=ins.arg, owner=owner, op=ins.op)
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
    return start_completion_wait(
        k, w, t, ins, killable, "-ERESTARTSYS", CompletionWait(ins.arg, killable)
    )


def start_completion_wait(
    k: Config, w: Work, t: int, ins: Instr, killable: bool, errno: str, frame: Any
) -> Moves:
    """The start of every ``wait_for_completion*`` (``wait_for_common``): a done count is
    taken at once, else the task sleeps with ``frame`` (which says how it may wake)."""
    if cannot_sleep(k, w, t, ins, ins.arg, killable, errno):
        return [(0, w)]
    if w.done[ins.arg] != 0:
        consume(w, ins.arg)
        w.say("completion_done", op=ins.op, completion=ins.arg)
        advance(k, w, t)
    else:
        w.say("completion_sleeps", op=ins.op, completion=ins.arg)
        w.set(t, FRAME, frame)
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


# ------------------------------------------------------------------ rwsem
#
# revision 2, "Locks beyond mutexes"; kernel/locking/rwsem.c (4.x rwsem-xadd.c), §9.2.
# The rwsem's entry in ``owners`` is a ``RwsemState`` (writer, readers, FIFO queue).
# A release hands the lock to the readers at the front of the queue at once (the waker
# grants them, ``__rwsem_mark_wake``); a writer at the front takes it when it next runs.
# docs/model.md, "rwsem", says what is modelled and why.


class RwsemWait(NamedTuple):
    """A task asleep in ``rwsem_down_{read,write}_slowpath`` on ``lock``."""

    lock: int
    write: bool
    killable: bool


def _without(readers: tuple[int, ...], t: int) -> tuple[int, ...]:
    """``readers`` with one hold of ``t`` dropped."""
    i = readers.index(t)
    return (*readers[:i], *readers[i + 1 :])


def _with(readers: tuple[int, ...], t: int) -> tuple[int, ...]:
    return tuple(sorted((*readers, t)))


def _grant_readers(sem: RwsemState) -> RwsemState:
    """``__rwsem_mark_wake``: with no writer holding it, the readers at the front of the
    queue (up to the first writer) get their read hold now and leave the queue."""
    if sem.writer != -1:
        return sem
    readers, queue = sem.readers, sem.queue
    while queue and not queue[0][1]:
        readers = _with(readers, queue[0][0])
        queue = queue[1:]
    return RwsemState(-1, readers, queue)


def read_trylock_ok(sem: RwsemState) -> bool:
    """``down_read_trylock`` succeeds: no writer holds it and nobody waits (4.x: the count
    is not negative; 5.x: none of ``RWSEM_READ_FAILED_MASK``)."""
    return sem.writer == -1 and not sem.queue


def _take(w: Work, t: int, lock: int, sem: RwsemState, write: bool) -> None:
    if write:
        w.owners[lock] = sem._replace(writer=t)
    else:
        w.owners[lock] = sem._replace(readers=_with(sem.readers, t))
    took(w, t, "lock", lock)


@starts("down_read", "down_read_killable", "down_write", "down_write_killable")
def down(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    """down_read / down_write (and _killable): take the rwsem when the mode allows, else
    queue; where another order is possible, both are moves.

    A reader arriving while no writer holds it but a writer waits queues behind that
    writer (choice 0) or, on presets whose rwsem lets readers steal, takes it at once
    (choice 1). A writer arriving at a free rwsem with waiters queues (0) or takes it at
    once (1: writer lock stealing, every preset).
    """
    write = ins.op.startswith("down_write")
    killable = ins.op.endswith("_killable")
    if cannot_sleep(k, w, t, ins, ins.arg, killable, "-EINTR"):
        return [(0, w)]
    lock = ins.arg
    sem: RwsemState = w.owners[lock]
    if write:
        free = sem.writer == -1 and not sem.readers
        steal = free and bool(sem.queue)
    else:
        free = sem.writer == -1 and not sem.queue
        steal = sem.writer == -1 and bool(sem.queue) and k.rwsem_steal
    if free and not steal:
        _take(w, t, lock, sem, write)
        w.say("rwsem_acquired", op=ins.op, lock=lock)
        advance(k, w, t)
        return [(0, w)]
    moves: Moves = []
    if steal:
        got = w.copy()
        _take(got, t, lock, sem, write)
        got.say("rwsem_steals", op=ins.op, lock=lock)
        advance(k, got, t)
        moves.append((1, got))
    w.owners[lock] = sem._replace(queue=(*sem.queue, (t, write)))
    w.say("rwsem_sleeps", op=ins.op, lock=lock, write=write, **_blockers(sem, t, write))
    w.set(t, FRAME, RwsemWait(lock, write, killable))
    moves.insert(0, (0, w))
    return moves


def _blockers(sem: RwsemState, t: int, write: bool) -> dict[str, Any]:
    """What a new waiter waits for, for the narration: the writer, or (for a writer) the
    readers, and the waiters queued ahead of it."""
    return {
        "writer": sem.writer,
        "readers": tuple(sorted(set(sem.readers))) if write else (),
        "queued": tuple(u for u, _ in sem.queue if u != t),
    }


def _rwsem_ready(sem: RwsemState, t: int, frame: RwsemWait) -> bool:
    if frame.write:
        return sem.writer == -1 and not sem.readers and sem.queue[:1] == ((t, True),)
    return (t, False) not in sem.queue  # granted by the waker


@resumes(RwsemWait)
def _rwsem_wakes(k: Config, w: Work, t: int, frame: RwsemWait) -> Moves:
    """A queued waiter: a granted reader returns with its hold (even with a fatal signal
    pending: the waker gave it); a writer at the front of a free rwsem takes it (0); a
    killable waiter with a fatal signal pending leaves the queue with -EINTR (1)."""
    lock = frame.lock
    sem: RwsemState = w.owners[lock]
    moves: Moves = []
    if _rwsem_ready(sem, t, frame):
        got = w.copy()
        if frame.write:
            got.owners[lock] = RwsemState(t, sem.readers, sem.queue[1:])
        took(got, t, "lock", lock)
        got.say("rwsem_wakes", lock=lock, write=frame.write)
        advance(k, got, t)
        moves.append((0, got))
        if not frame.write:
            return moves
    if frame.killable and w.tasks[t][STATUS] & KILLED:
        i = sem.queue.index((t, frame.write))
        w.owners[lock] = _grant_readers(sem._replace(queue=(*sem.queue[:i], *sem.queue[i + 1 :])))
        w.say("rwsem_interrupted", lock=lock)
        fail(k, w, t)
        moves.append((1, w))
    return moves


@starts("up_read", "up_write", "downgrade_write")
def up(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    """up_read / up_write / downgrade_write; releasing a hold the task does not have is a
    violation. Each release hands the rwsem to the readers at the front of the queue;
    downgrade_write keeps a read hold and so wakes them at once."""
    lock = ins.arg
    sem: RwsemState = w.owners[lock]
    if ins.op == "up_read" and t not in sem.readers:
        violation(w, t, "rwsem_not_held", op=ins.op, lock=lock, mode="read")
        return [(0, w)]
    if ins.op != "up_read" and sem.writer != t:
        violation(w, t, "rwsem_not_held", op=ins.op, lock=lock, mode="write")
        return [(0, w)]
    if ins.op == "up_read":
        sem = sem._replace(readers=_without(sem.readers, t))
        gave_back(w, t, "lock", lock)
    elif ins.op == "up_write":
        sem = sem._replace(writer=-1)
        gave_back(w, t, "lock", lock)
    else:
        sem = RwsemState(-1, _with(sem.readers, t), sem.queue)
    after = _grant_readers(sem)
    w.owners[lock] = after
    woken = tuple(u for u, write in sem.queue if (u, write) not in after.queue)
    w.say("rwsem_released", op=ins.op, lock=lock, woken=woken)
    advance(k, w, t)
    return [(0, w)]


@starts("down_read_trylock", "down_write_trylock")
def rwsem_trylock(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    """down_read_trylock / down_write_trylock: 1 and the hold, or 0 at once [9.1]. Both
    fail while anyone waits (4.x and 5.x alike: the waiters bias / flag)."""
    lock = ins.arg
    sem: RwsemState = w.owners[lock]
    write = ins.op == "down_write_trylock"
    ok = read_trylock_ok(sem) and not (write and sem.readers)
    if not ok:
        w.say("rwsem_trylock_fails", op=ins.op, lock=lock, **_blockers(sem, t, write))
        fail(k, w, t)
        return [(0, w)]
    _take(w, t, lock, sem, write)
    w.say("trylock_takes", op=ins.op, lock=lock)
    advance(k, w, t)
    return [(0, w)]
