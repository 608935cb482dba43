"""A search cut short is never an answer: every command says so and exits 4."""

from __future__ import annotations

import json
from pathlib import Path

from tests.property.harness import invoke
from tests.robustness.child import ROOT

ABBA = str(ROOT / "scenarios" / "mempool" / "weiner-2016-abba.yaml")  # deadlock, 83 states
CUT = ["--max-states", "10"]


def test_run_reports_a_cut_search_as_incomplete() -> None:
    run = invoke(["run", ABBA, *CUT, "--format", "json"])
    assert run.code == 4
    (report,) = json.loads(run.stdout)
    assert (report["status"], report["stop_reason"]) == ("incomplete", "max-states")
    assert "incomplete" in invoke(["run", ABBA, *CUT]).stdout


def test_matrix_reports_a_cut_search_as_incomplete() -> None:
    run = invoke(["matrix", ABBA, *CUT, "--kernel", "v4.5"])
    assert run.code == 4
    assert "!" in run.stdout


def test_graph_does_not_call_a_cut_search_ok(tmp_path: Path) -> None:
    run = invoke(["graph", ABBA, *CUT])
    assert run.code == 4
    assert "stopped early (max-states)" in run.stderr and run.stdout == ""
    run = invoke(["graph", ABBA, *CUT, "--states"])
    assert run.code == 4
    assert ": ok" not in run.stdout and "nothing found before the search stopped" in run.stdout
    done = invoke(["graph", ABBA])
    assert done.code == 0 and "deadlock" in done.stdout


def test_a_cut_search_never_reads_as_ok_or_as_a_failed_expectation() -> None:
    """ABBA deadlocks, but not within 10 states: the report says what it found so far."""
    text = invoke(["run", ABBA, *CUT, "--kernel", "v4.5"]).stdout
    head = text.splitlines()[0]
    assert "nothing found so far" in head and "INCOMPLETE" in head
    assert "  ok  " not in head
    matrix = invoke(["matrix", ABBA, *CUT, "--kernel", "v4.5"])
    assert "! nothing found so far" in matrix.stdout
    assert "1 not settled (search incomplete)   INCOMPLETE" in matrix.stdout
    assert "FAIL" not in matrix.stdout and matrix.code == 4
