"""From a scenario and a kernel to a verdict: run the search, explain each finding, replay.

The pipeline of ``mpsim run`` and ``mpsim replay``: build the kernel
model, let ``explore`` search it, and turn each finding into a
``FindingReport`` (report.py): the schedule as tokens, the trace, the
loop a hang repeats (``explore.hang_cycle``), the wait-for graph, the
lockdep-style story and the hints (hints.py). ``replay_schedule`` walks a
schedule a user pasted and says where it ends (``explore.hang_at``).
What a report says about a finding is decided here; report.py only holds
the result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mempool_cli import narration
from mempool_cli.errors import UsageError
from mempool_cli.explore import (
    Finding,
    Progress,
    Result,
    TooManyStates,
    explore,
    hang_at,
    hang_cycle,
)
from mempool_cli.hints import hang_hints
from mempool_cli.kernel.model import KernelModel, State, actor_of
from mempool_cli.narration import action_token
from mempool_cli.report import (
    HANG_OUTCOMES,
    FindingReport,
    PotentialCycle,
    PotentialOrder,
    ReplayResult,
    RunResult,
    StoryRow,
    TraceStep,
    sort_outcomes,
)
from mempool_cli.scenario.kernels import PRESETS, VERSION_PATTERN, Kernel, resolve_kernel
from mempool_cli.scenario.spec import Scenario

__all__ = [
    "REPLAY_HANG_BOUND",
    "Limits",
    "concrete",
    "kernels_for",
    "parse_schedule",
    "potential_cycles",
    "preset_for",
    "replay_schedule",
    "run_scenario",
    "schedule_text",
    "trace_steps",
    "unexplored",
]

# How many states `replay` looks at to tell whether a state is in a hang.
REPLAY_HANG_BOUND = 200_000


@dataclass(frozen=True, slots=True)
class Limits:
    """How far one search may go, and whether it may use symmetry reduction."""

    max_states: int | None = None
    max_seconds: float | None = None
    max_memory: int | None = None
    reduce: bool = True
    # --potential: also walk every state for lockdep's lock-order graph (after the search)
    potential: bool = False


def kernels_for(scenario: Scenario, names: Sequence[str], all_kernels: bool) -> list[Kernel]:
    """The kernels to run: ``--all-kernels``, each ``--kernel``, or the file's own.

    A ``--kernel`` value is a preset name or a kernel version; a version
    resolves to a preset (``resolve_kernel``) and the kernel keeps what was
    asked, for the report header.
    """
    patch = dict(scenario.kernel_knobs)
    if all_kernels:
        return [k.with_knobs(**patch) for k in PRESETS.values()]
    if names:
        out = []
        for name in names:
            preset, asked = preset_for(name)
            out.append(replace(PRESETS[preset], asked=asked).with_knobs(**patch))
        return out
    return [scenario.kernel]


def preset_for(name: str) -> tuple[str, str]:
    """The preset a ``--kernel`` value names, and the version asked for ("" for a name)."""
    resolved = resolve_kernel(name)
    if resolved is not None:
        return resolved
    if re.fullmatch(VERSION_PATTERN, name, re.ASCII):
        raise UsageError(f"mpsim: no preset for kernel '{name}': the oldest is v4.5")
    from difflib import get_close_matches

    close = get_close_matches(name, list(PRESETS), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise UsageError(
        f"mpsim: unknown kernel preset '{name}'{hint}; known: {', '.join(PRESETS)}, "
        "or a kernel version such as 5.10"
    )


def run_scenario(
    scenario: Scenario,
    kernel: Kernel,
    limits: Limits = Limits(),
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Explore every interleaving of ``scenario`` under ``kernel`` and explain each finding."""
    model = KernelModel(scenario, kernel, reduce=limits.reduce)
    result: Result = explore(
        model,
        max_states=limits.max_states,
        max_seconds=limits.max_seconds,
        max_memory=limits.max_memory,
        progress=progress,
        should_stop=should_stop,
    )
    findings = tuple(_finding_report(model, f) for f in result.findings)
    expected = scenario.expect.for_preset(kernel.name) if scenario.expect else None
    potential: tuple[PotentialCycle, ...] | None = None
    potential_complete = True
    if limits.potential:
        potential, potential_complete = potential_cycles(
            model, findings, result.states, limits.max_seconds, should_stop
        )
    return RunResult(
        scenario=scenario.name,
        file=scenario.path,
        kernel=kernel,
        outcomes=frozenset(f.outcome for f in result.findings),
        expected=expected,
        complete=result.complete,
        stop_reason=result.stop_reason,
        states=result.states,
        transitions=result.transitions,
        seconds=result.seconds,
        findings=findings,
        reductions=model.reductions,
        potential=potential,
        potential_complete=potential_complete,
    )


