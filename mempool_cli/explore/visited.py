"""The search's two hot loops: expanding states into the visited set, and the hang pass.

search.py drives the search (limits, progress, findings); this module holds
what it spends its time in, as plain ints, arrays and lists, so that mypyc
compiles it (setup.py; docs/model.md, "Compiled modules"). Run as Python it
gives the same results, slower. Nothing here reads a clock or a file: the
caller passes what limits the work.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import Any

__all__ = [
    "DONE",
    "EMPTY",
    "StateLimit",
    "Visited",
    "bottom_sccs",
    "mark_of",
    "table_of",
    "table_size",
]

EMPTY = 2**32 - 1  # a free slot of the state -> id table
DONE = 2**31 - 1  # above any Tarjan index


class StateLimit(Exception):
    """Raised inside ``Visited.expand`` when one more state would exceed the limit."""


def table_size(n: int, smallest: int) -> int:
    """The slots of the table for ``n`` states: the fewest (a power of two, at least
    ``smallest``) that leave it at most half full, and room for one more."""
    size = smallest
    while n * 2 > size - 1:
        size *= 2
    return size


def mark_of(h: int) -> int:
    """The byte of a state's hash kept beside its slot: the bits above any slot index, so
    that of two states in one probe sequence only those with equal marks are compared."""
    return (h >> 56) & 0xFF


def table_of(states: list[Any], size: int) -> tuple[array[int], bytearray]:
    """The state -> id table of ``size`` slots holding every state's id, and the marks of
    the states in those slots (``mark_of``)."""
    table = array("I", [EMPTY]) * size
    marks = bytearray(size)
    mask = size - 1
    for j, state in enumerate(states):
        h = hash(state)
        slot = h & mask
        while table[slot] != EMPTY:
            slot = (slot + 1) & mask
        table[slot] = j
        marks[slot] = mark_of(h)
    return table, marks


class Visited:
    """The states found, by id in discovery order, and the graph between them.

    ``states[i]`` is state i; ``parent[i]`` the state it was found from and
    ``via[i]`` the index of the action that found it; state i's successors
    are ``succ[offsets[i]:offsets[i + 1]]``. The map from state to id is a
    dict up to ``dict_max`` states (the fastest lookup), then an
    open-addressing table of 4-byte ids, at most half full, probed linearly
    from the state's hash, with a byte of that hash beside each slot (its
    mark), so a probe fetches and compares the state in a slot only when the
    marks agree (a dict costs about 60 bytes a state with its int objects;
    docs/model.md, "Packed states").
    ``found`` maps an outcome label to where it was first met: (state id,
    action index, or -1 for a state label).
    """

    def __init__(
        self,
        start: Any,
        labels: frozenset[str],
        limit: int,
        dict_max: int,
        table_min: int,
    ) -> None:
        self.states: list[Any] = [start]
        self.parent = array("i", [-1])
        self.via = array("I", [0])
        self.succ = array("I")
        self.offsets = array("Q", [0])
        self.found: dict[str, tuple[int, int]] = {label: (0, -1) for label in labels}
        self.n = 1
        self.limit = limit
        self.dict_max = dict_max
        self.table_min = table_min
        self.small: dict[Any, int] | None = {start: 0}
        self.table = array("I")
        self.marks = bytearray()
        self.mask = 0

    def expand(
        self,
        successors: Callable[[Any], Any],
        state_labels: Callable[[Any], Any],
        head: int,
        end: int,
    ) -> None:
        """Expand states ``head..end-1`` in order: every successor gets its id (a new
        state the next), and the labels met are recorded in ``found``. ``successors``
        gives a state's moves as (action, next state, labels); ``state_labels`` a state's
        labels (explore/model.py's Model; typed loosely, so the compiled loop checks
        nothing of a model's types).

        Raises ``StateLimit`` before a new state beyond ``limit``. After it, or after a
        MemoryError, ``drop_partial`` leaves the states expanded so far consistent.
        """
        states = self.states
        found = self.found
        succ = self.succ
        # (bound once: an array's methods are looked up by name on every call otherwise)
        succ_append = succ.append
        offsets_append = self.offsets.append
        parent_append = self.parent.append
        via_append = self.via.append
        small = self.small
        table = self.table
        marks = self.marks
        mask = self.mask
        for h in range(head, end):
            for k, move in enumerate(successors(states[h])):
                nxt = move[1]
                events = move[2]
                if events:
                    for label in events:
                        if label not in found:
                            found[label] = (h, k)
                slot = 0
                mark = 0
                if small is not None:
                    j = small.get(nxt, EMPTY)
                else:
                    digest = hash(nxt)
                    mark = (digest >> 56) & 0xFF  # (mark_of, inline: a call costs 2 %)
                    slot = digest & mask
                    j = table[slot]
                    while j != EMPTY and (marks[slot] != mark or states[j] != nxt):
                        slot = (slot + 1) & mask
                        j = table[slot]
                if j == EMPTY:
                    n = self.n
                    if n >= self.limit:
                        raise StateLimit
                    j = n
                    states.append(nxt)
                    parent_append(h)
                    via_append(k)
                    if small is not None:
                        small[nxt] = n
                    else:
                        table[slot] = n
                        marks[slot] = mark
                    n += 1
                    self.n = n
                    if n * 2 > mask and (small is None or n >= self.dict_max):
                        table, marks = table_of(states, table_size(n, self.table_min))
                        self.table, self.marks = table, marks
                        mask = self.mask = len(table) - 1
                        small = self.small = None
                    labels = state_labels(nxt)
                    if labels:
                        for label in labels:
                            if label not in found:
                                found[label] = (j, -1)
                succ_append(j)
            offsets_append(len(succ))

    def drop_partial(self) -> int:
        """After an interrupted ``expand``: drop the successors of the state being
        expanded (and whatever half of a new state got stored); returns the states
        whose successors are all known."""
        n = self.n
        del self.succ[self.offsets[-1] :], self.states[n:], self.parent[n:], self.via[n:]
        return len(self.offsets) - 1

    def release(self) -> None:
        """Free the state -> id map: from here on, ids are enough."""
        self.small = None
        self.table = array("I")
        self.marks = bytearray()


def bottom_sccs(
    offsets: array[int],
    succ: array[int],
    expanded: int,
    found: int,
    check: Callable[[], str | None],
    check_every: int,
) -> tuple[list[list[int]], str | None]:
    """The bottom SCCs among states ``0..expanded-1``, by an iterative Tarjan.

    States ``expanded..found-1`` were found but their successors are
    unknown (the search stopped first), so an SCC with an edge to one is
    not known to be bottom and is left out. ``check`` is called after every
    ``check_every`` states; returns the SCCs and, if ``check`` stopped the
    pass early, its reason; every SCC returned is complete either way.
    """
    n = expanded
    # Tarjan's discovery index, -1 before the visit and DONE once the
    # state's SCC is closed (unexpanded states count as closed), so one
    # read per edge tells the three cases apart.
    index = array("i", [-1]) * n + array("i", [DONE]) * (found - n)
    low = array("i", [0]) * n
    ptr = offsets[:n]  # next edge of each state to follow
    leaves = bytearray(n)  # some edge from this state leaves its SCC
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    budget = check_every
    for root in range(n):
        if index[root] >= 0:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        work = [root]
        while work:
            v = work[-1]
            p: int = ptr[v]
            end: int = offsets[v + 1]
            lv: int = low[v]
            descended = False
            while p < end:
                w: int = succ[p]
                p += 1
                iw: int = index[w]
                if iw < 0:
                    ptr[v] = p
                    low[v] = lv
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    work.append(w)
                    budget -= 1  # a long descent grows the stacks: it counts too
                    if not budget:
                        budget = check_every
                        reason = check()
                        if reason is not None:
                            return out, reason
                    descended = True
                    break
                if iw < lv:  # on the stack: same SCC as some caller
                    lv = iw
                elif iw == DONE:
                    leaves[v] = 1
            if descended:
                continue
            # Every edge of v is done: return to its caller.
            work.pop()
            if lv == index[v]:
                w = stack.pop()
                index[w] = DONE
                members = [w]
                bottom = not leaves[w]
                while w != v:
                    w = stack.pop()
                    index[w] = DONE
                    members.append(w)
                    if leaves[w]:
                        bottom = False
                if work:
                    leaves[work[-1]] = 1  # the caller's edge into v leaves the caller's SCC
                if bottom:
                    out.append(members)
            elif lv < low[work[-1]]:
                low[work[-1]] = lv
            budget -= 1
            if not budget:
                budget = check_every
                reason = check()
                if reason is not None:
                    return out, reason
    return out, None
