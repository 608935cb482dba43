"""The rwsem and double-unlock rows of lib/locking-selftest.c that the format can express
(tests/data/selftest/, the table in docs/model.md, "rwsem"): each gives, on every preset,
the verdict its lockdep expectation implies."""

from __future__ import annotations

from pathlib import Path

import pytest

from mempool_cli.explore import explore
from mempool_cli.kernel.model import KernelModel
from mempool_cli.scenario.kernels import PRESETS
from mempool_cli.scenario.loader import load_scenario

DATA = Path(__file__).resolve().parents[1] / "data" / "selftest"
# test -> the outcome its lockdep FAILURE means here
EXPECTED = {
    "AA_wsem": "deadlock",
    "rsem_AA1": "deadlock",
    "rsem_AA2": "deadlock",
    "rsem_AA3": "deadlock",
    "rwsem_ABBA1": "deadlock",
    "double_unlock_wsem": "violation",
    "double_unlock_rsem": "violation",
}


def test_every_file_is_in_the_table() -> None:
    assert {p.stem for p in DATA.glob("*.yaml")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("kernel", sorted(PRESETS))
def test_the_selftest_row_gives_lockdeps_verdict(name: str, kernel: str) -> None:
    scenario = load_scenario(str(DATA / f"{name}.yaml"))
    result = explore(KernelModel(scenario, PRESETS[kernel]))
    assert set(result.outcomes) == {EXPECTED[name]}


def test_the_doc_table_lists_every_row() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "model.md").read_text()
    for name in EXPECTED:
        assert f"`{name}`" in doc
