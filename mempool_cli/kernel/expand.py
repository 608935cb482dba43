"""The inner loop of a state's expansion, on ids: what the search spends most of its time in.

``Expander`` turns a state's key into its moves: each task's memoized moves
as keys of next states (docs/model.md, "Packed states"), made
representatives under symmetry. It works on plain ints, lists and tuples and
the two tables that map them (``Packing``, ``Symmetry``); what needs the real
state (a memo miss, out_of_memory, the reaper, the partial-order reduction
and the stubborn sets) it asks the model for, by callables. So mypyc
compiles this module (setup.py; docs/model.md, "Compiled modules"); run as
Python it gives the same keys, slower.

A memoized move is ``(action, shared id, its task's new id, labels, halt,
its task's new tuple, free pages)`` (``KernelModel._memo_moves``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mempool_cli.kernel.packing import Packing
from mempool_cli.kernel.reductions import Symmetry

__all__ = ["OOM_FLAG", "VICTIM_FLAG", "Expander", "Memoized", "Move", "moved_key", "place"]

OOM_FLAG = 1  # a task tuple inside out_of_memory's stage of the slow path
VICTIM_FLAG = 2  # a task tuple of an OOM victim the reaper may still act on

Move = tuple[Any, bytes, frozenset[str]]  # (action, the next state's key, its labels)
Memoized = tuple[tuple[Any, ...], ...]  # one task's memoized moves


def place(packing: Packing, symmetry: Symmetry, sid: int, tids: list[int], t: int) -> int:
    """``Symmetry.place`` on ids: ``tids`` made the representative's in place when only
    task ``t`` changed since a representative; returns the representative's shared id."""
    shared = packing.shared[sid]
    moved = symmetry.place(shared, tids, t, packing.pc, packing.tasks)
    return sid if moved is shared else packing.shared_id(moved)


def moved_key(
    packing: Packing,
    symmetry: Symmetry | None,
    tids: Sequence[int],
    t: int,
    nsid: int,
    ntid: int,
) -> bytes:
    """The key after task ``t``'s move from the state of task ids ``tids`` to shared id
    ``nsid`` and task id ``ntid``, made a representative when ``symmetry`` is given."""
    new = list(tids)
    new[t] = ntid
    if symmetry is not None:
        nsid = place(packing, symmetry, nsid, new, t)
    return packing.key(nsid, new)


Miss = Callable[[dict[int, Memoized], int, Sequence[int], int], Memoized]
Unmemoized = Callable[[int, Sequence[int], int, bool], list[Move]]
Reduced = Callable[[dict[int, Memoized], int, Sequence[int], bool], "list[Move] | None"]
Reaped = Callable[[int, Sequence[int], bool], list[Move]]


class Expander:
    """A state's moves, by its key: the search's ``packed_successors``.

    The model (model.py) hands over what needs the real state, each as a
    callable of (shared id, task ids, ...): ``miss`` computes and memoizes a
    task's moves the memo lacks (in the memo of the shared id it is given),
    ``out_of_memory`` the moves of a task inside out_of_memory (it reads every
    task: no memo), ``reduced`` the moves of a reduction that takes fewer
    than every task's (None where it takes them all; not given where the model
    has no such reduction), ``reaped`` the reaper's moves. ``memoize`` False
    asks ``miss`` every time (whether a task may run reads other tasks).
    """

    def __init__(
        self,
        packing: Packing,
        symmetry: Symmetry | None,
        miss: Miss,
        out_of_memory: Unmemoized,
        reduced: Reduced | None,
        reaped: Reaped | None,
        memoize: bool,
        memo_limit: int,
    ) -> None:
        self.packing = packing
        self.symmetry = symmetry
        self.miss = miss
        self.out_of_memory = out_of_memory
        self.reduced = reduced
        self.reaped = reaped
        self.memoize = memoize
        self.memo_limit = memo_limit
        # shared id -> (task tuple id * tasks + task) -> that task's moves
        self.memo: dict[int, dict[int, Memoized]] = {}

    def search_moves(self, key: bytes) -> list[Move]:
        """What the search expands: the moves of a representative, each next state made a
        representative, under symmetry; every move of the state otherwise."""
        return self.moves(key, self.symmetry is not None)

    def labels(self, key: bytes) -> frozenset[str]:
        """The state labels of the state a key stands for (they read its shared part)."""
        return self.packing.labels[self.packing.shared_of(key)]

    def memo_of(self, sid: int) -> dict[int, Memoized]:
        """The memo of the moves from states with shared id ``sid``."""
        memo = self.memo.get(sid)
        if memo is None:
            if len(self.memo) > self.memo_limit:
                self.memo.clear()
            memo = self.memo[sid] = {}
        return memo

    def moves(self, key: bytes, place: bool) -> list[Move]:
        """The reduced moves of the state ``key`` stands for (a representative, under
        symmetry), in task order: those of ``reduced`` where it takes fewer, or every
        task's moves (one copy of each run of equal copies) and the reaper's. With
        ``place`` each next state is made a representative."""
        packing = self.packing
        sid, tids = packing.ids(key)
        if packing.shared[sid][5] is not None:
            return []
        memo = self.memo_of(sid)
        if self.reduced is not None:
            some = self.reduced(memo, sid, tids, place)
            if some is not None:
                return some
        out, seen = self.every_move(memo, sid, tids, place)
        if seen & VICTIM_FLAG and self.reaped is not None:
            out.extend(self.reaped(sid, tids, place))
        return out

    def every_move(
        self, memo: dict[int, Memoized], sid: int, tids: Sequence[int], place_copies: bool
    ) -> tuple[list[Move], int]:
        """Every task's moves from the state of shared id ``sid`` and task ids ``tids``,
        in task order, and the flags of every task (``OOM_FLAG``, ``VICTIM_FLAG``).

        Under symmetry a copy that repeats the copy before it (equal ids, neither holds
        a lock: ``Symmetry.repeats_prev``) is skipped, and with ``place_copies`` each
        next state is made a representative.
        """
        packing = self.packing
        symmetry = self.symmetry
        flags = packing.flags
        owners = packing.shared[sid][2]
        prev_copy = symmetry.prev_copy if symmetry is not None else None
        placing = symmetry if place_copies else None
        memoize = self.memoize
        base = list(tids)
        n = len(base)
        out: list[Move] = []
        seen = 0  # the flags of every task, the skipped copies' too
        for t in range(n):
            tid = base[t]
            if prev_copy is not None:
                prev = prev_copy[t]
                if prev >= 0 and base[prev] == tid and t not in owners and prev not in owners:
                    seen |= flags[tid]
                    continue
            flag = flags[tid]
            if flag:
                seen |= flag
                if flag & OOM_FLAG:
                    out.extend(self.out_of_memory(sid, tids, t, place_copies))
                    continue
            moves = memo.get(tid * n + t) if memoize else None
            if moves is None:
                moves = self.miss(memo, sid, tids, t)
            for move in moves:
                out.append(
                    (move[0], moved_key(packing, placing, base, t, move[1], move[2]), move[3])
                )
        return out, seen
