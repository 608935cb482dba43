"""One scenario under one kernel as a transition system the explorer can search.

The kernel's rules live in rooms named after the kernel's files:
``locking.py`` (mutex, spinlock, completion), ``mm/page_alloc.py``
(watermarks, slow path, retry), ``mm/vmscan.py`` (direct reclaim),
``mm/oom_kill.py`` (killer and reaper), ``mm/mempool.py``,
``mm/scopes.py`` (memalloc scopes) and ``sched.py`` (step dispatch,
unwinding, exit); ``state.py`` holds the state layout, once. This module
is the explorer's API over them (``initial``, ``successors``, labels,
hangs), the successor memo, the reductions (``reductions.py``) and the
queries the reporting layers ask instead of reading tuples:
``task_view`` (a ``TaskView`` and its ``Wait``, view.py), ``lock_owner``,
``free_pages``, ``curr_nr``, ``reclaimable_pages``, ``completed_all``,
``halted``, ``halt_reason``, ``restart_step`` and ``action_events`` (what
a move did, as events, for narration.py); revision 2 adds ``counter_value``,
``queue_items`` and ``handle_sent_to``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

# The rooms register their steps and frames with sched on import.
from mempool_cli.kernel import irq, locking, queue, wait
from mempool_cli.kernel.config import Config, TaskInfo
from mempool_cli.kernel.expand import OOM_FLAG, VICTIM_FLAG, Expander, moved_key
from mempool_cli.kernel.expand import place as place_ids
from mempool_cli.kernel.lockdep import Lockdep, Node
from mempool_cli.kernel.mm import mempool, oom_kill, page_alloc, scopes  # noqa: F401
from mempool_cli.kernel.mm.internal import (
    MAY_OOM,
    RECLAIM_LOCK,
    RECLAIM_WAIT,
    SPINNING,
    SlowPath,
    Stage,
)
from mempool_cli.kernel.packing import Packing
from mempool_cli.kernel.program import JUMP
from mempool_cli.kernel.reductions import (
    PartialOrder,
    StubbornSets,
    Symmetry,
    oom_reachable,
    permute,
    unpermute,
)
from mempool_cli.kernel.sched import task_moves
from mempool_cli.kernel.state import (
    ALL,
    ATOMIC,
    BOUNDARY,
    EXITED,
    FRAME,
    HANDLES,
    KILLED,
    MEMDIE,
    PC,
    REAPED,
    RSS,
    RUNNING,
    RWSEM_FREE,
    SCOPES,
    SKIP,
    STATUS,
    UNBOUND,
    VICTIM,
    Event,
    State,
    Work,
    hard_off,
    holds,
    sent_to,
    soft_off,
    with_field,
)
from mempool_cli.kernel.view import TaskView, Wait
from mempool_cli.scenario.kernels import Kernel
from mempool_cli.scenario.spec import Scenario

__all__ = ["REAPER", "Action", "KernelModel", "State", "TaskInfo", "TaskView", "Wait", "actor_of"]

Action = tuple[int, int]  # (task id, choice); task id REAPER for the OOM reaper

REAPER = -1


def actor_of(action: Action) -> int:
    """The actor taking ``action``: its task id, or REAPER for every act of the OOM reaper."""
    return action[0]


def _entry(program: Sequence[Any]) -> int:
    """Where a task starts: its first step, past the jumps in front of it (a ``loop`` whose
    body begins with ``break``), as ``sched.settle`` follows jumps after every step."""
    pc, guard = 0, 0
    while pc < len(program) and program[pc].op == JUMP and guard <= len(program):
        pc, guard = program[pc].arg, guard + 1
    return pc


_NO_LABELS: frozenset[str] = frozenset()


def _task_flags(task: tuple[Any, ...]) -> int:
    """What the Expander (expand.py) must know of a task tuple before it asks the memo."""
    frame = task[FRAME]
    oom = OOM_FLAG if type(frame) is SlowPath and frame.stage == MAY_OOM else 0
    victim = VICTIM_FLAG if task[STATUS] & (VICTIM | REAPED | EXITED) == VICTIM else 0
    return oom | victim


_MEMO_LIMIT = 50_000  # shared-state entries of the successor memo before it is cleared


class KernelModel(Config):
    """One scenario under one kernel: the explorer's Model.

    >>> from mempool_cli.scenario.kernels import PRESETS
    >>> from mempool_cli.scenario.spec import Memory, Scenario, Step, Task
    >>> sc = Scenario("x.yaml", "x", PRESETS["v4.5"], Memory(free=8, min=4),
    ...               (Task("t", "t", None, (Step("alloc_pages", gfp=0x2400000 | 0xC0, bind="p"),
    ...                                      Step("free_pages", target="p"))),))
    >>> m = KernelModel(sc)
    >>> s = m.initial()
    >>> [[key for key, _ in m.action_events(s, a)] for a, _, _ in m.successors(s)]
    [['alloc_pages', 'took_pages']]
    """

    def __init__(
        self,
        scenario: Scenario,
        kernel: Kernel | None = None,
        reduce: bool = True,
        *,
        symmetry: bool = True,
        partial_order: bool = True,
        stubborn: bool = True,
    ) -> None:
        """``reduce=False`` turns every reduction off; ``symmetry``, ``partial_order`` and
        ``stubborn`` turn off one each (for tests and benchmarks that compare them)."""
        super().__init__(scenario, kernel)
        self._initial: State | None = None  # (initial(), built on first use)
        self.reduce = reduce
        oom = oom_reachable(self)
        sym = Symmetry(self)
        self.symmetry: Symmetry | None = (
            # off with an rwsem: its holders and queue are not renamed (docs/model.md, "rwsem")
            sym if reduce and symmetry and sym.groups and not oom and not self.rwsems else None
        )
        self.partial_order = (
            PartialOrder.build(self) if reduce and partial_order and not oom else None
        )
        # docs/model.md, "Stubborn sets": off where the OOM killer can run, as partial order
        self.stubborn = StubbornSets.build(self) if reduce and stubborn and not oom else None
        # explore/model.py: under symmetry the search expands representatives
        self.representative_successors: Callable[[State], list[Any]] | None = (
            self._representative_successors if self.symmetry is not None else None
        )
        if self.symmetry is None:  # the search calls successors once a state: skip a frame
            self.successors = self._moves  # type: ignore[method-assign]
        self._twin: KernelModel | None = None
        self._lockdep: Lockdep | None = None  # built on first use (--potential)
        # (labels read the shared part only)
        self.packing = Packing(self.state_labels, _task_flags)
        # A state's moves by its key (expand.py), with a memo of each task's moves by the
        # shared part, the task's tuple and the task: a move reads only its own task and
        # the shared part, except out_of_memory.
        reduced = self.partial_order is not None or self.stubborn is not None
        self.expander = Expander(
            self.packing,
            self.symmetry,
            self._miss,
            self._out_of_memory,
            self._reduced if reduced else None,
            self._reaped if self.reaper_mode != "none" else None,
            memoize=not self.shares_cpus,
            memo_limit=_MEMO_LIMIT,
        )
        # the search calls these once a state: skip a frame
        self.packed_successors = self.expander.search_moves  # type: ignore[method-assign]
        self.packed_labels = self.expander.labels  # type: ignore[method-assign]

    # ------------------------------------------------------------ reductions

    @property
    def symmetric(self) -> bool:
        return self.symmetry is not None

    @property
    def groups(self) -> tuple[tuple[int, ...], ...]:
        return self.symmetry.groups if self.symmetry is not None else ()

    @property
    def local_pcs(self) -> tuple[frozenset[int], ...] | None:
        """Per task, the pcs the partial-order reduction takes alone (None: no such reduction)."""
        return self.partial_order.local_pcs if self.partial_order is not None else None

    @property
    def reductions(self) -> tuple[str, ...]:
        """The reductions this model applies, for reports."""
        return (
            ("symmetry",) * self.symmetric
            + ("partial-order",) * (self.partial_order is not None)
            + ("stubborn-sets",) * (self.stubborn is not None)
        )

    def canonical(self, s: State) -> State:
        """The representative of ``s`` (``s`` itself without symmetry reduction)."""
        return self.symmetry.canonical(s) if self.symmetry is not None else s

    representative = canonical

    def unreduced(self) -> KernelModel:
        """The same model without reductions: every move of every task, to replay and trace."""
        if self.symmetry is None and self.partial_order is None and self.stubborn is None:
            return self
        if self._twin is None:
            self._twin = KernelModel(self.scenario, self.kernel, reduce=False)
        return self._twin

    # --------------------------------------------------------- explorer API

    def initial(self) -> State:
        """Pools full, locks free, victims marked with SIGKILL pending.

        A victim marked at start is inside its first step already, so that
        step is not skipped by unwinding (docs/model.md, "victims at start").
        Built once: states are immutable, and the search and its replays ask again.
        """
        if self._initial is not None:
            return self._initial
        curr = tuple(self.pool_capacity(i) for i in range(len(self.pools)))
        tasks = []
        for t, spec in enumerate(self.scenario.tasks):
            status = (KILLED | MEMDIE | VICTIM) if spec.oom_victim else 0
            handles = (UNBOUND,) * len(self.info[t].program.handles)
            pc = _entry(self.info[t].program.instrs)
            task: tuple[Any, ...] = (pc, BOUNDARY, status, spec.rss, handles, (0, 0, 0), 0)
            if self.info[t].tracks_order:  # what it takes, in order, for on_fail: unwind
                task = (*task, ())
            tasks.append(task)
        state = (
            self.scenario.memory.free,
            curr,
            tuple(RWSEM_FREE if i in self.rwsems else -1 for i in range(len(self.locks))),
            # the completions' counts, then the counters' values (docs/model.md, "Counters")
            # (and the queues' items, revision 2: every queue starts empty)
            (
                *(c.initial for c in self.completions),
                *(c.initial for c in self.counters),
                *(() for _ in self.queues),
            ),
            tuple(e.pages for e in self.entries),
            None,
            tuple(tasks),
        )
        self._initial = state
        return state

    def successors(self, s: State) -> list[tuple[Action, State, frozenset[str]]]:
        """The moves the search takes from the real state ``s``, in a stable order.

        With symmetry reduction these are the moves of ``s``'s representative
        (one copy of each run of equal copies), each applied to ``s`` itself, in
        the representative's order: the k-th successor of ``s`` stands for the
        k-th of ``representative_successors(representative(s))``.
        """
        sym = self.symmetry
        if sym is None:  # (__init__ binds _moves in its place then)
            return self._moves(s)
        order = sym.order(s)
        if order is None:
            return self._moves(s)
        out = []
        for action, moved, labels in self._moves(permute(s, order)):
            slot = action[1] if action[0] == REAPER else action[0]
            real = (REAPER, order[slot]) if action[0] == REAPER else (order[slot], action[1])
            out.append((real, unpermute(s, moved, slot, order), labels))
        return out

    def _representative_successors(self, s: State) -> list[tuple[Action, State, frozenset[str]]]:
        """``successors`` of a representative with each next state made a representative
        (explore/model.py): what the search expands under symmetry reduction."""
        return self._moves(s, place=True)

    def _moves(self, s: State, place: bool = False) -> list[tuple[Action, State, frozenset[str]]]:
        """``_packed_moves`` of ``s``, with states for keys."""
        packing = self.packing
        unpack = packing.unpack
        return [
            (action, unpack(key), labels)
            for action, key, labels in self._packed_moves(packing.pack(s), place)
        ]

    # ------------------------------------------------------------ packed states
    # The search holds states as keys of interned ids (packing.py, docs/model.md,
    # "Packed states"); ``packed_initial``, ``packed_successors`` and
    # ``packed_labels`` are what it asks then (explore/model.py).

    def packed_initial(self) -> bytes:
        """The key of the state the search starts from (a representative under symmetry)."""
        return self.packing.pack(self.representative(self.initial()))

    def packed_successors(self, key: bytes) -> list[tuple[Action, bytes, frozenset[str]]]:
        """What the search expands: ``representative_successors`` under symmetry, else
        ``successors``, as keys. (__init__ binds the Expander's method in its place.)"""
        return self.expander.search_moves(key)

    def packed_labels(self, key: bytes) -> frozenset[str]:
        """``state_labels`` of the state a key stands for (they read its shared part only).
        (__init__ binds the Expander's method in its place.)"""
        return self.expander.labels(key)

    def unpack(self, key: bytes) -> State:
        return self.packing.unpack(key)

    def _packed_moves(
        self, key: bytes, place: bool = False
    ) -> list[tuple[Action, bytes, frozenset[str]]]:
        """The reduced moves of the state ``key`` stands for (expand.py's ``Expander``):
        one local move alone, the moves of a stubborn set of tasks, or every task's moves
        (one copy of each run of equal copies) and the reaper's. Lock owners keep the ids
        of the state. With ``place`` each next state is made a representative.

        A task's moves are memoized by the shared part, the task id and the task's tuple:
        a move reads only its own task and the shared part, except out_of_memory (and
        whether a task may run on a CPU a handler shares, asked before the memo).
        """
        return self.expander.moves(key, place)

    # What the Expander asks the model for: everything that reads the real state.

    def _miss(
        self, memo: dict[int, Any], sid: int, tids: Sequence[int], t: int
    ) -> tuple[tuple[Any, ...], ...]:
        """Task ``t``'s moves where the memo of shared id ``sid`` lacks them."""
        return self._memo_moves(memo, self.packing.state(sid, tids), tids, t)

    def _reduced(
        self, memo: dict[int, Any], sid: int, tids: Sequence[int], place: bool
    ) -> list[tuple[Action, bytes, frozenset[str]]] | None:
        """The moves of the partial-order reduction (one local move alone) or of a stubborn
        set (docs/model.md, "Stubborn sets"), or None where they take every task's."""
        packing = self.packing
        s = packing.state(sid, tids)
        placing = self.symmetry if place else None

        def moves_of(t: int) -> tuple[tuple[Any, ...], ...]:
            return self._memo_moves(memo, s, tids, t)

        if self.partial_order is not None:
            alone = self.partial_order.alone(s, moves_of)
            if alone is not None:
                t, (action, nsid, ntid, _, _, _, _) = alone
                return [(action, moved_key(packing, placing, tids, t, nsid, ntid), _NO_LABELS)]
        if self.stubborn is not None:
            chosen = self.stubborn.tasks(s, moves_of)
            if chosen is not None:
                return [
                    (action, moved_key(packing, placing, tids, t, nsid, ntid), _NO_LABELS)
                    for t in chosen
                    for action, nsid, ntid, _, _, _, _ in moves_of(t)
                ]
        return None

    def _out_of_memory(
        self, sid: int, tids: Sequence[int], t: int, place: bool
    ) -> list[tuple[Action, bytes, frozenset[str]]]:
        """Task ``t``'s moves inside out_of_memory, which reads (and may kill) every task:
        no memo."""
        s = self.packing.state(sid, tids)
        return [
            ((t, choice), self._settled(w.freeze(), t, place, s, tids), frozenset(w.labels))
            for choice, w in task_moves(self, s, t, None)
        ]

    def _reaped(
        self, sid: int, tids: Sequence[int], place: bool
    ) -> list[tuple[Action, bytes, frozenset[str]]]:
        """The OOM reaper's moves, one per victim it may still act on."""
        packing = self.packing
        s = packing.state(sid, tids)
        sym = self.symmetry
        out = []
        for v in range(len(tids)):
            if not packing.flags[tids[v]] & VICTIM_FLAG:
                continue
            if not (sym is not None and sym.repeats_prev(s, v)):
                w = oom_kill.reap(self, s, v, None)
                out.append(
                    ((REAPER, v), self._settled(w.freeze(), v, place, s, tids), frozenset(w.labels))
                )
        return out

    def _settled(self, nxt: State, t: int, place: bool, s: State, tids: Sequence[int]) -> bytes:
        """The key of ``nxt``, a move's result from ``s`` (whose task ids are ``tids``),
        made a representative when ``place`` (only ``t`` moved). A task tuple the move
        left alone is the very object of ``s`` and keeps its id without a lookup."""
        packing = self.packing
        before = s[6]
        task_id = packing.task_id
        new = [tids[i] if task is before[i] else task_id(task) for i, task in enumerate(nxt[6])]
        sid = packing.shared_id(nxt[:6])
        if place and self.symmetry is not None:
            sid = place_ids(packing, self.symmetry, sid, new, t)
        return packing.key(sid, new)

    def _memo_moves(
        self, memo: dict[int, Any], s: State, tids: Sequence[int], t: int
    ) -> tuple[tuple[Any, ...], ...]:
        """Task ``t``'s moves in ``s`` as (action, shared id, its new task id, labels,
        halt, its new tuple, free pages), memoized in ``memo`` (the moves of ``s``'s shared
        part) by the task's tuple id and task id. Whether a task may run on a CPU a
        handler shares reads other tasks' tuples, so it is asked before the memo
        (revision 2, kernel/irq.py).
        """
        if self.shares_cpus and not irq.may_run(self, s, t):
            return ()
        slot = tids[t] * len(tids) + t
        moves: tuple[tuple[Any, ...], ...] | None = memo.get(slot)
        if moves is not None:
            return moves
        packing = self.packing
        out = []
        for choice, w in task_moves(self, s, t, None):
            mine = w.tasks[t]
            out.append(
                (
                    (t, choice),
                    packing.shared_id((w.free, *w.parts(), w.halt)),
                    packing.task_id(mine),
                    frozenset(w.labels) or _NO_LABELS,
                    w.halt,
                    mine,
                    w.free,
                )
            )
        moves = memo[slot] = tuple(out)
        return moves

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
        """``livelock`` if some task spins, else ``deadlock``.

        Per the contract's Outcomes: mutex, completion and mempool waits
        (including mempool's timed retry) are asleep, and so is a spinlock
        busy-wait for this purpose; the reclaim / OOM / retry loop of a plain
        ``alloc_pages`` is spinning, and so is a task going round a ``loop``
        or an ``on_fail: retry`` without sleeping (``spinning_tasks``).
        """
        for s in states:
            for t, task in enumerate(s[6]):
                frame = task[FRAME]
                if (
                    type(frame) is SlowPath
                    and frame.stage in SPINNING
                    and not (self.shares_cpus and irq.held_off(self, s, t) >= 0)
                ):
                    return "livelock"  # (a task held off its CPU by a handler is not spinning)
        return "livelock" if self.loop_spinners(states) else "deadlock"

    def loop_spinners(self, states: Sequence[State]) -> tuple[int, ...]:
        """The tasks that go round a ``loop`` or an ``on_fail: retry`` in the hang ``states``
        (a bottom SCC) without sleeping (docs/model.md, "Spinning in a loop").

        Such a task stands at a step boundary inside a loop body or at a retry
        step in some state of the hang (at a boundary it always has a move, and
        in a bottom SCC every move stays in the hang, so it goes round), and is
        asleep in none: not in a mutex, completion or mempool wait, nor in a
        reclaim lock or completion wait.
        """
        out = []
        for t, info in enumerate(self.info):
            pcs = info.program.spin_pcs
            if not pcs:
                continue
            at_loop, asleep = False, False
            for s in states:
                task = s[6][t]
                frame = task[FRAME]
                if self.shares_cpus and irq.held_off(self, s, t) >= 0:
                    continue  # held off its CPU by a handler: neither asleep nor spinning
                if task[STATUS] & EXITED:
                    asleep = True
                elif not frame:
                    at_loop = at_loop or task[PC] in pcs
                elif type(frame) is not locking.SpinWait and not (
                    type(frame) is SlowPath and frame.stage in SPINNING
                ):
                    asleep = True
                if asleep:
                    break
            if at_loop and not asleep:
                out.append(t)
        return tuple(out)

    # ---------------------------------------------------------- queries
    # What the reporting layers may ask about a state; pure, no formatting.

    def task_names(self) -> tuple[str, ...]:
        return tuple(info.name for info in self.info)

    def actor_name(self, action: Action) -> str:
        return "oom_reaper" if action[0] == REAPER else self.info[action[0]].name

    def action_events(self, s: State, action: Action) -> tuple[Event, ...]:
        """What ``action`` does in ``s``, as events (narration.py words them)."""
        t, choice = action
        w: Work
        if t == REAPER:
            w = oom_kill.reap(self, s, choice, [])
        else:
            found = {c: w for c, w in task_moves(self, s, t, [])}
            if choice not in found:
                raise ValueError(f"action {action} is not enabled in this state")
            w = found[choice]
        return tuple(w.events or ())

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
            if holds(value):
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

    def _wait(self, frame: Any) -> Wait | None:
        """Decode a frame into what its task waits or spins on (None at a step boundary)."""
        if not frame:
            return None
        kind = type(frame)
        if kind is locking.LockWait:
            return Wait("mutex", frame.lock, "mutex_lock")
        if kind is locking.SpinWait:
            return Wait("spinlock", frame.lock, "spin_lock")
        if kind is locking.RwsemWait:
            return Wait("rwsem", frame.lock, "down_write" if frame.write else "down_read")
        if kind is locking.CompletionWait:
            return Wait("completion", frame.completion, "wait_for_completion")
        if kind is wait.CompletionTimeoutWait:
            return Wait("completion", frame.completion, "wait_for_completion_timeout")
        if kind is wait.EventWait:
            return Wait("counter", frame.counter, "wait_event")
        if kind is queue.QueueWait:
            return Wait("queue", frame.queue, "enqueue" if frame.full else "dequeue")
        if kind is SlowPath:
            return self._alloc_wait(frame, "alloc_pages", None)
        assert kind is mempool.MempoolAlloc
        if mempool.in_reclaim_wait(frame):
            return self._alloc_wait(frame.alloc, "mempool_alloc", frame.pool)
        return Wait(
            "pool",
            frame.pool,
            "mempool_alloc",
            pool=frame.pool,
            gfp=None if frame.alloc is None else frame.alloc.gfp_mask,
            pool_sleep=frame.stage == mempool.WAIT,
        )

    def _alloc_wait(self, frame: SlowPath, call: str, pool: int | None) -> Wait:
        """A slow path's wait: a reclaim lock or completion, else a page (spinning)."""
        gfp, stage = frame.gfp_mask, frame.stage
        if stage == RECLAIM_LOCK:
            lock = self.entry_locks[frame.entry][frame.lock_index]
            return Wait("reclaim-lock", lock, call, pool=pool, gfp=gfp)
        if stage == RECLAIM_WAIT:
            comp = self.entry_waits[frame.entry]
            return Wait("reclaim-completion", comp, call, pool=pool, gfp=gfp)
        return Wait("page", None, call, pool=pool, gfp=gfp, spinning=stage in SPINNING)

    def mempool_stage(self, s: State, t: int) -> str | None:
        """The label a task inside ``mempool_alloc`` resumes at (``Mp`` names), else None."""
        frame = s[6][t][FRAME]
        if type(frame) is mempool.MempoolAlloc:
            return mempool.Mp(frame.stage).name
        return None

    def alloc_stage(self, s: State, t: int) -> str | None:
        """The label a task inside a page allocation resumes at (``Stage`` names: ``retry``,
        ``after_reclaim``, ...), for ``alloc_pages`` and mempool's ``pool->alloc``; else None."""
        frame = s[6][t][FRAME]
        if type(frame) is mempool.MempoolAlloc:
            frame = frame.alloc
        if type(frame) is SlowPath:
            return Stage(frame.stage).name
        return None

    def scope_depths(self, s: State, t: int) -> tuple[int, int, int]:
        """How deep task ``t`` is in memalloc noio, nofs and noreclaim scopes [2.3]."""
        depths: tuple[int, int, int] = s[6][t][SCOPES]
        return depths

    def handle_value(self, s: State, t: int, slot: int) -> tuple[Any, ...]:
        """What task ``t``'s handle ``slot`` holds: ``("p", order)``, ``("e", pool)``, NULL,
        freed or unbound (kernel/state.py)."""
        value: tuple[Any, ...] = s[6][t][HANDLES][slot]
        return value

    def lock_owner(self, s: State, lock: int) -> int | None:
        """The id of the task holding ``lock`` in ``s``, or None when it is free."""
        owner = s[2][lock]
        if lock in self.rwsems:  # the writer, else the first reader
            holders = self.lock_holders(s, lock)
            return holders[0] if holders else None
        return None if owner == -1 else int(owner)

    def lock_holders(self, s: State, lock: int) -> tuple[int, ...]:
        """Every task holding ``lock`` in ``s``: its owner, or an rwsem's writer or readers
        (each once, in id order)."""
        owner = s[2][lock]
        if lock in self.rwsems:
            return (owner.writer,) if owner.writer != -1 else tuple(sorted(set(owner.readers)))
        return () if owner == -1 else (int(owner),)

    def rwsem_waits_for(self, s: State, t: int) -> tuple[tuple[int, ...], int | None]:
        """For task ``t`` queued on an rwsem: the holders it waits for (the writer; for a
        writer, the readers too) and the waiter it is queued behind (for a reader, the first
        writer ahead of it; for a writer, the waiter at the front), or None; ``((), None)``
        when it may take the lock now (a granted reader, a writer at the front of a free
        rwsem) or is not queued."""
        frame = s[6][t][FRAME]
        if type(frame) is not locking.RwsemWait:
            return (), None
        sem = s[2][frame.lock]
        queue = sem.queue
        if (t, frame.write) not in queue:
            return (), None
        ahead = queue[: queue.index((t, frame.write))]
        if sem.writer != -1:
            return (sem.writer,), None
        if frame.write:
            holders = tuple(sorted(set(sem.readers)))
            return holders, (ahead[0][0] if ahead else None)
        writers = [u for u, write in ahead if write]
        return (), (writers[0] if writers else None)

    def rwsem_writer(self, s: State, lock: int) -> int | None:
        """The task holding rwsem ``lock`` for write, or None."""
        if lock not in self.rwsems or s[2][lock].writer == -1:
            return None
        writer: int = s[2][lock].writer
        return writer

    def rwsem_queue(self, s: State, lock: int) -> tuple[tuple[int, bool], ...]:
        """An rwsem's waiters in FIFO order, ``(task, write)`` each (empty for other locks)."""
        if lock not in self.rwsems:
            return ()
        queue: tuple[tuple[int, bool], ...] = s[2][lock].queue
        return queue

    def cpu_host(self, t: int) -> int | None:
        """The task whose CPU handler ``t`` runs on (``interrupts:``, revision 2), or None."""
        host = self.info[t].interrupts
        return None if host < 0 else host

    def interrupted_by(self, s: State, t: int) -> int | None:
        """The handler running above task ``t`` on its CPU in ``s``, or None (kernel/irq.py)."""
        if not self.shares_cpus:
            return None
        h = irq.held_off(self, s, t)
        return None if h < 0 else h

    def handler_fired(self, s: State, t: int) -> bool:
        """Whether handler ``t`` has fired in ``s`` (it runs, or ran and returned)."""
        return bool(s[6][t][STATUS] & (RUNNING | EXITED))

    def irqs_off(self, s: State, t: int) -> tuple[int, int]:
        """How deep task ``t`` is in regions with hard irqs off and with softirqs off."""
        atomic = s[6][t][ATOMIC]
        return hard_off(atomic), soft_off(atomic)

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

    def reclaimable_left(self, s: State, entry: int) -> int:
        """Pages reclaimable entry ``entry`` still holds in ``s``."""
        left: int = s[4][entry]
        return left

    def done_count(self, s: State, comp: int) -> int:
        """Completion ``comp``'s count in ``s`` (``ALL`` = -1 after complete_all)."""
        done: int = s[3][comp]
        return done

    def counter_value(self, s: State, counter: int) -> int:
        """Counter ``counter``'s value in ``s`` (revision 2, ``counters:``)."""
        value: int = s[3][self.counter_base + counter]
        return value

    def queue_items(self, s: State, q: int) -> tuple[tuple[Any, ...], ...]:
        """Queue ``q``'s items in ``s``, oldest first (revision 2, ``queues:``): each a
        handle's value, ``("e", pool)`` / ``("p", order)``, or ``("work",)``."""
        items: tuple[tuple[Any, ...], ...] = s[3][self.queue_base + q]
        return items

    def handle_sent_to(self, s: State, t: int, slot: int) -> int | None:
        """The queue task ``t``'s handle ``slot`` was handed to (and not bound again since),
        or None."""
        q = sent_to(s[6][t][HANDLES][slot])
        return None if q < 0 else q

    def completed_all(self, s: State, comp: int) -> bool:
        """Whether ``complete_all`` has run on completion ``comp`` (every wait passes now)."""
        return bool(s[3][comp] == ALL)

    def halted(self, s: State) -> bool:
        """Whether a panic or a violation stopped the machine in ``s``."""
        return s[5] is not None

    def halt_reason(self, s: State) -> tuple[str, int, Event] | None:
        """``(kind, task id, event)`` of the halt in ``s``: kind ``panic`` or ``violation``."""
        halt: tuple[str, int, Event] | None = s[5]
        return halt

    def restart_step(self, s: State, t: int) -> State:
        """``s`` with task ``t`` back at the start of the step it is in.

        The task's pc stays on that step and only its frame goes, so the
        next move of ``t`` runs the step again from its entry (a hint tries
        a ``mempool_alloc`` again under another knob this way). Locks,
        pages and elements the interrupted attempt took stay as they are;
        the state is not made canonical.
        """
        tasks = s[6]
        return (*s[:6], (*tasks[:t], with_field(tasks[t], FRAME, BOUNDARY), *tasks[t + 1 :]))

    # ------------------------------------------------- potential lock orders

    @property
    def lockdep(self) -> Lockdep:
        """The lock-order rules of ``mpsim run --potential`` for this model (kernel/lockdep.py)."""
        if self._lockdep is None:
            self._lockdep = Lockdep(self)
        return self._lockdep

    def lock_orders(self, s: State, action: Action) -> list[tuple[Node, Node]]:
        """The orders ``(held, taken)`` lockdep would record for ``action`` in ``s``
        (kernel/lockdep.py); none for the OOM reaper, whose only lock is a trylock."""
        if action[0] == REAPER:
            return []
        return self.lockdep.orders(s, action[0], self.action_events(s, action))
