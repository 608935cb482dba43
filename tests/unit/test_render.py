"""render.py: plain ASCII when piped or NO_COLOR, colour on a terminal, progress on stderr only."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mempool_cli import render
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
    assert "replay: mpsim replay " in text
    assert all(line == line.rstrip() for line in text.splitlines())


def test_tables_fit_the_width_and_long_lines_are_not_wrapped() -> None:
    text = render.run_report(results(), color=False, width=100)
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
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert render.Style.for_stream(io.StringIO()).color is False
    assert render.Style.for_stream(io.StringIO()).width == 100
    assert render.Style.for_stream(FakeTTY()).color is True
    monkeypatch.setenv("NO_COLOR", "1")
    tty = render.Style.for_stream(FakeTTY())
    assert tty.color is False
    assert tty.box.top_left == "+"


def test_matrix_shows_names_in_full_when_piped() -> None:
    rs = results(
        REPO / "scenarios/mempool/rientjes-2016-oom-victim-unreapable.yaml", ("v4.5", "v4.6")
    )
    text = render.matrix_report(rs, ["v4.5", "v4.6"], color=False, width=40)
    assert "rientjes-2016-oom-victim-unreapable" in text
    assert "\u2026" not in text
    assert text.isascii()
    assert "= livelock" in text and "= ok" in text
    assert "2 of 2 expectations hold" in text


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
    assert "? deadlock" in done.stdout  # v4.6 has no expectation: shown, not checked
    done = _cli("matrix", str(wrong), "--kernel", "v4.6")
    assert done.returncode == 0


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
