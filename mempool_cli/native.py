"""Which of the search's hot modules run compiled (docs/model.md, "Compiled modules").

setup.py compiles ``MODULES`` with mypyc when it can; each one that did not
build runs as Python, with the same results, slower. ``mpsim --version``
reports which, and the test suite refuses an in-tree build older than its
sources (tests/conftest.py).

This module imports nothing of mpsim's, so setup.py can read ``MODULES``
before the package is built.
"""

from __future__ import annotations

import importlib
from pathlib import Path

__all__ = ["MODULES", "compiled", "stale", "summary"]

# The modules the search spends its time in, as paths from the repository root.
MODULES = (
    "mempool_cli/kernel/packing.py",
    "mempool_cli/kernel/reductions.py",
    "mempool_cli/kernel/expand.py",
    "mempool_cli/explore/visited.py",
)


def _name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def compiled() -> tuple[str, ...]:
    """The modules of ``MODULES`` that import as C extensions."""
    out = []
    for path in MODULES:
        module = importlib.import_module(_name(path))
        if not str(module.__file__).endswith(".py"):
            out.append(_name(path))
    return tuple(out)


def stale() -> tuple[str, ...]:
    """The compiled modules whose source is newer than their extension (an in-tree build
    from before an edit: the extension, not the source, is what runs)."""
    out = []
    for path in MODULES:
        module = importlib.import_module(_name(path))
        built = Path(str(module.__file__))
        source = built.with_name(Path(path).name)
        fresh = built.suffix == ".py" or not source.exists()
        if not fresh and source.stat().st_mtime > built.stat().st_mtime:
            out.append(_name(path))
    return tuple(out)


def summary() -> str:
    """One line for ``mpsim --version``."""
    done = compiled()
    if len(done) == len(MODULES):
        return f"search modules: compiled ({len(done)} of {len(MODULES)}, mypyc)"
    if not done:
        return "search modules: interpreted (no C extension was built)"
    return f"search modules: {len(done)} of {len(MODULES)} compiled (mypyc)"
