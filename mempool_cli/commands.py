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
    Incomplete,
    ScenarioError,
    UsageError,
    printable,
)
from mempool_cli.explore import Progress
from mempool_cli.parallel import default_workers, run_jobs
from mempool_cli.report import RunResult, exit_status, to_json
from mempool_cli.scenario.kernels import PRESET_NAMES
from mempool_cli.scenario.loader import load_scenario
from mempool_cli.scenario.spec import Scenario
from mempool_cli.verdict import Limits, kernels_for, preset_for, run_scenario

Echo = Callable[..., None]


def check(paths: list[str], echo: Echo) -> int:
    """Load every file, print every problem of every file, return the exit status.

    A valid file's notes (each gfp flag the model ignores, once) go to
    stderr before its ``ok`` line; they do not change the exit status.
    A file that cannot be read does not stop the others from being checked:
    the status is 3 if some file is invalid, else 2 if some could not be read.
    """
    invalid = unreadable = False
    for path in paths:
        try:
            scenario = load_scenario(path)
        except ScenarioError as err:
            echo(printable(str(err)), err=True)
            invalid = True
            continue
        except EnvironmentProblem as err:
            echo(printable(str(err)), err=True)
            unreadable = True
            continue
        for note in scenario.notes:
            echo(printable(note.render()), err=True)
        echo(printable(f"{scenario.path}: ok ({scenario.name}, {len(scenario.tasks)} tasks)"))
    if invalid:
        return EXIT_INVALID
    return EnvironmentProblem.exit_code if unreadable else EXIT_OK


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
    """Load every file; raise one error listing the problems of all of them.

    That is a ScenarioError, or an EnvironmentProblem (exit 2) if some file
    could not be read at all: its message then also holds every problem
    found in the files that could be read, so none is lost.
    """
    scenarios: list[Scenario] = []
    problems = []
    unreadable: list[str] = []
    for path in paths:
        try:
            scenarios.append(load_scenario(path))
        except ScenarioError as err:
            problems.extend(err.problems)
        except EnvironmentProblem as err:
            unreadable.append(str(err))
    if unreadable:
        rendered = [str(ScenarioError(problems))] if problems else []
        raise EnvironmentProblem("\n".join(unreadable + rendered))
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
    """Every (scenario, kernel) pair, in file order then kernel order, on every core.

    A single job runs here, with progress on stderr; several run in worker
    processes (see parallel.py), which keep the output order. After a
    Ctrl-C every job still has its result, ``incomplete: interrupted`` for
    those not started, so the report shows what was never searched; a job
    whose worker was killed is ``incomplete: worker-died``.
    """
    jobs = [(sc, k) for sc in scenarios for k in kernels_for(sc, kernel_names, all_kernels)]
    workers = min(default_workers(), len(jobs))
    if workers > 1:
        return run_jobs(jobs, limits, workers, should_stop)
    return [run_scenario(sc, k, limits, progress, should_stop) for sc, k in jobs]


# ------------------------------------------------------------ run and friends


def limits(
    max_states: int | None,
    max_seconds: float | None,
    max_memory_mb: int | None,
    reduce: bool = True,
) -> Limits:
    """Search limits; memory defaults to half of the machine's RAM, so mpsim is never OOM-killed."""
    if max_memory_mb is not None:
        if max_memory_mb <= 0:
            raise UsageError("mpsim: --max-memory must be a positive number of MiB")
        memory = max_memory_mb * 1024 * 1024
    else:
        memory = _total_ram() // 2
    return Limits(max_states=max_states, max_seconds=max_seconds, max_memory=memory, reduce=reduce)


# A container's memory limit, cgroup v2 then v1: "max" or a huge number when there is none.
_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def _total_ram() -> int:
    """The memory this process may use: the machine's, or its container's if that is less."""
    total = 4 * 1024**3
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                total = int(line.split()[1]) * 1024
                break
    for path in _CGROUP_LIMITS:
        with contextlib.suppress(OSError, ValueError), open(path) as f:
            text = f.read().strip()
            if text != "max" and 0 < int(text) < total:
                total = int(text)
    return total


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
        if self.reason is not None:
            _exit_now()
        self.reason = "interrupted"

    def __call__(self) -> bool:
        return self.reason is not None


