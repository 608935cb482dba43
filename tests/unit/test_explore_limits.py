"""Limits, interruption and progress: a cut search never passes for a complete one."""

from __future__ import annotations

import itertools
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from mempool_cli.explore import Progress, explore, search
from tests.unit.toy_models import ChainModel, GraphModel, GridModel, SlowModel


def test_max_states_cuts_the_search() -> None:
    result = explore(GridModel(30), max_states=100)
    assert not result.complete
    assert result.stop_reason == "max-states"
    assert result.states == 100


def test_max_states_equal_to_the_state_count_completes() -> None:
    result = explore(ChainModel(10), max_states=10)
    assert result.complete and result.stop_reason is None
    assert result.states == 10
    assert explore(ChainModel(11), max_states=10).stop_reason == "max-states"


def test_unexpanded_frontier_is_not_a_dead_end() -> None:
    # The last state found has successors the search never asked for.
    result = explore(ChainModel(1000), max_states=10)
    assert result.stop_reason == "max-states"
    assert result.findings == ()
    assert result.hangs == 0


def test_a_state_cut_mid_expansion_is_not_a_hang() -> None:
    # 1's first successor is itself; its second would be one state too many.
    # Keeping the self-loop alone would make 1 look like a one-state hang.
    model = GraphModel({0: [1], 1: [1, 2], 2: []}, final=[2])
    result = explore(model, max_states=2)
    assert result.stop_reason == "max-states"
    assert result.findings == ()
    assert result.hangs == 0
    assert result.transitions == 1  # only 0's, fully expanded


def test_a_hang_found_before_the_cut_is_reported() -> None:
    edges = {0: [1, 2], 1: []} | {i: [i + 1] for i in range(2, 1000)}
    result = explore(GraphModel(edges), max_states=20)
    assert not result.complete
    assert result.outcomes == ("deadlock",)
    assert result.findings[0].schedule == (0,)
    assert result.hangs == 1


def test_labels_found_before_the_cut_are_reported() -> None:
    edges = {i: [i + 1] for i in range(1000)}
    result = explore(GraphModel(edges, labels={5: ["depletion"]}), max_states=50)
    assert result.stop_reason == "max-states"
    assert result.outcomes == ("depletion",)


def test_should_stop_interrupts() -> None:
    result = explore(GridModel(30), should_stop=lambda: True)
    assert not result.complete
    assert result.stop_reason == "interrupted"
    assert (result.states, result.transitions) == (1, 0)


def test_should_stop_midway_keeps_what_was_found() -> None:
    model = SlowModel(GridModel(30), 0.0)
    result = explore(model, should_stop=lambda: model.expanded >= 500)
    assert result.stop_reason == "interrupted"
    assert 500 <= model.expanded < 30**3
    assert result.states < 30**3


def test_interruption_during_the_hang_pass_is_incomplete(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "_SCC_CHECK_EVERY", 1)
    model = SlowModel(ChainModel(100, stuck=True), 0.0)
    # True only once every state is expanded, that is, after the search itself.
    result = explore(model, should_stop=lambda: model.expanded >= 100)
    assert model.expanded == 100
    assert not result.complete
    assert result.stop_reason == "interrupted"


def test_max_seconds() -> None:
    result = explore(GridModel(30), max_seconds=0.0)
    assert (result.complete, result.stop_reason) == (False, "max-seconds")


def test_max_memory() -> None:
    result = explore(GridModel(30), max_memory=1)
    assert (result.complete, result.stop_reason) == (False, "max-memory")
    assert explore(GridModel(10), max_memory=1 << 40).complete


def test_max_states_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_states"):
        explore(ChainModel(3), max_states=0)


def test_stop_comes_well_within_a_second_on_a_slow_model() -> None:
    model = SlowModel(GridModel(50), 0.002)  # a few hundred states a second
    asked: list[float] = []

    def ask() -> None:
        asked.append(time.monotonic())

    timer = threading.Timer(0.3, ask)
    timer.start()
    try:
        result = explore(model, should_stop=lambda: bool(asked))
        stopped = time.monotonic()
    finally:
        timer.cancel()
    assert result.stop_reason == "interrupted"
    assert 0 < model.expanded < 50**3
    assert stopped - asked[0] < 0.5


def test_max_seconds_on_a_slow_model_stops_on_time() -> None:
    model = SlowModel(GridModel(50), 0.002)
    started = time.monotonic()
    result = explore(model, max_seconds=0.3)
    elapsed = time.monotonic() - started
    assert result.stop_reason == "max-seconds"
    # The search takes its share of the time; the hang pass may take the rest.
    assert 0.3 * search._SEARCH_SHARE <= elapsed < 1.0


