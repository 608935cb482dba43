"""A draft scenario from a lockdep report: the tasks, locks and reclaim that report implies.

The rules (``docs/import.md`` tells them with the corpus that tests them):

- **tasks**: a circular report with its chain gives one task per chain
  link (link ``#i`` takes its lock while holding link ``#i-1``'s, and
  ``#0`` holds the last link's); any other report gives one task per CPU
  column of its "Possible unsafe locking scenario" table. Each task
  releases what it took, in reverse order.
- **lock kinds**, first evidence wins: the locking primitive in the
  link's stack (``mutex_lock``, ``down_read``, ``_raw_spin_lock``); the
  wait type ``-{N:N}`` of ``include/linux/lockdep_types.h`` (2 spin, 3
  sleep, or spinlock_t when a 4 elsewhere says PROVE_RAW_LOCK_NESTING is
  on); usage characters that show it taken in irq context (a spinlock);
  the percpu rwsems lockdep shows with wait type 0 (``sb_internal``,
  ``cpu_hotplug_lock``); the class name; else a mutex. A class taken for
  read (a read usage character not ``.``, or ``rlock()`` in the table) is
  an rwsem when it sleeps. Anything but the stack or the wait type is an
  ``# assumed:`` line.
- **fs_reclaim** is an allocation: ``lock(fs_reclaim)`` under a lock is
  ``alloc_pages(GFP_KERNEL)`` with memory at its min watermark, and the
  locks taken after ``fs_reclaim`` (reclaim's own) are a reclaimable
  entry that takes them. An entry can take only mutexes and spinlocks: an
  rwsem taken in reclaim is a task of its own that takes it and then
  completes what the entry waits for.
- **(work_completion)W / (wq_completion)Q** are a worker: the column that
  starts with one is a daemon that dequeues from queue ``Q`` and completes
  ``W`` after its body; a column that takes one after other locks flushes
  it: it queues the work and waits for that completion.
- **irq usage**: the ``<Interrupt>`` part of a column is a handler
  (``context: irq`` or ``softirq``) that ``interrupts:`` the column's
  task. For RECLAIM_FS (lockdep's pseudo interrupt of kernels before 4.14)
  the "interrupt" is reclaim entered from a ``__GFP_FS`` allocation, so it
  becomes the allocation and a reclaimable entry.

Every step carries a comment naming the stack frame or table line it came
from. The draft expects ``deadlock``, which is what lockdep claims; a run
that disagrees says the draft, or lockdep, is wrong about this code.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

from mempool_cli.lockdep.parse import Event, Frame, LockClass, Report, chain_classes
from mempool_cli.scenario.kernels import resolve_kernel

__all__ = ["draft_scenario", "lock_kind"]

FS_RECLAIM = "fs_reclaim"
_WORK = re.compile(r"\(work_completion\)(?P<work>.*)")
_WQ = re.compile(r"\(wq_completion\)(?P<wq>.*)")

# Functions of the locking and allocation machinery: a stack's call site is the first frame
# that is none of these.
_MACHINERY = re.compile(
    r"(?:__?)*(?:lock_acquire|lock_acquire\.part|validate_chain|check_prev|check_noncircular"
    r"|mark_lock|mark_held_locks|mark_usage|lockdep_|trace_hardirqs|lock_map_|raw_|do_raw_"
    r"|mutex_lock|mutex_trylock|down_read|down_write|percpu_down|rwsem_|down\b"
    r"|spin_lock|spin_unlock|raw_spin|read_lock|write_lock|cpus_read_lock|cpus_write_lock"
    r"|fs_reclaim_acquire|might_alloc|might_fault|slab_pre_alloc_hook|slab_alloc|_slab_alloc"
    r"|kmem_cache_alloc|kmem_cache_alloc_node|kmalloc|kzalloc|kmalloc_trace|prepare_alloc_pages"
    r"|alloc_pages|alloc_frozen_pages|folio_alloc|alloc_pages_mpol|flush_work|cancel_work"
    r"|cancel_delayed_work|flush_workqueue|start_flush_work|copy_to_user|copy_from_user"
    r"|inline_copy|lockdep_trace_alloc|kmem_cache_alloc_lru)"
)
_PRIMITIVES = (
    (re.compile(r"(?:__)?mutex_(?:lock|trylock)|__mutex_lock"), "mutex"),
    (re.compile(r"(?:__)?down_(?:read|write)|percpu_down_|cpus_(?:read|write)_lock"), "rwsem"),
    (re.compile(r"_?_?raw_spin_(?:lock|trylock)|spin_lock"), "spinlock"),
    (re.compile(r"_?_?raw_(?:read|write)_lock"), "rwlock"),
)
# percpu rw_semaphores lockdep prints with wait type 0 (their maps carry no wait type).
_PERCPU_RWSEMS = re.compile(
    r"sb_internal|sb_writers|sb_pagefaults|cpu_hotplug_lock|cgroup_threadgroup_rwsem"
    r"|mem_hotplug_lock|bp_cpuinfo_sem|uprobes_percpu_sem|dup_mmap_sem"
)
_SLEEPING_NAME = re.compile(r"mutex|sem\b|_sem|->sem|rwsem|mmap_lock|mmap_sem|i_rwsem|umount")


@dataclass(frozen=True, slots=True)
class Kind:
    """A lock class's kind in the draft and how it was decided (``guessed``: not from the
    stack or the wait type, so the draft lists it as an assumption)."""

    kind: str
    why: str
    guessed: bool


def lock_kind(report: Report, name: str) -> Kind:
    """The scenario lock kind (``mutex``, ``spinlock``, ``rwsem``) of lock class ``name``.

    >>> from mempool_cli.lockdep.parse import LockClass, Report
    >>> c = LockClass("&wqe->lock", "+.+.", (2, 2), "", "", 1, 1)
    >>> r = Report("recursive", "", 1, "", "t", c, c, (), False, 1, (), (), "", None, "", (), ())
    >>> lock_kind(r, "&wqe->lock")
    Kind(kind='spinlock', why='wait type {2:2}: a spinning lock', guessed=False)
    """
    cls = report.lock_class(name)
    read = _taken_for_read(report, name)
    primitive = _primitive(report, name)
    if primitive is not None:
        function, kind = primitive
        if kind == "rwlock":
            return Kind(
                "spinlock", f"{function} in its stack: an rwlock_t, drafted as a spinlock", True
            )
        return Kind(kind, f"{function} in its stack", False)
    if cls is not None and cls.wait is not None and cls.wait[0] in (2, 3, 4):
        inner = cls.wait[0]
        raw_nesting = any(c.wait is not None and 4 in c.wait for c in _all_classes(report))
        sleeping = inner == 4 or (inner == 3 and not raw_nesting)
        w = f"{{{cls.wait[0]}:{cls.wait[1]}}}"
        if sleeping:
            if read:
                return Kind("rwsem", f"wait type {w} (sleeping) and taken for read", False)
            return Kind("mutex", f"wait type {w}: a sleeping lock, never taken for read", False)
        if read:
            return Kind(
                "spinlock",
                f"wait type {w} and taken for read: an rwlock_t, drafted as a spinlock",
                True,
            )
        return Kind("spinlock", f"wait type {w}: a spinning lock", False)
    if cls is not None and cls.in_irq:
        return Kind(
            "spinlock", f"usage {{{cls.usage}}}: taken in {cls.in_irq} context, so it spins", True
        )
    if _PERCPU_RWSEMS.search(name):
        return Kind("rwsem", "a percpu rw_semaphore by its name", True)
    if _SLEEPING_NAME.search(name.lower()):
        kind = "rwsem" if read else "mutex"
        return Kind(kind, f"a sleeping lock by its name{' taken for read' if read else ''}", True)
    if name.endswith("lock"):
        return Kind("spinlock", "a spinlock by its name (…lock, no wait type printed)", True)
    return Kind("mutex", "nothing in the report says; a mutex", True)


def _all_classes(report: Report) -> list[LockClass]:
    out = [c for c in (report.acquiring, report.holding) if c is not None]
    out += [link.lock for link in report.chain] + [h.lock for h in report.held]
    return out


def _taken_for_read(report: Report, name: str) -> bool:
    if any(e.op == "rlock" and e.lock == name for e in report.events):
        return True
    cls = report.lock_class(name)
    return cls is not None and cls.read


def _only_read(report: Report, name: str) -> bool:
    """Every usage lockdep saw of the class is a read one (``{.+.+}``), or the table says rlock."""
    cls = report.lock_class(name)
    if cls is None:
        return False
    writes = cls.usage[0::2]
    return cls.read and all(c == "." for c in writes)


def _stack_of(report: Report, name: str) -> tuple[Frame, ...]:
    for link in report.chain:
        if link.lock.name == name:
            return link.frames
    if report.acquiring is not None and report.acquiring.name == name:
        return report.registered
    return ()


def _primitive(report: Report, name: str) -> tuple[str, str] | None:
    return _primitive_in(_stack_of(report, name))


def _primitive_in(frames: tuple[Frame, ...]) -> tuple[str, str] | None:
    """The first locking primitive in a stack and the lock kind it takes."""
    for frame in frames:
        for pattern, kind in _PRIMITIVES:
            if pattern.match(frame.name):
                return frame.name, kind
    return None


def call_site(frames: tuple[Frame, ...]) -> Frame | None:
    """The first frame that is not locking or allocation machinery: where the code took it."""
    for frame in frames:
        if not _MACHINERY.match(frame.name) and frame.name not in ("check_prevs_add",):
            return frame
    return None


def yaml_name(text: str) -> str:
    """A scenario name for a lock class, task or function.

    >>> yaml_name("&(&acpi_desc->dwork)->work"), yaml_name("&type->s_umount_key#40")
    ('acpi_desc.dwork.work', 'type.s_umount_key-40')
    >>> yaml_name("irq/124-pciehp"), yaml_name("&tree->tree_lock/1")
    ('irq-124-pciehp', 'tree.tree_lock-1')
    """
    out = text.replace("->", ".").replace("#", "-").replace("/", "-").replace(":", "-")
    out = re.sub(r"[^A-Za-z0-9_.-]+", "", out)
    out = re.sub(r"\.{2,}", ".", out).strip(".-")
    out = re.sub(r"^[^A-Za-z_]+", "", out)
    return out or "lock"


def _comm(task: str) -> str:
    """``kswapd0`` for ``kswapd0/266``; ``kworker/8:2`` for ``kworker/8:2/2676``."""
    return task.rsplit("/", 1)[0] if "/" in task else task


# --- the draft ---------------------------------------------------------------------


@dataclass
class _Item:
    op: str  # lock | rlock | irq_off
    lock: str
    note: str
    told: bool = True  # whether the report says read or write


@dataclass
class _Column:
    name: str
    items: list[_Item]
    handler: list[_Item] = field(default_factory=list)
    handler_name: str = ""


@dataclass
class _Task:
    name: str
    steps: list[tuple[str, str]] = field(default_factory=list)  # (step, comment)
    keys: list[tuple[str, str]] = field(default_factory=list)  # (key, value)
    loop: bool = False  # a daemon worker: steps go inside repeat forever
    comment: str = ""


class _Drafter:
    def __init__(self, report: Report, name: str, source: str) -> None:
        self.report = report
        self.name = name
        self.source = source
        self.assumed: list[str] = []
        self.kinds: dict[str, Kind] = {}
        self.names: dict[str, str] = {}
        self.tasks: list[_Task] = []
        self.entries: list[tuple[str, list[str], str, str]] = []  # name, locks, waits, comment
        self.completions: list[str] = []
        self.queues: list[str] = []
        self.allocates = False
        self.handles = 0

    # names and kinds
    def assume(self, text: str) -> None:
        if text not in self.assumed:
            self.assumed.append(text)

    def lock(self, cls: str) -> str:
        if cls not in self.names:
            base = yaml_name(cls)
            taken = set(self.names.values())
            name, n = base, 2
            while name in taken:
                name, n = f"{base}-{n}", n + 1
            self.names[cls] = name
            kind = lock_kind(self.report, cls)
            self.kinds[cls] = kind
            if kind.guessed:
                self.assume(f"{name} ({cls}) is a {kind.kind}: {kind.why}")
        return self.names[cls]

    def task_name(self, wanted: str) -> str:
        base = yaml_name(wanted) or "task"
        taken = {t.name for t in self.tasks}
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        return name

    def handle(self) -> str:
        self.handles += 1
        return "page" if self.handles == 1 else f"page{self.handles}"

    def queue_of(self) -> str:
        for h in self.report.held:
            if m := _WQ.fullmatch(h.lock.name):
                return yaml_name(m.group("wq"))
        self.assume(
            "the work runs on the system workqueue 'events' (the report names no (wq_completion))"
        )
        return "events"

    # columns
    def columns(self) -> list[_Column]:
        r = self.report
        if r.kind == "circular" and len(r.chain) >= 2 and not r.chain_elided:
            return self.chain_columns()
        if r.kind == "recursive" and not r.events and r.acquiring and r.holding:
            header = [
                _Item("lock", r.holding.name, f"already holding, at {r.holding.at}"),
                _Item("lock", r.acquiring.name, f"trying to acquire, at {r.acquiring.at}"),
            ]
            return [_Column(_comm(r.task) or "cpu0", header)]
        cols = []
        for cpu in range(r.cpus):
            events = [e for e in r.events if e.cpu == cpu]
            main: list[_Item] = []
            handler: list[_Item] = []
            seen_interrupt = False
            for e in events:
                if e.op == "interrupt":
                    seen_interrupt = True
                    continue
                item = _Item("irq_off" if e.op == "local_irq_disable" else e.op, e.lock, _table(e))
                (handler if seen_interrupt else main).append(item)
            cols.append(_Column(self.column_name(cpu), main, handler, self.handler_name()))
        return cols

    def column_name(self, cpu: int) -> str:
        r = self.report
        header_is_cpu0 = r.kind in ("circular", "recursive") or (
            r.kind == "inconsistent" and r.usage is not None and not r.usage[1].startswith("IN-")
        )
        if cpu == 0 and header_is_cpu0 and r.task:
            return _comm(r.task)
        return f"cpu{cpu}"

    def handler_name(self) -> str:
        r = self.report
        if r.kind == "irq-inversion" or (r.usage is not None and r.usage[1].startswith("IN-")):
            return _comm(r.task) if r.task else "handler"
        return "handler"

    def chain_columns(self) -> list[_Column]:
        r = self.report
        locks = chain_classes(r)
        links = sorted(r.chain, key=lambda k: k.number)
        n = len(links)
        cpu0 = [e for e in r.events if e.cpu == 0 and e.op != "interrupt"]
        cpu1 = [e for e in r.events if e.cpu == 1 and e.op != "interrupt"]
        cols = []
        for i, link in enumerate(links):
            held = locks[i - 1] if i else locks[n - 1]
            taken = locks[i]
            site = call_site(link.frames)
            where = f"{_short(site)} (chain #{i})" if site else f"chain #{i}"
            read_held = read_taken = False
            told = False
            if i == 0 and cpu0:
                read_held, read_taken = cpu0[0].op == "rlock", cpu0[-1].op == "rlock"
                told = True
            elif i == 1 and n == 2 and len(cpu1) >= 2:
                read_held, read_taken = cpu1[0].op == "rlock", cpu1[1].op == "rlock"
                told = True
            primitive = _primitive_in(link.frames)
            if primitive is not None and primitive[1] == "rwsem":
                read_taken = "read" in primitive[0]
            if i == 0 and r.holding is not None and r.holding.at:
                held_note = f"held since {r.holding.at} (the header's 'already holding')"
            else:
                held_note = f"held; where is not in the report (chain #{(i - 1) % n} is its class)"
            name = _comm(r.task) if i == 0 and r.task else (site.name if site else f"link{i}")
            held_item = _Item("rlock" if read_held else "lock", held, held_note)
            held_item.told = told
            taken_item = _Item("rlock" if read_taken else "lock", taken, where)
            taken_item.told = told or primitive is not None
            cols.append(_Column(name, [held_item, taken_item]))
        return cols

    # steps
    def build(self) -> None:
        r = self.report
        cols = self.columns()
        if r.kind == "recursive":
            self.recursive_notes()
        for col in cols:
            self.column(col)
        if r.kind == "recursive" and r.acquiring is not None:
            self.recursive_writer()

    def column(self, col: _Column) -> None:
        items = col.items
        first = items[0] if items else None
        work = first is not None and (_WORK.fullmatch(first.lock) or _WQ.fullmatch(first.lock))
        reclaim_state = self.report.state == "reclaim_fs"
        task = _Task(self.task_name(col.name))
        self.tasks.append(task)
        if work and first is not None:
            self.worker(task, first, items[1:])
            return
        if items and items[0].lock == FS_RECLAIM and len(items) > 1:
            self.reclaimer(task, items[1:], items[0].note)
            return
        releases: list[tuple[str, str]] = []
        for k, item in enumerate(items):
            if item.op == "irq_off":
                if reclaim_state:
                    task.steps.append(
                        (
                            "",
                            f"{item.note}: for RECLAIM_FS this only says CPU1 is not in reclaim; "
                            "nothing to model",
                        )
                    )
                    continue
                task.steps.append(("local_irq_disable", item.note))
                releases.append(("local_irq_enable", "irqs back on"))
                continue
            if item.lock == FS_RECLAIM:
                page = self.alloc(task, f"lock(fs_reclaim): {item.note}")
                releases.append((f"free_pages: {page}", ""))
                continue
            if _WORK.fullmatch(item.lock) or _WQ.fullmatch(item.lock):
                self.flush(task, item)
                continue
            step, release = self.acquire(item)
            task.steps.append((step, item.note))
            releases.append((release, ""))
            del k
        if col.handler:
            if reclaim_state:
                page = self.alloc(
                    task,
                    "<Interrupt> (RECLAIM_FS): a __GFP_FS allocation under the locks above "
                    "enters reclaim",
                )
                self.reclaim_entry(col.handler, f"{col.handler_name} in reclaim")
                releases.append((f"free_pages: {page}", ""))
            else:
                self.handler(task, col)
        for release, note in reversed(releases):
            task.steps.append((release, note))

    def acquire(self, item: _Item) -> tuple[str, str]:
        name = self.lock(item.lock)
        kind = self.kinds[item.lock].kind
        if kind == "mutex":
            return f"mutex_lock: {name}", f"mutex_unlock: {name}"
        if kind == "spinlock":
            return f"spin_lock: {name}", f"spin_unlock: {name}"
        read = item.op == "rlock" or _only_read(self.report, item.lock)
        if not read and not item.told:
            self.assume(
                f"{name} is held for write where the chain does not say "
                "(lockdep's table prints rlock() for a read)"
            )
        return (
            (f"down_read: {name}", f"up_read: {name}")
            if read
            else (f"down_write: {name}", f"up_write: {name}")
        )

    def alloc(self, task: _Task, note: str) -> str:
        self.allocates = True
        page = self.handle()
        self.assume(
            "fs_reclaim is an allocation that may enter filesystem reclaim "
            "(__GFP_DIRECT_RECLAIM and __GFP_FS, fs_reclaim_acquire in mm/page_alloc.c): "
            "drafted as GFP_KERNEL, memory at its "
            "min watermark so that it reclaims"
        )
        task.steps.append((f"alloc_pages: {{gfp: GFP_KERNEL, as: {page}}}", note))
        return page

    def reclaim_entry(self, items: list[_Item], who: str) -> None:
        """Locks taken inside reclaim: an entry with ``locks`` (mutexes, spinlocks) or, for an
        rwsem, a task that takes it and completes what the entry waits for."""
        mutexes = []
        for item in items:
            name = self.lock(item.lock)
            if self.kinds[item.lock].kind == "rwsem":
                done = f"{name}.reclaimed"
                self.completions.append(done)
                self.entries.append((f"reclaim-{name}", [], done, f"{who}: {item.note}"))
                self.assume(
                    f"a reclaimable entry cannot take an rwsem: reclaim's {name} is the task "
                    f"reclaim-{name}, and the entry waits for it to complete {done}"
                )
                step, release = self.acquire(item)
                helper = _Task(self.task_name(f"reclaim-{name}"))
                helper.comment = f"the part of reclaim that takes {item.lock}"
                helper.steps += [
                    (step, item.note),
                    (f"complete_all: {done}", "reclaim of that entry can go on"),
                    (release, ""),
                ]
                self.tasks.append(helper)
            else:
                mutexes.append(name)
        if mutexes:
            self.entries.append((f"reclaim-{mutexes[0]}", mutexes, "", f"{who}: {items[0].note}"))

    def reclaimer(self, task: _Task, items: list[_Item], note: str) -> None:
        """A column in reclaim (``lock(fs_reclaim)`` first): kswapd or a direct reclaimer."""
        for i in items:
            self.lock(i.lock)
        kinds = [self.kinds[i.lock] for i in items]
        if all(k.kind != "rwsem" for k in kinds):
            page = self.alloc(
                task,
                f"lock(fs_reclaim): {note}; mpsim has no kswapd: an allocation reclaims directly",
            )
            self.reclaim_entry(items, task.name)
            task.steps.append((f"free_pages: {page}", ""))
            return
        task.comment = (
            "reclaim (kswapd or a direct reclaimer): takes what the reclaimable entry waits for"
        )
        done = f"{self.lock(items[0].lock)}.reclaimed"
        self.completions.append(done)
        self.entries.append(
            (f"reclaim-{self.lock(items[0].lock)}", [], done, f"{task.name}: {items[0].note}")
        )
        self.allocates = True
        self.assume(
            f"a reclaimable entry cannot take an rwsem: {task.name} stands for reclaim, taking "
            f"{self.lock(items[0].lock)} and completing {done}, which the entry waits for"
        )
        releases = []
        for item in items:
            step, release = self.acquire(item)
            task.steps.append((step, item.note))
            releases.append(release)
        task.steps.append((f"complete_all: {done}", f"reclaim frees the entry's pages ({note})"))
        task.steps += [(r, "") for r in reversed(releases)]

    def worker(self, task: _Task, first: _Item, body: list[_Item]) -> None:
        m = _WORK.fullmatch(first.lock) or _WQ.fullmatch(first.lock)
        assert m is not None
        work = yaml_name(m.group(1))
        wq = _WQ.fullmatch(first.lock)
        queue = yaml_name(wq.group("wq")) if wq else self.queue_of()
        if queue not in self.queues:
            self.queues.append(queue)
        done = f"{work}.done"
        if done not in self.completions:
            self.completions.append(done)
        task.keys.append(("daemon", "true"))
        task.loop = True
        task.comment = f"a worker of {queue} running {first.lock}"
        task.steps.append((f"dequeue: {{queue: {queue}}}", f"process_one_work runs {first.lock}"))
        releases = []
        for item in body:
            step, release = self.acquire(item)
            task.steps.append((step, item.note))
            releases.append(release)
        task.steps += [(r, "") for r in reversed(releases)]
        task.steps.append(
            (f"complete: {done}", "the work function returns: a flush of it may return")
        )

    def flush(self, task: _Task, item: _Item) -> None:
        m = _WORK.fullmatch(item.lock) or _WQ.fullmatch(item.lock)
        assert m is not None
        work = yaml_name(m.group(1))
        queue = yaml_name(m.group("wq")) if _WQ.fullmatch(item.lock) else None
        if queue is None:
            queue = self.queues[0] if self.queues else self.queue_of()
        if queue not in self.queues:
            self.queues.append(queue)
        done = f"{work}.done"
        if done not in self.completions:
            self.completions.append(done)
        self.assume(f"the work {work} is queued when it is flushed (queue_work before the flush)")
        task.steps.append(
            (f"enqueue: {{queue: {queue}}}", "queue_work, earlier: the work is pending")
        )
        task.steps.append((f"wait_for_completion: {done}", f"flush/cancel_work_sync: {item.note}"))

    def handler(self, task: _Task, col: _Column) -> None:
        state = self.report.state or "hardirq"
        context = "softirq" if state == "softirq" else "irq"
        h = _Task(self.task_name(col.handler_name if col.handler_name != task.name else "handler"))
        h.keys = [("context", context), ("interrupts", task.name)]
        h.comment = f"<Interrupt> ({state}) on {task.name}'s CPU"
        for item in col.handler:
            step, release = self.acquire(item)
            h.steps.append((step, item.note))
            h.steps.append((release, ""))
        self.tasks.append(h)

    def recursive_notes(self) -> None:
        r = self.report
        if (
            r.acquiring
            and r.holding
            and r.acquiring.address
            and r.acquiring.address != r.holding.address
        ):
            self.assume(
                "the two acquisitions are of different instances "
                f"(addresses {r.holding.address} and "
                f"{r.acquiring.address}) of one class; the draft has one lock, as lockdep sees it"
            )

    def recursive_writer(self) -> None:
        r = self.report
        assert r.acquiring is not None
        cls = r.acquiring.name
        if self.kinds.get(cls, lock_kind(r, cls)).kind != "rwsem" or not _only_read(r, cls):
            return
        name = self.lock(cls)
        writer = _Task(self.task_name("writer"))
        writer.comment = f"another task that takes {cls} for write"
        writer.steps = [
            (f"down_write: {name}", "queues between the two read acquisitions"),
            (f"up_write: {name}", ""),
        ]
        self.tasks.append(writer)
        self.assume(
            f"a writer of {name} exists: read recursion deadlocks only when a writer queues "
            "between the "
            "two reads (rwsem waiters are FIFO)"
        )

    # output
    def kernel(self) -> str:
        m = re.match(r"(\d+)\.(\d+)", self.report.kernel)
        if m is None:
            self.assume("the kernel version is not in the report: kernel latest")
            return "latest"
        version = f"v{m.group(1)}.{m.group(2)}"
        if resolve_kernel(version) is None:
            self.assume(f"{version} is older than every preset: kernel v4.5, the oldest")
            return "v4.5"
        return version

    def render(self) -> str:
        self.build()
        kernel = self.kernel()
        r = self.report
        out = ["# yaml-language-server: $schema=mpsim-schema.json"]
        out.append(f"# Drafted by `mpsim import lockdep` from {self.source}: {r.title}.")
        out.append(
            "# Check every 'assumed:' line below; each is a guess the report did not settle."
        )
        out += [_comment_wrap("# assumed: ", a) for a in self.assumed]
        out.append("mpsim: 1")
        out.append(f"name: {self.name}")
        out.append("description: >")
        out += ["  " + line for line in textwrap.wrap(self.description(), 72)]
        out.append("references:")
        out.append(f'  - "lockdep report: {self.source} (line {r.line})"')
        out.append(f"kernel: {kernel}")
        if self.allocates:
            out.append("memory:")
            out.append("  free: 4")
            out.append("  min: 4")
            out.append("  reclaimable:")
            for name, locks, waits, comment in self.entries:
                parts = [f"name: {name}", "pages: 8", "needs: [__GFP_FS]"]
                if locks:
                    parts.append(f"locks: [{', '.join(locks)}]")
                if waits:
                    parts.append(f"waits: {waits}")
                out.append(_with_comment(f"    - {{{', '.join(parts)}}}", comment))
        if self.names:
            out.append("locks:")
            for cls, name in self.names.items():
                kind = self.kinds[cls]
                shown = _shown(r.lock_class(cls))
                out.append(_with_comment(f"  {name}: {kind.kind}", f"{cls}{shown}: {kind.why}"))
        if self.completions:
            out.append(f"completions: [{', '.join(self.completions)}]")
        if self.queues:
            out.append("queues:")
            out += [f"  {q}: {{}}" for q in self.queues]
        out.append("tasks:")
        for task in self.tasks:
            out.append(_with_comment(f"  {task.name}:", task.comment))
            out += [f"    {k}: {v}" for k, v in task.keys]
            out.append("    steps:")
            indent = "      "
            if task.loop:
                out += [f"{indent}- repeat:", f"{indent}    forever: true", f"{indent}    steps:"]
                indent += "      "
            for step, comment in task.steps:
                if not step:
                    out.append(f"{indent}# {comment}")
                    continue
                out.append(_with_comment(f"{indent}- {step}", comment))
        out.append("expect: deadlock  # what lockdep says can happen")
        return "\n".join(out) + "\n"

    def description(self) -> str:
        r = self.report
        who = f"{r.task} " if r.task else ""
        if r.kind == "irq-inversion" and r.acquiring and r.holding:
            what = (
                f"{who}changed the state of {r.acquiring.name}, which took "
                f"{r.holding.name} ({r.state}-unsafe) in the past"
            )
        elif r.kind == "inconsistent" and r.acquiring and r.usage:
            what = f"{who}takes {r.acquiring.name}: {{{r.usage[0]}}} -> {{{r.usage[1]}}}"
        elif r.acquiring and r.holding:
            what = f"{who}acquires {r.acquiring.name} while holding {r.holding.name}"
        else:
            what = who.strip()
        chain = ""
        if r.chain:
            chain = f" The chain has {len(r.chain)} links: " + " -> ".join(chain_classes(r)) + "."
        elif r.chain_elided:
            chain = " The report's chain is cut ('...'): the tasks come from its table."
        return (
            f"Drafted from a lockdep report ({r.title}, "
            f"kernel {r.kernel or 'not given'}): {what}.{chain} "
            "Each task is a column of lockdep's unsafe-scenario table or a link of its chain; "
            "edit it into the code paths it stands for and run it."
        )


def _short(frame: Frame) -> str:
    """A frame for a comment: ``func+0x1/0x2``, or ``func file.c:12 [inline]`` (syzbot)."""
    return frame.function if "+0x" in frame.function else frame.text


def _table(e: Event) -> str:
    op = "local_irq_disable()" if e.op == "local_irq_disable" else f"{e.op}({e.lock})"
    return f"CPU{e.cpu}: {op}, line {e.line}"


def _shown(cls: LockClass | None) -> str:
    if cls is None:
        return ""
    wait = f"-{{{cls.wait[0]}:{cls.wait[1]}}}" if cls.wait else ""
    return f" {{{cls.usage}}}{wait}"


def _with_comment(text: str, comment: str) -> str:
    if not comment:
        return text
    comment = comment.replace("\n", " ")
    return f"{text:<40}  # {comment}" if len(text) < 40 else f"{text}  # {comment}"


def _comment_wrap(prefix: str, text: str) -> str:
    lines = textwrap.wrap(text, 96 - len(prefix))
    return "\n".join([prefix + lines[0]] + ["#   " + line for line in lines[1:]])


def draft_scenario(report: Report, name: str, source: str) -> str:
    """The text of a draft scenario for ``report``, named ``name``; ``source`` names the report
    file in the draft's comments and references. Deterministic: the same report, the same text.

    >>> from mempool_cli.lockdep.parse import parse_report
    >>> r = parse_report('''
    ... WARNING: possible recursive locking detected
    ... 5.16.0 #0 Not tainted
    ... t/1 is trying to acquire lock:
    ... ffff88801aa98018 (&wqe->lock){+.+.}-{2:2}, at: io_worker_cancel_cb+0xb7/0x210
    ... but task is already holding lock:
    ... ffff88801aa98018 (&wqe->lock){+.+.}-{2:2}, at: io_wq_worker_sleeping+0xb6/0x140
    ...  Possible unsafe locking scenario:
    ...        CPU0
    ...        ----
    ...   lock(&wqe->lock);
    ...   lock(&wqe->lock);
    ...  *** DEADLOCK ***
    ... ''')
    >>> print(draft_scenario(r, "x", "x.txt").split("tasks:")[1])
    <BLANKLINE>
      t:
        steps:
          - spin_lock: wqe.lock               # CPU0: lock(&wqe->lock), line 11
          - spin_lock: wqe.lock               # CPU0: lock(&wqe->lock), line 12
          - spin_unlock: wqe.lock
          - spin_unlock: wqe.lock
    expect: deadlock  # what lockdep says can happen
    <BLANKLINE>
    """
    return _Drafter(report, name, source).render()
