"""What each CLI command does, as plain functions over paths and callbacks.

Kept apart from cli.py so the commands can be tested without click and so
the command layer stays a few lines each.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mempool_cli import sweep as sw
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
from mempool_cli.scenario.kernels import PRESET_NAMES, Kernel
from mempool_cli.scenario.loader import load_scenario, read_source
from mempool_cli.scenario.spec import Scenario
from mempool_cli.verdict import Limits, kernels_for, preset_for, run_scenario, unexplored

Echo = Callable[..., None]


def check(paths: list[str], echo: Echo, fmt: str = "text", width: int | None = None) -> int:
    """Load every file, print every problem of every file, return the exit status.

    A valid file's notes (each gfp flag the model ignores, once) go to
    stderr before its ``ok`` line; they do not change the exit status.
    A file that cannot be read does not stop the others from being checked:
    the status is 3 if some file is invalid, else 2 if some could not be read.
    ``width`` cuts echoed source lines to that many columns (the
    ``FILE:LINE:COL`` lines stay whole). ``fmt`` ``json`` prints one array
    of problems (and notes, ``kind: note``)
    on stdout; ``github`` prints each as a GitHub Actions ``::error`` (or
    ``::notice``) annotation.
    """
    invalid = unreadable = False
    found: list[dict[str, Any]] = []
    for path in paths:
        try:
            scenario = load_scenario(path)
        except ScenarioError as err:
            invalid = True
            for p in err.problems:
                found.append(
                    {
                        "file": printable(p.path),
                        "line": p.line,
                        "col": p.col,
                        "message": p.message,
                        "kind": "invalid",
                    }
                )
            if fmt == "text":
                echo(printable(err.render(width)), err=True)
            continue
        except EnvironmentProblem as err:
            unreadable = True
            found.append(
                {
                    "file": printable(path),
                    "line": None,
                    "col": None,
                    "message": str(err),
                    "kind": "unreadable",
                }
            )
            if fmt == "text":
                echo(printable(str(err)), err=True)
            continue
        for note in scenario.notes:
            found.append(
                {
                    "file": printable(note.path),
                    "line": note.line,
                    "col": note.col,
                    "message": note.message,
                    "kind": "note",
                }
            )
            if fmt == "text":
                echo(printable(note.render(width)), err=True)
        if fmt == "text":
            echo(printable(f"{scenario.path}: ok ({scenario.name}, {len(scenario.tasks)} tasks)"))
    if fmt == "json":
        echo(json.dumps(found, indent=2))
    elif fmt == "github":
        for item in found:
            echo(github_annotation(item))
    if invalid:
        return EXIT_INVALID
    return EnvironmentProblem.exit_code if unreadable else EXIT_OK


def github_annotation(problem: dict[str, Any]) -> str:
    """A problem as a GitHub Actions workflow command, escaped as the runner expects
    (``::notice`` for a note, ``::error`` for the rest).

    >>> github_annotation({"file": "a.yaml", "line": 3, "col": 7, "message": "bad: 50%"})
    '::error file=a.yaml,line=3,col=7::bad: 50%25'
    >>> github_annotation({"file": "a.yaml", "line": 1, "col": 2, "message": "m", "kind": "note"})
    '::notice file=a.yaml,line=1,col=2::m'
    """

    def escape(text: str, prop: bool = False) -> str:
        text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        return text.replace(":", "%3A").replace(",", "%2C") if prop else text

    where = f"file={escape(problem['file'], True)}"
    if problem.get("line") is not None:
        where += f",line={problem['line']},col={problem['col']}"
    command = "notice" if problem.get("kind") == "note" else "error"
    return f"::{command} {where}::{escape(problem['message'])}"


def expand_paths(paths: list[str]) -> list[str]:
    """Files as given; a directory becomes its *.yaml / *.yml files, recursively, sorted.

    A path that cannot even be looked at stays as given, for the loader to
    name in its one-line error; a directory (or one below it) that cannot
    be listed is that error here: "no scenario files found" would hide it.
    """
    out: list[str] = []
    for path in paths:
        try:
            is_dir = path != "-" and stat.S_ISDIR(os.stat(path).st_mode)
        except (OSError, ValueError):  # permission, loop, name too long, NUL: the loader says
            is_dir = False
        if not is_dir:
            out.append(path)
            continue
        found: list[str] = []
        for top, dirs, files in os.walk(path, onerror=_unlistable):
            dirs.sort()
            found.extend(os.path.join(top, f) for f in files if f.endswith((".yaml", ".yml")))
        out.extend(sorted(f for f in found if _scenario_file(f)))
    return out


def _scenario_file(path: str) -> bool:
    """A regular file, or one whose kind cannot be told (the loader then says why)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:  # a dangling symlink
        return False
    except OSError:
        return True


