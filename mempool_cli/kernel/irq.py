"""Interrupt handlers on the CPU they interrupt, and the steps that turn interrupts off.

Revision 2, "Interrupts on the CPU they interrupt" (kernel-facts 9.5;
``include/linux/spinlock.h``, ``include/linux/irqflags.h``,
``include/linux/bottom_half.h``, ``kernel/softirq.c``):

- a task with ``interrupts: T`` is a handler that runs on T's CPU: while
  it runs, T takes no step (the interrupted code cannot run until the
  handler returns), so a handler spinning on a lock T holds spins for ever;
- it may fire only where T's CPU has its level on: a hard irq handler
  where T is outside every ``local_irq_*`` / ``spin_lock_irq*`` region, a
  softirq handler where T is also outside every ``local_bh_disable`` /
  ``spin_lock_bh`` region (with hard irqs off no irq exit runs softirqs);
- a hard irq handler may interrupt a softirq handler running on that CPU
  (unless the softirq handler turned hard irqs off itself); a softirq
  handler never interrupts a hard irq handler, and handlers of one level do
  not nest (a hard irq handler runs with interrupts off, softirqs run one
  at a time per CPU);
- it fires once (each copy of a ``count:``), at any point where it may,
  before T's first step or after T exited too, and runs to its end.

A task's interrupt-disabling depths live in its ``atomic`` field
(kernel/state.py: ``HARD_OFF`` and ``SOFT_OFF`` units above the
spinlock count), so every rule that forbids sleeping in atomic context
covers them (``sched.atomic_reason``).
"""

from __future__ import annotations

from typing import Any

from mempool_cli.kernel.config import Config
from mempool_cli.kernel.program import Instr
from mempool_cli.kernel.sched import (
    IRQ_UNIT,
    Moves,
    advance,
    gave_back,
    on_cpu,
    releases,
    starts,
    took,
    violation,
)
from mempool_cli.kernel.state import (
    ATOMIC,
    EXITED,
    HARD_OFF,
    RUNNING,
    STATUS,
    State,
    Work,
    hard_off,
    soft_off,
)
from mempool_cli.scenario.steps import STEP_KINDS

__all__ = ["active_handler", "disable", "enable", "held_off", "may_run"]

_DISABLES = tuple(
    k.name for k in STEP_KINDS.values() if k.irq and not k.names and k.role != "releases"
)
_ENABLES = tuple(
    k.name for k in STEP_KINDS.values() if k.irq and not k.names and k.role == "releases"
)


def _active(status: int) -> bool:
    return bool(status & RUNNING) and not status & EXITED


def active_handler(k: Config, s: State, host: int, level: str | None = None) -> int:
    """The handler of ``level`` (``irq``, ``softirq``, or either) running on ``host``'s CPU
    now, or -1; with either level, the one on top (a hard irq over a softirq)."""
    tasks = s[6]
    found = -1
    for h in k.handlers_of[host]:
        if _active(tasks[h][STATUS]):
            context = k.info[h].context
            if level is None or context == level:
                if context == "irq":
                    return h
                found = h
    return found


@on_cpu
def may_run(k: Config, s: State, t: int) -> bool:
    """Whether task ``t`` may take a step now as far as its CPU goes (the module docstring).

    A process task: no handler runs on its CPU. A handler that runs: nothing
    above it (a softirq handler under a running hard irq handler waits). A
    handler that has not fired: its host CPU has its level on and no handler
    it may not nest in runs there.
    """
    info = k.info[t]
    host = info.interrupts
    tasks = s[6]
    if host < 0:
        return active_handler(k, s, t) < 0 if k.handlers_of[t] else True
    hard = info.context == "irq"
    status = tasks[t][STATUS]
    if status & RUNNING:
        return hard or active_handler(k, s, host, "irq") < 0
    atomic = tasks[host][ATOMIC]
    if hard_off(atomic) or (not hard and soft_off(atomic)):
        return False
    # another handler running there: a hard irq may only go over a softirq handler that
    # has irqs on; a softirq goes over nothing
    return not any(
        h != t
        and _active(tasks[h][STATUS])
        and (not hard or k.info[h].context == "irq" or hard_off(tasks[h][ATOMIC]))
        for h in k.handlers_of[host]
    )


def held_off(k: Config, s: State, t: int) -> int:
    """The handler that holds task ``t`` off its CPU in ``s`` (it runs above ``t``), or -1.

    Such a task is neither asleep nor spinning (the contract's clarifications):
    it never makes a hang a livelock.
    """
    info = k.info[t]
    if info.interrupts < 0:
        return active_handler(k, s, t) if k.handlers_of[t] else -1
    if info.context == "softirq" and s[6][t][STATUS] & RUNNING and not s[6][t][STATUS] & EXITED:
        return active_handler(k, s, info.interrupts, "irq")
    return -1


@starts(*_DISABLES)
def disable(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    """``local_irq_disable`` / ``local_irq_save`` / ``local_bh_disable``: one level deeper."""
    unit = IRQ_UNIT[ins.op]
    w.set(t, ATOMIC, w.tasks[t][ATOMIC] + unit)
    took(w, t, "irq", unit)
    w.say("irqs_off", op=ins.op, level="hard" if unit == HARD_OFF else "soft")
    advance(k, w, t)
    return [(0, w)]


@starts(*_ENABLES)
def enable(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    """``local_irq_enable`` / ``local_irq_restore`` / ``local_bh_enable``: one level out.

    The loader balances each pair, so this never finds the level on; if it
    did, it would be the violation ``irq_enable_unbalanced``.
    """
    unit = IRQ_UNIT[ins.op]
    if not enabled_depth(w.tasks[t], unit):
        violation(w, t, "irq_enable_unbalanced", op=ins.op)
        return [(0, w)]
    w.set(t, ATOMIC, w.tasks[t][ATOMIC] - unit)
    gave_back(w, t, "irq", unit)
    w.say("irqs_on", op=ins.op, level="hard" if unit == HARD_OFF else "soft")
    advance(k, w, t)
    return [(0, w)]


def enabled_depth(task: tuple[Any, ...], unit: int) -> int:
    """How deep ``task`` is in regions that turned off the level of ``unit``."""
    atomic = task[ATOMIC]
    return hard_off(atomic) if unit == HARD_OFF else soft_off(atomic)


@releases("irq")
def unwind_enable(k: Config, w: Work, t: int, unit: int) -> None:
    """``on_fail: unwind`` turns back on a level the task turned off."""
    w.set(t, ATOMIC, w.tasks[t][ATOMIC] - unit)
    gave_back(w, t, "irq", unit)
    w.say("unwind_irqs_on", level="hard" if unit == HARD_OFF else "soft")
