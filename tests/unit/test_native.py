"""The compiled modules (mempool_cli/native.py, setup.py): built where they can be, and the
same results as the Python they are compiled from."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from mempool_cli import native
from tests.unit.test_bench_murphi import bench  # bench/run.py: the pool-workers-N scenario

REPO = Path(__file__).resolve().parents[2]


def test_the_makefile_rebuilds_on_an_edit_to_each_compiled_module() -> None:
    """The Makefile's NATIVE list (what the install stamp depends on) is MODULES and
    C_SOURCES."""
    text = (REPO / "Makefile").read_text()
    match = re.search(r"^NATIVE := ((?:.*\\\n)*.*)$", text, re.MULTILINE)
    assert match, "no NATIVE in the Makefile"
    assert tuple(match.group(1).replace("\\\n", " ").split()) == native.MODULES + native.C_SOURCES


def test_the_compiled_modules_hold_no_doctests() -> None:
    """pytest does not collect a compiled module's source for doctests (conftest.py): an
    example there would never run."""
    for path in native.MODULES:
        assert ">>>" not in (REPO / path).read_text(), path


@pytest.mark.skipif(os.environ.get("MPSIM_PURE") == "1", reason="MPSIM_PURE=1 builds no extension")
def why_not_compiled() -> str | None:
    """Why an install here builds no extension, or None where it can build them."""
    if os.environ.get("MPSIM_PURE") == "1":
        return "MPSIM_PURE=1 builds no extension"
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        return "no C compiler on PATH: the modules run as Python"
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not headers.exists():
        return f"no {headers} (the Python headers): the modules run as Python"
    return None


def test_every_module_is_compiled_where_there_is_a_c_compiler() -> None:
    reason = why_not_compiled()
    if reason is not None:
        pytest.skip(reason)
    assert native.compiled() == tuple(
        p.removesuffix(".py").removesuffix(".c").replace("/", ".")
        for p in native.MODULES + native.C_SOURCES
    )
    assert native.stale() == ()


def _run(cwd: Path, pythonpath: Path | None, args: list[str]) -> list[dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    done = subprocess.run(
        [sys.executable, "-m", "mempool_cli", "run", "--format", "json", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 1, 4), done.stderr
    results: list[dict[str, object]] = json.loads(done.stdout)
    for result in results:
        result.pop("seconds", None)
        stats = result.get("stats")
        if isinstance(stats, dict):
            stats.pop("seconds", None)
    return results


def test_the_python_source_finds_what_the_compiled_modules_find(tmp_path: Path) -> None:
    """Every shipped scenario, bench/hetero.yaml (stubborn sets) and pool-workers-6
    (symmetry with locks held; whole and cut by --max-states), run with the package as
    it is installed (compiled, where it was built) and with a copy of its Python source
    alone: the same JSON, timings aside."""
    pure = tmp_path / "pure"
    shutil.copytree(
        REPO / "mempool_cli", pure / "mempool_cli", ignore=shutil.ignore_patterns("*.so")
    )
    version = subprocess.run(
        [sys.executable, "-m", "mempool_cli", "--version"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(pure)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "search modules: interpreted" in version.stdout  # the copy is what runs
    workers = tmp_path / "pool-workers-6.yaml"
    workers.write_text(bench.pool_workers(6, "deadlock"))
    files = [*map(str, sorted(REPO.glob("scenarios/**/*.yaml"))), str(REPO / "bench/hetero.yaml")]
    for args in ([*files, str(workers)], [str(workers), "--max-states", "3000"]):
        here = _run(tmp_path, None, args)
        assert len(here) == len(args) - 2 * ("--max-states" in args)
        assert _run(tmp_path, pure, args) == here