def unexplored(scenario: Scenario, kernel: Kernel, stop_reason: str, seconds: float) -> RunResult:
    """The result of a search that stopped for ``stop_reason`` without telling what it found.

    Incomplete, with no outcome and no state counted: a worker process
    that died took its search with it.
    """
    return RunResult(
        scenario=scenario.name,
        file=scenario.path,
        kernel=kernel,
        outcomes=frozenset(),
        expected=scenario.expect.for_preset(kernel.name) if scenario.expect else None,
        complete=False,
        stop_reason=stop_reason,
        states=0,
        transitions=0,
        seconds=seconds,
        findings=(),
    )


# ------------------------------------------------------------------ schedules


def concrete(model: KernelModel) -> KernelModel:
    """The model whose states name every task truly (no symmetry reduction), for traces."""
    unreduced = getattr(model, "unreduced", None)
    return unreduced() if unreduced is not None else model


def schedule_text(model: KernelModel, start: State, indices: Sequence[int]) -> tuple[str, State]:
    """Turn successor indices into the comma-separated token form users paste into ``replay``."""
    tokens = []
    state = start
    for i in indices:
        action, state, _ = model.successors(state)[i]
        tokens.append(action_token(model, action))
    return ",".join(tokens), state


def parse_schedule(model: KernelModel, text: str, start: State | None = None) -> list[int]:
    """Resolve a schedule string against the model, step by step from ``start`` (default:
    the initial state), into successor indices.

    Raises UsageError naming the first token that is not enabled where it stands.
    """
    tokens = [tok.strip() for tok in text.split(",") if tok.strip()]
    state = model.initial() if start is None else start
    indices = []
    for n, tok in enumerate(tokens, 1):
        succ = model.successors(state)
        enabled = [action_token(model, a) for a, _, _ in succ]
        if tok not in enabled:
            raise UsageError(
                f"mpsim: schedule step {n} '{tok}' is not possible there; "
                f"enabled: {', '.join(enabled) or 'nothing (the run is over)'}"
            )
        i = enabled.index(tok)
        indices.append(i)
        state = succ[i][1]
    return indices


def trace_steps(
    model: KernelModel, start: State, indices: Sequence[int], first: int = 1
) -> tuple[TraceStep, ...]:
    out = []
    state = start
    for n, i in enumerate(indices, first):
        action, nxt, labels = model.successors(state)[i]
        out.append(
            TraceStep(
                index=n,
                actor=model.actor_name(action),
                action=action_token(model, action),
                text=narration.describe(model, state, action),
                changes=tuple(narration.changes(model, state, nxt)),
                labels=tuple(sort_outcomes(labels | model.state_labels(nxt))),
            )
        )
        state = nxt
    return tuple(out)


# --------------------------------------------------------------- findings


def _finding_report(model: KernelModel, finding: Finding) -> FindingReport:
    """A finding told in full. Its schedule and end state are real (explore/model.py, the
    search keeps real states), so the unreduced model replays it as it is; the trace, the
    story and the hang's loop are told with every move of every task."""
    real = concrete(model)
    start = real.initial()
    schedule, end = schedule_text(model, start, finding.schedule)
    indices: Sequence[int] = parse_schedule(real, schedule)
    trace = trace_steps(real, start, indices)
    cycle_indices: Sequence[int] = ()
    if finding.outcome in HANG_OUTCOMES:
        # A reduced hang of n states stands for at most n * (copies!) real ones.
        bound = max(finding.hang_size, 1) * (1 if real is model else 720)
        walk = hang_cycle(real, end, bound, actor=actor_of)
        if walk is not None:
            cycle_indices = walk
        else:
            cycle_tokens, _ = schedule_text(model, end, finding.cycle)
            cycle_indices = parse_schedule(real, cycle_tokens, end)
    cycle, _ = schedule_text(real, end, cycle_indices)
    cycle_trace = trace_steps(real, end, cycle_indices, first=len(trace) + 1)
    summary = _summary(real, end, finding.outcome, trace)
    waitfor: dict[str, Any] = {}
    involved: tuple[str, ...] = ()
    waitfor_cycle = ""
    hints: tuple[str, ...] = ()
    if finding.outcome in HANG_OUTCOMES:
        from mempool_cli.analysis.waitfor import waitfor_graph

        graph = waitfor_graph(real, end)
        waitfor = graph.to_dict()
        summary = graph.explanation or summary
        involved = graph.involved
        waitfor_cycle = _waitfor_line(graph)
        hints = hang_hints(real, end, graph.graph, graph.cycle, involved)
    columns, story, left_out = _story(real, end, trace, cycle_trace, involved)
    return FindingReport(
        outcome=finding.outcome,
        schedule=schedule,
        cycle=cycle,
        trace=trace,
        cycle_trace=cycle_trace,
        summary=summary,
        waitfor=waitfor,
        hang_states=finding.hang_size,
        columns=columns,
        story=story,
        left_out=left_out,
        waitfor_cycle=waitfor_cycle,
        hints=hints,
    )


