"""`--executor dask`: a LocalCluster of two workers on loopback gives the local executor's
bytes; a worker killed mid-sweep costs only its searches (retried, or reported
`worker-died`); Ctrl-C stops the cluster's searches and reports what finished."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import pytest
from distributed import Client, LocalCluster

from mempool_cli import cluster, commands
from mempool_cli.errors import EnvironmentProblem
from mempool_cli.report import RunResult
from mempool_cli.scenario.loader import load_text
from mempool_cli.sweep import parse_param, plan
from mempool_cli.verdict import Limits, run_scenario
from tests.property.harness import invoke
from tests.robustness.child import mpsim_popen
from tests.unit.test_sweep import GRID, POOL_WORKERS, SEED, pool_workers


def _cluster(**config: Any) -> Iterator[Client]:
    with (
        dask.config.set(config),
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
        ) as lc,
        Client(lc) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    yield from _cluster()


def test_the_sweep_on_a_local_cluster_is_the_local_executors_byte_for_byte(
    client: Client, tmp_path: Path
) -> None:
    args = [
        "sweep",
        SEED,
        *GRID,
        "--all-kernels",
    ]
    for fmt in ("json", "text"):
        local, remote = tmp_path / f"local.{fmt}", tmp_path / f"dask.{fmt}"
        assert invoke([*args, "--format", fmt, "-o", str(local)]).code == 0
        dask_args = ["--executor", "dask", "--scheduler", client.scheduler.address]
        assert invoke([*args, "--format", fmt, "-o", str(remote), *dask_args]).code == 0
        assert remote.read_bytes() == local.read_bytes(), fmt
    lines = invoke(
        [*args, "--format", "jsonl", "--executor", "dask", "--scheduler", client.scheduler.address]
    )
    points = json.loads((tmp_path / "local.json").read_text())["points"]
    assert sorted(lines.stdout.splitlines()) == sorted(json.dumps(p) for p in points)


def test_without_an_address_mpsim_starts_its_own_local_cluster(tmp_path: Path) -> None:
    args = ["sweep", SEED, "-p", "memory.free=2..6", "-k", "v4.5", "-k", "v4.8", "--format", "json"]
    assert invoke([*args, "--executor", "dask"]).stdout == invoke(args).stdout


def test_matrix_and_run_take_the_executor_too(client: Client) -> None:
    dask_args = ["--executor", "dask", "--scheduler", client.scheduler.address]
    for args in (
        ["matrix", SEED, "--format", "json"],
        ["run", SEED, SEED, "--all-kernels", "--format", "json"],
    ):
        local, remote = invoke(args), invoke([*args, *dask_args])
        assert remote.code == local.code
        strip = [dict(r, stats=dict(r["stats"], seconds=0)) for r in json.loads(local.stdout)]
        assert [
            dict(r, stats=dict(r["stats"], seconds=0)) for r in json.loads(remote.stdout)
        ] == strip


def _jobs(tmp_path: Path) -> list[Any]:
    """Searches long enough (a few tenths of a second) that a worker is busy when killed."""
    base = load_text(POOL_WORKERS.format(n=5, variant="x", min_nr=1, expect="ok"), "pw5.yaml")
    planned = plan(
        base,
        [parse_param("pools.pool.min_nr=1..7"), parse_param("memory.free=4,5")],
        ["v4.8"],
        False,
    )
    return list(planned.jobs)


def _kill_a_busy_worker(client: Client) -> tuple[list[str], str]:
    """SIGKILL the process of a worker that holds a search; its address and what it held."""
    pids = client.run(os.getpid)
    for address, keys in sorted(client.processing().items()):
        if keys:
            os.kill(pids[address], signal.SIGKILL)
            return list(keys), address
    raise AssertionError("no worker holds a search: nothing to kill")


def _killing_run(client: Client, jobs: list[Any]) -> tuple[list[RunResult], list[str]]:
    killed: list[str] = []

    def on_result(index: int, result: RunResult) -> None:
        if not killed:  # after the first result, while the others run
            killed.extend(_kill_a_busy_worker(client)[0])

    return cluster.run_jobs(jobs, Limits(), client=client, on_result=on_result), killed


def _alone(jobs: list[Any]) -> list[tuple[object, ...]]:
    return [(r.complete, r.outcomes, r.states) for r in (run_scenario(sc, k) for sc, k in jobs)]


def test_a_killed_worker_costs_nothing_its_searches_are_retried(tmp_path: Path) -> None:
    jobs = _jobs(tmp_path)
    for c in _cluster():
        before = set(c.run(os.getpid).values())
        results, killed = _killing_run(c, jobs)
        assert killed  # a search was lost with the worker ...
        assert [(r.complete, r.outcomes, r.states) for r in results] == _alone(
            jobs
        )  # ... and rerun
        c.wait_for_workers(2, timeout=30)
        assert set(c.run(os.getpid).values()) != before  # the nanny started a new worker


def test_a_worker_killed_past_the_allowed_failures_costs_only_its_searches(tmp_path: Path) -> None:
    jobs = _jobs(tmp_path)
    for c in _cluster(**{"distributed.scheduler.allowed-failures": 0}):
        results, killed = _killing_run(c, jobs)
        died = [i for i, r in enumerate(results) if r.stop_reason == "worker-died"]
        assert died and len(died) <= len(killed)
        alone = _alone(jobs)
        for i, r in enumerate(results):
            if i in died:
                assert (r.complete, r.status, r.states) == (False, "incomplete", 0)
            else:
                assert (r.complete, r.outcomes, r.states) == alone[i]


def test_ctrl_c_stops_the_cluster_and_reports_what_finished(tmp_path: Path) -> None:
    path = pool_workers(tmp_path, 5)
    proc = mpsim_popen(
        "sweep",
        path,
        "-p",
        "pools.pool.min_nr=1..7",
        "-p",
        "memory.free=4..9",
        "--all-kernels",
        "--executor",
        "dask",
        "--format",
        "json",
        session=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    line = ""
    while "pairs done" not in line and time.monotonic() < deadline:  # some searches have ended
        line = proc.stderr.readline()
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole process group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    points = json.loads(out)["points"]
    finished = [p for p in points if p["complete"]]
    stopped = [p for p in points if p["stop_reason"] == "interrupted"]
    assert finished and stopped and len(finished) + len(stopped) == len(points)


def test_dask_missing_or_unreachable_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "distributed", None)
    with pytest.raises(EnvironmentProblem) as err:
        cluster.run_jobs([], Limits())
    assert str(err.value) == cluster.MISSING
    monkeypatch.undo()
    monkeypatch.setattr(cluster, "_CONNECT_SECONDS", 1)
    run = invoke(
        [
            "sweep",
            SEED,
            "-p",
            "memory.free=4",
            "--executor",
            "dask",
            "--scheduler",
            "tcp://127.0.0.1:9",
        ]
    )
    assert run.code == 2 and run.stderr.startswith(
        "mpsim: cannot reach the dask scheduler at tcp://127.0.0.1:9"
    )
    run = invoke(["sweep", SEED, "-p", "memory.free=4", "--scheduler", "tcp://127.0.0.1:9"])
    assert run.code == 2 and "--scheduler ADDRESS needs --executor dask" in run.stderr
    assert commands.executor("dask", None) == commands.Executor("dask")
