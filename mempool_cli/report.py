"""From a scenario and a kernel to a verdict: findings, expectations, exit codes, JSON.

Everything here is plain data (dataclasses, dicts, strings); render.py
turns it into terminal output and cli.py into an exit status.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mempool_cli.errors import EXIT_FAIL, EXIT_INCOMPLETE, EXIT_OK, UsageError
from mempool_cli.explore import Finding, Progress, Result, explore
from mempool_cli.kernel.model import REAPER, Action, KernelModel, State
from mempool_cli.scenario.kernels import PRESETS, Kernel
from mempool_cli.scenario.spec import OUTCOMES, Scenario

__all__ = [
    "FindingReport",
    "Limits",
    "RunResult",
    "TraceStep",
    "exit_status",
    "kernels_for",
    "outcome_text",
    "parse_schedule",
    "run_scenario",
    "schedule_text",
    "to_json",
]

OUTCOME_ORDER = {name: i for i, name in enumerate(OUTCOMES)}


@dataclass(frozen=True, slots=True)
class Limits:
    max_states: int | None = None
    max_seconds: float | None = None
    max_memory: int | None = None


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
class FindingReport:
    outcome: str
    schedule: str  # replayable: the path to the finding
    cycle: str  # for a hang: the loop inside it (empty for a dead end)
    trace: tuple[TraceStep, ...]
    cycle_trace: tuple[TraceStep, ...]
    summary: str
    waitfor: dict[str, Any] = field(default_factory=dict)
    hang_states: int = 0


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

    @property
    def passed(self) -> bool:
        """The outcome set equals the expectation (``ok`` when the file says nothing for this preset).

        An incomplete search passes nothing: more outcomes could be waiting.
        """
        if not self.complete:
            return False
        return self.outcomes == (self.expected if self.expected is not None else frozenset())

    @property
    def certainly_failed(self) -> bool:
        """Failed even if the search was cut: an outcome the expectation excludes was already found."""
        expected = self.expected if self.expected is not None else frozenset()
        if self.complete:
            return not self.passed
        return bool(self.outcomes - expected)

    @property
    def status(self) -> str:
        if self.passed:
            return "pass"
        return "fail" if self.certainly_failed else "incomplete"


def outcome_text(outcomes: frozenset[str] | None) -> str:
    """``ok``, one outcome, or ``[a, b]`` in the contract's order.

    >>> outcome_text(frozenset()), outcome_text(frozenset({"oom-kill", "livelock"}))
    ('ok', '[livelock, oom-kill]')
    """
    if outcomes is None:
        return "-"
    names = sorted(outcomes, key=lambda o: (OUTCOME_ORDER.get(o, 99), o))
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
    model = KernelModel(scenario, kernel)
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
    )


# ------------------------------------------------------------------ schedules


def action_token(model: KernelModel, action: Action) -> str:
    """``taskB``, ``taskB#1`` for a task's second choice, ``reaper@taskC`` for the OOM reaper."""
    t, choice = action
    if t == REAPER:
        return f"reaper@{model.info[choice].name}"
    name = model.info[t].name
    return name if choice == 0 else f"{name}#{choice}"


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


def trace_steps(model: KernelModel, start: State, indices: Sequence[int], first: int = 1) -> tuple[TraceStep, ...]:
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
                labels=tuple(sorted(labels | model.state_labels(nxt))),
            )
        )
        state = nxt
    return tuple(out)


def _finding_report(model: KernelModel, finding: Finding) -> FindingReport:
    start = model.initial()
    schedule, end = schedule_text(model, start, finding.schedule)
    cycle, _ = schedule_text(model, end, finding.cycle)
    trace = trace_steps(model, start, finding.schedule)
    cycle_trace = trace_steps(model, end, finding.cycle, first=len(trace) + 1)
    waitfor: dict[str, Any] = {}
    summary = model.summarize(end, finding.outcome)
    if finding.outcome in ("deadlock", "livelock"):
        from mempool_cli.analysis.waitfor import waitfor_graph

        graph = waitfor_graph(model, end)
        waitfor = graph.to_dict()
        summary = graph.explanation or summary
    return FindingReport(
        outcome=finding.outcome,
        schedule=schedule,
        cycle=cycle,
        trace=trace,
        cycle_trace=cycle_trace,
        summary=summary,
        waitfor=waitfor,
        hang_states=finding.hang_size,
    )


# ------------------------------------------------------------- exit, JSON


def exit_status(results: Sequence[RunResult]) -> int:
    """0 all pass; 1 a certain failure; 4 a limit cut a search short with nothing certainly wrong."""
    if any(r.certainly_failed for r in results):
        return EXIT_FAIL
    if any(not r.complete for r in results):
        return EXIT_INCOMPLETE
    return EXIT_OK


def to_json(result: RunResult) -> dict[str, Any]:
    """The documented JSON object of one (scenario, kernel) run; keys are stable."""
    return {
        "scenario": result.scenario,
        "file": result.file,
        "kernel": result.kernel.name,
        "knobs": {k: v for k, v in result.kernel.knobs().items()},
        "outcomes": sorted(result.outcomes, key=lambda o: (OUTCOME_ORDER.get(o, 99), o)),
        "expected": None
        if result.expected is None
        else sorted(result.expected, key=lambda o: (OUTCOME_ORDER.get(o, 99), o)),
        "passed": result.passed,
        "status": result.status,
        "complete": result.complete,
        "stop_reason": result.stop_reason,
        "stats": {
            "states": result.states,
            "transitions": result.transitions,
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
    """The exact command that replays ``finding``, quoted for a POSIX shell."""
    import shlex

    schedule = finding.schedule or "''"
    return (
        f"mpsim replay {shlex.quote(result.file)} {shlex.quote(finding.schedule) if finding.schedule else schedule} "
        f"--kernel {result.kernel.name}"
    )
