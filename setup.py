"""The scenario library goes into the wheel as package data (``mempool_cli/shipped/``),
with the JSON Schema its modelines name (``mempool_cli/mpsim-schema.json``: the library's
``../../mpsim-schema.json``, as in the repository).

Everything else is in pyproject.toml. The library stays at the repository
root (``scenarios/``), where ``make run`` and the README's commands use it.
"""

from pathlib import Path

from setuptools import setup
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


setup(cmdclass={"build_py": BuildWithLibrary})
