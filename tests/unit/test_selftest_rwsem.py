"""The rows of lib/locking-selftest.c that the format can express: rwsem, mutex and spinlock
deadlocks in instance form, double unlocks, and the trylock parts of the ww_mutex tests
(tests/data/selftest/, the table in docs/model.md, "rwsem"): each gives, on every preset,
the verdict its lockdep expectation implies (FAILURE: the hang or misuse; SUCCESS: ok)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mempool_cli.explore import explore
from mempool_cli.kernel.model import KernelModel
from mempool_cli.scenario.kernels import PRESETS
from mempool_cli.scenario.loader import load_scenario

DATA = Path(__file__).resolve().parents[1] / "data" / "selftest"
# test -> the outcome its lockdep expectation means here
EXPECTED = {
    "AA_wsem": "deadlock",
    "rsem_AA1": "deadlock",
    "rsem_AA2": "deadlock",
    "rsem_AA3": "deadlock",
    "rwsem_ABBA1": "deadlock",
    "double_unlock_wsem": "violation",
    "double_unlock_rsem": "violation",
    "AA_mutex": "deadlock",
    "AA_spin": "deadlock",
    "ABBA_mutex": "deadlock",
    "ABBA_spin": "deadlock",
    "ABBCCA_mutex": "deadlock",
    "ABBCCA_spin": "deadlock",
    "ABCABC_mutex": "deadlock",
    "ABCABC_spin": "deadlock",
    "double_unlock_mutex": "violation",
    "double_unlock_spin": "violation",
    # lockdep SUCCESS: no report, so nothing may hang or be misused
    "ww_test_normal_trylock": "ok",
    "ww_test_try_try": "ok",
    "ww_test_spin_try": "ok",
}


def test_every_file_is_in_the_table() -> None:
    assert {p.stem for p in DATA.glob("*.yaml")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("kernel", sorted(PRESETS))
def test_the_selftest_row_gives_lockdeps_verdict(name: str, kernel: str) -> None:
    scenario = load_scenario(str(DATA / f"{name}.yaml"))
    result = explore(KernelModel(scenario, PRESETS[kernel]))
    # a search that finds nothing wrong has no outcomes: that is ok
    expected = set() if EXPECTED[name] == "ok" else {EXPECTED[name]}
    assert set(result.outcomes) == expected
    assert result.complete


def test_the_doc_table_lists_every_row() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "model.md").read_text()
    for name in EXPECTED:
        assert f"`{name}`" in doc
