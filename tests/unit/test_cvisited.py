"""cvisited.c (the state table for byte keys and the hang pass, in C) against the Python it
stands in for: visited.py's ObjectKeys and bottom_sccs give the same ids, keys and SCCs."""

from __future__ import annotations

from array import array
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mempool_cli.explore import search
from mempool_cli.explore.visited import ObjectKeys, bottom_sccs
from tests.unit.test_native import why_not_compiled

try:
    from mempool_cli.explore import cvisited
except ImportError:  # not built here: every test says why
    cvisited = None


@pytest.fixture(autouse=True)
def _built() -> None:
    if cvisited is None:
        reason = why_not_compiled()
        if reason is None:
            pytest.fail("a C compiler and the Python headers are here, but cvisited is not built")
        pytest.skip(reason)


def _pairs(first: bytes) -> tuple[Any, ObjectKeys]:
    """The C table with four slots (so it grows at once and often) and the Python one
    made to switch from its dict to its table after 4 states in an 8-slot table."""
    return cvisited.ByteKeys(first, 4), ObjectKeys(first, 4, 8)


keys_st = st.binary(min_size=0, max_size=6)
ops_st = st.lists(
    st.one_of(
        st.tuples(st.just("put"), keys_st, st.integers(1, 40)),
        st.tuples(st.just("all"), st.lists(keys_st, max_size=40), st.integers(1, 60)),
        st.tuples(st.just("cut"), st.integers(1, 60)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(first=keys_st, ops=ops_st)
def test_byte_keys_give_the_ids_object_keys_give(first: bytes, ops: list[Any]) -> None:
    """Any run of put, put_all (the limit cutting some) and truncate: the same ids, then the
    same keys by id; the C table grows from 4 slots and deletes from its probe runs."""
    native, python = _pairs(first)
    for op in ops:
        if op[0] == "put":
            assert native.put(op[1], op[2]) == python.put(op[1], op[2])
        elif op[0] == "all":
            moves = [(k, key, None) for k, key in enumerate(op[1])]
            assert native.put_all(moves, op[2]) == python.put_all(moves, op[2])
        else:
            n = min(op[1], len(python))
            native.truncate(n)
            python.truncate(n)
        assert len(native) == len(python)
    assert [native[i] for i in range(len(native))] == [python[i] for i in range(len(python))]
    # every key still held maps to its id, and nothing else was kept
    assert all(native.put(python[i], 0) == i for i in range(len(python)))
    assert native.put(b"\xff" * 7, 0) == -1  # (longer than any key drawn)


def test_many_keys_through_many_growths() -> None:
    """100,000 distinct keys of two lengths from a 4-slot table: each gets the next id, each
    found again, half cut off and the other half still found."""
    keys = cvisited.ByteKeys(b"", 4)
    made = [b""] + [i.to_bytes(3 + i % 2, "little") for i in range(1, 100_000)]
    assert [keys.put(key, 10**9) for key in made] == list(range(len(made)))
    assert keys.put_all([(0, key) for key in made[::-1]], 10**9) == list(range(len(made)))[::-1]
    keys.truncate(50_000)
    assert [keys.put(key, 50_000) for key in made[:50_000]] == list(range(50_000))
    assert keys.put(made[50_000], 50_000) == -1
    assert keys.nbytes > 0
    keys.release()
    assert keys[49_999] == made[49_999] and len(keys) == 50_000


def test_the_c_table_refuses_what_it_cannot_hold() -> None:
    keys = cvisited.ByteKeys(b"a")
    with pytest.raises(TypeError, match="a key is bytes"):
        keys.put("a", 10)
    with pytest.raises(TypeError, match="a move is a tuple"):
        keys.put_all([b"a"], 10)
    with pytest.raises(IndexError):
        keys[1]
    with pytest.raises(ValueError, match="the first key stays"):
        keys.truncate(0)
    keys.release()
    with pytest.raises(RuntimeError, match="released"):
        keys.put(b"a", 10)


def test_growth_is_reserved_just_before_it() -> None:
    """growth_bytes is 0 while the 4096-slot table is far from half full and counts the
    doubled table (8 bytes a slot) just before it grows."""
    keys = cvisited.ByteKeys(b"", 4096)
    for i in range(1, 1500):
        keys.put(i.to_bytes(8, "little"), 10**9)
    assert keys.growth_bytes() < 2 * 4096 * 8
    for i in range(1500, 2000):
        keys.put(i.to_bytes(8, "little"), 10**9)
    assert keys.growth_bytes() >= 2 * 4096 * 8


def test_object_keys_reserve_their_growth() -> None:
    """ObjectKeys.growth_bytes (what the search keeps free below --max-memory): nothing far
    from a growth, the dict's copy near its 2/3, the switch to the table near dict_max, and
    10 bytes a slot of the doubled table near half full."""
    keys = ObjectKeys(0, 1 << 17, 1 << 18)
    for i in range(1, 1000):
        keys.put(i, 10**9)
    assert keys.growth_bytes() == 0
    for i in range(1000, 1360):
        keys.put(i, 10**9)
    assert keys.growth_bytes() > 0  # the dict of 2048 slots grows at 1365
    table = ObjectKeys(0, 4, 64)
    for i in range(1, 20):
        table.put(i, 10**9)
    assert table.small is None and table.growth_bytes() == 0
    for i in range(20, 30):
        table.put(i, 10**9)
    assert table.growth_bytes() == 10 * 64


graph_st = st.integers(1, 30).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(st.lists(st.integers(0, n - 1), max_size=4), min_size=n, max_size=n),
        st.integers(0, n),
    )
)


def _arrays(n: int, edges: list[list[int]], expanded: int) -> tuple[array[int], array[int]]:
    offsets, succ = array("Q", [0]), array("I")
    for v in range(expanded):
        succ.extend(edges[v])
        offsets.append(len(succ))
    return offsets, succ


@settings(max_examples=500, deadline=None)
@given(graph=graph_st, every=st.integers(1, 8), stop_after=st.integers(0, 6))
def test_the_c_hang_pass_finds_the_python_one(
    graph: tuple[int, list[list[int]], int], every: int, stop_after: int
) -> None:
    """Random graphs, some states left unexpanded, and a check that stops the pass after
    ``stop_after`` calls (0: never): the same SCCs, in the same order, and the same
    reason, from both."""
    n, edges, expanded = graph
    offsets, succ = _arrays(n, edges, expanded)

    def stopper() -> Any:
        calls = [0]

        def check() -> str | None:
            calls[0] += 1
            return "interrupted" if stop_after and calls[0] >= stop_after else None

        return check

    want = bottom_sccs(offsets, succ, expanded, n, stopper(), every)
    assert cvisited.bottom_sccs(offsets, succ, expanded, n, stopper(), every) == want


def test_the_c_hang_pass_refuses_arrays_it_cannot_read() -> None:
    offsets, succ = _arrays(2, [[1], [5]], 2)
    with pytest.raises(ValueError, match="beyond found"):
        cvisited.bottom_sccs(offsets, succ, 2, 2, lambda: None, 10)
    with pytest.raises(ValueError, match="offsets that fall"):
        cvisited.bottom_sccs(array("Q", [0, 2, 1]), array("I", [1, 1]), 2, 2, lambda: None, 10)
    with pytest.raises(TypeError, match="8-byte"):
        cvisited.bottom_sccs(array("I", [0, 1]), succ, 1, 2, lambda: None, 10)


def test_the_search_holds_packed_states_in_the_c_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Byte keys go to ByteKeys, any other state to ObjectKeys; without cvisited, both to
    ObjectKeys."""
    assert type(search._keys(b"\x00\x00\x00")) is cvisited.ByteKeys
    assert type(search._keys((0, 1))) is ObjectKeys
    monkeypatch.setattr(search, "_NATIVE", None)
    assert type(search._keys(b"\x00\x00\x00")) is ObjectKeys


def test_an_error_in_the_check_leaves_either_hang_pass() -> None:
    """A check that raises (a KeyboardInterrupt's way out, say) stops both passes with its
    exception, not a result."""
    offsets, succ = _arrays(3, [[1], [2], [0]], 3)

    def check() -> str | None:
        raise RuntimeError("from the check")

    for sccs in (bottom_sccs, cvisited.bottom_sccs):
        with pytest.raises(RuntimeError, match="from the check"):
            sccs(offsets, succ, 3, 3, check, 1)