def _best_effort(progress: Callable[[Progress], None]) -> Callable[[Progress], None]:
    """``progress``, silenced for good the first time stderr refuses it (closed, full, a pipe
    nobody reads): losing a progress line must not lose the search."""
    broken = False

    def report(p: Progress) -> None:
        nonlocal broken
        if not broken:
            try:
                progress(p)
            except (OSError, ValueError, AttributeError):
                broken = True

    return report


def _exit_now() -> None:
    """A second Ctrl-C: no report, worker processes killed, exit 4 at once.

    Not a KeyboardInterrupt: raised inside a process pool's shutdown it
    leaves idle workers that the interpreter then waits for at exit, for
    ever. Nothing is being written at this point (reports are written
    after the search, with the default handlers back), so no temp file is
    left behind.
    """
    multiprocessing = sys.modules.get("multiprocessing")
    for child in multiprocessing.active_children() if multiprocessing else ():
        with contextlib.suppress(OSError):
            child.kill()
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write("mpsim: interrupted\n")
        sys.stderr.flush()
    os._exit(EXIT_INCOMPLETE)


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

    files = expand_paths(paths)
    refuse_overwriting(output, files)
    scenarios = load_all(files)
    if not scenarios:
        raise UsageError("mpsim: no scenario files found in " + ", ".join(paths))
    with Stopper() as stop, render.progress_reporter() as progress:
        results = run_all(scenarios, kernel_names, all_kernels, lim, _best_effort(progress), stop)
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
    names = [preset_for(n)[0] for n in kernel_names] or list(PRESET_NAMES)
    with Stopper() as stop, render.progress_reporter() as progress:
        results = run_all(scenarios, names, False, lim, _best_effort(progress), stop)
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
    from mempool_cli.verdict import replay_schedule

    scenario = load_scenario(path)
    kernel = kernels_for(scenario, [kernel_name] if kernel_name else [], False)[0]
    emit(render.replay_report(replay_schedule(scenario, kernel, schedule)), None)
    return EXIT_OK


def graph(
    path: str,
    kernel_name: str | None,
    finding: int | None,
    output: str | None,
    states: bool,
    fmt: str,
    lim: Limits,
) -> int:
    """DOT (or svg/png via Graphviz) of a finding's wait-for graph, or of the state graph."""
    from mempool_cli.analysis import dot
    from mempool_cli.kernel.model import KernelModel
    from mempool_cli.report import HANG_OUTCOMES
    from mempool_cli.verdict import concrete, parse_schedule

    refuse_overwriting(output, [path])
    scenario = load_scenario(path)
    kernel = kernels_for(scenario, [kernel_name] if kernel_name else [], False)[0]
    title = f"{scenario.name} under {kernel.name}"
    if states:
        model = concrete(KernelModel(scenario, kernel))
        dot.state_graph(model)  # refuses a big scenario before the search below
    result = run_scenario(scenario, kernel, lim)
    findings = result.findings
    if finding is not None and not 1 <= finding <= len(findings):
        has = f"findings 1 to {len(findings)}" if findings else "no findings"
        if not result.complete:
            has += f" before the search stopped ({result.stop_reason})"
        elif not findings:
            has += " (it is ok)"
        raise UsageError(f"mpsim graph: --finding {finding}: {title} has {has}")
    if states:
        chosen = findings[(finding or 1) - 1] if findings else None
        path_steps = parse_schedule(model, chosen.schedule) if chosen else []
        loop: list[int] = []
        if chosen and chosen.cycle:
            loop = parse_schedule(model, chosen.schedule + "," + chosen.cycle)[len(path_steps) :]
        none = "ok" if result.complete else "nothing found before the search stopped"
        label = f"{title}: {chosen.outcome} in red" if chosen else f"{title}: {none}"
        text = dot.states_dot(model, path_steps, loop, label)
    else:
        hangs = [i for i, f in enumerate(findings, 1) if f.outcome in HANG_OUTCOMES]
        number = finding if finding is not None else (hangs[0] if hangs else None)
        if number is None and not result.complete:
            raise Incomplete(
                f"mpsim graph: no wait-for graph for {title}: the search stopped early "
                f"({result.stop_reason}) before it found a deadlock or livelock"
            )
        if number is None or number not in hangs:
            found = ", ".join(sorted(result.outcomes)) or "ok"
            what = (
                f"finding {number} is {findings[number - 1].outcome}, not a hang"
                if number is not None
                else f"it has no deadlock or livelock (outcomes: {found})"
            )
            raise UsageError(
                f"mpsim graph: no wait-for graph for {title}: {what}; "
                "--states draws the state graph instead"
            )
        chosen = findings[number - 1]
        text = dot.waitfor_dot(chosen.waitfor, f"{title}: {chosen.outcome} (finding {number})")
    if fmt == "dot":
        emit(text + ("" if text.endswith("\n") else "\n"), output)
    else:
        emit_bytes(dot.render_graphviz(text, fmt), output)
    return EXIT_OK if result.complete else EXIT_INCOMPLETE


