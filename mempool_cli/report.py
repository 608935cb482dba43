"""What a run found, as plain data: findings, outcomes, expectations, exit codes, JSON.

Everything here is dataclasses, dicts and strings, built by verdict.py;
render.py turns it into terminal output, analysis/dot.py into DOT, and
cli.py into an exit status.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mempool_cli.errors import EXIT_FAIL, EXIT_INCOMPLETE, EXIT_OK, printable
from mempool_cli.explore import outcome_sort_key
from mempool_cli.scenario.kernels import Kernel
from mempool_cli.scenario.loader import STDIN_NAME

__all__ = [
    "HANG_OUTCOMES",
    "FindingReport",
    "PotentialCycle",
    "PotentialOrder",
    "ReplayResult",
    "RunResult",
    "StoryRow",
    "TraceStep",
    "exit_status",
    "outcome_text",
    "potential_json",
    "replay_command",
    "sort_outcomes",
    "to_json",
]

HANG_OUTCOMES = ("deadlock", "livelock")


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
class PotentialOrder:
    """One lock order of a potential cycle (``mpsim run --potential``): ``task`` held
    ``held`` and took ``taken`` at ``step`` of ``schedule`` (a replayable schedule, its last
    step the one that takes it), on the file's ``line``; a kswapd order (any scenario) has
    no task, step or schedule, and names its reclaimable ``entry``."""

    held: str  # node id, as in the wait-for graph: mutex:M, completion:C, fs_reclaim
    taken: str
    held_name: str  # in a sentence: M, completion C, fs_reclaim
    taken_name: str
    task: str | None
    step: int | None
    schedule: str | None
    line: int | None
    entry: str | None = None
    waits: bool = False  # taken is a completion the task waits for


@dataclass(frozen=True, slots=True)
class PotentialCycle:
    """A cycle of lockdep's dependency graph over every explored execution: lockdep would
    warn; ``reachable_hang`` says whether this scenario can actually hang on it (a deadlock
    or livelock found whose wait-for graph has every lock and completion of the cycle)."""

    cycle: tuple[str, ...]  # node ids, from the first declared
    orders: tuple[PotentialOrder, ...]  # cycle[i] -> cycle[i + 1], the last back to the first
    reachable_hang: bool


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
    # --potential: lockdep's cycles (None: not asked for), and whether every state was walked
    potential: tuple[PotentialCycle, ...] | None = None
    potential_complete: bool = True

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
    } | (
        {"potential": potential_json(result), "potential_complete": result.potential_complete}
        if result.potential is not None
        else {}
    )


def potential_json(result: RunResult) -> list[dict[str, Any]]:
    """``potential`` of the JSON object (``mpsim run --potential``; docs/reports.md)."""
    return [
        {
            "cycle": list(c.cycle),
            "orders": [
                {
                    "from": o.held,
                    "to": o.taken,
                    "task": o.task,
                    "step": o.step,
                    "schedule": o.schedule,
                    "line": o.line,
                    "entry": o.entry,
                }
                for o in c.orders
            ],
            "reachable_hang": c.reachable_hang,
        }
        for c in result.potential or ()
    ]


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
