"""``mpsim shrink``: the smallest scenario that still shows an outcome.

Hypothesis-style delta debugging over the scenario document (the YAML as
plain data, scenario/document.py): delete something, write the candidate
out, load it with the normal loader (a candidate the loader refuses is just
skipped) and search it with a state limit; keep it when the outcome is
still found. Greedy, to a fixpoint: after each kept candidate the passes
start again on the smaller scenario. In order, the passes try

1. removing a task;
2. removing a declared name (a lock, completion, counter, queue, pool,
   function) or a reclaimable entry;
3. removing steps from each step list (a task's, a function's, a
   ``repeat``/``loop`` body, an ``if`` arm, an ``on_fail`` list): halves,
   quarters, ... single steps, then pairs of steps that name the same
   thing (a lock and its unlock, an allocation and its free, a scope's
   save and restore), then a block replaced by its body (``repeat``,
   ``loop``, an ``if`` arm) and an ``on_fail`` dropped;
4. lowering numbers: ``count``, ``rss``, ``memory.free`` / ``min`` / ``low``
   / ``high``, a pool's ``min_nr`` and ``order``, a reclaimable entry's
   ``pages``, ``repeat.times``, an allocation's ``order``, a queue's
   ``capacity``, a counter's or completion's ``initial`` and ``max``: to 0,
   1, half, or one less, smallest first.

The outcome kept is the one asked for (default: the first finding's under
the kernel), and for a ``violation`` the same violation. The loop stops at
``max_seconds`` (a deadline checked before each candidate, each
candidate's search bounded by the time left), so a run cut short still
returns the smallest still-failing scenario found so far.
"""

from __future__ import annotations

import copy
import math
import re
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mempool_cli.analysis.waitfor import waitfor_graph
from mempool_cli.errors import Incomplete, ScenarioError, UsageError
from mempool_cli.explore import explore
from mempool_cli.kernel.model import KernelModel
from mempool_cli.report import HANG_OUTCOMES, sort_outcomes
from mempool_cli.scenario.document import modeline, read_document, write_document
from mempool_cli.scenario.kernels import Kernel
from mempool_cli.scenario.loader import load_text
from mempool_cli.scenario.spec import Scenario
from mempool_cli.verdict import kernels_for

__all__ = ["CANDIDATE_STATES", "Shrunk", "scenario_size", "shrink"]

CANDIDATE_STATES = 200_000  # states a candidate's search may visit, at least

_DECLARED = ("locks", "completions", "counters", "queues", "pools", "functions")
_STEP_LISTS = frozenset({"steps", "then", "else", "on_fail"})
# Numbers to lower, by their key; `order` and `times` wherever they are.
_LOWER = frozenset(
    {
        "count",
        "rss",
        "free",
        "min",
        "low",
        "high",
        "min_nr",
        "order",
        "pages",
        "times",
        "capacity",
        "initial",
        "max",
    }
)
_PAIRED_OP = re.compile(r"_(?:save|restore|disable|enable|irqsave|irqrestore)$")

Path = tuple[Any, ...]  # keys and indices from the document's root


@dataclass(frozen=True, slots=True)
class Shrunk:
    """What ``shrink`` found: the YAML text, the sizes before and after (tasks + steps +
    declared names), what it removed or lowered, and whether it reached a fixpoint
    (False: the ``max_seconds`` deadline stopped it)."""

    text: str
    outcome: str
    kernel: str
    before: int
    after: int
    removed: tuple[str, ...]
    complete: bool
    candidates: int


