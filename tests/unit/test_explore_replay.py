"""Replaying a schedule through a model."""

from __future__ import annotations

import itertools

import pytest

from mempool_cli.explore import Step, explore, replay
from tests.unit.toy_models import CounterModel, SpinModel, abba


def test_replay_walks_the_schedule() -> None:
    model = abba()
    steps = replay(model, (0, 1, 0, 0))
    assert [s.index for s in steps] == [0, 1, 0, 0]
    assert [s.action for s in steps] == [(0, "lock"), (1, "lock"), (0, "sleep"), (1, "sleep")]
    assert steps[0].state_before == model.initial()
    for before, after in itertools.pairwise(steps):
        assert before.state_after == after.state_before
    assert model.successors(steps[-1].state_after) == []


def test_replay_labels_are_events_and_state_labels() -> None:
    model = CounterModel(top=10, label_at=6, event_from=5)
    steps = replay(model, (1, 1, 0, 0))  # 0 -> 2 -> 4 -> 5 -(oom-kill)-> 6 (depletion)
    assert [s.state_after for s in steps] == [2, 4, 5, 6]
    assert [s.labels for s in steps[:3]] == [frozenset()] * 3
    assert steps[3].labels == {"oom-kill", "depletion"}


def test_empty_schedule_replays_to_nothing() -> None:
    assert replay(abba(), ()) == []


def test_replay_from_a_given_state_follows_a_cycle() -> None:
    model = SpinModel()
    finding = explore(model).findings[0]
    steps = replay(model, finding.cycle, finding.end_state)
    assert steps[0].state_before == finding.end_state
    assert steps[-1].state_after == finding.end_state


@pytest.mark.parametrize("bad", [2, -1, 99])
def test_index_out_of_range_is_a_clear_error(bad: int) -> None:
    pattern = r"schedule step 2: index -?\d+ is out of range.*\(0\.\.1\)"
    with pytest.raises(ValueError, match=pattern):
        replay(abba(), (0, bad))


def test_index_past_the_end_of_the_run() -> None:
    model = CounterModel(top=2)
    with pytest.raises(ValueError, match=r"step 2: index 0 is out of range.*no successors"):
        replay(model, (1, 0))


def test_step_is_frozen() -> None:
    step = replay(abba(), (0,))[0]
    assert isinstance(step, Step)
    with pytest.raises(AttributeError):
        step.index = 1  # type: ignore[misc]
