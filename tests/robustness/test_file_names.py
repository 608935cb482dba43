r"""A scenario file whose name is not UTF-8 (Linux allows any bytes but '/' and NUL).

Reports, JSON and messages show such a name one way: each byte that is
not UTF-8 as ``\xNN``; the replay command quotes it as ``$'...\xNN...'``
so that a shell passes the very bytes back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.robustness.child import ROOT, SMALL, env

NAME = b"r\xffx.yaml"


def mpsim_bytes(*args: str | bytes) -> tuple[int, str, str]:
    """``mpsim ARGS`` in a child, as a shell would run it; its output must be valid UTF-8."""
    proc = subprocess.run(
        [sys.executable, "-m", "mempool_cli", *args], capture_output=True, env=env(), cwd=ROOT
    )
    out, err = proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")  # strict
    assert "Traceback" not in err and "internal error" not in err, err
    return proc.returncode, out, err


@pytest.fixture
def odd(tmp_path: Path) -> tuple[bytes, str]:
    """The file's path as bytes, and as reports show it."""
    path = os.fsencode(tmp_path) + b"/" + NAME
    with open(path, "wb") as f:
        f.write(SMALL.read_bytes())
    return path, f"{tmp_path}/r\\xffx.yaml"


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_shows_the_name_with_its_bytes_escaped(odd: tuple[bytes, str], fmt: str) -> None:
    path, shown = odd
    code, out, err = mpsim_bytes("run", path, "--kernel", "v4.5", "--format", fmt)
    assert code == 0, err
    report = json.loads(out)[0] if fmt == "json" else json.loads(out.splitlines()[0])
    assert report["file"] == shown
    json.dumps(report, ensure_ascii=False).encode("utf-8")  # no lone surrogate anywhere
    assert report["findings"][0]["replay"].startswith(f"mpsim replay $'{shown}' ")


def test_text_and_messages_show_the_same_name(odd: tuple[bytes, str], tmp_path: Path) -> None:
    path, shown = odd
    code, out, _ = mpsim_bytes("run", path, "--kernel", "v4.5")
    assert code == 0 and f"  {shown}: " in out
    assert mpsim_bytes("check", path)[1].startswith(f"{shown}: ok")
    bad = os.fsencode(tmp_path) + b"/bad\xfe.yaml"
    with open(bad, "wb") as f:
        f.write(b"mpsim: 1\n")
    code, _, err = mpsim_bytes("run", bad)
    assert code == 3 and err.startswith(f"{tmp_path}/bad\\xfe.yaml:1:1: error: ")
    code, _, err = mpsim_bytes("run", os.fsencode(tmp_path) + b"/gone\xfd.yaml")
    assert code == 2 and err == f"{tmp_path}/gone\\xfd.yaml: no such file\n"


def test_a_name_taken_from_such_a_file_name_is_shown_the_same_way(tmp_path: Path) -> None:
    text = SMALL.read_text().replace("name: rientjes-2016-oom-victim\n", "")
    path = os.fsencode(tmp_path) + b"/" + NAME
    with open(path, "w") as f:
        f.write(text)
    code, out, err = mpsim_bytes("run", path, "--kernel", "v4.5", "--format", "json")
    assert code == 0, err
    assert json.loads(out)[0]["scenario"] == "r\\xffx"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash for $'...'")
def test_the_replay_command_works_in_a_shell(odd: tuple[bytes, str]) -> None:
    path, _ = odd
    _, out, _ = mpsim_bytes("run", path, "--kernel", "v4.5", "--format", "json")
    command = json.loads(out)[0]["findings"][0]["replay"]
    script = f'mpsim() {{ "{sys.executable}" -m mempool_cli "$@"; }}\n{command}\n'
    proc = subprocess.run(["bash", "-c", script], capture_output=True, env=env(), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    assert b"reaches: livelock" in proc.stdout
