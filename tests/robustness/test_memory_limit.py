"""--max-memory: a search that outgrows it stops with 'incomplete: memory limit' and exit 4."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mempool_cli import commands
from mempool_cli.errors import UsageError
from tests.robustness.child import ROOT, env, mpsim, slow_scenario

MIB = 1024 * 1024


def child_baseline_mib() -> int:
    """The resident size of a child that has imported everything a search needs."""
    probe = (
        "import mempool_cli.cli, mempool_cli.commands, mempool_cli.render, mempool_cli.verdict\n"
        "import mempool_cli.kernel.model, mempool_cli.analysis.waitfor\n"
        "import mempool_cli.scenario.loader\n"
        "from mempool_cli.explore.search import _rss_bytes\n"
        "print(_rss_bytes())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env(),
        cwd=ROOT,
        check=True,
    )
    return int(out.stdout) // MIB


def test_a_search_that_outgrows_the_limit_stops_with_exit_4(tmp_path: Path) -> None:
    path = tmp_path / "slow.yaml"
    path.write_text(slow_scenario())
    limit = child_baseline_mib() + 24
    started = time.monotonic()
    done = mpsim("run", str(path), "--format", "json", "--max-memory", str(limit))
    took = time.monotonic() - started
    assert done.returncode == 4, done.stderr
    (report,) = json.loads(done.stdout)
    assert report["stop_reason"] == "max-memory"
    assert report["status"] == "incomplete"
    # It stopped because the search grew, not before it started.
    assert report["stats"]["states"] > 1000
    assert took < 60


def test_the_text_report_names_the_memory_limit(tmp_path: Path) -> None:
    path = tmp_path / "slow.yaml"
    path.write_text(slow_scenario())
    done = mpsim("run", str(path), "--max-memory", str(child_baseline_mib() + 8))
    assert done.returncode == 4, done.stderr
    assert "incomplete: memory limit" in done.stdout
    assert "Traceback" not in done.stderr


def test_a_limit_below_what_mpsim_needs_to_start_stops_at_once(tmp_path: Path) -> None:
    path = tmp_path / "slow.yaml"
    path.write_text(slow_scenario())
    started = time.monotonic()
    done = mpsim("run", str(path), "--max-memory", "1")
    assert done.returncode == 4
    assert "incomplete: memory limit" in done.stdout
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("value", ["0", "-5", "lots", "1.5"])
def test_a_bad_limit_is_a_usage_error(value: str) -> None:
    done = mpsim(
        "run", str(ROOT / "tests" / "data" / "rientjes-2016-oom-victim.yaml"), "--max-memory", value
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "max-memory" in done.stderr


def test_the_default_limit_is_half_the_machine() -> None:
    lim = commands.limits(None, None, None)
    assert lim.max_memory == commands._total_ram() // 2
    assert lim.max_memory is not None and lim.max_memory > 64 * MIB
    assert commands.limits(None, None, 100).max_memory == 100 * MIB
    with pytest.raises(UsageError):
        commands.limits(None, None, 0)


@pytest.mark.parametrize(
    ("limit", "capped"),
    [("max\n", False), ("9223372036854771712\n", False), ("1073741824\n", True), ("junk", False)],
)
def test_a_container_memory_limit_caps_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str, capped: bool
) -> None:
    """In a container (cgroup) with less memory than the machine, half of *that* is the default."""
    monkeypatch.setattr(commands, "_CGROUP_LIMITS", ())
    machine = commands._total_ram()
    assert machine > 1024 * MIB, "a machine with more than 1 GiB"
    cgroup = tmp_path / "memory.max"
    cgroup.write_text(limit)
    monkeypatch.setattr(commands, "_CGROUP_LIMITS", (str(tmp_path / "absent"), str(cgroup)))
    assert commands._total_ram() == (1024 * MIB if capped else machine)
