"""Ctrl-C and SIGTERM during a search: stop within a second, report what was found, exit 4."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mempool_cli.scenario.kernels import PRESET_NAMES
from tests.robustness.child import mpsim_popen, slow_scenario

# Time for the child to import, load and be well into the search.
STARTUP = 1.5
# The contract: a search ends within a second of the signal; the rest is the
# report and the interpreter's exit, with room for a loaded CI machine.
GRACE = 1.5
# Past this, the child is taken for hung and killed (the test fails).
STOP_TIMEOUT = 15


@pytest.fixture
def slow_file(tmp_path: Path) -> Path:
    path = tmp_path / "slow.yaml"
    path.write_text(slow_scenario())
    return path


@contextlib.contextmanager
def searching(args: list[str]) -> Iterator[subprocess.Popen[str]]:
    """`mpsim ARGS` in a process group of its own, well into its search; killed if still running."""
    proc = mpsim_popen(*args, session=True)
    try:
        time.sleep(STARTUP)
        assert proc.poll() is None, f"the search ended before the signal:\n{proc.communicate()}"
        yield proc
    finally:
        if proc.poll() is None:  # it did not stop: take its workers down with it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def interrupt(args: list[str], sig: int, group: bool = False) -> tuple[int, str, str, float]:
    """Send ``sig`` to a search under way: to mpsim, or to its group as a terminal's Ctrl-C does."""
    with searching(args) as proc:
        sent = time.monotonic()
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        out, err = proc.communicate(timeout=STOP_TIMEOUT)
        return proc.returncode, out, err, time.monotonic() - sent


@pytest.mark.parametrize(
    ("sig", "group"),
    [(signal.SIGINT, True), (signal.SIGINT, False), (signal.SIGTERM, False)],
    ids=["ctrl-c-to-the-group", "SIGINT-to-mpsim", "SIGTERM-to-mpsim"],
)
def test_a_signal_stops_the_search_and_reports_it_incomplete(
    slow_file: Path, sig: int, group: bool
) -> None:
    code, out, err, took = interrupt(["run", str(slow_file), "--all-kernels"], sig, group)
    assert code == 4, (out, err)
    # Every kernel has its result, those never started too: nothing reads as skipped.
    assert out.count("incomplete: interrupted") == len(PRESET_NAMES), out
    assert "slow" in out and "states" in out  # what was found so far
    assert "Traceback" not in err and "internal error" not in err
    assert took < GRACE, f"took {took:.2f} s to stop"


def test_an_interrupted_json_report_says_why(slow_file: Path) -> None:
    code, out, err, took = interrupt(["run", str(slow_file), "--format", "json"], signal.SIGINT)
    assert code == 4, err
    (report,) = json.loads(out)
    assert report["complete"] is False
    assert report["stop_reason"] == "interrupted"
    assert report["status"] == "incomplete"
    assert report["stats"]["states"] > 1
    assert took < GRACE


def test_an_interrupted_run_still_writes_its_output_file(slow_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    code, out, err, _ = interrupt(
        ["run", str(slow_file), "--format", "json", "-o", str(target)], signal.SIGINT
    )
    assert code == 4, err
    assert out == ""
    assert json.loads(target.read_text())[0]["stop_reason"] == "interrupted"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "slow.yaml"]


def test_the_matrix_stops_at_the_signal_too(slow_file: Path) -> None:
    code, out, err, took = interrupt(["matrix", str(slow_file)], signal.SIGINT)
    assert code == 4, (out, err)
    assert "Traceback" not in err
    assert took < GRACE


def test_a_second_ctrl_c_stops_at_once_without_a_traceback(slow_file: Path) -> None:
    with searching(["run", str(slow_file), "--all-kernels"]) as proc:
        proc.send_signal(signal.SIGINT)
        # Two signals, not one (pending signals of a kind merge), and the second
        # before mpsim has acted on the first, as two quick Ctrl-Cs would be.
        time.sleep(0.02)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=STOP_TIMEOUT)
        assert proc.returncode == 4, err
        assert "interrupted" in err
        assert "Traceback" not in err and "internal error" not in err
        assert time.monotonic() - sent < GRACE


def test_jobs_never_started_count_no_state(slow_file: Path) -> None:
    code, out, err, _ = interrupt(
        ["run", str(slow_file), "--all-kernels", "--format", "json"], signal.SIGINT
    )
    assert code == 4, err
    reports = json.loads(out)
    assert all(r["stop_reason"] == "interrupted" for r in reports)
    counts = [r["stats"]["states"] for r in reports]
    # Two at most were searching when the signal came (one per core); the others never
    # started and searched nothing, not even their initial state.
    assert 1 not in counts and counts.count(0) >= len(reports) - 2, counts
