"""Every file in scenarios/ passes its `expect` under every preset it names.

The expectations were reasoned from kernel-semantics.md and written into
the files by hand; this test only checks the model agrees with them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mempool_cli.report import outcome_text
from mempool_cli.scenario.loader import load_scenario
from mempool_cli.verdict import kernels_for, run_scenario

ROOT = Path(__file__).resolve().parents[2] / "scenarios"
FILES = sorted(p for p in ROOT.rglob("*.yaml"))


def cases() -> list[tuple[Path, str]]:
    out = []
    for path in FILES:
        scenario = load_scenario(str(path))
        assert scenario.expect is not None, f"{path} has no expect"
        keys = [k for k, _ in scenario.expect.by_key]
        presets = [k for k in keys if k != "default"] or [scenario.kernel.name]
        if "default" in keys:
            presets = sorted(set(presets) | {scenario.kernel.name})
        out.extend((path, preset) for preset in presets)
    return out


def test_there_are_shipped_scenarios() -> None:
    assert len(FILES) >= 4


@pytest.mark.parametrize(
    ("path", "preset"), cases(), ids=lambda v: v.name if isinstance(v, Path) else v
)
def test_shipped_scenario_meets_its_expectation(path: Path, preset: str) -> None:
    scenario = load_scenario(str(path))
    (kernel,) = kernels_for(scenario, [preset], False)
    result = run_scenario(scenario, kernel)
    assert result.complete
    assert result.passed, (
        f"{path.name} under {preset}: got {outcome_text(result.outcomes)}, "
        f"expected {outcome_text(result.expected)}"
    )