def emit_bytes(data: bytes, output: str | None) -> None:
    """Binary output (svg, png): to ``output`` atomically, else to stdout's buffer."""
    if output is None:
        stream = _stdout()
        stream.buffer.write(data)
        stream.buffer.flush()
        return
    _write_atomically(data, output)


def emit(text: str, output: str | None) -> None:
    """Print, or write ``output`` atomically: a temp file beside it, then rename."""
    if output is None:
        stream = _stdout()
        buffer = getattr(stream, "buffer", None)
        if buffer is None:
            stream.write(text)
        else:
            stream.flush()
            buffer.write(_encode(text, getattr(stream, "encoding", None) or "utf-8"))
        stream.flush()
        return
    _write_atomically(_encode(text, "utf-8"), output)


def _encode(text: str, encoding: str) -> bytes:
    r"""``text`` in ``encoding``; a file name's undecodable bytes go out as they came in.

    >>> _encode("run \udcff.yaml", "utf-8")
    b'run \xff.yaml'
    """
    try:
        return text.encode(encoding, "surrogateescape")
    except UnicodeEncodeError:  # a terminal that cannot show some character of the report
        return text.encode(encoding, "replace")


def _stdout() -> Any:
    if sys.stdout is None:  # started with stdout closed (`mpsim run x >&-`)
        raise EnvironmentProblem("mpsim: cannot write the report: standard output is closed")
    return sys.stdout


def _write_atomically(data: bytes, output: str) -> None:
    """A temp file beside ``output``, renamed over it: a reader never sees half a report.

    Whatever stops the write (a full disk, a second Ctrl-C) removes the
    temp file and leaves an existing ``output`` as it was. The file gets
    the mode a plain ``open`` would have given it (an existing file's
    mode, else 0666 less the umask), not mkstemp's 0600.
    """
    target = os.path.abspath(output)
    try:
        mode = os.stat(target).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    try:
        fd, tmp = tempfile.mkstemp(prefix=".mpsim-", suffix=".tmp", dir=os.path.dirname(target))
    except OSError as err:
        raise EnvironmentProblem(f"mpsim: cannot write {output}: {err.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise EnvironmentProblem(f"mpsim: cannot write {output}: {err.strerror}") from None
        raise


def refuse_overwriting(output: str | None, inputs: list[str]) -> None:
    """A usage error when ``-o`` names one of the scenario files: mpsim never writes those."""
    if output is None or not os.path.exists(output):
        return
    for path in inputs:
        with contextlib.suppress(OSError):
            if path != "-" and os.path.samefile(output, path):
                raise UsageError(f"mpsim: -o {output} would overwrite the scenario file {path}")
