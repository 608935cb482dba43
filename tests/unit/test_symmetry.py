"""Symmetry reduction never changes a verdict.

Hypothesis builds small scenarios with `count:` copies (plus a distinct
task) from the step vocabulary, and checks on every preset that the
outcome set with reduction equals the one without, and that the
incremental re-ranking after a move equals the full canonical form.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mempool_cli.explore import explore
from mempool_cli.kernel.model import KernelModel
from mempool_cli.scenario.kernels import PRESETS
from mempool_cli.scenario.spec import Task

from .kernel_builders import model_property, outcomes, scenario, step

GFPS = ["GFP_NOIO", "GFP_NOWAIT", "GFP_KERNEL | __GFP_NORETRY", "GFP_ATOMIC"]


@st.composite
def programs(draw: st.DrawFn) -> list[tuple[str, object]]:
    """A step list that frees what it allocates and unlocks what it locks, in some order."""
    steps: list[tuple[str, object]] = []
    freer: dict[str, str] = {}  # handle -> the step that frees it
    held_handles: list[str] = []
    held_locks: list[str] = []
    for i in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(
                [
                    *("mempool", "pages", "lock", "free", "unlock", "complete", "wait"),
                    *("trylock", "fallback", "back-off"),  # revision 2
                ]
            )
        )
        if kind == "mempool":
            name = f"h{i}"
            pool = draw(st.sampled_from(["P", "Q"]))
            steps.append(
                ("mempool_alloc", {"pool": pool, "gfp": draw(st.sampled_from(GFPS)), "as": name})
            )
            freer[name] = "mempool_free"
            held_handles.append(name)
        elif kind == "pages":
            name = f"h{i}"
            steps.append(("alloc_pages", {"gfp": draw(st.sampled_from(GFPS)), "as": name}))
            freer[name] = "free_pages"
            held_handles.append(name)
        elif kind == "lock":
            lock = draw(st.sampled_from(["L", "M"]))
            if lock not in held_locks:
                steps.append(("mutex_lock", lock))
                held_locks.append(lock)
        elif kind == "free" and held_handles:
            name = held_handles.pop(draw(st.integers(0, len(held_handles) - 1)))
            steps.append((freer[name], name))
        elif kind == "unlock" and held_locks:
            steps.append(("mutex_unlock", held_locks.pop()))
        elif kind == "complete":
            steps.append(("complete", "C"))
        elif kind == "wait":
            steps.append(("wait_for_completion", "C"))
        elif kind == "trylock":
            lock = draw(st.sampled_from(["L", "M"]))
            if lock not in held_locks:
                on_fail = draw(st.sampled_from(["retry", "unwind"]))
                steps.append(("mutex_trylock", {"lock": lock, "on_fail": on_fail}))
                held_locks.append(lock)
        elif kind == "fallback":
            name = f"h{i}"
            fallback = [("alloc_pages", {"gfp": "GFP_NOIO", "as": name})]
            steps.append(("alloc_pages", {"gfp": "GFP_NOWAIT", "as": name, "on_fail": fallback}))
            freer[name] = "free_pages"
            held_handles.append(name)
        elif kind == "back-off" and not held_locks:
            first, second = draw(st.sampled_from([("L", "M"), ("M", "L")]))
            back = [("mutex_unlock", first), ("continue", None)]
            body = [
                ("mutex_lock", first),
                ("mutex_trylock", {"lock": second, "on_fail": back}),
                ("break", None),
            ]
            steps.append(("loop", {"steps": body}))
            held_locks += [first, second]
    steps.extend((freer[name], name) for name in held_handles)
    steps.extend(("mutex_unlock", lock) for lock in reversed(held_locks))
    return steps


@st.composite
def symmetric_scenarios(draw: st.DrawFn) -> object:
    copies = draw(st.integers(2, 3))
    worker = draw(programs())
    other = draw(programs())
    victim = draw(st.booleans())
    tasks = [
        Task(f"w[{i}]", "w", i, tuple(step(*s) for s in worker), oom_victim=victim, rss=2)
        for i in range(copies)
    ]
    tasks.append(Task("other", "other", None, tuple(step(*s) for s in other)))
    free_pages = draw(st.integers(2, 6))
    return scenario(
        *tasks,
        free=free_pages,
        min=draw(st.integers(1, 4)),
        pools={"P": draw(st.integers(0, 2)), "Q": draw(st.integers(0, 2))},
        locks={"L": "mutex", "M": "mutex"},
        completions={"C": draw(st.integers(0, 1))},
    )


@model_property()
@given(symmetric_scenarios(), st.sampled_from(list(PRESETS)))
def test_reduction_keeps_the_outcome_set(sc: object, preset: str) -> None:
    """Symmetry alone, and symmetry with partial-order reduction, against no reduction."""
    kernel = PRESETS[preset]
    symmetry = KernelModel(sc, kernel, partial_order=False, stubborn=False)  # type: ignore[arg-type]
    both = KernelModel(sc, kernel)  # type: ignore[arg-type]
    full = KernelModel(sc, kernel, reduce=False)  # type: ignore[arg-type]
    assert symmetry.local_pcs is None and full.reductions == ()
    assert outcomes(symmetry) == outcomes(both) == outcomes(full)


@model_property()
@given(symmetric_scenarios())
def test_real_successors_stand_for_the_representatives_in_order(sc: object) -> None:
    """From any real state, the k-th reduced successor is a real move of the unreduced model
    whose next state's representative is the k-th successor of the state's representative."""
    model = KernelModel(sc, PRESETS["v4.8"], partial_order=False, stubborn=False)  # type: ignore[arg-type]
    if model.representative_successors is None:
        return
    full = KernelModel(sc, PRESETS["v4.8"], reduce=False)  # type: ignore[arg-type]
    frontier = [full.initial()]
    seen = set(frontier)
    while frontier and len(seen) < 3000:
        state = frontier.pop()
        every = {a: n for a, n, _ in full.successors(state)}
        rep = model.representative(state)
        by_rep = model.representative_successors(rep)
        real = model.successors(state)
        assert len(real) == len(by_rep)
        for (action, nxt, labels), (_, rep_next, rep_labels) in zip(real, by_rep, strict=True):
            assert every[action] == nxt  # the same move of the same task, unreduced
            assert model.representative(nxt) == rep_next and labels == rep_labels
            assert model.representative(rep_next) == rep_next
        for nxt in every.values():
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)


@model_property()
@given(symmetric_scenarios(), st.sampled_from(["v4.5", "v4.8", "latest"]))
def test_skipping_twin_copies_keeps_every_successor_class(sc: object, preset: str) -> None:
    """The successors of a representative cover exactly the classes of all its moves."""
    model = KernelModel(sc, PRESETS[preset], partial_order=False, stubborn=False)  # type: ignore[arg-type]
    if model.representative_successors is None:
        return
    full = KernelModel(sc, PRESETS[preset], reduce=False)  # type: ignore[arg-type]
    frontier = [model.initial()]
    seen = set(frontier)
    pruned = 0
    while frontier and len(seen) < 3000:
        state = frontier.pop()
        reduced = model.representative_successors(state)
        every = full.successors(state)
        assert {(n, lab) for _, n, lab in reduced} == {
            (model.representative(n), lab) for _, n, lab in every
        }
        pruned += len(every) - len(reduced)
        for _, nxt, _ in reduced:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    if len(sc.tasks[0].steps) > 0:  # type: ignore[attr-defined]
        assert pruned > 0  # the copies start equal, so the first state has twins


@model_property()
@given(symmetric_scenarios(), st.sampled_from(["v4.5", "v4.8", "latest"]))
def test_reduced_schedules_replay_on_the_unreduced_model(sc: object, preset: str) -> None:
    """Each finding's schedule is a walk of real states: the unreduced model takes the same
    actions to the same end state, with no mapping in between."""
    model = KernelModel(sc, PRESETS[preset])  # type: ignore[arg-type]
    full = KernelModel(sc, PRESETS[preset], reduce=False)  # type: ignore[arg-type]
    result = explore(model, max_states=60_000)
    for finding in result.findings:
        state = full.initial()
        reduced_state = model.initial()
        for k in finding.schedule:
            action, reduced_state, _ = model.successors(reduced_state)[k]
            state = {a: n for a, n, _ in full.successors(state)}[action]
            assert state == reduced_state
        assert state == finding.end_state


def test_reduction_is_off_when_the_oom_killer_could_choose_between_copies() -> None:
    worker = (("alloc_pages", {"gfp": "GFP_KERNEL", "as": "p"}), ("free_pages", "p"))
    tasks = [Task(f"w[{i}]", "w", i, tuple(step(*s) for s in worker)) for i in range(2)]
    assert not KernelModel(scenario(*tasks)).symmetric
    assert KernelModel(scenario(*tasks, killer=False)).symmetric


def test_reduction_shrinks_identical_workers() -> None:
    worker = (
        ("mempool_alloc", {"pool": "P", "gfp": "GFP_NOIO", "as": "a"}),
        ("mutex_lock", "L"),
        ("mempool_alloc", {"pool": "P", "gfp": "GFP_NOIO", "as": "b"}),
        ("mutex_unlock", "L"),
        ("mempool_free", "b"),
        ("mempool_free", "a"),
    )
    tasks = [Task(f"w[{i}]", "w", i, tuple(step(*s) for s in worker)) for i in range(3)]
    sc = scenario(*tasks, free=4, min=4, pools={"P": 3}, locks={"L": "mutex"})
    reduced, full = explore(KernelModel(sc)), explore(KernelModel(sc, reduce=False))
    assert reduced.outcomes == full.outcomes == ("deadlock",)
    assert reduced.states < full.states / 3
