"""What the robustness tests share: a scenario that is slow to explore; `mpsim` in a child."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "tests" / "data" / "rientjes-2016-oom-victim.yaml"


def slow_scenario(tasks: int = 10) -> str:
    """A scenario whose search takes minutes: many tasks, all different (no symmetry to exploit),
    all touching the same free pages, pool and locks (little independence to exploit)."""
    body = {}
    for i in range(tasks):
        lock = "M" if i % 2 else "L"
        body[f"w{i}"] = {
            "rss": i,
            "steps": [
                {"alloc_pages": {"gfp": "GFP_KERNEL", "as": "page"}},
                {"mutex_lock": lock},
                {"mempool_alloc": {"pool": "pool0", "gfp": "GFP_NOIO", "as": "elem"}},
                {"mempool_free": "elem"},
                {"mutex_unlock": lock},
                {"free_pages": "page"},
            ],
        }
    doc = {
        "mpsim": 1,
        "name": "slow",
        "memory": {"free": 40, "min": 2},
        "pools": {"pool0": {"min_nr": 3}},
        "locks": {"M": "mutex", "L": "mutex"},
        "tasks": body,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def env(**extra: str) -> dict[str, str]:
    out = dict(os.environ)
    out["COLUMNS"] = "250"  # no report line wraps: these tests read content, not layout
    out.update({"NO_COLOR": "1", "PYTHONPATH": str(ROOT)}, **extra)
    return out


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def mpsim_popen(
    *args: str, environ: dict[str, str] | None = None, session: bool = False
) -> subprocess.Popen[str]:
    """``mpsim ARGS`` in a child Python, as a user would run it.

    ``session``: in a process group of its own, as a shell's foreground job
    is, so that a signal can go to the whole group like a terminal's Ctrl-C.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "mempool_cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ if environ is not None else env(),
        cwd=ROOT,
        start_new_session=session,
        # As from a terminal: Ctrl-C delivered, even when this suite runs as a background
        # job (whose children inherit SIGINT ignored, and Python then keeps it ignored).
        preexec_fn=_default_sigint,
    )


def mpsim(*args: str, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = mpsim_popen(*args, environ=environ)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
