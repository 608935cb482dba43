"""`pytest --mpsim`: one item per (scenario, kernel), the report as the failure message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ABBA = "mpsim: 1\nlocks: {L: mutex}\ntasks:\n  t: {steps: [mutex_lock: L, mutex_lock: L]}\n"


def _pytest(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_items_per_scenario_and_kernel_and_the_report_on_failure(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(ABBA + "expect: deadlock\n")
    (tmp_path / "bare.yaml").write_text(ABBA)  # no expect: ok expected, a deadlock fails
    done = _pytest(
        "--mpsim", "--mpsim-kernel", "v4.5", "--mpsim-kernel", "latest", ".", cwd=tmp_path
    )
    assert done.returncode == 1, done.stdout
    assert "2 failed, 2 passed" in done.stdout
    assert "FAILED bare.yaml::v4.5" in done.stdout and "FAILED bare.yaml::latest" in done.stdout
    header = "bare  kernel v4.5 (preset v4.5):  deadlock  (expected ok; the file has no\n  expect)"
    assert header + "  FAIL" in done.stdout
    assert "*** DEADLOCK ***" in done.stdout
    assert "Traceback" not in done.stdout


def test_an_invalid_file_is_a_collection_error_with_its_position(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("mpsim: 1\ntasks:\n  t: {steps: [mutex_lok: L]}\n")
    done = _pytest("--mpsim", ".", cwd=tmp_path)
    assert done.returncode == 2
    assert "bad.yaml:3:15: error: unknown step 'mutex_lok'" in done.stdout


def test_without_the_option_yaml_files_are_not_collected(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(ABBA)
    done = _pytest(".", cwd=tmp_path)
    assert "no tests ran" in done.stdout