def shrink(
    text: str,
    path: str,
    kernel_name: str | None = None,
    outcome: str | None = None,
    max_seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    max_states: int | None = None,
) -> Shrunk:
    """Shrink the scenario ``text`` (read from ``path``) while it still shows ``outcome``.

    Raises ScenarioError for an invalid file and UsageError when the file does
    not show the outcome (or shows nothing) under the kernel.
    """
    deadline = math.inf if max_seconds is None else clock() + max_seconds
    scenario = load_text(text, path)
    kernel = _kernel(scenario, kernel_name)
    model = KernelModel(scenario, kernel)
    first = explore(model, max_states=max_states, max_seconds=_left(deadline, clock))
    if outcome is None:
        if not first.findings:
            why = "it is ok" if first.complete else f"nothing found ({first.stop_reason})"
            raise UsageError(f"mpsim shrink: {path}: nothing to shrink under {kernel.name}: {why}")
        outcome = first.findings[0].outcome
    found = [f for f in first.findings if f.outcome == outcome]
    if not found:
        if not first.complete:
            raise Incomplete(
                f"mpsim shrink: {path}: the search stopped ({first.stop_reason}) before it "
                f"found {outcome} under {kernel.name}"
            )
        shows = ", ".join(sort_outcomes(first.outcomes)) or "ok"
        raise UsageError(
            f"mpsim shrink: {path}: no {outcome} under {kernel.name} (it shows {shows})"
        )
    violation = _violation(model, found[0].end_state) if outcome == "violation" else None
    # a hang keeps its knot: the same locks, completions, pools or memory on its wait-for
    # cycle (or, without one, the same dead ends), so an ABBA does not shrink into some
    # other, smaller deadlock
    knot = _knot(model, found[0].end_state) if outcome in HANG_OUTCOMES else None
    limit = max_states or max(CANDIDATE_STATES, 2 * first.states)

    def still_fails(candidate: Any) -> bool:
        try:
            sc = load_text(write_document(candidate), path)
        except ScenarioError:
            return False
        m = KernelModel(sc, _kernel(sc, kernel_name))
        left = _left(deadline, clock)
        result = explore(m, max_states=limit, max_seconds=left)
        return any(
            f.outcome == outcome
            and (violation is None or _violation(m, f.end_state) == violation)
            and (knot is None or _knot(m, f.end_state) == knot)
            for f in result.findings
        )

    data = read_document(text)
    before = scenario_size(data)
    removed: list[str] = []
    tried = 0
    complete = True
    progress = True
    while progress:
        progress = False
        for what, candidate in _candidates(data):
            if clock() >= deadline:
                complete = False
                break
            tried += 1
            if still_fails(candidate):
                data = candidate
                removed.append(what)
                progress = True
                break
        if not complete:
            break
    final = _finish(data, kernel, kernel_name, outcome, limit, deadline, clock, path)
    header = [line for line in (modeline(text),) if line is not None]
    header += _comment(path, kernel, outcome, before, scenario_size(final), removed, complete)
    return Shrunk(
        text=write_document(final, header),
        outcome=outcome,
        kernel=kernel.name,
        before=before,
        after=scenario_size(final),
        removed=tuple(removed),
        complete=complete,
        candidates=tried,
    )


def scenario_size(data: Any) -> int:
    """Tasks + steps (every step node, control forms and their bodies' steps each one) +
    declared names (locks, completions, counters, queues, pools, functions, reclaimable
    entries) of a scenario document.

    >>> scenario_size({"locks": {"M": "mutex"}, "tasks": {"t": {"steps": [
    ...     {"mutex_lock": "M"}, {"repeat": {"times": 2, "steps": [{"mutex_unlock": "M"}]}}]}}})
    5
    """
    if not isinstance(data, dict):
        return 0
    size = len(data.get("tasks") or {})
    for key in _DECLARED:
        value = data.get(key)
        if isinstance(value, dict | list):
            size += len(value)
    memory = data.get("memory")
    if isinstance(memory, dict) and isinstance(memory.get("reclaimable"), list):
        size += len(memory["reclaimable"])
    return size + sum(len(steps) for _, steps in _step_lists(data))


# ------------------------------------------------------------------ candidates


