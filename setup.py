"""The scenario library goes into the wheel as package data (``mempool_cli/shipped/``).

Everything else is in pyproject.toml. The library stays at the repository
root (``scenarios/``), where ``make run`` and the README's commands use it.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

LIBRARY = Path(__file__).resolve().parent / "scenarios"


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


setup(cmdclass={"build_py": BuildWithLibrary})
