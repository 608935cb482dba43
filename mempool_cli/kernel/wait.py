"""include/linux/wait.h and atomic_t: counters and the waits on them (revision 2).

A counter is an ``atomic_t`` (``nr_pending``, a refcount, ``nr_waiting``):
``atomic_inc`` / ``atomic_dec`` / ``atomic_set`` change it, and going below
0 or above its declared max is a violation. ``wait_event(wq, cond)`` checks
its condition first (``might_sleep`` before that) and sleeps until it
holds; the model re-checks it whenever the counter changes (the waker's
``wake_up`` is folded into the change, as the contract says).
``wait_event_killable`` also returns -ERESTARTSYS on a fatal signal, and
``wait_event_timeout`` / ``wait_for_completion_timeout`` (kernel/sched/
completion.c) return 0 when the timeout expires. mpsim has no clock: a
waiter whose condition does not hold may time out at any point of its
wait, each such point a choice the search explores; a condition that holds
when the waiter runs wins over the timeout, as ``___wait_cond_timeout``
(``__cond && !__ret`` -> 1) and ``do_wait_for_common`` (``x->done``) decide.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from mempool_cli.kernel.config import Config
from mempool_cli.kernel.locking import consume, start_completion_wait
from mempool_cli.kernel.program import Instr
from mempool_cli.kernel.sched import (
    Moves,
    advance,
    blocks,
    cannot_sleep,
    compare,
    fail,
    resumes,
    starts,
    violation,
)
from mempool_cli.kernel.state import FRAME, KILLED, STATUS, State, Work

__all__ = ["CompletionTimeoutWait", "EventWait"]


class EventWait(NamedTuple):
    """A task asleep in ``___wait_event`` until ``counter cmp value`` holds."""

    counter: int
    cmp: str
    value: int
    killable: bool
    timeout: bool


class CompletionTimeoutWait(NamedTuple):
    """A task asleep in ``wait_for_common`` with a timeout, on ``completion``."""

    completion: int


# ------------------------------------------------------------------ atomic_t


@starts("atomic_inc", "atomic_dec", "atomic_set")
def atomic_op(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    """atomic_inc / atomic_dec / atomic_set; out of [0, max] is a violation."""
    at = k.counter_base + ins.arg
    old = w.done[at]
    new = old + 1 if ins.op == "atomic_inc" else old - 1 if ins.op == "atomic_dec" else ins.value
    top = k.counters[ins.arg].max
    if new < 0 or new > top:
        violation(w, t, "counter_range", op=ins.op, counter=ins.arg, value=new, max=top)
        return [(0, w)]
    w.done[at] = new
    w.say("counter_set", op=ins.op, counter=ins.arg, old=old, new=new)
    advance(k, w, t)
    return [(0, w)]


# ---------------------------------------------------------------- wait_event


@starts("wait_event", "wait_event_killable", "wait_event_timeout")
def wait_event(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    killable = ins.op == "wait_event_killable"
    if cannot_sleep(k, w, t, ins, ins.arg, False, "-ERESTARTSYS"):
        return [(0, w)]
    value = w.done[k.counter_base + ins.arg]
    if compare(ins.cond, value, ins.value):
        w.say(
            "event_holds", op=ins.op, counter=ins.arg, cmp=ins.cond, target=ins.value, value=value
        )
        advance(k, w, t)
        return [(0, w)]
    if killable and w.tasks[t][STATUS] & KILLED:
        w.say("wait_interrupted_at_once", op=ins.op, arg=ins.arg, errno="-ERESTARTSYS")
        fail(k, w, t)
        return [(0, w)]
    w.say("event_sleeps", op=ins.op, counter=ins.arg, cmp=ins.cond, target=ins.value, value=value)
    timeout = ins.op == "wait_event_timeout"
    w.set(t, FRAME, EventWait(ins.arg, ins.cond, ins.value, killable, timeout))
    return [(0, w)]


@blocks(EventWait)
def _event_blocked(k: Config, s: State, task: tuple[Any, ...], frame: EventWait) -> bool:
    if frame.timeout or (frame.killable and task[STATUS] & KILLED):
        return False
    return not compare(frame.cmp, s[3][k.counter_base + frame.counter], frame.value)


@resumes(EventWait)
def _event_wakes(k: Config, w: Work, t: int, frame: EventWait) -> Moves:
    """Choice 0: the condition holds, it returns; otherwise choice 1: the timeout
    expires here, or a fatal signal interrupts the killable wait."""
    if compare(frame.cmp, w.done[k.counter_base + frame.counter], frame.value):
        w.say("event_wakes", counter=frame.counter, cmp=frame.cmp, target=frame.value)
        advance(k, w, t)
        return [(0, w)]
    if frame.killable and w.tasks[t][STATUS] & KILLED:
        w.say("event_interrupted", counter=frame.counter)
        fail(k, w, t)
        return [(1, w)]
    if frame.timeout:
        w.say("event_times_out", counter=frame.counter)
        fail(k, w, t)
        return [(1, w)]
    return []


# ---------------------------------------------------- wait_for_completion_timeout


@starts("wait_for_completion_timeout")
def wait_for_completion_timeout(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    return start_completion_wait(k, w, t, ins, False, "0", CompletionTimeoutWait(ins.arg))


@resumes(CompletionTimeoutWait)
def _completion_timeout_wakes(k: Config, w: Work, t: int, frame: CompletionTimeoutWait) -> Moves:
    comp = frame.completion
    if w.done[comp] != 0:
        consume(w, comp)
        w.say("completion_wakes", completion=comp)
        advance(k, w, t)
        return [(0, w)]
    w.say("completion_times_out", completion=comp)
    fail(k, w, t)
    return [(1, w)]
