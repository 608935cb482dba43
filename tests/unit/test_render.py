"""render.py: plain ASCII when piped or NO_COLOR, colour on a terminal, progress on stderr only."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from mempool_cli import render
from mempool_cli.commands import join_schedule
from mempool_cli.explore import Progress
from mempool_cli.report import RunResult
from mempool_cli.scenario.loader import load_scenario
from mempool_cli.verdict import kernels_for, replay_schedule, run_scenario

REPO = Path(__file__).resolve().parents[2]
RIENTJES = REPO / "scenarios/mempool/rientjes-2016-oom-victim.yaml"


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def results(path: Path = RIENTJES, presets: tuple[str, ...] = ("v4.5",)) -> list[RunResult]:
    sc = load_scenario(str(path))
    return [run_scenario(sc, k) for k in kernels_for(sc, list(presets), False)]


def test_plain_report_is_ascii_without_escapes() -> None:
    text = render.run_report(results(), trace=True, color=False, width=100)
    assert "\x1b" not in text
    assert text.isascii()
    assert "*** LIVELOCK ***" in text
    assert "|------+" in text  # rich.box.ASCII
    assert "replay:" in text and "mpsim replay " in text
    assert all(line == line.rstrip() for line in text.splitlines())


def test_unwrapped_layout_of_the_first_golden_files_keeps_long_lines() -> None:
    text = render.run_report(results(), color=False, width=100, wrap=False)
    lines = text.splitlines()
    assert all(len(line) <= 100 for line in lines if line.lstrip().startswith(("|", "+")))
    # The wait-for line is longer than 100 and stays one line (soft wrap).
    (wait_for,) = [line for line in lines if "wait-for:" in line]
    assert len(wait_for) > 100
    assert wait_for.endswith("-[element held by]-> taskA")


def test_trace_shows_what_changed() -> None:
    text = render.run_report(results(), trace=True, color=False, width=100)
    assert "every step, with what it changed:" in text
    assert "pool0 1 -> 0 of 1" in text
    assert "M free -> taskB" in text
    assert "every step" not in render.run_report(results(), color=False, width=100)


def test_colour_on_a_terminal() -> None:
    text = render.run_report(results(), color=True, width=100)
    assert "\x1b[" in text


def test_style_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    assert render.Style.for_stream(io.StringIO()).color is False
    assert render.Style.for_stream(io.StringIO()).width == 80
    assert render.Style.for_stream(io.StringIO(), 132).width == 132
    assert render.Style.for_stream(FakeTTY()).color is True
    assert render.Style.for_stream(FakeTTY()).box.top_left == "\u256d"  # rounded
    monkeypatch.setenv("COLUMNS", "91")
    assert render.Style.for_stream(io.StringIO()).width == 91
    assert render.Style.for_stream(io.StringIO(), 72).width == 72  # --width wins
    monkeypatch.setenv("NO_COLOR", "1")
    tty = render.Style.for_stream(FakeTTY())
    assert tty.color is False
    assert tty.box.top_left == "\u256d"  # NO_COLOR takes the colour away, not the boxes
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert render.Style.for_stream(io.StringIO()).color is False  # NO_COLOR wins
    monkeypatch.delenv("NO_COLOR")
    piped = render.Style.for_stream(io.StringIO())
    assert piped.color is True and piped.box.top_left == "+"
    assert render.Style.for_stream(io.StringIO(), style="plain").box.top_left == " "


def _visible(text: str) -> list[str]:
    return [line.rstrip() for line in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()]


@pytest.mark.parametrize("plain", [False, True], ids=["boxed", "plain"])
def test_colour_changes_nothing_but_the_colour(plain: bool) -> None:
    style = render.Style(color=False, width=80, unicode=True, plain=plain)
    rs = results()
    bare = render.run_report(rs, trace=True, style=style)
    coloured = render.run_report(rs, trace=True, style=replace(style, color=True))
    assert "\x1b[" in coloured
    assert _visible(coloured) == _visible(bare)


@pytest.mark.parametrize("width", [56, 72, 80, 200])
@pytest.mark.parametrize("plain", [False, True], ids=["boxed", "plain"])
def test_no_line_is_wider_than_the_width(
    width: int, plain: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    style = render.Style(color=False, width=width, plain=plain)
    text = render.run_report(results(RIENTJES.relative_to(REPO)), trace=True, style=style)
    assert max(len(line) for line in text.splitlines()) <= width


def test_the_story_wraps_at_spaces_and_under_its_column() -> None:
    text = render.run_report(results(), style=render.Style(color=False, width=80))
    # Every word of a step stays whole at 80 columns (the longest fits a column).
    assert "__alloc_pages_may_oom" in text
    plain = render.run_report(results(), style=render.Style(color=False, width=72, plain=True))
    lines = plain.splitlines()
    (header,) = [i for i, line in enumerate(lines) if line.lstrip().startswith("step  taskB")]
    assert set(lines[header + 1]) == {" ", "-"}
    column = lines[header].index("taskC")
    (six,) = [i for i, line in enumerate(lines) if line.startswith("         6 ")]
    assert lines[six].index("mempool_alloc") == column
    assert lines[six + 1].startswith(" " * column) and lines[six + 1][column] != " "
    assert not any(c in plain for c in "|+")
    assert "*** LIVELOCK ***" in plain


@pytest.mark.parametrize("width", [40, 60, 72])
def test_a_wrapped_replay_command_still_pastes_into_a_shell(width: int) -> None:
    # results() names the file by its absolute path, longer than some of these lines.
    text = render.run_report(results(), style=render.Style(color=False, width=width))
    lines = text.splitlines()
    # Only the statistics line may overflow: it keeps a file name whole.
    assert [line for line in lines if len(line) > width] == [
        line for line in lines if line.startswith(f"  {RIENTJES}:") and len(line) > width
    ]
    start = next(i for i, line in enumerate(lines) if line.strip() == "replay:")
    command = []
    for line in lines[start + 1 :]:
        command.append(line)
        if not line.endswith("\\"):
            break
    assert len(command) > 1
    # What a shell makes of the pasted lines, with printf standing in for mpsim.
    pasted = "\n".join(command).replace("mpsim replay", "printf '%s\\n'", 1)
    words = subprocess.run(
        ["sh", "-c", pasted], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert words[0] == str(RIENTJES)
    assert words[-2:] == ["--kernel", "v4.5"]
    schedule = join_schedule(words[1:-2])
    assert schedule == "taskB,taskB,taskA,taskA,taskA,taskC,taskC,taskC"


def test_matrix_shows_full_names_and_outcomes_when_they_fit() -> None:
    rs = results(
        REPO / "scenarios/mempool/rientjes-2016-oom-victim-unreapable.yaml", ("v4.5", "v4.6")
    )
    text = render.matrix_report(rs, ["v4.5", "v4.6"], color=False, width=80)
    assert "| rientjes-2016-oom-victim-unreapable |" in text
    assert text.isascii()
    assert "= livelock" in text and "= ok" in text
    assert "2 of 2 cells as expected" in text


def test_a_narrow_matrix_uses_codes_and_lists_cut_names_in_full() -> None:
    rs = results(
        REPO / "scenarios/mempool/rientjes-2016-oom-victim-unreapable.yaml", ("v4.5", "v4.6")
    )
    text = render.matrix_report(rs, ["v4.5", "v4.6"], color=False, width=40)
    assert max(len(line) for line in text.splitlines()) <= 40
    row = next(line for line in text.splitlines() if "...[1]" in line)
    assert row.split("|")[2:4] == [" LL   ", " ok   "]
    assert "LL livelock" in text
    assert "rientjes-2016-oom-victim-unreapable" in text  # in full, under the table
    assert "[1]" in text.split("in full:")[1]


def test_replay_report() -> None:
    sc = load_scenario(str(RIENTJES))
    (kernel,) = kernels_for(sc, ["v4.5"], False)
    r = replay_schedule(sc, kernel, "taskB,taskB,taskA,taskA,taskA,taskC,taskC,taskC")
    text = render.replay_report(r, color=False, width=100)
    assert "reaches: livelock - in a hang of 6 states" in text
    assert "wait-for: taskA -[waits for]-> mutex M" in text
    assert "hint: taskC could use the reserves" in text
    assert text.isascii() and "\x1b" not in text


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mempool_cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=full_env,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("run", "scenarios/mempool/rientjes-2016-oom-victim.yaml", "--trace"),
        ("matrix", "scenarios/mempool"),
        ("replay", "scenarios/mempool/weiner-2016-abba.yaml", "cpu0,cpu0,cpu1,cpu0,cpu1,cpu1,cpu1"),
        ("kernels",),
    ],
    ids=lambda a: a[0],
)
def test_piped_output_has_no_escape_codes_even_without_no_color(args: tuple[str, ...]) -> None:
    done = _cli(*args, env={"TERM": "xterm-256color", "FORCE_COLOR": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout
    assert "\x1b" not in done.stdout
    assert done.stdout.isascii()
    assert "\x1b" not in done.stderr


def test_matrix_exit_status_follows_the_expectations(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        "mpsim: 1\nlocks: {L: mutex}\ntasks:\n"
        "  t: {steps: [mutex_lock: L, mutex_lock: L]}\n"  # takes L twice: deadlock
        "expect: {v4.5: ok}\n"
    )
    done = _cli("matrix", str(wrong), "--kernel", "v4.5", "--kernel", "v4.6")
    assert done.returncode == 1
    assert "X deadlock (want ok)" in done.stdout
    assert "? deadlock" in done.stdout  # v4.6 has no expectation: expected ok, as run does
    done = _cli("matrix", str(wrong), "--kernel", "v4.6")
    assert done.returncode == 1
    assert _cli("run", str(wrong), "--kernel", "v4.6").returncode == 1


def test_fail_on_gates_on_outcomes_whatever_expect_says(tmp_path: Path) -> None:
    path = tmp_path / "abba.yaml"
    path.write_text(
        "mpsim: 1\nlocks: {L: mutex}\ntasks:\n"
        "  t: {steps: [mutex_lock: L, mutex_lock: L]}\n"
        "expect: deadlock\n"
    )
    for command in ("run", "matrix"):
        args = (command, str(path), "--kernel", "v4.5")
        assert _cli(*args).returncode == 0
        assert _cli(*args, "--fail-on", "deadlock,livelock").returncode == 1
        assert _cli(*args, "--fail-on", "livelock").returncode == 0
        bad = _cli(*args, "--fail-on", "deadlok")
        assert bad.returncode == 2 and "unknown outcome 'deadlok'" in bad.stderr
        assert "Traceback" not in bad.stderr


def test_width_and_style_options_reach_every_text_command() -> None:
    for args in (
        ("run", "scenarios/mempool/rientjes-2016-oom-victim.yaml", "--trace"),
        ("matrix", "scenarios/mempool"),
        ("replay", "scenarios/mempool/weiner-2016-abba.yaml", "cpu0,cpu0,cpu1,cpu0,cpu1,cpu1,cpu1"),
        ("kernels",),
    ):
        for style in ("boxed", "plain"):
            done = _cli(*args, "--width", "72", "--style", style)
            assert done.returncode == 0, done.stderr
            assert max(len(line) for line in done.stdout.splitlines()) <= 72, args
            boxed = re.search(r"^\s*\+-+\+$", done.stdout, re.M) is not None
            # kernels at 72 columns is one paragraph per knob, no table at all
            assert boxed == (style == "boxed" and args[0] != "kernels"), args
    done = _cli("kernels", env={"COLUMNS": "200"})
    assert max(len(line) for line in done.stdout.splitlines()) > 100
    assert _cli("kernels", "--width", "20").returncode == 2


def progress(seconds: float, states: int = 10) -> Progress:
    return Progress(states, 2 * states, 3, seconds, states / max(seconds, 1e-9))


def test_progress_is_quiet_for_a_second_then_a_plain_line_every_few_seconds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = io.StringIO()
    with render.ProgressDisplay(err, every=5.0) as show:
        show(progress(0.5))
        assert err.getvalue() == ""
        show(progress(1.5, 1000))
        show(progress(2.0, 2000))  # too soon for another line
    lines = err.getvalue().splitlines()
    assert lines == [
        "mpsim: 1,000 states, 2,000 transitions, 3 left on the queue, 667 states/s, 2 s"
    ]
    assert capsys.readouterr().out == ""


def test_progress_on_a_terminal_is_a_live_line_that_goes_away() -> None:
    err = FakeTTY()
    show = render.ProgressDisplay(err)
    show(progress(3.0, 5000))
    assert "5,000 states" in err.getvalue()
    show.close()
    assert show._live is None


def test_the_search_time_is_never_split_from_its_unit(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the time differs between two runs, so tests and diffs strip "N.NN s" whole.
    monkeypatch.chdir(REPO)
    rs = results(RIENTJES.relative_to(REPO))
    for width in range(56, 101):
        text = render.run_report(rs, style=render.Style(color=False, width=width))
        assert re.search(r"\b\d+\.\d\d s$", text, re.M), width
