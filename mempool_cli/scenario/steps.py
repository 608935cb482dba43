"""The step kinds of the format, one row each: the one table every stage reads.

A row (``StepKind``) says everything about a kind that is not its kernel
semantics:

- its YAML value, as ``args``: no arg is a step without a value (``null``
  or ``{}``); an arg with ``key=None`` is the whole value, a name
  (``mutex_lock: M``); args with keys are the keys of its mapping form
  (``alloc_pages: {gfp, order, as}``); a kind may have both forms
  (``mempool_free: H`` or ``{handle, pool}``);
- what each arg names (``names``: a declared lock, completion or pool, a
  handle bound earlier, or the handle an ``as:`` binds) and, for a lock,
  which lock kinds it accepts (``lock_kinds``) and what to use instead on
  the others (``instead``);
- its unwinding ``role``, the contract's fatal-signal rule: a killed task
  skips ``acquires`` steps, runs ``releases`` steps that release something
  it holds, and runs ``always`` steps;
- for a memalloc scope step, the ``scope`` it opens (acquires) or closes
  (releases); an interrupt-disabling pair (revision 2) is a scope too, one
  per pair (``local_irq_save`` opens ``irq_save``, ``local_irq_restore``
  closes it), so the loader balances it the same way, and its ``irq`` says
  which level it turns off (``hard``: hard and soft irqs; ``soft``: softirqs);
- a one-line ``doc`` (the JSON Schema's description, for editors);
- its compiled form: for each arg, the ``Step`` attribute the loader fills
  (``step``) and the ``Instr`` field the compiler puts its id, handle slot
  or value into (``instr``).

``loader.py`` parses and checks a step from its row, ``schema.py`` makes
the step's JSON Schema from it, ``kernel/program.py`` compiles it, and the
kernel model reads ``role`` when a killed task unwinds and the compiled
fields to find resources only one task touches. What a step *does* lives
in the kernel file it belongs to. ``docs/model.md``, "Adding a step
kind", says what else a new kind needs.

This module does not import yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mempool_cli.scenario.descriptors import (
    LIMITS,
    AnyOf,
    Bool,
    Choice,
    Gfp,
    Int,
    ListOf,
    Name,
    Ref,
    Type,
)

__all__ = [
    "ACQUIRES",
    "ALWAYS",
    "COMPARISONS",
    "COMPLETE_OPS",
    "IRQ_SCOPES",
    "MEMALLOC_SCOPES",
    "ON_FAIL_WORDS",
    "RELEASES",
    "SCOPE_OPENER",
    "STEP_KINDS",
    "Arg",
    "InstrField",
    "Names",
    "Role",
    "StepField",
    "StepKind",
]

Role = Literal["acquires", "releases", "always"]
ACQUIRES: Role = "acquires"
RELEASES: Role = "releases"
ALWAYS: Role = "always"

# What an arg's value names. "lock", "completion", "pool": a declared one (the loader
# resolves it, the compiler turns it into its id); "handle": a handle bound earlier in
# the task (a use); "binds": the handle the step binds (`as:`). None: a plain value.
Names = Literal["lock", "completion", "pool", "counter", "handle", "binds", "queue"]
# The attributes of ``spec.Step`` and the fields of ``program.Instr`` an arg can fill.
StepField = Literal[
    "target", "pool", "gfp", "order", "bind", "on_fail", "value", "cmp", "handle", "nowait"
]
InstrField = Literal["arg", "pool", "gfp", "order", "bind", "value", "slot", "nowait"]

# The comparisons a counter condition makes (``wait_event``, ``if``): key -> its C operator.
COMPARISONS: dict[str, str] = {"eq": "==", "ne": "!=", "lt": "<", "ge": ">="}


@dataclass(frozen=True, slots=True)
class Arg:
    """One value a step carries: where the file writes it, what it names, where it goes."""

    key: str | None  # its key in the mapping form; None: the step's whole value
    type: Type  # the descriptor the loader checks it against (and the schema shows)
    names: Names | None = None
    step: StepField = "target"  # the Step attribute the loader fills
    instr: InstrField | None = "arg"  # the Instr field its id / slot / value is compiled into
    doc: str = ""  # for a key of the mapping form
    required: bool = False
    default: Any = None  # when the key is absent (and the schema's default)
    # a counter comparison key (eq, ne, lt, ge): exactly one of a row's is given; the loader
    # sets the Step's ``cmp`` to the key and its ``value`` to the number
    compares: bool = False


@dataclass(frozen=True, slots=True)
class StepKind:
    """One step kind; see the module docstring for what each field means."""

    name: str
    doc: str
    role: Role
    args: tuple[Arg, ...] = ()
    lock_kinds: tuple[str, ...] = ()  # the lock kinds a lock arg may name
    instead: tuple[tuple[str, str], ...] = ()  # (lock kind, the step to use on one)
    scope: str | None = None  # the memalloc scope (or interrupt-disabling pair) it opens or closes
    irq: str | None = None  # revision 2: the interrupt level it disables or enables
    fails: str | None = None  # when it fails (revision 2): it takes an `on_fail` key then
    must_handle: bool = False  # a step whose failure the file must handle (the trylocks)

    @property
    def can_fail(self) -> bool:
        """Whether the step takes ``on_fail`` (contract revision 2, "Failure and control flow").

        >>> STEP_KINDS["mutex_trylock"].can_fail, STEP_KINDS["mutex_lock"].can_fail
        (True, False)
        """
        return self.fails is not None

    @property
    def names(self) -> Names | None:
        """What the step names: the first of its args that names a lock, completion,
        pool, counter, queue or handle (``binds`` does not count: binding is not naming).

        >>> STEP_KINDS["mempool_alloc"].names, STEP_KINDS["alloc_pages"].names
        ('pool', None)
        """
        for arg in self.args:
            if arg.names is not None and arg.names != "binds":
                return arg.names
        return None


# --- the args the kinds share --------------------------------------------------

_LOCK = Arg(None, Name("lock"), names="lock")
_COMPLETION = Arg(None, Name("completion"), names="completion")
_HANDLE = Arg(None, Name("handle"), names="handle")
_GFP = Arg(
    "gfp",
    Gfp(),
    step="gfp",
    instr="gfp",
    doc="gfp mask expression, e.g. GFP_KERNEL | __GFP_NOFAIL",
    required=True,
)
_AS = Arg(
    "as",
    Name("handle"),
    names="binds",
    step="bind",
    instr="bind",
    doc="handle bound to the result (null on failure)",
)


# What to do when a step fails: its words, or a list of steps run before going on.
ON_FAIL_WORDS: tuple[str, ...] = ("retry", "unwind")
_ON_FAIL = Arg(
    "on_fail",
    AnyOf(
        (Choice(ON_FAIL_WORDS, "on_fail action"), ListOf(Ref("step"))),
        "retry, unwind, or a list of steps",
    ),
    step="on_fail",
    instr=None,  # compiled into jumps (kernel/program.py), not into one field
    doc="when the step fails: a list of steps run before going on, retry, or unwind",
)
_LOCK_KEY = Arg("lock", Name("lock"), names="lock", doc="the lock", required=True)
_COMPLETION_KEY = Arg(
    "completion", Name("completion"), names="completion", doc="the completion", required=True
)

_COUNTER = Arg(None, Name("counter"), names="counter")
_COUNTER_KEY = Arg("counter", Name("counter"), names="counter", doc="the counter", required=True)
# A counter value a step writes or compares with; the counter's max bounds it at run time.
COUNTER_VALUE = Int(0, 1 << 20)
_COMPARE = tuple(
    Arg(
        key,
        COUNTER_VALUE,
        step="value",
        instr="value",
        doc=f"the condition is counter {op} N",
        compares=True,
    )
    for key, op in COMPARISONS.items()
)

# revision 2, "Work handed to another context": a queue the enqueue / dequeue steps name
_QUEUE_KEY = Arg("queue", Name("queue"), names="queue", doc="the queue", required=True)

# When each failing step fails (the contract's table).
_NULL = "the result is NULL"
_BUSY = "the lock is not free at once (never sleeps)"
_EINTR = "a fatal signal is pending (-EINTR)"
_RWSEM_BUSY = "the rwsem is held against it or has waiters (never sleeps)"
_EMPTY = "the queue is empty (nowait: true; the handle `as:` binds is null)"
_TIMEOUT = (
    "the timeout expires; mpsim has no clock, so a waiting task may time out at any point of "
    "its wait (every such choice is explored)"
)


def _mutex(
    name: str, doc: str, role: Role, spin: str, fails: str | None = None, must: bool = False
) -> StepKind:
    args = (_LOCK, _LOCK_KEY, _ON_FAIL) if fails else (_LOCK,)
    instead = (("spinlock", spin), ("rwsem", _RWSEM_INSTEAD[name]))
    return StepKind(name, doc, role, args, ("mutex",), instead, fails=fails, must_handle=must)


def _spin(
    name: str, doc: str, role: Role, mutex: str, fails: str | None = None, must: bool = False
) -> StepKind:
    args = (_LOCK, _LOCK_KEY, _ON_FAIL) if fails else (_LOCK,)
    instead = (("mutex", mutex), ("rwsem", _RWSEM_INSTEAD[name]))
    return StepKind(name, doc, role, args, ("spinlock",), instead, fails=fails, must_handle=must)


# The rwsem step to use where a mutex or spinlock step names an rwsem, and back.
_RWSEM_INSTEAD = {
    "mutex_lock": "down_write",
    "mutex_lock_killable": "down_write_killable",
    "mutex_unlock": "up_write",
    "mutex_trylock": "down_write_trylock",
    "spin_lock": "down_write",
    "spin_unlock": "up_write",
    "spin_trylock": "down_write_trylock",
}


def _rwsem(
    name: str, doc: str, role: Role, mutex: str, fails: str | None = None, must: bool = False
) -> StepKind:
    """A step on a lock of kind ``rwsem`` (revision 2, "Locks beyond mutexes")."""
    args = (_LOCK, _LOCK_KEY, _ON_FAIL) if fails else (_LOCK,)
    spin = {"mutex_lock": "spin_lock", "mutex_unlock": "spin_unlock"}.get(mutex, "spin_trylock")
    instead = (("mutex", mutex), ("spinlock", spin))
    return StepKind(name, doc, role, args, ("rwsem",), instead, fails=fails, must_handle=must)


def _scope(scope: str, what: str) -> tuple[StepKind, StepKind]:
    return (
        StepKind(f"memalloc_{scope}_save", f"open a {what} scope", ACQUIRES, scope=scope),
        StepKind(f"memalloc_{scope}_restore", f"close a {what} scope", RELEASES, scope=scope),
    )


def _irq_pair(
    scope: str, level: str, opener: str, closer: str, doc: str, lock: bool = False
) -> tuple[StepKind, StepKind]:
    """An interrupt-disabling pair (revision 2, "Interrupts on the CPU they interrupt"):
    ``level`` ``hard`` turns off hard and soft irqs on the task's CPU, ``soft`` softirqs;
    with ``lock`` the pair also takes and releases a spinlock, inside the disabled region."""
    what = "hard and soft irqs" if level == "hard" else "softirqs"
    if not lock:
        return (
            StepKind(opener, f"{doc}: {what} off on this CPU", ACQUIRES, scope=scope, irq=level),
            StepKind(closer, f"{what} back on (closes {opener})", RELEASES, scope=scope, irq=level),
        )
    args = (_LOCK,)
    return (
        StepKind(
            opener,
            f"{doc}: {what} off on this CPU, then take the spinlock",
            ACQUIRES,
            args,
            ("spinlock",),
            (("mutex", "mutex_lock"), ("rwsem", "down_write")),
            scope=scope,
            irq=level,
        ),
        StepKind(
            closer,
            f"release the spinlock, then {what} back on (closes {opener})",
            RELEASES,
            args,
            ("spinlock",),
            (("mutex", "mutex_unlock"), ("rwsem", "up_write")),
            scope=scope,
            irq=level,
        ),
    )


# --- the table: the contract's steps table, in its order -----------------------

_KINDS: tuple[StepKind, ...] = (
    StepKind(
        "alloc_pages",
        "alloc_pages(gfp, order)",
        ACQUIRES,
        (
            _GFP,
            Arg(
                "order",
                Int(0, LIMITS.order),
                step="order",
                instr="order",
                doc="2^order pages",
                default=0,
            ),
            _AS,
            _ON_FAIL,
        ),
        fails=_NULL,
    ),
    StepKind("free_pages", "__free_pages of a handle; null is a no-op", RELEASES, (_HANDLE,)),
    StepKind(
        "mempool_alloc",
        "mempool_alloc(pool, gfp)",
        ACQUIRES,
        (
            Arg("pool", Name("pool"), names="pool", instr="pool", doc="the pool", required=True),
            _GFP,
            _AS,
            _ON_FAIL,
        ),
        fails=_NULL,
    ),
    StepKind(
        "mempool_free",
        "mempool_free of a handle",
        RELEASES,
        (
            _HANDLE,
            Arg("handle", Name("handle"), names="handle", doc="the element to free", required=True),
            Arg(
                "pool",
                Name("pool"),
                names="pool",
                step="pool",
                instr="pool",
                doc="the pool it is returned to (default: its own)",
            ),
        ),
    ),
    _mutex("mutex_lock", "uninterruptible sleep on a mutex", ACQUIRES, "spin_lock"),
    _mutex("mutex_lock_killable", "killable sleep on a mutex", ACQUIRES, "spin_lock", fails=_EINTR),
    _mutex("mutex_unlock", "release a mutex", RELEASES, "spin_unlock"),
    _spin(
        "spin_lock", "take a spinlock (atomic context until spin_unlock)", ACQUIRES, "mutex_lock"
    ),
    _spin("spin_unlock", "release a spinlock", RELEASES, "mutex_unlock"),
    StepKind("wait_for_completion", "uninterruptible wait", ACQUIRES, (_COMPLETION,)),
    StepKind(
        "wait_for_completion_killable",
        "killable wait",
        ACQUIRES,
        (_COMPLETION, _COMPLETION_KEY, _ON_FAIL),
        fails=_EINTR,
    ),
    StepKind("complete", "wake one waiter", ALWAYS, (_COMPLETION,)),
    StepKind("complete_all", "wake every waiter, for good", ALWAYS, (_COMPLETION,)),
    *_scope("noio", "NOIO"),
    *_scope("nofs", "NOFS"),
    *_scope("noreclaim", "PF_MEMALLOC"),
    # revision 2, "Locks beyond mutexes": the trylocks of the existing lock kinds
    _mutex(
        "mutex_trylock",
        "take a mutex only if it is free at once; never sleeps",
        ACQUIRES,
        "spin_trylock",
        fails=_BUSY,
        must=True,
    ),
    _spin(
        "spin_trylock",
        "take a spinlock only if it is free at once; never spins",
        ACQUIRES,
        "mutex_trylock",
        fails=_BUSY,
        must=True,
    ),
    # revision 2, "Locks beyond mutexes": struct rw_semaphore (kernel/locking/rwsem.c)
    _rwsem(
        "down_read", "uninterruptible sleep for a read hold of an rwsem", ACQUIRES, "mutex_lock"
    ),
    _rwsem(
        "down_write", "uninterruptible sleep for the write hold of an rwsem", ACQUIRES, "mutex_lock"
    ),
    _rwsem("up_read", "release a read hold of an rwsem", RELEASES, "mutex_unlock"),
    _rwsem("up_write", "release the write hold of an rwsem", RELEASES, "mutex_unlock"),
    _rwsem(
        "down_read_killable",
        "killable sleep for a read hold of an rwsem",
        ACQUIRES,
        "mutex_lock_killable",
        fails=_EINTR,
    ),
    _rwsem(
        "down_write_killable",
        "killable sleep for the write hold of an rwsem",
        ACQUIRES,
        "mutex_lock_killable",
        fails=_EINTR,
    ),
    _rwsem(
        "down_read_trylock",
        "a read hold only if no writer holds or waits; never sleeps",
        ACQUIRES,
        "mutex_trylock",
        fails=_RWSEM_BUSY,
        must=True,
    ),
    _rwsem(
        "down_write_trylock",
        "the write hold only if nobody holds or waits; never sleeps",
        ACQUIRES,
        "mutex_trylock",
        fails=_RWSEM_BUSY,
        must=True,
    ),
    _rwsem(
        "downgrade_write",
        "turn the write hold into a read hold and wake the queued readers",
        RELEASES,
        "mutex_unlock",
    ),
    # revision 2, "State a condition waits on": counters and the waits on them
    StepKind(
        "atomic_inc",
        "atomic_inc: the counter + 1 (above its max: a violation)",
        ALWAYS,
        (_COUNTER,),
    ),
    StepKind(
        "atomic_dec", "atomic_dec: the counter - 1 (below 0: a violation)", ALWAYS, (_COUNTER,)
    ),
    StepKind(
        "atomic_set",
        "atomic_set: the counter = value",
        ALWAYS,
        (
            _COUNTER_KEY,
            Arg(
                "value",
                COUNTER_VALUE,
                step="value",
                instr="value",
                doc="the new value",
                required=True,
            ),
        ),
    ),
    StepKind(
        "wait_event",
        "sleep until the counter condition holds (checked at once and whenever it changes)",
        ACQUIRES,
        (_COUNTER_KEY, *_COMPARE),
    ),
    StepKind(
        "wait_event_killable",
        "wait_event, killable",
        ACQUIRES,
        (_COUNTER_KEY, *_COMPARE, _ON_FAIL),
        fails=_EINTR,
    ),
    StepKind(
        "wait_event_timeout",
        "wait_event with a timeout",
        ACQUIRES,
        (_COUNTER_KEY, *_COMPARE, _ON_FAIL),
        fails=_TIMEOUT,
    ),
    StepKind(
        "wait_for_completion_timeout",
        "wait for a completion with a timeout",
        ACQUIRES,
        (_COMPLETION, _COMPLETION_KEY, _ON_FAIL),
        fails=_TIMEOUT,
    ),
    # revision 2, "Work handed to another context": queues (kernel/queue.py)
    StepKind(
        "enqueue",
        "hand a handle (or, without handle, a work item) to a queue; sleeps while it is full",
        RELEASES,
        (
            _QUEUE_KEY,
            Arg(
                "handle",
                Name("handle"),
                names="handle",
                step="handle",
                instr="slot",
                doc="the handle handed over: the task no longer holds it (default: a work item)",
            ),
        ),
    ),
    StepKind(
        "dequeue",
        "take the oldest item of a queue, sleeping while it is empty (nowait: fail instead)",
        ACQUIRES,
        (
            _QUEUE_KEY,
            Arg(
                "as",
                Name("handle"),
                names="binds",
                step="bind",
                instr="bind",
                doc="the handle bound to the item, which the task then owns (omit for work items)",
            ),
            Arg(
                "nowait",
                Bool(),
                step="nowait",
                instr="nowait",
                doc="fail at once on an empty queue instead of sleeping (needs on_fail)",
                default=False,
            ),
            _ON_FAIL,
        ),
        fails=_EMPTY,
    ),
)

# revision 2, "Interrupts on the CPU they interrupt": the interrupt-disabling steps
_KINDS += (
    *_irq_pair("irq", "hard", "local_irq_disable", "local_irq_enable", "local_irq_disable"),
    *_irq_pair("irq_save", "hard", "local_irq_save", "local_irq_restore", "local_irq_save"),
    *_irq_pair("irq_lock", "hard", "spin_lock_irq", "spin_unlock_irq", "spin_lock_irq", True),
    *_irq_pair(
        "irqsave_lock",
        "hard",
        "spin_lock_irqsave",
        "spin_unlock_irqrestore",
        "spin_lock_irqsave",
        True,
    ),
    *_irq_pair("bh", "soft", "local_bh_disable", "local_bh_enable", "local_bh_disable"),
    *_irq_pair("bh_lock", "soft", "spin_lock_bh", "spin_unlock_bh", "spin_lock_bh", True),
)

STEP_KINDS: dict[str, StepKind] = {kind.name: kind for kind in _KINDS}
if len(STEP_KINDS) != len(_KINDS):
    raise AssertionError("a step kind is declared twice")

# Derived views, for the readers that ask one question of the whole table.

# The steps that signal a completion (the wait-for graph looks for them).
COMPLETE_OPS = frozenset(k.name for k in _KINDS if k.role == ALWAYS and k.names == "completion")
# The memalloc scopes (a task's SCOPES slots, in order) and the interrupt-disabling pairs.
MEMALLOC_SCOPES: tuple[str, ...] = ("noio", "nofs", "noreclaim")
IRQ_SCOPES = frozenset(k.scope for k in _KINDS if k.irq is not None and k.scope is not None)
# scope -> the step that opens it, for the loader's "without an earlier ..." messages.
SCOPE_OPENER: dict[str, str] = {
    k.scope: k.name for k in _KINDS if k.scope is not None and k.role == ACQUIRES
}
