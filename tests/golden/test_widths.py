"""Text output at the widths mail and terminals use: 72, 80 and 200 columns, boxed and plain.

Golden files for a few reports (the seed scenario, a two-task deadlock
and the matrix of the whole library), and for every shipped scenario a
check that no line of any text output is wider than the width asked for.
Regenerate the golden files with

    MPSIM_UPDATE_GOLDEN=1 python -m pytest tests/golden

and read them before committing.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

import pytest

from mempool_cli import render
from mempool_cli.report import RunResult
from mempool_cli.scenario.kernels import PRESET_NAMES
from mempool_cli.scenario.loader import load_scenario
from mempool_cli.verdict import kernels_for, replay_schedule, run_scenario
from tests.golden.test_golden import FILES, GOLDEN, REPO, _check

WIDTHS = (72, 80, 200)
STYLES = ("boxed", "plain")
GOLDEN_FILES = (
    Path("scenarios/mempool/rientjes-2016-oom-victim.yaml"),
    Path("scenarios/mempool/weiner-2016-abba.yaml"),
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


@cache
def _results(path: Path) -> tuple[RunResult, ...]:
    scenario = load_scenario(str(path))
    return tuple(
        dataclasses.replace(run_scenario(scenario, k), seconds=0.0)
        for k in kernels_for(scenario, [], True)
    )


def _style(width: int, style: str) -> render.Style:
    return render.Style(color=False, width=width, plain=style == "plain")


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.stem)
def test_report_golden(path: Path, width: int, style: str) -> None:
    text = render.run_report(list(_results(path)), style=_style(width, style))
    assert max(len(line) for line in text.splitlines()) <= width
    _check(GOLDEN / "width" / f"{path.stem}.{width}.{style}.txt", text)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("width", WIDTHS)
def test_matrix_golden(width: int, style: str) -> None:
    results = [r for path in FILES for r in _results(path)]
    text = render.matrix_report(results, PRESET_NAMES, style=_style(width, style))
    assert max(len(line) for line in text.splitlines()) <= width
    _check(GOLDEN / "width" / f"matrix.{width}.{style}.txt", text)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("width", (72, 80))
@pytest.mark.parametrize("path", FILES, ids=str)
def test_no_line_wider_than_the_width(path: Path, width: int, style: str) -> None:
    """Every shipped scenario: the report with --trace, and the replay of its first finding."""
    chosen = _style(width, style)
    results = _results(path)
    outputs = [render.run_report(list(results), trace=True, style=chosen)]
    for r in results:
        if r.findings:
            scenario = load_scenario(str(path))
            (kernel,) = kernels_for(scenario, [r.kernel.name], False)
            replayed = replay_schedule(scenario, kernel, r.findings[0].schedule)
            outputs.append(render.replay_report(replayed, style=chosen))
            break
    for text in outputs:
        widest = max(text.splitlines(), key=len)
        assert len(widest) <= width, widest


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("width", (72, 80))
def test_kernels_fit(width: int, style: str) -> None:
    text = render.kernels_report(_style(width, style))
    assert max(len(line) for line in text.splitlines()) <= width
    assert "mempool_nomemalloc" in text and "if_pool_nonempty" in text
