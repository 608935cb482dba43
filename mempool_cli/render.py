"""rich renderables for terminal output; the only module that imports rich.

Everything here turns plain data (from report.py or the spec) into text;
nothing here decides what a finding means. On a terminal the output has
colours and rounded boxes; piped, or with NO_COLOR set, it is plain
ASCII (``rich.box.ASCII``), no escape codes, and long lines are never
wrapped mid-line, so it greps and diffs well.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
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
    ReplayResult,
    RunResult,
    TraceStep,
    outcome_text,
    replay_command,
)
from mempool_cli.scenario.kernels import KNOBS, PRESETS, Kernel, asked_label, knob_help
from mempool_cli.scenario.loader import STDIN_NAME

__all__ = [
    "ProgressDisplay",
    "Style",
    "kernels_table",
    "matrix_report",
    "print_kernels",
    "progress_reporter",
    "replay_report",
    "run_report",
]

PIPE_WIDTH = 100  # the width of piped output, and of the golden files


@dataclass(frozen=True, slots=True)
class Style:
    """How to draw: colours and unicode boxes on a terminal, plain ASCII otherwise."""

    color: bool
    width: int

    @classmethod
    def for_stream(cls, stream: TextIO | None = None, width: int | None = None) -> Style:
        """Colour only on a terminal without NO_COLOR; the terminal's width there, else 100."""
        stream = stream if stream is not None else sys.stdout
        tty = bool(getattr(stream, "isatty", lambda: False)())
        color = tty and "NO_COLOR" not in os.environ
        if width is None:
            width = shutil.get_terminal_size((PIPE_WIDTH, 24)).columns if tty else PIPE_WIDTH
        return cls(color=color, width=width)

    @property
    def box(self) -> box.Box:
        return box.ROUNDED if self.color else box.ASCII


def _capture(parts: Iterable[RenderableType], style: Style) -> str:
    """Render to a string: ANSI when ``style.color``, else colourless ASCII, lines never wrapped."""
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
        console.print(part, soft_wrap=isinstance(part, Text) and not style.color)
    text = buf.getvalue()
    if not style.color:  # no trailing blanks in files and pipes
        text = "\n".join(line.rstrip() for line in text.split("\n"))
    return text


# ---------------------------------------------------------------- kernels


def kernels_table(style: Style | None = None) -> Table:
    style = style or Style.for_stream()
    table = Table(
        title="kernel presets (override with kernel: {base: PRESET, KNOB: VALUE})", box=style.box
    )
    table.add_column("knob", no_wrap=True)
    for name in PRESETS:
        table.add_column(name, no_wrap=not style.color, overflow="fold")
    table.add_column("allowed values", overflow="fold")
    for knob, values in KNOBS.items():
        row = [knob] + [str(PRESETS[p].knobs()[knob]).lower() for p in PRESETS]
        row.append(" | ".join(str(v).lower() for v in values) + f"  ({knob_help(knob)})")
        table.add_row(*row)
    return table


def print_kernels() -> None:
    style = Style.for_stream()
    table = kernels_table(style)
    sys.stdout.write(_capture([table], _fit(table, style)))


def _fit(table: Table, style: Style) -> Style:
    """Piped, a table is as wide as its widest row, so nothing in it is cut or wrapped oddly."""
    if style.color:
        return style
    needed = Console(width=10_000, file=io.StringIO()).measure(table).maximum
    return Style(color=False, width=max(style.width, needed))


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
    results: list[RunResult],
    trace: bool = False,
    to_terminal: bool = True,
    width: int | None = None,
    color: bool | None = None,
) -> str:
    """The text report of ``mpsim run``: a header per (scenario, kernel), then each finding.

    ``to_terminal`` False (``-o FILE``) forces plain text; ``color`` and
    ``width`` override the detection (the golden tests pass False and 100).
    """
    style = Style.for_stream(sys.stdout if to_terminal else io.StringIO(), width)
    if color is not None:
        style = Style(color=color, width=style.width)
    parts: list[RenderableType] = []
    for r in results:
        parts.extend(_result_parts(r, trace, style))
    return _capture(parts, style)


