"""--max-memory: a search that outgrows it stops with 'incomplete: memory limit' and exit 4."""

from __future__ import annotations

import json
import os
import resource
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


def under_ulimit_v(mib: int, *args: str) -> subprocess.CompletedProcess[str]:
    """``mpsim ARGS`` with its address space capped (``ulimit -v``), as a careful admin runs it."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (mib * MIB, mib * MIB))

    return subprocess.run(
        [sys.executable, "-m", "mempool_cli", *args],
        capture_output=True, text=True, env=env(), cwd=ROOT, timeout=300, check=False,
        preexec_fn=cap,
    )  # fmt: skip


@pytest.mark.parametrize(
    "extra", [[], ["--max-memory", "100000"]], ids=["default-limit", "limit-above-ulimit"]
)
@pytest.mark.parametrize("command", ["run", "graph"])
def test_a_search_under_ulimit_v_ends_as_a_memory_limit(
    tmp_path: Path, extra: list[str], command: str
) -> None:
    """Without --max-memory the default stays under 80 % of the cap; with one above the cap, the
    MemoryError the search meets is the same memory limit, with the partial report."""
    path = tmp_path / "slow.yaml"
    path.write_text(slow_scenario())
    fmt = ["--format", "json"] if command == "run" else []
    done = under_ulimit_v(200, command, str(path), *fmt, *extra)
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    assert done.returncode == 4, done.stderr
    if command == "graph":
        assert "the search stopped early (max-memory)" in done.stderr
    else:
        (report,) = json.loads(done.stdout)
        assert (report["status"], report["stop_reason"]) == ("incomplete", "max-memory")
        assert report["stats"]["states"] > 1000  # the partial report of a search that ran


def test_the_default_limit_is_80_percent_of_ulimit_v_or_d(monkeypatch: pytest.MonkeyPatch) -> None:
    caps = {resource.RLIMIT_AS: 1000 * MIB, resource.RLIMIT_DATA: 500 * MIB}
    infinite = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
    monkeypatch.setattr(resource, "getrlimit", lambda which: (caps.get(which, 0),) * 2)
    assert commands.default_memory() == min(400 * MIB, commands._total_ram() // 2)
    monkeypatch.setattr(resource, "getrlimit", lambda which: infinite)
    assert commands.default_memory() == commands._total_ram() // 2


# The child's own high-water mark, read as it exits: a child's ru_maxrss would also count
# the pytest process it was forked from (Linux keeps the larger across exec).
PEAK_PROBE = (
    "import atexit, sys\n"
    "def peak():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            sys.stderr.write('peak ' + line.split()[1] + '\\n')\n"
    "atexit.register(peak)\n"
    "from mempool_cli.cli import main\n"
    "sys.argv = ['mpsim', *sys.argv[1:]]\n"
    "main()\n"
)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_the_peak_resident_size_stays_within_the_limit(tmp_path: Path) -> None:
    """The search stops short enough of --max-memory that its state map's next growth and the
    hang pass after the stop fit under it (they overshot it by 8 % here before)."""
    path = tmp_path / "slow.yaml"
    path.write_text(slow_scenario())
    limit = 150
    done = subprocess.run(
        [sys.executable, "-c", PEAK_PROBE, "run", str(path), "--max-memory", str(limit)],
        capture_output=True, text=True, env=env(), cwd=ROOT, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 4, done.stderr
    peak = int(done.stderr.rsplit("peak ", 1)[1]) * 1024  # VmHWM is in kB
    assert peak < limit * MIB * 1.03, f"peak {peak / MIB:.1f} MiB for --max-memory {limit}"
