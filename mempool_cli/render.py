"""rich renderables for terminal output; the only module that imports rich.

Everything here turns plain data (from report.py or the spec) into text;
nothing here computes a verdict.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from mempool_cli.explore import Progress
from mempool_cli.report import RunResult, TraceStep, outcome_text, replay_command
from mempool_cli.scenario.kernels import KNOBS, PRESETS, knob_help


def make_console(file: object = None, width: int | None = None) -> Console:
    """A console that prints plain ASCII-safe text when not on a terminal or NO_COLOR is set."""
    stream = file if file is not None else sys.stdout
    is_tty = bool(getattr(stream, "isatty", lambda: False)())
    plain = not is_tty or "NO_COLOR" in os.environ
    return Console(
        file=stream,  # type: ignore[arg-type]
        width=width if width is not None else (None if is_tty else 100),
        no_color=plain,
        color_system=None if plain else "auto",
        force_terminal=False if plain else None,
        highlight=False,
        emoji=False,
        safe_box=True,
        soft_wrap=False,
    )


def kernels_table() -> Table:
    table = Table(title="kernel presets (override with kernel: {base: PRESET, KNOB: VALUE})")
    table.add_column("knob")
    for name in PRESETS:
        table.add_column(name)
    table.add_column("allowed values")
    for knob, values in KNOBS.items():
        row = [knob] + [str(PRESETS[p].knobs()[knob]).lower() for p in PRESETS]
        row.append(" | ".join(str(v).lower() for v in values) + f"  ({knob_help(knob)})")
        table.add_row(*row)
    return table


def print_kernels() -> None:
    make_console().print(kernels_table())


# ---------------------------------------------------------------- reports


def _use_color(to_terminal: bool) -> bool:
    return to_terminal and sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _capture(renderables: list[object], color: bool, width: int = 100) -> str:
    """Render to a string: colourless ASCII-safe text, or ANSI when ``color``."""
    import io

    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
        emoji=False,
        safe_box=True,
        legacy_windows=False,
    )
    for r in renderables:
        console.print(r)  # type: ignore[arg-type]
    return buf.getvalue()


_STATUS_STYLE = {"pass": "bold green", "fail": "bold red", "incomplete": "bold yellow"}


def run_report(results: list[RunResult], trace: bool = False, to_terminal: bool = True) -> str:
    """The text report of `mpsim run`: a header per (scenario, kernel), then each finding."""
    from rich.text import Text

    parts: list[object] = []
    for r in results:
        head = Text()
        head.append(f"{r.scenario}", style="bold")
        head.append(f"  {r.file}  kernel {r.kernel.name}")
        if r.kernel.customised:
            head.append(" (customised)")
        parts.append(head)
        verdict = Text("  result: ")
        verdict.append(outcome_text(r.outcomes), style="bold")
        verdict.append(f"   expected: {outcome_text(r.expected) if r.expected is not None else 'ok (no expect)'}")
        verdict.append("   ")
        verdict.append(r.status.upper(), style=_STATUS_STYLE[r.status])
        parts.append(verdict)
        stats = f"  {r.states:,} states, {r.transitions:,} transitions, {r.seconds:.2f} s"
        if not r.complete:
            stats += f"   incomplete: {_stop_words(r.stop_reason)} - outcomes so far are a lower bound"
        parts.append(Text(stats))
        for f in r.findings:
            parts.append(Text(""))
            line = Text("  ")
            line.append(f.outcome.upper(), style="bold red" if f.outcome != "oom-kill" else "bold yellow")
            line.append(f"  {f.summary}")
            parts.append(line)
            steps = f.trace if trace else _condense(f.trace)
            if not trace and len(steps) < len(f.trace):
                parts.append(Text(f"    ({len(f.trace) - len(steps)} earlier steps hidden; --trace shows all)"))
            for s in steps:
                parts.append(_step_text(s))
            if f.cycle_trace:
                parts.append(Text("    then forever:"))
                for s in f.cycle_trace:
                    parts.append(_step_text(s))
            parts.append(Text(f"    replay: {replay_command(r, f)}"))
        parts.append(Text(""))
    return _capture(parts, _use_color(to_terminal))


def _condense(steps: tuple[TraceStep, ...], keep: int = 12) -> tuple[TraceStep, ...]:
    return steps[-keep:]


def _step_text(step: TraceStep) -> object:
    from rich.text import Text

    line = Text(f"    {step.index:>3}  ")
    line.append(f"{step.actor:<10}", style="cyan")
    line.append(f" {step.text.split(': ', 1)[-1]}")
    if step.changes:
        line.append("   [" + ", ".join(f"{k} {v}" for k, v in step.changes) + "]", style="dim")
    return line


def _stop_words(reason: str | None) -> str:
    return {
        "max-states": "state limit (--max-states)",
        "max-seconds": "time limit (--max-seconds)",
        "max-memory": "memory limit",
        "interrupted": "interrupted",
    }.get(reason or "", reason or "stopped")


def matrix_report(results: list[RunResult], presets: list[str]) -> str:
    """Rows: scenarios; columns: presets; cells: outcome set, checked against `expect`."""
    table = Table(title="mpsim matrix (= matches expect, X differs, ? no expectation, ! incomplete)")
    table.add_column("scenario")
    for p in presets:
        table.add_column(p)
    rows: dict[str, dict[str, str]] = {}
    order: list[str] = []
    for r in results:
        key = r.file
        if key not in rows:
            rows[key] = {}
            order.append(key)
        rows[key][r.kernel.name] = _cell(r)
    names = {r.file: r.scenario for r in results}
    for key in order:
        table.add_row(names[key], *[rows[key].get(p, "") for p in presets])
    checked = [r for r in results if r.expected is not None]
    failed = sum(1 for r in checked if not r.passed)
    summary = f"{len(checked) - failed} of {len(checked)} expectations hold; {len(results) - len(checked)} cells unchecked"
    return _capture([table, summary], _use_color(True))


def _cell(r: RunResult) -> str:
    got = outcome_text(r.outcomes)
    if not r.complete:
        return f"! {got}"
    if r.expected is None:
        return f"? {got}"
    if r.passed:
        return f"= {got}"
    return f"X {got} (want {outcome_text(r.expected)})"


def replay_report(model: Any, scenario: Any, kernel: Any, steps: tuple[TraceStep, ...], state: Any) -> str:
    from rich.text import Text

    parts: list[object] = [Text(f"replay of {scenario.name} under {kernel.name}", style="bold")]
    for s in steps:
        parts.append(_step_text(s))
    labels = sorted(model.state_labels(state))
    successors = model.successors(state)
    if labels:
        parts.append(Text(f"reaches: {', '.join(labels)} - {model.summarize(state, labels[0])}"))
    elif not successors and not model.is_final(state):
        parts.append(Text(f"reaches a dead end (deadlock): {model.summarize(state, 'deadlock')}"))
    elif model.is_final(state):
        parts.append(Text("reaches a final state: every task has exited"))
    else:
        from mempool_cli.report import action_token

        enabled = ", ".join(action_token(model, a) for a, _, _ in successors)
        parts.append(Text(f"state after the schedule: {model.summarize(state, 'livelock')}"))
        parts.append(Text(f"enabled next: {enabled}"))
    return _capture(parts, _use_color(True))


# --------------------------------------------------------------- progress


def progress_reporter() -> Callable[[Progress], None]:
    """Progress on stderr: a line every few seconds (never on stdout)."""
    import time

    last = [0.0]

    def report(p: Progress) -> None:
        now = time.monotonic()
        if p.seconds < 1.0 or now - last[0] < (0.5 if sys.stderr.isatty() else 5.0):
            return
        last[0] = now
        line = (
            f"mpsim: {p.states:,} states, {p.transitions:,} transitions, "
            f"{p.states_per_second:,.0f} states/s, {p.queue:,} queued, {p.seconds:.0f} s"
        )
        if sys.stderr.isatty():
            sys.stderr.write("\r" + line + "\033[K")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    return report
