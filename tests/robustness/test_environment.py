"""Every failure of the environment is one line and exit 2 (or 3 for a file that is not a scenario).

Unreadable, missing and odd files (directories, FIFOs, devices), output that
cannot be written, a closed or full stdout, a reader that goes away, and a
missing Graphviz: never a traceback, never an "internal error".
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mempool_cli.scenario import loader
from tests.property.harness import HEAD, invoke
from tests.robustness.child import ROOT, SMALL, env, mpsim, slow_scenario

SETPRIV = shutil.which("setpriv")


def one_line(text: str) -> str:
    assert text.endswith("\n") and text.count("\n") == 1, repr(text)
    assert "Traceback" not in text and "internal error" not in text
    return text


COMMANDS = [
    ["check", "{}"],
    ["run", "{}"],
    ["matrix", "{}"],
    ["replay", "{}", "taskA"],
    ["graph", "{}"],
]


def with_path(command: list[str], path: str) -> list[str]:
    return [path if arg == "{}" else arg for arg in command]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_missing_file(tmp_path: Path, command: list[str]) -> None:
    missing = str(tmp_path / "nope.yaml")
    run = invoke(with_path(command, missing))
    assert run.code == 2
    assert "no such file" in one_line(run.stderr)


@pytest.mark.parametrize(
    "command", [c for c in COMMANDS if c[0] in ("check", "replay", "graph")], ids=lambda c: c[0]
)
def test_a_directory_given_as_a_scenario_file(tmp_path: Path, command: list[str]) -> None:
    run = invoke(with_path(command, str(tmp_path)))
    assert run.code == 2
    assert "is a directory" in one_line(run.stderr)


@pytest.mark.parametrize("command", ["run", "matrix"])
def test_a_directory_without_scenarios(tmp_path: Path, command: str) -> None:
    (tmp_path / "notes.txt").write_text("not a scenario")
    run = invoke([command, str(tmp_path)])
    assert run.code == 2
    assert "no scenario files found" in one_line(run.stderr)


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (PermissionError(errno.EACCES, "Permission denied"), "permission denied"),
        (OSError(errno.EIO, "Input/output error"), "cannot read: Input/output error"),
        (OSError(errno.ELOOP, "Too many levels of symbolic links"), "Too many levels"),
    ],
    ids=["EACCES", "EIO", "ELOOP"],
)
def test_a_file_that_cannot_be_read(
    monkeypatch: pytest.MonkeyPatch, error: OSError, words: str
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(loader, "open", refuse, raising=False)
    for command in ("check", "run"):
        run = invoke([command, str(SMALL)])
        assert run.code == 2
        assert words in one_line(run.stderr)


@pytest.mark.skipif(SETPRIV is None, reason="needs setpriv to drop root's file access override")
def test_a_file_without_read_permission(tmp_path: Path) -> None:
    locked = tmp_path / "locked.yaml"
    shutil.copy(SMALL, locked)
    locked.chmod(0)
    prefix: list[str] = []
    if os.geteuid() == 0:  # root reads anything: drop the capabilities that let it
        prefix = [str(SETPRIV), "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]
    for command in ("check", "run"):
        done = subprocess.run(
            [*prefix, sys.executable, "-m", "mempool_cli", command, str(locked)],
            capture_output=True, text=True, env=env(), cwd=ROOT, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert "permission denied" in one_line(done.stderr)


def test_a_fifo_is_read_like_a_file(tmp_path: Path) -> None:
    fifo = tmp_path / "scenario.yaml"
    os.mkfifo(fifo)
    for text, code in ((SMALL.read_text(), 0), ("tasks: [\n", 3)):
        writer = threading.Thread(target=fifo.write_text, args=(text,))
        writer.start()
        run = invoke(["check", str(fifo)])
        writer.join(timeout=10)
        assert run.code == code
        if code == 3:
            assert HEAD.match(run.stderr.splitlines()[0])


@pytest.mark.parametrize(
    ("device", "message"),
    [("/dev/null", "the file is empty"), ("/dev/zero", "larger than")],
)
def test_a_device_is_an_invalid_scenario_not_a_hang(device: str, message: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    run = invoke(["check", device])
    assert run.code == 3
    assert run.stderr.startswith(f"{device}:1:1: error: ") and message in run.stderr


def test_stdin_that_is_not_a_scenario() -> None:
    run = invoke(["run", "-"], b"\xff\xfe binary \x00")
    assert run.code == 3
    assert run.stderr.startswith("<stdin>:1:")


# ------------------------------------------------------------------ output


def test_stdout_closed() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mempool_cli", "run", str(SMALL)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env(), cwd=ROOT,
        timeout=60, check=False, preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert done.returncode == 2
    assert "standard output is closed" in one_line(done.stderr)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("command", [["run", str(SMALL)], ["check", str(SMALL)], ["schema"]])
def test_stdout_on_a_full_disk(command: list[str]) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "mempool_cli", *command],
            stdout=full, stderr=subprocess.PIPE, text=True, env=env(), cwd=ROOT, timeout=60,
            check=False,
        )  # fmt: skip
    assert done.returncode == 2
    assert "No space left on device" in one_line(done.stderr)


def test_a_reader_that_goes_away_ends_the_run_quietly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mempool_cli", "run", str(ROOT / "scenarios"), "--all-kernels",
         "--trace", "--format", "json", "--max-states", "3000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(), cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before mpsim writes a byte
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 2
    assert err == ""


def test_svg_without_graphviz(tmp_path: Path) -> None:
    abba = ROOT / "scenarios" / "mempool" / "weiner-2016-abba.yaml"
    if not abba.exists():
        pytest.skip("the ABBA scenario moved")
    done = mpsim("graph", str(abba), "--format", "svg", environ=env(PATH=str(tmp_path)))
    assert done.returncode == 2
    assert "Graphviz" in one_line(done.stderr)
    out = tmp_path / "g.svg"
    done = mpsim(
        "graph", str(abba), "--format", "svg", "-o", str(out), environ=env(PATH=str(tmp_path))
    )
    assert done.returncode == 2 and not out.exists()


# Shown the same way in text, JSON and files: the odd byte as \xNN (test_file_names.py).
NAMED = b"sc\\xffenario.yaml"


@pytest.mark.parametrize(
    "command",
    [["run"], ["run", "--format", "json"], ["run", "-o"], ["check"], ["matrix"]],
    ids=lambda c: " ".join(c),
)
def test_a_file_name_that_is_not_utf8(tmp_path: Path, command: list[str]) -> None:
    """Most locales print with strict errors: the name's odd byte must not crash the report."""
    odd = os.path.join(os.fsencode(tmp_path), b"sc\xffenario.yaml")
    shutil.copy(os.fsencode(SMALL), odd)
    report = os.path.join(os.fsencode(tmp_path), b"report-\xfe.txt")
    words = [os.fsencode(word) for word in command]
    args = [*words, odd] if command[-1] != "-o" else [*words, report, odd]
    done = subprocess.run(
        [os.fsencode(sys.executable), b"-m", b"mempool_cli", *args],
        capture_output=True, env=env(PYTHONIOENCODING="utf-8:strict"), cwd=ROOT, timeout=60,
        check=False,
    )  # fmt: skip
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode in (0, 1), err
    assert "Traceback" not in err and "internal error" not in err, err
    out = Path(os.fsdecode(report)).read_bytes() if command[-1] == "-o" else done.stdout
    if "json" in command:
        assert json.loads(out)[0]["file"].encode().endswith(NAMED), out[:300]
    elif command[0] != "matrix":  # the matrix shows scenario names, not files
        assert NAMED in out, out[:300]


