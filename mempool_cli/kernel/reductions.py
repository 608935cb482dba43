"""The state-space reductions, kept out of the kernel's semantics (docs/model.md, "Reductions").

``Symmetry``: the copies of a ``count:`` task are interchangeable, so the
search keeps one representative per class of states that differ only by
which copy is which. ``PartialOrder``: a step no other task can see is
taken alone. ``StubbornSets``: in a state, the moves of a set of tasks
that no other task can interfere with are explored, the others' later
(docs/model.md, "Stubborn sets"). Each keeps the outcome set exactly; the
property tests compare each with no reduction.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

from mempool_cli.kernel.config import Config
from mempool_cli.kernel.mm.internal import MAY_OOM, SlowPath
from mempool_cli.kernel.program import (
    COMPLETION_OPS,
    COUNTER_OPS,
    IF,
    JUMP,
    LOCK_OPS,
    QUEUE_OPS,
    UNWIND,
    Instr,
)
from mempool_cli.kernel.sched import IRQ_UNIT, SCOPE_INDEX
from mempool_cli.kernel.state import EXITED, FRAME, PC, STATUS, State
from mempool_cli.scenario import gfp as G

__all__ = [
    "PartialOrder",
    "StubbornSets",
    "Symmetry",
    "oom_reachable",
    "permute",
    "unpermute",
]

# Which kind of shared resource a step names in ``Instr.arg``.
_RESOURCE_KIND = {
    **dict.fromkeys(LOCK_OPS, "lock"),
    **dict.fromkeys(COMPLETION_OPS, "comp"),
    **dict.fromkeys(COUNTER_OPS, "counter"),
    # revision 2: a queue is shared like a counter (its items name no task, so symmetry
    # carries them untouched; docs/model.md, "Queues")
    **dict.fromkeys(QUEUE_OPS, "queue"),
}
_COUNTER_CONDS = frozenset(("eq", "ne", "lt", "ge"))  # an `if` on a counter reads it
_CLOSURE_LIMIT = 50_000  # pc combinations whose closures StubbornSets keeps before clearing


def _resource(ins: Instr) -> str | None:
    """The kind of shared thing an instruction names (its id is ``ins.arg``), or None."""
    if ins.op == IF:
        return "counter" if ins.cond in _COUNTER_CONDS else None
    return _RESOURCE_KIND.get(ins.op)


def oom_reachable(k: Config) -> bool:
    """Whether any task can ever reach ``out_of_memory`` with the killer on.

    Only a plain ``alloc_pages`` that may reclaim and may retry gets
    there (mempool forces __GFP_NORETRY [1.3]). When it cannot, no
    rule of the model depends on a task's position, and copies of a
    ``count:`` task are interchangeable; otherwise the OOM killer's
    "ties go to the task declared last" [5.2] tells them apart.
    """
    if not k.scenario.oom.killer:
        return False
    return any(
        ins.op == "alloc_pages" and ins.gfp & G.DIRECT_RECLAIM and not ins.gfp & G.NORETRY
        for info in k.info
        for ins in info.program.instrs
    )


class Symmetry:
    """Representatives under permutations of the copies of each ``count:`` task.

    Within each group, copies are ordered by (their tuple, the locks they
    own); lock owners and the halt record are renamed to match.
    """

    def __init__(self, k: Config) -> None:
        by_base: dict[str, list[int]] = {}
        for t, spec in enumerate(k.scenario.tasks):
            if spec.index is not None:
                by_base.setdefault(spec.base, []).append(t)
        self.groups = tuple(tuple(ids) for ids in by_base.values() if len(ids) > 1)
        # per task: (its group, its position there), or None for a task in no group
        self.place_of: list[tuple[tuple[int, ...], int] | None] = [None] * len(k.scenario.tasks)
        for ids in self.groups:
            for p, t in enumerate(ids):
                self.place_of[t] = (ids, p)
        # (a << 32 | b) -> how task tuple id a compares with id b: _LESS, _MORE or _SAME
        self.order_of_ids: dict[int, int] = {}
        # per task: the copy before it in its group, or -1 (first copy, or no group)
        prev_copy = [-1] * len(k.scenario.tasks)
        for ids in self.groups:
            for before, t in pairwise(ids):
                prev_copy[t] = before
        self.prev_copy = tuple(prev_copy)

    def order(self, s: State) -> list[int] | None:
        """The real task in each slot of ``s``'s representative, or None when ``s`` is one.

        Within each group, copies sort by (their tuple, the locks they own),
        stably, so equal copies keep their order.
        """
        order: list[int] | None = None
        for group in self.groups:
            ranked = sorted(group, key=lambda t: rank_in(s, t))
            if ranked != list(group):
                if order is None:
                    order = list(range(len(s[6])))
                for slot, t in zip(group, ranked, strict=True):
                    order[slot] = t
        return order

    def canonical(self, s: State) -> State:
        """The representative of ``s``: two states that differ only by which copy is which
        map to one state."""
        order = self.order(s)
        return s if order is None else permute(s, order)

    def repeats_prev(self, s: State, t: int) -> bool:
        """Whether copy ``t`` repeats the copy before it in the canonical state ``s``.

        Two copies of a ``count:`` task with equal tuples that hold no lock
        are swapped by a symmetry that fixes ``s``, so each move of the later
        one leads to the representative the same move of the earlier one
        leads to. In canonical order such copies sit side by side (equal
        rank), so only the first of each run is expanded; the set of
        successor representatives is unchanged, only repeats go.
        """
        prev = self.prev_copy[t]
        if prev < 0:
            return False
        tasks, owners = s[6], s[2]
        return tasks[prev] == tasks[t] and t not in owners and prev not in owners

    def place(
        self,
        shared: tuple[Any, ...],
        tids: list[int],
        t: int,
        pc_of: list[int],
        task_of: list[tuple[Any, ...]],
    ) -> tuple[Any, ...]:
        """Make a state canonical when only task ``t`` changed since a canonical state, on
        ids and in place: the copy in ``t``'s slot moves to its place in its group, the
        copies between shift by one towards the slot it left, and the state's shared part
        is returned with lock owners and the halt record following their tasks (the very
        object given when nothing it names moved).

        The state is given as its ``shared`` part and its task ids ``tids``, which are
        rearranged (packing.py: ``pc_of`` and ``task_of`` map an id to its pc and tuple).
        A move changes its own task's tuple and the locks that task holds, and nothing
        else that ranks tasks (no OOM kill happens in a symmetric model), so one
        insertion step restores the order. The property tests check this against
        ``canonical``.
        """
        place_of = self.place_of
        where = place_of[t]
        if where is None:
            return shared
        ids, p = where
        owners = shared[2]
        known = self.order_of_ids
        me = tids[t]
        mine = pc_of[me]
        # Walk t up or down past the copies that rank before / after it; the
        # pcs decide most comparisons, the full rank only breaks pc ties.
        q = p
        last = len(ids) - 1
        while q < last:
            u = ids[q + 1]
            other = tids[u]
            pc = pc_of[other]
            if pc < mine or (pc == mine and _ranks_before(owners, task_of, known, other, u, me, t)):
                q += 1
            else:
                break
        if q == p:
            while q > 0:
                u = ids[q - 1]
                other = tids[u]
                pc = pc_of[other]
                if mine < pc or (
                    pc == mine and _ranks_before(owners, task_of, known, me, t, other, u)
                ):
                    q -= 1
                else:
                    break
            if q == p:
                return shared
        if p < q:
            for i in range(p, q):
                tids[ids[i]] = tids[ids[i + 1]]
            lo, hi = p, q
        else:
            for i in range(p, q, -1):
                tids[ids[i]] = tids[ids[i - 1]]
            lo, hi = q, p
        tids[ids[q]] = me
        halt = shared[5]
        if not _names_any(owners, halt, place_of, ids, lo, hi):
            return shared
        moved = ids[lo : hi + 1]
        order = list(moved)  # the slots' old tasks, in their new order
        order.insert(q - lo, order.pop(p - lo))
        slot_of = {u: moved[i] for i, u in enumerate(order)}
        if halt is not None:
            halt = (halt[0], slot_of.get(halt[1], halt[1]), halt[2])
        renamed = tuple(slot_of.get(o, o) if type(o) is int else o for o in owners)
        return (*shared[:2], renamed, shared[3], shared[4], halt)


_MORE, _LESS, _SAME = 0, 1, 2  # Symmetry.order_of_ids


def _ranks_before(
    owners: tuple[Any, ...],
    task_of: list[tuple[Any, ...]],
    known: dict[int, int],
    a: int,
    u: int,
    b: int,
    v: int,
) -> bool:
    """``rank_in(s, u) < rank_in(s, v)`` where copy u has task id ``a`` and copy v ``b``;
    ``known`` keeps how two ids' tuples compared (interned tuples do not change)."""
    if a != b:
        pair = a << 32 | b
        order = known.get(pair, -1)
        if order < 0:
            mine, other = task_of[a], task_of[b]
            order = _SAME if mine == other else _LESS if mine < other else _MORE
            known[pair] = order
        if order != _SAME:
            return order == _LESS
    if u not in owners and v not in owners:
        return False  # equal ranks
    return _held(owners, u) < _held(owners, v)


