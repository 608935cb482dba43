"""Tests of mempool_cli.scenario.steps: the one table of step kinds, and every reader of it.

Each test builds its scenarios from the rows themselves, so a new kind is
covered the day its row is written: the loader accepts each of its forms
and fills the Step attributes the row names, the compiler puts each value
in the Instr field the row names, the JSON Schema knows it, a lock step
refuses the lock kinds its row does not list, and a killed task unwinds it
as the contract's fatal-signal rule says for its role.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml

from mempool_cli.errors import ScenarioError
from mempool_cli.kernel.model import KernelModel
from mempool_cli.kernel.program import COMPLETION_OPS, LOCK_OPS, Instr, compile_program
from mempool_cli.scenario import schema
from mempool_cli.scenario.descriptors import Bool, Gfp, Int
from mempool_cli.scenario.gfp import parse_gfp
from mempool_cli.scenario.loader import load_text
from mempool_cli.scenario.spec import Step
from mempool_cli.scenario.steps import (
    ACQUIRES,
    ALWAYS,
    COMPLETE_OPS,
    RELEASES,
    SCOPE_OPENER,
    STEP_KINDS,
    Arg,
    StepKind,
)

KINDS = list(STEP_KINDS.values())
IDS = [k.name for k in KINDS]

# Every resource is declared second, after a decoy, so that a wrong id (0) or an unset
# field (-1) cannot pass for the right one.
LOCKS = {
    "M0": "mutex",
    "S0": "spinlock",
    "M": "mutex",
    "S": "spinlock",
    "W0": "rwsem",
    "W": "rwsem",
}
LOCK_OF_KIND = {"mutex": "M", "spinlock": "S", "rwsem": "W"}
LOCK_ID = {"M": 2, "S": 3, "W": 5}
HEADER: dict[str, Any] = {
    "locks": LOCKS,
    "completions": {"C0": 0, "C": 0},
    "pools": {"P0": {"min_nr": 1}, "P": {"min_nr": 1}},
    "counters": {"N0": 0, "N": 1},  # N at 1: atomic_dec of it is no violation
    "queues": {"Q0": {}, "Q": {}},  # revision 2
}
COMPLETION_ID = POOL_ID = COUNTER_ID = QUEUE_ID = 1
COUNTER_VALUE = 3  # a value or comparison within the counter's default max
GFP = "GFP_KERNEL"

# The contract's steps table (scenario-format.md, "steps"), in its order, without `repeat`.
CONTRACT_STEPS = (
    "alloc_pages",
    "free_pages",
    "mempool_alloc",
    "mempool_free",
    "mutex_lock",
    "mutex_lock_killable",
    "mutex_unlock",
    "spin_lock",
    "spin_unlock",
    "wait_for_completion",
    "wait_for_completion_killable",
    "complete",
    "complete_all",
    "memalloc_noio_save",
    "memalloc_noio_restore",
    "memalloc_nofs_save",
    "memalloc_nofs_restore",
    "memalloc_noreclaim_save",
    "memalloc_noreclaim_restore",
    # revision 2, "Locks beyond mutexes": the trylocks of the existing lock kinds
    "mutex_trylock",
    "spin_trylock",
    # revision 2, "Locks beyond mutexes": the rwsem
    "down_read",
    "down_write",
    "up_read",
    "up_write",
    "down_read_killable",
    "down_write_killable",
    "down_read_trylock",
    "down_write_trylock",
    "downgrade_write",
    # revision 2, "State a condition waits on"
    "atomic_inc",
    "atomic_dec",
    "atomic_set",
    "wait_event",
    "wait_event_killable",
    "wait_event_timeout",
    "wait_for_completion_timeout",
    # revision 2, "Work handed to another context"
    "enqueue",
    "dequeue",
    # revision 2, "Interrupts on the CPU they interrupt": the interrupt-disabling pairs
    "local_irq_disable",
    "local_irq_enable",
    "local_irq_save",
    "local_irq_restore",
    "spin_lock_irq",
    "spin_unlock_irq",
    "spin_lock_irqsave",
    "spin_unlock_irqrestore",
    "local_bh_disable",
    "local_bh_enable",
    "spin_lock_bh",
    "spin_unlock_bh",
)
# Revision 2, "Failure and control flow": the steps that take `on_fail`, and of those the
# ones whose failure the file must handle.
CONTRACT_FAILING = {
    "alloc_pages",
    "mempool_alloc",
    "mutex_trylock",
    "spin_trylock",
    "mutex_lock_killable",
    "wait_for_completion_killable",
    "down_read_killable",
    "down_write_killable",
    "down_read_trylock",
    "down_write_trylock",
    "wait_event_killable",
    "wait_event_timeout",
    "wait_for_completion_timeout",
    "dequeue",  # revision 2, queues: "dequeue with nowait: true — the queue is empty"
}
CONTRACT_MUST_HANDLE = {"mutex_trylock", "spin_trylock", "down_read_trylock", "down_write_trylock"}


# --- building scenarios from a row ---------------------------------------------


def value_for(kind: StepKind, arg: Arg) -> Any:
    """A valid value for ``arg``, distinct from its default."""
    if arg.names == "lock":
        return LOCK_OF_KIND[kind.lock_kinds[0]]
    if arg.names in ("completion", "pool", "counter", "queue"):
        return {"completion": "C", "pool": "P", "counter": "N", "queue": "Q"}[arg.names]
    if arg.step == "value":  # atomic_set's value, a wait_event's comparison
        return COUNTER_VALUE
    if arg.names == "handle":
        return "h"
    if arg.names == "binds":
        return "b"
    if isinstance(arg.type, Gfp):
        return GFP
    if isinstance(arg.type, Int):
        return arg.type.hi
    if isinstance(arg.type, Bool):  # dequeue's nowait (its default is false)
        return True
    if arg.key == "on_fail":
        return "unwind"
    raise AssertionError(f"no test value for {kind.name}.{arg.key}")


def forms(kind: StepKind) -> list[tuple[str, Any, tuple[Arg, ...]]]:
    """(form id, YAML value, the args it gives) for every form the row allows."""
    whole = tuple(a for a in kind.args if a.key is None)
    keyed = tuple(a for a in kind.args if a.key is not None)
    compares = [a for a in keyed if a.compares]  # exactly one comparison is given: the first
    keyed = tuple(a for a in keyed if not a.compares or a is compares[0])
    out: list[tuple[str, Any, tuple[Arg, ...]]] = []
    if not kind.args:
        out.append(("no value", None, ()))
    if whole and not kind.must_handle:  # a trylock's name form lacks on_fail: an error
        out.append(("name", value_for(kind, whole[0]), whole))
    if keyed:
        out.append(("mapping", {a.key: value_for(kind, a) for a in keyed}, keyed))
        required = tuple(
            a
            for a in keyed
            if a.required or a.compares or (kind.must_handle and a.key == "on_fail")
        )
        if required != keyed:
            out.append(("required keys", {a.key: value_for(kind, a) for a in required}, required))
    return out


def closer(scope: str) -> str:
    return next(k.name for k in KINDS if k.scope == scope and k.role == RELEASES)


def around(kind: StepKind, args: tuple[Arg, ...]) -> tuple[list[Any], list[Any]]:
    """The steps a valid task needs before and after one ``kind`` step."""
    before: list[Any] = []
    after: list[Any] = []
    if any(a.names == "handle" for a in args):
        before.append({"alloc_pages": {"gfp": GFP, "as": "h"}})
    if kind.scope is not None and kind.role == RELEASES:
        before.append(bare(STEP_KINDS[SCOPE_OPENER[kind.scope]]))
    if kind.scope is not None and kind.role == ACQUIRES:
        after.append(bare(STEP_KINDS[closer(kind.scope)]))
    return before, after


def bare(kind: StepKind) -> dict[str, Any]:
    """The other half of a scope or interrupt-disabling pair, as a step (with its lock)."""
    return {kind.name: value_for(kind, kind.args[0]) if kind.args else None}


def text_of(steps: list[Any], **task: Any) -> str:
    data = {**HEADER, "tasks": {"t": {**task, "steps": steps}}}
    return yaml.safe_dump(json.loads(json.dumps(data)), sort_keys=False)  # no YAML aliases


CASES = [
    pytest.param(kind, value, args, id=f"{kind.name}-{form}")
    for kind in KINDS
    for form, value, args in forms(kind)
]


# --- the table ---------------------------------------------------------------------


def test_the_table_is_the_contracts_steps_table() -> None:
    assert tuple(STEP_KINDS) == CONTRACT_STEPS


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_rows_are_well_formed(kind: StepKind) -> None:
    assert kind.doc and kind.role in (ACQUIRES, RELEASES, ALWAYS)
    assert len([a for a in kind.args if a.key is None]) <= 1  # one name form at most
    keys = [a.key for a in kind.args if a.key is not None]
    assert len(keys) == len(set(keys))
    for arg in kind.args:
        assert arg.step in Step.__dataclass_fields__
        assert arg.instr is None or arg.instr in Instr.__dataclass_fields__
    names_lock = any(a.names == "lock" for a in kind.args)
    assert bool(kind.lock_kinds) == names_lock
    assert set(kind.lock_kinds) <= set(schema.LOCK_KINDS)
    if names_lock:  # every other lock kind has a step to suggest instead
        assert {lk for lk, _ in kind.instead} == set(schema.LOCK_KINDS) - set(kind.lock_kinds)
    if kind.scope is not None:  # a pair; only an interrupt-disabling one may name a lock
        assert kind.role in (ACQUIRES, RELEASES) and (not kind.args or kind.irq is not None)
        assert SCOPE_OPENER[kind.scope] in STEP_KINDS and closer(kind.scope) in STEP_KINDS


def contract_role(name: str) -> str:
    """The contract's fatal-signal rule, from the step's name: "it skips every remaining
    acquiring step (`*_lock*`, `*alloc*`, `wait_*`, `*_save`) and runs only the releasing
    steps that release something it holds (`*_unlock`, `*free*`, `*_restore`) and every
    `complete*` step"."""
    if name.startswith("complete"):
        return ALWAYS
    if name.startswith("atomic_"):  # revision 2: atomic_inc/dec/set always run
        return ALWAYS
    # revision 2, queues: the contract names neither; a dequeue takes something (an item,
    # which may be a handle), an enqueue hands a handle over (docs/model.md, "Queues")
    if name == "dequeue":
        return ACQUIRES
    if name == "enqueue":
        return RELEASES
    # revision 2, the interrupt-disabling pairs, which the rule does not name: the half that
    # turns interrupts off acquires (like `*_save`), the half that turns them on releases
    # (like `*_restore`); `spin_unlock_irq`, `spin_unlock_bh` release their lock
    if name.startswith("spin_unlock_") or name.endswith("_enable"):
        return RELEASES
    if name.endswith("_disable"):
        return ACQUIRES
    if name.endswith("_unlock") or "free" in name or name.endswith("_restore"):
        return RELEASES
    if name.endswith("_trylock"):  # revision 2: "every `*_trylock` is acquiring"
        return ACQUIRES
    # revision 2, the rwsem: down_* take it, up_* release it; downgrade_write gives up
    # the write hold (docs/model.md, "rwsem"), so it is releasing
    if name.startswith("down_"):
        return ACQUIRES
    if name.startswith("up_") or name == "downgrade_write":
        return RELEASES
    if "_lock" in name or "alloc" in name or name.startswith("wait_") or name.endswith("_save"):
        return ACQUIRES
    raise AssertionError(f"the contract's rule does not name {name}")


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_the_unwinding_role_is_the_contracts_rule(kind: StepKind) -> None:
    assert kind.role == contract_role(kind.name)


