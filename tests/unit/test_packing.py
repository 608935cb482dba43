"""Packed states (kernel/packing.py): a bijection between states and short keys."""

from __future__ import annotations

from mempool_cli.kernel.locking import LockWait
from mempool_cli.kernel.packing import Packing
from mempool_cli.kernel.queue import QueueWait


def task(pc: int, frame: object = ()) -> tuple[object, ...]:
    return (pc, frame, 0, 1, (), (0, 0, 0), 0)


def state(free: int, *tasks: tuple[object, ...]) -> tuple[object, ...]:
    return (free, (2,), (-1,), (), (), None, tuple(tasks))


def test_a_state_round_trips_and_equal_states_share_a_key() -> None:
    p = Packing(lambda shared: frozenset())
    s = state(4, task(0), task(1), task(0))
    key = p.pack(s)
    assert p.unpack(key) == s
    assert p.pack(state(4, task(0), task(1), task(0))) == key
    assert p.pack(state(4, task(1), task(0), task(0))) != key
    assert p.pack(state(3, task(0), task(1), task(0))) != key
    assert len(key) == 2 + 3  # two bytes of shared id, one per task


def test_frames_equal_as_tuples_but_of_different_kinds_stay_apart() -> None:
    """A mutex wait and a queue wait on index 0 are the same tuple; the packing must not
    hand one task's queue wait back as a mutex wait."""
    p = Packing(lambda shared: frozenset())
    assert LockWait(0, False) == QueueWait(0, False)
    s = state(1, task(3, LockWait(0, False)), task(3, QueueWait(0, False)))
    back = p.unpack(p.pack(s))
    assert [type(t[1]) for t in back[6]] == [LockWait, QueueWait]


def test_ids_past_one_byte_and_two_bytes_take_the_escape() -> None:
    p = Packing(lambda shared: frozenset())
    many = [state(free, task(0)) for free in range(70_000)]
    keys = {p.pack(s) for s in many}
    assert len(keys) == len(many)
    assert all(p.unpack(p.pack(s)) == s for s in many[::997] + many[-3:])
    # the shared id alone, past the two-byte escape too
    assert all(p.shared_of(p.pack(s)) == p.ids(p.pack(s))[0] for s in many[::997] + many[-3:])
    wide = state(0, *(task(pc) for pc in range(300)))
    assert p.unpack(p.pack(wide)) == wide
    assert p.pack(state(0, task(254), task(255), task(256))) != p.pack(
        state(0, task(255), task(254), task(256))
    )


def test_labels_are_read_once_per_shared_part() -> None:
    seen: list[tuple[object, ...]] = []

    def labels(shared: tuple[object, ...]) -> frozenset[str]:
        seen.append(shared)
        return frozenset({"depletion"}) if shared[0] == 0 else frozenset()

    p = Packing(labels)
    for _ in range(3):
        key = p.pack(state(0, task(0)))
    assert p.labels[p.ids(key)[0]] == {"depletion"}
    assert len(seen) == 1
