"""Running a task: step dispatch, the end of a step, fatal-signal unwinding, do_exit.

The kernel rooms register what each step does when a task reaches it
(``starts``), how a task inside a call goes on (``resumes``, keyed by the
frame's record type) and when a sleeping task has no move at all
(``blocked``). ``task_moves`` is the one entry point the model calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mempool_cli.kernel.config import Config
from mempool_cli.kernel.program import IF, JUMP, NO_FAIL, UNWIND, Instr
from mempool_cli.kernel.state import (
    ATOMIC,
    BOUNDARY,
    EXITED,
    FRAME,
    HANDLES,
    HARD_OFF,
    KILLED,
    NULL,
    ORDER,
    PC,
    RSS,
    RUNNING,
    SCOPES,
    SOFT_OFF,
    STATUS,
    State,
    Work,
    hard_off,
    held_by,
    holds,
    soft_off,
    spins,
    with_field,
)
from mempool_cli.scenario.steps import ACQUIRES, ALWAYS, MEMALLOC_SCOPES, STEP_KINDS

__all__ = [
    "IRQ_UNIT",
    "SCOPE_INDEX",
    "Moves",
    "advance",
    "atomic_reason",
    "bind",
    "blocks",
    "cannot_sleep",
    "compare",
    "fail",
    "gave_back",
    "on_cpu",
    "releases",
    "resumes",
    "starts",
    "task_moves",
    "took",
    "violation",
]

Moves = list[tuple[int, Work]]  # (choice, the state after it) per enabled move of one task
StartFn = Callable[[Config, Work, int, Instr], Moves]
ResumeFn = Callable[[Config, Work, int, Any], Moves]
BlockedFn = Callable[[Config, State, tuple[Any, ...], Any], bool]

_STARTS: dict[str, StartFn] = {}
_RESUMES: dict[type, ResumeFn] = {}
_BLOCKED: dict[type, BlockedFn] = {}
ReleaseFn = Callable[[Config, Work, int, int], None]
_RELEASES: dict[str, ReleaseFn] = {}

# A scope step -> its slot in a task's SCOPES tuple (noio, nofs, noreclaim).
SCOPE_INDEX = {
    k.name: MEMALLOC_SCOPES.index(k.scope)
    for k in STEP_KINDS.values()
    if k.scope in MEMALLOC_SCOPES
}
# A step that turns an interrupt level off or on -> the atomic-field unit of that level.
IRQ_UNIT = {
    k.name: HARD_OFF if k.irq == "hard" else SOFT_OFF
    for k in STEP_KINDS.values()
    if k.irq is not None
}
# Who may run on whose CPU (kernel/irq.py registers it: handlers run on the CPU they
# interrupt, revision 2); None until then, and for every scenario without such handlers
# the model never asks.
_MAY_RUN: list[Callable[[Config, State, int], bool]] = []


def starts(*ops: str) -> Callable[[StartFn], StartFn]:
    """Register what the steps ``ops`` do when a task reaches one (a decorator)."""

    def register(fn: StartFn) -> StartFn:
        for op in ops:
            _STARTS[op] = fn
        return fn

    return register


def resumes(frame: type) -> Callable[[ResumeFn], ResumeFn]:
    """Register how a task inside a call with this frame record goes on (a decorator)."""

    def register(fn: ResumeFn) -> ResumeFn:
        _RESUMES[frame] = fn
        return fn

    return register


def blocks(frame: type) -> Callable[[BlockedFn], BlockedFn]:
    """Register when a task with this frame has no move (checked before any copying)."""

    def register(fn: BlockedFn) -> BlockedFn:
        _BLOCKED[frame] = fn
        return fn

    return register


def releases(kind: str) -> Callable[[ReleaseFn], ReleaseFn]:
    """Register how ``on_fail: unwind`` gives back one thing of ``kind`` (``lock``,
    ``pages``, ``element``, ``scope``) the task holds (a decorator)."""

    def register(fn: ReleaseFn) -> ReleaseFn:
        _RELEASES[kind] = fn
        return fn

    return register


def on_cpu(check: Callable[[Config, State, int], bool]) -> Callable[[Config, State, int], bool]:
    """Register who may run on a CPU an interrupt handler shares (a decorator; kernel/irq.py)."""
    _MAY_RUN.append(check)
    return check


def task_moves(k: Config, s: State, t: int, events: list[Any] | None) -> Moves:
    """Every move task ``t`` can make in ``s``, each as (choice, Work).

    Where a handler runs on the CPU it interrupts (revision 2), a task held
    off its CPU has none, and a handler's first move is its firing: it is
    marked RUNNING until it returns (kernel/irq.py).
    """
    task = s[6][t]
    if task[STATUS] & EXITED:
        return []
    fires = False
    if k.shares_cpus:  # (only then can a task be held off, or be a handler that fires)
        if not _MAY_RUN[0](k, s, t):
            return []
        fires = k.info[t].interrupts >= 0 and not task[STATUS] & RUNNING
    frame = task[FRAME]
    if frame:
        blocked = _BLOCKED.get(type(frame))
        if blocked is not None and blocked(k, s, task, frame):
            return []
    w = Work(s, events)
    if fires:
        w.say("irq_fires", host=k.info[t].interrupts, level=k.info[t].context)
    if not frame:
        program = k.info[t].program.instrs
        if task[PC] >= len(program):
            do_exit(k, w, t)
            moves = [(0, w)]
        else:
            ins = program[task[PC]]
            moves = _STARTS[ins.op](k, w, t, ins)
    else:
        moves = _RESUMES[type(frame)](k, w, t, frame)
    if fires:
        for _, after in moves:
            after.set(t, STATUS, after.tasks[t][STATUS] | RUNNING)
    return moves


def advance(k: Config, w: Work, t: int, pc: int | None = None) -> None:
    """Finish the current step: move to the next one and settle there."""
    task = w.tasks[t]
    start = (task[PC] if pc is None else pc) + 1
    w.tasks[t] = with_field(with_field(task, FRAME, BOUNDARY), PC, start)
    settle(k, w, t)


def settle(k: Config, w: Work, t: int) -> None:
    """Follow jumps, and for a killed task skip what unwinding skips (contract, fatal signals).

    A killed task skips acquiring steps and releasing steps that would
    release nothing it holds; complete* steps still run. A forever loop
    or a ``loop`` is left at its back edge (or a ``continue``) once the task
    is killed (docs/model.md); forward jumps (``break``, past an ``else``
    arm or an ``on_fail`` list) are taken as they are.
    """
    task = w.tasks[t]
    program = k.info[t].program.instrs
    pc = task[PC]
    killed = bool(task[STATUS] & KILLED)
    guard = 0
    while pc < len(program):
        ins = program[pc]
        if ins.op == JUMP:
            pc = ins.leave if killed and ins.leave >= 0 else ins.arg
        elif ins.op == IF:
            break  # a branch is a move of its own, killed or not
        elif killed and _unwinding_skips(w, t, ins):
            pc += 1
        else:
            break
        guard += 1
        if guard > 4 * len(program) + 4:
            raise AssertionError("a loop with no steps")
    if pc != task[PC]:
        w.tasks[t] = with_field(task, PC, pc)


def _unwinding_skips(w: Work, t: int, ins: Instr) -> bool:
    """What a killed task skips: acquiring steps, and releasing steps that would release
    nothing it holds; ``complete*`` always run (the step table's roles). ``enqueue`` of a
    handle releases it (skipped when the handle holds nothing); of a work item, it runs."""
    kind = STEP_KINDS[ins.op]
    if kind.role == ACQUIRES:
        return True
    if kind.role == ALWAYS:
        return False
    task = w.tasks[t]  # a releasing step: skipped unless it releases something held
    if kind.names == "queue":  # enqueue (revision 2): a handle that holds, or a work item
        return ins.slot >= 0 and not holds(task[HANDLES][ins.slot])
    if kind.names == "lock":
        owner = w.owners[ins.arg]
        if type(owner) is int:
            return bool(owner != t)
        # an rwsem: up_read releases a read hold, up_write / downgrade_write the write hold
        return t not in owner[1] if ins.op == "up_read" else owner[0] != t
    if kind.names == "handle":
        return not holds(task[HANDLES][ins.arg])
    if kind.irq is not None:  # local_irq_enable & co: only when that level is off
        atomic = task[ATOMIC]
        return (hard_off(atomic) if kind.irq == "hard" else soft_off(atomic)) == 0
    return bool(task[SCOPES][SCOPE_INDEX[ins.op]] == 0)


def fail(k: Config, w: Work, t: int) -> None:
    """A failing step failed (revision 2, "Failure and control flow"): go on after it
    (no ``on_fail``), run it again (``retry``), run its ``on_fail`` list, or unwind."""
    task = w.tasks[t]
    ins = k.info[t].program.instrs[task[PC]]
    if ins.fail == NO_FAIL:
        advance(k, w, t)
    elif ins.fail == UNWIND:
        unwind(k, w, t)
    else:
        w.say("on_fail", op=ins.op, how="retry" if ins.fail == task[PC] else "steps")
        w.tasks[t] = with_field(with_field(task, FRAME, BOUNDARY), PC, ins.fail)
        settle(k, w, t)


def unwind(k: Config, w: Work, t: int) -> None:
    """``on_fail: unwind``: give back at once, newest first, everything the task holds,
    then exit (the error path's ``goto out_unlock; ... return err``)."""
    w.say("unwinds")
    task = w.tasks[t]
    taken = task[ORDER] if len(task) > ORDER else ()
    for kind, what in reversed(taken):
        if kind == "handle":
            value = w.tasks[t][HANDLES][what]
            kind = "pages" if value[0] == "p" else "element"
        _RELEASES[kind](k, w, t, what)
    task = with_field(w.tasks[t], FRAME, BOUNDARY)
    if len(task) > ORDER:
        task = with_field(task, ORDER, ())
    w.tasks[t] = with_field(task, PC, len(k.info[t].program.instrs))
    do_exit(k, w, t)


def took(w: Work, t: int, kind: str, what: int) -> None:
    """Task ``t`` now holds ``what`` (a lock id, handle slot or scope index); tracked only
    in tasks that can unwind."""
    task = w.tasks[t]
    if len(task) > ORDER:
        w.tasks[t] = with_field(task, ORDER, (*task[ORDER], (kind, what)))


def gave_back(w: Work, t: int, kind: str, what: int) -> None:
    """Task ``t`` released ``what``: the newest matching entry goes from its ``taken``."""
    task = w.tasks[t]
    if len(task) > ORDER:
        taken = task[ORDER]
        for i in range(len(taken) - 1, -1, -1):
            if taken[i] == (kind, what):
                w.tasks[t] = with_field(task, ORDER, (*taken[:i], *taken[i + 1 :]))
                return


def compare(cmp: str, value: int, n: int) -> bool:
    """A counter condition (``eq``, ``ne``, ``lt``, ``ge``) on ``value``."""
    if cmp == "eq":
        return value == n
    if cmp == "ne":
        return value != n
    if cmp == "lt":
        return value < n
    return value >= n


@starts(IF)
def branch(k: Config, w: Work, t: int, ins: Instr) -> Moves:
    """``if``: test the condition on the task's own handles or locks and go to an arm.

    ``null: H`` holds when H is null or was never bound; ``held: L`` when the task owns L.
    A counter condition (``eq``, ``ne``, ``lt``, ``ge``) compares the counter's value.
    """
    if ins.cond == "held":
        holds_it = held_by(w.owners[ins.arg], t)
    elif ins.cond in ("eq", "ne", "lt", "ge"):
        holds_it = compare(ins.cond, w.done[k.counter_base + ins.arg], ins.value)
    else:
        value = w.tasks[t][HANDLES][ins.arg]
        is_null = value == NULL or not value
        holds_it = is_null if ins.cond == "null" else not is_null
    if ins.cond in ("eq", "ne", "lt", "ge"):
        w.say("branch", cond=ins.cond, arg=ins.arg, taken=holds_it, value=ins.value)
    else:
        w.say("branch", cond=ins.cond, arg=ins.arg, taken=holds_it)
    if holds_it:
        advance(k, w, t)
    else:
        w.tasks[t] = with_field(w.tasks[t], PC, ins.orelse)
        settle(k, w, t)
    return [(0, w)]


def do_exit(k: Config, w: Work, t: int) -> None:
    """do_exit: a handle or lock still held is a violation; rss returns to free."""
    task = w.tasks[t]
    for slot, value in enumerate(task[HANDLES]):
        if holds(value):
            violation(w, t, "exit_holding_handle", handle=slot, value=value)
            return
    for lock, owner in enumerate(w.owners):
        if held_by(owner, t):
            violation(w, t, "exit_holding_lock", lock=lock)
            return
    if task[ATOMIC]:  # the loader balances every pair; an unwind or a kill can still leave one
        level = "hard" if hard_off(task[ATOMIC]) else "soft"
        violation(w, t, "exit_irqs_off", level=level)
        return
    w.free += task[RSS]
    w.say("exits", rss=task[RSS], free=w.free)
    w.tasks[t] = with_field(with_field(task, STATUS, task[STATUS] | EXITED), RSS, 0)


def bind(k: Config, w: Work, t: int, slot: int, value: Any) -> bool:
    """Write a handle; overwriting one that still holds memory leaks it (a violation)."""
    if slot < 0:
        if holds(value):
            violation(w, t, "leak_unbound", value=value)
            return False
        return True
    handles = w.tasks[t][HANDLES]
    if holds(handles[slot]):
        violation(w, t, "leak_rebound", handle=slot, value=handles[slot])
        return False
    w.set(t, HANDLES, (*handles[:slot], value, *handles[slot + 1 :]))
    if holds(value):
        took(w, t, "handle", slot)
    return True


def violation(w: Work, t: int, key: str, **fields: Any) -> None:
    """Halt the machine: task ``t`` broke a rule (outcome ``violation``)."""
    reason = (key, tuple(fields.items()))
    w.halt = ("violation", t, reason)
    w.say("violation", reason=reason)


def atomic_reason(k: Config, w: Work, t: int) -> tuple[str, Any] | None:
    """Why task ``t`` may not sleep now, or None: irq/softirq context, a spinlock held,
    or interrupts off (revision 2: every interrupt-disabling step is atomic context).

    As data: ``("context", name)``, ``("spinlocks", lock ids)``, ``("irqs_off", "hard")``
    (``local_irq_*``, ``spin_lock_irq*``), ``("irqs_off", "soft")`` (``local_bh_disable``,
    ``spin_lock_bh``) or ``("atomic", None)``.
    """
    info = k.info[t]
    if info.context != "process":
        return ("context", info.context)
    atomic = w.tasks[t][ATOMIC]
    if atomic:
        if spins(atomic):
            held = tuple(
                i for i, o in enumerate(w.owners) if o == t and k.locks[i].kind == "spinlock"
            )
            if held:
                return ("spinlocks", held)
        if hard_off(atomic):
            return ("irqs_off", "hard")
        if soft_off(atomic):
            return ("irqs_off", "soft")
        return ("atomic", None)
    return None


def cannot_sleep(
    k: Config, w: Work, t: int, ins: Instr, resource: int, killable: bool, errno: str
) -> bool:
    """The prologue of a sleeping wait (might_sleep): a violation in atomic context, or a
    killable wait returning at once with a fatal signal pending. True when the step is over."""
    reason = atomic_reason(k, w, t)
    if reason:
        violation(w, t, "sleeps_atomic", op=ins.op, arg=resource, why=reason)
        return True
    if killable and w.tasks[t][STATUS] & KILLED:
        w.say("wait_interrupted_at_once", op=ins.op, arg=resource, errno=errno)
        fail(k, w, t)
        return True
    return False


def wake_or_interrupt(
    k: Config,
    w: Work,
    t: int,
    ready: bool,
    take: Callable[[Work], None],
    killable: bool,
    interrupted: tuple[str, dict[str, Any]],
) -> Moves:
    """The moves of a task asleep in a lock or completion wait.

    Choice 0 when what it waits for is there (``take`` claims it and
    says so); choice 1 when the wait is killable and a fatal signal is
    pending: it returns the error (``interrupted`` is the event saying which).
    """
    moves = []
    if ready:
        got = w.copy()
        take(got)
        advance(k, got, t)
        moves.append((0, got))
    if killable and w.tasks[t][STATUS] & KILLED:
        w.say(interrupted[0], **interrupted[1])
        fail(k, w, t)
        moves.append((1, w))
    return moves
