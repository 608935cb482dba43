"""`mpsim sweep`: --param forms, positioned errors, the boundary in words, shared searches,
json/jsonl/csv, the table, --plot, limits, and the pool-workers-N boundary at N+1."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from itertools import combinations
from pathlib import Path

import pytest

from mempool_cli import commands, plot
from mempool_cli import sweep as sw
from mempool_cli.errors import EnvironmentProblem, ScenarioError, UsageError
from mempool_cli.scenario.kernels import PRESETS, model_key
from mempool_cli.scenario.loader import load_scenario, load_text
from mempool_cli.verdict import run_scenario
from tests.property.harness import invoke

ROOT = Path(__file__).resolve().parents[2]
SEED = str(ROOT / "scenarios" / "mempool" / "rientjes-2016-oom-victim.yaml")
RWSEM = str(ROOT / "scenarios" / "oom" / "reaper-mmap-lock-write.yaml")
# A small grid of the seed: 3 x 3 points.
GRID = ["-p", "pools.pool0.min_nr=0..2", "-p", "memory.free=3..5"]


def _bench() -> object:
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


POOL_WORKERS: str = _bench().POOL_WORKERS  # type: ignore[attr-defined]


def pool_workers(tmp_path: Path, n: int, min_nr: int = 1) -> str:
    path = tmp_path / f"pool-workers-{n}.yaml"
    path.write_text(POOL_WORKERS.format(n=n, variant="sweep", min_nr=min_nr, expect="ok"))
    return str(path)


# ------------------------------------------------------------ --param forms


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("pools.pool0.min_nr=1..4", (1, 2, 3, 4)),
        ("memory.free=0..10/5", (0, 5, 10)),
        ("memory.free=0..9/4", (0, 4, 8)),
        ("memory.free=-2..-1", (-2, -1)),
        ("memory.free=7", (7,)),
        ("memory.free=08, 3 ,12", (8, 3, 12)),
        ("kernel=v4.5,v4.8", ("v4.5", "v4.8")),
        ("tasks.taskC.oom_victim=true,false", ("true", "false")),
    ],
)
def test_param_forms(text: str, values: tuple[object, ...]) -> None:
    param = sw.parse_param(text)
    assert (param.key, param.values) == (text.split("=")[0], values)


@pytest.mark.parametrize(
    ("text", "col", "words"),
    [
        ("memory.free", 11, "expected KEY=VALUES"),
        ("memory..free=1", 7, "an empty part in the key"),
        ("memory.fr ee=1", 7, "'fr ee' in the key"),
        ("memory.free=1..", 15, "nothing is not an integer"),
        ("memory.free=a..3", 12, "'a' is not an integer"),
        ("memory.free=1..3/x", 17, "'x' is not an integer"),
        ("memory.free=1..3/0", 17, "the step must be at least 1"),
        ("memory.free=5..3", 12, "the range 5..3 is empty"),
        ("memory.free=1,,2", 14, "an empty value"),
        ("memory.free=1, 2, 1", 18, "1 is listed twice"),
        ("memory.free=0..99999999", 12, "more than 10,000 values"),
    ],
)
def test_param_errors_point_at_the_mistake(text: str, col: int, words: str) -> None:
    with pytest.raises(UsageError) as err:
        sw.parse_param(text)
    head, shown, caret = str(err.value).split("\n")
    assert head.startswith(f"mpsim sweep: --param {text}: ") and words in head, head
    assert shown == f"  {text}"
    assert caret.index("^") - 2 == col, (caret, col)


# ------------------------------------------------------- keys and values refused


def test_a_missing_key_is_a_usage_error_at_its_parent_with_a_suggestion() -> None:
    run = invoke(["sweep", SEED, "--param", "pools.pool0.min_nx=1..2"])
    assert run.code == 2
    head, line, caret = run.stderr.splitlines()[:3]
    assert head == (
        f"{SEED}:23:3: error: --param pools.pool0.min_nx: pools.pool0 has no key 'min_nx' "
        "(did you mean 'min_nr'?)"
    )
    assert line == "  pool0: {min_nr: 1}" and caret == "  ^"


@pytest.mark.parametrize(
    ("key", "where", "words"),
    [
        ("bogus.x", ":2:1:", "the file's top level has no key 'bogus' (it has mpsim, name,"),
        ("tasks.taskD.rss", ":26:1:", "tasks has no key 'taskD' (did you mean 'taskC'?)"),
        ("memory", ":21:1:", "memory is a mapping, not a value"),
        ("tasks.taskB.steps.7.x", ":28:5:", "tasks.taskB.steps is a list; '7' is not one"),
        ("memory.free.x", ":21:10:", "memory.free is a value, with no 'x' in it"),
    ],
)
def test_keys_that_name_no_value(key: str, where: str, words: str) -> None:
    run = invoke(["sweep", SEED, "--param", f"{key}=1"])
    assert run.code == 2
    assert run.stderr.startswith(SEED + where) and words in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


def test_a_name_with_dots_is_matched_whole(tmp_path: Path) -> None:
    path = tmp_path / "dots.yaml"
    path.write_text("pools:\n  my.pool: {min_nr: 1}\ntasks:\n  t: {steps: []}\n")
    planned = sw.plan(
        load_scenario(str(path)), [sw.parse_param("pools.my.pool.min_nr=2,3")], [], False
    )
    assert [pt.scenario.pools[0].min_nr for pt in planned.points] == [2, 3]


def test_a_refused_value_is_positioned_and_names_its_point() -> None:
    with pytest.raises(ScenarioError) as err:
        sw.plan(
            load_scenario(SEED),
            [sw.parse_param("pools.pool0.min_nr=-1..1"), sw.parse_param("memory.free=3,4")],
            [],
            False,
        )
    [problem] = err.value.problems  # the two points with min_nr -1 share their problem
    assert (problem.line, problem.col) == (23, 19)
    assert problem.message == "at pools.pool0.min_nr=-1: 'min_nr' must be at least 0, got -1"
    assert problem.source_line == "  pool0: {min_nr: -1}"  # the line as the point has it
    run = invoke(["sweep", SEED, "-p", "pools.pool0.min_nr=-1..1", "-p", "memory.free=3,4"])
    assert run.code == 3 and run.stderr.startswith(f"{SEED}:23:19: error: at pools.pool0.min_nr=-1")


def test_the_same_key_twice_and_too_many_points_are_usage_errors() -> None:
    base = load_scenario(SEED)
    with pytest.raises(UsageError, match=r"memory\.free is given twice"):
        sw.plan(base, [sw.parse_param("memory.free=1"), sw.parse_param("memory.free=2")], [], False)
    big = [sw.parse_param("memory.free=0..200"), sw.parse_param("memory.min=0..200")]
    with pytest.raises(UsageError, match="40,401 points; at most 10,000"):
        sw.plan(base, big, [], False)


def test_values_are_written_in_place_and_quoted_when_needed(tmp_path: Path) -> None:
    path = tmp_path / "gfp.yaml"
    path.write_text(
        "memory: {free: 4, min: 4}  # a comment stays\n"
        "tasks:\n  t:\n    steps:\n      - alloc_pages: {gfp: GFP_KERNEL, as: p}\n"
        "      - free_pages: p\n"
    )
    param = sw.parse_param("tasks.t.steps.0.alloc_pages.gfp=GFP_NOIO,GFP_NOIO | __GFP_NOFAIL")
    planned = sw.plan(load_scenario(str(path)), [param], [], False)
    second = planned.points[1].scenario
    assert second.source.splitlines()[0] == "memory: {free: 4, min: 4}  # a comment stays"
    assert '{gfp: "GFP_NOIO | __GFP_NOFAIL", as: p}' in second.source


# -------------------------------------------------------------- the boundary


def _sweep(rows: dict[tuple[object, ...], list[str]], keys: tuple[str, ...]) -> sw.Sweep:
    """A finished sweep from cell words: ``ok``, ``DL`` (deadlock) or ``cut``."""
    columns = ("v4.5", "v4.6", "v4.8")[: len(next(iter(rows.values())))]

    def cell(word: str, kernel: str) -> sw.Cell:
        outcomes = frozenset() if word in ("ok", "cut") else frozenset({"deadlock"})
        return sw.Cell(
            kernel, outcomes, word != "cut", "max-states" if word == "cut" else None, 1, 1, 0
        )

    axes = [tuple(dict.fromkeys(v[i] for v in rows)) for i in range(len(keys))]
    params = tuple(sw.Param(k, a) for k, a in zip(keys, axes, strict=True))  # type: ignore[arg-type]
    points = tuple(
        (v, tuple(cell(w, k) for w, k in zip(words, columns, strict=True)))
        for v, words in rows.items()
    )
    return sw.Sweep("f.yaml", "s", params, columns, points, len(points))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cells", "words"),
    [
        ({1: ["DL", "DL"], 2: ["ok", "ok"], 3: ["ok", "ok"]}, "ok under every preset from k 2"),
        ({1: ["ok", "ok"], 2: ["ok", "ok"]}, "ok under every preset at every k in 1, 2"),
        (
            {1: ["DL", "DL"], 2: ["DL", "DL"], 3: ["DL", "DL"]},
            "ok under no preset at any k in 1..3",
        ),
        ({1: ["ok", "ok"], 2: ["DL", "DL"], 3: ["DL", "DL"]}, "ok under every preset up to k 1"),
        (
            {1: ["ok", "ok"], 2: ["DL", "DL"], 3: ["ok", "ok"]},
            "ok under every preset at k 1, 3 only",
        ),
        (
            {1: ["DL", "ok", "ok"], 2: ["DL", "ok", "ok"], 3: ["ok", "ok", "ok"]},
            "ok under v4.5 from k 3; under every other preset at every k in 1..3",
        ),
        ({1: ["DL"], 2: ["ok"]}, "ok under v4.5 from k 2"),
    ],
)
def test_boundary_words(cells: dict[int, list[str]], words: str) -> None:
    assert sw.boundary(_sweep({(v,): c for v, c in cells.items()}, ("k",))) == [words]


def test_a_cut_point_is_never_counted_as_ok() -> None:
    [line] = sw.boundary(_sweep({(1,): ["DL"], (2,): ["ok"], (3,): ["cut"]}, ("k",)))
    assert line == (
        "ok under v4.5 at k 2 only (cut short, so not counted as ok: k 3 under v4.5 (max-states))"
    )


def test_two_parameters_give_a_boundary_per_value_of_the_second() -> None:
    rows = {(1, 4): ["DL"], (2, 4): ["ok"], (1, 8): ["ok"], (2, 8): ["ok"]}
    assert sw.boundary(_sweep(rows, ("min_nr", "free"))) == [
        "at free=4: ok under v4.5 from min_nr 2",
        "at free=8: ok under v4.5 at every min_nr in 1, 2",
    ]


# ------------------------------------------------------------ shared searches


def test_the_same_text_under_kernels_the_model_cannot_tell_apart_is_searched_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    searched: list[tuple[str, str]] = []
    real = commands.run_within_memory

    def counted(sc, k, *rest):  # type: ignore[no-untyped-def]
        searched.append((sc.source, k.name))
        return real(sc, k, *rest)

    monkeypatch.setattr(commands, "default_workers", lambda: 1)  # in this process: countable
    monkeypatch.setattr(commands, "run_within_memory", counted)
    run = invoke(
        ["sweep", SEED, "-p", "pools.pool0.min_nr=1,2", "--all-kernels", "--format", "json"]
    )
    assert run.code == 0
    behaviours = len({model_key(k) for k in PRESETS.values()})
    assert behaviours < len(PRESETS)  # else this test shows nothing
    assert len(searched) == 2 * behaviours == len(set(searched))
    doc = json.loads(run.stdout)
    assert doc["searches"] == len(searched) and len(doc["points"]) == 2 * len(PRESETS)
    by_kernel = {(tuple(p["values"].values()), p["kernel"]): p for p in doc["points"]}
    assert by_kernel[((1,), "v5.4")]["search"] == by_kernel[((1,), "v6.12")]["search"]
    assert by_kernel[((1,), "v4.19")]["search"] != by_kernel[((1,), "v5.4")]["search"]


@pytest.mark.parametrize("path", [SEED, RWSEM])
def test_kernels_with_one_model_key_search_alike(path: str) -> None:
    """What makes sharing a search sound: the same key, the same search, on every preset."""
    scenario = load_scenario(path)
    results = {name: run_scenario(scenario, k) for name, k in PRESETS.items()}
    for a, b in combinations(PRESETS, 2):
        if model_key(PRESETS[a]) == model_key(PRESETS[b]):
            ra, rb = results[a], results[b]
            assert (ra.outcomes, ra.states, ra.transitions) == (
                rb.outcomes,
                rb.states,
                rb.transitions,
            )


# --------------------------------------------------------------- the outputs


def test_json_jsonl_and_csv_say_the_same(tmp_path: Path) -> None:
    args = [
        "sweep",
        SEED,
        "-p",
        "pools.pool0.min_nr=0..2",
        "-p",
        "memory.free=3,5",
        "-k",
        "v4.5",
        "-k",
        "v4.8",
    ]
    doc = json.loads(invoke([*args, "--format", "json"]).stdout)
    assert list(doc) == [
        "scenario",
        "file",
        "params",
        "kernels",
        "searches",
        "complete",
        "boundary",
        "points",
    ]
    assert doc["params"] == [
        {"key": "pools.pool0.min_nr", "values": [0, 1, 2]},
        {"key": "memory.free", "values": [3, 5]},
    ]
    assert doc["kernels"] == ["v4.5", "v4.8"] and doc["complete"] is True
    points = doc["points"]
    assert [(tuple(p["values"].values()), p["kernel"]) for p in points] == [
        ((m, f), k) for m in (0, 1, 2) for f in (3, 5) for k in ("v4.5", "v4.8")
    ]
    assert set(points[0]) == {
        "values",
        "kernel",
        "outcomes",
        "status",
        "complete",
        "stop_reason",
        "states",
        "transitions",
        "search",
    }
    first = points[0]
    assert (first["outcomes"], first["status"], first["stop_reason"]) == (
        ["livelock"],
        "found",
        None,
    )
    lines = invoke([*args, "--format", "jsonl"]).stdout.splitlines()
    assert sorted(lines) == sorted(json.dumps(p) for p in points)
    rows = list(csv.reader(io.StringIO(invoke([*args, "--format", "csv"]).stdout)))
    assert rows[0] == ["pools.pool0.min_nr", "memory.free", *sw.CSV_FIELDS, "search"]
    assert rows[1] == [
        "0",
        "3",
        "v4.5",
        "livelock",
        "found",
        "true",
        "",
        str(first["states"]),
        str(first["transitions"]),
        "0",
    ]
    assert len(rows) == 1 + len(points)
    out = tmp_path / "sweep.json"
    assert invoke([*args, "--format", "json", "-o", str(out)]).stdout == ""
    assert json.loads(out.read_text()) == doc


def test_the_text_table_and_its_notes(tmp_path: Path) -> None:
    run = invoke(
        [
            "sweep",
            pool_workers(tmp_path, 2),
            "-p",
            "pools.pool.min_nr=1..4",
            "-k",
            "v4.5",
            "-k",
            "latest",
        ]
    )
    assert run.code == 0
    lines = run.stdout.splitlines()
    assert "| pools.pool.min_nr | v4.5     | latest   |" in lines
    assert "|                 2 | deadlock | deadlock |" in lines
    assert "|                 3 | ok       | ok       |" in lines
    assert "4 points under 2 kernels: 8 searches" in lines
    assert "boundary: ok under every preset from pools.pool.min_nr 3" in lines


def test_same_input_same_bytes(tmp_path: Path) -> None:
    args = ["sweep", SEED, "-p", "memory.free=2..6/2", "--all-kernels"]
    for fmt in ("text", "json", "csv"):
        assert invoke([*args, "--format", fmt]).stdout == invoke([*args, "--format", fmt]).stdout


def test_a_search_cut_short_is_never_ok() -> None:
    run = invoke(
        [
            "sweep",
            SEED,
            "-p",
            "pools.pool0.min_nr=1,2",
            "-k",
            "v4.8",
            "--max-states",
            "5",
            "--format",
            "json",
        ]
    )
    assert run.code == 4
    doc = json.loads(run.stdout)
    assert doc["complete"] is False
    assert {(p["status"], p["stop_reason"]) for p in doc["points"]} == {
        ("incomplete", "max-states")
    }
    assert doc["boundary"][0].startswith(
        "ok under v4.8 at no pools.pool0.min_nr in 1, 2 (cut short"
    )
    text = invoke(
        ["sweep", SEED, "-p", "pools.pool0.min_nr=1,2", "-k", "v4.8", "--max-states", "5"]
    ).stdout
    assert "nothing found so far (max-states)" in text and "| ok" not in text
    assert "INCOMPLETE: 2 cells cut short; none of them counts as ok" in text


# ------------------------------------------------------------------- --plot


def test_plot_svg_has_a_panel_per_kernel_and_the_same_bytes_twice(tmp_path: Path) -> None:
    out = tmp_path / "sweep.svg"
    args = [
        "sweep",
        SEED,
        *GRID,
        "-k",
        "v4.5",
        "-k",
        "v4.8",
        "--plot",
        str(out),
    ]
    assert invoke(args).code == 0
    svg = out.read_text()
    assert svg.startswith("<?xml") and svg.rstrip().endswith("</svg>")
    for text in (
        "v4.5",
        "v4.8",
        "pools.pool0.min_nr",
        "memory.free",
        "LL livelock",
        "rientjes-2016-oom-victim",
    ):
        assert f">{text}" in svg, text
    first = out.read_bytes()
    assert invoke(args).code == 0 and out.read_bytes() == first


def test_plot_png_strip_for_one_parameter(tmp_path: Path) -> None:
    out = tmp_path / "strip.png"
    assert invoke(["sweep", SEED, "-p", "memory.free=2..6", "--plot", str(out)]).code == 0
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--plot", "out.pdf"], "must end in .svg or .png"),
        (
            ["-p", "memory.min=1", "-p", "tasks.taskC.rss=8", "--plot", "out.svg"],
            "one or two parameters, not 3",
        ),
    ],
)
def test_plot_refusals_come_before_any_search(
    extra: list[str], words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands, "execute", lambda *a, **k: pytest.fail("searched"))
    run = invoke(["sweep", SEED, "-p", "memory.free=1", *extra])
    assert run.code == 2 and words in run.stderr


def test_plot_without_matplotlib_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    with pytest.raises(EnvironmentProblem) as err:
        plot.check("out.svg", 1)
    assert str(err.value) == plot.MISSING and "mpsim[plot]" in plot.MISSING


# ------------------------------------------------------- the pool-workers family


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_pool_workers_turn_ok_at_min_nr_n_plus_1_on_every_preset(tmp_path: Path, n: int) -> None:
    run = invoke(
        [
            "sweep",
            pool_workers(tmp_path, n),
            "-p",
            f"pools.pool.min_nr=1..{n + 2}",
            "--all-kernels",
            "--format",
            "json",
        ]
    )
    assert run.code == 0
    doc = json.loads(run.stdout)
    assert doc["boundary"] == [f"ok under every preset from pools.pool.min_nr {n + 1}"]
    below = {tuple(p["outcomes"]) for p in doc["points"] if p["values"]["pools.pool.min_nr"] <= n}
    assert below == {("deadlock",)}


def test_loaded_points_are_the_file_with_the_value_changed() -> None:
    planned = sw.plan(load_scenario(SEED), [sw.parse_param("tasks.taskC.rss=3,9")], [], False)
    for point, rss in zip(planned.points, (3, 9), strict=True):
        expected = load_text(load_scenario(SEED).source.replace("rss: 8", f"rss: {rss}"), SEED)
        assert point.scenario == expected