def test_a_missing_file_among_several_hides_no_other_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks: {t: {steps: [mutex_lock: M]}}\n")
    missing = str(tmp_path / "missing.yaml")
    checked = invoke(["check", str(SMALL), missing, str(bad), str(SMALL)])
    assert checked.code == 3  # invalid wins over unreadable
    assert checked.stdout.count(": ok (") == 2
    assert "missing.yaml: no such file" in checked.stderr
    assert f"{bad}:1:33: error: unknown lock 'M'" in checked.stderr
    assert invoke(["check", str(SMALL), missing]).code == 2
    ran = invoke(["run", str(SMALL), missing, str(bad)])
    assert ran.code == 2 and ran.stdout == ""
    assert "missing.yaml: no such file" in ran.stderr
    assert f"{bad}:1:33: error: unknown lock 'M'" in ran.stderr


@pytest.mark.parametrize("stderr", ["closed", "full"])
def test_progress_on_a_broken_stderr_loses_nothing(tmp_path: Path, stderr: str) -> None:
    """A search long enough to print progress, with stderr gone: the report still comes."""
    if stderr == "full" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    slow = tmp_path / "slow.yaml"
    slow.write_text(slow_scenario())
    args = [sys.executable, "-m", "mempool_cli", "run", str(slow), "--max-seconds", "2.5"]
    close = (lambda: os.close(2)) if stderr == "closed" else None
    with open("/dev/full" if stderr == "full" else os.devnull, "w") as sink:
        done = subprocess.run(
            args, stdout=subprocess.PIPE, stderr=sink, text=True, env=env(), cwd=ROOT,
            timeout=60, check=False, preexec_fn=close,
        )  # fmt: skip
    assert done.returncode == 4
    assert "incomplete: time limit" in done.stdout
