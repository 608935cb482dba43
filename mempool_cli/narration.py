"""The words for what the kernel model does: events, states and changes as report text.

The kernel records what a move did as events (a key and its fields, ids
and numbers: kernel/state.py); this module is the one place that turns
them into the sentences traces and stories print, and says where a task
is and what changed between two states. One phrase per event key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mempool_cli.kernel.model import REAPER, Action, KernelModel, State
from mempool_cli.kernel.state import ALL, Event
from mempool_cli.scenario import gfp as G

__all__ = [
    "action_token",
    "changes",
    "describe",
    "event_text",
    "halt_text",
    "summarize",
    "where",
]


class _Names:
    """Resolves the ids in an event's fields to names, for task ``actor``."""

    def __init__(self, model: KernelModel, actor: int) -> None:
        self.m = model
        self.actor = actor

    def lock(self, i: int) -> str:
        return self.m.locks[i].name

    def comp(self, i: int) -> str:
        return self.m.completions[i].name

    def pool(self, i: int) -> str:
        return self.m.pools[i].name

    def counter(self, i: int) -> str:
        return self.m.counters[i].name

    def queue(self, i: int) -> str:
        return self.m.queues[i].name

    def task(self, i: int) -> str:
        return self.m.info[i].name

    def owner(self, i: int) -> str:
        return "itself" if i == self.actor else self.task(i)

    def entry(self, e: int) -> str:
        """A reclaimable entry: its ``name:``, else its index."""
        name = self.m.entries[e].name
        return f"reclaimable {name}" if name else f"reclaimable[{e}]"

    def handle(self, slot: int) -> str:
        return self.m.info[self.actor].program.handles[slot]

    def arg(self, op: str, i: int) -> str:
        """The resource a step names: a counter for wait_event* and atomic_*, a completion
        for wait_* and complete*, else a lock."""
        if op.startswith(("wait_event", "atomic_")):
            return self.counter(i)
        if op in ("enqueue", "dequeue"):  # revision 2
            return self.queue(i)
        return self.comp(i) if "completion" in op or op.startswith("complete") else self.lock(i)

    def what(self, value: tuple[Any, ...]) -> str:
        if value == ("work",):
            return "a work item"
        if value[0] == "p":
            return f"{1 << value[1]} page(s)"
        return f"an element of pool {self.pool(value[1])}"

    def why(self, reason: tuple[str, Any]) -> str:
        kind, data = reason
        if kind == "context":
            return f"in {data} context"
        if kind == "spinlocks":
            return "holding spinlock " + ", ".join(self.lock(i) for i in data)
        if kind == "irqs_off":
            return "with interrupts off" if data == "hard" else "with softirqs off"
        return "in atomic context"


_TOOK = {
    "free_list": "from the free list",
    "no_watermarks": "from the reserves (ALLOC_NO_WATERMARKS)",
    "harder_nofail": "from the ALLOC_HARDER fallback (__GFP_NOFAIL)",
    "after_reclaim": "from the free list after reclaim",
    "high_watermark": "at the high watermark (last attempt before OOM)",
    "reserves_after_oom": "from the reserves after OOM (__GFP_NOFAIL)",
}


def _took(n: _Names, order: int, how: str, before: int, after: int) -> str:
    pages = "page" if order == 0 else f"{1 << order} pages"
    return f"{pages} {_TOOK[how]} ({before} -> {after} free)"


def _exits(n: _Names, rss: int, free: int) -> str:
    return "exits" + (f", its {rss} rss pages return ({free} free)" if rss else "")


def _unlock_not_held(n: _Names, op: str, lock: int, owner: int) -> str:
    name = n.lock(lock)
    held = "free" if owner == -1 else f"held by {n.task(owner)}"
    return f"{op}({name}) but {name} is {held}"


def _reclaim_frees(n: _Names, pages: int, free: int, released: tuple[int, ...]) -> str:
    names = ", ".join(n.lock(i) for i in released)
    return f"reclaim frees {pages} page(s) ({free} free)" + (
        f", releases {names}" if released else ""
    )


