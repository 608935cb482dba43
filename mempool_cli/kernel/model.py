"""The Linux model as a transition system the explorer can search.

A state is a plain tuple (hashable, comparable, no objects):

    (free, curr, owners, done, left, halt, tasks)

``free`` is the zone's free pages; ``curr`` each pool's ``curr_nr``;
``owners`` each lock's owner task id or -1; ``done`` each completion's
count (``ALL`` after complete_all); ``left`` the pages each reclaimable
entry still holds; ``halt`` is None or ``(kind, task, message)`` once a
panic or a violation stopped the machine; ``tasks`` one tuple per task:

    (pc, frame, status, rss, handles, scopes, atomic)

``frame`` is ``()`` (BOUNDARY) at a step boundary, or what the task is in the middle
of (a lock or completion wait, an ``alloc_pages`` slow path, a
``mempool_alloc`` loop). Every transition is one atomic piece of kernel
code between two points where another CPU can observe a difference.

The rules live in gfp.py (rights), oom.py (victim selection) and here
(the slow path, mempool, locks); each function names its section of
kernel-semantics.md. Choices where that reference is silent are
recorded in docs/model.md.

Only this module knows the tuple layout. The layers that explain a
state (wait-for graphs, reports, DOT) ask ``KernelModel``'s queries
instead: ``task_view`` (a ``TaskView`` and its ``Wait``, view.py),
``lock_owner``, ``free_pages``, ``curr_nr``, ``reclaimable_pages``,
``completed_all``, ``halted``, and ``restart_step`` for a state to try
a step again from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from mempool_cli.kernel.gfp import (
    RES_NO_WATERMARKS,
    RES_OOM,
    Rights,
    alloc_rights,
    current_gfp_context,
    passes,
)
from mempool_cli.kernel.oom import ABORT, PANIC, Candidate, select_victim
from mempool_cli.kernel.program import (
    COMPLETION_OPS,
    JUMP,
    LOCK_OPS,
    Instr,
    Program,
    compile_program,
)
from mempool_cli.kernel.view import TaskView, Wait
from mempool_cli.scenario import gfp as G
from mempool_cli.scenario.kernels import Kernel
from mempool_cli.scenario.spec import Scenario
from mempool_cli.scenario.steps import ACQUIRES, ALWAYS, COMPLETE_OPS, STEP_KINDS

__all__ = ["KernelModel", "State", "TaskInfo", "TaskView", "Wait"]

State = tuple[Any, ...]
Action = tuple[int, int]  # (task id, choice); task id REAPER for the OOM reaper

REAPER = -1
_NO_LABELS: frozenset[str] = frozenset()
_MEMO_LIMIT = 50_000  # shared-state entries of the successor memo before it is cleared
ALL = -1  # completion count after complete_all
COMPLETION_CAP_UNBOUNDED = 8
MAX_RECLAIM_RETRIES = 16  # [3.6]
COSTLY_ORDER = 3  # PAGE_ALLOC_COSTLY_ORDER

# task tuple fields
PC, FRAME, STATUS, RSS, HANDLES, SCOPES, ATOMIC = range(7)
# status bits
KILLED = 1  # fatal signal pending
MEMDIE = 2  # TIF_MEMDIE: reserve rights of the "all" era [2.4]
VICTIM = 4  # tsk_is_oom_victim: the OOM scan aborts on it until SKIP [5.2]
SKIP = 8  # MMF_OOM_SKIP [2.4]
REAPED = 16  # the reaper has acted on this victim [5.4]
EXITED = 32
BOUNDARY: tuple[Any, ...] = ()  # the frame of a task between two steps
# handle values: all tuples, so task tuples compare (symmetry sorts them)
UNBOUND: tuple[Any, ...] = ()
NULL = ("null",)
FREED = ("freed",)


def _holds(value: tuple[Any, ...]) -> bool:
    """A handle that holds memory: ``("p", order)`` or ``("e", pool)``."""
    return len(value) == 2


# alloc frame stages
ATTEMPT, LOCK, WAIT, AFTER, MAY_OOM = range(5)
SPINNING_STAGES = frozenset({ATTEMPT, AFTER, MAY_OOM})
# mempool frame stages
MP_ALLOC, MP_CHECK, MP_TOP, MP_WAIT = range(4)


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """What never changes about a task during a run."""

    name: str
    program: Program
    context: str
    rt: bool
    oom_score_adj: int
    mm_reapable: bool
    daemon: bool
    kthread: bool
    pf_memalloc: bool
    pf_noio: bool
    pf_nofs: bool


class _Work:
    """A mutable copy of a state while one transition is computed."""

    __slots__ = (
        "comps",
        "curr",
        "done",
        "free",
        "halt",
        "labels",
        "left",
        "log",
        "owners",
        "tasks",
    )

    def __init__(self, s: State, log: list[str] | None) -> None:
        self.free: int = s[0]
        self.curr = list(s[1])
        self.owners = list(s[2])
        self.done = list(s[3])
        self.left = list(s[4])
        self.halt: tuple[str, int, str] | None = s[5]
        self.tasks: list[tuple[Any, ...]] = list(s[6])
        self.labels: set[str] = set()
        self.log = log

    def copy(self) -> _Work:
        w = _Work.__new__(_Work)
        w.free, w.halt = self.free, self.halt
        w.curr, w.owners, w.done = list(self.curr), list(self.owners), list(self.done)
        w.left, w.tasks = list(self.left), list(self.tasks)
        w.labels = set(self.labels)
        w.log = list(self.log) if self.log is not None else None
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

    def note(self, text: str) -> None:
        if self.log is not None:
            self.log.append(text)

    def set(self, t: int, field: int, value: Any) -> None:
        task = list(self.tasks[t])
        task[field] = value
        self.tasks[t] = tuple(task)


def _with(task: tuple[Any, ...], field: int, value: Any) -> tuple[Any, ...]:
    out = list(task)
    out[field] = value
    return tuple(out)


class KernelModel:
    """One scenario under one kernel: the explorer's Model.

    >>> from mempool_cli.scenario.kernels import PRESETS
    >>> from mempool_cli.scenario.spec import Memory, Scenario, Step, Task
    >>> sc = Scenario("x.yaml", "x", PRESETS["v4.5"], Memory(free=8, min=4),
    ...               (Task("t", "t", None, (Step("alloc_pages", gfp=0x2400000 | 0xC0, bind="p"),
    ...                                      Step("free_pages", target="p"))),))
    >>> m = KernelModel(sc)
    >>> s = m.initial()
    >>> [m.describe(s, a) for a, _, _ in m.successors(s)]
    ['t: alloc_pages(order 0, GFP_KERNEL); page from the free list (8 -> 7 free)']
    """

    def __init__(
        self,
        scenario: Scenario,
        kernel: Kernel | None = None,
        reduce: bool = True,
        *,
        symmetry: bool = True,
        partial_order: bool = True,
    ) -> None:
        """``reduce=False`` turns every reduction off; ``symmetry`` and ``partial_order``
        turn off one each (for tests that compare them)."""
        self.scenario = scenario
        self.reduce = reduce
        self.kernel = kernel or scenario.kernel
        self.reaper_mode = scenario.oom.reaper or self.kernel.oom_reaper
        mem = scenario.memory
        self.wmark_min, self.wmark_low, self.wmark_high = mem.min, mem.low, mem.high
        self.pools = scenario.pools
        self.locks = scenario.locks
        self.completions = scenario.completions
        self.entries = mem.reclaimable
        self.lock_ids = {lock.name: i for i, lock in enumerate(scenario.locks)}
        self.entry_locks = tuple(tuple(self.lock_ids[n] for n in e.locks) for e in self.entries)
        comp_ids = {c.name: i for i, c in enumerate(scenario.completions)}
        self.entry_waits = tuple(comp_ids[e.waits] if e.waits else -1 for e in self.entries)
        self.info: tuple[TaskInfo, ...] = tuple(
            TaskInfo(
                name=t.name,
                program=compile_program(scenario, t.steps),
                context=t.context,
                rt=t.rt,
                oom_score_adj=t.oom_score_adj,
                mm_reapable=t.mm_reapable,
                daemon=t.daemon,
                kthread="PF_KTHREAD" in t.flags,
                pf_memalloc="PF_MEMALLOC" in t.flags,
                pf_noio="PF_MEMALLOC_NOIO" in t.flags,
                pf_nofs="PF_MEMALLOC_NOFS" in t.flags,
            )
            for t in scenario.tasks
        )
        self.initial_rss = tuple(t.rss for t in scenario.tasks)
        self.total_pages = (
            mem.free
            + sum(self.initial_rss)
            + sum(p.min_nr << p.order for p in scenario.pools)
            + sum(e.pages for e in mem.reclaimable)
        )
        self.completion_cap = self._completion_caps()
        self.groups = self._symmetry_groups()
        self.group_of = {t: (ids, p) for ids in self.groups for p, t in enumerate(ids)}
        # per task: the copy before it in its group, or -1 (first copy, or no group)
        prev_copy = [-1] * len(scenario.tasks)
        for ids in self.groups:
            for before, t in pairwise(ids):
                prev_copy[t] = before
        self._prev_copy = tuple(prev_copy)
        oom_reachable = self._oom_reachable()
        self.symmetric = reduce and symmetry and bool(self.groups) and not oom_reachable
        # per task, the pcs whose step touches only that task (None: no partial-order reduction)
        self.local_pcs = (
            self._local_steps() if reduce and partial_order and not oom_reachable else None
        )
        self._twin: KernelModel | None = None
        # shared part of the state -> (task id, task tuple) -> that task's moves. A move
        # reads only its own task and the shared part, except out_of_memory.
        self._memo: dict[tuple[Any, ...], dict[tuple[Any, ...], tuple[tuple[Any, ...], ...]]] = {}

    # ------------------------------------------------------------------ setup

    def _completion_caps(self) -> tuple[int, ...]:
        """How high a completion's count can usefully go: the waits that could ever consume it.

        ``complete`` saturates there, so a daemon that completes forever
        keeps the state space finite. A forever loop that waits makes the
        demand unbounded; then the cap is COMPLETION_CAP_UNBOUNDED.
        """
        caps = []
        for cid, comp in enumerate(self.completions):
            waits, unbounded = 0, False
            for info in self.info:
                instrs = info.program.instrs
                for pc, ins in enumerate(instrs):
                    if ins.op.startswith("wait_for_completion") and ins.arg == cid:
                        waits += 1
                        unbounded |= _inside_loop(instrs, pc)
            waits += sum(e.pages for i, e in enumerate(self.entries) if self.entry_waits[i] == cid)
            cap = COMPLETION_CAP_UNBOUNDED if unbounded else waits
            caps.append(max(cap, comp.initial, 1))
        return tuple(caps)

    def _symmetry_groups(self) -> tuple[tuple[int, ...], ...]:
        """Task ids of the copies of each ``count:`` task: identical programs and traits."""
        by_base: dict[str, list[int]] = {}
        for t, spec in enumerate(self.scenario.tasks):
            if spec.index is not None:
                by_base.setdefault(spec.base, []).append(t)
        return tuple(tuple(ids) for ids in by_base.values() if len(ids) > 1)

    def _oom_reachable(self) -> bool:
        """Whether any task can ever reach ``out_of_memory``.

        Only a plain ``alloc_pages`` that may reclaim and may retry gets
        there (mempool forces __GFP_NORETRY [1.3]). When it cannot, no
        rule of the model depends on a task's position, and copies of a
        ``count:`` task are interchangeable; otherwise the OOM killer's
        "ties go to the task declared last" [5.2] tells them apart.
        """
        if not self.scenario.oom.killer:
            return False
        return any(
            ins.op == "alloc_pages" and ins.gfp & G.DIRECT_RECLAIM and not ins.gfp & G.NORETRY
            for info in self.info
            for ins in info.program.instrs
        )

    @property
    def reductions(self) -> tuple[str, ...]:
        """The reductions this model applies, for reports."""
        return ("symmetry",) * self.symmetric + ("partial-order",) * (self.local_pcs is not None)

    def _local_steps(self) -> tuple[frozenset[int], ...] | None:
        """Per task, the pcs of steps that read and write nothing another task can see.

        Such a step (a memalloc scope, or a lock or completion no other task
        and no reclaimable entry names) is independent of every other move;
        ``successors`` may take it alone (docs/model.md, "Partial-order
        reduction"). None when no task has one.
        """
        users: dict[tuple[str, int], set[int]] = {}
        for t, info in enumerate(self.info):
            for ins in info.program.instrs:
                kind = _RESOURCE_KIND.get(ins.op)
                if kind is not None:
                    users.setdefault((kind, ins.arg), set()).add(t)
        for locks in self.entry_locks:
            for lock in locks:
                users.setdefault(("lock", lock), set()).add(-1)
        for comp in self.entry_waits:
            if comp >= 0:
                users.setdefault(("comp", comp), set()).add(-1)
        out = []
        for t, info in enumerate(self.info):
            pcs = set()
            for pc, ins in enumerate(info.program.instrs):
                kind = _RESOURCE_KIND.get(ins.op)
                if ins.op in _SCOPE_INDEX or (kind is not None and users[(kind, ins.arg)] == {t}):
                    pcs.add(pc)
            out.append(frozenset(pcs))
        return tuple(out) if any(out) else None

    def canonical(self, s: State) -> State:
        """The representative of ``s`` under permutations of interchangeable tasks.

        Within each group, tasks are ordered by (their tuple, the locks they
        own); lock owners and the halt record are renamed to match. Two
        states that differ only by which copy is which map to one state.
        """
        if not self.symmetric:
            return s
        tasks = s[6]
        order: list[int] | None = None
        for group in self.groups:
            ranked = sorted(group, key=lambda t: _rank_in(s, t))
            if ranked != list(group):
                if order is None:
                    order = list(range(len(tasks)))
                for slot, t in zip(group, ranked, strict=True):
                    order[slot] = t
        if order is None:
            return s
        return self._permute(s, order)

    def unreduced(self) -> KernelModel:
        """The same model without reductions, to name tasks truly in traces and to replay."""
        if not self.symmetric and self.local_pcs is None:
            return self
        if self._twin is None:
            self._twin = KernelModel(self.scenario, self.kernel, reduce=False)
        return self._twin

    def concretize(
        self, indices: Sequence[int], start: State | None = None
    ) -> tuple[list[int], State]:
        """Map a schedule of this (reduced) model onto the unreduced model.

        Step by step, take the first real successor whose representative is
        the reduced successor. Returns the real schedule and the real state
        it ends in. ``start`` is a real state whose representative is where
        the reduced schedule starts (default: the initial state).
        """
        twin = self.unreduced()
        real = twin.initial() if start is None else start
        if twin is self:
            state = real
            for i in indices:
                state = self.successors(state)[i][1]
            return list(indices), state
        canon = self.canonical(real)
        out = []
        for i in indices:
            target = self.successors(canon)[i][1]
            for j, (_, nxt, _) in enumerate(twin.successors(real)):
                if self.canonical(nxt) == target:
                    out.append(j)
                    real = nxt
                    break
            else:  # pragma: no cover - would mean canonical() is not a symmetry
                raise AssertionError("reduced step has no real counterpart")
            canon = target
        return out, real

    def initial(self) -> State:
        """Pools full, locks free, victims marked with SIGKILL pending.

        A victim marked at start is inside its first step already, so that
        step is not skipped by unwinding (docs/model.md, "victims at start").
        """
        curr = tuple(self._pool_capacity(i) for i in range(len(self.pools)))
        tasks = []
        for t, spec in enumerate(self.scenario.tasks):
            status = (KILLED | MEMDIE | VICTIM) if spec.oom_victim else 0
            handles = (UNBOUND,) * len(self.info[t].program.handles)
            tasks.append((0, BOUNDARY, status, spec.rss, handles, (0, 0, 0), 0))
        state = (
            self.scenario.memory.free,
            curr,
            (-1,) * len(self.locks),
            tuple(c.initial for c in self.completions),
            tuple(e.pages for e in self.entries),
            None,
            tuple(tasks),
        )
        return self.canonical(state)

    def _pool_capacity(self, pool: int) -> int:
        """Elements a pool holds when full: ``min_nr``, or one for a zero-min pool.

        The 2025 fix [1.5] prefills ``max(1, min_nr)`` elements.
        """
        min_nr = self.pools[pool].min_nr
        if min_nr == 0 and self.kernel.zero_min_pool == "one_element":
            return 1
        return min_nr

    # --------------------------------------------------------- explorer API

    def successors(self, s: State) -> list[tuple[Action, State, frozenset[str]]]:
        if s[5] is not None:
            return []
        out: list[tuple[Action, State, frozenset[str]]] = []
        tasks = s[6]
        shared = s[:6]
        memo = self._memo.get(shared)
        if memo is None:
            if len(self._memo) > _MEMO_LIMIT:
                self._memo.clear()
            memo = self._memo[shared] = {}
        if self.local_pcs is not None:
            alone = self._local_move(s, memo)
            if alone is not None:
                return [alone]
        symmetric = self.symmetric
        prev_copy = self._prev_copy
        place = self._place
        for t, task in enumerate(tasks):
            if symmetric and self._repeats_prev(s, t, prev_copy[t]):
                continue
            frame = task[FRAME]
            if frame and frame[0] == "alloc" and frame[1][2] == MAY_OOM:
                # out_of_memory reads (and may kill) every task: no memo (and no symmetry)
                for choice, w in self._task_moves(s, t, None):
                    labels = frozenset(w.labels) if w.labels else _NO_LABELS
                    out.append(((t, choice), w.freeze(), labels))
                continue
            moves = self._memo_moves(memo, s, t)
            for choice, free, curr, owners, done, left, halt, mine, labels in moves:
                nxt = (free, curr, owners, done, left, halt, (*tasks[:t], mine, *tasks[t + 1 :]))
                if symmetric:
                    nxt = place(nxt, t)
                out.append(((t, choice), nxt, labels))
        if self.reaper_mode != "none":
            for v, task in enumerate(s[6]):
                if task[STATUS] & (VICTIM | REAPED | EXITED) != VICTIM:
                    continue
                if not (symmetric and self._repeats_prev(s, v, prev_copy[v])):
                    w = self._reap(s, v, None)
                    nxt = w.freeze()
                    out.append(
                        ((REAPER, v), place(nxt, v) if symmetric else nxt, frozenset(w.labels))
                    )
        return out

    def _memo_moves(self, memo: dict[Any, Any], s: State, t: int) -> tuple[tuple[Any, ...], ...]:
        """Task ``t``'s moves in ``s`` as (choice, shared parts..., its new tuple, labels).

        ``memo`` holds them for ``s``'s shared part, keyed by task id and tuple.
        """
        key = (t, s[6][t])
        moves: tuple[tuple[Any, ...], ...] | None = memo.get(key)
        if moves is not None:
            return moves
        moves = memo[key] = tuple(
            (
                choice,
                w.free,
                *w.parts(),
                w.halt,
                w.tasks[t],
                frozenset(w.labels) or _NO_LABELS,
            )
            for choice, w in self._task_moves(s, t, None)
        )
        return moves

    def _local_move(
        self, s: State, memo: dict[Any, Any]
    ) -> tuple[Action, State, frozenset[str]] | None:
        """The one move to take alone in ``s`` (partial-order reduction), or None.

        A task at a step boundary whose step is local (``_local_steps``),
        with one move that raises no label, halts nothing and ends at a
        later step boundary, is independent of every other move and stays
        enabled until taken, so exploring it alone keeps every outcome:
        the argument, with the cycle proviso (the pc rises), is in
        docs/model.md, "Partial-order reduction". Unkilled tasks only: in a
        model where the OOM killer can run, there is no reduction at all.
        """
        assert self.local_pcs is not None
        tasks = s[6]
        for t, pcs in enumerate(self.local_pcs):
            task = tasks[t]
            if task[FRAME] or task[STATUS] or task[PC] not in pcs:
                continue
            moves = self._memo_moves(memo, s, t)
            if len(moves) != 1:
                continue
            choice, free, curr, owners, done, left, halt, mine, labels = moves[0]
            if halt is not None or labels or mine[FRAME] or mine[PC] <= task[PC]:
                continue
            nxt = (free, curr, owners, done, left, halt, (*tasks[:t], mine, *tasks[t + 1 :]))
            if self.symmetric:
                nxt = self._place(nxt, t)
            return (t, choice), nxt, _NO_LABELS
        return None

    @staticmethod
    def _repeats_prev(s: State, t: int, prev: int) -> bool:
        """Whether copy ``t`` repeats the copy before it in the canonical state ``s``.

        Two copies of a ``count:`` task with equal tuples that hold no lock
        are swapped by a symmetry that fixes ``s``, so each move of the later
        one leads to the representative the same move of the earlier one
        leads to. In canonical order such copies sit side by side (equal
        rank), so only the first of each run is expanded; the set of
        successor representatives is unchanged, only repeats go.
        """
        if prev < 0:
            return False
        tasks, owners = s[6], s[2]
        return tasks[prev] == tasks[t] and t not in owners and prev not in owners

    def _place(self, s: State, t: int) -> State:
        """``canonical(s)`` when only task ``t`` changed since a canonical state.

        A move changes its own task's tuple and the locks that task holds,
        and nothing else that ranks tasks (no OOM kill happens in a symmetric
        model), so one insertion step restores the order. The property tests
        check this against ``canonical``.
        """
        where = self.group_of.get(t)
        if where is None:
            return s
        ids, p = where
        tasks = s[6]
        mine = tasks[t][PC]
        # Walk t up or down past the copies that rank before / after it; the
        # pcs decide most comparisons, the full rank only breaks pc ties.
        q = p
        last = len(ids) - 1
        while q < last:
            u = ids[q + 1]
            pc = tasks[u][PC]
            if pc < mine or (pc == mine and _rank_in(s, u) < _rank_in(s, t)):
                q += 1
            else:
                break
        if q == p:
            while q > 0:
                u = ids[q - 1]
                pc = tasks[u][PC]
                if mine < pc or (pc == mine and _rank_in(s, t) < _rank_in(s, u)):
                    q -= 1
                else:
                    break
            if q == p:
                return s
        order = list(ids)
        order.insert(q, order.pop(p))
        perm = list(range(len(tasks)))
        for slot, u in zip(ids, order, strict=True):
            perm[slot] = u
        return self._permute(s, perm)

    @staticmethod
    def _permute(s: State, order: list[int]) -> State:
        """The state whose task in slot i is the task ``order[i]`` of ``s``, owners renamed."""
        new_id = [0] * len(order)
        for slot, t in enumerate(order):
            new_id[t] = slot
        halt = s[5]
        if halt is not None:
            halt = (halt[0], new_id[halt[1]], halt[2])
        return (
            s[0],
            s[1],
            tuple(new_id[o] if o >= 0 else -1 for o in s[2]),
            s[3],
            s[4],
            halt,
            tuple(s[6][t] for t in order),
        )

    def state_labels(self, s: State) -> frozenset[str]:
        if s[5] is None and (s[0] != 0 or self.wmark_min == 0):
            return _NO_LABELS  # most states: checked first, without building a set
        labels = set()
        if s[0] == 0 and self.wmark_min > 0:
            labels.add("depletion")
        if s[5] is not None:
            labels.add("oom-panic" if s[5][0] == "panic" else "violation")
        return frozenset(labels)

    def is_final(self, s: State) -> bool:
        """Every non-daemon task has exited, or a panic or violation halted the machine."""
        if s[5] is not None:
            return True
        return all(
            task[STATUS] & EXITED or info.daemon for task, info in zip(s[6], self.info, strict=True)
        )

    def classify_hang(self, states: Sequence[State]) -> str:
        """``livelock`` if some task loops in the page allocator's slow path, else ``deadlock``.

        Per the contract's Outcomes: mutex, completion and mempool waits
        (including mempool's timed retry) are asleep; the reclaim / OOM /
        retry loop of a plain ``alloc_pages`` is spinning.
        """
        for s in states:
            for task in s[6]:
                frame = task[FRAME]
                if frame and frame[0] == "alloc" and frame[1][2] in SPINNING_STAGES:
                    return "livelock"
        return "deadlock"

    # ------------------------------------------------------------ reporting

    def task_names(self) -> tuple[str, ...]:
        return tuple(info.name for info in self.info)

    def describe(self, s: State, action: Action) -> str:
        """What ``action`` does in ``s``, in kernel words, for traces and replays."""
        t, choice = action
        if t == REAPER:
            w = self._reap(s, choice, [])
        else:
            moves = {c: w for c, w in self._task_moves(s, t, [])}
            if choice not in moves:
                raise ValueError(f"action {action} is not enabled in this state")
            w = moves[choice]
        who = "oom_reaper" if t == REAPER else self.info[t].name
        return f"{who}: " + "; ".join(w.log or ["(no change)"])

    def changes(self, before: State, after: State) -> list[tuple[str, str]]:
        """What differs between two states, as (thing, "old -> new") pairs for trace rows."""
        out: list[tuple[str, str]] = []
        if before[0] != after[0]:
            out.append(("free", f"{before[0]} -> {after[0]}"))
        for i, pool in enumerate(self.pools):
            if before[1][i] != after[1][i]:
                out.append(
                    (pool.name, f"{before[1][i]} -> {after[1][i]} of {self._pool_capacity(i)}")
                )
        for i, lock in enumerate(self.locks):
            if before[2][i] != after[2][i]:
                out.append(
                    (lock.name, f"{self._holder(before[2][i])} -> {self._holder(after[2][i])}")
                )
        for i, comp in enumerate(self.completions):
            if before[3][i] != after[3][i]:
                out.append((comp.name, f"done {_done(before[3][i])} -> {_done(after[3][i])}"))
        for i in range(len(self.entries)):
            if before[4][i] != after[4][i]:
                out.append((f"reclaimable[{i}]", f"{before[4][i]} -> {after[4][i]} pages"))
        for t, info in enumerate(self.info):
            old, new = before[6][t][STATUS], after[6][t][STATUS]
            gained = _status_words(new & ~old)
            if gained:
                out.append((info.name, "+" + ", ".join(gained)))
        return out

    def _holder(self, owner: int) -> str:
        return "free" if owner == -1 else self.info[owner].name

    def _held_by(self, s: State, lock: int) -> str:
        """Who holds a lock a task waits on; free when released since the task began to wait."""
        owner = s[2][lock]
        if owner == -1:
            return f"{self.locks[lock].name} is free (just released)"
        return f"held by {self.info[owner].name}"

    def summarize(self, s: State, outcome: str) -> str:
        """One line on what a finding's last state shows."""
        if s[5] is not None:
            return f"{self.info[s[5][1]].name}: {s[5][2]}"
        if outcome == "depletion":
            return (
                f"free pages reached 0 below min {self.wmark_min}: the emergency reserves are gone"
            )
        if outcome == "oom-kill":
            killed = [
                info.name
                for info, task, spec in zip(self.info, s[6], self.scenario.tasks, strict=True)
                if task[STATUS] & KILLED and not spec.oom_victim
            ]
            return "the OOM killer killed " + ", ".join(killed)
        waiting = [
            f"{info.name} {self.where(s, t)}"
            for t, info in enumerate(self.info)
            if not s[6][t][STATUS] & EXITED
        ]
        return "; ".join(waiting)

    def where(self, s: State, t: int) -> str:
        """Where task ``t`` is in ``s``, in kernel words, e.g. 'sleeps in mutex_lock(M)'."""
        task = s[6][t]
        if task[STATUS] & EXITED:
            return "has exited"
        frame = task[FRAME]
        program = self.info[t].program.instrs
        if not frame:
            if task[PC] >= len(program):
                return "is about to exit"
            return f"is about to run {program[task[PC]].op}"
        kind = frame[0]
        if kind == "lock":
            lock = frame[1]
            # mutex_unlock wakes the waiter; it takes the mutex when it next runs
            verb = "woken" if s[2][lock] == -1 else "sleeps"
            return f"{verb} in mutex_lock({self.locks[lock].name}), {self._held_by(s, lock)}"
        if kind == "spin":
            lock = frame[1]
            return f"spins in spin_lock({self.locks[lock].name}), {self._held_by(s, lock)}"
        if kind == "comp":
            return f"sleeps in wait_for_completion({self.completions[frame[1]].name})"
        if kind == "alloc":
            return "loops in alloc_pages: " + self._alloc_where(s, frame[1])
        pool = self.pools[frame[1]].name
        if frame[4] == MP_WAIT:
            return f"sleeps in mempool_alloc({pool}): pool empty, waiting for an element"
        if frame[4] == MP_ALLOC and frame[5] is not None and frame[5][2] in (LOCK, WAIT):
            return f"in mempool_alloc({pool}), pool->alloc " + self._alloc_where(s, frame[5])
        return f"retries mempool_alloc({pool})"

    def _alloc_where(self, s: State, frame: tuple[Any, ...]) -> str:
        stage = frame[2]
        if stage == LOCK:
            lock = self.entry_locks[frame[3]][frame[4]]
            return f"reclaim waits for {self.locks[lock].name}, {self._held_by(s, lock)}"
        if stage == WAIT:
            return f"reclaim waits for {self.completions[self.entry_waits[frame[3]]].name}"
        return "reclaim and retry make no progress"

    # ---------------------------------------------------------- queries
    # What the reporting layers may ask about a state; pure, no formatting.

    def task_view(self, s: State, t: int) -> TaskView:
        """Task ``t`` in ``s``: where it is, what it waits on, its status and what it holds.

        >>> from mempool_cli.scenario.kernels import PRESETS
        >>> from mempool_cli.scenario.spec import Lock, Memory, Scenario, Step, Task
        >>> sc = Scenario("x.yaml", "x", PRESETS["v4.5"], Memory(), (
        ...     Task("t", "t", None, (Step("mutex_lock", target="L"),
        ...                           Step("mutex_lock", target="L"))),),
        ...     locks=(Lock("L", "mutex"),))
        >>> m = KernelModel(sc)
        >>> s = m.successors(m.successors(m.initial())[0][1])[0][1]
        >>> v = m.task_view(s, 0)
        >>> v.pc, v.wait.kind, v.wait.resource, m.lock_owner(s, 0)
        (1, 'mutex', 0, 0)
        """
        task = s[6][t]
        status = task[STATUS]
        pages = 0
        elements = [0] * len(self.pools)
        for value in task[HANDLES]:
            if _holds(value):
                if value[0] == "p":
                    pages += 1 << value[1]
                else:
                    elements[value[1]] += 1
        return TaskView(
            name=self.info[t].name,
            pc=task[PC],
            wait=self._wait(task[FRAME]),
            killed=bool(status & KILLED),
            memdie=bool(status & MEMDIE),
            victim=bool(status & VICTIM),
            oom_skip=bool(status & SKIP),
            reaped=bool(status & REAPED),
            exited=bool(status & EXITED),
            rss=task[RSS],
            pages=pages,
            elements=tuple(elements),
        )

    def task_views(self, s: State) -> tuple[TaskView, ...]:
        """``task_view`` of every task of ``s``, in task id order."""
        return tuple(self.task_view(s, t) for t in range(len(self.info)))

    def _wait(self, frame: tuple[Any, ...]) -> Wait | None:
        """Decode a frame into what its task waits or spins on (None at a step boundary)."""
        if not frame:
            return None
        kind = frame[0]
        if kind == "lock":
            return Wait("mutex", frame[1], "mutex_lock")
        if kind == "spin":
            return Wait("spinlock", frame[1], "spin_lock")
        if kind == "comp":
            return Wait("completion", frame[1], "wait_for_completion")
        if kind == "alloc":
            return self._alloc_wait(frame[1], "alloc_pages", None)
        pool, stage, inner = frame[1], frame[4], frame[5]
        if inner is not None and inner[2] in (LOCK, WAIT):
            return self._alloc_wait(inner, "mempool_alloc", pool)
        return Wait(
            "pool",
            pool,
            "mempool_alloc",
            pool=pool,
            gfp=None if inner is None else inner[0],
            pool_sleep=stage == MP_WAIT,
        )

    def _alloc_wait(self, frame: tuple[Any, ...], call: str, pool: int | None) -> Wait:
        """An alloc frame's wait: a reclaim lock or completion, else a page (spinning)."""
        gfp, stage = frame[0], frame[2]
        if stage == LOCK:
            lock = self.entry_locks[frame[3]][frame[4]]
            return Wait("reclaim-lock", lock, call, pool=pool, gfp=gfp)
        if stage == WAIT:
            comp = self.entry_waits[frame[3]]
            return Wait("reclaim-completion", comp, call, pool=pool, gfp=gfp)
        return Wait("page", None, call, pool=pool, gfp=gfp, spinning=stage in SPINNING_STAGES)

    def lock_owner(self, s: State, lock: int) -> int | None:
        """The id of the task holding ``lock`` in ``s``, or None when it is free."""
        owner: int = s[2][lock]
        return None if owner == -1 else owner

    def free_pages(self, s: State) -> int:
        """The zone's free pages in ``s``."""
        free: int = s[0]
        return free

    def curr_nr(self, s: State, pool: int) -> int:
        """``curr_nr`` of ``pool`` in ``s``: the elements it holds in reserve."""
        curr: int = s[1][pool]
        return curr

    def reclaimable_pages(self, s: State) -> int:
        """Pages the reclaimable entries still hold in ``s``, all entries together."""
        return sum(s[4])

    def completed_all(self, s: State, comp: int) -> bool:
        """Whether ``complete_all`` has run on completion ``comp`` (every wait passes now)."""
        return bool(s[3][comp] == ALL)

    def halted(self, s: State) -> bool:
        """Whether a panic or a violation stopped the machine in ``s``."""
        return s[5] is not None

    def restart_step(self, s: State, t: int) -> State:
        """``s`` with task ``t`` back at the start of the step it is in.

        The task's pc stays on that step and only its frame goes, so the
        next move of ``t`` runs the step again from its entry (a hint tries
        a ``mempool_alloc`` again under another knob this way). Locks,
        pages and elements the interrupted attempt took stay as they are;
        the state is not made canonical.
        """
        tasks = s[6]
        return (*s[:6], (*tasks[:t], _with(tasks[t], FRAME, BOUNDARY), *tasks[t + 1 :]))

    def actor_name(self, action: Action) -> str:
        return "oom_reaper" if action[0] == REAPER else self.info[action[0]].name

    # ---------------------------------------------------------- task moves

    def _task_moves(self, s: State, t: int, log: list[str] | None) -> list[tuple[int, _Work]]:
        task = s[6][t]
        if task[STATUS] & EXITED:
            return []
        frame = task[FRAME]
        if frame and self._blocked(s, task, frame):
            return []
        w = _Work(s, log)
        if not frame:
            program = self.info[t].program.instrs
            if task[PC] >= len(program):
                self._exit(w, t)
                return [(0, w)]
            return self._start(w, t, program[task[PC]])
        kind = frame[0]
        if kind == "lock":
            return self._lock_wait(w, t, frame)
        if kind == "spin":
            return self._spin_wait(w, t, frame)
        if kind == "comp":
            return self._completion_wait(w, t, frame)
        if kind == "alloc":
            return self._alloc_pages_continue(w, t, frame[1])
        if kind == "mempool":
            return self._mempool_continue(w, t, frame)
        raise AssertionError(f"unknown frame {frame!r}")

    def _blocked(self, s: State, task: tuple[Any, ...], frame: tuple[Any, ...]) -> bool:
        """A sleeping task with nothing to wake it has no move (checked before any copying)."""
        kind = frame[0]
        if kind == "lock":
            return s[2][frame[1]] != -1 and not (frame[2] and task[STATUS] & KILLED)
        if kind == "spin":
            return bool(s[2][frame[1]] != -1)
        if kind == "comp":
            return s[3][frame[1]] == 0 and not (frame[2] and task[STATUS] & KILLED)
        inner = frame[1] if kind == "alloc" else frame[5]
        if inner is None:
            return False
        stage = inner[2]
        if stage == LOCK:
            return bool(s[2][self.entry_locks[inner[3]][inner[4]]] != -1)
        if stage == WAIT:
            return bool(s[3][self.entry_waits[inner[3]]] == 0)
        return False

    def _start(self, w: _Work, t: int, ins: Instr) -> list[tuple[int, _Work]]:
        op = ins.op
        if op in ("mutex_lock", "mutex_lock_killable"):
            return [(0, self._mutex_lock(w, t, ins))]
        if op == "spin_lock":
            return [(0, self._spin_lock(w, t, ins))]
        if op in ("mutex_unlock", "spin_unlock"):
            return [(0, self._unlock(w, t, ins))]
        if op in ("wait_for_completion", "wait_for_completion_killable"):
            return [(0, self._wait_for_completion(w, t, ins))]
        if op in COMPLETE_OPS:
            return [(0, self._complete(w, t, ins))]
        if op.endswith("_save") or op.endswith("_restore"):
            return [(0, self._scope(w, t, ins))]
        if op == "free_pages":
            return [(0, self._free_pages(w, t, ins))]
        if op == "mempool_free":
            return [(0, self._mempool_free(w, t, ins))]
        if op == "alloc_pages":
            return self._alloc_pages_start(w, t, ins)
        if op == "mempool_alloc":
            return self._mempool_alloc_start(w, t, ins)
        raise AssertionError(f"unknown op {op!r}")

    # --------------------------------------------------- boundaries, exit

    def _advance(self, w: _Work, t: int, pc: int | None = None) -> None:
        """Finish the current step: move to the next one and settle there."""
        task = w.tasks[t]
        start = (task[PC] if pc is None else pc) + 1
        w.tasks[t] = _with(_with(task, FRAME, BOUNDARY), PC, start)
        self._settle(w, t)

    def _settle(self, w: _Work, t: int) -> None:
        """Follow jumps, and for a killed task skip what unwinding skips (contract, fatal signals).

        A killed task skips acquiring steps and releasing steps that would
        release nothing it holds; complete* steps still run. A forever loop
        is left at its back edge once the task is killed (docs/model.md).
        """
        task = w.tasks[t]
        program = self.info[t].program.instrs
        pc = task[PC]
        killed = bool(task[STATUS] & KILLED)
        guard = 0
        while pc < len(program):
            ins = program[pc]
            if ins.op == JUMP:
                pc = pc + 1 if killed else ins.arg
            elif killed and self._unwinding_skips(w, t, ins):
                pc += 1
            else:
                break
            guard += 1
            if guard > 4 * len(program) + 4:
                raise AssertionError("a loop with no steps")
        if pc != task[PC]:
            w.tasks[t] = _with(task, PC, pc)

    def _unwinding_skips(self, w: _Work, t: int, ins: Instr) -> bool:
        kind = STEP_KINDS[ins.op]
        if kind.role == ACQUIRES:
            return True
        if kind.role == ALWAYS:
            return False  # complete / complete_all always run
        task = w.tasks[t]  # a releasing step: skipped unless it releases something held
        if kind.names == "lock":
            return bool(w.owners[ins.arg] != t)
        if kind.names == "handle":
            return not _holds(task[HANDLES][ins.arg])
        return bool(task[SCOPES][_SCOPE_INDEX[ins.op]] == 0)

    def _exit(self, w: _Work, t: int) -> None:
        """do_exit: a handle or lock still held is a violation; rss returns to free."""
        task = w.tasks[t]
        info = self.info[t]
        for slot, value in enumerate(task[HANDLES]):
            if _holds(value):
                self._violation(
                    w, t, f"exits still holding {info.program.handles[slot]} ({_what(self, value)})"
                )
                return
        for lock, owner in enumerate(w.owners):
            if owner == t:
                self._violation(w, t, f"exits holding lock {self.locks[lock].name}")
                return
        w.free += task[RSS]
        w.note(
            "exits" + (f", its {task[RSS]} rss pages return ({w.free} free)" if task[RSS] else "")
        )
        w.tasks[t] = _with(_with(task, STATUS, task[STATUS] | EXITED), RSS, 0)

    def _violation(self, w: _Work, t: int, message: str) -> None:
        w.halt = ("violation", t, message)
        w.note(f"VIOLATION: {message}")

    def _atomic_reason(self, w: _Work, t: int) -> str | None:
        """Why task ``t`` may not sleep now, or None: a spinlock held, or irq/softirq context."""
        info = self.info[t]
        if info.context != "process":
            return f"in {info.context} context"
        if w.tasks[t][ATOMIC]:
            held = [
                self.locks[i].name
                for i, o in enumerate(w.owners)
                if o == t and self.locks[i].kind == "spinlock"
            ]
            return "holding spinlock " + ", ".join(held) if held else "in atomic context"
        return None

    # -------------------------------------------------------------- locks

    def _cannot_sleep(
        self, w: _Work, t: int, ins: Instr, name: str, killable: bool, errno: str
    ) -> bool:
        """The prologue of a sleeping wait: a violation in atomic context, or a killable
        wait returning at once with a fatal signal pending. True when the step is over."""
        reason = self._atomic_reason(w, t)
        if reason:
            self._violation(w, t, f"{ins.op}({name}) sleeps {reason}")
            return True
        if killable and w.tasks[t][STATUS] & KILLED:
            w.note(f"{ins.op}({name}) -> {errno} (fatal signal pending)")
            self._advance(w, t)
            return True
        return False

    def _mutex_lock(self, w: _Work, t: int, ins: Instr) -> _Work:
        """mutex_lock / mutex_lock_killable: take a free mutex, else sleep (un)interruptibly."""
        name = self.locks[ins.arg].name
        killable = ins.op == "mutex_lock_killable"
        if self._cannot_sleep(w, t, ins, name, killable, "-EINTR"):
            return w
        owner = w.owners[ins.arg]
        if owner == -1:
            w.owners[ins.arg] = t
            w.note(f"{ins.op}({name}) -> acquired")
            self._advance(w, t)
        else:
            w.note(f"{ins.op}({name}) -> sleeps, held by {self._owner_name(owner, t)}")
            w.set(t, FRAME, ("lock", ins.arg, killable))
        return w

    def _owner_name(self, owner: int, t: int) -> str:
        return "itself" if owner == t else self.info[owner].name

    def _lock_wait(self, w: _Work, t: int, frame: tuple[Any, ...]) -> list[tuple[int, _Work]]:
        _, lock, killable = frame
        name = self.locks[lock].name

        def take(got: _Work) -> None:
            got.owners[lock] = t
            got.note(f"wakes, acquires {name}")

        return self._wake_or_interrupt(
            w,
            t,
            w.owners[lock] == -1,
            take,
            killable,
            f"mutex_lock_killable({name}) -> -EINTR (fatal signal)",
        )

    def _wake_or_interrupt(
        self,
        w: _Work,
        t: int,
        ready: bool,
        take: Callable[[_Work], None],
        killable: bool,
        interrupted: str,
    ) -> list[tuple[int, _Work]]:
        """The moves of a task asleep in a lock or completion wait.

        Choice 0 when what it waits for is there (``take`` claims it and
        says so); choice 1 when the wait is killable and a fatal signal is
        pending: it returns the error (``interrupted`` says which).
        """
        moves = []
        if ready:
            got = w.copy()
            take(got)
            self._advance(got, t)
            moves.append((0, got))
        if killable and w.tasks[t][STATUS] & KILLED:
            w.note(interrupted)
            self._advance(w, t)
            moves.append((1, w))
        return moves

    def _spin_lock(self, w: _Work, t: int, ins: Instr) -> _Work:
        name = self.locks[ins.arg].name
        owner = w.owners[ins.arg]
        if owner == -1:
            w.owners[ins.arg] = t
            w.set(t, ATOMIC, w.tasks[t][ATOMIC] + 1)
            w.note(f"spin_lock({name}) -> acquired")
            self._advance(w, t)
        else:
            w.note(f"spin_lock({name}) -> spins, held by {self._owner_name(owner, t)}")
            w.set(t, FRAME, ("spin", ins.arg))
        return w

    def _spin_wait(self, w: _Work, t: int, frame: tuple[Any, ...]) -> list[tuple[int, _Work]]:
        lock = frame[1]
        if w.owners[lock] != -1:
            return []
        w.owners[lock] = t
        w.set(t, ATOMIC, w.tasks[t][ATOMIC] + 1)
        w.note(f"acquires {self.locks[lock].name}")
        self._advance(w, t)
        return [(0, w)]

    def _unlock(self, w: _Work, t: int, ins: Instr) -> _Work:
        """mutex_unlock / spin_unlock; unlocking a lock the task does not hold is a violation."""
        name = self.locks[ins.arg].name
        owner = w.owners[ins.arg]
        if owner != t:
            held = "free" if owner == -1 else f"held by {self.info[owner].name}"
            self._violation(w, t, f"{ins.op}({name}) but {name} is {held}")
            return w
        w.owners[ins.arg] = -1
        if ins.op == "spin_unlock":
            w.set(t, ATOMIC, w.tasks[t][ATOMIC] - 1)
        w.note(f"{ins.op}({name})")
        self._advance(w, t)
        return w

    # -------------------------------------------------------- completions

    def _wait_for_completion(self, w: _Work, t: int, ins: Instr) -> _Work:
        name = self.completions[ins.arg].name
        killable = ins.op == "wait_for_completion_killable"
        if self._cannot_sleep(w, t, ins, name, killable, "-ERESTARTSYS"):
            return w
        if w.done[ins.arg] != 0:
            self._consume(w, ins.arg)
            w.note(f"{ins.op}({name}) -> done")
            self._advance(w, t)
        else:
            w.note(f"{ins.op}({name}) -> sleeps")
            w.set(t, FRAME, ("comp", ins.arg, killable))
        return w

    def _consume(self, w: _Work, comp: int) -> None:
        if w.done[comp] != ALL:
            w.done[comp] -= 1

    def _completion_wait(self, w: _Work, t: int, frame: tuple[Any, ...]) -> list[tuple[int, _Work]]:
        _, comp, killable = frame
        name = self.completions[comp].name

        def take(got: _Work) -> None:
            self._consume(got, comp)
            got.note(f"wakes: {name} completed")

        return self._wake_or_interrupt(
            w,
            t,
            w.done[comp] != 0,
            take,
            killable,
            f"wait_for_completion_killable({name}) -> -ERESTARTSYS",
        )

    def _complete(self, w: _Work, t: int, ins: Instr) -> _Work:
        name = self.completions[ins.arg].name
        if ins.op == "complete_all" or w.done[ins.arg] == ALL:
            w.done[ins.arg] = ALL
        else:
            w.done[ins.arg] = min(w.done[ins.arg] + 1, self.completion_cap[ins.arg])
        w.note(f"{ins.op}({name})")
        self._advance(w, t)
        return w

    # -------------------------------------------------------------- scopes

    def _scope(self, w: _Work, t: int, ins: Instr) -> _Work:
        """memalloc_{noio,nofs,noreclaim}_save/restore as nesting depths [2.3]."""
        i = _SCOPE_INDEX[ins.op]
        scopes = list(w.tasks[t][SCOPES])
        if ins.op.endswith("_save"):
            scopes[i] += 1
        elif scopes[i] == 0:
            self._violation(w, t, f"{ins.op}() without a matching save")
            return w
        else:
            scopes[i] -= 1
        w.set(t, SCOPES, tuple(scopes))
        w.note(f"{ins.op}()")
        self._advance(w, t)
        return w

    # ----------------------------------------------------------- handles

    def _bind(self, w: _Work, t: int, slot: int, value: Any) -> bool:
        """Write a handle; overwriting one that still holds memory leaks it (a violation)."""
        if slot < 0:
            if _holds(value):
                self._violation(w, t, f"{_what(self, value)} allocated without `as:` is leaked")
                return False
            return True
        handles = w.tasks[t][HANDLES]
        if _holds(handles[slot]):
            name = self.info[t].program.handles[slot]
            self._violation(
                w, t, f"{name} is rebound while still holding {_what(self, handles[slot])} (leak)"
            )
            return False
        w.set(t, HANDLES, (*handles[:slot], value, *handles[slot + 1 :]))
        return True

    def _free_pages(self, w: _Work, t: int, ins: Instr) -> _Work:
        """__free_pages: pages back to the free list; NULL is a no-op."""
        name = self.info[t].program.handles[ins.arg]
        value = w.tasks[t][HANDLES][ins.arg]
        if value == NULL:
            w.note(f"free_pages({name}) -> NULL, nothing to free")
        elif value in (FREED, UNBOUND):
            self._violation(w, t, f"free_pages({name}): {name} was already freed")
            return w
        elif value[0] == "e":
            self._violation(
                w, t, f"free_pages({name}) on an element of pool {self.pools[value[1]].name}"
            )
            return w
        else:
            w.free += 1 << value[1]
            w.set(t, HANDLES, _set_slot(w.tasks[t][HANDLES], ins.arg, FREED))
            w.note(f"free_pages({name}) -> {1 << value[1]} pages freed ({w.free} free)")
        self._advance(w, t)
        return w

    def _mempool_free(self, w: _Work, t: int, ins: Instr) -> _Work:
        """mempool_free [1.4], with the zero-min-pool branch of the 2025 fix [1.5]."""
        name = self.info[t].program.handles[ins.arg]
        value = w.tasks[t][HANDLES][ins.arg]
        if value == NULL:
            w.note(f"mempool_free({name}) -> NULL, nothing to free")
            self._advance(w, t)
            return w
        if value in (FREED, UNBOUND):
            self._violation(w, t, f"mempool_free({name}): {name} was already freed")
            return w
        if value[0] == "p":
            self._violation(w, t, f"mempool_free({name}) on pages from alloc_pages")
            return w
        pool = value[1]
        if ins.pool >= 0 and ins.pool != pool:
            self._violation(
                w,
                t,
                f"mempool_free({name}) to pool {self.pools[ins.pool].name}, "
                f"but it came from pool {self.pools[pool].name}",
            )
            return w
        spec = self.pools[pool]
        w.set(t, HANDLES, _set_slot(w.tasks[t][HANDLES], ins.arg, FREED))
        refill = w.curr[pool] < spec.min_nr or (
            spec.min_nr == 0 and self.kernel.zero_min_pool == "one_element" and w.curr[pool] == 0
        )
        if refill:
            w.curr[pool] += 1
            w.note(
                f"mempool_free({name}) -> back into {spec.name} "
                f"({w.curr[pool]}/{self._pool_capacity(pool)}), wakes waiters"
            )
        else:
            w.free += 1 << spec.order
            w.note(f"mempool_free({name}) -> {spec.name} full: pool->free, {w.free} free")
        self._advance(w, t)
        return w

    # --------------------------------------------------------- alloc_pages

    def _alloc_pages_start(self, w: _Work, t: int, ins: Instr) -> list[tuple[int, _Work]]:
        """alloc_pages entry: might_sleep_if, task scope [2.3], then the first freelist attempt."""
        reason = self._atomic_reason(w, t)
        if reason and ins.gfp & G.DIRECT_RECLAIM:
            self._violation(w, t, f"alloc_pages({G.format_gfp(ins.gfp)}) may sleep {reason}")
            return [(0, w)]
        if w.log is not None:
            w.note(f"alloc_pages(order {ins.order}, {G.format_gfp(ins.gfp)})")
        frame = self._new_alloc(w, t, ins.gfp, ins.order)
        return [
            (c, self._alloc_pages_result(x, t, r))
            for c, (x, r) in enumerate(self._slowpath(w, t, frame))
        ]

    def _alloc_pages_continue(
        self, w: _Work, t: int, frame: tuple[Any, ...]
    ) -> list[tuple[int, _Work]]:
        return [
            (c, self._alloc_pages_result(x, t, r))
            for c, (x, r) in enumerate(self._slowpath(w, t, frame))
        ]

    def _alloc_pages_result(self, w: _Work, t: int, result: Any) -> _Work:
        if w.halt is not None:
            return w
        if isinstance(result, tuple):
            w.set(t, FRAME, ("alloc", result))
            return w
        ins = self.info[t].program.instrs[w.tasks[t][PC]]
        value = ("p", ins.order) if result else NULL
        if self._bind(w, t, ins.bind, value):
            self._advance(w, t)
        return w

    def _new_alloc(self, w: _Work, t: int, gfp: int, order: int) -> tuple[Any, ...]:
        """A new alloc frame.

        Fields: gfp after the task scope, order, stage, reclaim entry, lock
        index, progress, no-progress loops, pages reclaimed, reserve class.
        """
        task = w.tasks[t]
        info = self.info[t]
        scopes = task[SCOPES]
        eff = current_gfp_context(gfp, info.pf_noio or scopes[0] > 0, info.pf_nofs or scopes[1] > 0)
        return (eff, order, ATTEMPT, -1, 0, 0, 0, 0, 0)

    def _rights(self, w: _Work, t: int, gfp: int) -> Rights:
        task = w.tasks[t]
        info = self.info[t]
        return alloc_rights(
            gfp,
            wmark_min=self.wmark_min,
            context=info.context,
            rt=info.rt,
            pf_memalloc=self._pf_memalloc(task, info),
            memdie=bool(task[STATUS] & MEMDIE),
            victim=bool(task[STATUS] & VICTIM),
            victim_reserves=self.kernel.victim_reserves,
        )

    @staticmethod
    def _pf_memalloc(task: tuple[Any, ...], info: TaskInfo) -> bool:
        return info.pf_memalloc or task[SCOPES][2] > 0

    def _take(self, w: _Work, order: int, how: str) -> bool:
        before = w.free
        w.free -= 1 << order
        w.note(
            f"{'page' if order == 0 else f'{1 << order} pages'} {how} ({before} -> {w.free} free)"
        )
        return True

    def _slowpath(self, w: _Work, t: int, frame: tuple[Any, ...]) -> list[tuple[_Work, Any]]:
        """One atomic piece of ``__alloc_pages_slowpath`` [3.5].

        Returns (work, result) pairs: result True (got pages), False (NULL)
        or the next alloc frame. The fast path at the low mark is folded into
        the first attempt: any request that passes ``low`` passes the slow
        path's lower floor too, and kswapd is not modelled [3.4].
        """
        stage = frame[2]
        if stage == ATTEMPT:
            return self._attempt(w, t, frame)
        if stage == LOCK:
            return self._reclaim_lock(w, t, frame)
        if stage == WAIT:
            return self._reclaim_wait(w, t, frame)
        if stage == AFTER:
            return [(w, self._after_reclaim(w, t, frame))]
        return [(w, self._may_oom(w, t, frame))]

    def _attempt(self, w: _Work, t: int, frame: tuple[Any, ...]) -> list[tuple[_Work, Any]]:
        """The *retry:* label: freelist attempts, then the bail-outs before reclaim [3.5 3-7]."""
        gfp, order = frame[0], frame[1]
        if gfp & G.DIRECT_RECLAIM:
            gfp &= ~G.ATOMIC  # [3.5 step 1]: ATOMIC with DIRECT_RECLAIM is dropped
        rights = self._rights(w, t, gfp)
        frame = _set_slot(frame, 8, rights.reserve)
        if passes(w.free, order, rights.floor):
            return [(w, self._take(w, order, "from the free list"))]
        if rights.reserve == RES_NO_WATERMARKS and passes(w.free, order, None):
            return [(w, self._take(w, order, "from the reserves (ALLOC_NO_WATERMARKS)"))]
        task = w.tasks[t]
        info = self.info[t]
        nofail = bool(gfp & G.NOFAIL)
        kernel = self.kernel
        if rights.reserve == RES_NO_WATERMARKS and nofail and kernel.retry == "v4.5":
            w.note(
                "no free page even without watermarks; __GFP_NOFAIL loops in the high-priority path"
            )
            return [(w, frame)]
        if not gfp & G.DIRECT_RECLAIM:
            w.note(
                f"fails: below the watermark ({w.free} free, floor {rights.floor}) "
                "and no direct reclaim"
            )
            return [(w, False)]
        if self._pf_memalloc(task, info):
            if nofail:
                if kernel.nofail_reserves and passes(w.free, order, rights.harder_floor):
                    return [
                        (w, self._take(w, order, "from the ALLOC_HARDER fallback (__GFP_NOFAIL)"))
                    ]
                w.note("PF_MEMALLOC cannot reclaim; __GFP_NOFAIL loops waiting for someone else")
                return [(w, frame)]
            w.note("fails: PF_MEMALLOC may not enter direct reclaim")
            return [(w, False)]
        if kernel.victim_reserves == "all" and task[STATUS] & MEMDIE and not nofail:
            w.note("fails: TIF_MEMDIE without __GFP_NOFAIL does not loop")
            return [(w, False)]
        return self._direct_reclaim(w, t, frame, gfp, rights)

    def _direct_reclaim(
        self, w: _Work, t: int, frame: tuple[Any, ...], gfp: int, rights: Rights
    ) -> list[tuple[_Work, Any]]:
        """Pick one eligible reclaimable entry; every choice is a branch (contract, reclaimable)."""
        eligible = [
            e for e, entry in enumerate(self.entries) if w.left[e] > 0 and entry.needs & ~gfp == 0
        ]
        if not eligible:
            w.note("direct reclaim: nothing this gfp may reclaim")
            return [(w, _set_slot(_set_slot(frame, 2, AFTER), 5, 0))]
        order = frame[1]
        needed = max(1, rights.floor + (1 << order) - w.free)
        out = []
        for e in eligible:
            branch = w.copy()
            n = min(needed, branch.left[e])
            next_frame = _set_slot(_set_slot(_set_slot(frame, 3, e), 4, 0), 5, n)
            branch.note(f"direct reclaim on reclaimable[{e}] for {n} page(s)")
            out.append((branch, self._reclaim_proceed(branch, t, next_frame)))
        return out

    def _reclaim_proceed(
        self, w: _Work, t: int, frame: tuple[Any, ...], waited: bool = False
    ) -> Any:
        """Take the entry's next lock, else wait for its completion, else free the pages."""
        e, k = frame[3], frame[4]
        locks = self.entry_locks[e]
        if k < len(locks):
            lock = locks[k]
            if w.owners[lock] != -1:
                w.note(
                    f"reclaim needs {self.locks[lock].name}, "
                    f"held by {self._owner_name(w.owners[lock], t)}"
                )
                return _set_slot(frame, 2, LOCK)
            w.owners[lock] = t
            w.note(f"reclaim takes {self.locks[lock].name}")
            return self._reclaim_proceed(w, t, _set_slot(frame, 4, k + 1))
        comp = self.entry_waits[e]
        if comp >= 0 and not waited:
            if any(self.locks[lk].kind == "spinlock" for lk in locks):
                self._violation(w, t, "reclaim waits for completion holding a spinlock")
                return False
            if w.done[comp] == 0:
                w.note(f"reclaim waits for {self.completions[comp].name}")
                return _set_slot(frame, 2, WAIT)
            self._consume(w, comp)
            w.note(f"{self.completions[comp].name} already completed")
        n = frame[5]
        w.left[e] -= n
        w.free += n
        for lock in locks:
            w.owners[lock] = -1
        released = f", releases {', '.join(self.locks[lk].name for lk in locks)}" if locks else ""
        w.note(f"reclaim frees {n} page(s) ({w.free} free){released}")
        return _set_slot(frame, 2, AFTER)

    def _reclaim_lock(self, w: _Work, t: int, frame: tuple[Any, ...]) -> list[tuple[_Work, Any]]:
        lock = self.entry_locks[frame[3]][frame[4]]
        if w.owners[lock] != -1:
            return []
        return [(w, self._reclaim_proceed(w, t, frame))]

    def _reclaim_wait(self, w: _Work, t: int, frame: tuple[Any, ...]) -> list[tuple[_Work, Any]]:
        comp = self.entry_waits[frame[3]]
        if w.done[comp] == 0:
            return []
        self._consume(w, comp)
        w.note(f"reclaim wakes: {self.completions[comp].name} completed")
        return [(w, self._reclaim_proceed(w, t, frame, waited=True))]

    def _after_reclaim(self, w: _Work, t: int, frame: tuple[Any, ...]) -> Any:
        """Freelist attempt after reclaim, then the retry decision: 4.5 [3.5 10-11] or 4.7 [3.6]."""
        gfp, order, progress, loops, reclaimed = frame[0], frame[1], frame[5], frame[6], frame[7]
        rights = self._rights(w, t, gfp)
        if passes(w.free, order, rights.floor):
            return self._take(w, order, "from the free list after reclaim")
        if gfp & G.NORETRY:
            w.note("fails: __GFP_NORETRY after one reclaim pass")
            return False
        if self.kernel.retry == "v4.5":
            reclaimed = min(reclaimed + progress, 1 << order)
            frame = _set_slot(frame, 7, reclaimed)
            if (progress and order <= COSTLY_ORDER) or (gfp & G.REPEAT and reclaimed < 1 << order):
                w.note("reclaim made progress: retry")
                return _set_slot(frame, 2, ATTEMPT)
            w.note("no reclaim progress: __alloc_pages_may_oom next")
            return _set_slot(frame, 2, MAY_OOM)
        if order > COSTLY_ORDER and not gfp & G.REPEAT:
            w.note("fails: costly order without __GFP_RETRY_MAYFAIL")
            return False
        loops = 0 if progress and order <= COSTLY_ORDER else loops + 1
        frame = _set_slot(frame, 6, loops)
        if loops > MAX_RECLAIM_RETRIES:
            w.note(f"should_reclaim_retry: {loops} loops without progress, give up")
            return _set_slot(frame, 2, MAY_OOM)
        available = w.free + sum(w.left)
        available -= -(-loops * available // MAX_RECLAIM_RETRIES)
        if passes(available, order, rights.floor):
            w.note(
                f"should_reclaim_retry: {available} free+reclaimable pass min: retry (loop {loops})"
            )
            return _set_slot(frame, 2, ATTEMPT)
        w.note("should_reclaim_retry: not enough reclaimable; __alloc_pages_may_oom next")
        return _set_slot(frame, 2, MAY_OOM)

    def _may_oom(self, w: _Work, t: int, frame: tuple[Any, ...]) -> Any:
        """``__alloc_pages_may_oom`` and what the slow path does with its answer [3.7], [3.5].

        One atomic step under oom_lock: the high-watermark attempt, the
        bail-outs, ``out_of_memory``. NOFAIL bypasses the bail-outs before
        ``nofail_reserves`` (4.5, 82553a937f12) and gets NO_WATERMARKS after
        the OOM step with it (5020e285856c) [3.6].
        """
        gfp, order = frame[0], frame[1]
        kernel = self.kernel
        if passes(w.free, order, self.wmark_high):
            return self._take(w, order, "at the high watermark (last attempt before OOM)")
        nofail = bool(gfp & G.NOFAIL)
        bypass = nofail and not kernel.nofail_reserves
        progress = False
        call_oom = True
        if not bypass:
            if order > COSTLY_ORDER:
                w.note("may_oom: order > 3, the OOM killer would not help")
                call_oom = False
            elif kernel.retry == "v4.5" and not gfp & G.FS:
                w.note("may_oom: no __GFP_FS, no OOM kill, but keep looping")
                call_oom, progress = False, True
            elif kernel.retry_mayfail and gfp & G.REPEAT:
                w.note("may_oom: __GFP_RETRY_MAYFAIL never OOM-kills")
                call_oom = False
        if call_oom:
            progress = self._out_of_memory(w, t, gfp) or nofail
            if w.halt is not None:
                return False
            if nofail and kernel.nofail_reserves and passes(w.free, order, None):
                return self._take(w, order, "from the reserves after OOM (__GFP_NOFAIL)")
        task = w.tasks[t]
        if (
            kernel.victim_reserves == "half_min"
            and task[STATUS] & VICTIM
            and (frame[8] == RES_OOM or gfp & G.NOMEMALLOC)
        ):
            w.note("fails: an OOM victim that already had its reserves does not loop")
            return False
        if progress:
            return _set_slot(_set_slot(frame, 6, 0), 2, ATTEMPT)
        if nofail:
            if kernel.nofail_reserves:
                rights = self._rights(w, t, gfp)
                if passes(w.free, order, rights.harder_floor):
                    return self._take(w, order, "from the ALLOC_HARDER fallback (__GFP_NOFAIL)")
            return _set_slot(frame, 2, ATTEMPT)
        w.note("fails: no progress possible")
        return False

    def _out_of_memory(self, w: _Work, t: int, gfp: int) -> bool:
        """``out_of_memory`` [5.1]: dying current, !__GFP_FS (4.7+), select and kill [5.2-5.3]."""
        if not self.scenario.oom.killer:
            w.note("out_of_memory: the OOM killer is disabled")
            return False
        task = w.tasks[t]
        if task[STATUS] & KILLED:
            w.tasks[t] = _with(task, STATUS, task[STATUS] | MEMDIE | VICTIM)
            w.note("out_of_memory: current is dying, it gets the reserves instead of a new kill")
            return True
        if self.kernel.retry == "v4.7" and not gfp & G.FS:
            w.note("out_of_memory: no __GFP_FS, no kill (progress reported)")
            return True
        candidates = [
            Candidate(
                alive=not task_[STATUS] & EXITED,
                kthread=info.kthread,
                oom_score_adj=info.oom_score_adj,
                victim=bool(task_[STATUS] & VICTIM),
                skip=bool(task_[STATUS] & SKIP),
                rss=task_[RSS],
            )
            for task_, info in zip(w.tasks, self.info, strict=True)
        ]
        chosen = select_victim(candidates, self.total_pages)
        if chosen == ABORT:
            waiting = [
                self.info[i].name
                for i, c in enumerate(candidates)
                if c.alive and c.victim and not c.skip
            ]
            w.note(f"out_of_memory: victim {', '.join(waiting)} has not exited, the scan aborts")
            return True
        if chosen == PANIC:
            w.halt = ("panic", t, "out_of_memory: no killable task left")
            w.note("out_of_memory: no eligible task, kernel panic")
            return False
        victim = w.tasks[chosen]
        w.tasks[chosen] = _with(victim, STATUS, victim[STATUS] | KILLED | MEMDIE | VICTIM)
        w.labels.add("oom-kill")
        w.note(f"out_of_memory: kills {self.info[chosen].name} (rss {victim[RSS]})")
        if not victim[FRAME]:
            self._settle(w, chosen)
        return True

    # --------------------------------------------------------- the reaper

    def _reap(self, s: State, v: int, log: list[str] | None) -> _Work:
        """One act of the OOM reaper on victim ``v`` [5.4], per the oom_reaper knob."""
        w = _Work(s, log)
        task = w.tasks[v]
        name = self.info[v].name
        status = task[STATUS] | REAPED
        if self.info[v].mm_reapable:
            w.free += task[RSS]
            status |= SKIP
            if self.kernel.victim_reserves == "all":
                status &= ~MEMDIE  # 4.6-era reaper: exit_oom_victim after a reap
            w.note(f"reaps {name}: {task[RSS]} pages freed ({w.free} free), MMF_OOM_SKIP")
            w.tasks[v] = _with(_with(task, STATUS, status), RSS, 0)
        elif self.reaper_mode == "reap_or_skip":
            w.note(f"cannot reap {name}, marks it MMF_OOM_SKIP anyway")
            w.tasks[v] = _with(task, STATUS, status | SKIP)
        else:
            w.note(f"cannot reap {name}, gives up without marking it")
            w.tasks[v] = _with(task, STATUS, status)
        return w

    # ------------------------------------------------------- mempool_alloc

    def _mempool_alloc_start(self, w: _Work, t: int, ins: Instr) -> list[tuple[int, _Work]]:
        """``mempool_alloc`` entry [1.3]: the forced flags per variant, then the first pass."""
        reason = self._atomic_reason(w, t)
        if reason and ins.gfp & G.DIRECT_RECLAIM:
            self._violation(w, t, f"mempool_alloc({G.format_gfp(ins.gfp)}) may sleep {reason}")
            return [(0, w)]
        gfp_mask = ins.gfp | G.NORETRY | G.NOWARN
        if self.kernel.mempool_nomemalloc != "if_pool_nonempty":
            gfp_mask |= G.NOMEMALLOC
        gfp_temp = gfp_mask & ~(G.DIRECT_RECLAIM | G.IO)
        if w.log is not None:
            w.note(f"mempool_alloc({self.pools[ins.pool].name}, {G.format_gfp(ins.gfp)})")
        return self._mempool_top(w, t, ins.pool, gfp_mask, gfp_temp)

    def _mempool_top(
        self, w: _Work, t: int, pool: int, gfp_mask: int, gfp_temp: int
    ) -> list[tuple[int, _Work]]:
        """*repeat_alloc:* NOMEMALLOC for this pass per the variant, then pool->alloc [1.3 A-C]."""
        policy = self.kernel.mempool_nomemalloc
        attempt = gfp_temp
        if policy == "if_pool_nonempty" and w.curr[pool] != 0:
            attempt |= G.NOMEMALLOC
        elif policy == "victim_if_empty" and w.curr[pool] == 0 and w.tasks[t][STATUS] & MEMDIE:
            attempt &= ~G.NOMEMALLOC
        order = self.pools[pool].order
        if w.log is not None:
            w.note(f"pool->alloc({G.format_gfp(attempt)})")
        inner = self._new_alloc(w, t, attempt, order)
        return self._mempool_inner(w, t, (pool, gfp_mask, gfp_temp), inner)

    def _mempool_inner(
        self, w: _Work, t: int, call: tuple[int, int, int], inner: tuple[Any, ...]
    ) -> list[tuple[int, _Work]]:
        out = []
        for c, (x, result) in enumerate(self._slowpath(w, t, inner)):
            if x.halt is None:
                if isinstance(result, tuple):
                    x.set(t, FRAME, ("mempool", *call, MP_ALLOC, result))
                elif result:
                    self._mempool_done(x, t, call[0], ("e", call[0]))
                else:
                    x.set(t, FRAME, ("mempool", *call, MP_CHECK, None))
            out.append((c, x))
        return out

    def _mempool_done(self, w: _Work, t: int, pool: int, value: Any) -> None:
        ins = self.info[t].program.instrs[w.tasks[t][PC]]
        if self._bind(w, t, ins.bind, value):
            self._advance(w, t)

    def _mempool_continue(
        self, w: _Work, t: int, frame: tuple[Any, ...]
    ) -> list[tuple[int, _Work]]:
        _, pool, gfp_mask, gfp_temp, stage, inner = frame
        call = (pool, gfp_mask, gfp_temp)
        if stage == MP_ALLOC:
            return self._mempool_inner(w, t, call, inner)
        if stage == MP_CHECK:
            return [(0, self._mempool_check(w, t, call))]
        if stage == MP_TOP:
            return self._mempool_top(w, t, pool, gfp_mask, gfp_temp)
        w.note(f"wakes on {self.pools[pool].name}->wait (refill or 5 s timeout)")
        return self._mempool_top(w, t, pool, gfp_mask, gfp_mask)

    def _mempool_check(self, w: _Work, t: int, call: tuple[int, int, int]) -> _Work:
        """Under pool->lock: take an element, retry with the full mask, fail or sleep [1.3 A]."""
        pool, gfp_mask, gfp_temp = call
        name = self.pools[pool].name
        if w.curr[pool] > 0:
            w.curr[pool] -= 1
            w.note(
                f"takes an element from {name} ({w.curr[pool]}/{self._pool_capacity(pool)} left)"
            )
            self._mempool_done(w, t, pool, ("e", pool))
        elif gfp_temp & G.DIRECT_RECLAIM != gfp_mask & G.DIRECT_RECLAIM:
            w.note(f"{name} empty: retry pool->alloc at once with the full mask")
            w.set(t, FRAME, ("mempool", pool, gfp_mask, gfp_mask, MP_TOP, None))
        elif not gfp_mask & G.DIRECT_RECLAIM:
            w.note(f"{name} empty and no direct reclaim: returns NULL")
            self._mempool_done(w, t, pool, NULL)
        else:
            w.note(f"{name} empty: sleeps on {name}->wait (5 s timeout, uninterruptible)")
            w.set(t, FRAME, ("mempool", pool, gfp_mask, gfp_mask, MP_WAIT, None))
        return w


# Which kind of shared resource a step names in ``Instr.arg``.
_RESOURCE_KIND = {**dict.fromkeys(LOCK_OPS, "lock"), **dict.fromkeys(COMPLETION_OPS, "comp")}

# A scope step -> its slot in a task's SCOPES tuple (noio, nofs, noreclaim).
_SCOPE_INDEX = {
    k.name: ("noio", "nofs", "noreclaim").index(k.scope)
    for k in STEP_KINDS.values()
    if k.scope is not None
}


def _rank_in(s: State, u: int) -> tuple[Any, ...]:
    """Where copy ``u`` sorts among its group in ``s``: its tuple (a step boundary's
    frame, (), first), then the locks it holds."""
    owners = s[2]
    held = tuple(lock for lock, o in enumerate(owners) if o == u) if u in owners else ()
    return (s[6][u], held)


def _set_slot(values: tuple[Any, ...], i: int, value: Any) -> tuple[Any, ...]:
    return (*values[:i], value, *values[i + 1 :])


def _what(model: KernelModel, value: Any) -> str:
    if value[0] == "p":
        return f"{1 << value[1]} page(s)"
    return f"an element of pool {model.pools[value[1]].name}"


def _done(value: int) -> str:
    return "all" if value == ALL else str(value)


_STATUS_WORDS = (
    (KILLED, "SIGKILL"),
    (MEMDIE, "TIF_MEMDIE"),
    (VICTIM, "OOM victim"),
    (SKIP, "MMF_OOM_SKIP"),
    (EXITED, "exited"),
)


def _status_words(bits: int) -> list[str]:
    return [word for bit, word in _STATUS_WORDS if bits & bit]


def _inside_loop(instrs: tuple[Instr, ...], pc: int) -> bool:
    return any(ins.op == JUMP and ins.arg <= pc < j for j, ins in enumerate(instrs))
