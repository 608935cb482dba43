"""Work handed to another context (revision 2): bio lists, workqueues, completion rings.

A queue is a bounded FIFO in the shared part of the state (docs/model.md,
"Queues"). ``enqueue`` hands an item to it: a handle's value, after which
the enqueuer's slot holds nothing (``(SENT, queue)``, kernel/state.py), or
a work item (``WORK``) that carries no memory. ``dequeue`` takes the
oldest item and, with ``as: H``, binds H to it: the dequeuer owns what the
enqueuer allocated, as a bio's end-of-I/O path (``bio_endio`` ->
``bi_end_io``) frees what its submitter allocated [9.5], and a bio_set's
rescuer (block/bio.c ``punt_bios_to_rescuer`` -> ``bio_alloc_rescue``)
or a ``WQ_MEM_RECLAIM`` workqueue's rescuer (kernel/workqueue.c
``rescuer_thread``) runs what was queued to it [9.6].

Sleeping is where the kernel would sleep: a dequeue on an empty queue
(a worker in ``worker_thread`` with no work, ``wait_event`` on a list) and
an enqueue onto a full one (a ring with no free slot). Both go through
``might_sleep`` (``sched.cannot_sleep``) only when they actually sleep, so
an interrupt handler may enqueue into a queue with room, as ``bio_endio``
and ``queue_work`` do from irq context, and may ``dequeue`` with
``nowait`` (``bio_list_pop`` returns NULL on an empty list).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from mempool_cli.kernel.config import Config
from mempool_cli.kernel.program import Instr
from mempool_cli.kernel.sched import (
    Moves,
    advance,
    bind,
    blocks,
    cannot_sleep,
    fail,
    gave_back,
    resumes,
    starts,
    violation,
)
from mempool_cli.kernel.state import (
    FRAME,
    FREED,
    HANDLES,
    NULL,
    PC,
    SENT,
    UNBOUND,
    WORK,
    State,
    Work,
    holds,
    sent_to,
    set_slot,
)

__all__ = ["QueueWait"]


class QueueWait(NamedTuple):
    """A task asleep in ``enqueue`` (``full``: the queue has no room) or in ``dequeue``
    (the queue is empty) on ``queue``."""

    queue: int
    full: bool


def _item(w: Work, t: int, ins: Instr) -> tuple[Any, ...] | None:
    """What ``enqueue`` hands over: the handle's value or WORK; None after a violation
    (a null, unbound, freed or already handed-over handle)."""
    if ins.slot < 0:
        return WORK
    value: tuple[Any, ...] = w.tasks[t][HANDLES][ins.slot]
    if value in (NULL, UNBOUND):
        violation(w, t, "enqueue_null", queue=ins.arg, handle=ins.slot)
        return None
    if value == FREED:
        violation(w, t, "enqueue_freed", queue=ins.arg, handle=ins.slot)
        return None
    if sent_to(value) >= 0:
        violation(w, t, "enqueue_sent", queue=ins.arg, handle=ins.slot, to=sent_to(value))
        return None
    return value


@starts("enqueue")
def enqueue(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    """``enqueue``: append to the queue; a full queue sleeps (through might_sleep)."""
    item = _item(w, t, ins)
    if item is None:
        return [(0, w)]
    at = k.queue_base + ins.arg
    if len(w.done[at]) < k.queues[ins.arg].capacity:
        _append(k, w, t, ins, item)
        return [(0, w)]
    if cannot_sleep(k, w, t, ins, ins.arg, False, ""):
        return [(0, w)]
    w.say("enqueue_sleeps", queue=ins.arg, capacity=k.queues[ins.arg].capacity)
    w.set(t, FRAME, QueueWait(ins.arg, True))
    return [(0, w)]


def _append(k: Config, w: Work, t: int, ins: Instr, item: tuple[Any, ...]) -> None:
    """The item goes to the tail; a handed-over handle no longer holds anything."""
    at = k.queue_base + ins.arg
    w.done[at] = (*w.done[at], item)
    if ins.slot >= 0:
        w.set(t, HANDLES, set_slot(w.tasks[t][HANDLES], ins.slot, (SENT, ins.arg)))
        gave_back(w, t, "handle", ins.slot)
    w.say("enqueued", queue=ins.arg, handle=ins.slot, count=len(w.done[at]))
    advance(k, w, t)


@starts("dequeue")
def dequeue(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    """``dequeue``: take the oldest item; an empty queue sleeps, or with ``nowait`` fails
    (the handle ``as:`` names is bound to NULL, as ``bio_list_pop`` returns NULL)."""
    at = k.queue_base + ins.arg
    if w.done[at]:
        _take(k, w, t, ins)
        return [(0, w)]
    if ins.nowait:
        w.say("dequeue_empty", queue=ins.arg)
        if bind(k, w, t, ins.bind, NULL):
            fail(k, w, t)
        return [(0, w)]
    if cannot_sleep(k, w, t, ins, ins.arg, False, ""):
        return [(0, w)]
    w.say("dequeue_sleeps", queue=ins.arg)
    w.set(t, FRAME, QueueWait(ins.arg, False))
    return [(0, w)]


def _take(k: Config, w: Work, t: int, ins: Instr) -> None:
    """The head of the queue goes to the dequeuer: a handle's value into ``as:``, which it
    then owns; a work item carries no memory (``as:``, if given, is bound to NULL); an
    element or pages taken without ``as:`` would be dropped: a leak (a violation)."""
    at = k.queue_base + ins.arg
    item, rest = w.done[at][0], w.done[at][1:]
    if holds(item) and ins.bind < 0:
        violation(w, t, "leak_dequeued", queue=ins.arg, value=item)
        return
    w.done[at] = rest
    value = NULL if item == WORK else item
    if ins.bind >= 0 and not bind(k, w, t, ins.bind, value):
        return
    w.say("dequeued", queue=ins.arg, handle=ins.bind, value=item, left=len(rest))
    advance(k, w, t)


@blocks(QueueWait)
def _queue_blocked(k: Config, s: State, task: tuple[Any, ...], frame: QueueWait) -> bool:
    items = s[3][k.queue_base + frame.queue]
    return len(items) >= k.queues[frame.queue].capacity if frame.full else not items


@resumes(QueueWait)
def _queue_wakes(k: Config, w: Work, t: int, frame: QueueWait) -> Moves:
    """Woken: there is room (enqueue) or an item (dequeue); the step ends now."""
    ins = k.instr(t, w.tasks[t][PC])
    w.say("queue_wakes", queue=frame.queue, full=frame.full)
    if frame.full:
        item = _item(w, t, ins)
        if item is not None:
            _append(k, w, t, ins, item)
    else:
        _take(k, w, t, ins)
    return [(0, w)]
