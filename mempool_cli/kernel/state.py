"""The state layout, once: what a model state is made of and how one transition edits it.

A state is a plain tuple (hashable, comparable, no objects):

    (free, curr, owners, done, left, halt, tasks)

``free`` is the zone's free pages; ``curr`` each pool's ``curr_nr``;
``owners`` each lock's owner task id or -1 (for an ``rwsem``, revision 2,
an ``RwsemState``: the writer or -1, the readers, the FIFO queue of
waiters); ``done`` each completion's count (``ALL`` after complete_all),
then (revision 2) each counter's value, then each queue's items as a tuple,
oldest first; ``left`` the pages each reclaimable entry still holds; ``halt``
is None or ``(kind, task, message key)`` once a panic or a violation stopped
the machine; ``tasks`` one tuple per task:

    (pc, frame, status, rss, handles, scopes, atomic)

and, only for a task whose program has an ``on_fail: unwind`` (so that every
other scenario keeps exactly its states), an eighth field ``taken``: what it
holds in the order it took it, ``("lock", id)``, ``("handle", slot)``,
``("scope", index)``, for unwinding in reverse order.

``atomic`` counts what makes the task atomic (revision 2, "Interrupts on the
CPU they interrupt"): the spinlocks it holds, plus ``SOFT_OFF`` per level of
``local_bh_disable`` / ``spin_lock_bh`` and ``HARD_OFF`` per level of
``local_irq_*`` / ``spin_lock_irq*`` it is inside; a scenario without those
steps keeps exactly its version-1 values (``spins``, ``hard_off``,
``soft_off`` read them apart).

``frame`` is ``()`` (BOUNDARY) between two steps, or the named record of
the kernel call the task is inside (``LockWait``, ``SlowPath``,
``MempoolAlloc``, ...): a NamedTuple equals and hashes like the tuple of
its fields, so a state stays a plain value. Only the kernel package reads
this layout; the layers that explain a state ask ``KernelModel``'s
queries.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = [
    "ALL",
    "BOUNDARY",
    "EXITED",
    "FREED",
    "HARD_OFF",
    "KILLED",
    "MEMDIE",
    "NULL",
    "ORDER",
    "REAPED",
    "RUNNING",
    "RWSEM_FREE",
    "SENT",
    "SKIP",
    "SOFT_OFF",
    "UNBOUND",
    "VICTIM",
    "WORK",
    "Event",
    "RwsemState",
    "State",
    "Work",
    "hard_off",
    "held_by",
    "holds",
    "sent_to",
    "set_slot",
    "soft_off",
    "spins",
    "with_field",
]

State = tuple[Any, ...]
# One thing a transition did, as data: a key and its fields (ids, numbers, op names), as
# (name, value) pairs so an event can sit in a state (a halt's reason) and hash.
# narration.py turns events into the words reports print; the kernel never formats.
Event = tuple[str, tuple[tuple[str, Any], ...]]

# state fields
FREE, CURR, OWNERS, DONE, LEFT, HALT, TASKS = range(7)
# task tuple fields
PC, FRAME, STATUS, RSS, HANDLES, SCOPES, ATOMIC = range(7)
ORDER = 7  # ``taken``, present only in tasks that can unwind (see above)
# status bits
KILLED = 1  # fatal signal pending
MEMDIE = 2  # TIF_MEMDIE: reserve rights of the "all" era [2.4]
VICTIM = 4  # tsk_is_oom_victim: the OOM scan aborts on it until SKIP [5.2]
SKIP = 8  # MMF_OOM_SKIP [2.4]
REAPED = 16  # the reaper has acted on this victim [5.4]
EXITED = 32
RUNNING = 64  # an interrupt handler that has fired and not yet returned (revision 2)
# the atomic field: spinlocks held + SOFT_OFF * softirq-disable depth + HARD_OFF * irq-disable
# depth (each part stays below 1 << 16: a task runs at most LIMITS.task_steps steps)
SOFT_OFF = 1 << 16
HARD_OFF = 1 << 32
BOUNDARY: tuple[Any, ...] = ()  # the frame of a task between two steps
ALL = -1  # completion count after complete_all
# handle values: all tuples, so task tuples compare (symmetry sorts them)
UNBOUND: tuple[Any, ...] = ()
NULL = ("null",)
FREED = ("freed",)
# revision 2, queues: the enqueuer's slot after ``enqueue: {handle: H}``, as
# ``(SENT, queue id)``: it holds nothing (freeing or enqueuing it again is a violation,
# exiting with it is fine); the queue holds the item. A queue item is a handle's value,
# ``("e", pool)`` / ``("p", order)``, or WORK, a work item that is not a handle.
SENT = "queued"
WORK = ("work",)


class RwsemState(NamedTuple):
    """An rwsem in the shared part of a state (revision 2, "Locks beyond mutexes").

    ``writer``: the task holding it for write, or -1; ``readers``: the tasks holding it
    for read, sorted, once per hold (a task may hold it twice); ``queue``: the waiters in
    FIFO order, ``(task, write)`` each (``sem->wait_list``).
    """

    writer: int
    readers: tuple[int, ...]
    queue: tuple[tuple[int, bool], ...]


RWSEM_FREE = RwsemState(-1, (), ())


def held_by(owner: Any, t: int) -> bool:
    """Whether task ``t`` holds the lock whose ``owners`` entry is ``owner`` (any mode)."""
    if type(owner) is int:
        return owner == t
    return bool(owner[0] == t or t in owner[1])


def spins(atomic: int) -> int:
    """The spinlocks held, from a task's ``atomic`` field."""
    return atomic % SOFT_OFF


