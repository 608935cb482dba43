"""Compile a task's step tree into a flat program the model can index with a pc.

``repeat: {times: N}`` is unrolled (the loader bounds the result; a handle
name with ``{i}`` gets the pass number), and ``repeat: {forever: true}``
becomes its body followed by a jump back, so a task's position is one small
int and a state stays a plain value. Revision 2's control flow is jumps too:

- ``loop``: its body, then a jump back to its start; ``break`` jumps past
  that back jump, ``continue`` to the start. A back jump carries ``leave``,
  the loop's exit, where a killed task goes instead (it leaves loops as it
  leaves a forever loop, docs/model.md);
- ``if``: an ``IF`` instruction (a move of its own: a branch is a choice a
  schedule names) whose ``orelse`` is the pc of the else arm, the then arm,
  a jump over the else arm, the else arm;
- a step's ``on_fail`` is its ``fail`` field: ``NO_FAIL`` (version 1: go on),
  ``UNWIND``, its own pc (``retry``), or the pc of its list, compiled right
  after the step behind a jump that the success path takes;
- ``call: NAME`` is the function's body, inlined.

Names become small integer ids here; the model never looks a name up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from mempool_cli.scenario.spec import (
    Break,
    Call,
    Continue,
    If,
    Loop,
    Repeat,
    Scenario,
    Span,
    Step,
    StepNode,
)
from mempool_cli.scenario.steps import STEP_KINDS, Names

__all__ = [
    "COMPLETION_OPS",
    "COUNTER_OPS",
    "IF",
    "JUMP",
    "LOCK_OPS",
    "NO_FAIL",
    "QUEUE_OPS",
    "UNWIND",
    "Instr",
    "Program",
    "compile_program",
]

JUMP = "jump"
IF = "if"
NO_FAIL = -1  # a step without on_fail: a failure goes on as in version 1
UNWIND = -2  # on_fail: unwind


def _arg_names(what: Names) -> frozenset[str]:
    return frozenset(
        kind.name
        for kind in STEP_KINDS.values()
        if any(arg.names == what and arg.instr == "arg" for arg in kind.args)
    )


# Steps whose ``Instr.arg`` is a lock id, and those whose ``arg`` is a completion id.
LOCK_OPS = _arg_names("lock")
COMPLETION_OPS = _arg_names("completion")
COUNTER_OPS = _arg_names("counter")  # revision 2: arg is a counter id
QUEUE_OPS = _arg_names("queue")  # revision 2: arg is a queue id (enqueue, dequeue)


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
    fail: int = NO_FAIL  # on_fail: NO_FAIL, UNWIND, or the pc to go to (its own: retry)
    leave: int = -1  # a loop's back jump: where a killed task goes instead (the exit)
    # IF: the condition kind (null, not_null, held, or a counter's eq/ne/lt/ge); arg is its
    # slot / lock / counter. wait_event*: the comparison (eq, ne, lt, ge)
    cond: str = ""
    value: int = 0  # atomic_set's value; a counter comparison's N
    orelse: int = -1  # IF: the pc of the else arm (or past the then arm)
    slot: int = -1  # enqueue: the handle slot handed over, or -1 for a work item
    nowait: bool = False  # dequeue: fail on an empty queue instead of sleeping
    span_of: Span | None = None  # a control instruction's source position

    @property
    def span(self) -> Span:
        if self.step is not None:
            return self.step.span
        return self.span_of if self.span_of is not None else Span(0, 0)


@dataclass(frozen=True, slots=True)
class Program:
    instrs: tuple[Instr, ...]
    handles: tuple[str, ...]  # slot -> handle name
    # pcs where a task that moves without sleeping goes round (inside a `loop`, or a step
    # with on_fail: retry): such a task is spinning (contract, "Failure and control flow")
    spin_pcs: frozenset[int] = frozenset()
    unwinds: bool = False  # some step has on_fail: unwind (the task tracks what it takes)


def compile_program(scenario: Scenario, steps: tuple[StepNode, ...]) -> Program:
    """Flatten ``steps`` with ids resolved against ``scenario``."""
    locks = {lock.name: i for i, lock in enumerate(scenario.locks)}
    comps = {c.name: i for i, c in enumerate(scenario.completions)}
    pools = {p.name: i for i, p in enumerate(scenario.pools)}
    counters = {c.name: i for i, c in enumerate(scenario.counters)}
    queues = {q.name: i for i, q in enumerate(scenario.queues)}
    functions = {f.name: f.body for f in scenario.functions}
    handles: dict[str, int] = {}
    out: list[Instr] = []
    passes: list[int] = []  # the pass number of each enclosing repeat: {i} is the last
    loops: list[tuple[int, list[int]]] = []  # (start, pcs of jumps to patch with its exit)
    spin: set[int] = set()

    def slot(name: str | None) -> int:
        if name is None:
            return -1
        if passes and "{i}" in name:
            name = name.replace("{i}", str(passes[-1]))
        return handles.setdefault(name, len(handles))

    def emit(node: StepNode) -> None:
        if isinstance(node, Repeat):
            if node.times is None:
                start = len(out)
                for child in node.body:
                    emit(child)
                out.append(Instr(JUMP, arg=start, leave=len(out) + 1))
            else:
                for i in range(node.times):
                    passes.append(i)
                    for child in node.body:
                        emit(child)
                    passes.pop()
            return
        if isinstance(node, Loop):
            start = len(out)
            loops.append((start, []))
            for child in node.body:
                emit(child)
            out.append(Instr(JUMP, arg=start, span_of=node.span))  # the back jump
            _, jumps = loops.pop()
            end = len(out)
            spin.update(range(start, end))
            for pc in (*jumps, end - 1):
                if out[pc].arg == start:  # continue, or the back jump: a killed task leaves
                    out[pc] = replace(out[pc], leave=end)
                else:  # break
                    out[pc] = replace(out[pc], arg=end)
            return
        if isinstance(node, Break | Continue):
            start, jumps = loops[-1]
            jumps.append(len(out))
            # a break's target is patched to the exit; a continue jumps back (leave: exit)
            out.append(
                Instr(JUMP, arg=start if isinstance(node, Continue) else -1, span_of=node.span)
            )
            return
        if isinstance(node, If):
            cond = node.cond
            at = len(out)
            if cond.kind == "counter":
                out.append(
                    Instr(
                        IF,
                        arg=counters[cond.target],
                        cond=cond.cmp,
                        value=cond.value,
                        span_of=node.span,
                    )
                )
            else:
                target = locks[cond.target] if cond.kind == "held" else slot(cond.target)
                out.append(Instr(IF, arg=target, cond=cond.kind, span_of=node.span))
            for child in node.then:
                emit(child)
            skip = len(out)
            if node.orelse:
                out.append(Instr(JUMP, arg=-1, span_of=node.span))
            out[at] = replace(out[at], orelse=len(out))
            for child in node.orelse:
                emit(child)
            if node.orelse:
                out[skip] = replace(out[skip], arg=len(out))
            return
        if isinstance(node, Call):
            for child in functions[node.function]:
                emit(child)
            return
        at = len(out)
        ins = _instr(
            node,
            {
                "lock": locks,
                "completion": comps,
                "pool": pools,
                "counter": counters,
                "queue": queues,
            },
            slot,
        )
        on_fail = node.on_fail
        if on_fail == "retry":
            out.append(replace(ins, fail=at))
            spin.add(at)
        elif on_fail == "unwind":
            out.append(replace(ins, fail=UNWIND))
        elif isinstance(on_fail, tuple) and on_fail:
            out.append(replace(ins, fail=at + 2))
            out.append(Instr(JUMP, arg=-1, span_of=node.span))
            for child in on_fail:
                emit(child)
            out[at + 1] = replace(out[at + 1], arg=len(out))
        else:
            out.append(ins)

    for node in steps:
        emit(node)
    return Program(
        tuple(out),
        tuple(sorted(handles, key=handles.__getitem__)),
        frozenset(spin),
        any(ins.fail == UNWIND for ins in out),
    )


def _instr(
    step: Step,
    ids: dict[str, dict[str, int]],
    slot: Callable[[str | None], int],
) -> Instr:
    """A step's compiled form, from its row in ``steps.py``: each arg's value goes into the
    Instr field the row names, as an id (a lock, completion or pool), a handle slot, or as is.
    """
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
    if step.cmp is not None:
        fields["cond"] = step.cmp  # wait_event*: the comparison its value is for
    return Instr(step.op, step=step, **fields)
