"""``mpsim shrink``: delete and replay, keep what still fails (mempool_cli/shrink.py)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from mempool_cli.errors import UsageError
from mempool_cli.explore import explore
from mempool_cli.kernel.model import KernelModel
from mempool_cli.scenario.document import read_document
from mempool_cli.scenario.loader import load_scenario, load_text
from mempool_cli.scenario.spec import Scenario
from mempool_cli.shrink import scenario_size, shrink
from mempool_cli.verdict import kernels_for

ROOT = Path(__file__).parent.parent.parent
SHIPPED = sorted((ROOT / "scenarios").rglob("*.yaml"))
PER_SCENARIO_SECONDS = 5.0  # each takes well under a second here; the budget is a bound


def _failing_kernel(sc: Scenario) -> str | None:
    """A preset under which the file expects a finding: its own, else the first it names."""
    if sc.expect is None:
        return None
    if sc.expect.for_preset(sc.kernel.name):
        return sc.kernel.name
    for key, outcomes in sc.expect.by_key:
        if outcomes and key != "default":
            return key
    return None


def _outcomes(text: str, kernel: str | None) -> set[str]:
    sc = load_text(text, "shrunk.yaml")
    model = KernelModel(sc, kernels_for(sc, [kernel] if kernel else [], False)[0])
    result = explore(model)
    assert result.complete
    return set(result.outcomes)


WITH_FINDINGS = [
    (p, k) for p in SHIPPED if (k := _failing_kernel(load_scenario(str(p)))) is not None
]


def test_most_shipped_scenarios_have_a_finding_to_shrink() -> None:
    assert len(WITH_FINDINGS) >= 30


@pytest.mark.parametrize(
    ("path", "kernel"), WITH_FINDINGS, ids=[str(p.relative_to(ROOT)) for p, _ in WITH_FINDINGS]
)
def test_shrinking_a_shipped_scenario_keeps_its_outcome_and_never_grows(
    path: Path, kernel: str
) -> None:
    text = path.read_text()
    sc = load_text(text, str(path))
    first = explore(KernelModel(sc, kernels_for(sc, [kernel], False)[0])).findings[0].outcome
    result = shrink(text, str(path), kernel, max_seconds=PER_SCENARIO_SECONDS)
    assert result.outcome == first
    assert first in _outcomes(result.text, kernel)
    assert result.after <= result.before == scenario_size(read_document(text))
    assert scenario_size(read_document(result.text)) == result.after
    # the modeline stays the first line, and the file says what it is
    assert result.text.startswith("# yaml-language-server: $schema=")
    assert "# mpsim shrink of" in result.text


CORE = """\
mpsim: 1
name: padded
kernel: latest
memory:
  free: 4
  min: 4
  reclaimable:
    - {pages: 4, needs: [__GFP_FS], locks: [page_lock]}
locks:
  page_lock: mutex
tasks:
  readahead:
    steps:
      - mutex_lock: page_lock
      - alloc_pages: {gfp: GFP_KERNEL, as: page}
      - mutex_unlock: page_lock
      - free_pages: page
"""

PADDING_STEPS = """\
      - memalloc_noio_save
      - memalloc_noio_restore
      - mutex_lock: pad_lock
      - mutex_unlock: pad_lock
      - complete: pad_done
"""

PADDING_TASKS = """\
  idle:
    steps:
      - mutex_lock: pad_lock
      - alloc_pages: {gfp: GFP_ATOMIC, as: p}
      - free_pages: p
      - mutex_unlock: pad_lock
  waiter:
    count: 3
    rss: 2
    steps:
      - complete: pad_done
      - repeat:
          times: 2
          steps:
            - atomic_inc: pad_count
