"""mpsim as a Python library: load, check, run and tabulate scenarios; plain frozen results.

Everything here returns dataclasses of strings, ints and tuples that can be
compared, hashed and printed; nothing prints or exits. Errors are the
exceptions of ``mempool_cli.errors`` (``ScenarioError`` for an invalid
file, with every problem and its position; ``UsageError`` for an unknown
kernel preset; ``EnvironmentProblem`` for an unreadable file).

>>> from mempool_cli import api
>>> path = api.library_path("weiner-2016-abba")
>>> [(r.kernel, r.outcomes, r.status) for r in api.run(path, kernels=["v4.5"])]
[('v4.5', ('deadlock',), 'pass')]
>>> api.exit_status(api.run(path, kernels=["v4.5"]), fail_on={"deadlock"})
1
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mempool_cli.errors import (
    EXIT_FAIL,
    EXIT_INCOMPLETE,
    EXIT_OK,
    EnvironmentProblem,
    MpsimError,
    ScenarioError,
    UsageError,
)

if TYPE_CHECKING:
    from mempool_cli.report import RunResult
    from mempool_cli.scenario import spec

__all__ = [
    "CheckResult",
    "EnvironmentProblem",
    "Finding",
    "MpsimError",
    "Problem",
    "Result",
    "Scenario",
    "ScenarioError",
    "UsageError",
    "check",
    "exit_status",
    "library",
    "library_path",
    "load",
    "matrix",
    "run",
]

Path = str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a scenario file, at a 1-based line and column."""

    file: str
    line: int
    col: int
    message: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What ``check`` says about one file: ``ok``, or its problems."""

    file: str
    ok: bool
    name: str | None
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True, slots=True)
class Scenario:
    """A loaded scenario: what a caller may want to know before running it."""

    file: str
    name: str
    kernel: str
    tasks: tuple[str, ...]
    description: str
    expect: tuple[tuple[str, tuple[str, ...]], ...] | None
    _spec: spec.Scenario = field(repr=False, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class Finding:
    """One outcome a search reached, with the schedule that reaches it."""

    outcome: str
    summary: str
    schedule: str
    replay: str
    waitfor: str
    hints: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Result:
    """One (scenario, kernel) search. ``status`` is ``pass``, ``fail`` or ``incomplete``;
    ``expected`` is None when the file states nothing for this kernel (then ``ok`` is
    expected, in ``run`` and ``matrix`` alike)."""

    scenario: str
    file: str
    kernel: str
    outcomes: tuple[str, ...]
    expected: tuple[str, ...] | None
    status: str
    complete: bool
    stop_reason: str | None
    states: int
    transitions: int
    findings: tuple[Finding, ...]
    _run: RunResult = field(repr=False, compare=False, hash=False)

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def report(self, width: int = 80, style: str = "plain", trace: bool = False) -> str:
        """The text report ``mpsim run`` prints for this result, without colour."""
        from mempool_cli import render

        chosen = render.Style(color=False, width=width, plain=style == "plain")
        return render.run_report([self._run], trace=trace, style=chosen)


def load(path: Path) -> Scenario:
    """Read and validate a scenario file (``-`` is stdin).

    >>> s = load(library_path("rientjes-2016-oom-victim"))
    >>> s.name, s.kernel, s.tasks
    ('rientjes-2016-oom-victim', 'v4.5', ('taskB', 'taskA', 'taskC'))
    """
    from mempool_cli.scenario.loader import load_scenario

    loaded = load_scenario(os.fspath(path))
    expect = None
    if loaded.expect is not None:
        from mempool_cli.report import sort_outcomes

        expect = tuple((k, tuple(sort_outcomes(v))) for k, v in loaded.expect.by_key)
    return Scenario(
        file=loaded.path,
        name=loaded.name,
        kernel=loaded.kernel.name,
        tasks=tuple(t.name for t in loaded.tasks),
        description=loaded.description,
        expect=expect,
        _spec=loaded,
    )


def check(paths: Iterable[Path]) -> list[CheckResult]:
    """Validate files without exploring them; one result per file, problems with positions.

    >>> import tempfile, pathlib
    >>> bad = pathlib.Path(tempfile.mkdtemp()) / "bad.yaml"
    >>> _ = bad.write_text("mpsim: 1\\ntasks:\\n  t: {steps: [mutex_lok: M]}\\n")
    >>> (result,) = check([bad])
    >>> result.ok, result.problems[0].line, result.problems[0].col
    (False, 3, 15)
    """
    from mempool_cli.scenario.loader import load_scenario

    out = []
    for path in paths:
        name = os.fspath(path)
        try:
            loaded = load_scenario(name)
        except ScenarioError as err:
            problems = tuple(Problem(p.path, p.line, p.col, p.message) for p in err.problems)
            out.append(CheckResult(name, False, None, problems))
        else:
            out.append(CheckResult(name, True, loaded.name))
    return out


def run(
    scenario: Scenario | Path,
    kernels: Sequence[str] = (),
    all_kernels: bool = False,
    max_states: int | None = None,
    max_seconds: float | None = None,
    reduce: bool = True,
) -> list[Result]:
    """Explore every interleaving under each kernel (default: the file's own), in this process.

    ``kernels`` are preset names; a file's own knobs (``kernel: {base: ..., KNOB: ...}``)
    are kept on each, as ``mpsim run --kernel`` does.
    """
    from mempool_cli.verdict import Limits, kernels_for, run_scenario

    loaded = scenario if isinstance(scenario, Scenario) else load(scenario)
    limits = Limits(max_states=max_states, max_seconds=max_seconds, reduce=reduce)
    return [
        _result(run_scenario(loaded._spec, k, limits))
        for k in kernels_for(loaded._spec, list(kernels), all_kernels)
    ]


def matrix(
    paths: Iterable[Path], kernels: Sequence[str] = (), max_seconds: float | None = None
) -> list[Result]:
    """Every scenario (directories are searched for *.yaml) under every kernel preset
    (or ``kernels``): the cells of ``mpsim matrix``, in file order then kernel order.

    >>> cells = matrix([library_path("weiner-2016-no-abba")], kernels=["v4.5", "latest"])
    >>> [(c.kernel, c.outcomes, c.passed) for c in cells]
    [('v4.5', (), True), ('latest', (), True)]
    """
    from mempool_cli.commands import expand_paths
    from mempool_cli.scenario.kernels import PRESET_NAMES

    names = list(kernels) or list(PRESET_NAMES)
    files = expand_paths([os.fspath(p) for p in paths])
    return [r for f in files for r in run(f, names, max_seconds=max_seconds)]


def exit_status(results: Sequence[Result], fail_on: Iterable[str] | None = None) -> int:
    """The exit status ``mpsim run`` / ``matrix`` would give these results (0, 1 or 4).

    With ``fail_on``, only those outcomes decide: 1 if some result found one.
    """
    if fail_on is not None:
        gate = frozenset(fail_on)
        if any(gate & set(r.outcomes) for r in results):
            return EXIT_FAIL
    elif any(r.status == "fail" for r in results):
        return EXIT_FAIL
    return EXIT_INCOMPLETE if any(not r.complete for r in results) else EXIT_OK


def library() -> list[str]:
    """The names of the scenarios shipped with mpsim.

    >>> "rientjes-2016-oom-victim" in library()
    True
    """
    from mempool_cli import library as lib

    return [e.name for e in lib.entries()]


def library_path(name: str) -> str:
    """The file of a shipped scenario, by name."""
    from mempool_cli import library as lib

    return str(lib.find(name).path)


def _result(r: RunResult) -> Result:
    from mempool_cli.report import replay_command, sort_outcomes

    return Result(
        scenario=r.scenario,
        file=r.file,
        kernel=r.kernel.name,
        outcomes=tuple(sort_outcomes(r.outcomes)),
        expected=None if r.expected is None else tuple(sort_outcomes(r.expected)),
        status=r.status,
        complete=r.complete,
        stop_reason=r.stop_reason,
        states=r.states,
        transitions=r.transitions,
        findings=tuple(
            Finding(
                f.outcome,
                f.summary,
                f.schedule,
                replay_command(r, f),
                f.waitfor_cycle,
                tuple(f.hints),
            )
            for f in r.findings
        ),
        _run=r,
    )