def test_progress_is_reported_not_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(search, "PROGRESS_INTERVAL", 0.0)
    seen: list[Progress] = []
    result = explore(SlowModel(GridModel(8), 0.0005), progress=seen.append)
    assert result.complete
    assert len(seen) >= 2
    for before, after in itertools.pairwise(seen):
        assert before.states <= after.states
        assert before.transitions <= after.transitions
        assert before.seconds <= after.seconds
    for p in seen:
        assert 0 <= p.queue <= p.states <= result.states
        assert p.states_per_second >= 0
    assert capsys.readouterr() == ("", "")


def test_progress_interval_is_respected() -> None:
    seen: list[Progress] = []
    explore(GridModel(8), progress=seen.append)  # far faster than half a second
    assert seen == []


def test_a_search_cut_by_the_clock_still_gets_its_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "_SCC_CHECK_EVERY", 1)
    # Depth-first, the hang pass walks the long chain before it meets the dead end 1.
    edges = {0: [2, 1], 1: []} | {i: [i + 1] for i in range(2, 100_000)}
    model = SlowModel(GraphModel(edges), 0.001)
    result = explore(model, max_seconds=0.2)
    assert result.stop_reason == "max-seconds"
    assert model.expanded > 10
    assert result.outcomes == ("deadlock",)


def test_the_hang_pass_obeys_the_clock_when_the_search_finished(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(search, "_SCC_CHECK_EVERY", 1)
    clock = [0.0]
    monkeypatch.setattr(search, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    model = SlowModel(ChainModel(50, stuck=True), 0.0)

    def should_stop() -> bool:
        if model.expanded == 50:
            clock[0] = 100.0  # the search is over: time runs out in the hang pass
        return False

    result = explore(model, max_seconds=10.0, should_stop=should_stop)
    assert (result.complete, result.stop_reason) == (False, "max-seconds")


class OutOfMemoryModel(GridModel):
    """A grid whose ``successors`` raises MemoryError (as under ``ulimit -v``) after a while."""

    def __init__(self, size: int, after: int) -> None:
        super().__init__(size)
        self.calls = 0
        self.after = after

    def successors(self, s: tuple[int, ...]) -> Any:
        self.calls += 1
        if self.calls > self.after:
            raise MemoryError
        return super().successors(s)


def test_a_memory_error_in_the_search_is_a_memory_limit() -> None:
    result = explore(OutOfMemoryModel(30, after=200))
    assert (result.complete, result.stop_reason) == (False, "max-memory")
    assert result.states > 200
    assert result.hangs == 0  # the frontier is not a dead end


@pytest.mark.parametrize("where", ["_rss_bytes", "_progress"])
def test_a_memory_error_between_chunks_is_a_memory_limit(
    monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Under ``ulimit -v`` the check of the resident size (it opens a file) or the progress
    report between two chunks can be what meets the cap: still the partial result."""
    calls = [0]
    real = getattr(search, where)

    def failing(*args: Any) -> Any:
        calls[0] += 1
        if calls[0] > 3:
            raise MemoryError
        return real(*args)

    monkeypatch.setattr(search, where, failing)
    monkeypatch.setattr(search, "PROGRESS_INTERVAL", 0.0)
    result = explore(GridModel(30), max_memory=1 << 60, progress=lambda p: None)
    assert (result.complete, result.stop_reason) == (False, "max-memory")
    assert result.states > 16
    assert result.hangs == 0


def test_a_memory_error_in_the_hang_pass_is_a_memory_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_memory(*args: object) -> None:
        raise MemoryError

    monkeypatch.setattr(search, "_bottom_sccs", no_memory)
    result = explore(GridModel(5))
    assert (result.complete, result.stop_reason, result.states) == (False, "max-memory", 125)


def test_a_search_cut_by_the_clock_ends_by_the_time_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A fake clock: each expansion and each hang-pass check costs 10 ms. The search stops
    # early enough (and the hang pass obeys the clock) for the whole to end at max_seconds.
    clock = [0.0]
    monkeypatch.setattr(search, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(search, "_SCC_CHECK_EVERY", 1)

    class Ticking(GridModel):
        def successors(self, s: tuple[int, ...]) -> Any:
            clock[0] += 0.01
            return super().successors(s)

    real_bottom_sccs = search._bottom_sccs

    def ticking_sccs(offsets: Any, succ: Any, expanded: int, found: int, check: Any) -> Any:
        def tick() -> Any:
            clock[0] += 0.01
            return check()

        return real_bottom_sccs(offsets, succ, expanded, found, tick)

    monkeypatch.setattr(search, "_bottom_sccs", ticking_sccs)
    result = explore(Ticking(10), max_seconds=5.0)
    assert result.stop_reason == "max-seconds"
    assert result.seconds <= 5.0 + 0.02, result.seconds