# The contract's steps table: `mutex_*` steps take a mutex, `spin_*` steps a spinlock.
LOCK_KIND_OF_PREFIX = {"mutex": "mutex", "spin": "spinlock", "down": "rwsem", "up": "rwsem"}


@pytest.mark.parametrize(
    "kind", [k for k in KINDS if any(a.names == "lock" for a in k.args)], ids=lambda k: k.name
)
def test_a_lock_step_takes_the_lock_kind_its_name_says(kind: StepKind) -> None:
    prefix = "down" if kind.name == "downgrade_write" else kind.name.split("_")[0]
    assert kind.lock_kinds == (LOCK_KIND_OF_PREFIX[prefix],)


def test_the_failing_steps_are_the_contracts() -> None:
    assert {k.name for k in KINDS if k.can_fail} == CONTRACT_FAILING
    assert {k.name for k in KINDS if k.must_handle} == CONTRACT_MUST_HANDLE
    for kind in KINDS:
        assert any(a.key == "on_fail" for a in kind.args) == kind.can_fail


@pytest.mark.parametrize("name", sorted(CONTRACT_MUST_HANDLE))
def test_a_trylock_without_on_fail_is_an_error(name: str) -> None:
    lock = LOCK_OF_KIND[STEP_KINDS[name].lock_kinds[0]]
    for value in (lock, {"lock": lock}):
        with pytest.raises(ScenarioError) as info:
            load_text(text_of([{name: value}]), "t.yaml")
        (problem,) = info.value.problems
        assert problem.message.startswith(f"{name} without 'on_fail'")