def soft_off(atomic: int) -> int:
    """How deep the task is inside ``local_bh_disable`` / ``spin_lock_bh``."""
    return (atomic % HARD_OFF) // SOFT_OFF


def hard_off(atomic: int) -> int:
    """How deep the task is inside ``local_irq_disable`` / ``_save`` / ``spin_lock_irq*``."""
    return atomic // HARD_OFF


def holds(value: tuple[Any, ...]) -> bool:
    """A handle that holds memory: ``("p", order)`` or ``("e", pool)`` (not a handle
    handed to a queue, ``(SENT, queue)``)."""
    return len(value) == 2 and value[0] != SENT


def sent_to(value: tuple[Any, ...]) -> int:
    """The queue a handle was handed to, or -1 when it was not."""
    return int(value[1]) if len(value) == 2 and value[0] == SENT else -1


def with_field(task: tuple[Any, ...], field: int, value: Any) -> tuple[Any, ...]:
    """``task`` with one field replaced."""
    out = list(task)
    out[field] = value
    return tuple(out)


def set_slot(values: tuple[Any, ...], i: int, value: Any) -> tuple[Any, ...]:
    return (*values[:i], value, *values[i + 1 :])


class Work:
    """A mutable copy of a state while one transition is computed.

    ``events`` is None in the search (nothing is recorded) and a list when a
    report asks what a move does (``narration.describe``).
    """

    __slots__ = ("curr", "done", "events", "free", "halt", "labels", "left", "owners", "tasks")

    def __init__(self, s: State, events: list[Event] | None) -> None:
        self.free: int = s[0]
        self.curr = list(s[1])
        self.owners = list(s[2])
        self.done = list(s[3])
        self.left = list(s[4])
        self.halt: tuple[str, int, Event] | None = s[5]
        self.tasks: list[tuple[Any, ...]] = list(s[6])
        self.labels: set[str] = set()
        self.events = events

    def copy(self) -> Work:
        w = Work.__new__(Work)
        w.free, w.halt = self.free, self.halt
        w.curr, w.owners, w.done = list(self.curr), list(self.owners), list(self.done)
        w.left, w.tasks = list(self.left), list(self.tasks)
        w.labels = set(self.labels)
        w.events = list(self.events) if self.events is not None else None
        return w

    def freeze(self) -> State:
        return (
            self.free,
            tuple(self.curr),
            tuple(self.owners),
            tuple(self.done),
            tuple(self.left),
            self.halt,
            tuple(self.tasks),
        )

    def parts(self) -> tuple[tuple[Any, ...], ...]:
        """curr, owners, done and left as tuples (for the successor memo)."""
        return tuple(self.curr), tuple(self.owners), tuple(self.done), tuple(self.left)

    def say(self, key: str, **fields: Any) -> None:
        """Record an event when a report asks what a move does (the search keeps none)."""
        if self.events is not None:
            self.events.append((key, tuple(fields.items())))

    def set(self, t: int, field: int, value: Any) -> None:
        task = list(self.tasks[t])
        task[field] = value
        self.tasks[t] = tuple(task)