def _dequeued(n: _Names, queue: int, handle: int, value: tuple[Any, ...], left: int) -> str:
    into = f" as {n.handle(handle)}" if handle >= 0 else ""
    return f"dequeues {n.what(value)} from {n.queue(queue)}{into} ({left} left)"


_OPS = {"eq": "==", "ne": "!=", "lt": "<", "ge": ">="}  # a counter condition, as C writes it


def _cond(n: _Names, counter: int, cmp: str, value: int) -> str:
    return f"{n.counter(counter)} {_OPS[cmp]} {value}"


def _branch(n: _Names, cond: str, arg: int, taken: bool, value: int = 0) -> str:
    if cond in _OPS:
        what = _cond(n, arg, cond, value)
    elif cond == "held":
        what = f"held: {n.lock(arg)}"
    else:
        what = f"{cond}: {n.handle(arg)}"
    return f"if ({what}) -> {'true, then' if taken else 'false, else'}"


_LEVEL = {"irq": "hard irq", "softirq": "softirq"}  # a handler's context, as a level
_OFF = {"hard": "interrupts off", "soft": "softirqs off"}  # what a disabling step turns off

Phrase = Callable[..., str]

# Each phrase gets the name resolver and the event's fields as keywords.
PHRASES: dict[str, Phrase] = {
    # sched.py
    "exits": _exits,
    "violation": lambda n, reason: "VIOLATION: " + _reason(n, reason),
    "wait_interrupted_at_once": lambda n, op, arg, errno: (
        f"{op}({n.arg(op, arg)}) -> {errno} (fatal signal pending)"
    ),
    "on_fail": lambda n, op, how: (
        f"on_fail: retry {op}" if how == "retry" else "on_fail: runs its steps"
    ),
    "unwinds": lambda n: "on_fail unwind: gives back what it holds, newest first, and exits",
    "branch": _branch,
    # locking.py
    "lock_acquired": lambda n, op, lock: f"{op}({n.lock(lock)}) -> acquired",
    "mutex_sleeps": lambda n, op, lock, owner: (
        f"{op}({n.lock(lock)}) -> sleeps, held by {n.owner(owner)}"
    ),
    "mutex_wakes": lambda n, lock: f"wakes, acquires {n.lock(lock)}",
    "mutex_interrupted": lambda n, lock: (
        f"mutex_lock_killable({n.lock(lock)}) -> -EINTR (fatal signal)"
    ),
    "unlocked": lambda n, op, lock: f"{op}({n.lock(lock)})",
    "spin_spins": lambda n, lock, owner, op="spin_lock": (
        f"{op}({n.lock(lock)}) -> spins, held by {n.owner(owner)}"
    ),
    "spin_acquires": lambda n, lock: f"acquires {n.lock(lock)}",
    "trylock_takes": lambda n, op, lock: f"{op}({n.lock(lock)}) -> 1, acquired",
    # locking.py, rwsem (revision 2)
    "rwsem_acquired": lambda n, op, lock: f"{op}({n.lock(lock)}) -> acquired",
    "rwsem_steals": lambda n, op, lock: (
        f"{op}({n.lock(lock)}) -> acquired at once, ahead of the queued waiters (lock stealing)"
    ),
    "rwsem_sleeps": lambda n, op, lock, write, writer, readers, queued: (
        f"{op}({n.lock(lock)}) -> sleeps, " + _rwsem_why(n, writer, readers, queued)
    ),
    "rwsem_wakes": lambda n, lock, write: (
        f"wakes, holds {n.lock(lock)} for {'write' if write else 'read'}"
    ),
    "rwsem_interrupted": lambda n, lock: (
        f"leaves the queue of {n.lock(lock)}: -EINTR (fatal signal)"
    ),
    "rwsem_released": lambda n, op, lock, woken: (
        f"{op}({n.lock(lock)})"
        + (
            f", hands it to the queued readers {', '.join(n.owner(u) for u in woken)}"
            if woken
            else ""
        )
    ),
    "rwsem_trylock_fails": lambda n, op, lock, writer, readers, queued: (
        f"{op}({n.lock(lock)}) -> 0, " + _rwsem_why(n, writer, readers, queued)
    ),
    "trylock_fails": lambda n, op, lock, owner: (
        f"{op}({n.lock(lock)}) -> 0, held by {n.owner(owner)}"
    ),
    "unwind_unlocks": lambda n, lock: f"unwind: unlocks {n.lock(lock)}",
    "completion_done": lambda n, op, completion: f"{op}({n.comp(completion)}) -> done",
    "completion_sleeps": lambda n, op, completion: f"{op}({n.comp(completion)}) -> sleeps",
    "completion_wakes": lambda n, completion: f"wakes: {n.comp(completion)} completed",
    "completion_interrupted": lambda n, completion: (
        f"wait_for_completion_killable({n.comp(completion)}) -> -ERESTARTSYS"
    ),
    "completed": lambda n, op, completion: f"{op}({n.comp(completion)})",
    "completion_times_out": lambda n, completion: (
        f"wait_for_completion_timeout({n.comp(completion)}) -> 0 (timed out)"
    ),
    # wait.py
    "counter_set": lambda n, op, counter, old, new: f"{op}({n.counter(counter)}): {old} -> {new}",
    "event_holds": lambda n, op, counter, cmp, target, value: (
        f"{op}({_cond(n, counter, cmp, target)}) -> holds ({n.counter(counter)} is {value})"
    ),
    "event_sleeps": lambda n, op, counter, cmp, target, value: (
        f"{op}({_cond(n, counter, cmp, target)}) -> sleeps ({n.counter(counter)} is {value})"
    ),
    "event_wakes": lambda n, counter, cmp, target: f"wakes: {_cond(n, counter, cmp, target)} holds",
    "event_interrupted": lambda n, counter: (
        f"wait_event_killable({n.counter(counter)}) -> -ERESTARTSYS (fatal signal)"
    ),
    "event_times_out": lambda n, counter: (
        f"wait_event_timeout({n.counter(counter)}) -> 0 (timed out)"
    ),
    # irq.py (revision 2)
    "irq_fires": lambda n, host, level: (
        f"{_LEVEL[level]} fires on {n.task(host)}'s CPU: {n.task(host)} waits until it returns"
    ),
    "irqs_off": lambda n, op, level: f"{op}() ({_OFF[level]})",
    "irqs_on": lambda n, op, level: f"{op}() ({_OFF[level].replace(' off', ' back on')})",
    "unwind_irqs_on": lambda n, level: f"unwind: {_OFF[level].replace(' off', ' back on')}",
    # mm/scopes.py
    "scope": lambda n, op: f"{op}()",
    "unwind_restores": lambda n, scope: (
        f"unwind: memalloc_{('noio', 'nofs', 'noreclaim')[scope]}_restore()"
    ),
    # mm/page_alloc.py
    "alloc_pages": lambda n, order, gfp: f"alloc_pages(order {order}, {G.format_gfp(gfp)})",
    "took_pages": _took,
    "nofail_loops_high_priority": lambda n: (
        "no free page even without watermarks; __GFP_NOFAIL loops in the high-priority path"
    ),
    "fails_below_watermark": lambda n, free, floor: (
        f"fails: below the watermark ({free} free, floor {floor}) and no direct reclaim"
    ),
    "pf_memalloc_nofail_loops": lambda n: (
        "PF_MEMALLOC cannot reclaim; __GFP_NOFAIL loops waiting for someone else"
    ),
    "fails_pf_memalloc": lambda n: "fails: PF_MEMALLOC may not enter direct reclaim",
    "fails_memdie": lambda n: "fails: TIF_MEMDIE without __GFP_NOFAIL does not loop",
    "fails_noretry": lambda n: "fails: __GFP_NORETRY after one reclaim pass",
    "reclaim_progress_retry": lambda n: "reclaim made progress: retry",
    "no_progress_may_oom": lambda n: "no reclaim progress: __alloc_pages_may_oom next",
    "fails_costly": lambda n: "fails: costly order without __GFP_RETRY_MAYFAIL",
    "should_reclaim_retry_gives_up": lambda n, loops: (
        f"should_reclaim_retry: {loops} loops without progress, give up"
    ),
    "should_reclaim_retry": lambda n, available, loops: (
        f"should_reclaim_retry: {available} free+reclaimable pass min: retry (loop {loops})"
    ),
    "should_reclaim_retry_may_oom": lambda n: (
        "should_reclaim_retry: not enough reclaimable; __alloc_pages_may_oom next"
    ),
    "may_oom_costly": lambda n: "may_oom: order > 3, the OOM killer would not help",
    "may_oom_nofs_loops": lambda n: "may_oom: no __GFP_FS, no OOM kill, but keep looping",
    "may_oom_retry_mayfail": lambda n: "may_oom: __GFP_RETRY_MAYFAIL never OOM-kills",
    "may_oom_lowmem": lambda n: (
        "may_oom: a lowmem request (__GFP_DMA/__GFP_DMA32), the OOM killer would not help"
    ),
    "may_oom_thisnode": lambda n: "may_oom: __GFP_THISNODE, the OOM killer may not help",
    "fails_victim_had_reserves": lambda n: (
        "fails: an OOM victim that already had its reserves does not loop"
    ),
    "fails_no_progress": lambda n: "fails: no progress possible",
    "free_null": lambda n, op, handle: f"{op}({n.handle(handle)}) -> NULL, nothing to free",
    "pages_freed": lambda n, handle, pages, free: (
        f"free_pages({n.handle(handle)}) -> {pages} pages freed ({free} free)"
    ),
    "unwind_frees": lambda n, handle, free: f"unwind: free_pages({n.handle(handle)}) ({free} free)",
    "unwind_returns": lambda n, handle: f"unwind: mempool_free({n.handle(handle)})",
    # mm/vmscan.py
    "reclaim_nothing": lambda n: "direct reclaim: nothing this gfp may reclaim",
    "reclaim_on": lambda n, entry, pages: f"direct reclaim on {n.entry(entry)} for {pages} page(s)",
    "reclaim_trylock_fails": lambda n, entry, lock, owner: (
        f"{n.entry(entry)}: mutex_trylock({n.lock(lock)}) fails, held by {n.owner(owner)}: "
        "no progress"
    ),
    "reclaim_trylock_takes": lambda n, lock: f"reclaim trylocks {n.lock(lock)}",
    "reclaim_needs_lock": lambda n, lock, owner: (
        f"reclaim needs {n.lock(lock)}, held by {n.owner(owner)}"
    ),
    "reclaim_takes_lock": lambda n, lock: f"reclaim takes {n.lock(lock)}",
    "reclaim_waits": lambda n, completion: f"reclaim waits for {n.comp(completion)}",
    "reclaim_already_completed": lambda n, completion: f"{n.comp(completion)} already completed",
    "reclaim_frees": _reclaim_frees,
    "reclaim_wakes": lambda n, completion: f"reclaim wakes: {n.comp(completion)} completed",
    # mm/oom_kill.py
    "oom_disabled": lambda n: "out_of_memory: the OOM killer is disabled",
    "oom_current_dying": lambda n: (
        "out_of_memory: current is dying, it gets the reserves instead of a new kill"
    ),
    "oom_nofs": lambda n: "out_of_memory: no __GFP_FS, no kill (progress reported)",
    "oom_scan_aborts": lambda n, victims: (
        f"out_of_memory: victim {', '.join(n.task(v) for v in victims)} has not exited, "
        "the scan aborts"
    ),
    "oom_panics": lambda n: "out_of_memory: no eligible task, kernel panic",
    "oom_kills": lambda n, victim, rss: f"out_of_memory: kills {n.task(victim)} (rss {rss})",
    "reaper_trylock_fails": lambda n, victim, lock: (
        f"mmap_read_trylock({n.lock(lock)}) of {n.owner(victim)} fails"
    ),
    "reaps": lambda n, victim, pages, free: (
        f"reaps {n.task(victim)}: {pages} pages freed ({free} free), MMF_OOM_SKIP"
    ),
    "cannot_reap_marks": lambda n, victim: (
        f"cannot reap {n.task(victim)}, marks it MMF_OOM_SKIP anyway"
    ),
    "cannot_reap_gives_up": lambda n, victim: (
        f"cannot reap {n.task(victim)}, gives up without marking it"
    ),
    # mm/mempool.py
    "mempool_alloc": lambda n, pool, gfp: f"mempool_alloc({n.pool(pool)}, {G.format_gfp(gfp)})",
    "pool_alloc": lambda n, gfp: f"pool->alloc({G.format_gfp(gfp)})",
    "pool_wakes": lambda n, pool: f"wakes on {n.pool(pool)}->wait (refill or 5 s timeout)",
    "pool_takes": lambda n, pool, left, capacity: (
        f"takes an element from {n.pool(pool)} ({left}/{capacity} left)"
    ),
    "pool_empty_retry": lambda n, pool: (
        f"{n.pool(pool)} empty: retry pool->alloc at once with the full mask"
    ),
    "pool_empty_null": lambda n, pool: f"{n.pool(pool)} empty and no direct reclaim: returns NULL",
    "pool_sleeps": lambda n, pool: (
        f"{n.pool(pool)} empty: sleeps on {n.pool(pool)}->wait (5 s timeout, uninterruptible)"
    ),
    "pool_refilled": lambda n, handle, pool, curr, capacity: (
        f"mempool_free({n.handle(handle)}) -> back into {n.pool(pool)} ({curr}/{capacity}), "
        "wakes waiters"
    ),
    "pool_full_frees": lambda n, handle, pool, free: (
        f"mempool_free({n.handle(handle)}) -> {n.pool(pool)} full: pool->free, {free} free"
    ),
    # queue.py (revision 2, "Work handed to another context")
    "enqueued": lambda n, queue, handle, count: (
        f"enqueues {n.handle(handle) if handle >= 0 else 'a work item'} on {n.queue(queue)} "
        f"({count} queued)"
    ),
    "enqueue_sleeps": lambda n, queue, capacity: (
        f"sleeps in enqueue: {n.queue(queue)} is full ({capacity}/{capacity})"
    ),
    "dequeue_sleeps": lambda n, queue: f"sleeps in dequeue: {n.queue(queue)} is empty",
    "dequeue_empty": lambda n, queue: f"dequeue({n.queue(queue)}, nowait): empty, fails",
    "dequeued": _dequeued,
    "queue_wakes": lambda n, queue, full: (
        f"wakes: {n.queue(queue)} has {'room' if full else 'an item'}"
    ),
}


