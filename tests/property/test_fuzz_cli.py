"""Command lines, not files: any mix of commands, options and values ends inside the contract.

Options out of range, unknown presets, schedules that do not replay,
missing arguments: each is a usage error (exit 2) or a result, never a
traceback.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.property.harness import invoke
from tests.property.strategies import fuzz_settings, scenario_texts

ROOT = Path(__file__).resolve().parents[2]
VICTIM = str(ROOT / "tests" / "data" / "rientjes-2016-oom-victim.yaml")

COMMANDS = ("run", "check", "matrix", "replay", "graph", "kernels", "schema", "nosuch", "")
WORDS = st.sampled_from(
    [
        "-", VICTIM, str(ROOT), "/nonexistent.yaml", "--kernel", "-k", "v4.5", "latest", "v9",
        "--all-kernels", "--format", "json", "jsonl", "text", "dot", "svg", "png", "--trace",
        "--max-states", "--max-seconds", "--max-memory", "0", "1", "-1", "1e9", "nan", "inf",
        "99999999999999999999", "--finding", "--states", "taskA", "taskB,taskA", "taskC#1",
        "reaper@taskC", ",,", "--help", "-h", "--version", "--", "-x", "",
    ]
)  # fmt: skip
# What argv can hold: any bytes but NUL, as Python decodes them (undecodable bytes as surrogates).
ARGV_TEXT = st.binary(max_size=8).map(
    lambda b: b.replace(b"\0", b"").decode("utf-8", "surrogateescape")
)
SCHEDULE_TOKENS = st.sampled_from(["taskA", "taskB", "taskC", "taskA#1", "reaper@taskC", " ", ""])


@fuzz_settings(200)
@given(st.sampled_from(COMMANDS), st.lists(st.one_of(WORDS, ARGV_TEXT), max_size=6))
def test_any_command_line_ends_inside_the_contract(command: str, words: list[str]) -> None:
    args = [command, *words] if command else words
    if "--max-states" not in args:  # keep each example quick
        args += ["--max-states", "2000"] if command in ("run", "matrix", "graph") else []
    invoke(args, b"tasks: {t: {steps: [complete: c]}}\ncompletions: [c]\n")


@fuzz_settings(100)
@given(st.lists(SCHEDULE_TOKENS, max_size=30).map(",".join), st.sampled_from(["v4.5", "latest"]))
def test_any_schedule_replays_or_is_refused_in_one_line(schedule: str, kernel: str) -> None:
    run = invoke(["replay", VICTIM, schedule, "--kernel", kernel])
    assert run.code in (0, 2)
    if run.code == 2:
        assert run.stderr.count("\n") == 1, run.stderr


@fuzz_settings(60)
@given(scenario_texts(), st.sampled_from([[], ["--states"], ["--finding", "2"]]))
def test_graph_of_generated_scenarios(text: str, flags: list[str]) -> None:
    run = invoke(["graph", "-", "--max-states", "500", *flags], text.encode())
    assert run.code in (0, 2, 3, 4)


@fuzz_settings(40)
@given(scenario_texts())
def test_matrix_of_generated_scenarios(text: str) -> None:
    run = invoke(["matrix", "-", "--max-states", "500"], text.encode())
    assert run.code in (0, 1, 3, 4)
