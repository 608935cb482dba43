"""A hang's cycle takes a step of every actor that can move in the hang, and comes back."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import pytest

from mempool_cli.kernel.model import KernelModel
from mempool_cli.report import HANG_OUTCOMES
from mempool_cli.scenario.loader import load_scenario
from mempool_cli.verdict import concrete, kernels_for, parse_schedule, run_scenario

REPO = Path(__file__).resolve().parents[2]
FILES = sorted((REPO / "scenarios").rglob("*.yaml"))


def _hang_actors(model: KernelModel, entry: Any) -> set[int]:
    seen, queue, actors = {entry}, deque([entry]), set()
    while queue:
        s = queue.popleft()
        for action, nxt, _ in model.successors(s):
            actors.add(action[0])
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return actors


def hang_cases() -> list[tuple[Path, str]]:
    out = []
    for path in FILES:
        sc = load_scenario(str(path))
        for kernel in kernels_for(sc, [], True):
            expected = sc.expect.for_preset(kernel.name) if sc.expect else None
            if expected and expected & set(HANG_OUTCOMES):
                out.append((path, kernel.name))
    return out


@pytest.mark.parametrize(("path", "preset"), hang_cases(), ids=lambda v: getattr(v, "name", v))
def test_shipped_hang_cycles_cover_every_actor(path: Path, preset: str) -> None:
    sc = load_scenario(str(path))
    (kernel,) = kernels_for(sc, [preset], False)
    model = concrete(KernelModel(sc, kernel))
    for f in run_scenario(sc, kernel).findings:
        if f.outcome not in HANG_OUTCOMES:
            continue
        entry = model.initial()
        for i in parse_schedule(model, f.schedule):
            entry = model.successors(entry)[i][1]
        actors = _hang_actors(model, entry)
        if not actors:  # a dead end: nothing moves, nothing to loop
            assert f.cycle == "" and f.cycle_trace == ()
            continue
        # The cycle replays from the hang's entry back to it.
        back = model.initial()
        for i in parse_schedule(model, f.schedule + "," + f.cycle):
            back = model.successors(back)[i][1]
        assert back == entry
        names = {model.actor_name((t, 0)) if t >= 0 else "oom_reaper" for t in actors}
        assert {s.actor for s in f.cycle_trace} == names


def test_rientjes_cycle_shows_the_spinning_task_too() -> None:
    sc = load_scenario(str(REPO / "scenarios/mempool/rientjes-2016-oom-victim.yaml"))
    (kernel,) = kernels_for(sc, ["v4.5"], False)
    (f,) = run_scenario(sc, kernel).findings
    assert {s.actor for s in f.cycle_trace} == {"taskB", "taskC"}
    assert f.cycle == "taskB,taskC,taskB,taskB,taskC"
    again = run_scenario(sc, kernel).findings[0]
    assert again == f