def _summary(model: KernelModel, end: State, outcome: str, trace: Sequence[TraceStep]) -> str:
    """One line on a finding; an OOM kill names the tasks the schedule's kills hit.

    Victims marked at start are not kills (contract, Outcomes), so they
    are not named, although their SIGKILL is in the state.
    """
    if outcome == "oom-kill":
        killed = [n for s in trace for n, v in s.changes if "SIGKILL" in v]
        if killed:
            return "the OOM killer killed " + ", ".join(dict.fromkeys(killed))
    return narration.summarize(model, end, outcome)


def _waitfor_line(graph: Any) -> str:
    """The wait-for cycle on one line, or, without one, what nobody can release."""
    from mempool_cli.analysis.waitfor import cycle_text

    if graph.cycle:
        line = str(cycle_text(graph.graph, graph.cycle))
        on_cycle = {graph.graph.nodes[n]["label"] for n in graph.cycle}
        others = [t for t in graph.involved if t not in on_cycle]
        if others:
            line += f" (and {', '.join(others)}, waiting in the same knot)"
        return line
    if graph.dead_ends:
        return "no cycle; nothing can release " + ", ".join(graph.dead_ends)
    return "no cycle"


def _walk(model: KernelModel, start: State, indices: Sequence[int]) -> State:
    state = start
    for i in indices:
        state = model.successors(state)[i][1]
    return state


# ------------------------------------------------------- lockdep scenario


def _story(
    model: KernelModel,
    end: State,
    trace: tuple[TraceStep, ...],
    cycle_trace: tuple[TraceStep, ...],
    involved: tuple[str, ...],
) -> tuple[tuple[str, ...], tuple[StoryRow, ...], int]:
    """Columns and rows of the lockdep-style table: the steps of the actors that matter.

    For a hang those are the tasks the wait-for graph names (and the OOM
    reaper when it acted on one of them); otherwise every actor of the
    schedule. Repeated retries are folded into one row with a count.
    """
    names = model.task_names()
    if involved:
        keep = set(involved)
        if any(s.action.startswith("reaper@") and s.action[7:] in keep for s in trace):
            keep.add("oom_reaper")
    else:
        keep = {s.actor for s in (*trace, *cycle_trace)}
    actors = [n for n in names if n in keep]
    if "oom_reaper" in keep:
        actors.append("oom_reaper")
    titles = []
    for name in actors:
        if name in names and model.task_view(end, names.index(name)).victim:
            name += " (OOM victim)"
        titles.append(name)
    col = {name: i for i, name in enumerate(actors)}

    def rows(steps: tuple[TraceStep, ...], loop: bool) -> list[StoryRow]:
        items = [(col[s.actor], _short(s), s.index) for s in steps if s.actor in col]
        return _fold(items, loop)

    story = rows(trace, False) + rows(cycle_trace, True)
    left_out = sum(1 for s in (*trace, *cycle_trace) if s.actor not in col)
    return tuple(titles), tuple(story), left_out


def _short(step: TraceStep) -> str:
    """A step's text without its actor or pool->alloc's mask, middle clauses elided.

    The full text is in the trace (``--trace``, JSON).
    """
    text = step.text
    prefix = f"{step.actor}: "
    if text.startswith(prefix):
        text = text[len(prefix) :]
    text = _POOL_ALLOC_MASK.sub("pool->alloc", text)
    clauses = text.split("; ")
    if len(clauses) > 2:
        return f"{clauses[0]} ... {clauses[-1]}"
    return "; ".join(clauses)


_POOL_ALLOC_MASK = re.compile(r"pool->alloc\([^)]*\)")
_DIGITS = re.compile(r"\d+")


def _fold(items: list[tuple[int, str, int]], loop: bool) -> list[StoryRow]:
    """Fold a block of up to four rows repeated back to back into one block with a count.

    >>> rows = [(0, "a", 1), (0, "b", 2), (0, "a", 3), (0, "b", 4), (1, "c", 5)]
    >>> [(r.text, r.times) for r in _fold(rows, False)]
    [('a', 2), ('b', 2), ('c', 1)]
    """
    out: list[StoryRow] = []
    # Counters (loop 3, 7 free) differ between retries of the same step.
    keys = [(c, _DIGITS.sub("#", t)) for c, t, _ in items]
    i = 0
    while i < len(items):
        best_k, best_n = 1, 1
        for k in range(1, 5):
            if i + 2 * k > len(items):
                break
            block = keys[i : i + k]
            n = 1
            while keys[i + n * k : i + (n + 1) * k] == block:
                n += 1
            if n > 1 and n * k > best_n * best_k:
                best_k, best_n = k, n
        for j, (c, t, step) in enumerate(items[i : i + best_k]):
            varies = len({items[i + n * best_k + j][1] for n in range(best_n)}) > 1
            out.append(StoryRow(step, c, t, times=best_n, loop=loop, varies=varies))
        i += best_k * best_n
    return out


