"""Partial-order reduction never changes a verdict.

Hypothesis builds scenarios where tasks mix local steps (memalloc scopes,
a lock and a completion only they use) with shared ones (a mutex, a pool,
a completion, page allocations), some inside forever loops, and checks on
every preset that the outcome set with the reduction equals the one
without, and that a state explored through one move alone has that move
among its full successors.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mempool_cli.explore import explore
from mempool_cli.kernel.model import KernelModel
from mempool_cli.scenario.kernels import PRESETS
from mempool_cli.scenario.spec import Task

from .kernel_builders import PROPERTY_EXAMPLES, model_property, outcomes, scenario, step, task

GFPS = ["GFP_NOIO", "GFP_NOWAIT", "GFP_KERNEL | __GFP_NORETRY", "GFP_ATOMIC", "GFP_NOFS"]
SCOPES = ["noio", "nofs", "noreclaim"]


@st.composite
def programs(draw: st.DrawFn, me: str) -> list[tuple[str, object]]:
    """Steps over shared resources (L, P, C) and private ones (M_me, D_me), scopes included."""
    steps: list[tuple[str, object]] = []
    for i in range(draw(st.integers(1, 6))):
        kind = draw(
            st.sampled_from(
                [
                    "mempool",
                    "pages",
                    "lock",
                    "private-lock",
                    "scope",
                    "complete",
                    "wait",
                    "private-complete",
                    "private-wait",
                    "bad-restore",
                    "trylock",
                    "back-off",
                    "fallback",
                    "unwind",
                    "if",
                ]
            )
        )
        name = f"h{i}"
        if kind == "mempool":
            gfp = draw(st.sampled_from(GFPS))
            steps += [
                ("mempool_alloc", {"pool": "P", "gfp": gfp, "as": name}),
                ("mempool_free", name),
            ]
        elif kind == "pages":
            gfp = draw(st.sampled_from(GFPS))
            steps += [("alloc_pages", {"gfp": gfp, "as": name}), ("free_pages", name)]
        elif kind in ("lock", "private-lock"):
            lock = draw(st.sampled_from(["L", "K"])) if kind == "lock" else f"M_{me}"
            op = draw(st.sampled_from(["mutex", "mutex", "spin"]))
            inner = draw(st.sampled_from(["none", "mempool", "scope", "lock"]))
            steps.append((f"{op}_lock", lock))
            if inner == "mempool":
                gfp = draw(st.sampled_from(GFPS))
                steps += [("mempool_alloc", {"pool": "P", "gfp": gfp, "as": name})]
                steps += [("mempool_free", name)]
            elif inner == "scope":
                steps += [("memalloc_noio_save", None), ("memalloc_noio_restore", None)]
            elif inner == "lock":
                other = draw(st.sampled_from(["L", "K", f"M_{me}"]))
                if other != lock:
                    steps += [("mutex_lock", other), ("mutex_unlock", other)]
            steps.append((f"{op}_unlock", lock))
        elif kind == "scope":
            scope = draw(st.sampled_from(SCOPES))
            steps.append((f"memalloc_{scope}_save", None))
            if draw(st.booleans()):
                steps += [
                    ("mempool_alloc", {"pool": "P", "gfp": "GFP_KERNEL", "as": name}),
                    ("mempool_free", name),
                ]
            steps.append((f"memalloc_{scope}_restore", None))
        elif kind == "complete":
            steps.append(("complete", "C"))
        elif kind == "wait":
            steps.append(("wait_for_completion", "C"))
        elif kind == "private-complete":
            steps.append(("complete", f"D_{me}"))
        elif kind == "private-wait":
            steps.append(("wait_for_completion", f"D_{me}"))
        elif kind == "trylock":  # revision 2: on a shared or a private lock, retried or not
            lock = draw(st.sampled_from(["L", f"M_{me}"]))
            on_fail = draw(st.sampled_from(["retry", "list"]))
            if on_fail == "list":
                steps.append(("mutex_trylock", {"lock": lock, "on_fail": [("complete", "C")]}))
                steps += [("if", {"held": lock, "then": [("mutex_unlock", lock)]})]
            else:
                steps += [("mutex_trylock", {"lock": lock, "on_fail": "retry"})]
                steps.append(("mutex_unlock", lock))
        elif kind == "back-off":  # for (;;) { lock(B); if (trylock(A)) break; unlock(B); }
            first, second = draw(st.sampled_from([("L", "K"), ("K", "L"), ("L", f"M_{me}")]))
            back = [("mutex_unlock", first), "continue"]
            body = [
                ("mutex_lock", first),
                (
                    "mutex_trylock",
                    {
                        "lock": second,
                        "on_fail": [(b, None) if b == "continue" else b for b in back],
                    },
                ),
                ("break", None),
            ]
            steps += [("loop", {"steps": body}), ("mutex_unlock", second), ("mutex_unlock", first)]
        elif kind == "fallback":  # GFP_NOWAIT, and on NULL the sleeping allocation
            fallback = [("alloc_pages", {"gfp": "GFP_NOIO", "as": name})]
            steps.append(("alloc_pages", {"gfp": "GFP_NOWAIT", "as": name, "on_fail": fallback}))
            steps.append(("free_pages", name))
        elif kind == "unwind":  # an error path: hold things, then fail and unwind
            steps += [("mutex_lock", f"M_{me}"), ("memalloc_nofs_save", None)]
            steps.append(
                (
                    "mempool_alloc",
                    {"pool": "P", "gfp": "GFP_NOWAIT", "as": name, "on_fail": "unwind"},
                )
            )
            steps += [("mutex_trylock", {"lock": "L", "on_fail": "unwind"})]
            steps += [("mutex_unlock", "L"), ("mempool_free", name)]
            steps += [("memalloc_nofs_restore", None), ("mutex_unlock", f"M_{me}")]
        elif kind == "if":
            steps.append(("alloc_pages", {"gfp": "GFP_NOWAIT", "as": name}))
            then = [("free_pages", name)]
            steps.append(("if", {"not_null": name, "then": then, "else": [("complete", "C")]}))
        else:  # a restore without a save: a violation raised by a local step
            steps.append(("memalloc_nofs_restore", None))
    return steps


@st.composite
def scenarios(draw: st.DrawFn) -> object:
    tasks = []
    names = ["a", "b", "c"][: draw(st.integers(2, 3))]
    for name in names:
        body = draw(programs(name))
        if draw(st.integers(0, 3)) == 0:  # a daemon looping forever
            tasks.append(task(name, ("repeat", {"steps": body}), daemon=True))
        else:
            tasks.append(task(name, *body))
    return scenario(
        *tasks,
        free=draw(st.integers(2, 6)),
        min=draw(st.integers(1, 4)),
        pools={"P": draw(st.integers(0, 2))},
        locks={"L": "mutex", "K": "mutex", **{f"M_{n}": "mutex" for n in names}},
        completions={
            "C": draw(st.integers(0, 1)),
            **{f"D_{n}": draw(st.integers(0, 1)) for n in names},
        },
        killer=draw(st.booleans()),
    )


@model_property(PROPERTY_EXAMPLES * 2)
@given(scenarios(), st.sampled_from(list(PRESETS)))
def test_partial_order_reduction_keeps_the_outcome_set(sc: object, preset: str) -> None:
    kernel = PRESETS[preset]
    reduced = KernelModel(sc, kernel, symmetry=False)  # type: ignore[arg-type]
    full = KernelModel(sc, kernel, reduce=False)  # type: ignore[arg-type]
    assert full.local_pcs is None
    assert outcomes(reduced) == outcomes(full)


@model_property()
@given(scenarios())
def test_a_move_taken_alone_is_a_real_local_move(sc: object) -> None:
    """The lone move is one of the full successors and leaves the shared part as it was,
    except the private lock or completion it names."""
    reduced = KernelModel(sc, PRESETS["v4.8"], symmetry=False, stubborn=False)  # type: ignore[arg-type]
    if reduced.local_pcs is None:
        return
    full = KernelModel(sc, PRESETS["v4.8"], reduce=False)  # type: ignore[arg-type]
    frontier = [reduced.initial()]
    seen = set(frontier)
    while frontier and len(seen) < 3000:
        state = frontier.pop()
        mine = reduced.successors(state)
        every = full.successors(state)
        assert {(a, n) for a, n, _ in mine} <= {(a, n) for a, n, _ in every}
        if len(mine) == 1 and len(every) > 1:
            (t, _), nxt, labels = mine[0]
            m = reduced
            assert not labels and not m.halted(nxt) and m.free_pages(nxt) == m.free_pages(state)
            assert m.task_view(nxt, t).pc > m.task_view(state, t).pc  # the cycle proviso
            others = [u for u in range(len(m.info)) if u != t]
            assert all(m.task_view(nxt, u) == m.task_view(state, u) for u in others)
            assert all(m.scope_depths(nxt, u) == m.scope_depths(state, u) for u in others)
        for _, n, _ in mine:
            if n not in seen:
                seen.add(n)
                frontier.append(n)


def test_reduction_shrinks_private_work_and_is_off_where_the_oom_killer_can_run() -> None:
    worker = (
        ("memalloc_noio_save", None),
        ("mutex_lock", "M"),
        ("mempool_alloc", {"pool": "P", "gfp": "GFP_KERNEL", "as": "a"}),
        ("mutex_unlock", "M"),
        ("mempool_free", "a"),
        ("memalloc_noio_restore", None),
    )
    other = (("mempool_alloc", {"pool": "P", "gfp": "GFP_NOIO", "as": "b"}), ("mempool_free", "b"))
    sc = scenario(
        task("w", *worker), task("o", *other), free=4, min=4, pools={"P": 1}, locks={"M": "mutex"}
    )
    reduced, full = KernelModel(sc, stubborn=False), KernelModel(sc, reduce=False)
    assert reduced.reductions == ("partial-order",)
    assert [sorted(pcs) for pcs in reduced.local_pcs or ()] == [[0, 1, 3, 5], []]
    r, f = explore(reduced), explore(full)
    assert r.outcomes == f.outcomes
    assert r.states < f.states
    # a plain alloc_pages that may reach the OOM killer turns the reduction off
    oom = scenario(
        task("w", *worker),
        task("o", ("alloc_pages", {"gfp": "GFP_KERNEL", "as": "p"}), ("free_pages", "p")),
        pools={"P": 1},
        locks={"M": "mutex"},
    )
    assert KernelModel(oom).local_pcs is None


def test_a_local_step_that_halts_the_machine_is_not_taken_alone() -> None:
    """A restore without a save is a violation; other tasks' outcomes before it still count."""
    bad = task("bad", ("memalloc_nofs_restore", None))
    eater = task(
        "eater",
        ("alloc_pages", {"gfp": "GFP_NOWAIT", "as": "p"}),
        ("free_pages", "p"),
        flags=["PF_MEMALLOC"],
    )
    sc = scenario(bad, eater, free=1, min=2, killer=False)
    reduced = KernelModel(sc)
    assert reduced.local_pcs == (frozenset({0}), frozenset())
    assert explore(reduced).outcomes == explore(KernelModel(sc, reduce=False)).outcomes
    assert set(explore(reduced).outcomes) == {"depletion", "violation"}


