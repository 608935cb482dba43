"""rich renderables for terminal output; the only module that imports rich.

Everything here turns plain data (from report.py or the spec) into text;
nothing here decides what a finding means. On a terminal the output has
colours and rounded boxes; piped it is ASCII (``rich.box.ASCII``) with no
escape codes; NO_COLOR and FORCE_COLOR change the colour and nothing
else. Every line fits the width (``--width``, the terminal's, ``COLUMNS``
or 80): prose wraps at spaces under its own indent and table cells are
wrapped here, before rich sees them, so a word is cut only when it is
longer than its column. ``--style plain`` draws lockdep's layout with no
boxes, for mail.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TextIO

from rich import box
from rich.console import Console, RenderableType
from rich.live import Live
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from mempool_cli.errors import printable
from mempool_cli.explore import Progress
from mempool_cli.report import (
    HANG_OUTCOMES,
    FindingReport,
    PotentialOrder,
    ReplayResult,
    RunResult,
    StoryRow,
    TraceStep,
    outcome_text,
    replay_command,
    sort_outcomes,
)
from mempool_cli.scenario.kernels import KNOBS, PRESETS, Kernel, asked_label, knob_help
from mempool_cli.scenario.loader import STDIN_NAME

__all__ = [
    "CountProgress",
    "ProgressDisplay",
    "Style",
    "kernels_report",
    "kernels_table",
    "matrix_report",
    "print_kernels",
    "progress_reporter",
    "replay_report",
    "run_report",
    "sweep_code",
    "sweep_report",
]

PIPE_WIDTH = 80  # piped output without COLUMNS or --width
MIN_WIDTH = 40  # narrower than this, no report can keep its columns apart

STYLES = ("boxed", "plain")

# No box at all: columns apart by spaces, a row of dashes under the header,
# the shape of lockdep's "Possible unsafe locking scenario".
PLAIN_BOX = box.Box("    \n    \n -  \n    \n -  \n -  \n    \n    \n", ascii=True)


def _env_flag(name: str) -> bool:
    """An environment switch as no-color.org reads one: set and not empty."""
    return bool(os.environ.get(name, ""))


def _columns() -> int | None:
    try:
        value = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        return None
    return value if value > 0 else None


def _terminal_width(stream: object) -> int | None:
    try:
        return os.get_terminal_size(stream.fileno()).columns  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Style:
    """How to draw a report.

    ``color``: ANSI colours (a terminal without NO_COLOR, or FORCE_COLOR).
    ``unicode``: rounded box characters (a terminal) rather than ASCII ones;
    colour never changes the layout. ``plain``: no boxes at all, for mail.
    ``wrap`` False is the layout of the first golden files: prose lines
    never wrapped, tables at the given width.
    """

    color: bool
    width: int
    unicode: bool = False
    plain: bool = False
    wrap: bool = True

    @classmethod
    def for_stream(
        cls, stream: TextIO | None = None, width: int | None = None, style: str = "boxed"
    ) -> Style:
        """Colour on a terminal (NO_COLOR turns it off, FORCE_COLOR on, NO_COLOR winning).

        The width: ``width``, else the terminal's, else ``COLUMNS``, else 80.
        """
        stream = stream if stream is not None else sys.stdout
        tty = bool(getattr(stream, "isatty", lambda: False)())
        color = (tty or _env_flag("FORCE_COLOR")) and not _env_flag("NO_COLOR")
        if width is None:
            width = (_terminal_width(stream) if tty else None) or _columns() or PIPE_WIDTH
        return cls(color=color, width=max(width, MIN_WIDTH), unicode=tty, plain=style == "plain")

    @property
    def box(self) -> box.Box:
        if self.plain:
            return PLAIN_BOX
        return box.ROUNDED if self.unicode else box.ASCII

    @property
    def ellipsis(self) -> str:
        return "\u2026" if self.unicode else "..."


def _style(style: Style | None, width: int | None, color: bool | None, wrap: bool = True) -> Style:
    """The style a caller gave, or the one of stdout; ``width`` and ``color`` override it."""
    out = style or Style.for_stream(sys.stdout, width)
    if width is not None:
        out = replace(out, width=width)
    if color is not None:
        out = replace(out, color=color)
    return out if wrap else replace(out, wrap=False)


def _capture(parts: Iterable[RenderableType], style: Style) -> str:
    """Render to a string: ANSI when ``style.color``, else no escape codes at all.

    Text parts are wrapped before they get here (``_para``), so rich never
    wraps them again; ``wrap`` False keeps them one line however long.
    """
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=style.width,
        force_terminal=style.color,
        no_color=not style.color,
        color_system="standard" if style.color else None,
        highlight=False,
        emoji=False,
        safe_box=True,
        legacy_windows=False,
    )
    for part in parts:
        soft = isinstance(part, Text) and (style.wrap or not style.color)
        console.print(part, soft_wrap=soft)
    text = buf.getvalue()
    if not style.color:  # no trailing blanks in files and pipes
        text = "\n".join(line.rstrip() for line in text.split("\n"))
    return text


def _lines(
    text: str,
    width: int,
    first: int,
    rest: int,
    breaks: re.Pattern[str] | None = None,
    keep: int = 0,
) -> list[tuple[int, int]]:
    """Where to break ``text`` so its lines fit ``width`` after an indent of ``first``
    (the first line) or ``rest`` (the others): (start, end) offsets into ``text``.

    Lines break at spaces (only those ``breaks`` matches, if given); a word
    longer than a whole line is cut after a bracket, comma, underscore or
    arrow when it has one, else where the line ends. A word that starts in
    ``text[:keep]`` (a file name) is never cut, even if it overflows.

    >>> t = "mutex_lock(M) -> sleeps, held by taskB"
    >>> [t[a:b] for a, b in _lines(t, 20, 2, 4)]
    ['mutex_lock(M) ->', 'sleeps, held by', 'taskB']
    >>> t = "no reclaim progress: __alloc_pages_may_oom next"
    >>> [t[a:b] for a, b in _lines(t, 16, 0, 0)]
    ['no reclaim', 'progress:', '__alloc_pages_', 'may_oom next']
    """
    spaces = [m.start() for m in (breaks or _SPACE).finditer(text)]
    words: list[tuple[int, int]] = []
    start = 0
    for at in [*spaces, len(text)]:
        if at > start:
            words.append((start, at))
        start = max(start, at + 1)
    lines: list[tuple[int, int]] = []
    line: tuple[int, int] | None = None
    for a, b in words:
        room = max(width - (first if not lines and line is None else rest), 1)
        if line is not None and b - line[0] <= room:
            line = (line[0], b)
            continue
        if line is not None:
            lines.append(line)
            room = max(width - rest, 1)
        while b - a > room and a >= keep:
            cut = _cut(text, a, a + room)
            lines.append((a, cut))
            a = cut
            room = max(width - rest, 1)
        line = (a, b)
    if line is not None:
        lines.append(line)
    return [(a, b) for a, b in lines] or [(0, 0)]


_SPACE = re.compile(" ")
# Where a word too long for a line is best cut: after a flag of a mask or an argument,
# then inside a name.
_CUT_AFTER = ("|,(/>=[", "_-")


def _cut(text: str, start: int, limit: int) -> int:
    """Where to cut a word too long for a line: after a punctuation mark in its second half."""
    for marks in _CUT_AFTER:
        for i in range(limit, start + (limit - start) // 2, -1):
            if text[i - 1] in marks and text[i] not in marks:
                return i
    return limit


# Where a wait-for cycle may break: before an edge (``-[held by]->``), never inside a node.
WAITFOR_BREAKS = re.compile(r" (?=-\[)")
# The statistics line keeps the search time whole (``0.01 s``): only that differs between runs.
STATS_BREAKS = re.compile(r" (?!s(?:;|$))")
# A report's header keeps its status with the expectation: ``(expected ok)  PASS``.
HEADER_BREAKS = re.compile(r"(?<!\(expected) (?! ?(?:PASS|FAIL|INCOMPLETE)$)")


def _para(
    text: Text,
    style: Style,
    first: int,
    rest: int,
    breaks: re.Pattern[str] | None = None,
    keep: int = 0,
) -> Text:
    """``text`` after ``first`` spaces, wrapped to the width, later lines after ``rest``."""
    if not style.wrap:
        return Text(" " * first) + text
    out = Text()
    for i, (a, b) in enumerate(_lines(text.plain, style.width, first, rest, breaks, keep)):
        if i:
            out.append("\n")
        out.append(" " * (first if i == 0 else rest))
        out.append_text(text[a:b])
    return out


def _command(command: str, style: Style, first: int, rest: int) -> Text:
    """A shell command wrapped with backslash-newlines, so it still pastes into a shell.

    A schedule too long for a line is cut after a comma into several
    arguments, which ``mpsim replay`` joins again.
    """
    if not style.wrap or first + len(command) <= style.width:
        return Text(" " * first + command)
    words: list[str] = []
    room = style.width - rest - 2
    for word in _SHELL_WORD.findall(command):
        if words and words[-1].startswith("--") and " " not in words[-1]:
            words[-1] += " " + word  # an option stays with its value
        else:
            words.extend(_schedule_pieces(word, room) if len(word) > room else [word])
    lines: list[str] = []
    line = " " * first
    for word in words:
        if line.strip() and len(line) + 1 + len(word) + 2 > style.width:
            lines.append(line)
            line = " " * rest
        if len(line) + len(word) + 2 > style.width:
            # Longer than any line (a long path): continued at column 0, where a
            # backslash-newline joins the two halves into one word again.
            head, tail = _split_word(word, style.width - len(line) - 2)
            lines.append(line + head)
            while len(tail) + 2 > style.width:
                head, tail = _split_word(tail, style.width - 2)
                lines.append(head)
            line = tail
        else:
            line = f"{line} {word}" if line.strip() else line + word
    lines.append(line)
    return Text(" \\\n".join(lines[:1]) + "".join(_joined(lines[1:])))


def _split_word(word: str, at: int) -> tuple[str, str]:
    """A shell word cut in two; a single-quoted one is closed and opened again, so the
    halves, joined by a backslash-newline, are the same word.

    >>> _split_word("'my file.yaml'", 6)
    ("'my f'", "'ile.yaml'")
    """
    at = max(at, 3)
    if word.startswith("'") and word.endswith("'") and len(word) > 2:
        return word[: at - 1] + "'", "'" + word[at - 1 :]
    return word[:at], word[at:]


def _joined(lines: list[str]) -> list[str]:
    """The later lines of a wrapped command, each after the backslash-newline that ends the one
    before: a space before the backslash between words, none inside a cut word."""
    out = []
    for line in lines:
        out.append(("\\\n" if not line.startswith(" ") else " \\\n") + line)
    return out


# A word of a POSIX shell command as replay_command quotes it.
_SHELL_WORD = re.compile(r"(?:\$'(?:\\.|[^'\\])*'|'[^']*'|[^\s'])+")


def _schedule_pieces(word: str, room: int) -> list[str]:
    """A long quoted schedule as several quoted arguments, each cut after a comma.

    >>> _schedule_pieces("'a[0],a[1],a[2]'", 12)
    ["'a[0],a[1],'", "'a[2]'"]
    """
    if "," not in word:
        return [word]
    try:
        (plain,) = shlex.split(word)
    except ValueError:
        return [word]
    pieces: list[str] = []
    current = ""
    for token in plain.split(","):
        candidate = f"{current}{token},"
        if current and len(shlex.quote(candidate)) > room:
            pieces.append(current)
            current = f"{token},"
        else:
            current = candidate
    pieces.append(current[:-1])
    return [shlex.quote(p) for p in pieces]


# ---------------------------------------------------------------- kernels


def kernels_table(style: Style | None = None) -> Table:
    style = style or Style.for_stream()
    table = Table(
        title="kernel presets (override with kernel: {base: PRESET, KNOB: VALUE})",
        box=style.box,
        show_edge=not style.plain,
    )
    table.add_column("knob", no_wrap=True)
    for name in PRESETS:
        table.add_column(name, no_wrap=True)
    table.add_column("allowed values", overflow="fold")
    for knob, values in KNOBS.items():
        row = [knob] + [str(PRESETS[p].knobs()[knob]).lower() for p in PRESETS]
        row.append(" | ".join(str(v).lower() for v in values) + f"  ({knob_help(knob)})")
        table.add_row(*row)
    return table


def kernels_report(style: Style | None = None) -> str:
    """``mpsim kernels``: the table when it fits the width, else one paragraph per knob."""
    style = style or Style.for_stream()
    table = kernels_table(style)
    # The table needs every preset's value in full; allowed values may wrap.
    fixed = Table(box=style.box, show_edge=not style.plain)
    for _ in range(len(PRESETS) + 1):
        fixed.add_column(no_wrap=True)
    for knob in KNOBS:
        fixed.add_row(knob, *[str(PRESETS[p].knobs()[knob]).lower() for p in PRESETS])
    needed = Console(width=10_000, file=io.StringIO()).measure(fixed).maximum + 30
    if needed <= style.width:
        return _capture([table], style)
    parts: list[RenderableType] = [
        _para(
            Text("kernel presets (override with kernel: {base: PRESET, KNOB: VALUE})"), style, 0, 2
        )
    ]
    for knob, values in KNOBS.items():
        parts.append(Text(""))
        head = Text()
        head.append(knob, style="bold")
        head.append(f": {knob_help(knob)}")
        parts.append(_para(head, style, 0, 2))
        allowed = " | ".join(str(v).lower() for v in values)
        parts.append(_para(Text(f"allowed: {allowed}"), style, 2, 4))
        cells = ", ".join(f"{p} {str(PRESETS[p].knobs()[knob]).lower()}" for p in PRESETS)
        parts.append(_para(Text(cells), style, 2, 4))
    return _capture(parts, style)


def print_kernels(style: Style | None = None) -> None:
    sys.stdout.write(kernels_report(style))


def _fit(table: Table, style: Style) -> Style:
    """Unwrapped (the first golden files' layout), a table is as wide as its widest row."""
    if style.color or style.wrap:
        return style
    needed = Console(width=10_000, file=io.StringIO()).measure(table).maximum
    return replace(style, width=max(style.width, needed))


# ---------------------------------------------------------------- reports

_STATUS_STYLE = {"pass": "bold green", "fail": "bold red", "incomplete": "bold yellow"}
_BANNER = {
    "deadlock": "*** DEADLOCK ***",
    "livelock": "*** LIVELOCK ***",
    "oom-panic": "*** OOM PANIC: no killable task ***",
    "depletion": "*** RESERVES DEPLETED ***",
    "violation": "*** VIOLATION ***",
    "oom-kill": "*** OOM KILL ***",
}


def _outcome_style(outcome: str) -> str:
    return "bold yellow" if outcome in ("oom-kill", "depletion") else "bold red"


def kernel_label(kernel: Kernel) -> str:
    """``v4.5``, ``v5.9 (as v5.4)``, or ``v4.5 + zero_min_pool=one_element`` for own knobs."""
    if not kernel.customised:
        return asked_label(kernel)
    base = PRESETS[kernel.name].knobs()
    diff = [f"{k}={str(v).lower()}" for k, v in kernel.knobs().items() if base[k] != v]
    return f"{asked_label(kernel)} + {', '.join(diff)}"


def run_report(
    results: Sequence[RunResult],
    trace: bool = False,
    to_terminal: bool = True,
    width: int | None = None,
    color: bool | None = None,
    style: Style | None = None,
    wrap: bool = True,
) -> str:
    """The text report of ``mpsim run``: a header per (scenario, kernel), then each finding.

    ``style`` says how to draw (default: for stdout, or plain text when
    ``to_terminal`` is False, as for ``-o FILE``); ``width`` and ``color``
    override it. ``wrap`` False is the layout of the first golden files.
    """
    if style is None and not to_terminal:
        style = Style.for_stream(io.StringIO(), width)
    s = _style(style, width, color, wrap)
    parts: list[RenderableType] = []
    for r in results:
        parts.extend(result_parts(r, trace, s))
    return _capture(parts, s)


def result_parts(r: RunResult, trace: bool, style: Style) -> list[RenderableType]:
    """The report of one (scenario, kernel) run, as renderables (``render_parts`` draws them)."""
    head = Text()
    head.append(r.scenario, style="bold")
    head.append(f"  kernel {kernel_label(r.kernel)}:  ")
    head.append(_found(r), style="bold")
    expected = outcome_text(r.expected) if r.expected is not None else "ok; the file has no expect"
    head.append(f"  (expected {expected})  ")
    head.append(r.status.upper(), style=_STATUS_STYLE[r.status])
    reduced = f" (reduced: {', '.join(r.reductions)})" if r.reductions else ""
    stats = (
        f"{printable(r.file)}: {r.states:,} states{reduced}, {r.transitions:,} transitions, "
        f"{r.seconds:.2f} s"
    )
    if not r.complete:
        stats += f"; incomplete: {_stop_words(r.stop_reason)}, so the outcomes are a lower bound"
    parts: list[RenderableType] = [
        _para(head, style, 0, 2, HEADER_BREAKS),
        # A file name longer than the line stays whole, for copying and grep.
        _para(Text(stats), style, 2, 4, STATS_BREAKS, keep=len(printable(r.file)) + 1),
    ]
    for n, f in enumerate(r.findings, 1):
        parts.append(Text(""))
        parts.extend(_finding_parts(r, f, n, trace, style))
    if r.potential is not None:
        parts.append(Text(""))
        parts.extend(potential_parts(r, style))
    parts.append(Text(""))
    return parts


def render_parts(parts: Iterable[RenderableType], style: Style) -> str:
    return _capture(parts, style)


def _finding_parts(
    r: RunResult, f: FindingReport, n: int, trace: bool, style: Style
) -> list[RenderableType]:
    head = Text(f"[{n}] ")
    head.append(f.outcome.upper(), style=_outcome_style(f.outcome))
    steps = len(f.trace)
    if f.outcome in HANG_OUTCOMES:
        head.append(
            f": a hang of {f.hang_states:,} state{'s' if f.hang_states != 1 else ''}, "
            f"reached in {steps} step{'s' if steps != 1 else ''}"
        )
    else:
        head.append(f": reached in {steps} step{'s' if steps != 1 else ''}")
    parts: list[RenderableType] = [_para(head, style, 2, 6), _para(Text(f.summary), style, 6, 6)]
    parts.append(Text(""))
    parts.extend(_story_parts(f, style))
    if f.waitfor:
        parts.append(Text(""))
        breaks = WAITFOR_BREAKS if "-[" in f.waitfor_cycle else None
        parts.append(_labelled("wait-for: ", f.waitfor_cycle, style, breaks=breaks))
    for hint in f.hints:
        parts.append(_labelled("hint: ", hint, style, "green"))
    if trace:
        parts.append(Text(""))
        parts.append(Text("      every step, with what it changed:"))
        parts.append(_indent(_steps_table(f.trace, f.cycle_trace, style)))
    # `mpsim replay -` needs the same scenario on its stdin again.
    label = "replay (the scenario on stdin):" if r.file == STDIN_NAME else "replay:"
    command = replay_command(r, f)
    if not style.wrap or 6 + len(label) + 1 + len(command) <= style.width:
        parts.append(_labelled(label + " ", command, style))
    else:  # the command on lines of its own, so it pastes into a shell as it is
        parts.append(_labelled(label, "", style))
        parts.append(_command(command, style, 8, 12))
    return parts


def _labelled(
    label: str,
    text: str,
    style: Style,
    color: str = "bold",
    breaks: re.Pattern[str] | None = None,
) -> Text:
    line = Text()
    line.append(label, style=color)
    line.append(text)
    return _para(line, style, 6, 6 + len(label) if len(label) <= 12 else 8, breaks)


def _indent(renderable: RenderableType) -> Padding:
    return Padding(renderable, (0, 0, 0, 6), expand=False)


def _story_parts(f: FindingReport, style: Style) -> list[RenderableType]:
    """The lockdep-style table: one column per actor that matters, one row per step that matters."""
    if not f.story:
        return []
    notes = []
    if f.left_out:
        notes.append(f"{f.left_out} step{'s' if f.left_out != 1 else ''} of other tasks left out")
    if any(row.times > 1 for row in f.story):
        notes.append("repeats folded")
    intro = "how it happens (the shortest schedule"
    intro += f"; {'; '.join(notes)}):" if notes else "):"
    loop_steps = [row.step for row in f.story if row.loop]
    parts: list[RenderableType] = [_para(Text(intro), style, 6, 8)]
    if style.plain:
        parts.append(_plain_story(f, style))
    else:
        parts.append(_indent(_boxed_story(f, style)))
    if loop_steps:
        span = f"{loop_steps[0]}" if len(loop_steps) == 1 else f"{loop_steps[0]}-{loop_steps[-1]}"
        where = "below the line" if not style.plain else "after the dashed line"
        parts.append(_para(Text(f"steps {where} ({span}) repeat for ever"), style, 6, 8))
    banner = Text("      ")
    banner.append(
        _BANNER.get(f.outcome, f"*** {f.outcome.upper()} ***"), style=_outcome_style(f.outcome)
    )
    parts.append(banner)
    return parts


def _row_text(row: StoryRow) -> str:
    if row.times > 1:
        return row.text + f"  (x{row.times}{', numbers vary' if row.varies else ''})"
    return row.text


def _boxed_story(f: FindingReport, style: Style) -> Table:
    table = Table(box=style.box, show_edge=True, pad_edge=True, expand=False)
    table.add_column("step", justify="right", no_wrap=True)
    texts = [[_row_text(r) for r in f.story if r.column == i] for i in range(len(f.columns))]
    widths = _column_widths(f.columns, texts, style) if style.wrap else None
    for i, title in enumerate(f.columns):
        if widths is None:
            table.add_column(title, style="cyan" if style.color else "", overflow="fold")
        else:
            table.add_column(
                _wrapped(title, widths[i]),
                style="cyan" if style.color else "",
                width=widths[i],
                no_wrap=True,
            )
    in_loop = False
    for row in f.story:
        if row.loop and not in_loop:
            table.add_section()
            in_loop = True
        cells = [""] * len(f.columns)
        text = _row_text(row)
        cells[row.column] = text if widths is None else _wrapped(text, widths[row.column])
        table.add_row(str(row.step), *cells)
    return table


def _wrapped(text: str, width: int) -> str:
    return "\n".join(text[a:b] for a, b in _lines(text, width, 0, 0))


_CHEAP_BREAK = re.compile(r" |(?<=\()")


def _column_widths(titles: Sequence[str], texts: list[list[str]], style: Style) -> list[int]:
    """Widths for the story's task columns inside the width (indent, step column, borders).

    Each column gets its longest word if it can, then the rest in
    proportion to how much more its longest text would use.
    """
    n = len(titles)
    room = max(style.width - 6 - 4 - 3 * (n + 1) - 1, n)
    full = [max([len(titles[i]), *(len(t) for t in texts[i])]) for i in range(n)]
    if sum(full) <= room:
        return full
    # A call's arguments may go to the next line (``mempool_alloc(`` / ``pool0, ...``).
    words = [
        max(len(w) for t in [titles[i], *texts[i]] for w in _CHEAP_BREAK.split(t) if w)
        for i in range(n)
    ]
    least = [min(w, full[i]) for i, w in enumerate(words)]
    if sum(least) > room:  # even the longest words do not fit: shares in proportion to them
        out = [max(room * w // sum(least), 1) for w in least]
    else:
        spare = room - sum(least)
        extra = [full[i] - least[i] for i in range(n)]
        out = [least[i] + spare * extra[i] // max(sum(extra), 1) for i in range(n)]
    out[-1] += room - sum(out)
    return out


def _plain_story(f: FindingReport, style: Style) -> Text:
    """lockdep's layout: a column per task, each step's text starting at its task's column.

    Only one task acts per row, so a step's text runs on to the right
    margin across the columns of the tasks that do not act; its wrapped
    lines start under its column again. Columns are as far apart as
    their titles need (at least 14), so the last one keeps room.
    """
    indent = 6
    step_w = max(4, len(str(f.story[-1].step)))
    left = indent + step_w + 2
    n = len(f.columns)
    gaps = [max(len(t) + 3, 14) for t in f.columns[:-1]]
    if style.width - (left + sum(gaps)) < 24:  # titles too long: equal columns
        gaps = [max((style.width - left) // n, 1)] * (n - 1)
    starts = [left + sum(gaps[:i]) for i in range(n)]
    limits = [*(g - 2 for g in gaps), style.width - starts[-1]]
    lines: list[Text] = []
    titled = [
        [t[a:b] for a, b in _lines(t, max(limits[i], 1), 0, 0)] for i, t in enumerate(f.columns)
    ]
    for depth in range(max(len(t) for t in titled)):
        line = Text(" " * indent + ("step" if depth == 0 else "").rjust(step_w))
        for i, title in enumerate(titled):
            if depth < len(title):
                line.append(" " * (starts[i] - len(line.plain)))
                line.append(title[depth], style="bold" if style.color else "")
        lines.append(line)
    rule = Text(" " * indent + "-" * step_w)
    for i, title in enumerate(titled):
        rule.append(" " * (starts[i] - len(rule.plain)) + "-" * max(len(x) for x in title))
    lines.append(rule)
    loop_at = None
    for row in f.story:
        if row.loop and loop_at is None:
            loop_at = len(lines)
        text = _row_text(row)
        start = starts[row.column]
        for j, (a, b) in enumerate(_lines(text, style.width, start, start)):
            number = str(row.step).rjust(step_w) if j == 0 else " " * step_w
            line = Text(" " * indent + number)
            line.append(" " * (start - len(line.plain)))
            line.append(text[a:b], style="cyan" if style.color else "")
            lines.append(line)
    if loop_at is not None:  # the dashed line is as wide as the story's text
        widest = max(len(line.plain) for line in lines)
        lines.insert(loop_at, Text(" " * indent + "-" * (widest - indent)))
    return Text("\n").join(lines)


def _steps_table(
    steps: tuple[TraceStep, ...], loop: tuple[TraceStep, ...], style: Style, indent: int = 6
) -> Table:
    """Every step: who, what, and only what changed (free pages, pools, lock owners, kills)."""
    before: tuple[str, ...] = ()
    rows: list[tuple[str, str, str, str]] = []
    for s in steps:
        rows.append(_step_cells(s, before))
        before = s.labels
    for s in loop:
        rows.append(_step_cells(s, before))
        before = s.labels
    table = Table(box=style.box, show_edge=not style.plain)
    table.add_column("step", justify="right", no_wrap=True)
    color = "cyan" if style.color else ""
    if not style.wrap:
        table.add_column("actor", style=color, overflow="fold")
        table.add_column("what it does", ratio=3, overflow="fold")
        table.add_column("changes", ratio=1, overflow="fold")
    else:
        widths = _trace_widths(rows, style, indent)
        for title, w, c in zip(
            ("actor", "what it does", "changes"), widths, (color, "", ""), strict=True
        ):
            table.add_column(title, style=c, width=w, no_wrap=True)
        rows = [
            (r[0], _wrapped(r[1], widths[0]), _wrapped(r[2], widths[1]), _wrapped(r[3], widths[2]))
            for r in rows
        ]
    for i, row in enumerate(rows):
        if i == len(steps) and loop:
            table.add_section()
        table.add_row(*row)
    return table


def _trace_widths(
    rows: list[tuple[str, str, str, str]], style: Style, indent: int
) -> tuple[int, int, int]:
    """Widths of the trace's actor, text and changes columns inside the width."""
    step = max([4, *(len(r[0]) for r in rows)])
    # four columns: padding each side, and a bar between (and at the edges when boxed)
    overhead = 8 + (3 if style.plain else 5)
    room = max(style.width - indent - overhead - step, 12)
    actor = min(max([5, *(len(r[1]) for r in rows)]), max(room // 5, 5))
    what = max([12, *(len(r[2]) for r in rows)])
    changes = max([7, *(len(r[3]) for r in rows)])
    left = room - actor
    if what + changes > left:
        longest = max([7, *(len(w) for r in rows for w in r[3].split(" "))])
        changes = min(changes, max(left // 4, min(longest, left // 2)))
        what = left - changes
    return actor, what, changes


def _step_cells(step: TraceStep, before: tuple[str, ...]) -> tuple[str, str, str, str]:
    """A trace row; an outcome label shows where it first holds (``=> depletion``)."""
    text = step.text
    if text.startswith(f"{step.actor}: "):
        text = text[len(step.actor) + 2 :]
    changes = [f"{k} {v}" for k, v in step.changes]
    new = [label for label in step.labels if label not in before or label == "oom-kill"]
    parts = [", ".join(changes)] if changes else []
    if new:
        parts.append("=> " + ", ".join(new))
    return str(step.index), step.actor, text, "; ".join(parts)


def _stop_words(reason: str | None) -> str:
    return {
        "max-states": "state limit (--max-states)",
        "max-seconds": "time limit (--max-seconds)",
        "max-memory": "memory limit (--max-memory)",
        "interrupted": "interrupted",
        "worker-died": "its worker process died (killed by the OOM killer or a signal)",
    }.get(reason or "", reason or "stopped")


# ----------------------------------------------------------------- matrix

# Outcome codes for a matrix too narrow for the names (the legend lists them).
OUTCOME_CODES = {
    "deadlock": "DL",
    "livelock": "LL",
    "depletion": "DP",
    "oom-kill": "KL",
    "oom-panic": "PN",
    "violation": "VI",
}
_MARKS = "= matches expect   X differs   ! search incomplete   ? no expect (checked as ok)"
_CODE_MARKS = "unmarked: as expected   X differs   ! search incomplete   ? no expect (as ok)"


def matrix_report(
    results: Sequence[RunResult],
    presets: Sequence[str],
    width: int | None = None,
    color: bool | None = None,
    style: Style | None = None,
) -> str:
    """Rows: scenarios; columns: presets; cells: outcome set, checked against ``expect``.

    The widest layout that fits: outcomes in full, else as short codes
    (with a legend); scenario names in full, else cut with an ellipsis and
    listed in full below. A cell that differs from ``expect`` is spelt out
    under the table.
    """
    s = _style(style, width, color)
    rows: dict[str, dict[str, RunResult]] = {}
    for r in results:
        rows.setdefault(r.file, {})[r.kernel.name] = r
    names = {r.file: r.scenario for r in results}
    longest = max((len(n) for n in names.values()), default=8)
    table = Table()
    for codes in (False, True):
        table = _matrix_table(rows, names, presets, s, codes, longest)
        if _table_width(table) <= s.width:
            break
    cut = longest
    while _table_width(table) > s.width and cut > 12:
        cut -= 1
        table = _matrix_table(rows, names, presets, s, True, cut)
    tables = [table]
    if _table_width(table) > s.width:
        # Too many presets for one table at this width: several tables, each with the
        # scenario column and an even share of the presets, as many as it takes.
        k = len(presets)
        while k > 1 and _table_width(_matrix_table(rows, names, presets[:k], s, True, cut)) > (
            s.width
        ):
            k -= 1
        parts_needed = -(-len(presets) // k)
        size = -(-len(presets) // parts_needed)
        chunks = [presets[i : i + size] for i in range(0, len(presets), size)]

        def split(cut: int) -> list[Table]:
            return [_matrix_table(rows, names, chunk, s, True, cut) for chunk in chunks]

        tables = split(cut)
        while cut < longest:  # the narrower tables leave room for longer names
            wider = split(cut + 1)
            if max(map(_table_width, wider)) > s.width:
                break
            cut, tables = cut + 1, wider
        table = max(tables, key=_table_width)
    parts: list[RenderableType] = []
    for i, t in enumerate(tables):
        if i:
            parts.append(Text(""))
        parts.append(t)
    if codes:
        legend = ", ".join(f"{code} {name}" for name, code in OUTCOME_CODES.items())
        parts.append(_para(Text(f"outcomes: {legend}"), s, 0, 2))
        parts.append(_para(Text(_CODE_MARKS), s, 0, 2))
    else:
        parts.append(_para(Text(_MARKS), s, 0, 2))
    cut_names = _cut_names(names.values(), cut, s)
    if any(short != full for full, short in cut_names.items()):
        parts.append(_para(Text("names cut short above, in full:"), s, 0, 2))
        for full, short in cut_names.items():
            if short != full:
                parts.append(_para(Text(f"{short[short.rindex('[') :]} {full}"), s, 2, 4))
    wrong = [r for r in results if r.expected is not None and r.complete and not r.passed]
    wrong += [r for r in results if r.expected is None and r.complete and not r.passed]
    for r in sorted(wrong, key=results.index):
        want = outcome_text(r.expected) if r.expected is not None else "ok (no expect)"
        parts.append(
            _para(Text(f"X {r.scenario} under {r.kernel.name}: {_found(r)}, want {want}"), s, 0, 2)
        )
    parts.append(_para(_matrix_summary(results), s, 0, 2))
    return _capture(parts, _fit(table, s))


def _table_width(table: Table) -> int:
    return Console(width=10_000, file=io.StringIO()).measure(table).maximum


def _matrix_table(
    rows: dict[str, dict[str, RunResult]],
    names: dict[str, str],
    presets: Sequence[str],
    style: Style,
    codes: bool,
    cut: int,
) -> Table:
    table = Table(box=style.box, show_edge=not style.plain)
    table.add_column("scenario", no_wrap=True)
    for p in presets:
        table.add_column(p, no_wrap=True)
    shown = _cut_names(names.values(), cut, style)
    for key, cells in rows.items():
        row = [_cell(cells[p], codes) if p in cells else Text("") for p in presets]
        table.add_row(shown[names[key]], *row)
    return table


def _cut_names(names: Iterable[str], cut: int, style: Style) -> dict[str, str]:
    """Each name, or if longer than ``cut`` its start, an ellipsis and a footnote number.

    >>> _cut_names(["short", "a-very-long-name"], 10, Style(color=False, width=80))
    {'short': 'short', 'a-very-long-name': 'a-ve...[1]'}
    """
    out: dict[str, str] = {}
    for name in dict.fromkeys(names):
        if len(name) <= cut:
            out[name] = name
            continue
        mark = f"{style.ellipsis}[{sum(1 for v in out.values() if '[' in v) + 1}]"
        out[name] = name[: max(cut - len(mark), 1)] + mark
    return out


def _matrix_summary(results: Sequence[RunResult]) -> Text:
    checked = [r for r in results if r.expected is not None]
    implicit = len(results) - len(checked)
    cut = sum(1 for r in results if not r.complete)
    failed = sum(1 for r in results if r.complete and not r.passed)
    held = len(results) - failed - cut
    summary = Text(f"{held} of {len(results)} cells as expected")
    if implicit:
        summary.append(f" ({implicit} without an expect, checked as ok)")
    if cut:
        summary.append(f"; {cut} not settled (search incomplete)")
    if failed:
        summary.append("   FAIL", style="bold red")
    elif cut:
        summary.append("   INCOMPLETE", style="yellow")
    return summary


def _found(r: RunResult) -> str:
    """The outcome set; a search cut short never reads as ``ok``, only as what it found so far."""
    if r.complete:
        return outcome_text(r.outcomes)
    return f"{outcome_text(r.outcomes) if r.outcomes else 'nothing'} found so far"


def _code(r: RunResult, codes: bool) -> str:
    if not codes:
        return _found(r)
    names = [OUTCOME_CODES.get(o, o) for o in sort_outcomes(r.outcomes)]
    text = "+".join(names) or ("ok" if r.complete else "-")
    return text if r.complete else f"{text}.."


def _cell(r: RunResult, codes: bool = False) -> Text:
    got = _code(r, codes)
    if codes:  # the legend says what an unmarked cell means
        mark = (
            "! " if not r.complete else "? " if r.expected is None else "X " if not r.passed else ""
        )
        color = "yellow" if not r.complete else "green" if r.passed else "bold red"
        return Text(mark + got, style=color)
    if not r.complete:
        return Text(f"! {got}", style="yellow")
    if r.expected is None:
        return Text(f"? {got}", style="dim" if r.passed else "bold red")
    if r.passed:
        return Text(f"= {got}", style="green")
    if codes:
        return Text(f"X {got}", style="bold red")
    return Text(f"X {got} (want {outcome_text(r.expected)})", style="bold red")


# ----------------------------------------------------------------- replay


def replay_report(
    result: ReplayResult,
    width: int | None = None,
    color: bool | None = None,
    style: Style | None = None,
) -> str:
    """Each step of a replayed schedule with what it changed, then what the schedule reaches."""
    s = _style(style, width, color)
    head = Text()
    head.append(f"replay of {result.scenario}", style="bold")
    head.append(f"  kernel {kernel_label(result.kernel)}  ({len(result.steps)} steps)")
    parts: list[RenderableType] = [_para(head, s, 0, 2)]
    if result.steps:
        parts.append(_steps_table(result.steps, (), s, indent=0))
    line = Text("reaches: ")
    line.append(", ".join(result.reached) if result.reached else "no finding", style="bold")
    line.append(f" - {result.verdict}")
    parts.append(_para(line, s, 0, 2))
    if result.waitfor:
        breaks = WAITFOR_BREAKS if "-[" in result.waitfor_cycle else None
        parts.append(_para(Text(f"wait-for: {result.waitfor_cycle}"), s, 0, 10, breaks))
        parts.append(_para(Text(f"why: {result.waitfor['explanation']}"), s, 0, 5))
    for hint in result.hints:
        parts.append(_para(Text(f"hint: {hint}"), s, 0, 6))
    if result.enabled and not result.hang_states:
        parts.append(_para(Text(f"enabled next: {', '.join(result.enabled)}"), s, 0, 2))
    return _capture(parts, s)


# ---------------------------------------------------------------- library


def library_report(rows: Sequence[tuple[str, str, str]], root: str, style: Style) -> str:
    """``mpsim library``: each shipped scenario's name and topic, its summary under it."""
    parts: list[RenderableType] = [_para(Text(f"{len(rows)} scenarios in {root}"), style, 0, 2)]
    topic = None
    for name, where, summary in rows:
        if where != topic:
            topic = where
            parts.append(Text(""))
            parts.append(Text(f"{where or '.'}/", style="bold"))
        line = Text("  ")
        line.append(name, style="bold")
        parts.append(line)
        if summary:
            parts.append(_para(Text(summary), style, 4, 4))
    parts.append(Text(""))
    parts.append(
        _para(
            Text("mpsim library run NAME runs one; mpsim library copy NAME copies it out"),
            style,
            0,
            2,
        )
    )
    return _capture(parts, style)


# --------------------------------------------------------------- progress


class ProgressDisplay:
    """Search progress on stderr, never stdout, once a search has run for a second.

    On a terminal a rich live line that disappears when the search ends;
    otherwise a plain line every few seconds (TLC's style: states found,
    transitions, states left on the queue). Use it as a context manager
    so the live line is cleared.
    """

    def __init__(self, stream: TextIO | None = None, every: float = 5.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = every
        self._last = 0.0
        self._live: Live | None = None

    def __call__(self, p: Progress) -> None:
        if p.seconds < 1.0:
            return
        line = (
            f"mpsim: {p.states:,} states, {p.transitions:,} transitions, {p.queue:,} left on "
            f"the queue, {p.states_per_second:,.0f} states/s, {p.seconds:.0f} s"
        )
        if self.tty:
            # The elapsed time first: a narrow terminal cuts the end of the line.
            line = (
                f"mpsim: {p.seconds:.0f} s, {p.states:,} states, {p.transitions:,} transitions, "
                f"{p.queue:,} queued, {p.states_per_second:,.0f} states/s"
            )
            if self._live is None:
                console = Console(file=self.stream, highlight=False)
                self._live = Live(Text(line), console=console, transient=True, auto_refresh=False)
                self._live.start()
            self._live.update(
                Text(line, style="dim", no_wrap=True, overflow="ellipsis"), refresh=True
            )
            return
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __enter__(self) -> ProgressDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_reporter() -> ProgressDisplay:
    """The progress callback the CLI hands to the explorer (see ProgressDisplay)."""
    return ProgressDisplay()


# ------------------------------------------------------------------ sweep

_SWEEP_STYLE = {"ok": "green", "found": "bold red", "incomplete": "yellow"}


def sweep_report(
    keys: Sequence[str],
    columns: Sequence[str],
    rows: Sequence[tuple[Sequence[str], Sequence[tuple[str, str]]]],
    notes: Sequence[str],
    style: Style,
) -> str:
    """``mpsim sweep``: one row per point (its values), one column per kernel; then ``notes``.

    ``rows`` holds each point's values and, per column, its cell's text and
    status (``ok``, ``found``, ``incomplete``). Too wide for the style, the
    cells become short codes (``DL``, ``LL+KL``, ``ok``, ``..`` after a cut
    search's codes) with a legend, and then the columns are split over
    several tables, each repeating the values.
    """
    chunks: list[Sequence[int]] = [range(len(columns))]
    codes = False
    table = _sweep_table(keys, columns, rows, chunks[0], style, codes)
    if _table_width(table) > style.width:
        codes = True
        table = _sweep_table(keys, columns, rows, chunks[0], style, codes)
    size = len(columns)
    while size > 1 and _table_width(table) > style.width:
        size -= 1
        chunks = [range(i, min(i + size, len(columns))) for i in range(0, len(columns), size)]
        table = max(
            (_sweep_table(keys, columns, rows, c, style, codes) for c in chunks), key=_table_width
        )
    parts: list[RenderableType] = []
    for i, chunk in enumerate(chunks):
        if i:
            parts.append(Text(""))
        parts.append(_sweep_table(keys, columns, rows, chunk, style, codes))
    if codes:
        legend = ", ".join(f"{code} {name}" for name, code in OUTCOME_CODES.items())
        parts.append(_para(Text(f"outcomes: {legend}; .. search cut short"), style, 0, 2))
    for note in notes:
        parts.append(_para(Text(note), style, 0, 2))
    return _capture(parts, _fit(table, style))


def _sweep_table(
    keys: Sequence[str],
    columns: Sequence[str],
    rows: Sequence[tuple[Sequence[str], Sequence[tuple[str, str]]]],
    chunk: Sequence[int],
    style: Style,
    codes: bool,
) -> Table:
    table = Table(box=style.box, show_edge=not style.plain)
    for key in keys:
        table.add_column(key, no_wrap=True, justify="right")
    for c in chunk:
        table.add_column(columns[c], no_wrap=not codes)
    for values, cells in rows:
        shown = [cells[c] for c in chunk]
        table.add_row(
            *values,
            *(Text(sweep_code(t) if codes else t, style=_SWEEP_STYLE[s]) for t, s in shown),
        )
    return table


def sweep_code(text: str) -> str:
    """A sweep cell's text as codes: ``[livelock, oom-kill]`` is ``LL+KL``; a cut search
    (``deadlock found so far (max-states)``) keeps its codes and gets ``..``.

    >>> sweep_code("[livelock, oom-kill]"), sweep_code("nothing found so far (max-states)")
    ('LL+KL', '..')
    """
    found, cut, _ = text.partition(" found so far")
    names = [n for n in found.strip("[]").split(", ") if n not in ("ok", "nothing")]
    code = "+".join(OUTCOME_CODES.get(n, n) for n in names) or ("" if cut else "ok")
    return f"{code}.." if cut else code


class CountProgress:
    """``mpsim sweep``'s progress on stderr: how many of ``total`` are done, and the rate.

    Silent for the first second; then a live line on a terminal (cleared at
    the end), else a line every ``every`` seconds. A stderr that refuses a
    line silences it for good: progress must not lose the sweep.
    """

    def __init__(
        self, total: int, what: str, stream: TextIO | None = None, every: float = 5.0
    ) -> None:
        self.total = total
        self.what = what
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = every
        self.started = time.monotonic()
        self._last = self.started
        self._live: Live | None = None
        self._broken = False

    def add(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        seconds = now - self.started
        if self._broken or seconds < 1.0:
            return
        line = (
            f"mpsim: {self.done:,}/{self.total:,} {self.what} done, "
            f"{self.done / seconds:,.1f}/s, {seconds:.0f} s"
        )
        try:
            if self.tty:
                if self._live is None:
                    console = Console(file=self.stream, highlight=False)
                    self._live = Live(Text(line), console=console, transient=True)
                    self._live.start()
                self._live.update(Text(line, style="dim", no_wrap=True), refresh=True)
            elif now - self._last >= self.every or self.done == self.total:
                self._last = now
                self.stream.write(line + "\n")
                self.stream.flush()
        except (OSError, ValueError, AttributeError):
            self._broken = True

    def __enter__(self) -> CountProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


# ------------------------------------------------------ potential (lockdep)


def potential_parts(r: RunResult, style: Style) -> list[RenderableType]:
    """``mpsim run --potential``'s section: each cycle of lockdep's order graph, its orders
    with who made each where, and whether this scenario can hang on it."""
    title = Text("potential (lockdep would warn):", style="bold")
    if not r.potential_complete:
        title.append(" (the walk stopped early: cycles are a lower bound)")
    parts: list[RenderableType] = [_para(title, style, 2, 4)]
    if not r.potential:
        parts.append(_para(Text("no cycle in the lock-order graph"), style, 4, 6))
    for n, cycle in enumerate(r.potential or (), 1):
        names = [o.held_name for o in cycle.orders]
        ring = " -> ".join([*names, names[0]])
        kind = "recursive locking" if len(names) == 1 else "circular locking dependency"
        via = " through fs_reclaim" if "fs_reclaim" in cycle.cycle else ""
        hang = (
            "a hang on it is reachable in this scenario"
            if cycle.reachable_hang
            else "no hang on it is reachable in this scenario"
        )
        head = Text(f"[P{n}] possible {kind}{via}: {ring}; ")
        head.append(hang, style="bold red" if cycle.reachable_hang else "bold green")
        parts.append(_para(head, style, 4, 9))
        for o in cycle.orders:
            parts.append(_para(Text(order_text(o)), style, 9, 11))
    return parts


def order_text(o: PotentialOrder) -> str:
    """One order of a potential cycle with its witness, as the report prints it.

    >>> order_text(PotentialOrder("mutex:A", "mutex:B", "A", "B", "t", 3, "t,t,t", 12))
    'A -> B (t: holds A, takes B at step 3, line 12)'
    """
    where = (f" at step {o.step}" if o.step is not None else "") + (
        f", line {o.line}" if o.line is not None else ""
    )
    taking = "waits for" if o.waits else "takes"
    if o.task is None:
        what = f"kswapd: reclaims entry {o.entry} inside fs_reclaim, {taking} {o.taken_name}"
        return f"{o.held_name} -> {o.taken_name} ({what})"
    if o.held.startswith("completion:"):
        doing = (
            "enters fs_reclaim (allocates with __GFP_FS)"
            if o.taken == "fs_reclaim"
            else (f"{taking} {o.taken_name}")
        )
        what = f"{o.task}: {doing}{where}, before it completes {o.held_name[11:]}"
    elif o.taken == "fs_reclaim":
        what = f"{o.task}: holds {o.held_name}, allocates with __GFP_FS{where}"
    elif o.held == "fs_reclaim":
        what = f"{o.task}: in direct reclaim inside fs_reclaim, {taking} {o.taken_name}{where}"
    else:
        what = f"{o.task}: holds {o.held_name}, {taking} {o.taken_name}{where}"
    return f"{o.held_name} -> {o.taken_name} ({what})"
