"""Exhaustive breadth-first search of a Model, then its bottom SCCs for hangs.

The search is stateright's BFS checker cut down to what mpsim needs:

* every reachable state is visited once; a state gets an integer id in
  discovery order, so ids rise with BFS depth;
* per state only a parent id and the index of the action that reached it
  are kept, and a schedule is rebuilt by walking those pointers back;
* the successor graph is kept as two flat arrays (successor ids, and
  where each state's successors start) for the strongly connected
  component pass that finds hangs once the search is over.

An outcome that is a label (of a state, or of a transition) is reported
with the first place BFS meets it, which is a shortest schedule. A hang
is a bottom SCC (no transition leaves it) with no final state; for each
hang outcome the hang whose entry is shallowest is reported, with a
shortest cycle through its entry.

A search cut short by a limit reports what it found and says so; it
only reports hangs among states whose successors were all computed,
because only those are certain.
"""

from __future__ import annotations

import math
import os
import sys
import time
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mempool_cli.explore.model import Model, outcome_sort_key
from mempool_cli.explore.visited import ObjectKeys, StateLimit, Visited, bottom_sccs

try:  # the state table for byte keys and the hang pass in C, where they were built
    from mempool_cli.explore import cvisited as _cvisited
except ImportError:  # (no C compiler at install time: visited.py's, slower)
    _NATIVE: Any = None
else:
    _NATIVE = _cvisited

__all__ = [
    "PROGRESS_INTERVAL",
    "STOP_REASONS",
    "Finding",
    "Progress",
    "Result",
    "explore",
    "path_to",
]

PROGRESS_INTERVAL = 0.5  # seconds between two progress reports

STOP_REASONS = ("max-states", "max-seconds", "max-memory", "interrupted")

# Limits are checked between chunks of expansions; a chunk's length adapts
# so a check comes about every _CHUNK_SECONDS whatever a state costs.
_CHUNK_SECONDS = 0.05
_CHUNK_MAX = 4096
# The SCC pass checks limits after this many states, a few milliseconds' work.
_SCC_CHECK_EVERY = 8192
# The share of --max-seconds the search itself may take; the rest is the hang pass's.
_SEARCH_SHARE = 0.9
# What the hang pass allocates per state before its first limit check (its
# index, low, ptr and leaves arrays): the search stops that much short of
# --max-memory, so a search cut by memory still has room for its hangs.
_HANG_PASS_BYTES = 4 + 4 + 8 + 1
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True, slots=True)
class Finding:
    """One outcome and a shortest schedule that shows it.

    ``schedule`` is a sequence of successor indices from the initial
    state. It ends in ``end_state``: the state with the outcome's label,
    the target of the labelled transition (the schedule's last step), or
    the entry of a hang. For a hang, ``cycle`` leads from ``end_state``
    back to it inside the hang (empty when the hang is one state with no
    transition at all) and ``hang_size`` is the number of its states.
    """

    outcome: str
    schedule: tuple[int, ...]
    cycle: tuple[int, ...]
    end_state: Any
    depth: int
    hang_size: int


@dataclass(frozen=True, slots=True)
class Progress:
    """A search in progress, in TLC's terms: states found, transitions, states left on the queue."""

    states: int
    transitions: int
    queue: int
    seconds: float
    states_per_second: float


@dataclass(frozen=True, slots=True)
class Result:
    """What a search found, and whether it looked at everything.

    ``complete`` is False when a limit or an interruption stopped it;
    ``stop_reason`` then says which (one of ``STOP_REASONS``).
    ``states`` counts distinct states found, ``transitions`` the
    transitions out of the states that were expanded, ``hangs`` the
    distinct hangs (bottom SCCs without a final state).
    """

    complete: bool
    stop_reason: str | None
    states: int
    transitions: int
    seconds: float
    findings: tuple[Finding, ...]
    hangs: int

    @property
    def outcomes(self) -> tuple[str, ...]:
        """The outcomes found, in report order; empty means ``ok`` (if complete)."""
        return tuple(f.outcome for f in self.findings)


