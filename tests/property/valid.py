"""Structure-aware generation of *valid* scenarios, for the properties of the model.

Unlike ``strategies.scenario_texts`` (which mixes in near misses to fuzz
the loader), every document drawn here is meant to load: declared names
only, balanced blocks (a lock with its unlock, a save with its restore,
an allocation with its free), values in range. Outcomes are anything the
model says: a leak is a ``violation``, a missing ``complete`` a
``deadlock``; the file is valid all the same.

``STEP_KINDS`` has one entry per step that opens a block (or stands
alone), ``CLOSED_BY`` names the opener of each step that closes one; a
test checks the two cover every step kind of the format, so a new step
kind cannot land without its generator here. Scenarios are kept small
(at most three tasks of a few steps, counts of one or two) so each
example costs milliseconds.

Revision 2's failure and control flow keeps the same discipline: a step
that may fail gets an ``on_fail`` after which the blocks still balance
(a list that leaves the lock untaken is followed by ``if: {held: L}``
around what it guards; a failed allocation binds null, and freeing null
is nothing); ``break`` and ``continue`` are drawn only inside a ``loop``
and only where nothing opened inside the loop is still open, so leaving
early drops nothing; a loop never starts with ``continue`` and always
ends with ``break``; a function is drawn on its first ``call:``, from its
caller's context but self-contained (its own handles, no ``{i}``, no
``break`` out of it, no ``forever``), so any task may call it again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from mempool_cli.scenario.kernels import KNOBS, PRESET_NAMES
from mempool_cli.scenario.schema import TASK_FLAGS
from mempool_cli.scenario.spec import OUTCOMES

GFPS = (
    "GFP_KERNEL", "GFP_NOIO", "GFP_NOFS", "GFP_ATOMIC", "GFP_NOWAIT", "GFP_KERNEL | __GFP_NOFAIL",
    "GFP_NOIO | __GFP_NOMEMALLOC", "GFP_KERNEL & ~__GFP_DIRECT_RECLAIM", "GFP_NOFS | __GFP_NORETRY",
    "GFP_KERNEL | __GFP_RETRY_MAYFAIL", "GFP_ATOMIC | __GFP_HIGH", "GFP_NOIO | __GFP_HIGH",
    "__GFP_IO | __GFP_FS", "0",
)  # fmt: skip


@functools.cache
def _below(n: int) -> st.SearchStrategy[int]:
    return st.integers(0, n - 1)


@dataclass
class Names:
    """What a scenario declares; steps only ever name these."""

    mutexes: tuple[str, ...]
    spinlocks: tuple[str, ...]
    pools: tuple[str, ...]
    completions: tuple[str, ...]
    rwsems: tuple[str, ...] = ()  # revision 2
    counters: tuple[str, ...] = ()  # revision 2
    queues: tuple[str, ...] = ()  # revision 2


@dataclass
class _Task:
    """The task (or function body) whose steps are being drawn, at the place of the next step."""

    daemon: bool
    prefix: str = "h"  # a function's handles have their own names: it may be called anywhere
    handles: int = 0
    held: list[str] = field(default_factory=list)  # locks held
    bound: list[str] = field(default_factory=list)  # handles bound by the enclosing blocks
    opened: int = 0  # blocks open (a lock held, a handle bound, a scope saved)
    loops: list[int] = field(default_factory=list)  # `opened` at each enclosing loop's start
    function: bool = False  # a function body: no `{i}` (it would be the caller's pass)

    def handle(self) -> str:
        self.handles += 1
        return f"{self.prefix}{self.handles}"

    def may_leave_loop(self) -> bool:
        """``break`` / ``continue`` here drop nothing: in a loop, nothing opened inside it."""
        return bool(self.loops) and self.opened == self.loops[-1]


class ValidGen:
    """One valid scenario being drawn."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.budget = 10  # steps left for the whole scenario: keeps the search small
        self.functions: dict[str, dict[str, Any]] = {}  # drawn on their first `call:`
        self.function_locks: dict[str, frozenset[str]] = {}  # the locks each one takes
        self.function_count = 0

    def below(self, n: int) -> int:
        return int(self.draw(_below(n)))

    def chance(self, n: int) -> bool:
        return self.below(n) == 0

    def pick(self, values: tuple[Any, ...]) -> Any:
        return values[self.below(len(values))]

    def gfp(self) -> str:
        return str(self.pick(GFPS))

    # steps

    def steps(self, names: Names, task: _Task, depth: int) -> list[Any]:
        out: list[Any] = []
        for _ in range(1 + self.below(3 if depth == 0 else 2)):
            if self.budget <= 0:
                break
            kinds = tuple(k for k, kind in STEP_KINDS.items() if kind.usable(names, task, depth))
            out.extend(STEP_KINDS[self.pick(kinds)].make(self, names, task, depth))
        return out

    def inner(self, names: Names, task: _Task, depth: int) -> list[Any]:
        """The steps inside a block, often none."""
        if depth >= 2 or self.budget <= 0 or self.chance(2):
            return []
        return self.steps(names, task, depth + 1)

    def opened(
        self, names: Names, task: _Task, depth: int, locks: tuple[str, ...] = (), handle: str = ""
    ) -> list[Any]:
        """``inner`` with a block open around it (a scope; ``locks`` held; ``handle`` bound)."""
        saved = (task.opened, list(task.held), list(task.bound))
        task.opened += max(1, len(locks))
        task.held += locks
        if handle and "{i}" not in handle:  # a per-pass handle is not one name here
            task.bound.append(handle)
        try:
            return self.inner(names, task, depth)
        finally:
            task.opened, task.held, task.bound = saved

    def filler(self, names: Names) -> list[Any]:
        """A step that fits anywhere and changes little: for a list that must not be empty."""
        if names.completions:
            return [{"complete": self.pick(names.completions)}]
        return [{"memalloc_nofs_save": None}, {"memalloc_nofs_restore": None}]

    def some(self, names: Names, task: _Task, depth: int) -> list[Any]:
        """``inner``, never empty."""
        return self.inner(names, task, depth) or self.filler(names)

    def on_fail(self, names: Names, task: _Task, depth: int, fallback: list[Any]) -> Any:
        """What a failed step does: ``retry``, ``unwind``, ``fallback`` itself (steps that end
        holding what success holds; empty: none), in a loop ``[continue]`` / ``[break]``, or
        other balanced steps, after which the step's block is not open. Drawn with ``task`` as
        it is before the step: a failed step holds nothing."""
        choice = self.below(4)
        if choice < 2:
            return ("retry", "unwind")[choice]
        if choice == 2 and fallback:
            return fallback
        if task.may_leave_loop() and self.chance(2):
            return [self.pick(("continue", "break"))]
        return self.some(names, task, depth)

    def spend(self, steps: int) -> None:
        self.budget -= steps

    # the document

    def scenario(self) -> dict[str, Any]:
        names = Names(
            mutexes=("m_a", "m_b")[: 1 + self.below(2)],
            spinlocks=("s_a",)[: self.below(2)],
            pools=("p_a", "p_b")[: 1 + self.below(2)],
            completions=("c_a", "c_b")[: self.below(3)],
            rwsems=("r_a",)[: self.below(2)],
            counters=("n_a", "n_b")[: self.below(3)],
            queues=("q_a", "q_b")[: self.below(3)],
        )
        doc: dict[str, Any] = {"mpsim": 1, "name": "fuzz"}
        if not self.chance(3):
            doc["kernel"] = self.kernel()
        doc["memory"] = self.memory(names)
        if self.chance(3):
            doc["oom"] = {"killer": not self.chance(4)}
            if self.chance(2):
                doc["oom"]["reaper"] = self.pick(("none", "reap", "reap_or_skip"))
        doc["pools"] = {p: self.pool() for p in names.pools}
        locks = {m: "mutex" for m in names.mutexes} | {s: "spinlock" for s in names.spinlocks}
        locks |= {r: "rwsem" for r in names.rwsems}
        doc["locks"] = locks
        if names.completions:
            if self.chance(2):
                doc["completions"] = list(names.completions)
            else:
                doc["completions"] = {c: self.below(2) for c in names.completions}
        if names.counters:
            doc["counters"] = {
                n: self.below(3)
                if self.chance(2)
                else {"initial": self.below(2), "max": 2 + self.below(3)}
                for n in names.counters
            }
        if names.queues:
            doc["queues"] = {
                q: {} if self.chance(2) else {"capacity": 1 + self.below(2)} for q in names.queues
            }
        tasks = {}
        for name in ("t_a", "t_b", "t_c")[: 1 + self.below(3)]:
            tasks[name] = self.task(names)
        self.handler(tasks)
        if names.queues and self.chance(2):  # revision 2: a worker (pool) on a queue
            tasks["w_a"] = self.worker(names)
        if self.functions:
            doc["functions"] = self.functions
        doc["tasks"] = tasks
        if self.chance(2):
            doc["expect"] = self.expect()
        return doc

    def handler(self, tasks: dict[str, dict[str, Any]]) -> None:
        """Sometimes make the last task an interrupt handler on the first one's CPU
        (revision 2): the first runs in process context without count, the last is no
        daemon (a handler runs to its end)."""
        names = list(tasks)
        host, last = tasks[names[0]], tasks[names[-1]]
        if len(names) < 2 or not self.chance(2) or last.get("daemon"):
            return
        if host.get("context", "process") != "process" or host.get("count", 1) != 1:
            return
        last["context"] = self.pick(("softirq", "irq"))
        last["interrupts"] = names[0]
        if len(names) == 3 and self.chance(2) and not tasks[names[1]].get("daemon"):
            tasks[names[1]]["context"] = self.pick(("softirq", "irq"))  # a second handler
            tasks[names[1]]["interrupts"] = names[0]

    def task(self, names: Names) -> dict[str, Any]:
        task = _Task(daemon=self.chance(6))
        out: dict[str, Any] = {"steps": self.steps(names, task, 0)}
        if not out["steps"]:
            out["steps"] = [{"alloc_pages": {"gfp": self.gfp()}}]
        if task.daemon:
            out["daemon"] = True
        if self.chance(6):
            out["count"] = 2
        if self.chance(6):
            out["flags"] = [self.pick(TASK_FLAGS)]
        if self.chance(10):
            out["context"] = self.pick(("softirq", "irq"))
        if self.chance(8):
            out["rt"] = True
        if self.chance(3):
            out["rss"] = self.below(6)
        if self.chance(8):
            out["oom_score_adj"] = self.pick((-1000, -500, 500, 1000))
        if self.chance(6):
            out["oom_victim"] = True
        if self.chance(8):
            out["mm_reapable"] = False
        return out

    def worker(self, names: Names) -> dict[str, Any]:
        """A daemon worker, rescuer or end-of-I/O handler: forever, dequeue an item and
        free it (or run a work item), now and then two of them (a worker pool)."""
        queue = self.pick(names.queues)
        if self.chance(3):
            body: list[Any] = [{"dequeue": {"queue": queue}}]
        else:
            free = self.pick(("mempool_free", "free_pages"))
            body = [{"dequeue": {"queue": queue, "as": "w1"}}, {free: "w1"}]
        out: dict[str, Any] = {
            "daemon": True,
            "steps": [{"repeat": {"forever": True, "steps": body}}],
        }
        if self.chance(2):
            out["count"] = 2
        if self.chance(8):
            out["context"] = self.pick(("softirq", "irq"))
        return out

    def memory(self, names: Names) -> dict[str, Any]:
        min_ = self.below(5)
        out: dict[str, Any] = {"free": self.below(9), "min": min_}
        if self.chance(5):
            out["low"] = min_ + self.below(2)
            out["high"] = out["low"] + self.below(2)
        if self.chance(3):
            entries: list[dict[str, Any]] = []
            for _ in range(1 + self.below(2)):
                entry: dict[str, Any] = {"pages": 1 + self.below(4)}
                if self.chance(2):
                    entry["needs"] = [self.pick(("__GFP_IO", "__GFP_FS"))]
                if self.chance(4):
                    entry["locks"] = [self.pick(names.mutexes)]
                if names.completions and self.chance(5):
                    entry["waits"] = self.pick(names.completions)
                if self.chance(4):
                    entry["trylocks"] = [self.pick(names.mutexes + names.spinlocks)]
                if self.chance(3):
                    entry["name"] = f"r_{len(entries)}"
                entries.append(entry)
            out["reclaimable"] = entries
        return out

    def pool(self) -> dict[str, Any]:
        pool: dict[str, Any] = {"min_nr": self.below(3)}
        if self.chance(4):
            pool["order"] = 1
        return pool

    def kernel(self) -> Any:
        if self.chance(2):
            return self.pick(PRESET_NAMES)
        kernel: dict[str, Any] = {"base": self.pick(PRESET_NAMES)}
        for knob in tuple(KNOBS)[self.below(len(KNOBS)) :][: 1 + self.below(2)]:
            kernel[knob] = self.pick(KNOBS[knob])
        return kernel

    def expect(self) -> Any:
        found = tuple(o for o in OUTCOMES if o != "ok")
        if self.chance(2):
            return self.pick(OUTCOMES)
        return sorted({self.pick(found) for _ in range(1 + self.below(2))})


