"""One exception family for everything mpsim reports to a user.

The CLI maps each class to an exit status in exactly one place
(``cli.py``); anything else that escapes is a bug in mpsim.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "EXIT_FAIL",
    "EXIT_INCOMPLETE",
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_USAGE",
    "EnvironmentProblem",
    "MpsimError",
    "Problem",
    "ScenarioError",
    "UsageError",
]

# Exit status of `mpsim`, as the contract (scenario-format.md) defines it.
EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_INVALID = 3
EXIT_INCOMPLETE = 4


class MpsimError(Exception):
    """Base class of every error that is the user's to fix, not mpsim's."""

    exit_code = EXIT_USAGE


class UsageError(MpsimError):
    """A command line that cannot be carried out (bad option value, unknown preset)."""

    exit_code = EXIT_USAGE


class EnvironmentProblem(MpsimError):
    """The machine refused something: unreadable file, unwritable output, no graphviz."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a scenario file, at a 1-based line and column."""

    path: str
    line: int
    col: int
    message: str
    source_line: str = ""

    def render(self) -> str:
        """``FILE:LINE:COL: error: MESSAGE`` then the source line and a caret.

        >>> print(Problem("a.yaml", 2, 5, "unknown key 'x'", "  - x: 1").render())
        a.yaml:2:5: error: unknown key 'x'
          - x: 1
            ^
        """
        head = f"{self.path}:{self.line}:{self.col}: error: {self.message}"
        if not self.source_line:
            return head
        caret = " " * max(self.col - 1, 0) + "^"
        return f"{head}\n{self.source_line}\n{caret}"


class ScenarioError(MpsimError):
    """A scenario file is invalid; carries every problem found, in file order."""

    exit_code = EXIT_INVALID

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.path, p.line, p.col, p.message))
        super().__init__("\n".join(p.render() for p in self.problems))
