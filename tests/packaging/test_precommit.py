"""The pre-commit hook, as `pre-commit try-repo` runs it on a staged bad scenario.

try-repo installs this repository (with its uncommitted changes) into a
hook environment, so the test needs no network beyond the package index
pip already uses; it takes about half a minute.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None, reason="pre-commit needs git, which is not installed"
)


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_the_hook_fails_on_a_staged_bad_scenario_with_its_position(tmp_path: Path) -> None:
    assert PRE_COMMIT.exists(), "pre-commit is in the test extras: make test installs it"
    work = tmp_path / "kernel-tree"
    (work / "scenarios").mkdir(parents=True)
    _git("init", "-q", cwd=work)
    _git("config", "user.email", "dev@example.org", cwd=work)
    _git("config", "user.name", "dev", cwd=work)
    good = (REPO / "scenarios/mempool/weiner-2016-abba.yaml").read_text()
    (work / "scenarios" / "good.yaml").write_text(good)
    (work / "scenarios" / "bad.yaml").write_text(
        "mpsim: 1\nlocks: {M: mutex}\ntasks:\n  t:\n    steps:\n      - mutex_lok: M\n"
    )
    _git("add", "scenarios", cwd=work)
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "cache"), NO_COLOR="1")
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        [str(PRE_COMMIT), "try-repo", str(REPO), "mpsim-check", "--color", "never"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "mpsim check" in out and "Failed" in out
    assert "scenarios/bad.yaml:6:9: error: unknown step 'mutex_lok'" in out
    assert "good.yaml" not in out.split("Failed", 1)[1] or "good.yaml: ok" in out
