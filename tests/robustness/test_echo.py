"""The source line under an error is echoed to a terminal: control characters go out escaped."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.property.harness import invoke

RAW = {chr(c) for c in range(32) if chr(c) != "\n"} | {"\x7f"}


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),  # an OSC sequence: set the window title
        ("\x00", "\\x00"),
        ("\x01", "\\x01"),
        ("\x7f", "\\x7f"),
        ("\x9b", "\\x9b"),  # C1 CSI
    ],
    ids=["osc", "nul", "soh", "del", "csi"],
)
def test_control_characters_in_an_echoed_line_are_escaped(
    tmp_path: Path, raw: str, shown: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f'tasks:\n  t: {{steps: [mutex_lock: "M{raw}"]}}\n', encoding="utf-8")
    run = invoke(["check", str(path)])
    assert run.code == 3
    assert not RAW & set(run.stderr), repr(run.stderr)
    _head, line, caret = run.stderr.splitlines()
    assert line == f'  t: {{steps: [mutex_lock: "M{shown}"]}}'
    assert line[caret.index("^") :].startswith(shown)  # the caret stands under the escape


def test_a_utf16_file_prints_no_nul(tmp_path: Path) -> None:
    path = tmp_path / "utf16.yaml"
    path.write_bytes("tasks:\n  t: {steps: [complete: c]}\n".encode("utf-16"))
    run = invoke(["check", str(path)])
    assert run.code == 3
    assert "\x00" not in run.stderr
    assert (
        run.stderr
        == f"{path}:1:1: error: the file is UTF-16 (it starts with a byte-order mark), not UTF-8\n"
    )


def test_utf16_without_a_bom_prints_no_nul(tmp_path: Path) -> None:
    path = tmp_path / "utf16.yaml"
    path.write_bytes("tasks: é\n".encode("utf-16-le"))
    run = invoke(["check", str(path)])
    assert run.code == 3
    assert not RAW & set(run.stderr), repr(run.stderr)


@pytest.mark.parametrize("quote", ["", "'"], ids=["plain", "quoted"])
@pytest.mark.parametrize("flow", [False, True], ids=["block", "flow"])
def test_a_task_name_over_1024_characters_says_so(tmp_path: Path, quote: str, flow: bool) -> None:
    name = quote + "t" * 1100 + quote
    text = (
        f"tasks: {{{name}: {{steps: [complete: c]}}}}\n"
        if flow
        else f"tasks:\n  {name}:\n    steps: [complete: c]\n"
    )
    path = tmp_path / "long.yaml"
    path.write_text(text + "completions: [c]\n")
    run = invoke(["check", str(path)])
    assert run.code == 3
    assert "longer than 1024 characters" in run.stderr.splitlines()[0]
    assert "mapping values are not allowed" not in run.stderr
