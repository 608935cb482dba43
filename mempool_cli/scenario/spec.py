"""Immutable, typed objects for a parsed scenario (format v1, with revision 2's additions).

The loader builds these from YAML; the kernel model reads them. Every
object that came from the file keeps its ``Span`` so later stages can
point at the line a finding is about. Names are kept as strings here;
the model maps them to small integer ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mempool_cli.errors import Problem
from mempool_cli.scenario.kernels import Kernel

__all__ = [
    "OUTCOMES",
    "Break",
    "Call",
    "Completion",
    "Cond",
    "Continue",
    "Counter",
    "Expect",
    "Function",
    "If",
    "Lock",
    "Loop",
    "Memory",
    "OnFail",
    "Oom",
    "Pool",
    "Queue",
    "Reclaimable",
    "Repeat",
    "Scenario",
    "Span",
    "Step",
    "StepNode",
    "Task",
]

OUTCOMES: tuple[str, ...] = (
    "ok",
    "deadlock",
    "livelock",
    "oom-panic",
    "depletion",
    "violation",
    "oom-kill",
)


@dataclass(frozen=True, slots=True)
class Span:
    """1-based line and column of a node in the scenario file."""

    line: int
    col: int


NO_SPAN = Span(0, 0)


@dataclass(frozen=True, slots=True)
class Reclaimable:
    """One ``memory.reclaimable`` entry: pages direct reclaim may free, and what it needs."""

    pages: int
    needs: int = 0  # gfp bits the caller must have, after its task scope
    locks: tuple[str, ...] = ()
    waits: str | None = None
    span: Span = NO_SPAN
    name: str | None = None  # revision 2: reports use it
    trylocks: tuple[str, ...] = ()  # revision 2: taken at once or the pass makes no progress


@dataclass(frozen=True, slots=True)
class Memory:
    free: int = 16
    min: int = 4
    low: int = 5
    high: int = 6
    reclaimable: tuple[Reclaimable, ...] = ()
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class Oom:
    killer: bool = True
    reaper: str | None = None  # overrides the preset's oom_reaper knob when set
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class Pool:
    name: str
    min_nr: int
    order: int = 0
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class Lock:
    name: str
    kind: str  # "mutex" | "spinlock"
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class Completion:
    name: str
    initial: int = 0
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class Counter:
    """A top-level ``counters:`` entry (revision 2): an atomic_t a condition waits on."""

    name: str
    initial: int = 0
    max: int = 64
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class Queue:
    """A top-level ``queues:`` entry (revision 2, "Work handed to another context"): a bio
    list, a workqueue, a completion ring, holding at most ``capacity`` items."""

    name: str
    capacity: int = 64
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class Step:
    """One kernel step. ``target`` is the lock, completion, pool or handle it names.

    Which attribute each of its YAML values fills is its kind's row in ``steps.py``.

    alloc_pages: gfp, order, bind.   mempool_alloc: target=pool, gfp, bind.
    free_pages / mempool_free: target=handle (``pool`` set when the file names
    one explicitly for mempool_free).  *_save / *_restore: no target.
    """

    op: str
    target: str | None = None
    gfp: int | None = None
    gfp_text: str | None = None
    order: int = 0
    bind: str | None = None  # the `as:` handle
    pool: str | None = None  # mempool_free {handle, pool}: the pool the element is returned to
    span: Span = NO_SPAN
    # revision 2: what a failing step does when it fails: None (version 1: go on),
    # "retry", "unwind", or the steps to run before going on
    on_fail: OnFail = None
    # revision 2, counters: atomic_set's value, or a wait_event's comparison (cmp: eq, ne,
    # lt, ge) and the number it compares with
    value: int | None = None
    cmp: str | None = None
    # revision 2, queues: enqueue's handle (None: a work item) and dequeue's nowait
    handle: str | None = None
    nowait: bool = False


@dataclass(frozen=True, slots=True)
class Repeat:
    """``repeat: {times: N, steps}`` or, with ``times=None``, ``{forever: true, steps}``."""

    times: int | None
    body: tuple[StepNode, ...]
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class Loop:
    """``loop: {steps}``: the body again and again until a ``break`` (revision 2)."""

    body: tuple[StepNode, ...]
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class Break:
    """``break``: leave the innermost ``loop``."""

    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class Continue:
    """``continue``: back to the first step of the innermost ``loop``."""

    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class Cond:
    """An ``if`` condition: ``kind`` is ``null`` / ``not_null`` (``target`` a handle) or
    ``held`` (``target`` a lock), or ``counter`` (``target`` a counter, compared by
    ``cmp``, one of eq, ne, lt, ge, with ``value``)."""

    kind: str
    target: str
    cmp: str = ""
    value: int = 0


@dataclass(frozen=True, slots=True)
class If:
    """``if: {COND, then: [...], else: [...]}``."""

    cond: Cond
    then: tuple[StepNode, ...]
    orelse: tuple[StepNode, ...] = ()
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class Call:
    """``call: NAME``: the function's steps, as if written here (inlined by the compiler)."""

    function: str
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class Function:
    """A top-level ``functions:`` entry."""

    name: str
    body: tuple[StepNode, ...]
    span: Span = NO_SPAN


