"""What never changes during a run: one scenario under one kernel, with names made ids.

Every kernel room (``locking``, ``mm/page_alloc``, ``mm/vmscan``,
``mm/oom_kill``, ``mm/mempool``, ``sched``) takes a ``Config`` as ``k``:
the watermarks, the pools, locks, completions and reclaimable entries,
each task's compiled program and traits, and the preset's knobs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mempool_cli.kernel.program import JUMP, Instr, Program, compile_program
from mempool_cli.scenario.kernels import Kernel, rwsem_reader_steals
from mempool_cli.scenario.spec import Scenario

__all__ = ["COMPLETION_CAP_UNBOUNDED", "Config", "TaskInfo"]

COMPLETION_CAP_UNBOUNDED = 8


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
    tracks_order: bool = False  # its task tuple has ``taken`` (it can unwind): state.ORDER
    mm_lock: int = -1  # revision 2: the rwsem standing for its mmap_lock, or -1
    interrupts: int = -1  # revision 2: the task whose CPU this handler runs on, or -1


class Config:
    """The static part of a model: ``scenario`` under ``kernel`` (default: the file's own)."""

    def __init__(self, scenario: Scenario, kernel: Kernel | None = None) -> None:
        self.scenario = scenario
        self.kernel = kernel or scenario.kernel
        self.reaper_mode = scenario.oom.reaper or self.kernel.oom_reaper
        mem = scenario.memory
        self.wmark_min, self.wmark_low, self.wmark_high = mem.min, mem.low, mem.high
        self.pools = scenario.pools
        self.locks = scenario.locks
        self.completions = scenario.completions
        # revision 2: counters sit in the shared ``done`` field after the completions
        # (docs/model.md, "Counters"); counter c is done[counter_base + c]
        self.counters = scenario.counters
        self.counter_base = len(scenario.completions)
        # revision 2: queues follow the counters there (docs/model.md, "Queues"); queue q's
        # items, oldest first, are the tuple done[queue_base + q]
        self.queues = scenario.queues
        self.queue_base = self.counter_base + len(scenario.counters)
        self.entries = mem.reclaimable
        self.lock_ids = {lock.name: i for i, lock in enumerate(scenario.locks)}
        # revision 2: which locks are rwsems (their owners entry is RwsemState), and whether
        # a reader may steal one past queued waiters on this kernel (docs/model.md, "rwsem")
        self.rwsems = frozenset(i for i, lock in enumerate(scenario.locks) if lock.kind == "rwsem")
        self.rwsem_steal = rwsem_reader_steals(self.kernel)
        self.entry_locks = tuple(tuple(self.lock_ids[n] for n in e.locks) for e in self.entries)
        self.entry_trylocks = tuple(
            tuple(self.lock_ids[n] for n in e.trylocks) for e in self.entries
        )
        comp_ids = {c.name: i for i, c in enumerate(scenario.completions)}
        self.entry_waits = tuple(comp_ids[e.waits] if e.waits else -1 for e in self.entries)
        task_ids = {t.name: i for i, t in enumerate(scenario.tasks)}
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
                mm_lock=self.lock_ids[t.mm_lock] if t.mm_lock else -1,
                interrupts=task_ids[t.interrupts] if t.interrupts else -1,
            )
            for t in scenario.tasks
        )
        # revision 2: per task, the handlers that run on its CPU (kernel/irq.py); whether
        # any CPU is shared at all (else the model never asks who may run)
        self.handlers_of = tuple(
            tuple(h for h, info in enumerate(self.info) if info.interrupts == t)
            for t in range(len(self.info))
        )
        self.shares_cpus = any(self.handlers_of)
        self.info = tuple(replace(info, tracks_order=info.program.unwinds) for info in self.info)
        self.initial_rss = tuple(t.rss for t in scenario.tasks)
        self.total_pages = (
            mem.free
            + sum(self.initial_rss)
            + sum(p.min_nr << p.order for p in scenario.pools)
            + sum(e.pages for e in mem.reclaimable)
        )
        self.completion_cap = self._completion_caps()

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

    def pool_capacity(self, pool: int) -> int:
        """Elements a pool holds when full: ``min_nr``, or one for a zero-min pool.

        The 2025 fix [1.5] prefills ``max(1, min_nr)`` elements.
        """
        min_nr = self.pools[pool].min_nr
        if min_nr == 0 and self.kernel.zero_min_pool == "one_element":
            return 1
        return min_nr

    def instr(self, t: int, pc: int) -> Instr:
        """The instruction task ``t`` stands at."""
        return self.info[t].program.instrs[pc]


def _inside_loop(instrs: tuple[Instr, ...], pc: int) -> bool:
    return any(ins.op == JUMP and ins.arg <= pc < j for j, ins in enumerate(instrs))
