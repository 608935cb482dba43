"""The lock orders lockdep would record: which acquisition a move makes while holding what.

``mpsim run --potential`` builds lockdep's dependency graph over every
explored execution (analysis/lockorder.py walks the states); this module
says, for one move, which orders ``held -> taken`` it creates, and which
orders hold whatever the schedule (kswapd's reclaim of each entry). The
rules (docs/model.md, "Potential lock orders"):

- **Nodes are instances**: each declared lock and completion, and the
  pseudo-lock ``fs_reclaim``. lockdep works on classes; mpsim's locks are
  instances, so two locks of one class are two nodes here.
- **An acquisition** is a ``mutex_lock*``, ``spin_lock*``, ``down_read*`` or
  ``down_write*`` step (the attempt: lockdep's ``lock_acquire`` runs before
  the task sleeps or spins), and reclaim taking an entry's lock. It orders
  every lock the task holds before it. Read holds count as holds: an rwsem
  reader is lockdep's non-recursive read (``read=1``), whose dependencies
  it records like a writer's; the format has no recursive-read lock (no
  rwlock_t, no RCU), so lockdep's special case for those never arises.
- **Trylocks** (``*_trylock``, reclaim ``trylocks``) order nothing before
  them (lockdep's ``validate_chain`` adds no dependency for a trylock), but
  locks taken while one is held are ordered after it.
- **fs_reclaim** (mm/page_alloc.c ``fs_reclaim_acquire``, ``__need_reclaim``;
  ``might_alloc`` in include/linux/sched/mm.h): an ``alloc_pages`` or
  ``mempool_alloc`` whose mask, narrowed by the task's memalloc scopes
  (``current_gfp_context``), has ``__GFP_DIRECT_RECLAIM`` and ``__GFP_FS``,
  from a task without ``PF_MEMALLOC`` and without ``__GFP_NOLOCKDEP``, is an
  acquisition of ``fs_reclaim`` (whether or not it then reclaims), and direct
  reclaim with such a mask holds it while it takes an entry's locks or waits
  for its completion (``__perform_reclaim``). kswapd reclaims every entry
  under ``fs_reclaim`` (mm/vmscan.c ``balance_pgdat``:
  ``__fs_reclaim_acquire``), so each entry's locks and completion are
  ordered after ``fs_reclaim`` in every scenario (``reclaim_orders``).
- **Completions** are pseudo-locks, as crossrelease had them and as the
  workqueue's ``(work_completion)`` map still has them for ``flush_work``: a
  ``wait_for_completion*`` of C (and reclaim waiting for an entry's C) is an
  acquisition of C; and every acquisition a task makes while it can still
  reach a ``complete``/``complete_all`` of C is ordered after C (the
  completer's work before it completes, as a work item's function runs
  inside its map); a task's own wait for C is not ordered after C (a worker
  that waits for C and completes it later in its loop passes it on; waiting
  for itself shows as a hang). ``wait_event*`` on counters is not modelled (lockdep does
  not track it).
- **Interrupts** are left out: lockdep's irq-safe / irq-unsafe usage check
  is a separate check, not an order; a handler's acquisitions order the
  locks it holds like any task's.
"""

from __future__ import annotations

from typing import Any

from mempool_cli.kernel.config import Config
from mempool_cli.kernel.gfp import current_gfp_context
from mempool_cli.kernel.mm.internal import RECLAIM_LOCK, RECLAIM_WAIT, SlowPath
from mempool_cli.kernel.mm.mempool import MempoolAlloc
from mempool_cli.kernel.program import JUMP, Program
from mempool_cli.kernel.state import FRAME, PC, SCOPES, Event, State, held_by
from mempool_cli.scenario import gfp as G

__all__ = ["FS_RECLAIM", "Lockdep", "Node", "need_fs_reclaim"]

Node = tuple[str, int]  # ("lock", id), ("completion", id) or FS_RECLAIM
FS_RECLAIM: Node = ("fs_reclaim", 0)

