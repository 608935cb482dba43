"""Symmetry with `count:` copies whose allocations fail (issue 11's crash).

A copy that enters ``__alloc_pages_may_oom`` with the OOM killer off used
to leave the state unplaced, so the reduced search held non-canonical
states and a finding's schedule had no real counterpart. Each scenario
here is checked with and without reductions, and every finding's replay
command must reach the finding again on the unreduced model.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mempool_cli.scenario.kernels import PRESETS
from mempool_cli.scenario.loader import load_text
from mempool_cli.scenario.spec import Scenario, Task
from mempool_cli.verdict import Limits, replay_schedule, run_scenario

from .kernel_builders import model_property, scenario, step

ISSUE_11 = """\
mpsim: 1
locks: {M: mutex}
memory: {free: 0, min: 0}
oom: {killer: false}
tasks:
  t:
    count: 2
    steps:
      - alloc_pages: {gfp: GFP_KERNEL, as: p}
      - mutex_lock: M
      - mutex_lock: M
"""

NOBODY_COMPLETES = """\
mpsim: 1
completions: {C: 0}
memory: {free: 1, min: 1}
oom: {killer: false}
tasks:
  t:
    count: 3
    steps:
      - alloc_pages: {gfp: GFP_KERNEL, as: p}
      - free_pages: p
      - wait_for_completion: C
"""

POOL_V48 = """\
mpsim: 1
kernel: v4.8
pools: {P: {min_nr: 2}}
locks: {M: mutex}
memory: {free: 2, min: 2}
oom: {killer: false}
tasks:
  t:
    count: 2
    steps:
      - alloc_pages: {gfp: GFP_KERNEL, as: p}
      - mempool_alloc: {pool: P, gfp: GFP_NOIO, as: a}
      - mutex_lock: M
      - mempool_alloc: {pool: P, gfp: GFP_NOIO, as: b}
      - mutex_unlock: M
      - mempool_free: b
      - mempool_free: a
"""


def _check(sc: Scenario, preset: str) -> frozenset[str]:
    """Outcomes with and without reductions agree, and every finding replays to itself."""
    kernel = PRESETS[preset]
    reduced = run_scenario(sc, kernel, Limits(max_states=200_000))
    full = run_scenario(sc, kernel, Limits(max_states=200_000, reduce=False))
    assert reduced.complete and full.complete
    assert reduced.outcomes == full.outcomes
    for finding in reduced.findings:
        replayed = replay_schedule(sc, kernel, finding.schedule)
        assert finding.outcome in replayed.reached, (finding.outcome, finding.schedule)
    return reduced.outcomes


@pytest.mark.parametrize(
    ("text", "preset", "want"),
    [
        (ISSUE_11, "latest", {"deadlock"}),
        (NOBODY_COMPLETES, "latest", {"deadlock"}),  # 1 free at min 1: every attempt fails
        (NOBODY_COMPLETES, "v4.8", {"deadlock"}),
        (POOL_V48, "v4.8", {"deadlock"}),  # both take a, one sleeps on P holding M
    ],
)
def test_copies_whose_allocations_fail(text: str, preset: str, want: set[str]) -> None:
    sc = load_text(text, "t.yaml")
    assert _check(sc, preset) == want


GFPS = ["GFP_KERNEL", "GFP_NOIO", "GFP_NOFS", "GFP_KERNEL | __GFP_NORETRY"]


@st.composite
def failing_copies(draw: st.DrawFn) -> Scenario:
    """`count:` copies that allocate with reclaim from a zone with little or nothing free."""
    body: list[tuple[str, object]] = []
    for i in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["pages", "lock", "wait", "mempool"]))
        if kind == "pages":
            body.append(("alloc_pages", {"gfp": draw(st.sampled_from(GFPS)), "as": f"h{i}"}))
        elif kind == "mempool":
            body.append(("mempool_alloc", {"pool": "P", "gfp": "GFP_NOIO", "as": f"h{i}"}))
        elif kind == "lock":
            body.append(("mutex_lock", draw(st.sampled_from(["L", "M"]))))
        else:
            body.append(("wait_for_completion", "C"))
    copies = draw(st.integers(2, 3))
    tasks = [
        Task(f"w[{i}]", "w", i, tuple(step(*s) for s in body), daemon=False) for i in range(copies)
    ]
    return scenario(
        *tasks,
        free=draw(st.integers(0, 2)),
        min=draw(st.integers(0, 2)),
        pools={"P": draw(st.integers(0, 1))},
        locks={"L": "mutex", "M": "mutex"},
        completions={"C": 0},
        killer=False,
    )


@model_property()
@given(failing_copies(), st.sampled_from(["v4.5", "v4.8", "v4.15", "latest"]))
def test_generated_copies_whose_allocations_fail(sc: Scenario, preset: str) -> None:
    _check(sc, preset)
