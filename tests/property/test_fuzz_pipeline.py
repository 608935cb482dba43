"""The whole pipeline, in-process, on generated and mutated scenarios.

Each input goes through `mpsim check` and `mpsim run` with a small state
limit: the run ends in a report whose statuses agree with the exit
status, or in positioned errors (exit 3); every schedule it reports
replays. Nothing may end in a traceback or an exit status outside the
contract's 0-4.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from tests.property.harness import check_error_output, check_run, invoke
from tests.property.strategies import fuzz_settings, mutated_texts, scenario_texts

MAX_STATES = ["--max-states", "2000"]
FLAG_SETS: tuple[list[str], ...] = (
    ["--format", "json"],
    ["--format", "jsonl"],
    [],
    ["--trace"],
    ["--all-kernels", "--format", "json"],
    ["--kernel", "v4.5", "--kernel", "latest", "--format", "json"],
    ["--kernel", "v4.8", "--trace"],
)


def check_and_run(data: bytes, flags: list[str]) -> None:
    checked = invoke(["check", "-"], data)
    assert checked.code in (0, 3), checked.stderr
    if checked.code == 3:
        check_error_output(checked.stderr, "<stdin>")
    run = check_run(data, [*MAX_STATES, *flags])
    assert (run.code == 3) == (checked.code == 3), (checked, run)


@fuzz_settings(150)
@given(scenario_texts(), st.sampled_from(FLAG_SETS))
def test_generated_scenarios_run_or_fail_with_positions(text: str, flags: list[str]) -> None:
    check_and_run(text.encode("utf-8"), flags)


@fuzz_settings(150)
@given(mutated_texts(), st.sampled_from(FLAG_SETS))
def test_mutated_shipped_scenarios_run_or_fail_with_positions(
    data: bytes, flags: list[str]
) -> None:
    check_and_run(data, flags)


@fuzz_settings(60)
@given(scenario_texts())
def test_every_reported_schedule_replays(text: str) -> None:
    data = text.encode("utf-8")
    run = check_run(data, [*MAX_STATES, "--format", "json"])
    if run.code == 3:
        return
    for report in json.loads(run.stdout):
        for finding in report["findings"]:
            replayed = invoke(
                ["replay", "-", finding["schedule"], "--kernel", report["kernel"]], data
            )
            assert replayed.code == 0, (finding["schedule"], replayed.stderr)
