"""Run (scenario, kernel) jobs on every core, results in job order.

Each worker process explores one job at a time with the memory limit
divided among the workers. A worker turns SIGINT/SIGTERM into its own stop
flag, so Ctrl-C (which reaches the whole process group) or a forwarded
signal ends every search within a second with an "interrupted" result
instead of a traceback.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import replace

from mempool_cli.report import Limits, RunResult, run_scenario
from mempool_cli.scenario.kernels import Kernel
from mempool_cli.scenario.spec import Scenario

__all__ = ["default_workers", "run_jobs"]

_stop_reason: list[str] = []


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _stop_requested() -> bool:
    return bool(_stop_reason)


def _on_signal(signum: int, frame: object) -> None:
    _stop_reason.append("interrupted")


def _init_worker() -> None:
    _stop_reason.clear()
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)


def _job(scenario: Scenario, kernel: Kernel, limits: Limits) -> RunResult:
    return run_scenario(scenario, kernel, limits, None, _stop_requested)


def run_jobs(
    jobs: Sequence[tuple[Scenario, Kernel]],
    limits: Limits,
    workers: int,
    should_stop: Callable[[], bool] | None = None,
) -> list[RunResult]:
    """Run ``jobs`` on ``workers`` processes; stop all of them when ``should_stop()`` turns true.

    Jobs not yet started when a stop comes are dropped, so the list may be
    shorter than ``jobs``; it always holds a prefix, in job order.
    """
    per_worker = replace(
        limits, max_memory=limits.max_memory // workers if limits.max_memory else None
    )
    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
        futures: list[Future[RunResult]] = [pool.submit(_job, sc, k, per_worker) for sc, k in jobs]
        pending = set(futures)
        signalled = False
        while pending:
            _, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            if not signalled and should_stop is not None and should_stop():
                signalled = True
                for f in futures:
                    f.cancel()
                for process in list(getattr(pool, "_processes", {}).values()):
                    if process.pid is not None:
                        os.kill(process.pid, signal.SIGTERM)
                pending = {f for f in pending if not f.cancelled()}
    results = []
    for f in futures:
        if f.cancelled():
            break
        results.append(f.result())
    return results
