"""report.py: the lockdep-style story, hints, summaries and the JSON contract."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from mempool_cli.report import (
    FindingReport,
    RunResult,
    StoryRow,
    replay_command,
    sort_outcomes,
    to_json,
)
from mempool_cli.scenario.loader import load_scenario, load_text
from mempool_cli.verdict import _fold, kernels_for, replay_schedule, run_scenario

MEMPOOL = Path(__file__).resolve().parents[2] / "scenarios" / "mempool"


def run(name: str, preset: str) -> RunResult:
    sc = load_scenario(str(MEMPOOL / f"{name}.yaml"))
    (kernel,) = kernels_for(sc, [preset], False)
    return run_scenario(sc, kernel)


def only(result: RunResult) -> FindingReport:
    (finding,) = result.findings
    return finding


def test_rientjes_story_columns_and_rows() -> None:
    f = only(run("rientjes-2016-oom-victim", "v4.5"))
    assert f.columns == ("taskB", "taskA", "taskC (OOM victim)")
    assert f.left_out == 0
    first = [(r.step, f.columns[r.column]) for r in f.story if not r.loop]
    assert first == [
        (1, "taskB"),
        (2, "taskB"),
        (3, "taskA"),
        (4, "taskA"),
        (5, "taskA"),
        (6, "taskC (OOM victim)"),
        (7, "taskC (OOM victim)"),
        (8, "taskC (OOM victim)"),
    ]
    loop = [r for r in f.story if r.loop]
    assert {f.columns[r.column] for r in loop} == {"taskB", "taskC (OOM victim)"}
    # The story drops pool->alloc's mask; the trace keeps it.
    assert f.story[7].text == "pool->alloc; fails: TIF_MEMDIE without __GFP_NOFAIL does not loop"
    assert "__GFP_NOMEMALLOC" in f.trace[7].text


def test_fold_collapses_repeated_blocks_and_marks_varying_numbers() -> None:
    rows = _fold(
        [(0, "retry (loop 1)", 1), (0, "reclaim", 2), (0, "retry (loop 2)", 3), (0, "reclaim", 4)],
        loop=True,
    )
    assert rows == [
        StoryRow(1, 0, "retry (loop 1)", times=2, loop=True, varies=True),
        StoryRow(2, 0, "reclaim", times=2, loop=True, varies=False),
    ]
    assert _fold([(0, "a", 1), (1, "a", 2)], loop=False)[0].times == 1  # other column: no fold


def test_hints_for_the_rientjes_livelock() -> None:
    f = only(run("rientjes-2016-oom-victim", "v4.5"))
    assert f.hints == (
        "taskC could use the reserves if mempool_alloc did not force __GFP_NOMEMALLOC "
        "(mempool_nomemalloc: if_pool_nonempty; try --kernel v4.6)",
        "no OOM reaper frees taskC's 8 pages while it lives (oom_reaper: reap; try --kernel v4.6)",
    )


def test_hint_for_an_unreapable_victim() -> None:
    f = only(run("rientjes-2016-oom-victim-unreapable", "v4.8"))
    assert (
        "the OOM reaper cannot free taskC's memory (mm_reapable: false) and gives up without "
        "setting MMF_OOM_SKIP, so the OOM killer waits for taskC for ever (oom_reaper: "
        "reap_or_skip marks it anyway; try --kernel v4.11)"
    ) in f.hints


def test_abba_hint_and_no_reserve_hint_for_tasks_that_are_not_victims() -> None:
    f = only(run("weiner-2016-abba", "v4.5"))
    assert f.hints == (
        "cpu1 waits on pool pool0 while holding L, which cpu0 needs before it can return its "
        "pool0 element: an ABBA between a lock and a pool; do not hold L across "
        "mempool_alloc(pool0) [1.7]",
    )


def test_zero_min_pool_hint_and_a_knob_the_file_pins() -> None:
    sc = load_scenario(str(MEMPOOL / "rientjes-2016-zero-min-pool.yaml"))
    (kernel,) = kernels_for(sc, ["v4.5"], False)
    f = only(run_scenario(sc, kernel))
    assert any("(zero_min_pool: one_element keeps one; try --kernel latest)" in h for h in f.hints)
    pinned = dataclasses.replace(sc, kernel_knobs=(("mempool_nomemalloc", "always"),))
    f = only(run_scenario(pinned, kernel))
    assert any(
        "(mempool_nomemalloc: if_pool_nonempty; set in the file's kernel)" in h for h in f.hints
    )


def test_oom_kill_summary_names_only_the_killer_s_victims() -> None:
    f = only(run("rientjes-2016-oom-victim-unreapable", "v4.15"))
    assert f.outcome == "oom-kill"
    assert f.summary == "the OOM killer killed taskA"  # taskC was a victim from the start


def test_json_keys_are_the_documented_ones() -> None:
    data = to_json(run("rientjes-2016-oom-victim", "v4.5"))
    assert list(data) == [
        "scenario", "file", "kernel", "knobs", "outcomes", "expected", "passed", "status",
        "complete", "stop_reason", "stats", "findings",
    ]  # fmt: skip
    assert list(data["stats"]) == ["states", "transitions", "reductions", "seconds"]
    (finding,) = data["findings"]
    assert list(finding) == [
        "outcome", "summary", "schedule", "cycle", "replay", "trace", "cycle_trace", "waitfor",
        "hang_states", "hints",
    ]  # fmt: skip
    assert list(finding["trace"][0]) == ["step", "actor", "action", "text", "changes", "labels"]
    assert list(finding["waitfor"]) == ["nodes", "edges", "cycle", "explanation"]
    assert json.loads(json.dumps(data)) == data


def test_replay_command_is_shell_quoted() -> None:
    result = run("rientjes-2016-oom-victim", "v4.5")
    f = only(result)
    moved = dataclasses.replace(result, file="my scenarios/x.yaml")
    assert replay_command(moved, f) == (
        "mpsim replay 'my scenarios/x.yaml' taskB,taskB,taskA,taskA,taskA,taskC,taskC,taskC "
        "--kernel v4.5"
    )
    brackets = dataclasses.replace(f, schedule="user[0],user[1]")
    assert "'user[0],user[1]'" in replay_command(result, brackets)


# Two daemons take M in turn for ever; `stuck` waits for a completion nobody
# makes. After d1 unlocks M, d2 is still in mutex_lock(M) but M is free.
JUST_RELEASED = """\
mpsim: 1
name: just-released
kernel: v4.5
locks: {M: mutex}
completions: {C: 0}
tasks:
  d1:
    daemon: true
    steps:
      - repeat: {forever: true, steps: [{mutex_lock: M}, {mutex_unlock: M}]}
  d2:
    daemon: true
    steps:
      - repeat: {forever: true, steps: [{mutex_lock: M}, {mutex_unlock: M}]}
  stuck:
    steps:
      - wait_for_completion: C
