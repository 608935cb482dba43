"""Generic exhaustive search over any Model: states, hangs, schedules, limits.

Never imports the kernel or the scenario packages: the explorer sees a
transition system and outcome names, nothing more.
"""

from mempool_cli.explore.model import OUTCOME_ORDER, Model, outcome_sort_key
from mempool_cli.explore.replay import Step, replay
from mempool_cli.explore.search import (
    PROGRESS_INTERVAL,
    STOP_REASONS,
    Finding,
    Progress,
    Result,
    explore,
)

__all__ = [
    "OUTCOME_ORDER",
    "PROGRESS_INTERVAL",
    "STOP_REASONS",
    "Finding",
    "Model",
    "Progress",
    "Result",
    "Step",
    "explore",
    "outcome_sort_key",
    "replay",
]
