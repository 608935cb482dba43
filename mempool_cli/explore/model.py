"""What the explorer asks of a system under test, and nothing more.

Modelled on stateright's ``Model`` trait: the checker sees an initial
state, the transitions out of a state in a fixed order, and named
outcomes. It never learns what a state means, so the same search runs
the kernel model and the toy models of the tests.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

__all__ = ["OUTCOME_ORDER", "Model", "outcome_sort_key"]

S = TypeVar("S", bound=Hashable)

# The order findings are reported in; labels a model invents come after, by name.
OUTCOME_ORDER: tuple[str, ...] = (
    "ok",
    "deadlock",
    "livelock",
    "oom-panic",
    "depletion",
    "violation",
    "oom-kill",
)
_RANK = {name: i for i, name in enumerate(OUTCOME_ORDER)}


def outcome_sort_key(outcome: str) -> tuple[int, str]:
    """Sort key putting known outcomes in contract order, unknown ones after, alphabetically.

    >>> sorted(["zeta", "violation", "deadlock", "alpha"], key=outcome_sort_key)
    ['deadlock', 'violation', 'alpha', 'zeta']
    """
    return (_RANK.get(outcome, len(OUTCOME_ORDER)), outcome)


@runtime_checkable
class Model(Protocol[S]):
    """A transition system over hashable states (tuples of ints and the like).

    Every method must be a pure function of its arguments: the explorer
    calls them in any order, any number of times, and a schedule found
    once must replay to the same states later.
    """

    def initial(self) -> S:
        """The one state every schedule starts from."""
        ...

    def successors(self, state: S) -> Sequence[tuple[Any, S, frozenset[str]]]:
        """``(action, next_state, event_labels)`` in a stable, deterministic order.

        A schedule is a sequence of indices into this list. ``event_labels``
        are outcome names true of the transition itself (e.g. ``'oom-kill'``).
        """
        ...

    def state_labels(self, state: S) -> frozenset[str]:
        """Outcome names true of the state (e.g. ``'depletion'``, ``'violation'``)."""
        ...

    def is_final(self, state: S) -> bool:
        """The run is over here (all work done, or halted): a hang never contains it."""
        ...

    def classify_hang(self, states: Sequence[S]) -> str:
        """Outcome name (``'deadlock'`` or ``'livelock'``) of a hang made of these states."""
        ...


# A model with a symmetry reduction also has (stateright's ``Representative``):
#
#   representative(state) -> S
#       one state of the class of states that are the same up to a symmetry;
#   representative_successors: None, or a function rep -> [(action, next, labels)]
#       for a representative, its ``successors`` with each next state replaced
#       by its representative.
#
# The search then visits representatives only, and ``successors`` of a real
# state must come in the order of its representative's: the k-th successor of
# a real state stands for the k-th of its representative. A schedule found
# among representatives then replays index by index on real states from the
# real initial state, and the search reports the real states it reaches. States
# passed to ``state_labels``, ``is_final`` and ``classify_hang`` may be
# representatives, so those must not tell the members of a class apart.
