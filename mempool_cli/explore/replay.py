"""Replay a schedule (successor indices) through a Model, step by step.

A finding is only as good as its replay: this walks the same
``successors`` lists the search walked, so a schedule the explorer
reported reaches the state it reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mempool_cli.explore.model import Model

__all__ = ["Step", "replay"]

_INITIAL: Any = object()


@dataclass(frozen=True, slots=True)
class Step:
    """One transition of a replayed schedule.

    ``index`` is the successor index taken (the schedule's entry) in
    ``state_before``; ``labels`` are the transition's event labels
    together with the state labels of ``state_after``.
    """

    index: int
    action: Any
    state_before: Any
    state_after: Any
    labels: frozenset[str]


def replay(model: Model[Any], schedule: Iterable[int], start: Any = _INITIAL) -> list[Step]:
    """Follow ``schedule`` from ``start`` (default: the initial state), one Step per index.

    Pass a finding's ``end_state`` as ``start`` to replay its ``cycle``.

    Raises ValueError naming the first step whose index is not a
    successor of the state it stands in.

    >>> class Counter:
    ...     def initial(self): return 0
    ...     def successors(self, s):
    ...         return [("inc", s + 1, frozenset()), ("dbl", s * 2, frozenset())]
    ...     def state_labels(self, s): return frozenset({"depletion"}) if s == 4 else frozenset()
    ...     def is_final(self, s): return False
    ...     def classify_hang(self, states): return "deadlock"
    >>> [(s.action, s.state_after, sorted(s.labels)) for s in replay(Counter(), [0, 0, 1])]
    [('inc', 1, []), ('inc', 2, []), ('dbl', 4, ['depletion'])]
    >>> replay(Counter(), [0, 7])
    Traceback (most recent call last):
    ...
    ValueError: schedule step 2: index 7 is out of range, the state there has 2 successors (0..1)
    """
    state = model.initial() if start is _INITIAL else start
    steps: list[Step] = []
    for n, i in enumerate(schedule, 1):
        succ = model.successors(state)
        if not 0 <= i < len(succ):
            if not succ:
                raise ValueError(
                    f"schedule step {n}: index {i} is out of range, "
                    "the state there has no successors"
                )
            raise ValueError(
                f"schedule step {n}: index {i} is out of range, "
                f"the state there has {len(succ)} successors (0..{len(succ) - 1})"
            )
        action, after, events = succ[i]
        steps.append(Step(i, action, state, after, events | model.state_labels(after)))
        state = after
    return steps