# Why the machine halted: the reason event of a violation or a panic.
def _rwsem_why(n: Any, writer: int, readers: tuple[int, ...], queued: tuple[int, ...]) -> str:
    """Why an rwsem is not to be had: its writer, or its readers and queued waiters."""
    if writer != -1:
        return f"held for write by {n.owner(writer)}"
    parts = []
    if readers:
        parts.append("held for read by " + ", ".join(n.owner(u) for u in readers))
    if queued:
        parts.append("queued behind " + ", ".join(n.owner(u) for u in queued))
    return "; ".join(parts) or "free"


REASONS: dict[str, Phrase] = {
    "exit_holding_handle": lambda n, handle, value: (
        f"exits still holding {n.handle(handle)} ({n.what(value)})"
    ),
    "exit_holding_lock": lambda n, lock: f"exits holding lock {n.lock(lock)}",
    "sleeps_atomic": lambda n, op, arg, why: f"{op}({n.arg(op, arg)}) sleeps {n.why(why)}",
    "unlock_not_held": _unlock_not_held,
    "rwsem_not_held": lambda n, op, lock, mode: (
        f"{op}({n.lock(lock)}) without holding it for {mode}"
    ),
    "restore_without_save": lambda n, op: f"{op}() without a matching save",
    "leak_unbound": lambda n, value: f"{n.what(value)} allocated without `as:` is leaked",
    "leak_rebound": lambda n, handle, value: (
        f"{n.handle(handle)} is rebound while still holding {n.what(value)} (leak)"
    ),
    "double_free": lambda n, op, handle: (
        f"{op}({n.handle(handle)}): {n.handle(handle)} was already freed"
    ),
    "free_pages_on_element": lambda n, handle, pool: (
        f"free_pages({n.handle(handle)}) on an element of pool {n.pool(pool)}"
    ),
    "mempool_free_on_pages": lambda n, handle: (
        f"mempool_free({n.handle(handle)}) on pages from alloc_pages"
    ),
    "mempool_free_wrong_pool": lambda n, handle, to, came: (
        f"mempool_free({n.handle(handle)}) to pool {n.pool(to)}, "
        f"but it came from pool {n.pool(came)}"
    ),
    "alloc_may_sleep": lambda n, op, gfp, why: f"{op}({G.format_gfp(gfp)}) may sleep {n.why(why)}",
    "reclaim_waits_under_spinlock": lambda n: "reclaim waits for completion holding a spinlock",
    "oom_no_killable": lambda n: "out_of_memory: no killable task left",
    "exit_irqs_off": lambda n, level: f"exits with {_OFF[level]}",
    "irq_enable_unbalanced": lambda n, op: f"{op}() without a matching disable",
    "counter_range": lambda n, op, counter, value, max: (
        f"{op}({n.counter(counter)}) makes it {value}, outside 0..{max}"
    ),
    # revision 2, queues
    "enqueue_null": lambda n, queue, handle: (
        f"enqueue({n.queue(queue)}, {n.handle(handle)}) of a null handle"
    ),
    "enqueue_freed": lambda n, queue, handle: (
        f"enqueue({n.queue(queue)}, {n.handle(handle)}): {n.handle(handle)} was already freed"
    ),
    "enqueue_sent": lambda n, queue, handle, to: (
        f"enqueue({n.queue(queue)}, {n.handle(handle)}): {n.handle(handle)} was already "
        f"handed to queue {n.queue(to)}"
    ),
    "free_sent": lambda n, op, handle, queue: (
        f"{op}({n.handle(handle)}) frees a handle it handed to queue {n.queue(queue)}"
    ),
    "leak_dequeued": lambda n, queue, value: (
        f"dequeue({n.queue(queue)}) without `as:` drops {n.what(value)} (leak)"
    ),
}