def test_derived_views() -> None:
    assert {"complete", "complete_all"} == COMPLETE_OPS
    assert {
        "mutex_lock",
        "mutex_lock_killable",
        "mutex_unlock",
        "spin_lock",
        "spin_unlock",
        "mutex_trylock",
        "spin_trylock",
        *(k.name for k in KINDS if k.lock_kinds == ("rwsem",)),
        "spin_lock_irq",
        "spin_unlock_irq",
        "spin_lock_irqsave",
        "spin_unlock_irqrestore",
        "spin_lock_bh",
        "spin_unlock_bh",
    } == LOCK_OPS
    completions = {
        "wait_for_completion",
        "wait_for_completion_killable",
        "wait_for_completion_timeout",
        *COMPLETE_OPS,
    }
    assert completions == COMPLETION_OPS
    assert SCOPE_OPENER == {
        "noio": "memalloc_noio_save",
        "nofs": "memalloc_nofs_save",
        "noreclaim": "memalloc_noreclaim_save",
        "irq": "local_irq_disable",
        "irq_save": "local_irq_save",
        "irq_lock": "spin_lock_irq",
        "irqsave_lock": "spin_lock_irqsave",
        "bh": "local_bh_disable",
        "bh_lock": "spin_lock_bh",
    }


# --- the loader and the compiler read it -----------------------------------------