def _names_any(
    owners: tuple[Any, ...],
    halt: tuple[Any, ...] | None,
    place_of: list[tuple[tuple[int, ...], int] | None],
    ids: tuple[int, ...],
    lo: int,
    hi: int,
) -> bool:
    """Whether a lock owner or the halt record names a copy in ``ids[lo..hi]``."""
    for o in owners:
        if type(o) is int and o >= 0:
            where = place_of[o]
            if where is not None and where[0] is ids and lo <= where[1] <= hi:
                return True
    if halt is not None:
        where = place_of[halt[1]]
        return where is not None and where[0] is ids and lo <= where[1] <= hi
    return False


def _held(owners: tuple[Any, ...], u: int) -> tuple[int, ...]:
    """The locks copy ``u`` holds, in lock order."""
    return tuple(lock for lock, o in enumerate(owners) if o == u) if u in owners else ()


def permute(s: State, order: list[int]) -> State:
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


def unpermute(real: State, moved: State, slot: int, order: list[int]) -> State:
    """The real state after a move that took ``permute(real, order)`` to ``moved``.

    Only the task in ``slot`` and the shared part changed; lock owners and
    the halt record are named by slot in ``moved`` and by task in the result.
    """
    t = order[slot]
    tasks = real[6]
    halt = moved[5]
    if halt is not None:
        halt = (halt[0], order[halt[1]], halt[2])
    return (
        moved[0],
        moved[1],
        tuple(order[o] if o >= 0 else -1 for o in moved[2]),
        moved[3],
        moved[4],
        halt,
        (*tasks[:t], moved[6][slot], *tasks[t + 1 :]),
    )


