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


@dataclass
class _Task:
    """The task whose steps are being drawn."""

    daemon: bool
    handles: int = 0
    held: list[str] = field(default_factory=list)  # locks held where the next step goes

    def handle(self) -> str:
        self.handles += 1
        return f"h{self.handles}"


class ValidGen:
    """One valid scenario being drawn."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.budget = 10  # steps left for the whole scenario: keeps the search small

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

    def spend(self, steps: int) -> None:
        self.budget -= steps

    # the document

    def scenario(self) -> dict[str, Any]:
        names = Names(
            mutexes=("m_a", "m_b")[: 1 + self.below(2)],
            spinlocks=("s_a",)[: self.below(2)],
            pools=("p_a", "p_b")[: 1 + self.below(2)],
            completions=("c_a", "c_b")[: self.below(3)],
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
        doc["locks"] = locks
        if names.completions:
            if self.chance(2):
                doc["completions"] = list(names.completions)
            else:
                doc["completions"] = {c: self.below(2) for c in names.completions}
        tasks = {}
        for name in ("t_a", "t_b", "t_c")[: 1 + self.below(3)]:
            tasks[name] = self.task(names)
        doc["tasks"] = tasks
        if self.chance(2):
            doc["expect"] = self.expect()
        return doc

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

    def memory(self, names: Names) -> dict[str, Any]:
        min_ = self.below(5)
        out: dict[str, Any] = {"free": self.below(9), "min": min_}
        if self.chance(5):
            out["low"] = min_ + self.below(2)
            out["high"] = out["low"] + self.below(2)
        if self.chance(3):
            entries = []
            for _ in range(1 + self.below(2)):
                entry: dict[str, Any] = {"pages": 1 + self.below(4)}
                if self.chance(2):
                    entry["needs"] = [self.pick(("__GFP_IO", "__GFP_FS"))]
                if self.chance(4):
                    entry["locks"] = [self.pick(names.mutexes)]
                if names.completions and self.chance(5):
                    entry["waits"] = self.pick(names.completions)
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


def _alloc_pages(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
    h = task.handle()
    alloc: dict[str, Any] = {"gfp": g.gfp(), "as": h}
    if g.chance(5):
        alloc["order"] = 1
    g.spend(2)
    inner = g.inner(names, task, depth)
    tail = [] if g.chance(8) else [{"free_pages": h}]  # a leak now and then: a violation
    return [{"alloc_pages": alloc}, *inner, *tail]


def _mempool_alloc(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
    h = task.handle()
    pool = g.pick(names.pools)
    g.spend(2)
    inner = g.inner(names, task, depth)
    free: Any = h
    if g.chance(6):  # to a pool of its choosing: the wrong one is a violation
        free = {"handle": h, "pool": g.pick(names.pools)}
    return [
        {"mempool_alloc": {"pool": pool, "gfp": g.gfp(), "as": h}},
        *inner,
        {"mempool_free": free},
    ]


def _lock(take: str, release: str, kinds: str) -> StepKind:
    def make(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
        free = tuple(n for n in getattr(names, kinds) if n not in task.held)
        lock = g.pick(free)
        g.spend(2)
        task.held.append(lock)
        inner = g.inner(names, task, depth)
        task.held.pop()
        return [{take: lock}, *inner, {release: lock}]

    def usable(names: Names, task: _Task, depth: int) -> bool:
        return any(n not in task.held for n in getattr(names, kinds))

    return StepKind(make, usable)


def _completion(kind: str) -> StepKind:
    def make(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
        g.spend(1)
        return [{kind: g.pick(names.completions)}]

    return StepKind(make, lambda names, task, depth: bool(names.completions))


def _scope(scope: str) -> StepKind:
    def make(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
        g.spend(2)
        save = {f"memalloc_{scope}_save": None if g.chance(2) else {}}
        return [save, *g.inner(names, task, depth), {f"memalloc_{scope}_restore": None}]

    return StepKind(make)


def _repeat(g: ValidGen, names: Names, task: _Task, depth: int) -> list[Any]:
    g.spend(1)
    body = g.steps(names, task, depth + 1)
    if not body:
        body = [{"alloc_pages": {"gfp": g.gfp()}}]
    if task.daemon and g.chance(2):
        return [{"repeat": {"forever": True, "steps": body}}]
    return [{"repeat": {"times": 1 + g.below(2), "steps": body}}]


STEP_KINDS: dict[str, StepKind] = {
    "alloc_pages": StepKind(_alloc_pages),
    "mempool_alloc": StepKind(_mempool_alloc),
    "mutex_lock": _lock("mutex_lock", "mutex_unlock", "mutexes"),
    "mutex_lock_killable": _lock("mutex_lock_killable", "mutex_unlock", "mutexes"),
    "spin_lock": _lock("spin_lock", "spin_unlock", "spinlocks"),
    "wait_for_completion": _completion("wait_for_completion"),
    "wait_for_completion_killable": _completion("wait_for_completion_killable"),
    "complete": _completion("complete"),
    "complete_all": _completion("complete_all"),
    "memalloc_noio_save": _scope("noio"),
    "memalloc_nofs_save": _scope("nofs"),
    "memalloc_noreclaim_save": _scope("noreclaim"),
    "repeat": StepKind(_repeat, lambda names, task, depth: depth < 2),
}
# Steps that only close a block: drawn by the entry of the step that opens it.
CLOSED_BY: dict[str, str] = {
    "free_pages": "alloc_pages",
    "mempool_free": "mempool_alloc",
    "mutex_unlock": "mutex_lock",
    "spin_unlock": "spin_lock",
    "memalloc_noio_restore": "memalloc_noio_save",
    "memalloc_nofs_restore": "memalloc_nofs_save",
    "memalloc_noreclaim_restore": "memalloc_noreclaim_save",
}


@st.composite
def valid_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A valid scenario as the Python value of its YAML document."""
    return ValidGen(draw).scenario()


def names_of(doc: dict[str, Any]) -> list[str]:
    """Every name the scenario declares or binds: tasks, locks, pools, completions, handles."""
    found = [*doc["tasks"], *doc.get("locks", {}), *doc.get("pools", {})]
    found += list(doc.get("completions", ()))

    def handles(steps: list[Any]) -> None:
        for step in steps:
            ((kind, value),) = step.items()
            if isinstance(value, dict) and "as" in value:
                found.append(value["as"])
            if kind == "repeat":
                handles(value["steps"])

    for task in doc["tasks"].values():
        handles(task["steps"])
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
    """A renaming that reverses the names' sort order, so nothing may lean on it."""
    names = names_of(doc)
    return {name: f"n{len(names) - i:03d}_{name[0]}" for i, name in enumerate(names)}
