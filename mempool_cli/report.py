"""From a scenario and a kernel to a verdict: findings, expectations, exit codes, JSON.

Everything here is plain data (dataclasses, dicts, strings); render.py
turns it into terminal output, analysis/dot.py into DOT, and cli.py into
an exit status. What a report says about a finding is decided here: the
steps that matter, the loop a hang repeats, the wait-for graph and the
hints.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mempool_cli.errors import EXIT_FAIL, EXIT_INCOMPLETE, EXIT_OK, UsageError, printable
from mempool_cli.explore import (
    Finding,
    Progress,
    Result,
    TooManyStates,
    explore,
    hang_at,
    hang_cycle,
    outcome_sort_key,
    shortest_path,
)
from mempool_cli.kernel.model import Action, KernelModel, State
from mempool_cli.kernel.names import action_token, actor_of
from mempool_cli.scenario import gfp as G
from mempool_cli.scenario.kernels import PRESETS, Kernel
from mempool_cli.scenario.loader import STDIN_NAME
from mempool_cli.scenario.spec import Scenario

__all__ = [
    "HANG_OUTCOMES",
    "FindingReport",
    "Limits",
    "ReplayResult",
    "RunResult",
    "StoryRow",
    "TraceStep",
    "exit_status",
    "kernels_for",
    "outcome_text",
    "parse_schedule",
    "replay_command",
    "replay_schedule",
    "run_scenario",
    "schedule_text",
    "sort_outcomes",
    "to_json",
    "trace_steps",
    "unexplored",
]

HANG_OUTCOMES = ("deadlock", "livelock")
# How many states `replay` looks at to tell whether a state is in a hang.
REPLAY_HANG_BOUND = 200_000


@dataclass(frozen=True, slots=True)
class Limits:
    """How far one search may go, and whether it may use symmetry reduction."""

    max_states: int | None = None
    max_seconds: float | None = None
    max_memory: int | None = None
    reduce: bool = True


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One step of a schedule: who acted, what it did, what changed in the machine."""

    index: int
    actor: str
    action: str  # the schedule token, e.g. ``taskB`` or ``taskB#1`` or ``reaper@taskC``
    text: str
    changes: tuple[tuple[str, str], ...]
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StoryRow:
    """One row of a finding's lockdep-style scenario.

    ``column`` indexes ``FindingReport.columns``; ``step`` is the schedule
    step the row shows (the first one when it repeats); ``times`` > 1 when
    the block of rows it belongs to ran that many times in a row, and
    ``varies`` when those repeats differ only in their numbers; ``loop``
    marks the rows of the cycle a hang repeats for ever.
    """

    step: int
    column: int
    text: str
    times: int = 1
    loop: bool = False
    varies: bool = False  # the folded repeats differ in their numbers (loop counts, free pages)


@dataclass(frozen=True, slots=True)
class FindingReport:
    outcome: str
    schedule: str  # replayable: the path to the finding
    cycle: str  # for a hang: a loop inside it that every actor of the hang takes part in
    trace: tuple[TraceStep, ...]
    cycle_trace: tuple[TraceStep, ...]
    summary: str
    waitfor: dict[str, Any] = field(default_factory=dict)
    hang_states: int = 0
    columns: tuple[str, ...] = ()  # the lockdep-style scenario: one column per actor involved
    story: tuple[StoryRow, ...] = ()
    left_out: int = 0  # steps of actors not involved, left out of the story
    waitfor_cycle: str = ""  # the wait-for cycle on one line, or "no cycle; ..." with the dead end
    hints: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RunResult:
    scenario: str
    file: str
    kernel: Kernel
    outcomes: frozenset[str]
    expected: frozenset[str] | None
    complete: bool
    stop_reason: str | None
    states: int
    transitions: int
    seconds: float
    findings: tuple[FindingReport, ...]
    # reductions the search used ("symmetry", "partial-order"); `states` counts reduced states
    reductions: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """The outcome set equals the expectation (``ok`` if the file says nothing for this preset).

        An incomplete search passes nothing: more outcomes could be waiting.
        """
        if not self.complete:
            return False
        return self.outcomes == (self.expected if self.expected is not None else frozenset())

    @property
    def certainly_failed(self) -> bool:
        """Failed even if the search was cut: an outcome the expectation excludes was found."""
        expected = self.expected if self.expected is not None else frozenset()
        if self.complete:
            return not self.passed
        return bool(self.outcomes - expected)

    @property
    def status(self) -> str:
        if self.passed:
            return "pass"
        return "fail" if self.certainly_failed else "incomplete"


