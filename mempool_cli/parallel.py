"""Run (scenario, kernel) jobs on every core, a result for every job, in job order.

Each job runs in a process of its own, at most ``workers`` at a time, with
the memory limit divided among them. A process per job, not a pool of
long-lived workers, so that a worker killed by the kernel's OOM killer or
by a user costs only the job it was running: that job is reported as
stopped by ``worker-died`` (incomplete, exit 4), the others run on and
keep their results. (A ``concurrent.futures`` pool breaks as a whole when
one worker dies and fails every job in it.)

A worker turns SIGINT/SIGTERM into its own stop flag, so Ctrl-C (which
reaches the whole process group) or a forwarded signal ends every search
within a second with an "interrupted" result instead of a traceback.

A worker dies with its parent, however the parent dies (SIGKILL, SIGHUP,
a crash): on Linux the kernel sends it SIGKILL (``PR_SET_PDEATHSIG``),
and everywhere its stop poll also notices that its parent changed. A
search nobody will read must not go on eating its share of the memory.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from mempool_cli.report import RunResult
from mempool_cli.scenario.kernels import Kernel
from mempool_cli.scenario.spec import Scenario
from mempool_cli.verdict import Limits, run_scenario, unexplored

__all__ = ["WORKER_DIED", "default_workers", "run_jobs"]

# The stop reason of a job whose worker process died before it could answer.
WORKER_DIED = "worker-died"

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How often the parent looks at ``should_stop`` while it waits for workers.
_POLL_SECONDS = 0.2

_stop_reason: list[str] = []
# The parent's pid as the worker saw it at its start; 0 outside a worker.
_parent_pid = 0
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _stop_requested() -> bool:
    if _parent_pid and os.getppid() != _parent_pid:  # orphaned: nobody waits for this answer
        os._exit(1)
    return bool(_stop_reason)


def _die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGKILL when the parent dies; exit now if it already has."""
    global _parent_pid
    _parent_pid = parent
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before the prctl took hold
        os._exit(1)


def _on_signal(signum: int, frame: object) -> None:
    _stop_reason.append("interrupted")


def _job(scenario: Scenario, kernel: Kernel, limits: Limits) -> RunResult:
    started = time.monotonic()
    try:
        return run_scenario(scenario, kernel, limits, None, _stop_requested)
    except MemoryError:  # what the search did not turn into a partial result itself
        return unexplored(scenario, kernel, "max-memory", time.monotonic() - started)


def _worker(
    conn: Connection, parent: int, scenario: Scenario, kernel: Kernel, limits: Limits
) -> None:
    """One job in a child process; its result (or the exception it raised) goes to ``conn``."""
    _die_with_parent(parent)
    _stop_reason.clear()
    for sig in _SIGNALS:
        signal.signal(sig, _on_signal)
    _unblock_signals()  # blocked by the parent across the fork, so no signal is lost
    answer: tuple[str, Any]
    try:
        answer = ("result", _job(scenario, kernel, limits))
    except BaseException as err:  # a bug in mpsim: the parent reports it as such
        answer = ("error", err)
    try:
        conn.send(answer)
    except OSError:  # the parent is gone: nobody to tell
        pass
    except Exception as err:  # an exception that cannot be pickled
        with contextlib.suppress(OSError):
            conn.send(("error", RuntimeError(f"{type(err).__name__}: {err}")))
    conn.close()


def _unblock_signals() -> None:
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """SIGINT/SIGTERM held back while a worker starts: it installs its own handlers first.

    Without this a Ctrl-C between the fork and those handlers would run the
    parent's handler in the child, which then never stops.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@dataclass(slots=True)
class _Running:
    index: int
    process: BaseProcess
    conn: Connection
    started: float


def run_jobs(
    jobs: Sequence[tuple[Scenario, Kernel]],
    limits: Limits,
    workers: int,
    should_stop: Callable[[], bool] | None = None,
    on_result: Callable[[int, RunResult], None] | None = None,
) -> list[RunResult]:
    """Run ``jobs`` on ``workers`` processes; stop all of them when ``should_stop()`` turns true.

    ``on_result(index, result)`` hears of each result as it comes, in
    completion order (``--format jsonl`` streams them).

    Returns one result per job, in job order. A job whose worker died
    (SIGKILL from the OOM killer, say) is incomplete with stop reason
    ``worker-died``; jobs not yet started when a stop comes are
    ``interrupted`` before their first step. Whatever escapes (Ctrl-C with
    no ``should_stop``, a bug), no worker is left running.
    """
    per_worker = replace(
        limits, max_memory=limits.max_memory // workers if limits.max_memory else None
    )
    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    results: list[RunResult | None] = [None] * len(jobs)
    waiting = deque(range(len(jobs)))
    running: dict[Connection, _Running] = {}
    stopping = False
    try:
        while waiting or running:
            if not stopping and should_stop is not None and should_stop():
                stopping = True
                waiting.clear()
                for job in running.values():
                    _signal(job.process, signal.SIGTERM)
            while waiting and len(running) < workers:
                index = waiting.popleft()
                job = _start(context, index, *jobs[index], per_worker)
                running[job.conn] = job
            for conn in wait(list(running), timeout=_POLL_SECONDS):
                job = running.pop(conn)  # type: ignore[call-overload]
                results[job.index] = result = _collect(job, jobs[job.index])
                if on_result is not None:
                    on_result(job.index, result)
    finally:
        for job in running.values():
            _signal(job.process, signal.SIGKILL)
        for job in running.values():
            job.process.join()
            job.conn.close()
    for index, (sc, k) in enumerate(jobs):
        if results[index] is None:  # never started: nothing was searched, not even the start
            results[index] = never = unexplored(sc, k, "interrupted", 0.0)
            if on_result is not None:
                on_result(index, never)
    return [r for r in results if r is not None]


def _start(
    context: Any, index: int, scenario: Scenario, kernel: Kernel, limits: Limits
) -> _Running:
    receive, send = context.Pipe(duplex=False)
    process = context.Process(
        target=_worker,
        args=(send, os.getpid(), scenario, kernel, limits),
        name=f"mpsim-job-{index}",
    )
    try:
        with _signals_blocked():
            process.start()
    finally:
        send.close()  # the child's end: EOF here once the child is gone
    return _Running(index, process, receive, time.monotonic())


def _collect(job: _Running, scenario_kernel: tuple[Scenario, Kernel]) -> RunResult:
    """The job's result; ``worker-died`` if the process ended without sending one."""
    try:
        kind, value = job.conn.recv()
    except (EOFError, OSError):
        kind, value = "died", None
    finally:
        job.conn.close()
    job.process.join()
    if kind == "error":
        raise value
    if kind == "died":
        return unexplored(*scenario_kernel, WORKER_DIED, time.monotonic() - job.started)
    result: RunResult = value
    return result


def _signal(process: BaseProcess, sig: int) -> None:
    if process.pid is not None:
        with contextlib.suppress(OSError):
            os.kill(process.pid, sig)