def _result_parts(r: RunResult, trace: bool, style: Style) -> list[RenderableType]:
    head = Text()
    head.append(r.scenario, style="bold")
    head.append(f"  kernel {kernel_label(r.kernel)}:  ")
    head.append(_found(r), style="bold")
    expected = outcome_text(r.expected) if r.expected is not None else "ok; the file has no expect"
    head.append(f"  (expected {expected})  ")
    head.append(r.status.upper(), style=_STATUS_STYLE[r.status])
    reduced = f" (reduced: {', '.join(r.reductions)})" if r.reductions else ""
    stats = (
        f"  {printable(r.file)}: {r.states:,} states{reduced}, {r.transitions:,} transitions, "
        f"{r.seconds:.2f} s"
    )
    if not r.complete:
        stats += f"; incomplete: {_stop_words(r.stop_reason)}, so the outcomes are a lower bound"
    parts: list[RenderableType] = [head, Text(stats)]
    for n, f in enumerate(r.findings, 1):
        parts.append(Text(""))
        parts.extend(_finding_parts(r, f, n, trace, style))
    parts.append(Text(""))
    return parts


def _finding_parts(
    r: RunResult, f: FindingReport, n: int, trace: bool, style: Style
) -> list[RenderableType]:
    head = Text(f"  [{n}] ")
    head.append(f.outcome.upper(), style=_outcome_style(f.outcome))
    steps = len(f.trace)
    if f.outcome in HANG_OUTCOMES:
        head.append(
            f": a hang of {f.hang_states:,} state{'s' if f.hang_states != 1 else ''}, "
            f"reached in {steps} step{'s' if steps != 1 else ''}"
        )
    else:
        head.append(f": reached in {steps} step{'s' if steps != 1 else ''}")
    parts: list[RenderableType] = [head, Text(f"      {f.summary}")]
    parts.append(Text(""))
    parts.extend(_story_parts(f, style))
    if f.waitfor:
        parts.append(Text(""))
        parts.append(_labelled("wait-for: ", f.waitfor_cycle))
    for hint in f.hints:
        parts.append(_labelled("hint: ", hint, "green"))
    if trace:
        parts.append(Text(""))
        parts.append(Text("      every step, with what it changed:"))
        parts.append(_indent(_steps_table(f.trace, f.cycle_trace, style)))
    # `mpsim replay -` needs the same scenario on its stdin again.
    label = "replay (the scenario on stdin): " if r.file == STDIN_NAME else "replay: "
    parts.append(_labelled(label, replay_command(r, f)))
    return parts


def _labelled(label: str, text: str, color: str = "bold") -> Text:
    line = Text("      ")
    line.append(label, style=color)
    line.append(text)
    return line


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
    intro = "      how it happens (the shortest schedule"
    intro += f"; {'; '.join(notes)}):" if notes else "):"
    table = Table(box=style.box, show_edge=True, pad_edge=True, expand=False)
    table.add_column("step", justify="right", no_wrap=True)
    for title in f.columns:
        table.add_column(title, style="cyan" if style.color else "", overflow="fold")
    loop_steps = [row.step for row in f.story if row.loop]
    in_loop = False
    for row in f.story:
        if row.loop and not in_loop:
            table.add_section()
            in_loop = True
        cells = [""] * len(f.columns)
        text = row.text
        if row.times > 1:
            text += f"  (x{row.times}{', numbers vary' if row.varies else ''})"
        cells[row.column] = text
        table.add_row(str(row.step), *cells)
    parts: list[RenderableType] = [Text(intro), _indent(table)]
    if loop_steps:
        span = f"{loop_steps[0]}" if len(loop_steps) == 1 else f"{loop_steps[0]}-{loop_steps[-1]}"
        parts.append(Text(f"      steps below the line ({span}) repeat for ever"))
    banner = Text("      ")
    banner.append(
        _BANNER.get(f.outcome, f"*** {f.outcome.upper()} ***"), style=_outcome_style(f.outcome)
    )
    parts.append(banner)
    return parts