def sort_outcomes(outcomes: frozenset[str] | set[str] | Sequence[str]) -> list[str]:
    """Outcomes in the contract's order, unknown ones after by name."""
    return sorted(outcomes, key=outcome_sort_key)


def outcome_text(outcomes: frozenset[str] | None) -> str:
    """``ok``, one outcome, or ``[a, b]`` in the contract's order.

    >>> outcome_text(frozenset()), outcome_text(frozenset({"oom-kill", "livelock"}))
    ('ok', '[livelock, oom-kill]')
    """
    if outcomes is None:
        return "-"
    names = sort_outcomes(outcomes)
    if not names:
        return "ok"
    return names[0] if len(names) == 1 else "[" + ", ".join(names) + "]"


def kernels_for(scenario: Scenario, names: Sequence[str], all_kernels: bool) -> list[Kernel]:
    """The kernels to run: ``--all-kernels``, each ``--kernel``, or the file's own."""
    patch = dict(scenario.kernel_knobs)
    if all_kernels:
        return [k.with_knobs(**patch) for k in PRESETS.values()]
    if names:
        out = []
        for name in names:
            if name not in PRESETS:
                from difflib import get_close_matches

                close = get_close_matches(name, list(PRESETS), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise UsageError(
                    f"mpsim: unknown kernel preset '{name}'{hint}; known: {', '.join(PRESETS)}"
                )
            out.append(PRESETS[name].with_knobs(**patch))
        return out
    return [scenario.kernel]


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


def parse_schedule(model: KernelModel, text: str) -> list[int]:
    """Resolve a schedule string against the model, step by step, into successor indices.

    Raises UsageError naming the first token that is not enabled where it stands.
    """
    tokens = [tok.strip() for tok in text.split(",") if tok.strip()]
    state = model.initial()
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
                text=model.describe(state, action),
                changes=tuple(model.changes(state, nxt)),
                labels=tuple(sort_outcomes(labels | model.state_labels(nxt))),
            )
        )
        state = nxt
    return tuple(out)


# --------------------------------------------------------------- findings


def _finding_report(model: KernelModel, finding: Finding) -> FindingReport:
    real = concrete(model)
    start = real.initial()
    indices: Sequence[int] = finding.schedule
    end: State = finding.end_state
    concretize = getattr(model, "concretize", None)
    if concretize is not None and real is not model:
        indices, end = concretize(finding.schedule)
    elif real is model:
        end = _walk(model, start, indices)
    schedule, _ = schedule_text(real, start, indices)
    trace = trace_steps(real, start, indices)
    cycle_indices: Sequence[int] = ()
    if finding.outcome in HANG_OUTCOMES:
        # A reduced hang of n states stands for at most n * (copies!) real ones.
        bound = max(finding.hang_size, 1) * (1 if real is model else 720)
        walk = hang_cycle(real, end, bound, actor=actor_of)
        if walk is not None:
            cycle_indices = walk
        elif concretize is not None and real is not model:
            cycle_indices = concretize(finding.cycle, end)[0]
        else:
            cycle_indices = finding.cycle
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
    return model.summarize(end, outcome)


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


# ------------------------------------------------------------------ hints


