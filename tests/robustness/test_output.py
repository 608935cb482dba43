"""-o writes atomically, a failed run leaves no file behind, scenario files are never written."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import stat
from pathlib import Path

import pytest

from tests.property.harness import invoke
from tests.robustness.child import ROOT, SMALL

SCENARIO_FILES = sorted((ROOT / "scenarios").rglob("*.yaml")) + sorted(
    (ROOT / "tests" / "data").glob("*.yaml")
)
SECONDS = re.compile(r"\d+\.\d+ s\b|\"seconds\": ?[0-9.e-]+")


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "scenario.yaml"
    shutil.copy(SMALL, path)
    return path


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".mpsim-"))


@pytest.mark.parametrize("fmt", ["text", "json", "jsonl"])
def test_the_file_holds_what_stdout_would(scenario: Path, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / "report"
    printed = invoke(["run", str(scenario), "--format", fmt, "--all-kernels"])
    written = invoke(["run", str(scenario), "--format", fmt, "--all-kernels", "-o", str(target)])
    assert written.code == printed.code
    assert written.stdout == ""
    got, want = SECONDS.sub("", target.read_text()), SECONDS.sub("", printed.stdout)
    if fmt == "jsonl":  # lines come in completion order, which two runs need not share
        got, want = "".join(sorted(got.splitlines(True))), "".join(sorted(want.splitlines(True)))
    assert got == want
    assert leftovers(tmp_path) == []


def test_a_new_file_gets_the_usual_mode_and_an_old_one_keeps_its_own(
    scenario: Path, tmp_path: Path
) -> None:
    umask = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.txt"
        invoke(["run", str(scenario), "-o", str(fresh)])
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
        old = tmp_path / "old.txt"
        old.write_text("old")
        old.chmod(0o600)
        invoke(["run", str(scenario), "-o", str(old)])
        assert stat.S_IMODE(old.stat().st_mode) == 0o600
        assert old.read_text() != "old"
    finally:
        os.umask(umask)


@pytest.mark.parametrize(
    "failure",
    [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()],
    ids=["disk-full", "ctrl-c"],
)
def test_a_write_that_fails_leaves_the_old_file_and_no_temp_file(
    scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    target = tmp_path / "report.txt"
    target.write_text("the previous report\n")

    def broken_replace(src: str, dst: str) -> None:
        assert Path(src).read_bytes(), "the temp file was written before the rename"
        raise failure

    monkeypatch.setattr("mempool_cli.commands.os.replace", broken_replace)
    run = invoke(["run", str(scenario), "-o", str(target)])
    if isinstance(failure, OSError):
        assert run.code == 2
        assert run.stderr == f"mpsim: cannot write {target}: No space left on device\n"
    else:
        assert run.code == 4
        assert "interrupted" in run.stderr
    assert target.read_text() == "the previous report\n"
    assert leftovers(tmp_path) == []


def test_a_failing_write_of_the_temp_file_leaves_nothing(
    scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, f: object) -> None:
            self.f = f

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()  # type: ignore[attr-defined]

        def write(self, data: bytes) -> int:
            self.f.write(data[: len(data) // 2])  # type: ignore[attr-defined]
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(
        "mempool_cli.commands.os.fdopen", lambda fd, *a, **k: Full(real_fdopen(fd, *a, **k))
    )
    target = tmp_path / "report.txt"
    run = invoke(["run", str(scenario), "-o", str(target)])
    assert run.code == 2
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_an_invalid_scenario_writes_no_report(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks: {t: {steps: [mutex_lock: M]}}\n")
    target = tmp_path / "report.txt"
    run = invoke(["run", str(bad), "-o", str(target)])
    assert run.code == 3
    assert not target.exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("missing-dir/report.txt", "No such file or directory"),
        ("scenario.yaml/report.txt", "Not a directory"),
    ],
)
def test_an_output_path_that_cannot_be_written_is_one_line(
    scenario: Path, tmp_path: Path, where: str, message: str
) -> None:
    run = invoke(["run", str(scenario), "-o", str(tmp_path / where)])
    assert run.code == 2
    assert run.stderr.count("\n") == 1 and message in run.stderr, run.stderr


def test_an_output_path_that_is_a_directory_is_a_usage_error(
    scenario: Path, tmp_path: Path
) -> None:
    run = invoke(["run", str(scenario), "-o", str(tmp_path)])
    assert run.code == 2
    assert "is a directory" in run.stderr


def test_output_naming_the_scenario_file_is_refused(scenario: Path, tmp_path: Path) -> None:
    before = scenario.read_bytes()
    for output in (str(scenario), str(tmp_path / "." / "scenario.yaml")):
        run = invoke(["run", str(scenario), "-o", output])
        assert run.code == 2
        assert "would overwrite the scenario file" in run.stderr
    run = invoke(["run", str(tmp_path), "-o", str(scenario)])  # found through its directory
    assert run.code == 2
    assert scenario.read_bytes() == before


def digest(paths: list[Path]) -> dict[str, tuple[str, int]]:
    return {
        str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in paths
    }


def test_no_command_modifies_a_scenario_file(tmp_path: Path) -> None:
    before = digest(SCENARIO_FILES)
    small = [str(p) for p in SCENARIO_FILES]
    invoke(["check", *small])
    invoke(["run", *small, "--max-states", "3000", "--format", "json"])
    invoke(["run", *small, "--max-states", "3000", "-o", str(tmp_path / "r.txt")])
    invoke(["matrix", str(ROOT / "scenarios"), "--max-states", "3000"])
    for path in small:
        report = invoke(["run", path, "--max-states", "3000", "--format", "json"])
        for result in json.loads(report.stdout):
            for finding in result["findings"][:1]:
                invoke(["replay", path, finding["schedule"], "--kernel", result["kernel"]])
        invoke(["graph", path, "--max-states", "3000", "-o", str(tmp_path / "g.dot")])
    assert digest(SCENARIO_FILES) == before