# Events of an acquisition attempt (an order into the lock), and those after which the
# task holds it for the rest of the move (the state says what it holds between moves).
_ATTEMPTS = frozenset(
    {
        "lock_acquired",
        "mutex_sleeps",
        "spin_spins",
        "rwsem_acquired",
        "rwsem_sleeps",
        "reclaim_takes_lock",
        "reclaim_needs_lock",
    }
)
_TAKES = frozenset({"lock_acquired", "rwsem_acquired", "reclaim_takes_lock"})
_TRYLOCKS = frozenset({"trylock_takes", "reclaim_trylock_takes"})
_WAITS = frozenset(
    {"completion_sleeps", "completion_done", "reclaim_waits", "reclaim_already_completed"}
)
_RELEASES = frozenset({"unlocked", "rwsem_released", "unwind_unlocks"})
_ALLOCS = frozenset({"alloc_pages", "mempool_alloc", "pool_alloc"})
_COMPLETES = frozenset({"complete", "complete_all"})


def need_fs_reclaim(k: Config, task: tuple[Any, ...], t: int, gfp: int) -> bool:
    """Whether an allocation with ``gfp`` by task ``t`` acquires ``fs_reclaim``.

    mm/page_alloc.c ``fs_reclaim_acquire``: the mask narrowed by the task's
    scope (``current_gfp_context``), then ``__need_reclaim`` (direct reclaim
    allowed, no ``PF_MEMALLOC``, no ``__GFP_NOLOCKDEP``) and ``__GFP_FS``.
    """
    info = k.info[t]
    scopes = task[SCOPES]
    eff = current_gfp_context(gfp, info.pf_noio or scopes[0] > 0, info.pf_nofs or scopes[1] > 0)
    if not eff & G.DIRECT_RECLAIM:
        return False
    if info.pf_memalloc or scopes[2] > 0:  # "this guy won't enter reclaim"
        return False
    if eff & G.NOLOCKDEP:
        return False
    return bool(eff & G.FS)


def _completes_ahead(program: Program) -> tuple[frozenset[int], ...]:
    """Per pc, the completions a task there can still complete (a back edge ahead of the pc
    makes its whole loop reachable again, as the wait-for graph's ``completed_by`` reads it)."""
    instrs = program.instrs
    out = []
    for pc in range(len(instrs) + 1):
        start = pc
        for ins in instrs[pc:]:
            if ins.op == JUMP:
                start = min(start, ins.arg)
        out.append(frozenset(ins.arg for ins in instrs[start:] if ins.op in _COMPLETES))
    return tuple(out)