def hang_hints(
    model: KernelModel, s: State, graph: Any, cycle: tuple[str, ...], involved: tuple[str, ...]
) -> tuple[str, ...]:
    """What would break this hang, where the state shows it; few, and each one checked.

    Each hint is read off facts of the hang state and the kernel's knobs,
    never off names: a victim in ``mempool_alloc`` that would finish the
    call if mempool did not force __GFP_NOMEMALLOC (tried on the same
    state under the other knob), a victim the OOM reaper cannot or does not
    free, a zero-min pool, and a pool waiter holding a lock that an element
    holder waits for (the ABBA Weiner names [1.7]).
    """
    out: list[str] = []
    names = model.task_names()
    kernel = model.kernel
    for name in involved:
        t = names.index(name)
        view = model.task_view(s, t)
        wait = view.wait
        if (
            wait is not None
            and wait.call == "mempool_alloc"
            and kernel.mempool_nomemalloc == "always"
        ):
            # Run the call again from its start, as is and without the forced flag.
            restart = model.restart_step(s, t)
            alt = _knob(model, "mempool_nomemalloc", "if_pool_nonempty")
            if not _finishes_step(model, restart, t) and _finishes_step(alt, restart, t):
                out.append(
                    f"{name} could use the reserves if mempool_alloc did not force "
                    f"__GFP_NOMEMALLOC {_suggest(model, 'mempool_nomemalloc', 'if_pool_nonempty')}"
                )
        if view.victim and not (view.oom_skip or view.exited):
            if not model.info[t].mm_reapable:
                text = f"the OOM reaper cannot free {name}'s memory (mm_reapable: false)"
                if model.reaper_mode == "reap" and view.reaped:
                    text += (
                        " and gives up without setting MMF_OOM_SKIP, so the OOM killer waits "
                        f"for {name} for ever "
                        + _suggest(model, "oom_reaper", "reap_or_skip", " marks it anyway")
                    )
                elif model.reaper_mode == "none":
                    text += (
                        ", and this kernel has no reaper to mark it MMF_OOM_SKIP so that the "
                        "OOM killer could pick another victim "
                        + _suggest(model, "oom_reaper", "reap_or_skip")
                    )
                out.append(text)
            elif model.reaper_mode == "none" and view.rss:
                out.append(
                    f"no OOM reaper frees {name}'s {view.rss} pages while it lives "
                    + _suggest(model, "oom_reaper", "reap")
                )
        if (
            wait is not None
            and wait.call == "alloc_pages"
            and wait.gfp is not None
            and model.scenario.oom.killer
            and not view.victim
            and not wait.gfp & G.FS
            and not wait.gfp & G.NOFAIL
        ):
            out.append(
                f"{name}'s allocation ({G.format_gfp(wait.gfp)}) has no __GFP_FS, so it "
                "never invokes the OOM killer to free memory for it [3.7][5.1]"
            )
    for node in sorted(graph.nodes):
        data = graph.nodes[node]
        if (
            data["type"] == "pool"
            and data["min_nr"] == 0
            and kernel.zero_min_pool == "poll"
            and graph.in_degree(node)
        ):
            out.append(
                f"pool {data['label']} has min_nr 0: it keeps no element, so waiting on it "
                "guarantees nothing [1.5] "
                + _suggest(model, "zero_min_pool", "one_element", " keeps one")
            )
    out.extend(_abba_hints(graph, cycle))
    return tuple(out)


def _abba_hints(graph: Any, cycle: tuple[str, ...]) -> list[str]:
    """A task sleeping on a pool while it holds a lock that an element holder waits for."""
    if not cycle:
        return []
    n = len(cycle)
    out = []
    for i in range(n):
        waiter, pool, holder, lock = (cycle[(i + j) % n] for j in range(4))
        if n >= 4 and (
            graph.nodes[pool]["type"] == "pool"
            and graph.nodes[lock]["type"] in ("mutex", "spinlock")
            and graph.edges[holder, lock]["type"] == "waits_for"
            and graph.has_edge(lock, waiter)
        ):
            w, p, h, lk = (graph.nodes[n]["label"] for n in (waiter, pool, holder, lock))
            out.append(
                f"{w} waits on pool {p} while holding {lk}, which {h} needs before it can "
                f"return its {p} element: an ABBA between a lock and a pool; do not hold "
                f"{lk} across mempool_alloc({p}) [1.7]"
            )
    return out


def _knob(model: KernelModel, knob: str, value: str) -> KernelModel:
    return concrete(KernelModel(model.scenario, model.kernel.with_knobs(**{knob: value})))


def _finishes_step(model: KernelModel, s: State, t: int, limit: int = 64) -> bool:
    """Whether task ``t`` alone, from ``s``, can finish its current step (``limit`` states).

    ``s`` stands at the start of the step, so a move back to it finishes nothing.
    """

    def done(_action: Action, nxt: State) -> bool:
        return nxt != s and not model.halted(nxt) and model.task_view(nxt, t).at_boundary

    return shortest_path(model, s, done, limit, allowed=lambda a: actor_of(a) == t) is not None


