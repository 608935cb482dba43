"""Run (scenario, kernel) jobs on a ``dask.distributed`` cluster, a result for every job.

The same contract as ``parallel.run_jobs``: one result per job, in job
order, ``on_result`` told in completion order; the results are those of
the local pool (the search is the same pure function; only ``seconds``
differs, as it does between two local runs). ``scheduler`` is the address
of a running scheduler (``tcp://host:8786``); without one a
``LocalCluster`` is started on loopback, one single-threaded worker
process per core, and closed at the end.

A worker that dies mid-search (killed, out of memory, its machine gone)
costs only its jobs: the scheduler hands them to another worker, up to
its ``distributed.scheduler.allowed-failures`` times, and a job it gives
up on is reported ``incomplete: worker-died``, as on the local pool. A
stop (Ctrl-C) sets a cluster-wide event that every running search polls
once a second (so it ends with what it found, ``interrupted``), and
cancels every future not finished; the jobs that finished keep their
results.

dask is an optional extra (``pip install 'mpsim[dask]'``): imported here
only, and only when a cluster is asked for.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from mempool_cli.errors import EnvironmentProblem
from mempool_cli.parallel import WORKER_DIED, default_workers
from mempool_cli.report import RunResult
from mempool_cli.scenario.kernels import Kernel
from mempool_cli.scenario.spec import Scenario
from mempool_cli.verdict import Limits, run_scenario, unexplored

__all__ = ["MISSING", "run_jobs"]

MISSING = (
    "mpsim: --executor dask needs dask.distributed, an optional extra: pip install 'mpsim[dask]'"
)
# How often a running search asks the scheduler whether the sweep was stopped.
_STOP_POLL_SECONDS = 1.0
# How often the client looks at ``should_stop`` while it waits for results.
_WAIT_SECONDS = 0.2
_CONNECT_SECONDS = 10


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise EnvironmentProblem(MISSING) from None
    return distributed


def _job(scenario: Scenario, kernel: Kernel, limits: Limits, stop_event: str) -> RunResult:
    """One search on a worker; its memory limit is its share of the worker's, if lower."""
    distributed = _distributed()
    worker = distributed.get_worker()
    share = (worker.memory_manager.memory_limit or 0) // max(worker.state.nthreads, 1)
    if share and (limits.max_memory is None or share < limits.max_memory):
        limits = replace(limits, max_memory=share)
    event = distributed.Event(stop_event)
    asked = 0.0
    stopped = False

    def should_stop() -> bool:
        nonlocal asked, stopped
        now = time.monotonic()
        if not stopped and now - asked >= _STOP_POLL_SECONDS:
            asked = now
            with contextlib.suppress(Exception):  # a scheduler gone silent: search on
                stopped = bool(event.is_set())
        return stopped

    started = time.monotonic()
    try:
        return run_scenario(scenario, kernel, limits, None, should_stop)
    except MemoryError:
        return unexplored(scenario, kernel, "max-memory", time.monotonic() - started)


@contextlib.contextmanager
def _client(scheduler: str | None) -> Iterator[Any]:
    """A client of the cluster at ``scheduler``, or of a LocalCluster started for this run."""
    distributed = _distributed()
    if scheduler is None:
        # The workers ignore Ctrl-C, which reaches the whole process group: the stop
        # comes from here, as an event, so that a search ends with what it found.
        with _sigint_ignored():
            cluster = distributed.LocalCluster(
                n_workers=default_workers(),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=":0",  # no fixed port to collide on
                silence_logs=logging.ERROR,
            )
        with cluster, distributed.Client(cluster) as client:
            yield client
        return
    try:
        client = distributed.Client(scheduler, timeout=_CONNECT_SECONDS)
    except (OSError, TimeoutError, ValueError) as err:
        raise EnvironmentProblem(
            f"mpsim: cannot reach the dask scheduler at {scheduler}: {err}"
        ) from None
    with client:
        yield client


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while worker processes start: they inherit that across fork and exec."""
    try:
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: nothing to hand down
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def run_jobs(
    jobs: Sequence[tuple[Scenario, Kernel]],
    limits: Limits,
    scheduler: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_result: Callable[[int, RunResult], None] | None = None,
    client: Any = None,
) -> list[RunResult]:
    """Run ``jobs`` on the cluster (``client``'s, else ``scheduler``'s, else a LocalCluster).

    Returns one result per job, in job order; see the module's docstring
    for a worker's death and a stop.
    """
    if client is None:
        with _client(scheduler) as own:
            return run_jobs(jobs, limits, scheduler, should_stop, on_result, own)
    distributed = _distributed()
    run = uuid.uuid4().hex
    stop = distributed.Event(f"mpsim-stop-{run}", client=client)
    futures = [
        client.submit(_job, sc, k, limits, f"mpsim-stop-{run}", key=f"mpsim-{run}-{i}", pure=False)
        for i, (sc, k) in enumerate(jobs)
    ]
    index = {f.key: i for i, f in enumerate(futures)}
    results: list[RunResult | None] = [None] * len(jobs)
    pending = set(futures)
    try:
        while pending:
            if should_stop is not None and should_stop():
                stop.set()
                client.cancel(list(pending))
                break
            try:
                done, pending = distributed.wait(
                    pending, timeout=_WAIT_SECONDS, return_when="FIRST_COMPLETED"
                )
            except TimeoutError:
                continue
            for future in sorted(done, key=lambda f: index[f.key]):
                i = index[future.key]
                results[i] = _collect(future, jobs[i])
                if on_result is not None:
                    on_result(i, results[i])  # type: ignore[arg-type]
    finally:
        if pending:
            with contextlib.suppress(Exception):
                stop.set()
                client.cancel(list(pending))
    out = []
    for i, (sc, k) in enumerate(jobs):
        result = results[i]
        if result is None:  # cancelled before it finished: nothing of it is known
            result = unexplored(sc, k, "interrupted", 0.0)
            if on_result is not None:
                on_result(i, result)
        out.append(result)
    return out


def _collect(future: Any, job: tuple[Scenario, Kernel]) -> RunResult:
    """The job's result; ``worker-died`` when the scheduler gave up on it after worker deaths."""
    distributed = _distributed()
    try:
        result: RunResult = future.result()
    except distributed.KilledWorker:
        return unexplored(*job, WORKER_DIED, 0.0)
    return result
