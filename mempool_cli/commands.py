"""What each CLI command does, as plain functions over paths and callbacks.

Kept apart from cli.py so the commands can be tested without click and so
the command layer stays a few lines each.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from mempool_cli.errors import (
    EXIT_FAIL,
    EXIT_INCOMPLETE,
    EXIT_INVALID,
    EXIT_OK,
    EnvironmentProblem,
    ScenarioError,
    UsageError,
)
from mempool_cli.explore import Progress
from mempool_cli.report import Limits, RunResult, exit_status, kernels_for, run_scenario, to_json
from mempool_cli.scenario.kernels import PRESET_NAMES
from mempool_cli.scenario.loader import load_scenario
from mempool_cli.scenario.spec import Scenario

Echo = Callable[..., None]


def check(paths: list[str], echo: Echo) -> int:
    """Load every file, print every problem of every file, return the exit status."""
    status = EXIT_OK
    for path in paths:
        try:
            scenario = load_scenario(path)
        except ScenarioError as err:
            echo(str(err), err=True)
            status = EXIT_INVALID
            continue
        echo(f"{path}: ok ({scenario.name}, {len(scenario.tasks)} tasks)")
    return status


def expand_paths(paths: list[str]) -> list[str]:
    """Files as given; a directory becomes its *.yaml / *.yml files, recursively, sorted."""
    from pathlib import Path

    out: list[str] = []
    for path in paths:
        p = Path(path)
        if path != "-" and p.is_dir():
            found = sorted(
                str(f) for f in p.rglob("*") if f.suffix in (".yaml", ".yml") and f.is_file()
            )
            out.extend(found)
        else:
            out.append(path)
    return out


def load_all(paths: list[str]) -> list[Scenario]:
    """Load every file; raise one ScenarioError listing the problems of all of them."""
    scenarios: list[Scenario] = []
    problems = []
    for path in paths:
        try:
            scenarios.append(load_scenario(path))
        except ScenarioError as err:
            problems.extend(err.problems)
    if problems:
        raise ScenarioError(problems)
    return scenarios


def run_all(
    scenarios: list[Scenario],
    kernel_names: list[str],
    all_kernels: bool,
    limits: Limits,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[RunResult]:
    """Every (scenario, kernel) pair, in file order then kernel order."""
    jobs = [(sc, k) for sc in scenarios for k in kernels_for(sc, kernel_names, all_kernels)]
    results = []
    for scenario, kernel in jobs:
        results.append(run_scenario(scenario, kernel, limits, progress, should_stop))
        if should_stop is not None and should_stop():
            break
    return results


# ------------------------------------------------------------ run and friends


def limits(max_states: int | None, max_seconds: float | None, max_memory_mb: int | None) -> Limits:
    """Search limits; the memory limit defaults to half of the machine's RAM so mpsim is never OOM-killed."""
    if max_memory_mb is not None:
        if max_memory_mb <= 0:
            raise UsageError("mpsim: --max-memory must be a positive number of MiB")
        memory = max_memory_mb * 1024 * 1024
    else:
        memory = _total_ram() // 2
    return Limits(max_states=max_states, max_seconds=max_seconds, max_memory=memory)


def _total_ram() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 1024**3


class Stopper:
    """Turns SIGINT / SIGTERM into a flag the explorer polls, so a search ends within a second."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> Stopper:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: object) -> None:
        if self.reason is not None:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.reason = "interrupted"

    def __call__(self) -> bool:
        return self.reason is not None


def run(
    paths: list[str],
    kernel_names: list[str],
    all_kernels: bool,
    fmt: str,
    trace: bool,
    output: str | None,
    lim: Limits,
) -> int:
    from mempool_cli import render

    scenarios = load_all(expand_paths(paths))
    if not scenarios:
        raise UsageError("mpsim: no scenario files found in " + ", ".join(paths))
    with Stopper() as stop:
        results = run_all(scenarios, kernel_names, all_kernels, lim, render.progress_reporter(), stop)
    if fmt == "text":
        text = render.run_report(results, trace=trace, to_terminal=output is None)
    elif fmt == "json":
        text = json.dumps([to_json(r) for r in results], indent=2) + "\n"
    else:
        text = "".join(json.dumps(to_json(r), separators=(",", ":")) + "\n" for r in results)
    emit(text, output)
    return exit_status(results)


def matrix(paths: list[str], kernel_names: list[str], fmt: str, lim: Limits) -> int:
    from mempool_cli import render

    scenarios = load_all(expand_paths(paths))
    if not scenarios:
        raise UsageError("mpsim: no scenario files found in " + ", ".join(paths))
    names = kernel_names or list(PRESET_NAMES)
    with Stopper() as stop:
        results = run_all(scenarios, names, False, lim, render.progress_reporter(), stop)
    if fmt == "json":
        emit(json.dumps([to_json(r) | {"trace": None} for r in results], indent=2) + "\n", None)
    else:
        emit(render.matrix_report(results, names), None)
    return matrix_status(results)


def matrix_status(results: list[RunResult]) -> int:
    """0 when every expectation the files state holds; cells without one are not checked."""
    checked = [r for r in results if r.expected is not None]
    if any(r.certainly_failed for r in checked):
        return EXIT_FAIL
    if any(not r.complete for r in results):
        return EXIT_INCOMPLETE
    return EXIT_OK


def replay(path: str, schedule: str, kernel_name: str | None) -> int:
    from mempool_cli import render
    from mempool_cli.kernel.model import KernelModel
    from mempool_cli.report import parse_schedule, trace_steps

    scenario = load_scenario(path)
    kernel = kernels_for(scenario, [kernel_name] if kernel_name else [], False)[0]
    model = KernelModel(scenario, kernel)
    indices = parse_schedule(model, schedule)
    steps = trace_steps(model, model.initial(), indices)
    state = model.initial()
    for i in indices:
        state = model.successors(state)[i][1]
    emit(render.replay_report(model, scenario, kernel, steps, state), None)
    return EXIT_OK


def emit(text: str, output: str | None) -> None:
    """Print, or write ``output`` atomically: a temp file beside it, then rename."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    target = os.path.abspath(output)
    directory = os.path.dirname(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".mpsim-", dir=directory)
    except OSError as err:
        raise EnvironmentProblem(f"mpsim: cannot write {output}: {err.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, target)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise EnvironmentProblem(f"mpsim: cannot write {output}: {err.strerror}") from None
