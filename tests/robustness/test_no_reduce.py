"""`--no-reduce` turns symmetry reduction off: same verdicts, more states, said in the stats."""

from __future__ import annotations

import json

import pytest

from tests.property.harness import invoke
from tests.robustness.child import ROOT

# Two copies of a `count:` task each: the reduction applies to both.
SYMMETRIC = ["block/md-raid1-bios.yaml", "block/dm-crypt-swap-depletion.yaml"]


@pytest.mark.parametrize("name", SYMMETRIC)
def test_no_reduce_gives_the_same_findings_over_more_states(name: str) -> None:
    path = str(ROOT / "scenarios" / name)
    reduced = invoke(["run", path, "--format", "json"])
    full = invoke(["run", path, "--format", "json", "--no-reduce"])
    assert reduced.code == full.code == 0
    (r,), (f,) = json.loads(reduced.stdout), json.loads(full.stdout)
    assert (r["stats"]["reductions"], f["stats"]["reductions"]) == (["symmetry"], [])
    assert r["outcomes"] == f["outcomes"] != []
    assert r["stats"]["states"] < f["stats"]["states"]
    # schedules name real tasks either way; BFS finds a shortest one in both
    for a, b in zip(r["findings"], f["findings"], strict=True):
        assert len(a["trace"]) == len(b["trace"])


def test_text_report_says_when_states_are_reduced() -> None:
    path = str(ROOT / "scenarios" / SYMMETRIC[0])
    assert "states (reduced: symmetry)" in invoke(["run", path]).stdout
    assert "reduced:" not in invoke(["run", path, "--no-reduce"]).stdout


def test_matrix_and_graph_take_no_reduce() -> None:
    path = str(ROOT / "scenarios" / SYMMETRIC[0])
    assert invoke(["matrix", path, "--kernel", "v4.5", "--no-reduce"]).code == 0
    assert invoke(["graph", path, "--no-reduce"]).code == 0
