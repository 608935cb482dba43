"""The scenario library goes into the wheel as package data (``mempool_cli/shipped/``),
with the JSON Schema its modelines name (``mempool_cli/mpsim-schema.json``: the library's
``../../mpsim-schema.json``, as in the repository).

The search's hot modules (``MODULES`` in mempool_cli/native.py) are compiled to
C extensions with mypyc, and its state table for byte keys and hang pass
(``C_SOURCES``) are built from C (docs/model.md, "Compiled modules"). The
extensions are optional: without a C compiler the build warns and the same
modules run as Python, with the same results, slower; ``MPSIM_PURE=1`` builds
none. ``mpsim --version`` says which.

Everything else is in pyproject.toml. The library stays at the repository
root (``scenarios/``), where ``make run`` and the README's commands use it.
"""

import os
import runpy
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
LIBRARY = ROOT / "scenarios"


class BuildWithLibrary(build_py):  # type: ignore[misc]
    """build_py, then the shipped scenarios copied under the built package."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "mempool_cli" / "shipped"
        for source in sorted(LIBRARY.rglob("*")):
            if source.is_file() and source.suffix in (".yaml", ".md"):
                dest = target / source.relative_to(LIBRARY)
                self.mkpath(str(dest.parent))
                self.copy_file(str(source), str(dest))
        self.copy_file(str(ROOT / "mpsim-schema.json"), str(target.parent / "mpsim-schema.json"))


def extensions() -> list[object]:
    """The mypyc extensions and the C ones, each optional; none with MPSIM_PURE=1 set."""
    if os.environ.get("MPSIM_PURE") == "1":
        return []
    native = runpy.run_path(str(ROOT / "mempool_cli" / "native.py"))
    modules: list[object] = [
        Extension(
            native["module_name"](source),
            [source],
            extra_compile_args=["-O2"],
            optional=True,
        )
        for source in native["C_SOURCES"]
    ]
    try:
        from mypyc.build import mypycify
    except ImportError:  # (a build without its build requirements: no mypyc modules)
        return modules
    compiled = mypycify(list(native["MODULES"]), opt_level="3", group_name="mempool_cli_native")
    for module in compiled:
        module.optional = True
    return modules + list(compiled)


setup(cmdclass={"build_py": BuildWithLibrary}, ext_modules=extensions())
