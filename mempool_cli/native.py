"""Which of the search's hot modules run compiled (docs/model.md, "Compiled modules").

setup.py compiles ``MODULES`` with mypyc and builds ``C_SOURCES`` when it
can; each mypyc module that did not build runs as Python, and without a C
one the search uses visited.py's Python for what it does, with the same
results, slower. ``mpsim --version``
reports which, and the test suite refuses an in-tree build older than its
sources (tests/conftest.py).

This module imports nothing of mpsim's, so setup.py can read ``MODULES``
before the package is built.
"""

from __future__ import annotations

import importlib
from pathlib import Path

__all__ = ["C_SOURCES", "MODULES", "compiled", "module_name", "stale", "summary"]

# The modules the search spends its time in, as paths from the repository root.
MODULES = (
    "mempool_cli/kernel/packing.py",
    "mempool_cli/kernel/reductions.py",
    "mempool_cli/kernel/expand.py",
    "mempool_cli/explore/visited.py",
)
# Written in C: the state table for byte keys and the hang pass (explore/search.py falls
# back on visited.py's ObjectKeys and bottom_sccs without it).
C_SOURCES = ("mempool_cli/explore/cvisited.c",)


def module_name(path: str) -> str:
    """The module a source of ``MODULES`` or ``C_SOURCES`` builds (setup.py names its
    extensions so)."""
    return path.removesuffix(".py").removesuffix(".c").replace("/", ".")


def _built(path: str) -> Path | None:
    """The extension module ``path`` was built into, or None where it runs as Python (or,
    for a C source, is not there)."""
    try:
        module = importlib.import_module(module_name(path))
    except ImportError:
        return None
    built = Path(str(module.__file__))
    return None if built.suffix == ".py" else built


def compiled() -> tuple[str, ...]:
    """The modules of ``MODULES`` and ``C_SOURCES`` that import as C extensions."""
    return tuple(module_name(path) for path in MODULES + C_SOURCES if _built(path) is not None)


def stale() -> tuple[str, ...]:
    """The compiled modules whose source is newer than their extension (an in-tree build
    from before an edit: the extension, not the source, is what runs)."""
    out = []
    for path in MODULES + C_SOURCES:
        built = _built(path)
        if built is None:
            continue
        source = built.with_name(Path(path).name)
        if source.exists() and source.stat().st_mtime > built.stat().st_mtime:
            out.append(module_name(path))
    return tuple(out)


def summary() -> str:
    """One line for ``mpsim --version``."""
    done = compiled()
    if not done:
        return "search modules: interpreted (no C extension was built)"
    mypyc = sum(module_name(path) in done for path in MODULES)
    c = sum(module_name(path) in done for path in C_SOURCES)
    how = f"{mypyc} of {len(MODULES)} with mypyc, {c} of {len(C_SOURCES)} from C"
    if len(done) == len(MODULES) + len(C_SOURCES):
        return f"search modules: compiled ({how})"
    return f"search modules: partly compiled ({how})"