StepNode = Step | Repeat | Loop | Break | Continue | If | Call
OnFail = str | tuple[StepNode, ...] | None


@dataclass(frozen=True, slots=True)
class Task:
    """One task after ``count`` expansion: ``name`` is ``base`` or ``base[i]``."""

    name: str
    base: str
    index: int | None
    steps: tuple[StepNode, ...]
    flags: frozenset[str] = frozenset()
    context: str = "process"
    rt: bool = False
    rss: int = 0
    oom_score_adj: int = 0
    oom_victim: bool = False
    mm_reapable: bool = True
    mm_lock: str | None = None  # revision 2: the rwsem standing for its mmap_lock
    interrupts: str | None = None  # revision 2: the task whose CPU this handler runs on
    daemon: bool = False
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class Expect:
    """``expect`` in any of its three forms, normalised to key -> exact outcome set.

    A bare outcome or list becomes the single key ``default``. ``ok`` is the
    empty set. ``spans`` holds where each key's value was written.
    """

    by_key: tuple[tuple[str, frozenset[str]], ...]
    spans: tuple[tuple[str, Span], ...] = ()

    def for_preset(self, preset: str) -> frozenset[str] | None:
        """The expected outcome set under ``preset``, or None if the file says nothing for it.

        >>> e = Expect((("v4.5", frozenset({"livelock"})), ("default", frozenset())))
        >>> sorted(e.for_preset("v4.5")), sorted(e.for_preset("v4.8"))
        (['livelock'], [])
        """
        table = dict(self.by_key)
        if preset in table:
            return table[preset]
        return table.get("default")


@dataclass(frozen=True, slots=True)
class Scenario:
    path: str
    name: str
    kernel: Kernel
    memory: Memory
    tasks: tuple[Task, ...]
    description: str = ""
    references: tuple[str, ...] = ()
    oom: Oom = field(default_factory=Oom)
    pools: tuple[Pool, ...] = ()
    locks: tuple[Lock, ...] = ()
    completions: tuple[Completion, ...] = ()
    counters: tuple[Counter, ...] = ()  # revision 2, "State a condition waits on"
    queues: tuple[Queue, ...] = ()  # revision 2, "Work handed to another context"
    expect: Expect | None = None
    version: int = 1
    kernel_span: Span = NO_SPAN
    # Knobs the file sets explicitly in `kernel: {base: ..., KNOB: VALUE}`: a patch under
    # study, kept when --kernel swaps the base preset (docs/model.md).
    kernel_knobs: tuple[tuple[str, str | bool], ...] = ()
    source: str = ""  # the file text, for reports that quote it
    functions: tuple[Function, ...] = ()  # revision 2: what `call:` steps inline
    notes: tuple[Problem, ...] = ()  # what `mpsim check` says of a valid file (ignored gfp flags)