def rank_in(s: State, u: int) -> tuple[Any, ...]:
    """Where copy ``u`` sorts among its group in ``s``: its tuple (a step boundary's
    frame, (), first), then the locks it holds."""
    return (s[6][u], _held(s[2], u))


class PartialOrder:
    """Steps no other task can see, taken alone (docs/model.md, "Partial-order reduction")."""

    def __init__(self, local_pcs: tuple[frozenset[int], ...]) -> None:
        self.local_pcs = local_pcs

    @staticmethod
    def build(k: Config) -> PartialOrder | None:
        """Per task, the pcs of steps that read and write nothing another task can see.

        Such a step (a memalloc scope, a lock or completion step, trylocks
        included, whose lock or completion no other task and no reclaimable
        entry names, or an ``if``: whether a handle is null or the task holds
        a lock only the task itself can change) is independent of every other
        move. Not on a CPU an interrupt handler shares (revision 2): there the
        handler's firing disables the task's steps.
        None when no task has one.
        """
        users: dict[tuple[str, int], set[int]] = {}
        for t, info in enumerate(k.info):
            for ins in info.program.instrs:
                kind = _resource(ins)
                if kind is not None:
                    users.setdefault((kind, ins.arg), set()).add(t)
        for locks in (*k.entry_locks, *k.entry_trylocks):
            for lock in locks:
                users.setdefault(("lock", lock), set()).add(-1)
        for comp in k.entry_waits:
            if comp >= 0:
                users.setdefault(("comp", comp), set()).add(-1)
        out = []
        for t, info in enumerate(k.info):
            pcs: set[int] = set()
            if k.handlers_of[t] or info.interrupts >= 0:
                # revision 2: a handler firing holds the task it interrupts off its CPU (and a
                # hard irq a softirq handler), so no step on a shared CPU is independent
                out.append(frozenset(pcs))
                continue
            for pc, ins in enumerate(info.program.instrs):
                kind = _resource(ins)
                if ins.fail == UNWIND:
                    continue  # its failure gives back everything, shared locks and pages too
                private = kind is not None and users[(kind, ins.arg)] == {t}
                # an `if` tests what only t can change: its handles, the locks it holds
                # (an `if` on a counter: only when the counter is private, as above)
                if ins.op in SCOPE_INDEX or (ins.op == IF and kind is None) or private:
                    pcs.add(pc)
            out.append(frozenset(pcs))
        return PartialOrder(tuple(out)) if any(out) else None

    def alone(
        self, s: State, moves_of: Callable[[int], tuple[tuple[Any, ...], ...]]
    ) -> tuple[int, tuple[Any, ...]] | None:
        """The task and the one move to take alone in ``s``, or None.

        A task at a step boundary whose step is local, with one move that
        raises no label, halts nothing and ends at a later step boundary,
        is independent of every other move and stays enabled until taken,
        so exploring it alone keeps every outcome: the argument, with the
        cycle proviso (the pc rises), is in docs/model.md. Unkilled tasks
        only: where the OOM killer can run there is no reduction at all.
        ``moves_of(t)`` gives task t's moves as the model memoizes them.
        """
        tasks = s[6]
        for t, pcs in enumerate(self.local_pcs):
            task = tasks[t]
            if task[1] or task[2] or task[PC] not in pcs:
                continue
            moves = moves_of(t)
            if len(moves) != 1:
                continue
            move = moves[0]  # (action, shared id, task id, labels, halt, new tuple, free)
            labels, halt, mine = move[3], move[4], move[5]
            if halt is not None or labels or mine[1] or mine[PC] <= task[PC]:
                continue
            return t, move
        return None


