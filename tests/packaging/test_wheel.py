"""The wheel as a user gets it: built from this tree, installed in a fresh venv, away from it.

Slow (a wheel build and a venv with mpsim's dependencies, about a minute),
so everything is checked on the one installation.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mempool_cli import native
from mempool_cli.scenario.kernels import PRESET_NAMES
from tests.unit.test_native import why_not_compiled

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(REPO.glob("scenarios/**/*.yaml"))


def _run(*args: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["COLUMNS"] = "250"  # content, not layout
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=check
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, the bin directory of a fresh venv it is installed in, with pytest)."""
    root = tmp_path_factory.mktemp("wheel")
    # Build from a copy: a build in the tree would leave build/ and *.egg-info behind.
    source = root / "src"
    shutil.copytree(
        REPO,
        source,
        # (and no extension built in place here: the wheel builds its own)
        ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", ".*_cache", "*.so"),
    )
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-q",
        "-w",
        root / "dist",
        source,
        cwd=root,
    )
    (wheel,) = (root / "dist").glob("mpsim-*.whl")
    _run(sys.executable, "-m", "venv", root / "venv", cwd=root)
    bin_dir = root / "venv" / "bin"
    _run(bin_dir / "python", "-m", "pip", "install", "-q", wheel, "pytest", cwd=root)
    return wheel, bin_dir


def test_the_wheel_holds_the_library_the_license_and_the_type_marker(
    installed: tuple[Path, Path],
) -> None:
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in SHIPPED:
        assert f"mempool_cli/shipped/{path.relative_to(REPO / 'scenarios')}" in names
    assert "mempool_cli/shipped/README.md" in names
    assert "mempool_cli/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[pytest11]" in text and "mempool_cli.pytest_plugin" in text
    assert "mempool_cli/explore/cvisited.pyi" in names  # (the C module's types)
    if why_not_compiled() is None:  # the compiled search modules (mempool_cli/native.py)
        for module in native.MODULES + native.C_SOURCES:
            stem = module.removesuffix(".py").removesuffix(".c")
            assert any(n.startswith(f"{stem}.") and n.endswith(".so") for n in names), module


def test_mpsim_library_lists_and_runs_the_seed_scenario(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, bin_dir = installed
    listed = _run(bin_dir / "mpsim", "library", cwd=tmp_path)
    assert f"{len(SHIPPED)} scenarios in " in listed.stdout
    assert "site-packages/mempool_cli/shipped" in listed.stdout
    done = _run(
        bin_dir / "mpsim",
        "library",
        "run",
        "rientjes-2016-oom-victim",
        "--kernel",
        "v4.5",
        cwd=tmp_path,
    )
    assert "kernel v4.5 (preset v4.5):  livelock  (expected livelock)  PASS" in done.stdout
    assert "*** LIVELOCK ***" in done.stdout
    copied = _run(bin_dir / "mpsim", "library", "copy", "rientjes-2016-oom-victim", cwd=tmp_path)
    assert copied.returncode == 0
    text = (tmp_path / "rientjes-2016-oom-victim.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=mpsim-schema.json\n")
    assert (
        _run(bin_dir / "mpsim", "check", "rientjes-2016-oom-victim.yaml", cwd=tmp_path).returncode
        == 0
    )


def test_pytest_mpsim_on_the_shipped_library(installed: tuple[Path, Path], tmp_path: Path) -> None:
    _, bin_dir = installed
    library = Path(_run(bin_dir / "mpsim", "library", "path", cwd=tmp_path).stdout.strip())
    pytest = (bin_dir / "python", "-m", "pytest", "--mpsim", library, "-p", "no:cacheprovider")
    done = _run(*pytest, "--collect-only", "-q", cwd=tmp_path)
    items = [line for line in done.stdout.splitlines() if "::" in line]
    assert len(items) == len(SHIPPED) * len(PRESET_NAMES)  # every scenario under every preset
    assert any(line.endswith("rientjes-2016-oom-victim.yaml::v4.5") for line in items)
    done = _run(*pytest, "-q", cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stdout[-3000:]
    assert f"{len(SHIPPED) * len(PRESET_NAMES)} passed" in done.stdout
