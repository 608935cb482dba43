"""Generic search over any Model: states, hangs, schedules, limits, paths, state graphs.

Never imports the kernel or the scenario packages: the explorer sees a
transition system and outcome names, nothing more.
"""

from mempool_cli.explore.graph import (
    Edge,
    StateGraph,
    TooManyStates,
    hang_at,
    hang_cycle,
    shortest_path,
    state_graph,
)
from mempool_cli.explore.model import OUTCOME_ORDER, Model, outcome_sort_key
from mempool_cli.explore.replay import Step, replay
from mempool_cli.explore.search import (
    PROGRESS_INTERVAL,
    STOP_REASONS,
    Finding,
    Progress,
    Result,
    explore,
    path_to,
)

__all__ = [
    "OUTCOME_ORDER",
    "PROGRESS_INTERVAL",
    "STOP_REASONS",
    "Edge",
    "Finding",
    "Model",
    "Progress",
    "Result",
    "StateGraph",
    "Step",
    "TooManyStates",
    "explore",
    "hang_at",
    "hang_cycle",
    "outcome_sort_key",
    "path_to",
    "replay",
    "shortest_path",
    "state_graph",
]
