"""What the transition-table tests share: load a scenario unreduced, and take one task's
moves by hand (tests/unit/test_counters.py, test_queues.py, test_irq.py)."""

from __future__ import annotations

from typing import Any

from mempool_cli.explore import explore
from mempool_cli.kernel.model import KernelModel, State
from mempool_cli.scenario.loader import load_text


def load(text: str, **kw: Any) -> KernelModel:
    """The scenario ``text`` as a model with every reduction off (all moves are there)."""
    return KernelModel(load_text(text, "t.yaml"), reduce=False, **kw)


def moves(m: KernelModel, s: State, t: int) -> dict[int, State]:
    """Task ``t``'s moves in ``s``: choice -> the next state."""
    return {c: n for (actor, c), n, _ in m.successors(s) if actor == t}


def step(m: KernelModel, s: State, t: int, choice: int = 0) -> State:
    """The state after task ``t`` takes ``choice``; fails the test when it cannot."""
    out = moves(m, s, t)
    assert choice in out, f"task {t} has no move {choice}: {sorted(out)}"
    return out[choice]


def events(m: KernelModel, s: State, t: int, choice: int = 0) -> list[str]:
    """The event keys of that move."""
    return [key for key, _ in m.action_events(s, (t, choice))]


def outcomes(m: KernelModel) -> set[str]:
    """Every outcome the search finds (empty: ok)."""
    return set(explore(m).outcomes)