def explore(
    model: Model[Any],
    *,
    max_states: int | None = None,
    max_seconds: float | None = None,
    max_memory: int | None = None,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Result:
    """Visit every state reachable in ``model`` and report each outcome found.

    ``max_states`` bounds the distinct states held, ``max_seconds`` the
    wall time, ``max_memory`` the resident set size in bytes;
    ``should_stop`` is polled a few times a second (a Ctrl-C flag), and
    ``progress`` receives a ``Progress`` about every ``PROGRESS_INTERVAL``
    seconds. Nothing is printed.

    >>> class Counter:
    ...     def initial(self): return 0
    ...     def successors(self, s):
    ...         return [("inc", s + 1, frozenset())] if s < 3 else []
    ...     def state_labels(self, s): return frozenset({"depletion"}) if s == 2 else frozenset()
    ...     def is_final(self, s): return False
    ...     def classify_hang(self, states): return "deadlock"
    >>> r = explore(Counter())
    >>> r.complete, r.states, r.outcomes
    (True, 4, ('deadlock', 'depletion'))
    >>> [(f.outcome, f.schedule) for f in r.findings]
    [('deadlock', (0, 0, 0)), ('depletion', (0, 0))]
    """
    if max_states is not None and max_states < 1:
        raise ValueError(f"max_states must be at least 1, not {max_states}")
    clock = time.monotonic
    started = clock()
    deadline = math.inf if max_seconds is None else started + max_seconds
    # The search leaves a tenth of --max-seconds to the hang pass and the report
    # after it, so that a run cut by the clock ends close to the time asked for.
    search_deadline = math.inf if max_seconds is None else started + max_seconds * _SEARCH_SHARE
    limit = sys.maxsize if max_states is None else max_states

    def check_limits(now: float, until: float = deadline, reserve: int = 0) -> str | None:
        if should_stop is not None and should_stop():
            return "interrupted"
        if now >= until:
            return "max-seconds"
        if max_memory is not None and _rss_bytes() + reserve > max_memory:
            return "max-memory"
        return None

    first = model.initial()
    # Under a symmetry reduction the search visits representatives only (explore/model.py);
    # the states it reports are real, rebuilt by replaying their schedules.
    by_rep = getattr(model, "representative_successors", None)
    # A model with packed states gives the search keys to hold instead (explore/model.py).
    packed = getattr(model, "packed_successors", None) is not None
    unpack: Callable[[Any], Any] = model.unpack if packed else _same  # type: ignore[attr-defined]
    if packed:
        start = model.packed_initial()  # type: ignore[attr-defined]
        successors = model.packed_successors  # type: ignore[attr-defined]
        state_labels = model.packed_labels  # type: ignore[attr-defined]
    else:
        start = model.representative(first) if by_rep is not None else first  # type: ignore[attr-defined]
        successors = by_rep if by_rep is not None else model.successors
        state_labels = model.state_labels
    # id -> state (or key, for a model with packed states), the parent pointers, the
    # successor arrays and the state -> id map (visited.py)
    seen = Visited(_keys(start), model.state_labels(unpack(start)), limit)
    found = seen.found
    offsets, succ = seen.offsets, seen.succ

    head = 0  # states expanded; the queue is ids head..n-1
    chunk = 16
    stop_reason: str | None = None
    next_progress = started + PROGRESS_INTERVAL
    while head < seen.n:
        now = clock()
        n = seen.n
        end = min(n, head + chunk)
        try:
            # Under ulimit -v any allocation may meet the cap, the limit check's own
            # read of /proc included: all of them end the search as a memory limit.
            stop_reason = check_limits(
                now, search_deadline, reserve=_HANG_PASS_BYTES * n + seen.keys.growth_bytes()
            )
            if stop_reason is not None:
                break
            if progress is not None and now >= next_progress:
                next_progress = now + PROGRESS_INTERVAL
                progress(_progress(n, len(succ), n - head, now - started))
            seen.expand(successors, state_labels, head, end)
        except (StateLimit, MemoryError) as stop:
            # The state being expanded stays unexpanded.
            head = seen.drop_partial()
            stop_reason = "max-states" if isinstance(stop, StateLimit) else "max-memory"
            break
        head = end
        spent = clock() - now
        if spent < _CHUNK_SECONDS / 2:
            chunk = min(chunk * 2, _CHUNK_MAX)
        elif spent > _CHUNK_SECONDS and chunk > 1:
            chunk //= 2
    seen.keys.release()
    n, states, parent, via = seen.n, seen.keys, seen.parent, seen.via

    # The hang pass obeys the same limits; a search cut by the clock stopped
    # at _SEARCH_SHARE of it, which leaves the pass (a fraction of the search
    # that reached this far) time to find its hangs.
    expanded = len(offsets) - 1
    try:
        sccs, scc_stop = _bottom_sccs(offsets, succ, expanded, n, lambda: check_limits(clock()))
    except MemoryError:  # a hard limit (ulimit -v) below --max-memory
        sccs, scc_stop = [], "max-memory"
    if stop_reason is None:
        stop_reason = scc_stop

    chosen: dict[str, tuple[int, list[int]]] = {}  # hang outcome -> (entry id, members)
    hang_count = 0
    for members in sccs:
        if any(model.is_final(unpack(states[i])) for i in members):
            continue
        hang_count += 1
        members.sort()
        outcome = model.classify_hang([unpack(states[i]) for i in members])
        entry = members[0]  # ids rise with depth: the smallest is the shallowest
        if outcome not in chosen or entry < chosen[outcome][0]:
            chosen[outcome] = (entry, members)

    findings: dict[str, Finding] = {}

    def reached(schedule: tuple[int, ...]) -> Any:
        """The real state a schedule reaches (a representative's schedule replays as is)."""
        state = first
        for k in schedule:
            state = model.successors(state)[k][1]
        return state

    for outcome, (sid, k) in found.items():
        schedule = path_to(parent, via, sid) + ((k,) if k >= 0 else ())
        findings[outcome] = Finding(outcome, schedule, (), reached(schedule), len(schedule), 0)
    for outcome, (entry, members) in chosen.items():
        schedule = path_to(parent, via, entry)
        label_finding = findings.get(outcome)
        # A model that also labels states with a hang outcome: keep the shallower.
        if label_finding is not None and label_finding.depth <= len(schedule):
            continue
        cycle = _cycle(offsets, succ, entry)
        end_state = unpack(states[entry]) if by_rep is None else reached(schedule)
        findings[outcome] = Finding(
            outcome, schedule, cycle, end_state, len(schedule), len(members)
        )

    return Result(
        complete=stop_reason is None,
        stop_reason=stop_reason,
        states=n,
        transitions=len(succ),
        seconds=clock() - started,
        findings=tuple(findings[o] for o in sorted(findings, key=outcome_sort_key)),
        hangs=hang_count,
    )


def _progress(states: int, transitions: int, queue: int, seconds: float) -> Progress:
    rate = states / seconds if seconds > 0 else 0.0
    return Progress(states, transitions, queue, seconds, rate)


def path_to(parent: array[int], via: array[int], i: int) -> tuple[int, ...]:
    """The action indices from the initial state to state ``i``, by the parent pointers."""
    out = []
    while i > 0:
        out.append(via[i])
        i = parent[i]
    out.reverse()
    return tuple(out)


def _cycle(offsets: array[int], succ: array[int], entry: int) -> tuple[int, ...]:
    """A shortest schedule from ``entry`` back to itself; empty if there is none.

    Called on a bottom SCC, so every state BFS meets is in it.
    """
    prev: dict[int, tuple[int, int]] = {entry: (-1, -1)}
    frontier = deque([entry])
    while frontier:
        u = frontier.popleft()
        base = offsets[u]
        for k in range(offsets[u + 1] - base):
            w = succ[base + k]
            if w == entry:
                steps = [k]
                while u != entry:
                    u, k = prev[u]
                    steps.append(k)
                steps.reverse()
                return tuple(steps)
            if w not in prev:
                prev[w] = (u, k)
                frontier.append(w)
    return ()


def _bottom_sccs(
    offsets: array[int],
    succ: array[int],
    expanded: int,
    found: int,
    check: Callable[[], str | None],
) -> tuple[list[list[int]], str | None]:
    """The bottom SCCs among states ``0..expanded-1`` (visited.py's ``bottom_sccs``, or
    cvisited.c's where it was built), ``check`` called every _SCC_CHECK_EVERY states."""
    sccs = _NATIVE.bottom_sccs if _NATIVE is not None else bottom_sccs
    result: tuple[list[list[int]], str | None] = sccs(
        offsets, succ, expanded, found, check, _SCC_CHECK_EVERY
    )
    return result


def _same(state: Any) -> Any:
    """A state as the search holds it, for a model without packed states."""
    return state


_DICT_MAX = 1 << 17  # states from which ObjectKeys' state -> id map is a table
_TABLE_MIN = 1 << 18  # slots of its first table: at most half full at _DICT_MAX
_BYTE_SLOTS = 1 << 12  # slots of ByteKeys' first table (it grows without reading a key)


def _keys(start: Any) -> Any:
    """The states by id and the map to their ids, from the first: ByteKeys (C) for byte
    keys where it was built, ObjectKeys (visited.py) otherwise."""
    if _NATIVE is not None and type(start) is bytes:
        return _NATIVE.ByteKeys(start, _BYTE_SLOTS)
    return ObjectKeys(start, _DICT_MAX, _TABLE_MIN)


def _rss_bytes() -> int:
    """The resident set size of this process, from /proc where there is one."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except OSError:
        import resource  # no /proc (macOS): fall back to the peak, a safe over-estimate

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024