def _steps_table(steps: tuple[TraceStep, ...], loop: tuple[TraceStep, ...], style: Style) -> Table:
    """Every step: who, what, and only what changed (free pages, pools, lock owners, kills)."""
    table = Table(box=style.box)
    table.add_column("step", justify="right", no_wrap=True)
    table.add_column("actor", style="cyan" if style.color else "", overflow="fold")
    table.add_column("what it does", ratio=3, overflow="fold")
    table.add_column("changes", ratio=1, overflow="fold")
    before: tuple[str, ...] = ()
    for s in steps:
        table.add_row(*_step_cells(s, before))
        before = s.labels
    if loop:
        table.add_section()
        for s in loop:
            table.add_row(*_step_cells(s, before))
            before = s.labels
    return table


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


def matrix_report(
    results: list[RunResult],
    presets: list[str],
    width: int | None = None,
    color: bool | None = None,
) -> str:
    """Rows: scenarios; columns: presets; cells: outcome set, checked against ``expect``.

    Scenario names are never cut: piped, the table is as wide as it needs.
    """
    style = Style.for_stream(sys.stdout, width)
    if color is not None:
        style = Style(color=color, width=style.width)
    table = Table(box=style.box)
    table.add_column("scenario", no_wrap=not style.color, overflow="fold")
    for p in presets:
        table.add_column(p, no_wrap=not style.color, overflow="fold")
    rows: dict[str, dict[str, RunResult]] = {}
    for r in results:
        rows.setdefault(r.file, {})[r.kernel.name] = r
    names = {r.file: r.scenario for r in results}
    for key, cells in rows.items():
        table.add_row(
            names[key], *[_cell(cells[p], style) if p in cells else Text("") for p in presets]
        )
    checked = [r for r in results if r.expected is not None]
    cut = sum(1 for r in checked if not r.complete)
    failed = sum(1 for r in checked if r.complete and not r.passed)
    legend = Text(
        "= matches expect   X differs   ? no expectation (not checked)   ! search incomplete"
    )
    summary = Text(
        f"{len(checked) - failed - cut} of {len(checked)} expectations hold; "
        f"{len(results) - len(checked)} cells unchecked"
    )
    if cut:
        summary.append(f"; {cut} not settled (search incomplete)")
    if failed:
        summary.append("   FAIL", style="bold red")
    elif cut:
        summary.append("   INCOMPLETE", style="yellow")
    return _capture([table, legend, summary], _fit(table, style))


def _found(r: RunResult) -> str:
    """The outcome set; a search cut short never reads as ``ok``, only as what it found so far."""
    if r.complete:
        return outcome_text(r.outcomes)
    return f"{outcome_text(r.outcomes) if r.outcomes else 'nothing'} found so far"


def _cell(r: RunResult, style: Style) -> Text:
    got = _found(r)
    if not r.complete:
        return Text(f"! {got}", style="yellow")
    if r.expected is None:
        return Text(f"? {got}", style="dim")
    if r.passed:
        return Text(f"= {got}", style="green")
    return Text(f"X {got} (want {outcome_text(r.expected)})", style="bold red")


# ----------------------------------------------------------------- replay


def replay_report(result: ReplayResult, width: int | None = None, color: bool | None = None) -> str:
    """Each step of a replayed schedule with what it changed, then what the schedule reaches."""
    style = Style.for_stream(sys.stdout, width)
    if color is not None:
        style = Style(color=color, width=style.width)
    head = Text()
    head.append(f"replay of {result.scenario}", style="bold")
    head.append(f"  kernel {kernel_label(result.kernel)}  ({len(result.steps)} steps)")
    parts: list[RenderableType] = [head]
    if result.steps:
        parts.append(_steps_table(result.steps, (), style))
    line = Text("reaches: ")
    line.append(", ".join(result.reached) if result.reached else "no finding", style="bold")
    line.append(f" - {result.verdict}")
    parts.append(line)
    if result.waitfor:
        parts.append(Text(f"wait-for: {result.waitfor_cycle}"))
        parts.append(Text(f"why: {result.waitfor['explanation']}"))
    for hint in result.hints:
        parts.append(Text(f"hint: {hint}"))
    if result.enabled and not result.hang_states:
        parts.append(Text(f"enabled next: {', '.join(result.enabled)}"))
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