class StubbornSets:
    """Persistent sets over a kernel-aware independence relation (docs/model.md,
    "Stubborn sets").

    Each step touches some of the shared things of a state, as bits of a mask:
    one bit per lock (its ``owners`` entry, an rwsem's whole ``RwsemState``
    included), one per ``done`` slot (a completion's count, a counter's value, a
    queue's items), and one bit ``mem`` for the page allocator as a whole (free
    pages, every pool's ``curr_nr``, every reclaimable entry's pages). ``foot[t][pc]``
    is what task t's step at pc (its start and every resume of its frame) can
    read or write; ``future[t][pc]`` is the union over every pc the program can
    reach from pc, and the exit's ``mem`` when the task has rss to give back.
    Two tasks whose masks are disjoint commute: a move reads and writes only its
    own task tuple and the shared things in its mask (kernel/state.py; the OOM
    killer, the reaper and interrupt handlers are the exceptions, and where they
    can act there is no reduction).
    """

    def __init__(
        self,
        foot: tuple[tuple[int, ...], ...],
        future: tuple[tuple[int, ...], ...],
        exit_mask: tuple[int, ...],
        spin_pcs: tuple[frozenset[int], ...],
        watch_free: bool,
    ) -> None:
        self.ends = tuple(len(f) - 1 for f in foot)  # each program's length (foot has its exit)
        self.foot = foot
        self.future = future
        self.exit_mask = exit_mask
        self.spin_pcs = spin_pcs
        self.watch_free = watch_free
        self._closures: dict[tuple[int, ...], tuple[tuple[int, int], ...]] = {}

    @staticmethod
    def build(k: Config) -> StubbornSets | None:
        """The masks of every task's steps, or None where the relation is not known.

        None on a CPU an interrupt handler shares (a handler's firing disables the
        task it interrupts, reading other tasks' tuples: kernel/irq.py). The caller
        also keeps it off where the OOM killer is reachable (the killer reads and
        writes every task). A step kind the table below does not name touches
        everything.
        """
        if k.shares_cpus:
            return None
        locks = len(k.locks)
        done = len(k.completions) + len(k.counters) + len(k.queues)
        mem = 1 << (locks + done)
        everything = (mem << 1) - 1

        def slot(d: int) -> int:
            return 1 << (locks + d)

        # reclaim takes each entry's locks and trylocks and waits on its completion
        reclaim = mem
        for e in range(len(k.entries)):
            for lock in (*k.entry_locks[e], *k.entry_trylocks[e]):
                reclaim |= 1 << lock
            if k.entry_waits[e] >= 0:
                reclaim |= slot(k.entry_waits[e])

        def mask(ins: Instr) -> int:
            op = ins.op
            if op == JUMP or op in SCOPE_INDEX:
                return 0
            if op == IF:
                if ins.cond == "held":
                    return 1 << ins.arg
                return slot(k.counter_base + ins.arg) if ins.cond in _COUNTER_CONDS else 0
            if op in LOCK_OPS:
                return 1 << ins.arg
            if op in COMPLETION_OPS:
                return slot(ins.arg)
            if op in COUNTER_OPS:
                return slot(k.counter_base + ins.arg)
            if op in QUEUE_OPS:
                return slot(k.queue_base + ins.arg)
            if op in IRQ_UNIT:  # local_irq_* / local_bh_*: the task's own atomic field
                return 0
            if op in ("alloc_pages", "mempool_alloc"):
                return reclaim
            if op in ("free_pages", "mempool_free"):
                return mem  # (a handle may come from a queue: any pool)
            return everything

        foot, future, exit_mask, spin = [], [], [], []
        for t, info in enumerate(k.info):
            instrs = info.program.instrs
            n = len(instrs)
            # giving back everything held (on_fail: unwind) touches its locks and pages
            held_locks = 0
            for ins in instrs:
                if ins.op in LOCK_OPS:
                    held_locks |= 1 << ins.arg
            mine = [mask(ins) | (mem | held_locks if ins.fail == UNWIND else 0) for ins in instrs]
            at_exit = mem if k.scenario.tasks[t].rss else 0
            nexts: list[tuple[int, ...]] = []
            for pc, ins in enumerate(instrs):
                if ins.op == JUMP:
                    targets = {ins.arg, ins.leave}
                elif ins.op == IF:
                    targets = {pc + 1, ins.orelse}
                else:
                    targets = {pc + 1, ins.fail, n if ins.fail == UNWIND else -1}
                nexts.append(tuple(p for p in targets if 0 <= p <= n))
            reach = [*mine, at_exit]
            changed = True
            while changed:  # a fixpoint over the program's flow graph (loops included)
                changed = False
                for pc in range(n - 1, -1, -1):
                    m = reach[pc]
                    for p in nexts[pc]:
                        m |= reach[p]
                    if m != reach[pc]:
                        reach[pc], changed = m, True
            foot.append((*mine, at_exit))
            future.append(tuple(reach))
            exit_mask.append(at_exit)
            spin.append(info.program.spin_pcs)
        # Worth its cost only where some step of some task touches nothing another task
        # ever touches: only then can a set leave that other task out from the start.
        # Where every step meets every other task's program (the copies of a count: task,
        # or tasks that all allocate), the sets it finds later are few and small, and
        # asking for them costs more than the states they save (docs/model.md).
        if not any(
            step and not step & future[u][0]
            for t in range(len(foot))
            for step in foot[t][:-1]
            for u in range(len(foot))
            if u != t
        ):
            return None
        return StubbornSets(
            tuple(foot), tuple(future), tuple(exit_mask), tuple(spin), k.wmark_min > 0
        )

    def closures(self, pcs: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
        """Per seed task, ``(seed, the tasks of the closure of {seed} as a bit mask)`` where
        the tasks stand at ``pcs`` (-1: exited), fewest tasks first, leaving out the
        closures of every live task (often all of them: then no task's moves are asked).

        u joins when what u may ever touch from where it is (``future``) meets what a
        member's step touches (``foot``). The closure depends on the pcs alone, so it is
        computed once per combination of them.
        """
        got = self._closures.get(pcs)
        if got is not None:
            return got
        n = len(pcs)
        alive = sum(1 << u for u, pc in enumerate(pcs) if pc >= 0)
        future = [self.future[u][pc] if pc >= 0 else 0 for u, pc in enumerate(pcs)]
        # conflicts[v]: the tasks whose future meets v's step
        conflicts = []
        for v, pc in enumerate(pcs):
            reads = self.foot[v][pc] if pc >= 0 else 0
            conflicts.append(sum(1 << u for u in range(n) if u != v and future[u] & reads))
        out = []
        for seed in range(n):
            if pcs[seed] < 0:
                continue
            members, todo = 1 << seed, 1 << seed
            while todo:
                v = todo.bit_length() - 1
                todo &= ~(1 << v)
                new = conflicts[v] & ~members
                members |= new
                todo |= new
            if members != alive:  # (one with every live task leaves nobody out: never used)
                out.append((seed, members))
        out.sort(key=lambda entry: (bin(entry[1]).count("1"), entry[0]))
        if len(self._closures) > _CLOSURE_LIMIT:
            self._closures.clear()
        got = self._closures[pcs] = tuple(out)
        return got

    def tasks(
        self, s: State, moves_of: Callable[[int], tuple[tuple[Any, ...], ...]]
    ) -> tuple[int, ...] | None:
        """The tasks whose moves to explore in ``s``, or None for all.

        The first closure (``closures``, fewest tasks first) whose seed has a move
        and that leaves out a task with a move, where every member either has no
        move (it stays so: what it waits on is written only inside the closure) or
        stands at a step boundary with moves that each end at a later boundary of
        the same program (pc rises: the cycle proviso), halt nothing, raise no
        label, leave its status alone (no exit), keep the free pages zero or not
        zero (depletion), and keep it inside or outside a loop body (``spin_pcs``:
        what ``loop_spinners`` reads). docs/model.md has the argument.
        ``moves_of(t)`` gives task t's moves as the model memoizes them.
        """
        tasks = s[6]
        for task in tasks:
            if task[STATUS] & ~EXITED:
                return None  # a victim (the reaper acts on it) or a killed task
        n = len(tasks)
        pcs = tuple(-1 if task[STATUS] else task[PC] for task in tasks)
        closures = self.closures(pcs)
        if not closures:
            return None
        # 0: not looked at; 1: eligible with moves; 2: no move (blocked); 3: not eligible
        verdict = [0] * n
        zero = s[0] == 0

        def judge(v: int) -> int:
            if verdict[v]:
                return verdict[v]
            task = tasks[v]
            frame = task[FRAME]
            if not frame and task[PC] >= self.ends[v]:
                verdict[v] = 3  # do_exit: the status changes
                return 3
            if type(frame) is SlowPath and frame.stage == MAY_OOM:
                verdict[v] = 3  # out_of_memory: the model does not memoize it
                return 3
            mv = moves_of(v)
            if not mv:
                verdict[v] = 2
            elif frame:
                verdict[v] = 3
            else:
                verdict[v] = 1
                pc, status = task[PC], task[STATUS]
                spin = self.spin_pcs[v]
                looped = pc in spin
                for move in mv:
                    # (action, shared id, task id, labels, halt, new tuple, free pages)
                    mine = move[5]
                    if (
                        move[4] is not None
                        or move[3]
                        or mine[FRAME]
                        or mine[PC] <= pc
                        or mine[STATUS] != status
                        or (mine[PC] in spin) != looped
                        or (self.watch_free and (move[6] == 0) != zero)
                    ):
                        verdict[v] = 3
                        break
            return verdict[v]

        for seed, members in closures:
            if judge(seed) != 1:
                continue
            if not all(judge(u) != 3 for u in range(n) if members >> u & 1):
                continue
            # a task at a step boundary always has a move (the step's start, or do_exit)
            if any(
                pcs[u] >= 0 and (not tasks[u][FRAME] or judge(u) != 2)
                for u in range(n)
                if not members >> u & 1
            ):
                return tuple(u for u in range(n) if members >> u & 1 and verdict[u] == 1)
        return None