class Lockdep:
    """The lock-order rules for one model (``Config``)."""

    def __init__(self, k: Config) -> None:
        self.k = k
        self.completes_ahead = tuple(_completes_ahead(info.program) for info in k.info)

    def node_id(self, node: Node) -> str:
        """The node as the wait-for graph names it: ``mutex:M``, ``completion:C``,
        ``fs_reclaim``."""
        kind, i = node
        if kind == "lock":
            lock = self.k.locks[i]
            return f"{lock.kind}:{lock.name}"
        if kind == "completion":
            return f"completion:{self.k.completions[i].name}"
        return "fs_reclaim"

    def node_name(self, node: Node) -> str:
        """The node in a sentence: ``M``, ``completion C``, ``fs_reclaim``."""
        kind, i = node
        if kind == "lock":
            return self.k.locks[i].name
        if kind == "completion":
            return f"completion {self.k.completions[i].name}"
        return "fs_reclaim"

    def held(self, s: State, t: int) -> list[Node]:
        """What task ``t`` holds in ``s``, as lockdep sees it: its locks (any mode, reclaim's
        entry locks included), ``fs_reclaim`` while its direct reclaim waits inside it, and,
        for an interrupt handler, the locks the task it interrupts holds."""
        k = self.k
        owners = s[2]
        out: list[Node] = [("lock", i) for i in range(len(k.locks)) if held_by(owners[i], t)]
        host = k.info[t].interrupts
        if host >= 0:
            # an interrupt handler's move runs on its host's CPU, inside whatever the host
            # holds: lockdep's irq-safe/irq-unsafe inversion is this order (revision 2)
            out.extend(
                ("lock", i)
                for i in range(len(k.locks))
                if held_by(owners[i], host) and ("lock", i) not in out
            )
        task = s[6][t]
        frame = _slowpath(task[FRAME])
        if (
            frame is not None
            and frame.stage in (RECLAIM_LOCK, RECLAIM_WAIT)
            and need_fs_reclaim(k, task, t, frame.gfp_mask)
        ):
            out.append(FS_RECLAIM)
        return out

    def orders(self, s: State, t: int, events: tuple[Event, ...]) -> list[tuple[Node, Node]]:
        """The orders ``(held, taken)`` task ``t``'s move with ``events`` creates in ``s``,
        each once, in the order the move makes them."""
        k = self.k
        task = s[6][t]
        held = self.held(s, t)
        frame = _slowpath(task[FRAME])
        gfp = frame.gfp_mask if frame is not None else None
        ahead = self.completes_ahead[t][task[PC]]
        out: list[tuple[Node, Node]] = []

        def acquire(node: Node) -> None:
            for h in held:
                if (h, node) not in out:
                    out.append((h, node))
            for c in sorted(ahead):
                pair = (("completion", c), node)
                if pair[0] != node and pair not in out:
                    out.append(pair)

        for key, fields in events:
            f = dict(fields)
            if key in _ALLOCS:
                gfp = f["gfp"]
                if need_fs_reclaim(k, task, t, f["gfp"]):
                    acquire(FS_RECLAIM)
            elif key == "reclaim_on":
                if gfp is not None and need_fs_reclaim(k, task, t, gfp) and FS_RECLAIM not in held:
                    held.append(FS_RECLAIM)
            elif key in _ATTEMPTS:
                node: Node = ("lock", f["lock"])
                acquire(node)
                if key in _TAKES and node not in held:
                    held.append(node)
            elif key in _TRYLOCKS:
                node = ("lock", f["lock"])
                if node not in held:
                    held.append(node)
            elif key in _WAITS:
                acquire(("completion", f["completion"]))
            elif key in _RELEASES:
                node = ("lock", f["lock"])
                if node in held:
                    held.remove(node)
            elif key == "reclaim_frees":
                for lock in f["released"]:
                    if ("lock", lock) in held:
                        held.remove(("lock", lock))
                if FS_RECLAIM in held:
                    held.remove(FS_RECLAIM)
        return out

    def reclaim_orders(self) -> list[tuple[int, Node, Node]]:
        """``(entry, held, taken)``: what kswapd's reclaim of each entry orders, in any
        scenario: its trylocks, then its locks in order, then its completion, all inside
        ``fs_reclaim`` (mm/vmscan.c ``balance_pgdat``)."""
        k = self.k
        out: list[tuple[int, Node, Node]] = []
        for e in range(len(k.entries)):
            held: list[Node] = [FS_RECLAIM]
            held.extend(("lock", lock) for lock in k.entry_trylocks[e])
            taken: list[Node] = [("lock", lock) for lock in k.entry_locks[e]]
            if k.entry_waits[e] >= 0:
                taken.append(("completion", k.entry_waits[e]))
            for node in taken:
                for h in held:
                    if (e, h, node) not in out:
                        out.append((e, h, node))
                if node[0] == "lock":
                    held.append(node)
        return out


def _slowpath(frame: Any) -> SlowPath | None:
    """The page allocator's frame a task is in: ``alloc_pages``'s, or mempool's pool->alloc."""
    if type(frame) is SlowPath:
        return frame
    if type(frame) is MempoolAlloc and frame.alloc is not None:
        return frame.alloc
    return None