def test_a_lock_reclaim_needs_is_not_private() -> None:
    w = task("w", ("mutex_lock", "M"), ("mutex_unlock", "M"))
    o = task("o", ("alloc_pages", {"gfp": "GFP_NOIO", "as": "p"}), ("free_pages", "p"))
    entries = [{"pages": 2, "locks": ["M"]}]
    sc = scenario(w, o, locks={"M": "mutex"}, reclaimable=entries, killer=False)
    assert KernelModel(sc).local_pcs is None
    alone = scenario(w, o, locks={"M": "mutex"}, reclaimable=[{"pages": 2}], killer=False)
    assert KernelModel(alone).local_pcs == (frozenset({0, 1}), frozenset())


def test_copies_share_their_lock_so_it_is_not_private() -> None:
    body = (step("mutex_lock", "M"), step("mutex_unlock", "M"))
    tasks = [Task(f"w[{i}]", "w", i, body) for i in range(2)]
    assert KernelModel(scenario(*tasks, locks={"M": "mutex"})).local_pcs is None


def test_abba_on_shared_locks_is_still_found_among_private_steps() -> None:
    a = task(
        "a",
        ("memalloc_noio_save", None),
        ("mutex_lock", "L"),
        ("mutex_lock", "K"),
        ("mutex_unlock", "K"),
        ("mutex_unlock", "L"),
        ("memalloc_noio_restore", None),
    )
    b = task("b", ("mutex_lock", "K"), ("mutex_lock", "L"), ("mutex_unlock", "L"),
             ("mutex_unlock", "K"))  # fmt: skip
    reduced = KernelModel(scenario(a, b, locks={"L": "mutex", "K": "mutex"}))
    assert reduced.local_pcs == (frozenset({0, 5}), frozenset())
    assert explore(reduced).outcomes == ("deadlock",)
