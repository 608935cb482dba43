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
    "Incomplete",
    "MpsimError",
    "Problem",
    "ReportError",
    "ScenarioError",
    "UsageError",
    "printable",
]

# Exit status of `mpsim`, as docs/format.md defines it.
EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_INVALID = 3
EXIT_INCOMPLETE = 4


def printable(text: str) -> str:
    r"""``text`` with the bytes of a file name that are not UTF-8 written as ``\xNN``.

    Linux allows any bytes in a file name; Python hands the ones that are
    not UTF-8 over as lone surrogates (PEP 383), which valid UTF-8 and
    JSON cannot carry. Every report, JSON document and message shows such
    a name this one way.

    >>> printable("dir/\udcffx.yaml"), printable("caf\u00e9.yaml")
    ('dir/\\xffx.yaml', 'café.yaml')
    """
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no file name decodes to
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


class MpsimError(Exception):
    """Base class of every error that is the user's to fix, not mpsim's."""

    exit_code = EXIT_USAGE


class UsageError(MpsimError):
    """A command line that cannot be carried out (bad option value, unknown preset)."""

    exit_code = EXIT_USAGE


class Incomplete(MpsimError):
    """A search a limit or Ctrl-C cut short before it could give the answer asked for."""

    exit_code = EXIT_INCOMPLETE


class EnvironmentProblem(MpsimError):
    """The machine refused something: unreadable file, unwritable output, no graphviz."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a scenario file, at a 1-based line and column.

    ``level`` is ``error`` for a problem, ``note`` for something ``mpsim
    check`` tells the user about a valid file (a gfp flag the model ignores).
    """

    path: str
    line: int
    col: int
    message: str
    source_line: str = ""
    level: str = "error"

    def render(self, width: int | None = None) -> str:
        """``FILE:LINE:COL: error: MESSAGE`` then the source line and a caret.

        The echoed source line is cut to ``width`` columns around the caret
        (default: 100 characters of it); the first line stays whole, since
        editors and CI parse it.

        >>> print(Problem("a.yaml", 2, 5, "unknown key 'x'", "  - x: 1").render())
        a.yaml:2:5: error: unknown key 'x'
          - x: 1
            ^
        """
        head = f"{self.path}:{self.line}:{self.col}: {self.level}: {escaped(self.message)}"
        if not self.source_line:
            return head
        window = _WINDOW if width is None else max(width - 6, 10)
        line, col = _window(self.source_line, max(self.col - 1, 0), window)
        return f"{head}\n{line}\n{' ' * col}^"


def escaped(text: str) -> str:
    r"""``text`` with every control or format character written as an escape, never raw.

    A source line is echoed to a terminal: an ESC or BEL would be obeyed
    (an OSC sequence can set the window title, or worse), a NUL or a line
    separator would garble the caret line.

    >>> escaped("a\x1b]0;x\x07 \x00\x7f \u2028 \u202e é")
    'a\\x1b]0;x\\x07 \\x00\\x7f \\u2028 \\u202e é'
    """
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char.isprintable() or char == " ":
            out.append(char)
        elif ord(char) < 0x100:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return "".join(out)


_WINDOW = 100


def _window(line: str, col: int, window: int = _WINDOW) -> tuple[str, int]:
    """The source line with tabs expanded, cut to ``window`` characters around ``col``, with
    ``...`` at a cut end (so at most ``window + 6`` columns).

    Returns the text to print and where the caret goes in it.

    >>> _window(chr(9) + "x: 1", 1)
    ('        x: 1', 8)
    >>> text, at = _window("a" * 300 + "B" + "c" * 300, 300)
    >>> text[at], len(text) <= _WINDOW + 6
    ('B', True)
    >>> _window("a" + chr(0) + "b", 2)
    ('a\\\\x00b', 5)
    """
    expanded_col = len(escaped(line[:col].expandtabs()))
    text = escaped(line.expandtabs())
    if len(text) <= window:
        return text, expanded_col
    start = max(0, min(expanded_col - window // 2, len(text) - window))
    cut = text[start : start + window]
    prefix = "..." if start else ""
    suffix = "..." if start + window < len(text) else ""
    return prefix + cut + suffix, expanded_col - start + len(prefix)


class ScenarioError(MpsimError):
    """A scenario file is invalid; carries every problem found, in file order."""

    exit_code = EXIT_INVALID

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.path, p.line, p.col, p.message))
        super().__init__(self.render())

    def render(self, width: int | None = None) -> str:
        """Every problem, each with its source line cut to ``width`` columns (``render``)."""
        return "\n".join(p.render(width) for p in self.problems)


class ReportError(ScenarioError):
    """A lockdep report given to ``mpsim import lockdep`` that cannot be read as one.

    It is bad input like an invalid scenario (exit 3), positioned the same
    way: ``FILE:LINE:COL: error: ...`` with the report's line and a caret.
    """
