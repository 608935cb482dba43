"""Input paths the machine refuses, and FIFOs as FILE: one line naming the path, or a clean stop.

As root, permission tests drop the capabilities that let root read
anything (setpriv), in a child process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.property.harness import invoke
from tests.robustness.child import ROOT, SMALL, env, mpsim_popen

SETPRIV = shutil.which("setpriv")


def one_line(text: str) -> str:
    assert text.endswith("\n") and text.count("\n") == 1, repr(text)
    assert "Traceback" not in text and "internal error" not in text, text
    return text


def unprivileged(*args: str) -> subprocess.CompletedProcess[str]:
    """``mpsim ARGS`` without root's override of file permissions."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if SETPRIV is None:
            pytest.skip("needs setpriv to drop root's file access override")
        prefix = [SETPRIV, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "mempool_cli", *args],
        capture_output=True, text=True, env=env(), cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("command", ["check", "run", "matrix", "graph"])
def test_a_file_in_a_directory_without_search_permission(tmp_path: Path, command: str) -> None:
    closed = tmp_path / "closed"
    closed.mkdir()
    shutil.copy(SMALL, closed / "x.yaml")
    closed.chmod(0o600)  # readable, not searchable
    try:
        done = unprivileged(command, str(closed / "x.yaml"))
    finally:
        closed.chmod(0o700)
    assert done.returncode == 2, done.stderr
    assert one_line(done.stderr) == f"{closed / 'x.yaml'}: permission denied\n"


@pytest.mark.parametrize("mode", [0o300, 0o600], ids=["unreadable", "unsearchable"])
@pytest.mark.parametrize("where", ["top", "below"])
def test_matrix_on_a_directory_it_cannot_list(tmp_path: Path, mode: int, where: str) -> None:
    top = tmp_path / "scenarios"
    locked = top if where == "top" else top / "sub"
    locked.mkdir(parents=True)
    shutil.copy(SMALL, locked / "x.yaml")
    locked.chmod(mode)
    try:
        done = unprivileged("matrix", str(top), "--max-states", "100")
    finally:
        locked.chmod(0o700)
    assert done.returncode == 2, done.stderr
    line = one_line(done.stderr)
    assert "no scenario files found" not in line
    assert str(locked) in line and "permission denied" in line.lower(), line


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: str(d / "file.yaml" / "x.yaml"), "not a directory"),
        (lambda d: str(d / "loop"), "Too many levels of symbolic links"),
        (lambda d: str(d / "loop" / "x.yaml"), "Too many levels of symbolic links"),
        (lambda d: str(d / ("n" * 300 + ".yaml")), "File name too long"),
        (lambda d: str(d / ("n" * 300)) + "/x.yaml", "File name too long"),
    ],
    ids=["not-a-directory", "loop", "through-a-loop", "name-too-long", "directory-too-long"],
)
@pytest.mark.parametrize("command", ["check", "run", "matrix"])
def test_an_os_error_on_an_input_path_is_one_line(
    tmp_path: Path, make: object, message: str, command: str
) -> None:
    shutil.copy(SMALL, tmp_path / "file.yaml")
    (tmp_path / "loop").symlink_to("loop")
    path = make(tmp_path)  # type: ignore[operator]
    run = invoke([command, path])
    assert run.code == 2
    line = one_line(run.stderr)
    assert line.startswith(f"{path}: ") and message.lower() in line.lower(), line


def test_a_fifo_with_a_writer_runs(tmp_path: Path) -> None:
    fifo = tmp_path / "scenario.yaml"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_text, args=(SMALL.read_text(),), daemon=True)
    writer.start()
    run = invoke(["run", str(fifo), "--kernel", "v4.5"])
    writer.join(timeout=10)
    assert run.code == 0, run.stderr
    assert "livelock" in run.stdout


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("command", ["run", "check", "matrix"])
def test_a_fifo_without_a_writer_waits_and_a_signal_stops_it(
    tmp_path: Path, sig: int, command: str
) -> None:
    fifo = tmp_path / "scenario.yaml"
    os.mkfifo(fifo)
    proc = mpsim_popen(command, str(fifo))
    try:
        time.sleep(1.5)  # importing, then blocked in open() for a writer
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 4, err
    assert err == f"mpsim: interrupted while waiting to read {fifo}\n"
