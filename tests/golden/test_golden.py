"""Golden files: the text report, JSON and DOT of every shipped scenario, byte for byte.

Rendered colourless at width 100 with the search time set to 0, so the
files only change when what mpsim says changes. A failing test prints
the diff. After reviewing a change, regenerate with

    MPSIM_UPDATE_GOLDEN=1 python -m pytest tests/golden

and read the new files before committing them.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from pathlib import Path
from typing import Any

import pydot
import pytest

from mempool_cli import render
from mempool_cli.analysis.dot import waitfor_dot
from mempool_cli.report import HANG_OUTCOMES, RunResult, to_json
from mempool_cli.scenario.kernels import PRESETS
from mempool_cli.scenario.loader import load_scenario
from mempool_cli.verdict import kernels_for, run_scenario

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
GOLDEN = Path(__file__).resolve().parent
UPDATE = os.environ.get("MPSIM_UPDATE_GOLDEN") == "1"
FILES = sorted(p.relative_to(REPO) for p in SCENARIOS.rglob("*.yaml"))

# pydot's parser uses pyparsing names that newer pyparsing deprecates.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# The presets of format version 1. The long-term presets of revision 2 (v4.11, v4.19 ...
# v6.12) are pinned by tests/unit/test_kernel_presets.py and the shipped scenarios' expect.
V1_PRESETS = ("v4.5", "v4.6", "rfc-2016-07", "v4.8", "v4.15", "latest")


def _results(path: Path, all_kernels: bool) -> list[RunResult]:
    scenario = load_scenario(str(path))
    if all_kernels:  # as --all-kernels does, over the version-1 presets
        patch = dict(scenario.kernel_knobs)
        kernels = [PRESETS[name].with_knobs(**patch) for name in V1_PRESETS]
    else:
        kernels = kernels_for(scenario, [], False)
    # The search time is the one thing that differs between two runs.
    return [dataclasses.replace(run_scenario(scenario, k), seconds=0.0) for k in kernels]


def _check(golden: Path, actual: str) -> None:
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
        return
    if not golden.exists():
        pytest.fail(
            f"no golden file {golden.relative_to(REPO)}: review the output, then run "
            "MPSIM_UPDATE_GOLDEN=1 python -m pytest tests/golden"
        )
    expected = golden.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                str(golden.relative_to(REPO)),
                "actual",
            )
        )
        pytest.fail(f"output differs from the golden file:\n{diff}")


def _golden(kind: str, path: Path, suffix: str) -> Path:
    return GOLDEN / kind / path.relative_to("scenarios").with_suffix(suffix)


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    # Paths in reports (and replay commands) are as given: relative to the repository.
    monkeypatch.chdir(REPO)


def test_there_are_scenarios() -> None:
    assert FILES


@pytest.mark.parametrize("path", FILES, ids=str)
def test_text_report(path: Path) -> None:
    """Every preset of format version 1, the default report (no --trace)."""
    text = render.run_report(_results(path, True), color=False, width=100, wrap=False)
    assert "\x1b" not in text
    _check(_golden("text", path, ".txt"), text)


@pytest.mark.parametrize("path", FILES, ids=str)
def test_json_report(path: Path) -> None:
    """The file's own kernel, full traces."""
    data = [to_json(r) for r in _results(path, False)]
    _check(_golden("json", path, ".json"), json.dumps(data, indent=2) + "\n")


def _has_node(graph: Any, name: str) -> bool:
    """Whether the DOT graph declares ``name``, at its top or in a subgraph (a shared CPU's
    box, revision 2)."""
    return bool(graph.get_node(name)) or any(_has_node(g, name) for g in graph.get_subgraphs())


@pytest.mark.parametrize("path", FILES, ids=str)
def test_waitfor_dot(path: Path) -> None:
    """The wait-for graph of each hang under the file's own kernel; it must parse as DOT."""
    parts = []
    for r in _results(path, False):
        for n, f in enumerate(r.findings, 1):
            if f.outcome in HANG_OUTCOMES:
                title = f"{r.scenario} under {r.kernel.name}: {f.outcome} (finding {n})"
                text = waitfor_dot(f.waitfor, title)
                (graph,) = pydot.graph_from_dot_data(text)
                assert (
                    _has_node(graph, f'"{f.waitfor["cycle"][0]}"') if f.waitfor["cycle"] else True
                )
                parts.append(text)
    golden = _golden("dot", path, ".dot")
    if not parts:
        assert UPDATE or not golden.exists(), f"{golden} is stale: no hang any more"
        return
    _check(golden, "\n".join(parts) + "\n")