def _reason(n: _Names, reason: Event) -> str:
    key, fields = reason
    return REASONS[key](n, **dict(fields))


def event_text(model: KernelModel, actor: int, event: Event) -> str:
    """One event of task ``actor`` (or of the reaper, ``REAPER``) as a phrase."""
    key, fields = event
    return PHRASES[key](_Names(model, actor), **dict(fields))


def action_token(model: KernelModel, action: Action) -> str:
    """An action's schedule token: ``taskB``, ``taskB#1`` for a task's second choice,
    ``reaper@taskC`` for the OOM reaper acting on taskC (what ``mpsim replay`` reads)."""
    t, choice = action
    if t == REAPER:
        return f"reaper@{model.info[choice].name}"
    name = model.info[t].name
    return name if choice == 0 else f"{name}#{choice}"


def describe(model: KernelModel, s: State, action: Action) -> str:
    """What ``action`` does in ``s``, in kernel words, for traces and replays."""
    t = action[0]
    events = model.action_events(s, action)
    who = model.actor_name(action)
    return f"{who}: " + "; ".join([event_text(model, t, e) for e in events] or ["(no change)"])


def halt_text(model: KernelModel, s: State) -> str:
    """Why the machine halted in ``s``: ``task: reason``."""
    halt = model.halt_reason(s)
    assert halt is not None
    _, t, reason = halt
    return f"{model.info[t].name}: {_reason(_Names(model, t), reason)}"


