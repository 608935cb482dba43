"""Machine-readable output: check --format json|github, jsonl streaming, png refusing a terminal,
and `mpsim library` in a checkout."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

from tests.robustness.child import env, mpsim, mpsim_popen, slow_scenario

REPO = Path(__file__).resolve().parents[2]
SEED = "scenarios/mempool/rientjes-2016-oom-victim.yaml"
BAD = "mpsim: 1\nlocks: {M: mutex}\ntasks:\n  t:\n    steps:\n      - mutex_lok: M\n      - 3\n"


def test_check_json_lists_every_problem_with_its_position(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    done = mpsim("check", "--format", "json", str(bad), SEED)
    assert done.returncode == 3
    problems = json.loads(done.stdout)
    assert [(p["file"], p["line"], p["col"]) for p in problems] == [
        (str(bad), 6, 9),
        (str(bad), 7, 9),
    ]
    assert "unknown step 'mutex_lok'" in problems[0]["message"]
    assert done.stderr == ""


def test_check_github_prints_workflow_annotations(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    done = mpsim("check", "--format", "github", str(bad))
    assert done.returncode == 3
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"::error file={bad},line=6,col=9::unknown step 'mutex_lok'")
    assert mpsim("check", "--format", "github", SEED).stdout == ""


def test_check_width_cuts_echoed_lines_but_never_a_position_line(tmp_path: Path) -> None:
    steps = ", ".join(["mutex_lock: M"] * 12 + ["mutex_lok: M"])
    bad = tmp_path / "long.yaml"
    bad.write_text(f"locks: {{M: mutex}}\ntasks:\n  t: {{steps: [{steps}]}}\n")
    for width in (40, 60, 80):
        lines = mpsim("check", "--width", str(width), str(bad)).stderr.splitlines()
        head, source, caret = lines  # one problem: the position line, the source, the caret
        message = "unknown step 'mutex_lok' (did you mean 'mutex_lock'?)"
        assert head == f"{bad}:3:{15 + 15 * 12}: error: {message}"  # whole, however wide
        assert len(source) <= width and "mutex_lok" in source
        assert source[caret.index("^") :].startswith("mutex_lok")
    assert len(mpsim("check", str(bad)).stderr.splitlines()[1]) > 80  # default: 100 of it


def test_jsonl_streams_each_result_as_its_search_ends(tmp_path: Path) -> None:
    slow = tmp_path / "slow.yaml"
    slow.write_text(slow_scenario())
    proc = mpsim_popen("run", "--format", "jsonl", "--max-seconds", "6", str(slow), SEED)
    start = time.monotonic()
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    arrived = time.monotonic() - start
    rest = proc.stdout.read()
    proc.wait(timeout=60)
    assert (first["scenario"], first["kernel"]) == ("rientjes-2016-oom-victim", "v4.5")
    assert arrived < 5, "the fast result waited for the slow search"
    (second,) = [json.loads(line) for line in rest.splitlines()]
    assert second["scenario"] == "slow" and second["stop_reason"] == "max-seconds"
    assert proc.returncode == 4


def test_png_is_never_written_to_a_terminal() -> None:
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "mempool_cli", "graph", SEED, "--format", "png"],
            stdout=follower,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env(),
            timeout=60,
            check=False,
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 2
    assert "stdout is a terminal" in done.stderr and "-o FILE" in done.stderr
    assert "Traceback" not in done.stderr


def test_library_lists_runs_and_copies(tmp_path: Path) -> None:
    listed = mpsim("library")
    assert listed.returncode == 0
    shipped = sorted(REPO.glob("scenarios/**/*.yaml"))
    assert listed.stdout.startswith(f"{len(shipped)} scenarios in ")
    assert all(f"  {p.stem}\n" in listed.stdout for p in shipped)
    done = mpsim("library", "run", "weiner-2016-abba", "--kernel", "v4.5", "--fail-on", "deadlock")
    assert done.returncode == 1 and "*** DEADLOCK ***" in done.stdout
    wrong = mpsim("library", "run", "weiner-2016-abb")
    assert wrong.returncode == 2 and "did you mean 'weiner-2016-abba'" in wrong.stderr
    copied = mpsim("library", "copy", "weiner-2016-abba", str(tmp_path))
    assert copied.returncode == 0
    text = (tmp_path / "weiner-2016-abba.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=mpsim-schema.json\n")
    again = mpsim("library", "copy", "weiner-2016-abba", str(tmp_path))
    assert again.returncode == 2 and "--force" in again.stderr
    assert mpsim("library", "path", "weiner-2016-abba").stdout.strip() == str(
        REPO / "scenarios/mempool/weiner-2016-abba.yaml"
    )
