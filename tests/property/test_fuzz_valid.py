"""Valid scenarios drawn from the format's structure (``valid.py``), and what must hold for each.

* `mpsim run` ends without a traceback, with exit 0, 1 or 4 (never 3:
  the file is valid);
* the outcomes are the same with and without the reductions, and with the OOM
  killer off (so the stubborn sets apply) with and without them;
* every finding's schedule replays to a state that shows its outcome;
* the JSON report is the same whatever PYTHONHASHSEED;
* renaming every task, lock, pool, completion and handle (reversing
  their sort order) keeps the outcomes.

A search cut by the state limit is compared only for what it is sure of:
what a cut search found, the complete one finds too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given

from mempool_cli.explore import Result, explore
from mempool_cli.kernel.model import KernelModel
from mempool_cli.scenario.loader import STDIN_NAME, load_text
from mempool_cli.scenario.schema import STEP_FORMS
from mempool_cli.verdict import Limits, kernels_for, replay_schedule, run_scenario
from tests.property.harness import invoke
from tests.property.strategies import ROOT, fuzz_settings, to_yaml
from tests.property.valid import CLOSED_BY, STEP_KINDS, renamed, reversed_names, valid_scenarios

MAX_STATES = 3000
SEEDS = ("1", "2")


def test_every_step_kind_has_a_generator() -> None:
    kinds = {f.key for f in STEP_FORMS}
    assert set(STEP_KINDS) | set(CLOSED_BY) == kinds
    assert set(CLOSED_BY.values()) <= set(STEP_KINDS)


class SeedWorkers:
    """One `seed_worker` per PYTHONHASHSEED, each answering `mpsim` requests."""

    def __init__(self) -> None:
        self.procs = [self._start(seed) for seed in SEEDS]

    @staticmethod
    def _start(seed: str) -> subprocess.Popen[str]:
        environ = {"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        return subprocess.Popen(
            [sys.executable, "-m", "tests.property.seed_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=environ,
        )  # fmt: skip

    def ask(self, args: list[str], text: str) -> list[dict[str, Any]]:
        request = json.dumps({"args": args, "input": text}) + "\n"
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(request)
            proc.stdin.flush()
        answers = []
        for proc in self.procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line, "a seed worker died"
            answers.append(json.loads(line))
        return answers

    def close(self) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def seed_workers() -> Iterator[SeedWorkers]:
    workers = SeedWorkers()
    yield workers
    workers.close()


def without_seconds(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for report in reports:
        report["stats"].pop("seconds")
    return reports


def agree(a: Any, b: Any, what: str) -> None:
    """Two searches of the same scenario: equal outcomes if both are complete, else the cut one
    found nothing the complete one did not (both cut: nothing to compare)."""
    if a.complete and b.complete:
        assert a.outcomes == b.outcomes, what
    elif a.complete:
        assert b.outcomes <= a.outcomes, what
    elif b.complete:
        assert a.outcomes <= b.outcomes, what


def check_valid(doc: dict[str, Any], workers: SeedWorkers) -> None:
    text = to_yaml(doc)
    args = ["run", "-", "--format", "json", "--max-states", str(MAX_STATES)]
    scenario = load_text(text, STDIN_NAME)
    (kernel,) = kernels_for(scenario, [], False)
    limits = Limits(max_states=MAX_STATES)
    reduced = run_scenario(scenario, kernel, limits)
    run = invoke(args, text.encode())
    assert run.code in (0, 1, 4), f"exit {run.code} for a valid scenario:\n{run.stderr}\n{text}"
    (report,) = json.loads(run.stdout)
    assert sorted(reduced.outcomes) == sorted(report["outcomes"])
    unreduced = run_scenario(scenario, kernel, Limits(max_states=MAX_STATES, reduce=False))
    agree(reduced, unreduced, f"--no-reduce changes the outcomes:\n{text}")

    for finding in report["findings"]:
        replayed = replay_schedule(scenario, kernel, finding["schedule"])
        assert finding["outcome"] in replayed.reached, (finding["schedule"], replayed.verdict)

    other = to_yaml(renamed(doc, reversed_names(doc)))
    again = run_scenario(load_text(other, STDIN_NAME), kernel, limits)
    agree(reduced, again, f"renaming changes the outcomes:\n{text}\n{other}")

    mine = without_seconds([report])
    for answer in workers.ask(args, text):
        assert answer["code"] == run.code
        assert without_seconds(json.loads(answer["stdout"])) == mine, "hash seed changes the JSON"


@fuzz_settings(120)
@given(valid_scenarios())
def test_valid_scenarios_keep_every_property(
    seed_workers: SeedWorkers, doc: dict[str, Any]
) -> None:
    check_valid(doc, seed_workers)


@fuzz_settings(120)
@given(valid_scenarios())
def test_stubborn_sets_keep_the_outcomes(doc: dict[str, Any]) -> None:
    """docs/model.md, "Stubborn sets": with the OOM killer off (where it can run the
    reduction is off), the outcomes with every reduction, and with all but the stubborn
    sets, are those of no reduction; a search cut by the state limit is compared as
    ``agree`` says."""
    text = to_yaml({**doc, "oom": {"killer": False}})
    scenario = load_text(text, STDIN_NAME)
    (kernel,) = kernels_for(scenario, [], False)
    full = explore(KernelModel(scenario, kernel, reduce=False), max_states=MAX_STATES)
    for model in (KernelModel(scenario, kernel), KernelModel(scenario, kernel, stubborn=False)):
        got = explore(model, max_states=MAX_STATES)
        # (explore's outcomes are a tuple: compared as sets, as run_scenario's are)
        agree(_as_sets(got), _as_sets(full), f"stubborn sets:\n{text}")


@dataclass(frozen=True)
class _Outcomes:
    complete: bool
    outcomes: frozenset[str]


def _as_sets(result: Result) -> _Outcomes:
    return _Outcomes(result.complete, frozenset(result.outcomes))