"""


def replay_just_released() -> dict[str, Any]:
    sc = load_text(JUST_RELEASED, "just-released.yaml")
    (kernel,) = kernels_for(sc, [], False)
    r = replay_schedule(sc, kernel, "stuck,d1,d2,d1")  # d1 locks, d2 sleeps, d1 unlocks
    assert r.reached == ("deadlock",)
    return r.waitfor


def test_a_lock_released_while_a_task_slept_on_it_is_not_a_dead_end() -> None:
    waitfor = replay_just_released()
    # d2 was woken by the unlock and takes M when it runs: M is no resource nobody can release.
    assert waitfor["explanation"] == (
        "stuck waits for completion C; but completion C has no way out: "
        "no live task will complete it."
    )
    assert not [e for e in waitfor["edges"] if e["to"] == "mutex:M"]


def test_where_a_task_stands_when_its_mutex_was_just_released() -> None:
    waitfor = replay_just_released()
    (d2,) = [n for n in waitfor["nodes"] if n["id"] == "task:d2"]
    assert d2["where"] == "woken in mutex_lock(M), M is free (just released)"


def test_the_explorer_orders_outcomes_as_the_contract_does() -> None:
    """explore/ keeps its own copy of the order (it imports nothing of scenario/)."""
    from mempool_cli.explore import OUTCOME_ORDER
    from mempool_cli.scenario.spec import OUTCOMES

    assert OUTCOME_ORDER == OUTCOMES
    assert sort_outcomes({"oom-kill", "zeta", "deadlock"}) == ["deadlock", "oom-kill", "zeta"]