_STATUS_WORDS = (
    ("killed", "SIGKILL"),
    ("memdie", "TIF_MEMDIE"),
    ("victim", "OOM victim"),
    ("oom_skip", "MMF_OOM_SKIP"),
    ("exited", "exited"),
)


def changes(model: KernelModel, before: State, after: State) -> list[tuple[str, str]]:
    """What differs between two states, as (thing, "old -> new") pairs for trace rows."""
    m = model
    out: list[tuple[str, str]] = []
    if m.free_pages(before) != m.free_pages(after):
        out.append(("free", f"{m.free_pages(before)} -> {m.free_pages(after)}"))
    for i, pool in enumerate(m.pools):
        old, new = m.curr_nr(before, i), m.curr_nr(after, i)
        if old != new:
            out.append((pool.name, f"{old} -> {new} of {m.pool_capacity(i)}"))
    for i, lock in enumerate(m.locks):
        old_owner, new_owner = m.lock_owner(before, i), m.lock_owner(after, i)
        if old_owner != new_owner:
            out.append((lock.name, f"{_holder(m, old_owner)} -> {_holder(m, new_owner)}"))
    for i, comp in enumerate(m.completions):
        old, new = m.done_count(before, i), m.done_count(after, i)
        if old != new:
            out.append((comp.name, f"done {_done(old)} -> {_done(new)}"))
    for i, counter in enumerate(m.counters):
        old, new = m.counter_value(before, i), m.counter_value(after, i)
        if old != new:
            out.append((counter.name, f"{old} -> {new}"))
    for i, queue in enumerate(m.queues):
        items_was, items_now = m.queue_items(before, i), m.queue_items(after, i)
        if items_was != items_now:
            out.append((queue.name, f"{len(items_was)} -> {len(items_now)} queued"))
    for i in range(len(m.entries)):
        old, new = m.reclaimable_left(before, i), m.reclaimable_left(after, i)
        if old != new:
            out.append((f"reclaimable[{i}]", f"{old} -> {new} pages"))
    for t, info in enumerate(m.info):
        was, now = m.task_view(before, t), m.task_view(after, t)
        gained = [
            word for flag, word in _STATUS_WORDS if getattr(now, flag) and not getattr(was, flag)
        ]
        if gained:
            out.append((info.name, "+" + ", ".join(gained)))
    return out