"""


def padded() -> str:
    text = CORE.replace(
        "locks:\n  page_lock: mutex\n", "locks:\n  page_lock: mutex\n  pad_lock: mutex\n"
    )
    declared = "completions: [pad_done]\ncounters:\n  pad_count: {}\n"
    declared += "pools:\n  pad_pool: {min_nr: 4}\n"
    text = text.replace("tasks:\n", declared + "tasks:\n")
    text = text.replace(
        "    steps:\n      - mutex_lock: page_lock\n",
        "    steps:\n" + PADDING_STEPS + "      - mutex_lock: page_lock\n",
    )
    text = text.replace("      - free_pages: page\n", "      - free_pages: page\n" + PADDING_STEPS)
    return text + PADDING_TASKS


def test_padding_is_removed_whole() -> None:
    text = padded()
    assert _outcomes(text, None) >= {"deadlock"}
    result = shrink(text, "padded.yaml")
    assert result.outcome == "deadlock"
    body = "".join(line + "\n" for line in result.text.splitlines() if not line.startswith("#"))
    for name in ("pad_lock", "pad_done", "pad_count", "pad_pool", "idle", "waiter", "memalloc"):
        assert name not in body
    # no larger than the core shrunk on its own
    assert result.after <= shrink(CORE, "core.yaml").after
    assert "deadlock" in _outcomes(result.text, None)


def test_output_is_deterministic_and_has_no_modeline_it_was_not_given() -> None:
    text = padded()
    a, b = shrink(text, "padded.yaml"), shrink(text, "padded.yaml")
    assert a.text == b.text
    assert not a.text.startswith("# yaml-language-server")


def test_the_deadline_stops_the_loop_with_a_still_failing_scenario() -> None:
    ticks = itertools.count()
    # a clock that moves one second each time it is read: a budget of 6 s allows a few
    # candidates only, whatever the machine's speed
    clock = lambda: float(next(ticks))  # noqa: E731
    full = shrink(padded(), "padded.yaml")
    cut = shrink(padded(), "padded.yaml", max_seconds=6, clock=clock)
    assert not cut.complete and full.complete
    assert 0 < cut.candidates < full.candidates
    assert "# stopped at --max-seconds" in cut.text
    assert "deadlock" in _outcomes(cut.text, None)
    assert cut.after <= cut.before


def test_a_violation_keeps_its_kind() -> None:
    path = ROOT / "scenarios/control/ioctl-alloc-error-path-unlock.yaml"
    result = shrink(path.read_text(), str(path))
    assert result.outcome == "violation"
    sc = load_text(result.text, "x.yaml")
    model = KernelModel(sc)
    finding = next(f for f in explore(model).findings if f.outcome == "violation")
    halt = model.halt_reason(finding.end_state)
    assert halt is not None and halt[2][0] == "exit_holding_lock"


def test_an_ok_scenario_has_nothing_to_shrink() -> None:
    path = ROOT / "scenarios/reclaim/nofs-recursion-fixed.yaml"
    with pytest.raises(UsageError, match="nothing to shrink"):
        shrink(path.read_text(), str(path))
    with pytest.raises(UsageError, match="no livelock"):
        shrink(CORE, "core.yaml", outcome="livelock")


def test_kernel_choice_is_written_into_the_file() -> None:
    path = ROOT / "scenarios/mempool/rientjes-2016-oom-victim.yaml"
    result = shrink(path.read_text(), str(path), "v4.5")
    doc = read_document(result.text)
    assert doc["kernel"] == "v4.5"
    assert "livelock" in str(doc["expect"]["v4.5"])
    assert _outcomes(result.text, None) >= {"livelock"}


def test_cli_writes_with_o_and_refuses_to_overwrite_the_scenario(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mempool_cli.cli import cli

    src = tmp_path / "core.yaml"
    src.write_text(CORE)
    out = tmp_path / "small.yaml"
    runner = CliRunner()
    done = runner.invoke(cli, ["shrink", str(src), "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert "deadlock" in _outcomes(out.read_text(), None)
    refused = runner.invoke(cli, ["shrink", str(src), "-o", str(src)])
    assert refused.exit_code == 2
    assert src.read_text() == CORE
    bad = runner.invoke(cli, ["shrink", str(src), "--outcome", "hang"])
    assert bad.exit_code == 2


def _knot_of(text: str, kernel: str) -> frozenset[str]:
    """The resources on the first hang's wait-for cycle (or its dead ends)."""
    from mempool_cli.analysis.waitfor import waitfor_graph

    sc = load_text(text, "x.yaml")
    model = KernelModel(sc, kernels_for(sc, [kernel], False)[0])
    finding = next(f for f in explore(model).findings if f.outcome in ("deadlock", "livelock"))
    wf = waitfor_graph(model, finding.end_state)
    if wf.cycle:
        return frozenset(n for n in wf.cycle if not n.startswith("task:"))
    return frozenset(wf.dead_ends)


def test_a_hang_shrinks_to_the_same_knot_not_to_another_hang() -> None:
    # Weiner's ABBA is a mutex against a pool; deleting steps can leave a plain
    # empty-pool deadlock, which shrink must not settle for
    path = ROOT / "scenarios" / "mempool" / "weiner-2016-abba.yaml"
    text = path.read_text()
    kernel = load_text(text, str(path)).kernel.name
    knot = _knot_of(text, kernel)
    assert any(n.startswith("mutex:") for n in knot) and any(n.startswith("pool:") for n in knot)
    result = shrink(text, str(path), kernel, max_seconds=PER_SCENARIO_SECONDS)
    assert _knot_of(result.text, kernel) == knot
    assert result.after < result.before
