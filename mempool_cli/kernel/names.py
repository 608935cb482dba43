"""What a kernel model's actions are called: their actor and their schedule token.

A schedule is written as tokens (``taskB``, ``taskB#1`` for a task's
second choice, ``reaper@taskC`` for the OOM reaper acting on taskC), and
the generic searches of ``explore/`` are told which actor took a step.
Both are facts of the kernel model's actions, so they live beside it and
every layer above (reports, DOT, replay) asks here.
"""

from __future__ import annotations

from mempool_cli.kernel.model import REAPER, Action, KernelModel

__all__ = ["action_token", "actor_of"]


def actor_of(action: Action) -> int:
    """The actor taking ``action``: its task id, or REAPER for every act of the OOM reaper."""
    return action[0]


def action_token(model: KernelModel, action: Action) -> str:
    """``taskB``, ``taskB#1`` for a task's second choice, ``reaper@taskC`` for the OOM reaper."""
    t, choice = action
    if t == REAPER:
        return f"reaper@{model.info[choice].name}"
    name = model.info[t].name
    return name if choice == 0 else f"{name}#{choice}"
