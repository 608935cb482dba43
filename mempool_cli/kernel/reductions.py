"""The two state-space reductions, kept out of the kernel's semantics (docs/model.md, "Reductions").

``Symmetry``: the copies of a ``count:`` task are interchangeable, so the
search keeps one representative per class of states that differ only by
which copy is which. ``PartialOrder``: a step no other task can see is
taken alone. Both keep the outcome set exactly; the property tests
compare each with no reduction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

from mempool_cli.kernel.config import Config
from mempool_cli.kernel.program import (
    COMPLETION_OPS,
    COUNTER_OPS,
    IF,
    LOCK_OPS,
    QUEUE_OPS,
    UNWIND,
    Instr,
)
from mempool_cli.kernel.sched import SCOPE_INDEX
from mempool_cli.kernel.state import PC, State
from mempool_cli.scenario import gfp as G

__all__ = [
    "PartialOrder",
    "Symmetry",
    "oom_reachable",
    "permute",
    "permute_shared",
    "rotate",
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
        self.group_of = {t: (ids, p) for ids in self.groups for p, t in enumerate(ids)}
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

    def place_order(
        self,
        owners: tuple[Any, ...],
        tids: Sequence[int],
        t: int,
        pc_of: Sequence[int],
        task_of: Sequence[tuple[Any, ...]],
    ) -> tuple[tuple[int, ...], int, int] | None:
        """How to make a state canonical when only task ``t`` changed since a canonical
        state: ``(group, p, q)``, the copy at position p of the group moves to position q
        (``rotate`` does it), or None when the state is canonical already.

        The state is given as its lock ``owners`` and its task ids ``tids`` (packing.py:
        ``pc_of`` and ``task_of`` map an id to its pc and tuple). A move changes its own
        task's tuple and the locks that task holds, and nothing else that ranks tasks (no
        OOM kill happens in a symmetric model), so one insertion step restores the order.
        The property tests check this against ``canonical``.
        """
        where = self.group_of.get(t)
        if where is None:
            return None
        ids, p = where
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
            if pc < mine or (pc == mine and _ranks_before(owners, task_of, other, u, me, t)):
                q += 1
            else:
                break
        if q == p:
            while q > 0:
                u = ids[q - 1]
                other = tids[u]
                pc = pc_of[other]
                if mine < pc or (pc == mine and _ranks_before(owners, task_of, me, t, other, u)):
                    q -= 1
                else:
                    break
            if q == p:
                return None
        return ids, p, q


def rotate(
    shared: tuple[Any, ...], tids: list[int], ids: tuple[int, ...], p: int, q: int
) -> tuple[tuple[Any, ...], list[int]]:
    """``permute`` for one insertion step, on a shared part and task ids: the copy in slot
    ``ids[p]`` moves to slot ``ids[q]`` and the copies between shift by one towards p's
    slot; lock owners and the halt record follow their tasks."""
    lo, hi = (p, q) if p < q else (q, p)
    span = [tids[ids[i]] for i in range(lo, hi + 1)]
    span.insert(q - lo, span.pop(p - lo))
    new = list(tids)
    for i, tid in enumerate(span, lo):
        new[ids[i]] = tid
    moved = ids[lo : hi + 1]
    owners, halt = shared[2], shared[5]
    if not any(o in moved for o in owners) and (halt is None or halt[1] not in moved):
        return shared, new
    order = list(moved)  # the slots' old tasks, in their new order
    order.insert(q - lo, order.pop(p - lo))
    slot_of = {u: moved[i] for i, u in enumerate(order)}
    if halt is not None:
        halt = (halt[0], slot_of.get(halt[1], halt[1]), halt[2])
    owners = tuple(slot_of.get(o, o) if type(o) is int else o for o in owners)
    return (*shared[:2], owners, shared[3], shared[4], halt), new


def _ranks_before(
    owners: tuple[Any, ...], task_of: Sequence[tuple[Any, ...]], a: int, u: int, b: int, v: int
) -> bool:
    """``rank_in(s, u) < rank_in(s, v)`` where copy u has task id ``a`` and copy v ``b``."""
    if a != b:
        mine, other = task_of[a], task_of[b]
        if mine != other:
            return bool(mine < other)
    if u not in owners and v not in owners:
        return False  # equal ranks
    return _held(owners, u) < _held(owners, v)


def _held(owners: tuple[Any, ...], u: int) -> tuple[int, ...]:
    """The locks copy ``u`` holds, in lock order."""
    return tuple(lock for lock, o in enumerate(owners) if o == u) if u in owners else ()


def permute(s: State, order: list[int]) -> State:
    """The state whose task in slot i is the task ``order[i]`` of ``s``, owners renamed."""
    return (*permute_shared(s, order), tuple(s[6][t] for t in order))


def permute_shared(s: tuple[Any, ...], order: list[int]) -> tuple[Any, ...]:
    """The shared part (the first six fields) of ``permute(s, order)``: lock owners and
    the halt record renamed."""
    new_id = [0] * len(order)
    for slot, t in enumerate(order):
        new_id[t] = slot
    halt = s[5]
    if halt is not None:
        halt = (halt[0], new_id[halt[1]], halt[2])
    return (s[0], s[1], tuple(new_id[o] if o >= 0 else -1 for o in s[2]), s[3], s[4], halt)


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
            move = moves[0]  # (choice, shared id, task id, labels, halt, new tuple)
            labels, halt, mine = move[3], move[4], move[5]
            if halt is not None or labels or mine[1] or mine[PC] <= task[PC]:
                continue
            return t, move
        return None
