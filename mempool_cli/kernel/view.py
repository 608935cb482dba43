"""Read-only views of a task in a model state, for the layers that explain states.

The state is a plain tuple whose layout only ``kernel/model.py`` knows;
``KernelModel.task_view`` decodes one task into a ``TaskView`` (and its
wait, if any, into a ``Wait``) so that the wait-for graph, the hints and
the DOT output ask questions instead of indexing tuples. Plain frozen
data: ints, strings, bools and tuples, no behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["TaskView", "Wait", "WaitKind"]

WaitKind = Literal[
    "mutex",  # sleeps in mutex_lock(_killable)
    "spinlock",  # spins in spin_lock
    "rwsem",  # sleeps in down_read / down_write (_killable), queued on the rwsem
    "completion",  # sleeps in wait_for_completion(_killable)
    "pool",  # in mempool_alloc, retrying pool->alloc or asleep on pool->wait
    "page",  # loops in a plain alloc_pages slow path for a page
    "reclaim-lock",  # direct reclaim blocked on a lock a reclaimable entry needs
    "reclaim-completion",  # direct reclaim waiting for an entry's completion
    "counter",  # sleeps in wait_event* until a counter condition holds (revision 2)
    "queue",  # sleeps in dequeue (queue empty) or enqueue (queue full) (revision 2)
]


@dataclass(frozen=True, slots=True)
class Wait:
    """What a task in the middle of a step waits or spins on.

    ``resource`` is the lock id (``mutex``, ``spinlock``, ``reclaim-lock``),
    the completion id (``completion``, ``reclaim-completion``), the counter id
    (``counter``), the queue id (``queue``; ``call`` is ``enqueue`` or ``dequeue``), the
    pool id
    (``pool``), or None (``page``). ``call`` is the kernel call the task is
    inside: ``mutex_lock``, ``spin_lock``, ``wait_for_completion`` (killable
    variants included), ``alloc_pages`` or ``mempool_alloc``; ``pool`` is the
    pool of that ``mempool_alloc`` (None for any other call). ``gfp`` is the
    mask of the page allocation in progress, after the task's memalloc
    scope [2.3] (for ``mempool_alloc``, the mask of its ``pool->alloc``
    pass), or None when no page allocation is under way. ``pool_sleep``: asleep on
    ``pool->wait`` (mempool_alloc's timed wait) rather than retrying.
    ``spinning``: looping in a plain ``alloc_pages`` slow path, what makes a
    hang a livelock (``KernelModel.classify_hang``).
    """

    kind: WaitKind
    resource: int | None
    call: str
    pool: int | None = None
    gfp: int | None = None
    pool_sleep: bool = False
    spinning: bool = False


@dataclass(frozen=True, slots=True)
class TaskView:
    """One task of a state: where it is, its status bits, and the memory it holds.

    ``pc`` indexes the task's compiled program (``TaskInfo.program``);
    ``wait`` is None between steps (``at_boundary``). The flags
    are the status bits of docs/model.md ("The state"): ``killed`` (fatal
    signal pending), ``memdie`` (TIF_MEMDIE), ``victim`` (tsk_is_oom_victim),
    ``oom_skip`` (MMF_OOM_SKIP), ``reaped`` (the OOM reaper acted),
    ``exited``. ``pages`` is what its page handles hold (``1 << order``
    each); ``elements[p]`` the elements of pool ``p`` its handles hold.
    """

    name: str
    pc: int
    wait: Wait | None
    killed: bool
    memdie: bool
    victim: bool
    oom_skip: bool
    reaped: bool
    exited: bool
    rss: int
    pages: int
    elements: tuple[int, ...]

    @property
    def at_boundary(self) -> bool:
        """Between two steps: not inside a lock, completion or allocation call."""
        return self.wait is None