def _candidates(data: Any) -> Iterator[tuple[str, Any]]:
    """Every smaller document to try, biggest removals first, each a fresh copy."""
    tasks = data.get("tasks") or {}
    if len(tasks) > 1:
        for name in list(tasks):
            out = copy.deepcopy(data)
            del out["tasks"][name]
            yield f"task {name}", out
    for key in _DECLARED:
        value = data.get(key)
        if isinstance(value, dict):
            for name in list(value):
                out = copy.deepcopy(data)
                del out[key][name]
                if not out[key]:
                    del out[key]
                yield f"{key[:-1]} {name}", out
        elif isinstance(value, list):
            for i in range(len(value)):
                out = copy.deepcopy(data)
                del out[key][i]
                if not out[key]:
                    del out[key]
                yield f"{key[:-1]} {value[i]}", out
    memory = data.get("memory")
    if isinstance(memory, dict) and isinstance(memory.get("reclaimable"), list):
        for i, entry in enumerate(memory["reclaimable"]):
            out = copy.deepcopy(data)
            del out["memory"]["reclaimable"][i]
            name = entry.get("name") if isinstance(entry, dict) else None
            yield f"reclaimable entry {name or i + 1}", out
    lists = list(_step_lists(data))
    for where, steps in lists:
        yield from _chunk_removals(data, where, steps)
    for where, steps in lists:
        yield from _pair_removals(data, where, steps)
    for where, steps in lists:
        yield from _unwrappings(data, where, steps)
    yield from _lowerings(data)


