"""States as short byte strings for the search's visited set (docs/model.md, "Packed states").

A state is ``(free, curr, owners, done, left, halt, tasks)`` (state.py). The
search holds hundreds of thousands of them, and most of their parts repeat:
a few hundred shared parts, a few dozen tuples per task. ``Packing`` interns
the shared part (the first six fields) and every task tuple to small ids and
writes a state as two bytes of shared id followed by one byte per task id:
14 bytes for twelve tasks, where the tuples took about 300. Ids that do not
fit take an escape (below), so any state packs, only less tightly.

Packing is a bijection between states and keys: equal states give equal
keys and ``unpack(pack(s)) == s``. The tables only grow; a search's ids
stay valid for the model's lifetime.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mempool_cli.kernel.state import FRAME, PC, State

__all__ = ["Packing"]

_WIDE = 0xFF  # a task id byte that says "the id follows in three bytes"
_WIDE_SHARED = 0xFFFF  # a shared id prefix that says "the id follows in four bytes"


class Packing:
    """Interned shared parts and task tuples, and the byte keys made of their ids.

    The first state packed is ``b"\\x00\\x00"`` and one zero byte per task (shared
    id 0, task id 0 for each copy of one tuple); tests/unit/test_packing.py.
    """

    def __init__(
        self,
        labels_of: Callable[[tuple[Any, ...]], frozenset[str]],
        flags_of: Callable[[tuple[Any, ...]], int] = lambda task: 0,
    ) -> None:
        """``labels_of(shared)``: the state labels of every state with that shared part;
        ``flags_of(task)``: what the model wants to know of a task tuple at a glance."""
        self._labels_of = labels_of
        self._flags_of = flags_of
        self.shared: list[tuple[Any, ...]] = []  # id -> shared part
        self.labels: list[frozenset[str]] = []  # id -> the state labels of that shared part
        self.prefix: list[bytes] = []  # id -> its key prefix
        self._shared_ids: dict[tuple[Any, ...], int] = {}
        self.tasks: list[tuple[Any, ...]] = []  # id -> task tuple
        self.pc: list[int] = []  # id -> that task tuple's pc
        self.flags: list[int] = []  # id -> flags_of(that task tuple)
        self._task_ids: dict[tuple[type, tuple[Any, ...]], int] = {}

    def shared_id(self, shared: tuple[Any, ...]) -> int:
        """The id of a shared part, interning it on first sight."""
        sid = self._shared_ids.get(shared)
        if sid is None:
            sid = self._shared_ids[shared] = len(self.shared)
            self.shared.append(shared)
            self.labels.append(self._labels_of(shared))
            self.prefix.append(
                sid.to_bytes(2, "big")
                if sid < _WIDE_SHARED
                else _WIDE_SHARED.to_bytes(2, "big") + sid.to_bytes(4, "big")
            )
        return sid

    def task_id(self, task: tuple[Any, ...]) -> int:
        """The id of a task tuple, interning it on first sight.

        Keyed by the frame's type too: the frames are named tuples, and a mutex
        wait ``LockWait(0, False)`` equals a queue wait ``QueueWait(0, False)``
        as tuples; two tasks at the same pc of different programs must not
        share an id through that.
        """
        typed = (type(task[FRAME]), task)
        tid = self._task_ids.get(typed)
        if tid is None:
            tid = self._task_ids[typed] = len(self.tasks)
            self.tasks.append(task)
            self.pc.append(task[PC])
            self.flags.append(self._flags_of(task))
        return tid

    def key(self, sid: int, tids: list[int]) -> bytes:
        """The key of the state made of these ids."""
        if len(self.tasks) <= _WIDE or max(tids, default=0) < _WIDE:
            return self.prefix[sid] + bytes(tids)
        body = bytearray()
        for tid in tids:
            if tid < _WIDE:
                body.append(tid)
            else:
                body.append(_WIDE)
                body += tid.to_bytes(3, "big")
        return self.prefix[sid] + bytes(body)

    def shared_of(self, key: bytes) -> int:
        """The shared id of a key (the first half of ``ids``, without the task ids)."""
        sid = key[0] << 8 | key[1]
        return int.from_bytes(key[2:6], "big") if sid == _WIDE_SHARED else sid

    def ids(self, key: bytes) -> tuple[int, Sequence[int]]:
        """The shared id and the task ids a key is made of (the inverse of ``key``)."""
        sid = key[0] << 8 | key[1]
        start = 2
        if sid == _WIDE_SHARED:
            sid, start = int.from_bytes(key[2:6], "big"), 6
        body = key[start:]
        if _WIDE not in body:
            return sid, body
        tids: list[int] = []
        i = 0
        while i < len(body):
            if body[i] == _WIDE:
                tids.append(int.from_bytes(body[i + 1 : i + 4], "big"))
                i += 4
            else:
                tids.append(body[i])
                i += 1
        return sid, tids

    def pack(self, s: State) -> bytes:
        """The key of a state."""
        task_id = self.task_id
        return self.key(self.shared_id(s[:6]), [task_id(task) for task in s[6]])

    def unpack(self, key: bytes) -> State:
        """The state a key stands for."""
        return self.state(*self.ids(key))

    def state(self, sid: int, tids: Sequence[int]) -> State:
        """The state made of these ids."""
        tasks = self.tasks
        return (*self.shared[sid], tuple([tasks[i] for i in tids]))
