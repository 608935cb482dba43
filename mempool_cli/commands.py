"""What each CLI command does, as plain functions over paths and callbacks.

Kept apart from cli.py so the commands can be tested without click and so
the command layer stays a few lines each.
"""

from __future__ import annotations

from collections.abc import Callable

from mempool_cli.errors import EXIT_INVALID, EXIT_OK, ScenarioError
from mempool_cli.scenario.loader import load_scenario

Echo = Callable[..., None]


def check(paths: list[str], echo: Echo) -> int:
    """Load every file, print every problem of every file, return the exit status."""
    status = EXIT_OK
    for path in paths:
        try:
            scenario = load_scenario(path)
        except ScenarioError as err:
            echo(str(err), err=True)
            status = EXIT_INVALID
            continue
        echo(f"{path}: ok ({scenario.name}, {len(scenario.tasks)} tasks)")
    return status