def _step_lists(node: Any, where: Path = ()) -> Iterator[tuple[Path, list[Any]]]:
    """Every step list in the document, outermost first, with the path to it."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _STEP_LISTS and isinstance(value, list):
                yield (*where, key), value
            yield from _step_lists(value, (*where, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _step_lists(value, (*where, i))


def _at(data: Any, where: Path) -> Any:
    for key in where:
        data = data[key]
    return data


def _label(where: Path, steps: list[Any], picks: list[int]) -> str:
    owner = ".".join(str(k) for k in where[:-1] if not isinstance(k, int)) or "steps"
    shown = ", ".join(_step_text(steps[i]) for i in picks[:3])
    more = f" and {len(picks) - 3} more" if len(picks) > 3 else ""
    return f"{len(picks)} step{'s' if len(picks) > 1 else ''} of {owner} ({shown}{more})"


def _step_text(step: Any) -> str:
    if isinstance(step, dict) and len(step) == 1:
        (op, arg), *_ = step.items()
        return f"{op} {arg}" if isinstance(arg, str | int) else str(op)
    return str(step)


def _without(data: Any, where: Path, picks: list[int]) -> Any:
    out = copy.deepcopy(data)
    steps = _at(out, where)
    for i in sorted(picks, reverse=True):
        del steps[i]
    return out


def _chunk_removals(data: Any, where: Path, steps: list[Any]) -> Iterator[tuple[str, Any]]:
    """Halves, then quarters, ... then single steps (delta debugging's complements)."""
    n = len(steps)
    size = n
    seen: set[tuple[int, ...]] = set()
    while size >= 1:
        for start in range(0, n, size):
            picks = list(range(start, min(start + size, n)))
            if tuple(picks) in seen:
                continue
            seen.add(tuple(picks))
            yield _label(where, steps, picks), _without(data, where, picks)
        size //= 2


def _names(step: Any) -> set[str]:
    """What a step names: its string values (a lock, a handle, a pool), or for a step that
    names nothing its op without the _save/_restore-like ending."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, str):
            found.add(node)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key not in _STEP_LISTS:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    if isinstance(step, dict):
        for op, arg in step.items():
            walk(arg)
            if not found:
                found.add("op:" + _PAIRED_OP.sub("", str(op)))
    return found


def _pair_removals(data: Any, where: Path, steps: list[Any]) -> Iterator[tuple[str, Any]]:
    """Two steps of one list that name the same thing: a lock and its unlock, an
    allocation and its free, a scope's save and restore."""
    names = [_names(s) for s in steps]
    for i in range(len(steps)):
        for j in range(i + 1, len(steps)):
            if names[i] & names[j]:
                yield _label(where, steps, [i, j]), _without(data, where, [i, j])


def _unwrappings(data: Any, where: Path, steps: list[Any]) -> Iterator[tuple[str, Any]]:
    """A ``repeat``/``loop`` replaced by its body, an ``if`` by one arm, ``on_fail`` dropped."""
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or len(step) != 1:
            continue
        (op, arg), *_ = step.items()
        bodies: list[tuple[str, list[Any]]] = []
        if op in ("repeat", "loop") and isinstance(arg, dict):
            bodies.append((f"{op} around its body", arg.get("steps") or []))
        if op == "if" and isinstance(arg, dict):
            bodies.append(("if, keeping its then arm", arg.get("then") or []))
            bodies.append(("if, keeping its else arm", arg.get("else") or []))
        for what, body in bodies:
            out = copy.deepcopy(data)
            _at(out, where)[i : i + 1] = copy.deepcopy(body)
            yield f"{what} in {_label(where, steps, [i])}", out
        if isinstance(arg, dict) and "on_fail" in arg:
            out = copy.deepcopy(data)
            del _at(out, where)[i][op]["on_fail"]
            yield f"on_fail of {_step_text(step)}", out


def _numbers(node: Any, where: Path = ()) -> Iterator[tuple[Path, int]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _LOWER and type(value) is int and value > 0:
                yield (*where, key), value
            else:
                yield from _numbers(value, (*where, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _numbers(value, (*where, i))


def _lowerings(data: Any) -> Iterator[tuple[str, Any]]:
    """Each number lowered to 0, 1, half or one less: smallest first."""
    for where, value in _numbers(data):
        for lower in sorted({0, 1, value // 2, value - 1}):
            if lower >= value:
                continue
            out = copy.deepcopy(data)
            _at(out, where[:-1])[where[-1]] = lower
            name = ".".join(str(k) for k in where if not isinstance(k, int))
            yield f"{name} {value} -> {lower}", out


# ------------------------------------------------------------------ the result


def _kernel(scenario: Scenario, name: str | None) -> Kernel:
    return kernels_for(scenario, [name] if name else [], False)[0]


def _left(deadline: float, clock: Callable[[], float]) -> float | None:
    if deadline == math.inf:
        return None
    return max(deadline - clock(), 1e-3)


def _knot(model: KernelModel, state: Any) -> frozenset[str]:
    """What a hang turns on: the resources on the wait-for cycle at ``state`` (node ids such
    as ``mutex:A``), or without a cycle its dead ends."""
    wf = waitfor_graph(model, state)
    if wf.cycle:
        return frozenset(n for n in wf.cycle if not n.startswith("task:"))
    return frozenset(wf.dead_ends)


def _violation(model: KernelModel, state: Any) -> str | None:
    """The violation a halted state records (its event key), to keep the same one."""
    halt = model.halt_reason(state)
    return None if halt is None or halt[0] != "violation" else str(halt[2][0])


def _finish(
    data: Any,
    kernel: Kernel,
    kernel_name: str | None,
    outcome: str,
    limit: int,
    deadline: float,
    clock: Callable[[], float],
    path: str,
) -> Any:
    """The shrunk document as written: named for what it is, its ``kernel`` the one it was
    shrunk under when ``--kernel`` chose it, and its ``expect`` the outcomes it shows there
    (none when that search cannot finish in the time left)."""
    out = copy.deepcopy(data)
    if isinstance(out.get("name"), str):
        out["name"] = out["name"] + "-shrunk"
    out.pop("description", None)  # it tells the original; the comment says what went
    if kernel_name:
        if isinstance(out.get("kernel"), dict):
            out["kernel"]["base"] = kernel.name
        else:
            out["kernel"] = kernel.name
    out.pop("expect", None)
    sc = load_text(write_document(out), path)
    result = explore(
        KernelModel(sc, _kernel(sc, kernel_name)),
        max_states=limit,
        max_seconds=_left(deadline, clock),
    )
    if result.complete:
        outcomes = sort_outcomes(result.outcomes)
        value: Any = (outcomes[0] if len(outcomes) == 1 else outcomes) if outcomes else "ok"
        out["expect"] = {kernel.name: value}
    return out


def _comment(
    path: str,
    kernel: Kernel,
    outcome: str,
    before: int,
    after: int,
    removed: list[str],
    complete: bool,
) -> list[str]:
    lines = [
        f"# mpsim shrink of {path} under {kernel.name}: still {outcome}",
        f"# size {before} -> {after} (tasks + steps + declared names)",
    ]
    if removed:
        body = "; ".join(removed)
        lines += textwrap.wrap(
            "removed or lowered: " + body,
            width=88,
            initial_indent="# ",
            subsequent_indent="#   ",
            break_on_hyphens=False,
        )
    else:
        lines.append("# nothing could be removed")
    if not complete:
        lines.append("# stopped at --max-seconds: a longer run may shrink it further")
    return lines
