"""`mpsim graph`: DOT that parses, shapes by node type, the cycle and the counterexample in red."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import pydot
import pytest
from click.testing import CliRunner

from mempool_cli.analysis.dot import MAX_DRAWN_STATES, state_graph, waitfor_dot
from mempool_cli.cli import cli
from mempool_cli.errors import UsageError
from mempool_cli.kernel.model import KernelModel
from mempool_cli.scenario.loader import load_scenario
from mempool_cli.verdict import run_scenario

REPO = Path(__file__).resolve().parents[2]
RIENTJES = str(REPO / "scenarios/mempool/rientjes-2016-oom-victim.yaml")
ABBA = str(REPO / "scenarios/mempool/weiner-2016-abba.yaml")
ZERO_MIN = str(REPO / "scenarios/mempool/rientjes-2016-zero-min-pool.yaml")
NO_ABBA = str(REPO / "scenarios/mempool/weiner-2016-no-abba.yaml")


def parse(text: str) -> Any:
    with warnings.catch_warnings():  # pydot's parser uses names newer pyparsing deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        graphs = pydot.graph_from_dot_data(text)
    assert graphs is not None and len(graphs) == 1
    return graphs[0]


def graph_cli(*args: str) -> Any:
    return CliRunner().invoke(cli, ["graph", *args], catch_exceptions=False)


def node_attrs(graph: Any) -> dict[str, dict[str, str]]:
    return {n.get_name().strip('"'): n.get_attributes() for n in graph.get_nodes()}


def red_edges(graph: Any) -> set[tuple[str, str]]:
    return {
        (e.get_source().strip('"'), e.get_destination().strip('"'))
        for e in graph.get_edges()
        if e.get_attributes().get("color") == "red"
    }


def test_waitfor_dot_parses_with_shapes_and_the_cycle_in_red() -> None:
    done = graph_cli(RIENTJES)
    assert done.exit_code == 0
    graph = parse(done.output)
    nodes = node_attrs(graph)
    assert nodes["task:taskA"]["shape"] == "box"
    assert nodes["mutex:M"]["shape"] == "octagon"
    assert nodes["pool:pool0"]["shape"] == "cylinder"
    assert nodes["memory"]["shape"] == "box3d"
    assert nodes["oom_victim:taskC"]["shape"] == "note"
    assert red_edges(graph) == {
        ("task:taskA", "mutex:M"),
        ("mutex:M", "task:taskB"),
        ("task:taskB", "memory"),
        ("memory", "task:taskC"),
        ("task:taskC", "pool:pool0"),
        ("pool:pool0", "task:taskA"),
    }


def test_waitfor_dot_without_a_cycle_marks_the_dead_end() -> None:
    graph = parse(graph_cli(ZERO_MIN).output)
    assert red_edges(graph) == set()
    pool = node_attrs(graph)["pool:pool0"]
    assert pool["color"] == "red"
    assert "no way out" in pool["label"]


def test_waitfor_dot_from_plain_data() -> None:
    sc = load_scenario(ABBA)
    (f,) = run_scenario(sc, sc.kernel).findings
    graph = parse(waitfor_dot(f.waitfor, "abba"))
    assert {n.get_name().strip('"') for n in graph.get_nodes()} >= {
        "task:cpu0", "task:cpu1", "mutex:L", "pool:pool0",
    }  # fmt: skip
    assert len(red_edges(graph)) == 4


def test_no_hang_means_no_waitfor_graph() -> None:
    done = CliRunner().invoke(cli, ["graph", NO_ABBA])
    assert done.exit_code == 2
    assert "no wait-for graph" in done.output and "--states" in done.output


def test_a_finding_that_is_not_a_hang() -> None:
    path = str(REPO / "scenarios/mempool/rientjes-2016-oom-victim-unreapable.yaml")
    done = CliRunner().invoke(cli, ["graph", path, "--kernel", "v4.15", "--finding", "1"])
    assert done.exit_code == 2
    assert "finding 1 is oom-kill, not a hang" in done.output
    done = CliRunner().invoke(cli, ["graph", path, "--finding", "9"])
    assert done.exit_code == 2
    assert "--finding 9" in done.output


def test_state_graph_highlights_the_counterexample() -> None:
    graph = parse(graph_cli(ABBA, "--states").output)
    sc = load_scenario(ABBA)
    states = state_graph(KernelModel(sc))[1]
    assert len(graph.get_nodes()) >= len(states)  # (pydot may list defaults as nodes)
    (finding,) = run_scenario(sc, sc.kernel).findings
    steps = finding.schedule.count(",") + 1 + finding.cycle.count(",") + 1
    assert len(red_edges(graph)) == steps  # the path and the loop, each edge once
    assert "s0" in {u for u, _ in red_edges(graph)}


def test_state_graph_refuses_a_big_scenario(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="more than 10 states"):
        state_graph(KernelModel(load_scenario(ABBA)), limit=10)
    # Five independent tasks of four steps each: 5^5 = 3,125 states.
    tasks = "".join(
        f"  t{i}:\n    steps:\n"
        + "".join(f"      - {op}: L{i}\n" for op in ("mutex_lock", "mutex_unlock") * 2)
        for i in range(5)
    )
    locks = "".join(f"  L{i}: mutex\n" for i in range(5))
    big = tmp_path / "big.yaml"
    big.write_text(f"mpsim: 1\nlocks:\n{locks}tasks:\n{tasks}")
    done = CliRunner().invoke(cli, ["graph", str(big), "--states"])
    assert done.exit_code == 2
    assert f"more than {MAX_DRAWN_STATES:,} states, too many to draw" in done.output


def test_svg_without_graphviz_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    done = CliRunner().invoke(cli, ["graph", ABBA, "--format", "svg"])
    assert done.exit_code == 2
    assert done.output.count("\n") == 1
    assert "needs Graphviz's `dot` on PATH" in done.output


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_svg_with_graphviz(tmp_path: Path) -> None:
    out = tmp_path / "g.svg"
    done = CliRunner().invoke(cli, ["graph", ABBA, "--format", "svg", "-o", str(out)])
    assert done.exit_code == 0
    assert out.read_text().lstrip().startswith("<?xml")


def test_dot_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "g.dot"
    done = CliRunner().invoke(cli, ["graph", ABBA, "-o", str(out)])
    assert done.exit_code == 0 and done.output == ""
    parse(out.read_text())
