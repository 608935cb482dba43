"""Small transition systems whose outcomes can be checked by hand.

Each satisfies ``mempool_cli.explore.Model``. They know nothing of the
kernel: the explorer's tests must hold for any model.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "NO_LABELS",
    "ChainModel",
    "CounterModel",
    "GraphModel",
    "GridModel",
    "LockModel",
    "RingModel",
    "SleepPollModel",
    "SlowModel",
    "SpinModel",
    "StarvationModel",
    "abba",
    "ordered_locks",
]

NO_LABELS: frozenset[str] = frozenset()

Succ = list[tuple[Any, Any, frozenset[str]]]


def _put(values: tuple[int, ...], i: int, value: int) -> tuple[int, ...]:
    return (*values[:i], value, *values[i + 1 :])


class LockModel:
    """Tasks running straight-line programs of ``("lock", L)`` / ``("unlock", L)``.

    A task that finds its lock taken spends one step going to sleep on
    it; a sleeping task takes the lock in one step once it is free. A
    task with no step left has exited. State: ``(pcs, asleep, owners)``,
    an owner being a task id or -1. Actions are ``(task, what)`` in task
    order, at most one per task.
    """

    def __init__(self, programs: Sequence[Sequence[tuple[str, int]]], locks: int) -> None:
        self.programs = tuple(tuple(p) for p in programs)
        self.locks = locks

    def initial(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        tasks = len(self.programs)
        return ((0,) * tasks, (0,) * tasks, (-1,) * self.locks)

    def successors(self, state: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]) -> Succ:
        pcs, asleep, owners = state
        out: Succ = []
        for t, prog in enumerate(self.programs):
            pc = pcs[t]
            if pc == len(prog):
                continue
            op, lock = prog[pc]
            new_pcs = _put(pcs, t, pc + 1)
            if op == "unlock":
                new_owners = _put(owners, lock, -1)
                out.append(((t, "unlock"), (new_pcs, asleep, new_owners), NO_LABELS))
            elif owners[lock] == -1:
                new_owners = _put(owners, lock, t)
                awake = _put(asleep, t, 0)
                out.append(((t, "lock"), (new_pcs, awake, new_owners), NO_LABELS))
            elif not asleep[t]:
                sleeping = _put(asleep, t, 1)
                out.append(((t, "sleep"), (pcs, sleeping, owners), NO_LABELS))
        return out

    def state_labels(self, state: Any) -> frozenset[str]:
        return NO_LABELS

    def is_final(self, state: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]) -> bool:
        return all(pc == len(p) for pc, p in zip(state[0], self.programs, strict=True))

    def classify_hang(self, states: Sequence[Any]) -> str:
        return "deadlock"  # every wait here is a sleep


A, B = 0, 1


def abba() -> LockModel:
    """Task 0 takes A then B, task 1 takes B then A."""
    t0 = [("lock", A), ("lock", B), ("unlock", B), ("unlock", A)]
    t1 = [("lock", B), ("lock", A), ("unlock", A), ("unlock", B)]
    return LockModel([t0, t1], locks=2)


def ordered_locks() -> LockModel:
    """Both tasks take A then B: a consistent order cannot deadlock."""
    t = [("lock", A), ("lock", B), ("unlock", B), ("unlock", A)]
    return LockModel([t, t], locks=2)


class SpinModel:
    """A spin-retry livelock.

    Task 0: lock L; wait (asleep) for completion C; unlock L; exit.
    Task 1: trylock L, and on failure back off and retry (spinning);
    once it has L: complete C; unlock L; exit.

    If task 0 takes L first, task 1 spins forever between trylock and
    backoff. State: ``(pc0, pc1, owner of L, C done)``.
    """

    def initial(self) -> tuple[int, int, int, int]:
        return (0, 0, -1, 0)

    def successors(self, s: tuple[int, int, int, int]) -> Succ:
        pc0, pc1, owner, done = s
        out: Succ = []
        if pc0 == 0 and owner == -1:
            out.append(("t0 lock", (1, pc1, 0, done), NO_LABELS))
        elif pc0 == 1 and done:
            out.append(("t0 wake", (2, pc1, owner, done), NO_LABELS))
        elif pc0 == 2:
            out.append(("t0 unlock", (3, pc1, -1, done), NO_LABELS))
        if pc1 == 0:
            if owner == -1:
                out.append(("t1 trylock ok", (pc0, 2, 1, done), NO_LABELS))
            else:
                out.append(("t1 trylock fail", (pc0, 1, owner, done), NO_LABELS))
        elif pc1 == 1:
            out.append(("t1 backoff", (pc0, 0, owner, done), NO_LABELS))
        elif pc1 == 2:
            out.append(("t1 complete", (pc0, 3, owner, 1), NO_LABELS))
        elif pc1 == 3:
            out.append(("t1 unlock", (pc0, 4, -1, done), NO_LABELS))
        return out

    def state_labels(self, s: Any) -> frozenset[str]:
        return NO_LABELS

    def is_final(self, s: tuple[int, int, int, int]) -> bool:
        return s[0] == 3 and s[1] == 4

    def classify_hang(self, states: Sequence[tuple[int, int, int, int]]) -> str:
        return "livelock" if any(s[1] in (0, 1) for s in states) else "deadlock"


class SleepPollModel:
    """A sleep-poll hang: a timed wait that wakes, finds nothing, sleeps again.

    Task 0 waits on completion C with a timeout: asleep (pc 0), the
    timeout fires (pc 1, polling), C not done, back to sleep. Task 1
    either completes C, or exits without doing so (the bug). State:
    ``(pc0, pc1, C done)``. Task 0 is never spinning, so a hang is a
    deadlock.
    """

    def initial(self) -> tuple[int, int, int]:
        return (0, 0, 0)

    def successors(self, s: tuple[int, int, int]) -> Succ:
        pc0, pc1, done = s
        out: Succ = []
        if pc0 == 0:
            if done:
                out.append(("t0 woken", (2, pc1, done), NO_LABELS))
            else:
                out.append(("t0 timeout", (1, pc1, done), NO_LABELS))
        elif pc0 == 1:
            out.append(("t0 poll", (2 if done else 0, pc1, done), NO_LABELS))
        if pc1 == 0:
            out.append(("t1 complete", (pc0, 1, 1), NO_LABELS))
            out.append(("t1 forget", (pc0, 1, done), NO_LABELS))
        return out

    def state_labels(self, s: Any) -> frozenset[str]:
        return NO_LABELS

    def is_final(self, s: tuple[int, int, int]) -> bool:
        return s[0] == 2 and s[1] == 1

    def classify_hang(self, states: Sequence[Any]) -> str:
        return "deadlock"


class StarvationModel:
    """A cycle that can be left: task 0 spins on a flag that task 1 can always set.

    Task 0: check flag F (pc 0), back off (pc 1), retry; exits once F is
    set. Task 1: set F, exit. State: ``(pc0, pc1, F)``.
    """

    def initial(self) -> tuple[int, int, int]:
        return (0, 0, 0)

    def successors(self, s: tuple[int, int, int]) -> Succ:
        pc0, pc1, flag = s
        out: Succ = []
        if pc0 == 0:
            out.append(("t0 check", (2 if flag else 1, pc1, flag), NO_LABELS))
        elif pc0 == 1:
            out.append(("t0 backoff", (0, pc1, flag), NO_LABELS))
        if pc1 == 0:
            out.append(("t1 set", (pc0, 1, 1), NO_LABELS))
        return out

    def state_labels(self, s: Any) -> frozenset[str]:
        return NO_LABELS

    def is_final(self, s: tuple[int, int, int]) -> bool:
        return s[0] == 2 and s[1] == 1

    def classify_hang(self, states: Sequence[Any]) -> str:
        return "livelock"


class CounterModel:
    """A counter from 0 to ``top`` that steps by +1 (index 0) or +2 (index 1).

    ``label_at`` is labelled ``depletion``; the +1 step out of
    ``event_from`` carries the event ``oom-kill``. ``top`` is final.
    """

    def __init__(self, top: int = 20, label_at: int = 7, event_from: int = 5) -> None:
        self.top = top
        self.label_at = label_at
        self.event_from = event_from

    def initial(self) -> int:
        return 0

    def successors(self, s: int) -> Succ:
        out: Succ = []
        if s + 1 <= self.top:
            events = frozenset({"oom-kill"}) if s == self.event_from else NO_LABELS
            out.append(("+1", s + 1, events))
        if s + 2 <= self.top:
            out.append(("+2", s + 2, NO_LABELS))
        return out

    def state_labels(self, s: int) -> frozenset[str]:
        return frozenset({"depletion"}) if s == self.label_at else NO_LABELS

    def is_final(self, s: int) -> bool:
        return s == self.top

    def classify_hang(self, states: Sequence[Any]) -> str:
        return "deadlock"


class GraphModel:
    """An explicit graph on int states from 0: the k-th successor of s is ``edges[s][k]``.

    ``labels`` are state labels, ``events`` label the transition
    ``(state, index)``, ``final`` states end the run, and a hang that
    contains a state of ``spinning`` is a livelock, else a deadlock.
    """

    def __init__(
        self,
        edges: Mapping[int, Sequence[int]],
        *,
        labels: Mapping[int, Iterable[str]] | None = None,
        events: Mapping[tuple[int, int], Iterable[str]] | None = None,
        final: Iterable[int] = (),
        spinning: Iterable[int] = (),
    ) -> None:
        self.edges = {s: tuple(ts) for s, ts in edges.items()}
        self.labels = {s: frozenset(ls) for s, ls in (labels or {}).items()}
        self.events = {e: frozenset(ls) for e, ls in (events or {}).items()}
        self.final = frozenset(final)
        self.spinning = frozenset(spinning)
        self.hang_calls: list[tuple[int, ...]] = []

    def initial(self) -> int:
        return 0

    def successors(self, s: int) -> Succ:
        return [
            ((s, k), t, self.events.get((s, k), NO_LABELS))
            for k, t in enumerate(self.edges.get(s, ()))
        ]

    def state_labels(self, s: int) -> frozenset[str]:
        return self.labels.get(s, NO_LABELS)

    def is_final(self, s: int) -> bool:
        return s in self.final

    def classify_hang(self, states: Sequence[int]) -> str:
        self.hang_calls.append(tuple(states))
        return "livelock" if any(s in self.spinning for s in states) else "deadlock"


class ChainModel:
    """0 -> 1 -> ... -> length-1; the last state is final unless ``stuck``."""

    def __init__(self, length: int, *, stuck: bool = False) -> None:
        self.length = length
        self.stuck = stuck

    def initial(self) -> int:
        return 0

    def successors(self, s: int) -> Succ:
        return [("next", s + 1, NO_LABELS)] if s + 1 < self.length else []

    def state_labels(self, s: int) -> frozenset[str]:
        return NO_LABELS

    def is_final(self, s: int) -> bool:
        return not self.stuck and s == self.length - 1

    def classify_hang(self, states: Sequence[Any]) -> str:
        return "deadlock"


class RingModel:
    """0 -> 1 -> ... -> size-1 -> 0, nothing final: one livelock of ``size`` states."""

    def __init__(self, size: int) -> None:
        self.size = size

    def initial(self) -> int:
        return 0

    def successors(self, s: int) -> Succ:
        return [("next", (s + 1) % self.size, NO_LABELS)]

    def state_labels(self, s: int) -> frozenset[str]:
        return NO_LABELS

    def is_final(self, s: int) -> bool:
        return False

    def classify_hang(self, states: Sequence[Any]) -> str:
        return "livelock"


class GridModel:
    """``dims`` counters, each from 0 to size-1; a step increments one. The far corner is final."""

    def __init__(self, size: int, dims: int = 3) -> None:
        self.size = size
        self.dims = dims

    def initial(self) -> tuple[int, ...]:
        return (0,) * self.dims

    def successors(self, s: tuple[int, ...]) -> Succ:
        top = self.size - 1
        return [(i, (*s[:i], v + 1, *s[i + 1 :]), NO_LABELS) for i, v in enumerate(s) if v < top]

    def state_labels(self, s: tuple[int, ...]) -> frozenset[str]:
        return NO_LABELS

    def is_final(self, s: tuple[int, ...]) -> bool:
        return all(v == self.size - 1 for v in s)

    def classify_hang(self, states: Sequence[Any]) -> str:
        return "deadlock"


class SlowModel:
    """Wraps a model so each ``successors`` call takes ``delay`` seconds more."""

    def __init__(self, inner: Any, delay: float) -> None:
        self.inner = inner
        self.delay = delay
        self.expanded = 0

    def initial(self) -> Any:
        return self.inner.initial()

    def successors(self, s: Any) -> Succ:
        time.sleep(self.delay)
        self.expanded += 1
        out: Succ = self.inner.successors(s)
        return out

    def state_labels(self, s: Any) -> frozenset[str]:
        out: frozenset[str] = self.inner.state_labels(s)
        return out

    def is_final(self, s: Any) -> bool:
        return bool(self.inner.is_final(s))

    def classify_hang(self, states: Sequence[Any]) -> str:
        return str(self.inner.classify_hang(states))