@pytest.mark.parametrize(("kind", "value", "args"), CASES)
def test_the_loader_accepts_every_form_and_fills_what_the_row_names(
    kind: StepKind, value: Any, args: tuple[Arg, ...]
) -> None:
    before, after = around(kind, args)
    scenario = load_text(text_of([*before, {kind.name: value}, *after]), "t.yaml")
    step = scenario.tasks[0].steps[len(before)]
    assert isinstance(step, Step) and step.op == kind.name
    for arg in args:
        if isinstance(arg.type, Gfp):
            assert (step.gfp, step.gfp_text) == (parse_gfp(GFP), GFP)
        else:
            assert getattr(step, arg.step) == value_for(kind, arg)
    for arg in set(kind.args) - set(args):  # the keys left out take their defaults
        if all(a.step != arg.step for a in args):
            assert getattr(step, arg.step) == arg.default


@pytest.mark.parametrize(("kind", "value", "args"), CASES)
def test_the_compiler_puts_each_value_where_the_row_says(
    kind: StepKind, value: Any, args: tuple[Arg, ...]
) -> None:
    before, after = around(kind, args)
    scenario = load_text(text_of([*before, {kind.name: value}, *after]), "t.yaml")
    program = compile_program(scenario, scenario.tasks[0].steps)
    ins = program.instrs[len(before)]
    expected: dict[str, Any] = {}
    for arg in args:
        if arg.instr is None:
            continue
        if arg.names == "lock":
            expected[arg.instr] = LOCK_ID[value_for(kind, arg)]
        elif arg.names in ("completion", "pool", "counter", "queue"):
            expected[arg.instr] = COMPLETION_ID if arg.names == "completion" else POOL_ID
        elif arg.names in ("handle", "binds"):
            expected[arg.instr] = program.handles.index(value_for(kind, arg))
        elif isinstance(arg.type, Gfp):
            expected[arg.instr] = parse_gfp(GFP)
        else:
            expected[arg.instr] = value_for(kind, arg)
    blank = Instr(kind.name)
    for name in ("arg", "pool", "gfp", "order", "bind", "value", "slot", "nowait"):
        assert getattr(ins, name) == expected.get(name, getattr(blank, name)), name