# --- one entry per step kind -------------------------------------------------


@dataclass(frozen=True)
class StepKind:
    """How to draw a block that starts with one step kind (and the steps that close it)."""

    make: Callable[[ValidGen, Names, _Task, int], list[Any]]
    usable: Callable[[Names, _Task, int], bool] = lambda names, task, depth: True


def _alloc(kind: str, release: str) -> StepKind:
    """``alloc_pages`` / ``mempool_alloc`` into a handle, its ``free_pages`` / ``mempool_free``;
    now and then an ``on_fail`` (a failure binds null first, so nothing is open after it)."""

    def make(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
        h = task.handle()

        def alloc() -> dict[str, Any]:
            if kind == "mempool_alloc":
                return {"pool": g.pick(names.pools), "gfp": g.gfp(), "as": h}
            return {"gfp": g.gfp(), "as": h} | ({"order": 1} if g.chance(5) else {})

        step = alloc()
        if g.chance(3):  # a fallback allocation into the same handle, or any other answer
            step["on_fail"] = g.on_fail(names, task, depth, [{kind: alloc()}])
        g.spend(2)
        inner = g.opened(names, task, depth, handle=h)
        tail: list[Any]
        if kind == "alloc_pages":
            tail = [] if g.chance(8) else [{release: h}]  # a leak now and then: a violation
        elif g.chance(6):  # to a pool of its choosing: the wrong one is a violation
            tail = [{release: {"handle": h, "pool": g.pick(names.pools)}}]
        else:
            tail = [{release: h}]
        return [{kind: step}, *inner, *tail]

    return StepKind(make)


def _lock(take: str, release: str, kinds: str, fails: bool = False, must: bool = False) -> StepKind:
    """A lock step and its unlock. One that may fail (``fails``; a trylock ``must`` say
    how) gets an ``on_fail``: ``retry``, ``unwind`` or a fallback to the sleeping lock hold
    the lock after it; after any other list the guarded steps go in ``if: {held: L}``."""
    sleeping = {"spinlocks": "spin_lock", "mutexes": "mutex_lock"}.get(kinds, "")
    sleeping = sleeping or ("down_write" if release == "up_write" else "down_read")

    def make(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
        free = tuple(n for n in getattr(names, kinds) if n not in task.held)
        lock = g.pick(free)
        g.spend(2)
        if not must and (not fails or g.chance(2)):
            return [{take: lock}, *g.opened(names, task, depth, locks=(lock,)), {release: lock}]
        fallback = [{sleeping: lock}]
        on_fail = g.on_fail(names, task, depth, fallback)
        step = {take: {"lock": lock, "on_fail": on_fail}}
        guarded = [*g.opened(names, task, depth, locks=(lock,)), {release: lock}]
        if not isinstance(on_fail, list) or on_fail is fallback:
            return [step, *guarded]
        branch: dict[str, Any] = {"held": lock, "then": guarded}
        if g.chance(3):
            branch["else"] = g.some(names, task, depth)
        return [step, {"if": branch}]

    def usable(names: Names, task: _Task, depth: int) -> bool:
        return any(n not in task.held for n in getattr(names, kinds))

    return StepKind(make, usable)


def _downgrade() -> StepKind:
    """``down_write; ...; downgrade_write; ...; up_read`` on an rwsem (revision 2)."""

    def make(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
        lock = g.pick(tuple(n for n in names.rwsems if n not in task.held))
        g.spend(3)
        write = g.opened(names, task, depth, locks=(lock,))
        read = g.opened(names, task, depth, locks=(lock,))
        return [{"down_write": lock}, *write, {"downgrade_write": lock}, *read, {"up_read": lock}]

    def usable(names: Names, task: _Task, depth: int) -> bool:
        return any(n not in task.held for n in names.rwsems)

    return StepKind(make, usable)


def _completion(kind: str, fails: bool = False) -> StepKind:
    def make(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
        g.spend(1)
        completion = g.pick(names.completions)
        if fails and g.chance(2):
            on_fail = g.on_fail(names, task, depth, [])
            return [{kind: {"completion": completion, "on_fail": on_fail}}]
        return [{kind: completion}]

    return StepKind(make, lambda names, task, depth: bool(names.completions))


def _counter(kind: str, fails: bool = False) -> StepKind:
    """A counter step (revision 2): atomic_inc / atomic_dec / atomic_set, or a wait on a
    counter condition (``fails``: with an ``on_fail`` now and then). Out-of-range values are
    a violation, not an error in the file: they are drawn too."""

    def make(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
        g.spend(1)
        counter = g.pick(names.counters)
        if kind in ("atomic_inc", "atomic_dec"):
            return [{kind: counter}]
        if kind == "atomic_set":
            return [{kind: {"counter": counter, "value": g.below(3)}}]
        step: dict[str, Any] = {"counter": counter, g.pick(("eq", "ne", "lt", "ge")): g.below(3)}
        if fails and (kind == "wait_event_timeout" or g.chance(2)):
            step["on_fail"] = g.on_fail(names, task, depth, [])
        return [{kind: step}]

    return StepKind(make, lambda names, task, depth: bool(names.counters))


def _completion_timeout(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
    g.spend(1)
    step = {"completion": g.pick(names.completions), "on_fail": g.on_fail(names, task, depth, [])}
    return [{"wait_for_completion_timeout": step}]


def _enqueue(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
    """``enqueue`` (revision 2): a work item, or a fresh handle handed over (allocated just
    before, never used again by this task: whoever dequeues it owns it; a failed
    allocation makes it a null enqueue, a violation)."""
    queue = g.pick(names.queues)
    if g.chance(3):
        g.spend(1)
        return [{"enqueue": {"queue": queue}}]
    g.spend(2)
    h = task.handle()
    if g.chance(2):
        take: dict[str, Any] = {
            "mempool_alloc": {"pool": g.pick(names.pools), "gfp": g.gfp(), "as": h}
        }
    else:
        take = {"alloc_pages": {"gfp": g.gfp(), "as": h}}
    return [take, {"enqueue": {"queue": queue, "handle": h}}]


def _dequeue(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
    """``dequeue`` (revision 2): a work item, or an item bound to a fresh handle that the
    task frees after its block (the item's kind decides whether that free is right: a wrong
    one is a violation); with ``nowait`` and an ``on_fail`` now and then."""
    queue = g.pick(names.queues)
    step: dict[str, Any] = {"queue": queue}
    if g.chance(3):
        step["nowait"] = True
        step["on_fail"] = g.on_fail(names, task, depth, [])
    if g.chance(3):
        g.spend(1)
        return [{"dequeue": step}]
    g.spend(2)
    h = task.handle()
    step["as"] = h
    inner = g.opened(names, task, depth, handle=h)
    return [{"dequeue": step}, *inner, {g.pick(("mempool_free", "free_pages")): h}]


def _scope(scope: str) -> StepKind:
    def make(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
        g.spend(2)
        save: dict[str, Any] = {f"memalloc_{scope}_save": None if g.chance(2) else {}}
        inner = g.opened(names, task, depth)
        return [save, *inner, {f"memalloc_{scope}_restore": None}]

    return StepKind(make)


def _irqs_off(disable: str, enable: str) -> StepKind:
    """An interrupt-disabling pair around a few steps (revision 2); what sleeps inside is a
    violation, which the model reports: the file is valid all the same."""

    def make(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
        g.spend(2)
        inner = g.opened(names, task, depth)
        return [{disable: None if g.chance(2) else {}}, *inner, {enable: None}]

    return StepKind(make)


def _repeat(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
    g.spend(1)
    loops, task.loops = task.loops, []  # break / continue leave loops, not repeats
    try:
        if task.daemon and g.chance(2):
            body = g.steps(names, task, depth + 1) or g.filler(names)
            return [{"repeat": {"forever": True, "steps": body}}]
        times = 1 + g.below(2)
        if not task.function and g.chance(3):
            return _per_pass(g, names, task, depth, times)
        body = g.steps(names, task, depth + 1) or [{"alloc_pages": {"gfp": g.gfp()}}]
        return [{"repeat": {"times": times, "steps": body}}]
    finally:
        task.loops = loops


def _per_pass(g: ValidGen, names: Names, task: _Task, depth: int, times: int) -> list[Any]:
    """A handle per pass (``h1_{i}``): freed in the same pass, or by a second repeat."""
    h = task.handle() + "_{i}"
    if g.chance(2):
        take: dict[str, Any] = {
            "mempool_alloc": {"pool": g.pick(names.pools), "gfp": g.gfp(), "as": h}
        }
        give: dict[str, Any] = {"mempool_free": h}
    else:
        take, give = {"alloc_pages": {"gfp": g.gfp(), "as": h}}, {"free_pages": h}
    g.spend(2)
    if g.chance(2):
        return [
            {"repeat": {"times": times, "steps": [take]}},
            *g.opened(names, task, depth),
            {"repeat": {"times": times, "steps": [give]}},
        ]
    body = [take, *g.opened(names, task, depth + 1, handle=h), give]
    return [{"repeat": {"times": times, "steps": body}}]


def _loop(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
    """A ``loop``: ABBA back-off with a trylock, a spin_trylock busy-wait, or any body
    ended by a ``break`` (its ``continue``s and inner ``break``s come from their entries)."""
    g.spend(2)
    mutexes = tuple(m for m in names.mutexes if m not in task.held)
    spins = tuple(s for s in names.spinlocks if s not in task.held)
    shape = g.below(4)
    if shape == 0 and len(mutexes) == 2:  # for (;;) { lock(B); if (trylock(A)) break; unlock(B); }
        b, a = mutexes if g.chance(2) else mutexes[::-1]
        back = [{"mutex_unlock": b}, "continue"]
        body: list[Any] = [
            {"mutex_lock": b},
            {"mutex_trylock": {"lock": a, "on_fail": back}},
            "break",
        ]
        inner = g.opened(names, task, depth, locks=(b, a))
        return [{"loop": {"steps": body}}, *inner, {"mutex_unlock": a}, {"mutex_unlock": b}]
    if shape == 1 and spins:  # while (!spin_trylock(S)) ;
        lock = g.pick(spins)
        body = [{"spin_trylock": {"lock": lock, "on_fail": ["continue"]}}, "break"]
        inner = g.opened(names, task, depth, locks=(lock,))
        return [{"loop": {"steps": body}}, *inner, {"spin_unlock": lock}]
    task.loops.append(task.opened)
    body = []
    if g.chance(2):  # a way round or out first: rarely drawn among all the kinds otherwise
        body = STEP_KINDS[g.pick(("continue", "break"))].make(g, names, task, depth + 1)
    body += g.steps(names, task, depth + 1) if g.budget > 0 else []
    body = body or g.filler(names)
    task.loops.pop()
    return [{"loop": {"steps": [*body, "break"]}}]


def _break(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
    """``if (cond) break;`` on a lock or on a handle an enclosing block holds."""
    g.spend(1)
    conds = [("held", lock) for lock in names.mutexes + names.spinlocks]
    conds += [(key, h) for h in task.bound for key in ("null", "not_null")]
    key, value = g.pick(tuple(conds))
    return [{"if": {key: value, "then": ["break"]}}]


def _continue(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
    """``p = alloc(); if (!p) continue;``: a null handle holds nothing, so going round
    drops nothing; the rest of the body frees it."""
    h = task.handle()
    g.spend(3)
    if g.chance(3):
        take: dict[str, Any] = {
            "mempool_alloc": {"pool": g.pick(names.pools), "gfp": g.gfp(), "as": h}
        }
        give: dict[str, Any] = {"mempool_free": h}
    else:
        take, give = {"alloc_pages": {"gfp": g.gfp(), "as": h}}, {"free_pages": h}
    again = {"if": {"null": h, "then": ["continue"]}}
    return [take, again, *g.opened(names, task, depth, handle=h), give]


def _if(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
    """An ``if`` whose arms each balance: on a lock, on a handle an enclosing block holds,
    or on a fresh allocation (a fallback into the same handle, or freeing only a page)."""
    g.spend(2)
    shape = g.below(4)
    if shape < 2:
        if shape == 0 and task.bound:
            cond = {g.pick(("null", "not_null")): g.pick(tuple(task.bound))}
        elif shape == 1 and names.counters and g.chance(2):  # revision 2: on a counter
            cond = {"counter": g.pick(names.counters), g.pick(("eq", "ne", "lt", "ge")): g.below(3)}
        else:
            cond = {"held": g.pick(names.mutexes + names.spinlocks)}
        branch: dict[str, Any] = {**cond, "then": g.some(names, task, depth)}
        if g.chance(2):
            branch["else"] = g.some(names, task, depth)
        return [{"if": branch}]
    h = task.handle()
    alloc = {"alloc_pages": {"gfp": g.gfp(), "as": h}}
    if shape == 2:  # if (!p) p = alloc(GFP_KERNEL); ... free(p)
        branch = {"null": h, "then": [{"alloc_pages": {"gfp": g.gfp(), "as": h}}]}
        return [alloc, {"if": branch}, *g.opened(names, task, depth, handle=h), {"free_pages": h}]
    branch = {"not_null": h, "then": [*g.opened(names, task, depth, handle=h), {"free_pages": h}]}
    if g.chance(2):
        branch["else"] = g.some(names, task, depth)
    return [alloc, {"if": branch}]


def _call(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
    """``call:`` a function drawn here (in this context, but self-contained), or one drawn
    before that takes no lock this task holds."""
    g.spend(1)
    ready = tuple(f for f, locks in g.function_locks.items() if not locks & set(task.held))
    if ready and g.chance(2):
        return [{"call": g.pick(ready)}]
    g.function_count += 1
    name = f"f{g.function_count}"
    body_task = _Task(daemon=False, prefix=f"{name}_h", held=list(task.held), function=True)
    body = g.steps(names, body_task, depth + 1) or g.filler(names)
    g.functions[name] = {"steps": body}
    lock_names = frozenset(names.mutexes + names.spinlocks)
    locks = {s for s in _strings(body) if s in lock_names}
    locks.update(*(g.function_locks.get(s, ()) for s in _strings(body)))
    g.function_locks[name] = frozenset(locks)
    return [{"call": name}]


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _shallow(names: Names, task: _Task, depth: int) -> bool:
    return depth < 2


STEP_KINDS: dict[str, StepKind] = {
    "alloc_pages": _alloc("alloc_pages", "free_pages"),
    "mempool_alloc": _alloc("mempool_alloc", "mempool_free"),
    "mutex_lock": _lock("mutex_lock", "mutex_unlock", "mutexes"),
    "mutex_lock_killable": _lock("mutex_lock_killable", "mutex_unlock", "mutexes", fails=True),
    "mutex_trylock": _lock("mutex_trylock", "mutex_unlock", "mutexes", fails=True, must=True),
    "spin_lock": _lock("spin_lock", "spin_unlock", "spinlocks"),
    "spin_trylock": _lock("spin_trylock", "spin_unlock", "spinlocks", fails=True, must=True),
    # revision 2: the rwsem
    "down_read": _lock("down_read", "up_read", "rwsems"),
    "down_write": _lock("down_write", "up_write", "rwsems"),
    "down_read_killable": _lock("down_read_killable", "up_read", "rwsems", fails=True),
    "down_write_killable": _lock("down_write_killable", "up_write", "rwsems", fails=True),
    "down_read_trylock": _lock("down_read_trylock", "up_read", "rwsems", fails=True, must=True),
    "down_write_trylock": _lock("down_write_trylock", "up_write", "rwsems", fails=True, must=True),
    "downgrade_write": _downgrade(),
    "wait_for_completion": _completion("wait_for_completion"),
    "wait_for_completion_killable": _completion("wait_for_completion_killable", fails=True),
    "complete": _completion("complete"),
    "complete_all": _completion("complete_all"),
    "memalloc_noio_save": _scope("noio"),
    "memalloc_nofs_save": _scope("nofs"),
    "memalloc_noreclaim_save": _scope("noreclaim"),
    "repeat": StepKind(_repeat, _shallow),
    # revision 2: failure and control flow
    "loop": StepKind(_loop, _shallow),
    "break": StepKind(_break, lambda names, task, depth: task.may_leave_loop()),
    "continue": StepKind(_continue, lambda names, task, depth: task.may_leave_loop()),
    "if": StepKind(_if),
    "call": StepKind(_call, _shallow),
    # revision 2: state a condition waits on
    "atomic_inc": _counter("atomic_inc"),
    "atomic_dec": _counter("atomic_dec"),
    "atomic_set": _counter("atomic_set"),
    "wait_event": _counter("wait_event"),
    "wait_event_killable": _counter("wait_event_killable", fails=True),
    "wait_event_timeout": _counter("wait_event_timeout", fails=True),
    "wait_for_completion_timeout": StepKind(
        _completion_timeout, lambda names, task, depth: bool(names.completions)
    ),
    # revision 2: work handed to another context
    "enqueue": StepKind(_enqueue, lambda names, task, depth: bool(names.queues)),
    "dequeue": StepKind(_dequeue, lambda names, task, depth: bool(names.queues)),
}
# revision 2: interrupts on the CPU they interrupt
STEP_KINDS |= {
    "spin_lock_irq": _lock("spin_lock_irq", "spin_unlock_irq", "spinlocks"),
    "spin_lock_irqsave": _lock("spin_lock_irqsave", "spin_unlock_irqrestore", "spinlocks"),
    "spin_lock_bh": _lock("spin_lock_bh", "spin_unlock_bh", "spinlocks"),
    "local_irq_disable": _irqs_off("local_irq_disable", "local_irq_enable"),
    "local_irq_save": _irqs_off("local_irq_save", "local_irq_restore"),
    "local_bh_disable": _irqs_off("local_bh_disable", "local_bh_enable"),
}
# Steps that only close a block: drawn by the entry of the step that opens it.
CLOSED_BY: dict[str, str] = {
    "spin_unlock_irq": "spin_lock_irq",
    "spin_unlock_irqrestore": "spin_lock_irqsave",
    "spin_unlock_bh": "spin_lock_bh",
    "local_irq_enable": "local_irq_disable",
    "local_irq_restore": "local_irq_save",
    "local_bh_enable": "local_bh_disable",
    "free_pages": "alloc_pages",
    "mempool_free": "mempool_alloc",
    "mutex_unlock": "mutex_lock",
    "spin_unlock": "spin_lock",
    "up_read": "down_read",
    "up_write": "down_write",
    "memalloc_noio_restore": "memalloc_noio_save",
    "memalloc_nofs_restore": "memalloc_nofs_save",
    "memalloc_noreclaim_restore": "memalloc_noreclaim_save",
}


@st.composite
def valid_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A valid scenario as the Python value of its YAML document."""
    return ValidGen(draw).scenario()


def names_of(doc: dict[str, Any]) -> list[str]:
    """Every name the scenario declares or binds: tasks, locks, pools, completions,
    functions, reclaimable entries, handles (``h1_{i}`` as written)."""
    found = [*doc["tasks"], *doc.get("locks", {}), *doc.get("pools", {})]
    found += [*doc.get("completions", ()), *doc.get("functions", {}), *doc.get("counters", {})]
    found += [*doc.get("queues", {})]
    found += [e["name"] for e in doc["memory"].get("reclaimable", ()) if "name" in e]

    def handles(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("as"), str):
                found.append(value["as"])
            for v in value.values():
                handles(v)
        elif isinstance(value, list):
            for v in value:
                handles(v)

    handles([doc["tasks"], doc.get("functions", {})])
    return sorted(set(found))


def renamed(doc: Any, mapping: dict[str, str]) -> Any:
    """``doc`` with every string (key or value) that is a name in ``mapping`` replaced."""
    if isinstance(doc, dict):
        return {mapping.get(k, k): renamed(v, mapping) for k, v in doc.items()}
    if isinstance(doc, list):
        return [renamed(v, mapping) for v in doc]
    if isinstance(doc, str):
        return mapping.get(doc, doc)
    return doc


def reversed_names(doc: dict[str, Any]) -> dict[str, str]:
    """A renaming that reverses the names' sort order, so nothing may lean on it
    (a per-pass handle keeps its ``{i}``)."""
    names = names_of(doc)
    return {
        name: f"n{len(names) - i:03d}_{name[0]}" + ("{i}" if "{i}" in name else "")
        for i, name in enumerate(names)
    }
