"""A worker process that dies (OOM killer, kill -9) costs its own job only; none is left running.

The worker is made to die by replacing ``parallel._job`` before the fork:
the child runs the replacement, which sends itself SIGKILL as the kernel's
OOM killer would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from mempool_cli import commands, parallel
from mempool_cli.report import RunResult
from mempool_cli.scenario.kernels import PRESET_NAMES, Kernel
from mempool_cli.scenario.loader import load_scenario
from mempool_cli.scenario.spec import Scenario
from mempool_cli.verdict import Limits, kernels_for, run_scenario
from tests.property.harness import invoke
from tests.robustness.child import SMALL, mpsim_popen, slow_scenario

REAL_JOB = parallel._job
# The kernel whose job's worker is killed: neither the first nor the last job.
VICTIM = "v4.8"


# Stand-ins for parallel._job, at module level so that a pool that pickles its
# function by name (concurrent.futures does) could run them too.


def killed_job(scenario: Scenario, kernel: Kernel, limits: Limits) -> RunResult:
    if kernel.name == VICTIM:
        os.kill(os.getpid(), signal.SIGKILL)
    return REAL_JOB(scenario, kernel, limits)


# Where a sleeping worker writes its pid; set by a test before the fork.
PID_DIR = Path("/nonexistent")


def sleepy_job(scenario: Scenario, kernel: Kernel, limits: Limits) -> RunResult:
    (PID_DIR / str(os.getpid())).touch()
    time.sleep(60)
    raise AssertionError("not killed")


def buggy_job(scenario: Scenario, kernel: Kernel, limits: Limits) -> RunResult:
    if kernel.name == PRESET_NAMES[1]:  # while the first job is running
        raise ValueError("a bug")
    return sleepy_job(scenario, kernel, limits)


@pytest.fixture
def jobs() -> list[tuple[Scenario, Kernel]]:
    scenario = load_scenario(str(SMALL))
    return [(scenario, k) for k in kernels_for(scenario, [], all_kernels=True)]


def test_a_killed_worker_loses_only_its_own_job(
    jobs: list[tuple[Scenario, Kernel]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel, "_job", killed_job)
    results = parallel.run_jobs(jobs, Limits(), workers=2)
    assert [r.kernel.name for r in results] == list(PRESET_NAMES)  # job order kept
    for (scenario, kernel), r in zip(jobs, results, strict=True):
        if kernel.name == VICTIM:
            assert (r.complete, r.stop_reason, r.status) == (False, "worker-died", "incomplete")
            assert r.outcomes == frozenset() and r.states == 0
        else:  # finished before it, or started after it: each has its full answer
            alone = run_scenario(scenario, kernel)
            assert (r.complete, r.outcomes, r.states) == (True, alone.outcomes, alone.states)


@pytest.mark.parametrize("command", ["run", "matrix"])
def test_the_cli_reports_a_killed_worker_as_incomplete(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel, "_job", killed_job)
    monkeypatch.setattr(commands, "default_workers", lambda: 2)
    extra = ["--all-kernels"] if command == "run" else []
    data = invoke([command, str(SMALL), *extra, "--format", "json"])
    assert data.code == 4, data.stderr
    reports = json.loads(data.stdout)
    assert [r["kernel"] for r in reports] == list(PRESET_NAMES)
    died = [r["kernel"] for r in reports if r["stop_reason"] == "worker-died"]
    assert died == [VICTIM]
    assert all(r["complete"] for r in reports if r["kernel"] != VICTIM)
    text = invoke([command, str(SMALL), *extra])
    assert text.code == 4
    if command == "run":
        assert "incomplete: its worker process died (killed by the OOM killer" in text.stdout
    else:
        assert (
            "! nothing found so far" in text.stdout
        )  # the victim's cell: nothing found, search incomplete


def test_no_worker_outlives_an_interrupt_of_the_parent(
    jobs: list[tuple[Scenario, Kernel]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    polls = []

    def ctrl_c() -> bool:
        polls.append(1)
        if len(polls) > 3:  # the workers are running by now
            raise KeyboardInterrupt
        return False

    monkeypatch.setattr(parallel, "_job", sleepy_job)
    monkeypatch.setattr(sys.modules[__name__], "PID_DIR", tmp_path)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        parallel.run_jobs(jobs, Limits(), workers=2, should_stop=ctrl_c)
    assert time.monotonic() - started < 10  # not waiting for the workers to finish
    pids = [int(p.name) for p in tmp_path.iterdir()]
    assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # gone and reaped


def test_a_bug_in_a_worker_is_an_error_and_stops_the_others(
    jobs: list[tuple[Scenario, Kernel]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(parallel, "_job", buggy_job)
    monkeypatch.setattr(sys.modules[__name__], "PID_DIR", tmp_path)
    started = time.monotonic()
    with pytest.raises(ValueError, match="a bug"):
        parallel.run_jobs(jobs, Limits(), workers=2)
    assert time.monotonic() - started < 10
    for pid in (int(p.name) for p in tmp_path.iterdir()):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(c) for c in f.read().split()]


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for init to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs Linux's /proc")
@pytest.mark.skipif(parallel.default_workers() < 2, reason="one core: no worker processes")
@pytest.mark.parametrize("command", ["run", "matrix"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP], ids=["SIGKILL", "SIGHUP"])
def test_workers_die_with_their_parent(tmp_path: Path, command: str, sig: int) -> None:
    slow = tmp_path / "slow.yaml"
    slow.write_text(slow_scenario())
    extra = ["--kernel", "v4.5", "--kernel", "v4.8"] if command == "run" else []
    proc = mpsim_popen(command, str(slow), *extra, session=True)
    try:
        deadline = time.monotonic() + 30
        workers: list[int] = []
        while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            workers = children(proc.pid)
        assert len(workers) >= 2, proc.communicate()
        os.kill(proc.pid, sig)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10  # "within a few seconds", on a loaded machine
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [w for w in workers if alive(w)], "workers outlived their parent"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def test_a_worker_whose_parent_changed_exits_at_its_next_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Where PR_SET_PDEATHSIG is not to be had, the stop poll is the worker's way out.
    exits: list[int] = []

    def fake_exit(code: int) -> None:
        exits.append(code)

    monkeypatch.setattr(parallel.os, "_exit", fake_exit)
    monkeypatch.setattr(parallel, "_parent_pid", os.getppid())
    parallel._stop_requested()
    assert exits == []
    monkeypatch.setattr(parallel, "_parent_pid", os.getppid() + 1)
    parallel._stop_requested()
    assert exits == [1]