def _suggest(model: KernelModel, knob: str, value: str, note: str = "") -> str:
    """``(knob: value; try --kernel P)``, P the first preset with it, unless the file pins the knob.

    A file's own knobs survive ``--kernel`` (docs/model.md), so for a
    pinned knob the hint points at the file instead.
    """
    setting = f"{knob}: {value}{note}"
    if knob == "oom_reaper" and model.scenario.oom.reaper is not None:
        return f"(oom.reaper: {value}{note}; set in the file)"
    if knob in dict(model.scenario.kernel_knobs):
        return f"({setting}; set in the file's kernel)"
    for name, preset in PRESETS.items():
        if preset.knobs()[knob] == value and name != model.kernel.name:
            return f"({setting}; try --kernel {name})"
    return f"({setting})"


# ------------------------------------------------------------------ replay


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What ``mpsim replay`` found: the steps, and the finding the schedule reaches, if any.

    ``reached`` lists the outcomes the end shows: the labels of the last
    step (an OOM kill, a violation, depletion) and, when the end state
    lies in a hang, ``deadlock`` or ``livelock``. ``verdict`` says it in a
    line; for a hang the wait-for explanation and hints come too.
    """

    scenario: str
    file: str
    kernel: Kernel
    schedule: str
    steps: tuple[TraceStep, ...]
    reached: tuple[str, ...]
    verdict: str
    final: bool
    hang_states: int = 0
    waitfor: dict[str, Any] = field(default_factory=dict)
    waitfor_cycle: str = ""
    hints: tuple[str, ...] = ()
    enabled: tuple[str, ...] = ()


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
            verdict = f"the machine halts: {model.summarize(end, reached[0] if reached else '')}"
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


# ------------------------------------------------------------- exit, JSON


def exit_status(results: Sequence[RunResult]) -> int:
    """0 all pass; 1 a certain failure; 4 a limit cut a search short, nothing certainly wrong."""
    if any(r.certainly_failed for r in results):
        return EXIT_FAIL
    if any(not r.complete for r in results):
        return EXIT_INCOMPLETE
    return EXIT_OK


def to_json(result: RunResult) -> dict[str, Any]:
    """The JSON object of one (scenario, kernel) run; keys are stable (docs/reports.md)."""
    return {
        "scenario": result.scenario,
        "file": printable(result.file),
        "kernel": result.kernel.name,
        "knobs": dict(result.kernel.knobs()),
        "outcomes": sort_outcomes(result.outcomes),
        "expected": None if result.expected is None else sort_outcomes(result.expected),
        "passed": result.passed,
        "status": result.status,
        "complete": result.complete,
        "stop_reason": result.stop_reason,
        "stats": {
            "states": result.states,
            "transitions": result.transitions,
            "reductions": list(result.reductions),
            "seconds": round(result.seconds, 3),
        },
        "findings": [
            {
                "outcome": f.outcome,
                "summary": f.summary,
                "schedule": f.schedule,
                "cycle": f.cycle,
                "replay": replay_command(result, f),
                "trace": [_step_json(s) for s in f.trace],
                "cycle_trace": [_step_json(s) for s in f.cycle_trace],
                "waitfor": f.waitfor,
                "hang_states": f.hang_states,
                "hints": list(f.hints),
            }
            for f in result.findings
        ],
    }


def _step_json(step: TraceStep) -> dict[str, Any]:
    return {
        "step": step.index,
        "actor": step.actor,
        "action": step.action,
        "text": step.text,
        "changes": dict(step.changes),
        "labels": list(step.labels),
    }


def replay_command(result: RunResult, finding: FindingReport) -> str:
    """The exact command that replays ``finding``, quoted for a POSIX shell.

    The kernel is named by its preset; a file's own knobs come back with
    the file, as they do for ``--kernel``. A scenario read from stdin is
    replayed from stdin (``-``): the file it came from is unknown.
    """
    schedule = shlex.quote(finding.schedule) if finding.schedule else "''"
    return f"mpsim replay {_shell_path(result.file)} {schedule} --kernel {result.kernel.name}"


def _shell_path(path: str) -> str:
    r"""``path`` as one shell word; bytes that are not UTF-8 as ``$'\xNN'`` (POSIX.1-2024, bash).

    >>> _shell_path("my scenario.yaml"), _shell_path("<stdin>"), _shell_path("it's\udcff.yaml")
    ("'my scenario.yaml'", '-', "$'it\\'s\\xff.yaml'")
    """
    if path == STDIN_NAME:
        return "-"
    if printable(path) == path:
        return shlex.quote(path)
    out = []
    for ch in path:
        if "\udc80" <= ch <= "\udcff":  # a byte that is not UTF-8 (PEP 383)
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch in "\\'":
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
    return "$'" + "".join(out) + "'"