# What the kernel model reads of each v1 step's Instr (kernel/model.py); pinned here so
# that a row sending a value to the wrong field fails even though the tests above follow it.
COMPILED_FIELDS = {
    "alloc_pages": {"gfp", "order", "bind"},
    "free_pages": {"arg"},
    "mempool_alloc": {"pool", "gfp", "bind"},
    "mempool_free": {"arg", "pool"},
    **{k.name: set() for k in KINDS if k.scope is not None},
    **{name: {"arg"} for name in LOCK_OPS | COMPLETION_OPS},
    "atomic_inc": {"arg"},
    "atomic_dec": {"arg"},
    "atomic_set": {"arg", "value"},
    **{
        name: {"arg", "value"}
        for name in ("wait_event", "wait_event_killable", "wait_event_timeout")
    },
    # revision 2, queues: the queue id, the handle handed over / bound, nowait
    "enqueue": {"arg", "slot"},
    "dequeue": {"arg", "bind", "nowait"},
}


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_the_compiled_fields_are_the_ones_the_kernel_reads(kind: StepKind) -> None:
    assert {a.instr for a in kind.args if a.instr is not None} == COMPILED_FIELDS[kind.name]


@pytest.mark.parametrize(
    "kind", [k for k in KINDS if any(a.names == "lock" for a in k.args)], ids=lambda k: k.name
)
@pytest.mark.parametrize("lock_kind", schema.LOCK_KINDS)
def test_a_lock_step_refuses_the_lock_kinds_its_row_does_not_list(
    kind: StepKind, lock_kind: str
) -> None:
    value: Any = {"lock": "L", "on_fail": "retry"} if kind.must_handle else "L"
    steps: list[Any] = [{kind.name: value}]
    if kind.scope is not None:  # an interrupt-disabling pair: its other half, on the lock
        other = SCOPE_OPENER[kind.scope] if kind.role == RELEASES else closer(kind.scope)
        steps.insert(0 if kind.role == RELEASES else 1, {other: "L"})
    text = yaml.safe_dump({"locks": {"L": lock_kind}, "tasks": {"t": {"steps": steps}}})
    if lock_kind in kind.lock_kinds:
        load_text(text, "t.yaml")
        return
    with pytest.raises(ScenarioError) as info:
        load_text(text, "t.yaml")
    use = dict(kind.instead)[lock_kind]
    messages = [p.message for p in info.value.problems]
    assert f"{kind.name} on 'L', which is a {lock_kind} (use {use})" in messages
    assert len(messages) == 1 + (kind.scope is not None)  # and its other half's, for a pair
    suggested = STEP_KINDS[use]  # the hint names a step that takes this lock, the same way
    assert lock_kind in suggested.lock_kinds and suggested.role == kind.role


# --- the schema reads it -----------------------------------------------------------


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema.json_schema())


