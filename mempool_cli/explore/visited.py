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
    "ObjectKeys",
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


class ObjectKeys:
    """States of any kind by id, in discovery order, and the map from a state to its id.

    The map is a dict up to ``dict_max`` states (the fastest lookup), then
    an open-addressing table of 4-byte ids, at most half full, probed
    linearly from the state's hash, with a byte of that hash beside each
    slot (its mark), so a probe fetches and compares the state in a slot
    only when the marks agree (a dict costs about 60 bytes a state with its
    int objects; docs/model.md, "Packed states"). The search's packed
    states (byte keys) have ``ByteKeys`` in C instead where it was built
    (cvisited.c), with the same methods and the same ids.
    """

    def __init__(self, first: Any, dict_max: int, table_min: int) -> None:
        self.states: list[Any] = [first]
        self.dict_max = dict_max
        self.table_min = table_min
        self.small: dict[Any, int] | None = {first: 0}
        self.table = array("I")
        self.marks = bytearray()
        self.mask = 0

    def __len__(self) -> int:
        return len(self.states)

    def __getitem__(self, i: int) -> Any:
        return self.states[i]

    def put(self, state: Any, limit: int) -> int:
        """The state's id. A state not held yet becomes the next id, unless ``limit``
        states are held already: then -1 and nothing is stored."""
        states = self.states
        small = self.small
        table = self.table
        marks = self.marks
        mask = self.mask
        slot = 0
        mark = 0
        if small is not None:
            j = small.get(state, EMPTY)
        else:
            digest = hash(state)
            mark = (digest >> 56) & 0xFF  # (mark_of, inline: a call costs 2 %)
            slot = digest & mask
            j = table[slot]
            while j != EMPTY and (marks[slot] != mark or states[j] != state):
                slot = (slot + 1) & mask
                j = table[slot]
        if j != EMPTY:
            return j
        n = len(states)
        if n >= limit:
            return -1
        states.append(state)
        if small is not None:
            small[state] = n
            if n + 1 >= self.dict_max:
                self._grow(n + 1)
        else:
            table[slot] = n
            marks[slot] = mark
            if (n + 1) * 2 > mask:
                self._grow(n + 1)
        return n

    def put_all(self, moves: list[Any], limit: int) -> list[int]:
        """``put`` of each move's next state (``moves``: tuples, the state second), in
        order: their ids, up to and including the first -1."""
        out = []
        for move in moves:
            j = self.put(move[1], limit)
            out.append(j)
            if j < 0:
                break
        return out

    def _grow(self, n: int) -> None:
        """The table for ``n`` states, in place of the dict or of a table half full."""
        self.table, self.marks = table_of(self.states, table_size(n, self.table_min))
        self.mask = len(self.table) - 1
        self.small = None

    def truncate(self, n: int) -> None:
        """Forget every state from id ``n`` on (a search cut inside a state's expansion):
        the map is rebuilt from the states kept."""
        if n < len(self.states):
            del self.states[n:]
            if self.small is not None:
                self.small = {state: j for j, state in enumerate(self.states)}
            elif len(self.table):
                self.table, self.marks = table_of(self.states, len(self.table))

    def release(self) -> None:
        """Free the state -> id map: from here on, ids are enough."""
        self.small = None
        self.table = array("I")
        self.marks = bytearray()

    def growth_bytes(self) -> int:
        """What the map will briefly need when it next grows, if that is near.

        Below ``dict_max`` states the map is a dict, which grows, at 2/3 full,
        into a table twice its size and holds both while it copies: about 36
        bytes a state at once (CPython 3.11's layout: 4-byte index slots,
        24-byte entries); at ``dict_max`` it becomes a table of 4-byte slots
        and a byte of mark each, which grows at half full into one twice its
        size while the old one is still held: 10 bytes a slot at once.
        Reserved only in the last stretch before a growth, so the search
        stops short of it instead of crossing the memory limit inside it
        (tests/unit/test_explore_limits.py).
        """
        n = len(self.states)
        if self.small is not None:
            size = 8
            while size * 2 // 3 <= n:
                size *= 2
            usable = size * 2 // 3
            switch = 0
            if n >= self.dict_max - self.dict_max // 8:
                switch = 5 * table_size(self.dict_max, self.table_min)
            if n < usable - usable // 8:
                return switch
            return 4 * 2 * size + 24 * usable + switch
        size = len(self.table)
        if n < size // 2 - size // 16:
            return 0
        return 10 * size


class Visited:
    """The states found, by id in discovery order, and the graph between them.

    ``keys[i]`` is state i (``ObjectKeys``, or cvisited.c's ``ByteKeys``
    for byte keys); ``parent[i]`` the state it was found from and ``via[i]``
    the index of the action that found it; state i's successors are
    ``succ[offsets[i]:offsets[i + 1]]``. ``found`` maps an outcome label to
    where it was first met: (state id, action index, or -1 for a state
    label).
    """

    def __init__(self, keys: Any, labels: frozenset[str], limit: int) -> None:
        self.keys = keys
        self.parent = array("i", [-1])
        self.via = array("I", [0])
        self.succ = array("I")
        self.offsets = array("Q", [0])
        self.found: dict[str, tuple[int, int]] = {label: (0, -1) for label in labels}
        self.n = 1
        self.limit = limit

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
        keys = self.keys
        found = self.found
        limit = self.limit
        succ = self.succ
        # (bound once: a method is looked up by name on every call otherwise)
        put_all = keys.put_all
        succ_append = succ.append
        offsets_append = self.offsets.append
        parent_append = self.parent.append
        via_append = self.via.append
        for h in range(head, end):
            moves = successors(keys[h])
            if type(moves) is not list:
                moves = list(moves)
            ids: list[int] = put_all(moves, limit)
            n = self.n
            for k in range(len(ids)):
                move = moves[k]
                events = move[2]
                if events:
                    for label in events:
                        if label not in found:
                            found[label] = (h, k)
                j = ids[k]
                if j == n:
                    parent_append(h)
                    via_append(k)
                    n += 1
                    self.n = n
                    labels = state_labels(move[1])
                    if labels:
                        for label in labels:
                            if label not in found:
                                found[label] = (j, -1)
                elif j < 0:
                    raise StateLimit
                succ_append(j)
            offsets_append(len(succ))

    def drop_partial(self) -> int:
        """After an interrupted ``expand``: drop the successors of the state being
        expanded (and whatever half of a new state got stored); returns the states
        whose successors are all known."""
        n = self.n
        self.keys.truncate(n)
        del self.succ[self.offsets[-1] :], self.parent[n:], self.via[n:]
        return len(self.offsets) - 1


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
