"""Compile a task's step tree into a flat program the model can index with a pc.

``repeat: {times: N}`` is unrolled (the loader bounds the result), and
``repeat: {forever: true}`` becomes its body followed by a jump back, so a
task's position is one small int and a state stays a plain value.
Names become small integer ids here; the model never looks a name up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mempool_cli.scenario.spec import Repeat, Scenario, Span, Step, StepNode
from mempool_cli.scenario.steps import STEP_KINDS, Names

__all__ = ["COMPLETION_OPS", "JUMP", "LOCK_OPS", "Instr", "Program", "compile_program"]

JUMP = "jump"


def _arg_names(what: Names) -> frozenset[str]:
    return frozenset(
        kind.name
        for kind in STEP_KINDS.values()
        if any(arg.names == what and arg.instr == "arg" for arg in kind.args)
    )


# Steps whose ``Instr.arg`` is a lock id, and those whose ``arg`` is a completion id.
LOCK_OPS = _arg_names("lock")
COMPLETION_OPS = _arg_names("completion")


@dataclass(frozen=True, slots=True)
class Instr:
    """One instruction: a step with names resolved to ids, or a jump (``arg`` = target pc)."""

    op: str
    arg: int = -1  # lock / completion / pool id, handle slot, or jump target
    pool: int = -1  # mempool_alloc's pool, mempool_free's explicit pool
    gfp: int = 0
    order: int = 0
    bind: int = -1  # handle slot written by alloc_pages / mempool_alloc
    step: Step | None = None  # the source step, for reports

    @property
    def span(self) -> Span:
        return self.step.span if self.step is not None else Span(0, 0)


@dataclass(frozen=True, slots=True)
class Program:
    instrs: tuple[Instr, ...]
    handles: tuple[str, ...]  # slot -> handle name


def compile_program(scenario: Scenario, steps: tuple[StepNode, ...]) -> Program:
    """Flatten ``steps`` with ids resolved against ``scenario``."""
    locks = {lock.name: i for i, lock in enumerate(scenario.locks)}
    comps = {c.name: i for i, c in enumerate(scenario.completions)}
    pools = {p.name: i for i, p in enumerate(scenario.pools)}
    handles: dict[str, int] = {}
    out: list[Instr] = []

    def slot(name: str | None) -> int:
        if name is None:
            return -1
        return handles.setdefault(name, len(handles))

    def emit(node: StepNode) -> None:
        if isinstance(node, Repeat):
            if node.times is None:
                start = len(out)
                for child in node.body:
                    emit(child)
                out.append(Instr(JUMP, arg=start))
            else:
                for _ in range(node.times):
                    for child in node.body:
                        emit(child)
            return
        out.append(_instr(node, locks, comps, pools, slot))

    for node in steps:
        emit(node)
    return Program(tuple(out), tuple(sorted(handles, key=handles.__getitem__)))


def _instr(
    step: Step,
    locks: dict[str, int],
    comps: dict[str, int],
    pools: dict[str, int],
    slot: Callable[[str | None], int],
) -> Instr:
    """A step's compiled form, from its row in ``steps.py``: each arg's value goes into the
    Instr field the row names, as an id (a lock, completion or pool), a handle slot, or as is.
    """
    ids = {"lock": locks, "completion": comps, "pool": pools}
    fields: dict[str, Any] = {}
    for arg in STEP_KINDS[step.op].args:
        value = getattr(step, arg.step)
        if arg.instr is None or arg.instr in fields or value is None:
            continue  # not compiled, written by another form's arg, or absent
        if arg.names == "handle" or arg.names == "binds":
            fields[arg.instr] = slot(value)
        elif arg.names is not None:
            fields[arg.instr] = ids[arg.names][value]
        else:
            fields[arg.instr] = value
    return Instr(step.op, step=step, **fields)