def _unlistable(err: OSError) -> None:
    raise EnvironmentProblem(
        f"mpsim: {err.filename}: cannot list the directory: {err.strerror or err}"
    )


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
    on_result: Callable[[RunResult], None] | None = None,
    executor: Executor | None = None,
) -> list[RunResult]:
    """Every (scenario, kernel) pair, in file order then kernel order, on every core.

    ``on_result`` hears of each result as soon as it is known (completion order).

    A single job runs here, with progress on stderr; several run in worker
    processes (see parallel.py), which keep the output order; ``executor``
    dask runs them on a cluster (cluster.py) instead. After a
    Ctrl-C every job still has its result, ``incomplete: interrupted`` for
    those not started, so the report shows what was never searched; a job
    whose worker was killed is ``incomplete: worker-died``.
    """
    jobs = [(sc, k) for sc in scenarios for k in kernels_for(sc, kernel_names, all_kernels)]
    tell = (lambda _i, r: on_result(r)) if on_result is not None else None
    return execute(jobs, limits, executor or Executor(), progress, should_stop, tell)


def run_within_memory(
    scenario: Scenario,
    kernel: Kernel,
    limits: Limits,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunResult:
    """``run_scenario``; a MemoryError that escapes the search (which turns its own into a
    partial result) makes the job ``incomplete: memory limit``, never an internal error."""
    started = time.monotonic()
    try:
        return run_scenario(scenario, kernel, limits, progress, should_stop)
    except MemoryError:
        return unexplored(scenario, kernel, "max-memory", time.monotonic() - started)


# ------------------------------------------------------------ run and friends


def limits(
    max_states: int | None,
    max_seconds: float | None,
    max_memory_mb: int | None,
    reduce: bool = True,
    potential: bool = False,
) -> Limits:
    """Search limits; memory defaults to ``default_memory()``, so mpsim is never OOM-killed."""
    if max_memory_mb is not None:
        if max_memory_mb <= 0:
            raise UsageError("mpsim: --max-memory must be a positive number of MiB")
        memory = max_memory_mb * 1024 * 1024
    else:
        memory = default_memory()
    return Limits(
        max_states=max_states,
        max_seconds=max_seconds,
        max_memory=memory,
        reduce=reduce,
        potential=potential,
    )


# A container's memory limit, cgroup v2 then v1: "max" or a huge number when there is none.
_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def default_memory() -> int:
    """The default memory limit: the smallest of half the RAM (or of the container's limit)
    and 80 % of this process's ``ulimit -v`` / ``ulimit -d``, which Python meets as a
    MemoryError rather than as a resident size the search can watch.

    >>> 0 < default_memory() <= _total_ram() // 2
    True
    """
    import resource

    limits = [_total_ram() // 2]
    for which in (resource.RLIMIT_AS, resource.RLIMIT_DATA):
        with contextlib.suppress(OSError, ValueError):
            soft = resource.getrlimit(which)[0]
            if soft != resource.RLIM_INFINITY and soft > 0:
                limits.append(soft * 4 // 5)
    return min(limits)


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


@dataclass(frozen=True, slots=True)
class View:
    """How a text report is drawn: ``--width`` (None: the terminal's) and ``--style``."""

    width: int | None = None
    style: str = "boxed"


def fail_on_outcomes(text: str | None) -> frozenset[str] | None:
    """``--fail-on deadlock,livelock`` as a set of outcomes; a usage error for an unknown one.

    >>> sorted(fail_on_outcomes("livelock, deadlock"))
    ['deadlock', 'livelock']
    """
    if text is None:
        return None
    from mempool_cli.scenario.spec import OUTCOMES

    names = [n.strip() for n in text.split(",") if n.strip()]
    known = [o for o in OUTCOMES if o != "ok"]
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise UsageError(
            f"mpsim: --fail-on {text!r}: "
            + (f"unknown outcome '{bad[0]}'; " if bad else "no outcome given; ")
            + f"known: {', '.join(known)}"
        )
    return frozenset(names)


def gate(results: list[RunResult], fail_on: frozenset[str] | None) -> int:
    """The exit status: against each file's ``expect``, or, with ``--fail-on``, against those
    outcomes alone (1 if some run found one, even a search cut short; else 4 if a search was
    cut short; else 0), whatever ``expect`` says."""
    if fail_on is None:
        return exit_status(results)
    if any(r.outcomes & fail_on for r in results):
        return EXIT_FAIL
    return EXIT_INCOMPLETE if any(not r.complete for r in results) else EXIT_OK


def run(
    paths: list[str],
    kernel_names: list[str],
    all_kernels: bool,
    fmt: str,
    trace: bool,
    output: str | None,
    lim: Limits,
    view: View = View(),
    fail_on: frozenset[str] | None = None,
    where: Executor | None = None,
) -> int:
    from mempool_cli import render

    files = expand_paths(paths)
    refuse_overwriting(output, files)
    scenarios = load_all(files)
    if not scenarios:
        raise UsageError("mpsim: no scenario files found in " + ", ".join(paths))
    stream: Callable[[RunResult], None] | None = None
    streamed: list[str] = []
    if fmt == "jsonl":  # each line as its search ends, so a slow one holds up nothing

        def stream(r: RunResult) -> None:
            line = json.dumps(to_json(r), separators=(",", ":")) + "\n"
            if output is None:
                emit(line, None)
            else:
                streamed.append(line)

    with Stopper() as stop, render.progress_reporter() as progress:
        results = run_all(
            scenarios, kernel_names, all_kernels, lim, _best_effort(progress), stop, stream, where
        )
    if fmt == "text":
        stdout = sys.stdout if output is None else None
        style = render.Style.for_stream(stdout or io.StringIO(), view.width, view.style)
        emit(render.run_report(results, trace=trace, style=style), output)
    elif fmt == "json":
        emit(json.dumps([to_json(r) for r in results], indent=2) + "\n", output)
    elif output is not None:
        emit("".join(streamed), output)
    return gate(results, fail_on)


def matrix(
    paths: list[str],
    kernel_names: list[str],
    fmt: str,
    lim: Limits,
    view: View = View(),
    fail_on: frozenset[str] | None = None,
    where: Executor | None = None,
) -> int:
    from mempool_cli import render

    scenarios = load_all(expand_paths(paths))
    if not scenarios:
        raise UsageError("mpsim: no scenario files found in " + ", ".join(paths))
    names = [preset_for(n)[0] for n in kernel_names] or list(PRESET_NAMES)
    with Stopper() as stop, render.progress_reporter() as progress:
        results = run_all(scenarios, names, False, lim, _best_effort(progress), stop, None, where)
    if fmt == "json":
        emit(json.dumps([to_json(r) | {"trace": None} for r in results], indent=2) + "\n", None)
    else:
        style = render.Style.for_stream(sys.stdout, view.width, view.style)
        emit(render.matrix_report(results, names, style=style), None)
    return gate(results, fail_on)


def matrix_status(results: list[RunResult]) -> int:
    """The same rule as ``run``: a cell whose file states no expectation is expected ``ok``."""
    return exit_status(results)


def join_schedule(pieces: list[str]) -> str:
    """A schedule given as several arguments (a report wraps a long one): one, comma-joined.

    >>> join_schedule(["taskA,taskB,", "taskB#1", "reaper@taskC"])
    'taskA,taskB,taskB#1,reaper@taskC'
    """
    return ",".join(p.strip(",") for p in pieces if p.strip(","))


def replay(path: str, schedule: str, kernel_name: str | None, view: View = View()) -> int:
    from mempool_cli import render
    from mempool_cli.verdict import replay_schedule

    scenario = load_scenario(path)
    kernel = kernels_for(scenario, [kernel_name] if kernel_name else [], False)[0]
    style = render.Style.for_stream(sys.stdout, view.width, view.style)
    emit(render.replay_report(replay_schedule(scenario, kernel, schedule), style=style), None)
    return EXIT_OK


def kernels(view: View = View()) -> int:
    from mempool_cli import render

    emit(render.kernels_report(render.Style.for_stream(sys.stdout, view.width, view.style)), None)
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
    if fmt == "png" and output is None and _stdout().isatty():
        raise UsageError(
            "mpsim graph: --format png is binary and stdout is a terminal; "
            "write it with -o FILE or pipe it (| display)"
        )
    scenario = load_scenario(path)
    kernel = kernels_for(scenario, [kernel_name] if kernel_name else [], False)[0]
    title = f"{scenario.name} under {kernel.name}"
    if states:
        model = concrete(KernelModel(scenario, kernel))
        dot.state_graph(model)  # refuses a big scenario before the search below
    result = run_within_memory(scenario, kernel, lim)
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
    """Write ``data`` to ``output`` without damaging whatever ``output`` is.

    A regular file or a new path gets a temp file beside it, renamed over
    it: a reader never sees half a report, and whatever stops the write (a
    full disk, a second Ctrl-C) removes the temp file and leaves an
    existing file as it was. The file gets the mode a plain ``open`` would
    have given it (an existing file's mode, else 0666 less the umask), not
    mkstemp's 0600. A symlink is followed, and what it points to gets the
    same treatment; a device, FIFO or socket is written through, never
    replaced (a rename over ``/dev/null`` would leave a regular file there).
    """
    target = os.path.realpath(output)  # a symlink stays; what it names is written
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as err:
        raise EnvironmentProblem(f"mpsim: cannot write {output}: {err.strerror}") from None
    if mode is not None and not stat.S_ISREG(mode):
        _write_through(data, output, target)
        return
    if mode is None:
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
            os.fchmod(f.fileno(), stat.S_IMODE(mode))
        os.replace(tmp, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise EnvironmentProblem(f"mpsim: cannot write {output}: {err.strerror}") from None
        raise


def _write_through(data: bytes, output: str, target: str) -> None:
    """``data`` written into the device or FIFO ``target`` itself, as a shell's ``>`` would.

    No temp file and no truncation: a device has no contents to replace.
    A write the device refuses (ENOSPC from ``/dev/full``, EPIPE from a
    FIFO whose reader left) is the environment's error, not a bug.
    """
    try:
        fd = os.open(target, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as err:
        raise EnvironmentProblem(f"mpsim: cannot write {output}: {err.strerror}") from None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as err:
        raise EnvironmentProblem(f"mpsim: cannot write {output}: {err.strerror}") from None
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


def check_output(output: str | None) -> None:
    """A usage error for ``-o ''``, before any search: it names no file at all."""
    if output == "":
        raise UsageError("mpsim: -o needs a file name (leave -o out to print to standard output)")


def refuse_overwriting(output: str | None, inputs: list[str]) -> None:
    """A usage error when ``-o`` names one of the scenario files: mpsim never writes those."""
    check_output(output)
    if output is None or not os.path.exists(output):
        return
    for path in inputs:
        with contextlib.suppress(OSError):
            if path != "-" and os.path.samefile(output, path):
                raise UsageError(f"mpsim: -o {output} would overwrite the scenario file {path}")


# ---------------------------------------------------------------- library


def library_list(view: View = View()) -> int:
    """``mpsim library``: every shipped scenario with the first sentence of its description."""
    from mempool_cli import library, render

    style = render.Style.for_stream(sys.stdout, view.width, view.style)
    rows = [(e.name, e.topic, e.summary) for e in library.entries()]
    emit(render.library_report(rows, str(library.library_root()), style), None)
    return EXIT_OK


def library_copy(name: str, dest: str | None, force: bool, echo: Echo) -> int:
    """Copy a shipped scenario out, its schema modeline pointing beside the copy."""
    from mempool_cli import library

    entry = library.find(name)
    target = dest or f"{entry.name}.yaml"
    if os.path.isdir(target):
        target = os.path.join(target, f"{entry.name}.yaml")
    if os.path.exists(target) and not force:
        raise UsageError(f"mpsim library copy: {target} exists (--force overwrites it)")
    text = library.with_local_schema(entry.path.read_text(encoding="utf-8"))
    _write_atomically(text.encode("utf-8"), target)
    schema = os.path.join(os.path.dirname(target), "mpsim-schema.json")
    echo(printable(f"{target}: copied; `mpsim schema > {schema}` gives editors its schema"))
    return EXIT_OK


# ------------------------------------------------------------ executors, sweep


@dataclass(frozen=True, slots=True)
class Executor:
    """Where searches run: ``local`` (this machine's process pool, every core) or ``dask``
    (the cluster at ``scheduler``, or a LocalCluster started for the run)."""

    kind: str = "local"
    scheduler: str | None = None


def executor(kind: str, scheduler: str | None) -> Executor:
    """``--executor`` and ``--scheduler``; an address needs the dask executor."""
    if scheduler is not None and kind != "dask":
        raise UsageError("mpsim: --scheduler ADDRESS needs --executor dask")
    return Executor(kind, scheduler)


def execute(
    jobs: list[tuple[Scenario, Kernel]],
    lim: Limits,
    where: Executor,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_result: Callable[[int, RunResult], None] | None = None,
) -> list[RunResult]:
    """One result per job, in job order, on ``where``; ``on_result(index, result)`` in
    completion order. One local job runs in this process, with ``progress``."""
    if where.kind == "dask":
        from mempool_cli import cluster

        return cluster.run_jobs(jobs, lim, where.scheduler, should_stop, on_result)
    workers = min(default_workers(), len(jobs))
    if workers > 1:
        return run_jobs(jobs, lim, workers, should_stop, on_result)
    results = []
    for index, (sc, k) in enumerate(jobs):
        results.append(run_within_memory(sc, k, lim, progress, should_stop))
        if on_result is not None:
            on_result(index, results[-1])
    return results


def sweep(
    path: str,
    params: list[str],
    kernel_names: list[str],
    all_kernels: bool,
    fmt: str,
    output: str | None,
    plot_path: str | None,
    lim: Limits,
    where: Executor = Executor(),
    view: View = View(),
) -> int:
    """``mpsim sweep``: every point of the grid under every kernel; the table, the boundary.

    Exit 0 when every search is complete, 4 when some was cut short (its
    cells say so, never ``ok``).
    """
    from mempool_cli import render

    if not params:
        raise UsageError("mpsim sweep: give at least one --param KEY=VALUES")
    parsed = [sw.parse_param(p) for p in params]
    refuse_overwriting(output, [path])
    plot_fmt = None
    if plot_path is not None:
        from mempool_cli import plot

        refuse_overwriting(plot_path, [path])
        plot_fmt = plot.check(plot_path, len(parsed))
    planned = sw.plan(load_scenario(path), parsed, kernel_names, all_kernels)
    cells_of: dict[int, list[tuple[int, int]]] = {}
    for i, row in enumerate(planned.job_of):
        for c, j in enumerate(row):
            cells_of.setdefault(j, []).append((i, c))
    streamed: list[str] = []
    total = sum(len(row) for row in planned.job_of)
    progress = render.CountProgress(total, "(point, kernel) pairs")

    def tell(j: int, r: RunResult) -> None:  # jsonl: each cell as its search ends
        if r.complete or r.states:  # not one a stop kept from starting
            progress.add(len(cells_of[j]))
        if fmt != "jsonl":
            return
        for i, c in cells_of[j]:
            cell = sw.cell(r, planned.kernels[i][c], j)
            line = json.dumps(sw.cell_json(planned.params, planned.points[i].values, cell))
            if output is None:
                emit(line + "\n", None)
            else:
                streamed.append(line + "\n")

    with Stopper() as stop, progress:
        results = execute(list(planned.jobs), lim, where, None, stop, tell)
    done = sw.assemble(planned, results)
    if fmt == "json":
        emit(json.dumps(sw.to_json(done), indent=2) + "\n", output)
    elif fmt == "csv":
        emit(sw.to_csv(done), output)
    elif fmt == "jsonl":
        if output is not None:
            emit("".join(streamed), output)
    else:
        stdout = sys.stdout if output is None else None
        style = render.Style.for_stream(stdout or io.StringIO(), view.width, view.style)
        rows = [([str(v) for v in vs], [(c.text, c.status) for c in cs]) for vs, cs in done.points]
        keys = [p.key for p in done.params]
        emit(render.sweep_report(keys, done.columns, rows, sweep_notes(done), style), output)
    if plot_path is not None and plot_fmt is not None:
        _write_atomically(sweep_picture(done, plot_fmt), plot_path)
    return EXIT_OK if done.complete else EXIT_INCOMPLETE


def sweep_notes(done: sw.Sweep) -> list[str]:
    """The lines under a sweep's table: how many searches, the boundary, what was cut."""
    cells = sum(len(cs) for _, cs in done.points)
    shared = f" ({cells - done.searches} shared a search)" if done.searches < cells else ""
    notes = [
        f"{len(done.points)} points under {len(done.columns)} kernel"
        f"{'s' if len(done.columns) != 1 else ''}: {done.searches} searches{shared}"
    ]
    notes += [f"boundary: {line}" for line in sw.boundary(done)]
    cut = sum(1 for _, cs in done.points for c in cs if not c.complete)
    if cut:
        notes.append(f"INCOMPLETE: {cut} cells cut short; none of them counts as ok")
    return notes


def sweep_picture(done: sw.Sweep, fmt: str) -> bytes:
    """The ``--plot`` image of a sweep (one or two parameters)."""
    from mempool_cli import plot, render

    cells: dict[tuple[object, ...], list[tuple[str, str, str]]] = {
        values: [(render.sweep_code(c.text), c.status, c.text) for c in cs]
        for values, cs in done.points
    }
    keys = [p.key for p in done.params]
    title = f"{done.scenario}: outcomes by {' and '.join(keys)}"
    return plot.sweep_plot(fmt, title, keys, [p.values for p in done.params], done.columns, cells)


# ------------------------------------------------------------------ shrink


def shrink(
    path: str,
    kernel_name: str | None,
    outcome: str | None,
    max_seconds: float | None,
    output: str | None,
    echo: Echo,
) -> int:
    """``mpsim shrink``: the smallest scenario that still shows the outcome, as YAML on
    stdout or in ``output``; a line on stderr says what it kept. Exit 0, or 4 when
    ``max_seconds`` stopped it before a fixpoint (the file written still shows it)."""
    from mempool_cli.scenario.loader import STDIN_NAME, load_text
    from mempool_cli.shrink import shrink as shrink_scenario

    refuse_overwriting(output, [path])
    if outcome is not None:
        fail_on_outcomes(outcome)  # the same check of the name
    name = STDIN_NAME if path == "-" else path
    raw = read_source(path)
    load_text(raw, name)  # every problem of an invalid file, as `check` shows them
    result = shrink_scenario(raw.decode("utf-8"), name, kernel_name, outcome, max_seconds)
    emit(result.text, output)
    cut = "" if result.complete else "; stopped at --max-seconds"
    echo(
        printable(
            f"mpsim shrink: {name}: {result.outcome} under {result.kernel}, size "
            f"{result.before} -> {result.after} ({result.candidates} candidates tried{cut})"
        ),
        err=True,
    )
    return EXIT_OK if result.complete else EXIT_INCOMPLETE


# ---------------------------------------------------------------- import lockdep

# A console log holding a report can be long; a draft needs only the report in it.
_REPORT_BYTES = 8 * 1024 * 1024


def import_lockdep(path: str, output: str | None, name: str | None, echo: Echo) -> int:
    """``mpsim import lockdep``: parse the report, write the draft, check that it loads.

    A report that cannot be read is a ``ReportError`` (exit 3); a draft the
    loader refuses is a bug in mpsim, not in the report.
    """
    from mempool_cli.lockdep.draft import draft_scenario, yaml_name
    from mempool_cli.lockdep.parse import parse_report
    from mempool_cli.scenario.loader import STDIN_NAME, load_text

    refuse_overwriting(output, [path])
    shown = STDIN_NAME if path == "-" else path
    text = _read_report(path).decode("utf-8", "replace")
    report = parse_report(text, printable(shown))
    stem = "lockdep-import" if path == "-" else os.path.splitext(os.path.basename(path))[0]
    scenario_name = name or yaml_name(stem)
    draft = draft_scenario(report, scenario_name, printable(os.path.basename(shown)))
    try:
        scenario = load_text(draft, output or "<draft>")
    except ScenarioError as err:  # the drafter wrote something the format refuses
        raise AssertionError(f"the draft of {shown} does not load:\n{err}") from None
    emit(draft, output)
    if output is not None:
        assumed = draft.count("\n# assumed: ")
        tasks = len(scenario.tasks)
        echo(
            printable(
                f"{output}: drafted {scenario.name} ({report.kind}, {tasks} "
                f"task{'s' if tasks != 1 else ''}, {assumed} assumed); check the '# assumed:' "
                f"lines, then `mpsim run {output}`"
            ),
            err=True,
        )
    return EXIT_OK


def _read_report(path: str) -> bytes:
    """The report's bytes: a file, or stdin for ``-`` (a FIFO is read like stdin)."""
    return read_source(path, _REPORT_BYTES, "report", printable(path))