def _holder(model: KernelModel, owner: int | None) -> str:
    return "free" if owner is None else model.info[owner].name


def _done(value: int) -> str:
    return "all" if value == ALL else str(value)


def _held_by(model: KernelModel, s: State, lock: int) -> str:
    """Who holds a lock a task waits on; free when released since the task began to wait."""
    owner = model.lock_owner(s, lock)
    if owner is None:
        return f"{model.locks[lock].name} is free (just released)"
    return f"held by {model.info[owner].name}"


def summarize(model: KernelModel, s: State, outcome: str) -> str:
    """One line on what a finding's last state shows."""
    if model.halted(s):
        return halt_text(model, s)
    if outcome == "depletion":
        return f"free pages reached 0 below min {model.wmark_min}: the emergency reserves are gone"
    if outcome == "oom-kill":
        killed = [
            info.name
            for t, (info, spec) in enumerate(zip(model.info, model.scenario.tasks, strict=True))
            if model.task_view(s, t).killed and not spec.oom_victim
        ]
        return "the OOM killer killed " + ", ".join(killed)
    waiting = [
        f"{info.name} {where(model, s, t)}"
        for t, info in enumerate(model.info)
        if not model.task_view(s, t).exited
    ]
    return "; ".join(waiting)


def where(model: KernelModel, s: State, t: int) -> str:
    """Where task ``t`` is in ``s``, in kernel words, e.g. 'sleeps in mutex_lock(M)'."""
    view = model.task_view(s, t)
    if view.exited:
        return "has exited"
    by = model.interrupted_by(s, t)
    if by is not None:  # revision 2: a handler runs above it on its CPU
        return f"is interrupted: {model.info[by].name} runs on its CPU"
    wait = view.wait
    program = model.info[t].program.instrs
    host = model.cpu_host(t)
    if host is not None and not model.handler_fired(s, t):
        return f"has not fired yet on {model.info[host].name}'s CPU"
    if wait is None:
        if view.pc >= len(program):
            return "is about to exit"
        ins = program[view.pc]
        if ins.op.endswith("_trylock") and model.lock_owner(s, ins.arg) not in (None, t):
            how = "retries" if ins.fail == view.pc else "tries"
            name = model.locks[ins.arg].name
            return f"{how} {ins.op}({name}), {_held_by(model, s, ins.arg)}"
        if view.pc in model.info[t].program.spin_pcs:
            return f"goes round a loop, about to run {ins.op}"
        return f"is about to run {ins.op}"
    if wait.kind == "mutex":
        assert wait.resource is not None
        # mutex_unlock wakes the waiter; it takes the mutex when it next runs
        verb = "woken" if model.lock_owner(s, wait.resource) is None else "sleeps"
        name = model.locks[wait.resource].name
        return f"{verb} in mutex_lock({name}), {_held_by(model, s, wait.resource)}"
    if wait.kind == "rwsem":
        assert wait.resource is not None
        return _rwsem_where(model, s, t, wait.resource, wait.call)
    if wait.kind == "spinlock":
        assert wait.resource is not None
        name = model.locks[wait.resource].name
        op = program[view.pc].op
        return f"spins in {op}({name}), {_held_by(model, s, wait.resource)}"
    if wait.kind == "completion":
        assert wait.resource is not None
        return f"sleeps in {wait.call}({model.completions[wait.resource].name})"
    if wait.kind == "counter":
        assert wait.resource is not None
        ins = program[view.pc]
        name = model.counters[wait.resource].name
        value = model.counter_value(s, wait.resource)
        return f"sleeps in {ins.op}({name} {_OPS[ins.cond]} {ins.value}), {name} is {value}"
    if wait.kind == "queue":
        assert wait.resource is not None
        name = model.queues[wait.resource].name
        if wait.call == "enqueue":
            capacity = model.queues[wait.resource].capacity
            return f"sleeps in enqueue: {name} is full ({capacity}/{capacity})"
        return f"sleeps in dequeue: {name} is empty"
    if wait.call == "alloc_pages":
        return "loops in alloc_pages: " + _alloc_where(model, s, wait.kind, wait.resource)
    assert wait.pool is not None
    pool = model.pools[wait.pool].name
    if wait.pool_sleep:
        return f"sleeps in mempool_alloc({pool}): pool empty, waiting for an element"
    if wait.kind in ("reclaim-lock", "reclaim-completion"):
        return f"in mempool_alloc({pool}), pool->alloc " + _alloc_where(
            model, s, wait.kind, wait.resource
        )
    return f"retries mempool_alloc({pool})"


def _rwsem_where(model: KernelModel, s: State, t: int, lock: int, call: str) -> str:
    """Where a task queued on an rwsem is: what it waits for, in lockdep's words."""
    name = model.locks[lock].name
    holders, behind = model.rwsem_waits_for(s, t)
    if not holders and behind is None:
        return f"woken in {call}({name}), takes it when it next runs"
    parts = []
    if holders:
        mode = "write" if model.rwsem_writer(s, lock) is not None else "read"
        parts.append(f"held for {mode} by " + ", ".join(model.info[u].name for u in holders))
    if behind is not None:
        parts.append(f"queued behind {model.info[behind].name}")
    return f"sleeps in {call}({name}), " + "; ".join(parts)


def _alloc_where(model: KernelModel, s: State, kind: str, resource: int | None) -> str:
    if kind == "reclaim-lock":
        assert resource is not None
        name = model.locks[resource].name
        return f"reclaim waits for {name}, {_held_by(model, s, resource)}"
    if kind == "reclaim-completion":
        assert resource is not None
        return f"reclaim waits for {model.completions[resource].name}"
    return "reclaim and retry make no progress"
