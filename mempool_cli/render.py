"""rich renderables for terminal output; the only module that imports rich.

Everything here turns plain data (from report.py or the spec) into text;
nothing here computes a verdict.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.table import Table

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
