"""Replaying each finding's schedule of each shipped scenario reaches that finding."""

from __future__ import annotations

from pathlib import Path

import pytest

from mempool_cli.errors import UsageError
from mempool_cli.kernel.model import KernelModel
from mempool_cli.narration import action_token
from mempool_cli.report import HANG_OUTCOMES
from mempool_cli.scenario.loader import load_scenario
from mempool_cli.verdict import concrete, kernels_for, replay_schedule, run_scenario

REPO = Path(__file__).resolve().parents[2]
FILES = sorted((REPO / "scenarios").rglob("*.yaml"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_finding_replays_to_itself(path: Path) -> None:
    sc = load_scenario(str(path))
    for kernel in kernels_for(sc, [], True):
        for f in run_scenario(sc, kernel).findings:
            replayed = replay_schedule(sc, kernel, f.schedule)
            assert f.outcome in replayed.reached, (kernel.name, f.outcome, replayed.verdict)
            assert replayed.schedule == f.schedule
            if f.outcome in HANG_OUTCOMES:
                assert replayed.hang_states > 0
                assert replayed.verdict.startswith("in a hang of ")
                assert replayed.waitfor == f.waitfor


def _rientjes() -> tuple:
    sc = load_scenario(str(REPO / "scenarios/mempool/rientjes-2016-oom-victim.yaml"))
    return sc, kernels_for(sc, ["v4.5"], False)[0]


def test_replay_of_a_prefix_is_not_a_hang() -> None:
    sc, kernel = _rientjes()
    r = replay_schedule(sc, kernel, "taskB,taskB")
    assert r.reached == ()
    assert r.verdict == "not in a hang: some path from here still leads out"
    assert r.enabled == ("taskB", "taskA", "taskC")
    assert [s.changes for s in r.steps] == [(("M", "free -> taskB"),), ()]


def test_replay_to_the_end() -> None:
    sc = load_scenario(str(REPO / "scenarios/mempool/weiner-2016-no-abba.yaml"))
    model = concrete(KernelModel(sc))
    tokens, state = [], model.initial()
    while not model.is_final(state):  # always the first enabled step: cpu0 runs, then cpu1
        action, state, _ = model.successors(state)[0]
        tokens.append(action_token(model, action))
    r = replay_schedule(sc, sc.kernel, ",".join(tokens))
    assert r.final
    assert r.verdict == "every task has exited: the run is over"
    assert r.reached == ()


def test_replay_that_cannot_tell() -> None:
    sc, kernel = _rientjes()
    r = replay_schedule(sc, kernel, "", bound=5)
    assert "cannot tell whether this is a hang" in r.verdict


def test_replay_rejects_a_step_that_is_not_enabled() -> None:
    sc, kernel = _rientjes()
    with pytest.raises(UsageError, match="schedule step 1 'nobody' is not possible there"):
        replay_schedule(sc, kernel, "nobody")
