"""A scenario read from stdin (`-`): the replay command a report prints for it works."""

from __future__ import annotations

import json
import shlex

from tests.property.harness import invoke
from tests.robustness.child import SMALL

DATA = SMALL.read_bytes()  # livelock under v4.5


def replay_lines(text: str) -> list[str]:
    return [line.split(": ", 1)[1] for line in text.splitlines() if "replay" in line]


def test_the_replay_command_of_a_scenario_from_stdin_reads_stdin() -> None:
    text = invoke(["run", "-", "--kernel", "v4.5"], DATA)
    assert text.code == 0, text.stderr
    assert "replay (the scenario on stdin): mpsim replay - " in text.stdout
    as_json = invoke(["run", "-", "--kernel", "v4.5", "--format", "json"], DATA)
    (report,) = json.loads(as_json.stdout)
    (finding,) = report["findings"]
    (printed,) = replay_lines(text.stdout)
    assert finding["replay"] == printed
    command = shlex.split(printed)
    assert command[:3] == ["mpsim", "replay", "-"]
    replay = invoke(command[1:], DATA)  # the same scenario on stdin again
    assert replay.code == 0, replay.stderr
    assert "reaches: livelock" in replay.stdout


def test_graph_reads_stdin() -> None:
    graph = invoke(["graph", "-", "--kernel", "v4.5"], DATA)
    assert graph.code == 0, graph.stderr
    assert graph.stdout.startswith("digraph")
    assert "rientjes-2016-oom-victim under v4.5" in graph.stdout