def test_every_kind_is_in_the_schema_with_its_description() -> None:
    step = schema.json_schema()["$defs"]["step"]  # one object, a property per step kind
    described = {name: prop["description"] for name, prop in step["properties"].items()}
    assert {k.name: k.doc for k in KINDS}.items() <= described.items()


@pytest.mark.parametrize(("kind", "value", "args"), CASES)
def test_every_form_passes_the_schema_and_a_stray_key_fails_both(
    validator: jsonschema.Draft202012Validator, kind: StepKind, value: Any, args: tuple[Arg, ...]
) -> None:
    before, after = around(kind, args)
    steps = [*before, {kind.name: value}, *after]
    validator.validate({**HEADER, "tasks": {"t": {"steps": steps}}})
    stray = {**value, "bogus": 1} if isinstance(value, dict) else {"bogus": 1}
    bad = [*before, {kind.name: stray}, *after]
    assert not validator.is_valid({**HEADER, "tasks": {"t": {"steps": bad}}})
    with pytest.raises(ScenarioError):
        load_text(text_of(bad), "t.yaml")


# --- unwinding reads it ------------------------------------------------------------


def started(steps: list[Any]) -> set[int]:
    """The pcs a killed task (``oom_victim: true``, alone) starts, running until it exits."""
    scenario = load_text(text_of(steps, oom_victim=True), "t.yaml")
    m = KernelModel(scenario)
    s = m.initial()
    seen = {m.task_view(s, 0).pc}
    for _ in range(200):
        nxt = [n for (actor, _), n, _ in m.successors(s) if actor == 0]
        if not nxt:
            break
        s = nxt[0]
        seen.add(m.task_view(s, 0).pc)
    assert m.task_view(s, 0).exited
    return seen


# A first step that holds what a releasing step releases (the first step of a killed
# task is in progress at start, so it runs).
def holder(kind: StepKind) -> Any:
    if kind.scope is not None:
        return bare(STEP_KINDS[SCOPE_OPENER[kind.scope]])
    if kind.names == "lock":
        lock = LOCK_OF_KIND[kind.lock_kinds[0]]
        take = next(
            k.name
            for k in KINDS
            if k.role == ACQUIRES and k.names == "lock" and kind.lock_kinds[0] in k.lock_kinds
        )
        # the write hold for what releases one
        take = "down_write" if kind.name in ("up_write", "downgrade_write") else take
        return {take: lock}
    binds = {
        "free_pages": "alloc_pages",
        "mempool_free": "mempool_alloc",
        "enqueue": "alloc_pages",
    }[kind.name]
    return {binds: {"gfp": GFP, "as": "h", **({"pool": "P"} if binds == "mempool_alloc" else {})}}


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_a_killed_task_unwinds_each_kind_by_its_role(kind: StepKind) -> None:
    (_, value, args), *_ = forms(kind)
    step = {kind.name: value}
    if kind.role in (ACQUIRES, ALWAYS):
        _, after = around(kind, args)
        ran = 1 in started([{"complete": "C0"}, step, *after])
        assert ran == (kind.role == ALWAYS)
        return
    # A releasing step runs when it releases something held ...
    tail = [{"up_read": "W"}] if kind.name == "downgrade_write" else []
    assert 1 in started([holder(kind), step, *tail])
    # ... and is skipped when it would release nothing.
    if kind.scope is not None:  # a closed scope: its save was skipped
        opener = bare(STEP_KINDS[SCOPE_OPENER[kind.scope]])
        assert started([{"complete": "C0"}, opener, step]) == {0, 3}
    elif kind.name == "downgrade_write":  # the read hold it leaves is released after
        assert 2 not in started([holder(kind), step, step, {"up_read": "W"}])
    elif kind.name == "enqueue":  # a freed handle (the loader refuses a second enqueue)
        assert 2 not in started([holder(kind), {"free_pages": "h"}, step])
        # ... and a work item, which holds nothing, is always handed over
        assert 1 in started([{"complete": "C0"}, {"enqueue": {"queue": "Q"}}])
    else:  # a lock not held, a handle freed already
        assert 2 not in started([holder(kind), step, step])
