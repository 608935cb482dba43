"""Build spec objects for kernel-rule tests without going through YAML.

Steps are written as (op, arg) pairs or (op, {fields}) so a test reads
like the scenario it stands for.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

from mempool_cli.kernel.model import KernelModel, State
from mempool_cli.scenario.gfp import parse_gfp
from mempool_cli.scenario.kernels import PRESETS
from mempool_cli.scenario.spec import (
    Break,
    Completion,
    Cond,
    Continue,
    If,
    Lock,
    Loop,
    Memory,
    Pool,
    Reclaimable,
    Repeat,
    Scenario,
    Step,
    StepNode,
    Task,
)


def steps_of(items: Any) -> tuple[StepNode, ...]:
    return tuple(step(*s) for s in items)


def step(op: str, arg: Any = None) -> StepNode:
    """A spec node from ``(op, arg)``; revision 2's forms too: ``("loop", {"steps": [...]})``,
    ``("break", None)``, ``("if", {"null": h, "then": [...], "else": [...]})`` and an
    ``on_fail`` key (a word or a list of ``(op, arg)``) in a step's mapping."""
    if op == "repeat":
        return Repeat(arg.get("times"), steps_of(arg["steps"]))
    if op == "loop":
        return Loop(steps_of(arg["steps"]))
    if op == "break":
        return Break()
    if op == "continue":
        return Continue()
    if op == "if":
        (kind,) = [k for k in ("null", "not_null", "held") if k in arg]
        return If(Cond(kind, arg[kind]), steps_of(arg["then"]), steps_of(arg.get("else", ())))
    if isinstance(arg, dict):
        gfp = arg.get("gfp")
        target = arg.get("pool", arg.get("handle", arg.get("lock", arg.get("completion"))))
        on_fail = arg.get("on_fail")
        return Step(
            op,
            target=target,
            gfp=parse_gfp(gfp) if gfp else None,
            gfp_text=gfp,
            order=arg.get("order", 0),
            bind=arg.get("as"),
            pool=arg.get("to_pool"),
            on_fail=on_fail if on_fail is None or isinstance(on_fail, str) else steps_of(on_fail),
        )
    return Step(op, target=arg)


def task(name: str, *steps: tuple[str, Any], **traits: Any) -> Task:
    flags = frozenset(traits.pop("flags", ()))
    return Task(name, name, None, tuple(step(*s) for s in steps), flags=flags, **traits)


def scenario(
    *tasks: Task,
    free: int = 16,
    min: int = 4,
    low: int | None = None,
    high: int | None = None,
    pools: dict[str, int] | None = None,
    locks: dict[str, str] | None = None,
    completions: dict[str, int] | None = None,
    reclaimable: list[dict[str, Any]] | None = None,
    kernel: str = "latest",
    killer: bool = True,
) -> Scenario:
    from mempool_cli.scenario.spec import Oom

    entries = tuple(
        Reclaimable(
            pages=e["pages"],
            needs=parse_gfp(" | ".join(e["needs"])) if e.get("needs") else 0,
            locks=tuple(e.get("locks", ())),
            waits=e.get("waits"),
            trylocks=tuple(e.get("trylocks", ())),
            name=e.get("name"),
        )
        for e in reclaimable or []
    )
    return Scenario(
        path="test.yaml",
        name="test",
        kernel=PRESETS[kernel],
        memory=Memory(
            free=free,
            min=min,
            low=low if low is not None else min + min // 4,
            high=high if high is not None else min + min // 2,
            reclaimable=entries,
        ),
        tasks=tasks,
        oom=Oom(killer=killer),
        pools=tuple(Pool(n, v) for n, v in (pools or {}).items()),
        locks=tuple(Lock(n, k) for n, k in (locks or {}).items()),
        completions=tuple(Completion(n, v) for n, v in (completions or {}).items()),
    )


def model(sc: Scenario, kernel: str | None = None) -> KernelModel:
    return KernelModel(sc, PRESETS[kernel] if kernel else None)


def moves(m: KernelModel, s: State, t: int) -> list[State]:
    """Successor states reached by task ``t``'s enabled moves, in order."""
    return [n for (actor, _), n, _ in m.successors(s) if actor == t]


def only(m: KernelModel, s: State, t: int) -> State:
    """The single successor of task ``t``; fails the test if there is not exactly one."""
    out = moves(m, s, t)
    assert len(out) == 1, f"expected one move of task {t}, got {len(out)}"
    return out[0]


def run_task(m: KernelModel, s: State, t: int, limit: int = 200) -> State:
    """Step task ``t`` alone until it has exited, blocks, or ``limit`` steps pass."""
    for _ in range(limit):
        nxt = moves(m, s, t)
        if not nxt:
            return s
        s = nxt[0]
        if m.halted(s):
            return s
    return s


def handle(m: KernelModel, s: State, t: int, name: str) -> Any:
    return m.handle_value(s, t, m.info[t].program.handles.index(name))


# Examples per property test of the reductions; `MPSIM_PROPERTY_EXAMPLES` raises it.
PROPERTY_EXAMPLES = int(os.environ.get("MPSIM_PROPERTY_EXAMPLES", "40"))


def model_property(examples: int = PROPERTY_EXAMPLES) -> settings:
    """Hypothesis settings for a property over whole searches: reproducible, no deadline."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def outcomes(model: KernelModel) -> frozenset[str]:
    """The outcome set of a complete search of ``model``."""
    from mempool_cli.explore import explore

    result = explore(model, max_states=60_000)
    assert result.complete
    return frozenset(f.outcome for f in result.findings)