# ------------------------------------------------------------------ replay


def replay_schedule(
    scenario: Scenario, kernel: Kernel, text: str, bound: int = REPLAY_HANG_BOUND
) -> ReplayResult:
    """Replay a schedule string and say what its last state is: a finding, the end, or neither."""
    model = concrete(KernelModel(scenario, kernel))
    indices = parse_schedule(model, text)
    start = model.initial()
    steps = trace_steps(model, start, indices)
    end = _walk(model, start, indices)
    labels = set(model.state_labels(end))
    if steps:
        labels |= set(steps[-1].labels)
    reached = sort_outcomes(labels)
    common: dict[str, Any] = {
        "scenario": scenario.name,
        "file": scenario.path,
        "kernel": kernel,
        "schedule": ",".join(s.action for s in steps),
        "steps": steps,
    }
    enabled = tuple(action_token(model, a) for a, _, _ in model.successors(end))
    if model.is_final(end):
        if model.halted(end):
            why = narration.summarize(model, end, reached[0] if reached else "")
            verdict = f"the machine halts: {why}"
        else:
            verdict = "every task has exited: the run is over"
        if labels - {"violation", "oom-panic"}:
            verdict = f"{', '.join(reached)} on the way; {verdict}"
        return ReplayResult(**common, reached=tuple(reached), verdict=verdict, final=True)
    try:
        hang = hang_at(model, end, bound)
    except TooManyStates:
        verdict = (
            f"more than {bound:,} states are reachable from here: "
            "replay cannot tell whether this is a hang"
        )
        return ReplayResult(
            **common, reached=tuple(reached), verdict=verdict, final=False, enabled=enabled
        )
    if hang is None:
        verdict = "not in a hang: some path from here still leads out"
        if labels:
            first = "oom-kill" if "oom-kill" in reached else reached[0]
            verdict = f"{_summary(model, end, first, steps)}; {verdict}"
        return ReplayResult(
            **common, reached=tuple(reached), verdict=verdict, final=False, enabled=enabled
        )
    outcome, size = hang
    from mempool_cli.analysis.waitfor import waitfor_graph

    graph = waitfor_graph(model, end)
    verdict = (
        f"in a hang of {size:,} state{'s' if size != 1 else ''} that no step leaves, "
        "none of them final"
    )
    return ReplayResult(
        **common,
        reached=tuple(sort_outcomes({*reached, outcome})),
        verdict=verdict,
        final=False,
        hang_states=size,
        waitfor=graph.to_dict(),
        waitfor_cycle=_waitfor_line(graph),
        hints=hang_hints(model, end, graph.graph, graph.cycle, graph.involved),
        enabled=enabled,
    )


# ------------------------------------------------------ potential (lockdep)


def potential_cycles(
    model: KernelModel,
    findings: Sequence[FindingReport],
    max_states: int | None = None,
    max_seconds: float | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[tuple[PotentialCycle, ...], bool]:
    """lockdep's cycles over the states the search visited (``mpsim run --potential``), and
    whether the walk saw every one of them.

    A cycle's hang is reachable when some deadlock or livelock found has every lock and
    completion of the cycle in its wait-for graph (``fs_reclaim`` is no node there: a task
    inside it waits for a reclaim lock or completion, which is).
    """
    from mempool_cli.analysis.lockorder import lock_order_graph

    graph = lock_order_graph(model, max_states, max_seconds, should_stop)
    hangs = [
        {node["id"] for node in f.waitfor.get("nodes", ())}
        for f in findings
        if f.outcome in HANG_OUTCOMES
    ]
    out = []
    for cycle in graph.cycles():
        nodes = {o.held for o in cycle} - {"fs_reclaim"}
        orders = []
        for o in cycle:
            schedule = step = None
            if o.schedule is not None:
                schedule, _ = schedule_text(model, model.initial(), o.schedule)
                step = len(o.schedule)
            orders.append(
                PotentialOrder(
                    held=o.held,
                    taken=o.taken,
                    held_name=o.held_name,
                    taken_name=o.taken_name,
                    task=o.task,
                    step=step,
                    schedule=schedule,
                    line=o.line,
                    entry=o.entry,
                    waits=o.waits,
                )
            )
        out.append(
            PotentialCycle(
                cycle=tuple(o.held for o in cycle),
                orders=tuple(orders),
                reachable_hang=any(nodes <= hang for hang in hangs),
            )
        )
    return tuple(out), graph.complete
