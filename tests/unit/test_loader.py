"""Tests of mempool_cli.scenario.loader: YAML text -> Scenario, and every problem class."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mempool_cli.errors import EnvironmentProblem, Problem, ScenarioError
from mempool_cli.scenario import schema
from mempool_cli.scenario.gfp import COMPOSITE, FLAGS, parse_gfp
from mempool_cli.scenario.kernels import PRESETS
from mempool_cli.scenario.loader import load_scenario, load_text
from mempool_cli.scenario.spec import Expect, Repeat, Span, Step
from mempool_cli.scenario.steps import STEP_KINDS

DATA = Path(__file__).resolve().parent.parent / "data"
EXAMPLE = DATA / "rientjes-2016-oom-victim.yaml"
EVERY_KEY = DATA / "every-key.yaml"

MINIMAL = "tasks: {t: {steps: []}}\n"


def problems(text: str | bytes, path: str = "s.yaml") -> list[Problem]:
    with pytest.raises(ScenarioError) as info:
        load_text(text, path)
    return info.value.problems


def brief(text: str | bytes) -> list[tuple[int, int, str]]:
    """(line, col, message) of every problem, in file order."""
    return [(p.line, p.col, p.message) for p in problems(text)]


def one(text: str | bytes) -> tuple[int, int, str]:
    found = brief(text)
    assert len(found) == 1, found
    return found[0]


# --- valid files ---------------------------------------------------------------


def test_contract_example_loads_with_its_values() -> None:
    s = load_scenario(str(EXAMPLE))
    assert s.path == str(EXAMPLE)
    assert s.name == "rientjes-2016-oom-victim"
    assert s.version == 1
    assert s.description.startswith("taskA takes the last element of pool0")
    assert s.references == (
        "LKML 2016-07-19, Re: [RFC PATCH 1/2] mempool: do not consume memory reserves "
        "from the reclaim path",
    )
    assert s.kernel == PRESETS["v4.5"]
    assert s.kernel_span == Span(9, 9)
    assert (s.memory.free, s.memory.min, s.memory.low, s.memory.high) == (4, 4, 5, 6)
    assert s.memory.reclaimable == ()
    assert s.oom.killer is True and s.oom.reaper is None
    assert [(p.name, p.min_nr, p.order) for p in s.pools] == [("pool0", 1, 0)]
    assert [(lock.name, lock.kind) for lock in s.locks] == [("M", "mutex")]
    assert s.completions == ()
    assert [t.name for t in s.tasks] == ["taskB", "taskA", "taskC"]
    task_b, task_a, task_c = s.tasks
    assert task_b.steps == (
        Step("mutex_lock", target="M", span=Span(18, 9)),
        Step(
            "alloc_pages",
            gfp=COMPOSITE["GFP_KERNEL"],
            gfp_text="GFP_KERNEL",
            bind="page",
            span=Span(19, 9),
        ),
        Step("mutex_unlock", target="M", span=Span(20, 9)),
        Step("free_pages", target="page", span=Span(21, 9)),
    )
    assert task_a.steps[0] == Step(
        "mempool_alloc",
        target="pool0",
        gfp=COMPOSITE["GFP_NOIO"],
        gfp_text="GFP_NOIO",
        bind="elem",
        span=Span(24, 9),
    )
    assert task_a.steps[3] == Step("mempool_free", target="elem", span=Span(27, 9))
    assert task_c.oom_victim and task_c.rss == 8 and task_c.mm_reapable
    assert (task_c.base, task_c.index, task_c.span) == ("taskC", None, Span(28, 3))
    assert s.expect == Expect(
        by_key=(
            ("v4.5", frozenset({"livelock"})),
            ("v4.6", frozenset()),
            ("v4.8", frozenset()),
        ),
        spans=(("v4.5", Span(35, 9)), ("v4.6", Span(36, 9)), ("v4.8", Span(37, 9))),
    )
    assert s.expect.for_preset("v4.5") == {"livelock"}
    assert s.expect.for_preset("latest") is None
    assert s.source == EXAMPLE.read_text()


def test_every_key_is_read() -> None:
    s = load_scenario(str(EVERY_KEY))
    assert s.name == "every-key"
    assert s.references == ("a", "b: c")
    assert s.kernel == PRESETS["v4.8"].with_knobs(
        mempool_nomemalloc="if_pool_nonempty",
        oom_reaper="reap_or_skip",
        victim_reserves="half_min",
        zero_min_pool="one_element",
        retry="v4.5",
        nofail_forces_oom=False,
        nofail_reserves_after_oom=True,
        nofail_nopage_fallback=True,
        nofail_no_watermarks_loop=True,
        retry_mayfail=True,
    )
    assert s.kernel.name == "v4.8" and s.kernel.customised
    m = s.memory
    assert (m.free, m.min, m.low, m.high) == (32, 8, 10, 12)
    assert [r.pages for r in m.reclaimable] == [4, 6]
    assert m.reclaimable[0].needs == 0 and m.reclaimable[0].waits is None
    assert m.reclaimable[1].needs == FLAGS["__GFP_IO"] | FLAGS["__GFP_FS"]
    assert m.reclaimable[1].locks == ("fs_lock",)
    assert m.reclaimable[1].waits == "writeback"
    assert (s.oom.killer, s.oom.reaper) == (False, "reap")
    assert [(p.name, p.min_nr, p.order) for p in s.pools] == [
        ("bio_pool", 2, 1),
        ("empty_pool", 0, 0),
    ]
    assert [(c.name, c.initial) for c in s.completions] == [("writeback", 0), ("ready", 2)]
    assert [lock.kind for lock in s.locks] == ["mutex", "spinlock"]
    names = [t.name for t in s.tasks]
    assert names == ["writer[0]", "writer[1]", "writer[2]", "irq", "kswapd_like"]
    writers = s.tasks[:3]
    assert [(t.base, t.index) for t in writers] == [("writer", 0), ("writer", 1), ("writer", 2)]
    assert all(t.steps == writers[0].steps for t in writers)
    w = writers[0]
    assert (w.flags, w.rss, w.oom_score_adj) == (frozenset({"PF_MEMALLOC_NOFS"}), 5, -500)
    alloc = w.steps[2]
    assert isinstance(alloc, Step)
    assert (alloc.op, alloc.order, alloc.bind) == ("alloc_pages", 2, "page")
    assert alloc.gfp == parse_gfp("GFP_KERNEL | __GFP_NOFAIL")
    assert alloc.gfp_text == "GFP_KERNEL | __GFP_NOFAIL"
    assert [step.op for step in w.steps] == [
        "mutex_lock_killable",
        "memalloc_nofs_save",
        "alloc_pages",
        "memalloc_nofs_restore",
        "mutex_unlock",
        "free_pages",
        "wait_for_completion_killable",
    ]
    irq = s.tasks[3]
    assert (irq.context, irq.rt, irq.daemon) == ("irq", True, False)
    daemon = s.tasks[4]
    assert daemon.daemon and not daemon.mm_reapable and daemon.oom_victim
    assert daemon.flags == {"PF_MEMALLOC", "PF_KTHREAD"}
    (loop,) = daemon.steps
    assert isinstance(loop, Repeat) and loop.times is None
    inner = loop.body[2]
    assert isinstance(inner, Repeat) and inner.times == 3 and len(inner.body) == 3
    alloc = loop.body[1]
    assert isinstance(alloc, Step)
    assert alloc.gfp == COMPOSITE["GFP_NOIO"] & ~FLAGS["__GFP_DIRECT_RECLAIM"]
    free = loop.body[3]
    assert isinstance(free, Step)
    assert (free.op, free.target, free.pool) == ("mempool_free", "bio", "bio_pool")
    assert s.expect is not None
    assert s.expect.by_key == (
        ("default", frozenset({"deadlock", "oom-kill"})),
        ("v4.5", frozenset({"livelock"})),
        ("latest", frozenset()),
    )
    assert s.expect.for_preset("v4.15") == {"deadlock", "oom-kill"}


def test_defaults() -> None:
    s = load_text(MINIMAL, "dir/my-scenario.yaml")
    assert s.name == "my-scenario"
    assert s.kernel == PRESETS["latest"] and s.kernel_span == Span(0, 0)
    assert (s.memory.free, s.memory.min, s.memory.low, s.memory.high) == (16, 4, 5, 6)
    assert s.oom.killer and s.oom.reaper is None
    assert s.pools == s.locks == s.completions == ()
    assert s.expect is None and s.description == "" and s.references == ()
    (t,) = s.tasks
    assert (t.name, t.base, t.index, t.steps) == ("t", "t", None, ())
    assert (t.context, t.rt, t.rss, t.oom_score_adj) == ("process", False, 0, 0)
    assert (t.oom_victim, t.mm_reapable, t.daemon, t.flags) == (False, True, False, frozenset())


@pytest.mark.parametrize(
    ("memory", "low", "high"),
    [
        ("{min: 8}", 10, 12),
        ("{min: 9}", 11, 13),
        ("{min: 0}", 0, 0),
        ("{min: 8, low: 9}", 9, 12),
        ("{min: 8, high: 20}", 10, 20),
    ],
)
def test_memory_watermark_defaults(memory: str, low: int, high: int) -> None:
    s = load_text(f"memory: {memory}\n{MINIMAL}", "m.yaml")
    assert (s.memory.low, s.memory.high) == (low, high)


def test_kernel_preset_string_and_expect_forms() -> None:
    s = load_text(f"kernel: rfc-2016-07\nexpect: ok\n{MINIMAL}", "k.yaml")
    assert s.kernel == PRESETS["rfc-2016-07"] and s.kernel_span == Span(1, 9)
    assert s.expect == Expect((("default", frozenset()),), (("default", Span(2, 9)),))
    s = load_text(f"expect: deadlock\n{MINIMAL}", "k.yaml")
    assert s.expect is not None and s.expect.for_preset("v4.5") == {"deadlock"}
    s = load_text(f"expect: {{v4.6: [ok], default: [violation, deadlock]}}\n{MINIMAL}", "k.yaml")
    assert s.expect is not None
    assert s.expect.by_key == (
        ("v4.6", frozenset()),
        ("default", frozenset({"violation", "deadlock"})),
    )


def test_count_one_keeps_the_plain_name() -> None:
    s = load_text("tasks: {a: {count: 1, steps: []}, b: {count: 2, steps: []}}", "c.yaml")
    assert [(t.name, t.base, t.index) for t in s.tasks] == [
        ("a", "a", None),
        ("b[0]", "b", 0),
        ("b[1]", "b", 1),
    ]


def test_completion_list_form() -> None:
    s = load_scenario(str(DATA / "completion-list.yaml"))
    assert [(c.name, c.initial) for c in s.completions] == [("done", 0)]
    assert s.expect is not None and s.expect.by_key == (("default", frozenset({"depletion"})),)


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(EXAMPLE.read_bytes()))
    monkeypatch.setattr(sys, "stdin", stdin)
    s = load_scenario("-")
    assert s.path == "<stdin>" and s.name == "rientjes-2016-oom-victim"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"tasks: 3\n")))
    with pytest.raises(ScenarioError) as info:
        load_scenario("-")
    assert info.value.problems[0].path == "<stdin>"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(MINIMAL.encode())))
    assert load_scenario("-").name == "stdin"


def test_bytes_and_bom_and_crlf() -> None:
    text = "\ufeffmemory: {free: 3}\r\ntasks:\r\n  t: {steps: []}\r\n"
    s = load_text(text.encode("utf-8"), "b.yaml")
    assert s.memory.free == 3 and s.tasks[0].span == Span(3, 3)
    assert one("tasks:\r\n  t: {steps: 3}\r\n") == (2, 14, "'steps' must be a list, got '3'")


def test_problem_carries_path_and_source_line() -> None:
    (p,) = problems("locks: {M: mutex}\ntasks:\n  t: {steps: [mutex_lock: N]}\n", "a/b.yaml")
    assert p == Problem(
        "a/b.yaml", 3, 27, "unknown lock 'N' (declared: M)", "  t: {steps: [mutex_lock: N]}"
    )
    assert "a/b.yaml:3:27: error: unknown lock 'N'" in p.render()


# --- file-system errors ----------------------------------------------------------


def test_missing_file() -> None:
    with pytest.raises(EnvironmentProblem, match=r"^/no/such\.yaml: no such file$"):
        load_scenario("/no/such.yaml")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentProblem, match="is a directory"):
        load_scenario(str(tmp_path))


def test_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # chmod 0 does not stop root (CI runs as root), so the refusal is simulated
    # at the point the loader opens the file.
    f = tmp_path / "secret.yaml"
    f.write_text(MINIMAL)
    real_open = open

    def refuse(file: object, *args: object, **kwargs: object) -> object:
        if str(file) == str(f):
            raise PermissionError(13, "Permission denied", str(f))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(EnvironmentProblem, match="permission denied"):
        load_scenario(str(f))


def test_environment_problem_is_exit_2() -> None:
    assert EnvironmentProblem.exit_code == 2 and ScenarioError.exit_code == 3


# --- problem classes ---------------------------------------------------------------

# (name, text, every expected (line, col, message))
CASES: list[tuple[str, str, list[tuple[int, int, str]]]] = [
    (
        "yaml syntax",
        "tasks: {t: {steps: [mutex_lock: M}}\n",
        [
            (
                1,
                34,
                "YAML syntax error: did not find expected ',' or ']' "
                "(while parsing a flow sequence at line 1, column 20)",
            )
        ],
    ),
    (
        "tab indentation",
        "tasks:\n\tt: 1\n",
        [
            (
                2,
                1,
                "YAML syntax error: found character that cannot start any token "
                "(while scanning for the next token at line 2, column 1)",
            )
        ],
    ),
    ("empty", "", [(1, 1, "the file is empty: a scenario needs at least 'tasks'")]),
    (
        "comments only",
        "# a\n\n# b\n",
        [(1, 1, "the file is empty: a scenario needs at least 'tasks'")],
    ),
    (
        "document marker only",
        "---\n",
        [(1, 1, "the file is empty: a scenario needs at least 'tasks'")],
    ),
    (
        "top level list",
        "- tasks\n",
        [(1, 1, "a scenario must be a mapping with keys such as 'tasks', got a list")],
    ),
    (
        "two documents",
        f"{MINIMAL}---\n{MINIMAL}",
        [(2, 1, "a scenario file holds one YAML document; this starts a second")],
    ),
    ("version", f"mpsim: 2\n{MINIMAL}", [(1, 8, "'mpsim' must be 1, got 2")]),
    ("version type", f"mpsim: v1\n{MINIMAL}", [(1, 8, "'mpsim' must be an integer, got 'v1'")]),
    ("tasks missing", "mpsim: 1\n", [(1, 1, "missing key 'tasks' in scenario")]),
    ("tasks empty", "tasks: {}\n", [(1, 1, "'tasks' must declare at least one task")]),
    ("tasks null", "tasks:\n", [(1, 1, "'tasks' must be a mapping, got nothing (null)")]),
    (
        "unknown top key",
        f"task: {{}}\n{MINIMAL}",
        [(1, 1, "unknown key 'task' in scenario (did you mean 'tasks'?)")],
    ),
    (
        "unknown key, no close match",
        f"oom: {{zzz: 1}}\n{MINIMAL}",
        [(1, 7, "unknown key 'zzz' in oom (known keys: killer, reaper)")],
    ),
    (
        "duplicate top key",
        f"{MINIMAL}{MINIMAL}",
        [(2, 1, "duplicate key 'tasks' (first at line 1)")],
    ),
    (
        "duplicate task",
        "tasks:\n  t: {steps: []}\n  t: {steps: []}\n",
        [(3, 3, "duplicate key 't' (first at line 2)")],
    ),
    (
        "duplicate key in a step value",
        "tasks: {t: {steps: [alloc_pages: {gfp: GFP_KERNEL, gfp: GFP_NOIO}]}}\n",
        [(1, 52, "duplicate key 'gfp' (first at line 1)")],
    ),
    (
        "anchor",
        f"oom: &o {{killer: true}}\n{MINIMAL}",
        [(1, 6, "YAML anchors ('&o') are not allowed")],
    ),
    (
        "alias",
        f"locks: {{A: mutex, B: *k}}\n{MINIMAL}",
        [(1, 22, "YAML aliases ('*k') are not allowed; write the value out")],
    ),
    (
        "merge key",
        "tasks:\n  t: {<<: {steps: []}}\n",
        [(2, 7, "YAML merge keys ('<<') are not allowed; write the keys out")],
    ),
    (
        "explicit tag",
        f"name: !!str x\n{MINIMAL}",
        [(1, 7, "YAML tags ('!!str') are not allowed")],
    ),
    (
        "local tag",
        f"name: !mine x\n{MINIMAL}",
        [(1, 7, "YAML tags ('!mine') are not allowed")],
    ),
    (
        "string for int",
        f"memory: {{free: lots}}\n{MINIMAL}",
        [(1, 16, "'free' must be an integer, got 'lots'")],
    ),
    (
        "quoted int",
        f"memory: {{free: '4'}}\n{MINIMAL}",
        [(1, 16, "'free' must be an integer, got the string '4'")],
    ),
    (
        "bool for int",
        f"memory: {{free: true}}\n{MINIMAL}",
        [(1, 16, "'free' must be an integer, got the boolean true")],
    ),
    (
        "float for int",
        f"memory: {{free: 1.5}}\n{MINIMAL}",
        [(1, 16, "'free' must be an integer, got '1.5'")],
    ),
    (
        "null for int",
        f"memory:\n  free:\n{MINIMAL}",
        [(2, 3, "'free' must be an integer, got nothing (null)")],
    ),
    ("steps not a list", "tasks: {t: {steps: 3}}\n", [(1, 20, "'steps' must be a list, got '3'")]),
    (
        "yes for bool",
        "tasks: {t: {rt: yes, steps: []}}\n",
        [
            (
                1,
                17,
                "'rt' must be true or false, got 'yes' "
                "(YAML 1.1 would read it as a boolean; write true or false)",
            )
        ],
    ),
    (
        "int for bool",
        "tasks: {t: {daemon: 1, steps: []}}\n",
        [(1, 21, "'daemon' must be true or false, got '1'")],
    ),
    (
        "mapping for a string",
        f"description: {{a: 1}}\n{MINIMAL}",
        [(1, 14, "'description' must be a string, got a mapping")],
    ),
    (
        "negative",
        "tasks: {t: {rss: -1, steps: []}}\n",
        [(1, 18, "'rss' must be at least 0, got -1")],
    ),
    (
        "absurd",
        f"memory: {{free: 1000001}}\n{MINIMAL}",
        [(1, 16, "'free' must be at most 1000000, got 1000001")],
    ),
    (
        "huge literal",
        f"memory: {{min: {'9' * 5000}}}\n{MINIMAL}",
        [(1, 15, f"'min' must be at most 1000000, got {'9' * 37}...")],
    ),
    (
        "oom_score_adj range",
        "tasks: {t: {oom_score_adj: -1001, steps: []}}\n",
        [(1, 28, "'oom_score_adj' must be at least -1000, got -1001")],
    ),
    (
        "pool bounds",
        f"pools: {{p: {{min_nr: 1025, order: 11}}}}\n{MINIMAL}",
        [
            (1, 21, "'min_nr' must be at most 1024, got 1025"),
            (1, 34, "'order' must be at most 10, got 11"),
        ],
    ),
    (
        "pool min_nr missing",
        f"pools: {{p: {{order: 1}}}}\n{MINIMAL}",
        [(1, 9, "missing key 'min_nr' in pool")],
    ),
    (
        "completion initial",
        f"completions: {{c: 1001}}\n{MINIMAL}",
        [(1, 18, "'completions.c' must be at most 1000, got 1001")],
    ),
    (
        "completion declared twice",
        f"completions: [c, c]\n{MINIMAL}",
        [(1, 18, "completion 'c' is declared twice (first at line 1)")],
    ),
    (
        "count",
        "tasks: {t: {count: 0, steps: []}}\n",
        [(1, 20, "'count' must be at least 1, got 0")],
    ),
    (
        "too many tasks",
        "tasks:\n  a: {count: 64, steps: []}\n  b: {steps: []}\n",
        [(1, 1, "65 tasks once 'count' is expanded; the limit is 64")],
    ),
    (
        "repeat times",
        "tasks: {t: {steps: [repeat: {times: 1001, steps: [memalloc_noio_save: ,"
        " memalloc_noio_restore: ]}]}}\n",
        [(1, 37, "'times' must be at most 1000, got 1001")],
    ),
    (
        "steps after unrolling",
        "completions: [c]\ntasks:\n  t:\n    steps:\n"
        "      - repeat: {times: 100, steps: [repeat: {times: 100, steps: [complete: c]}]}\n"
        "      - complete: c\n",
        [(3, 3, "task 't' runs 10001 steps once repeats are unrolled; the limit is 10000")],
    ),
    (
        "min low high",
        f"memory: {{min: 8, low: 7, high: 6}}\n{MINIMAL}",
        [
            (1, 23, "'low' (7) must be at least 'min' (8)"),
            (1, 32, "'high' (6) must be at least 'low' (7)"),
        ],
    ),
    (
        "high below default low",
        f"memory: {{min: 8, high: 9}}\n{MINIMAL}",
        [(1, 24, "'high' (9) must be at least 'low' (10, by default min + min/4)")],
    ),
    (
        "low above default high",
        f"memory: {{min: 8, low: 13}}\n{MINIMAL}",
        [(1, 23, "'low' (13) is above 'high' (12 by default: min + min/2); set 'high'")],
    ),
    (
        "bad task name",
        "tasks: {3bad: {steps: []}}\n",
        [(1, 9, "invalid task name '3bad': a name matches [A-Za-z_][A-Za-z0-9_.-]*")],
    ),
    (
        "bad lock name",
        f"locks: {{'a lock': mutex}}\n{MINIMAL}",
        [(1, 9, "invalid lock name 'a lock': a name matches [A-Za-z_][A-Za-z0-9_.-]*")],
    ),
    (
        "bad handle name",
        "tasks: {t: {steps: [alloc_pages: {gfp: GFP_KERNEL, as: 'p q'}]}}\n",
        [(1, 56, "invalid handle name 'p q': a name matches [A-Za-z_][A-Za-z0-9_.-]*")],
    ),
    (
        "unknown preset",
        f"kernel: lastest\n{MINIMAL}",
        [(1, 9, "unknown kernel preset or version 'lastest' (did you mean 'latest'?)")],
    ),
    (
        "kernel older than every preset",
        f"kernel: 4.4.302\n{MINIMAL}",
        [(1, 9, "no preset for kernel '4.4.302': the oldest is v4.5")],
    ),
    (
        "unknown preset as base",
        f"kernel: {{base: v4.x, retry: v4.5}}\n{MINIMAL}",
        [(1, 16, "unknown kernel preset or version 'v4.x' (did you mean 'v4.8'?)")],
    ),
    (
        "unknown knob",
        f"kernel: {{base: v4.5, reaper: none}}\n{MINIMAL}",
        [(1, 22, "unknown key 'reaper' in kernel (did you mean 'oom_reaper'?)")],
    ),
    (
        "knob value",
        f"kernel: {{base: v4.5, retry: v4.6}}\n{MINIMAL}",
        [(1, 29, "unknown retry value 'v4.6' (did you mean 'v4.7'?)")],
    ),
    (
        "kernel base missing",
        f"kernel: {{retry: v4.5}}\n{MINIMAL}",
        [(1, 1, "missing key 'base' in kernel")],
    ),
    (
        "lock kind",
        f"locks: {{M: semaphore}}\n{MINIMAL}",
        [(1, 12, "unknown lock kind 'semaphore' (one of: mutex, spinlock, rwsem)")],
    ),
    (
        "task flag",
        "tasks: {t: {flags: [PF_NOIO], steps: []}}\n",
        [(1, 21, "unknown task flag 'PF_NOIO' (did you mean 'PF_MEMALLOC_NOIO'?)")],
    ),
    (
        "context",
        "tasks: {t: {context: hardirq, steps: []}}\n",
        [(1, 22, "unknown context 'hardirq' (did you mean 'irq'?)")],
    ),
    (
        "unknown step",
        "locks: {M: mutex}\ntasks: {t: {steps: [mutex_lok: M]}}\n",
        [(2, 21, "unknown step 'mutex_lok' (did you mean 'mutex_lock'?)")],
    ),
    (
        "step with two keys",
        "locks: {M: mutex}\ntasks: {t: {steps: [{mutex_lock: M, mutex_unlock: M}]}}\n",
        [(2, 37, "a step has one key; start another '- ' item for this one")],
    ),
    (
        # a step with no value may be a bare word (memalloc_noio_save), one with a value not
        "bare step",
        "locks: {M: mutex}\ntasks: {t: {steps: [memalloc_noio_save, mutex_lock, "
        "memalloc_noio_restore]}}\n",
        [
            (
                2,
                41,
                "a step must be a one-key mapping like 'mutex_lock: M', got 'mutex_lock'",
            )
        ],
    ),
    (
        "save with a value",
        "tasks: {t: {steps: [memalloc_noio_save: 1]}}\n",
        [(1, 41, "'memalloc_noio_save' takes no value (null or {}), got '1'")],
    ),
    (
        "gfp required",
        "tasks: {t: {steps: [alloc_pages: {as: p}]}}\n",
        [(1, 21, "missing key 'gfp' in alloc_pages")],
    ),
    (
        "gfp unknown flag",
        "tasks: {t: {steps: [alloc_pages: {gfp: GFP_KERNEL | __GFP_NOFAL}]}}\n",
        [(1, 53, "unknown gfp flag '__GFP_NOFAL' (did you mean '__GFP_NOFAIL'?)")],
    ),
    (
        "gfp syntax, quoted",
        'tasks: {t: {steps: [alloc_pages: {gfp: "GFP_KERNEL |"}]}}\n',
        [(1, 53, "gfp mask ends where a flag name was expected")],
    ),
    (
        "gfp bad character",
        "tasks: {t: {steps: [alloc_pages: {gfp: GFP_KERNEL + 1}]}}\n",
        [(1, 51, "unexpected character '+' in gfp mask")],
    ),
    (
        "gfp numbers are not part of the mask language",
        "tasks: {t: {steps: [alloc_pages: {gfp: 08}]}}\n",
        [(1, 40, "unexpected character '0' in gfp mask")],
    ),
    (
        "reclaim needs",
        f"memory: {{reclaimable: [{{pages: 1, needs: [__GFP_FSS]}}]}}\n{MINIMAL}",
        [(1, 43, "unknown gfp flag '__GFP_FSS' (did you mean '__GFP_FS'?)")],
    ),
    (
        "unknown lock",
        "locks:\n  zone_lock: spinlock\ntasks:\n  t:\n    steps:\n      - spin_lock: zone_lok\n",
        [(6, 20, "unknown lock 'zone_lok' (did you mean 'zone_lock'?)")],
    ),
    (
        "no locks at all",
        "tasks: {t: {steps: [mutex_lock: M]}}\n",
        [(1, 33, "unknown lock 'M' (no locks are declared)")],
    ),
    (
        "reclaim lock and completion",
        "locks: {fs: mutex}\ncompletions: [wb]\n"
        f"memory: {{reclaimable: [{{pages: 1, locks: [fss], waits: wbb}}]}}\n{MINIMAL}",
        [
            (3, 43, "unknown lock 'fss' (did you mean 'fs'?)"),
            (3, 56, "unknown completion 'wbb' (did you mean 'wb'?)"),
        ],
    ),
    (
        "unknown pool",
        "pools: {pool0: {min_nr: 1}}\n"
        "tasks: {t: {steps: [mempool_alloc: {pool: pool1, gfp: GFP_NOIO}]}}\n",
        [(2, 43, "unknown pool 'pool1' (did you mean 'pool0'?)")],
    ),
    (
        "unknown pool in mempool_free",
        "pools: {p: {min_nr: 1}}\ntasks:\n  t:\n    steps:\n"
        "      - mempool_alloc: {pool: p, gfp: GFP_NOIO, as: e}\n"
        "      - mempool_free: {handle: e, pool: q}\n",
        [(6, 41, "unknown pool 'q' (declared: p)")],
    ),
    (
        "unknown completion",
        "completions: {done: 0}\ntasks: {t: {steps: [complete: don]}}\n",
        [(2, 31, "unknown completion 'don' (did you mean 'done'?)")],
    ),
    (
        "mutex op on a spinlock",
        "locks: {S: spinlock}\ntasks: {t: {steps: [mutex_lock_killable: S]}}\n",
        [(2, 42, "mutex_lock_killable on 'S', which is a spinlock (use spin_lock)")],
    ),
    (
        "spin op on a mutex",
        "locks: {M: mutex}\ntasks: {t: {steps: [spin_unlock: M]}}\n",
        [(2, 34, "spin_unlock on 'M', which is a mutex (use mutex_unlock)")],
    ),
    (
        "handle used before bound",
        "tasks:\n  t:\n    steps:\n      - free_pages: p\n"
        "      - alloc_pages: {gfp: GFP_KERNEL, as: p}\n",
        [(4, 21, "handle 'p' is used before 'as: p' binds it (line 5)")],
    ),
    (
        "handle bound in a repeat body is bound after it",
        "tasks:\n  t:\n    steps:\n      - repeat:\n          times: 2\n          steps:\n"
        "            - free_pages: p\n            - alloc_pages: {gfp: GFP_KERNEL, as: p}\n"
        "      - free_pages: p\n",
        [(7, 27, "handle 'p' is used before 'as: p' binds it (line 8)")],
    ),
    (
        "handle never bound",
        "tasks:\n  t:\n    steps:\n      - alloc_pages: {gfp: GFP_KERNEL, as: page}\n"
        "      - free_pages: pg\n      - mempool_free: elem\n",
        [
            (5, 21, "unknown handle 'pg' (did you mean 'page'?)"),
            (6, 23, "unknown handle 'elem' (no step of task 't' has 'as: elem')"),
        ],
    ),
    (
        "handles are per task",
        "tasks:\n  a: {steps: [alloc_pages: {gfp: GFP_KERNEL, as: p}]}\n"
        "  b: {steps: [free_pages: p]}\n",
        [(3, 27, "unknown handle 'p' (no step of task 'b' has 'as: p')")],
    ),
    (
        "forever outside a daemon",
        "completions: [c]\ntasks: {t: {steps: [repeat: {forever: true, steps: [complete: c]}]}}\n",
        [(2, 30, "'forever' is only allowed in a task with 'daemon: true'")],
    ),
    (
        "forever false",
        "completions: [c]\n"
        "tasks: {t: {daemon: true, steps: [repeat: {forever: false, steps: [complete: c]}]}}\n",
        [(2, 53, "'forever' can only be true; use 'times: N' for a bounded loop")],
    ),
    (
        "repeat without times",
        "completions: [c]\ntasks: {t: {steps: [repeat: {steps: [complete: c]}]}}\n",
        [(2, 21, "a repeat needs 'times: N' or 'forever: true'")],
    ),
    (
        "repeat with both",
        "completions: [c]\n"
        "tasks: {t: {daemon: true, steps: [repeat: {times: 2, forever: true,"
        " steps: [complete: c]}]}}\n",
        [(2, 54, "a repeat has 'times' or 'forever', not both")],
    ),
    (
        "empty repeat",
        "tasks: {t: {steps: [repeat: {times: 2, steps: []}]}}\n",
        [(1, 40, "a repeat needs at least one step")],
    ),
    (
        "restore without save",
        "tasks: {t: {steps: [memalloc_nofs_save: , memalloc_noio_restore: ]}}\n",
        [
            (1, 21, "memalloc_nofs_save is never restored"),
            (1, 43, "memalloc_noio_restore without an earlier memalloc_noio_save"),
        ],
    ),
    (
        "repeat body must balance",
        "tasks:\n  t:\n    steps:\n      - memalloc_noreclaim_save:\n"
        "      - repeat: {times: 2, steps: [memalloc_noreclaim_restore: ,"
        " memalloc_noreclaim_save: ]}\n"
        "      - memalloc_noreclaim_restore:\n",
        [
            (
                5,
                36,
                "memalloc_noreclaim_restore without an earlier memalloc_noreclaim_save "
                "in the same repeat body",
            ),
            (5, 66, "memalloc_noreclaim_save is not restored within its repeat body"),
        ],
    ),
    (
        "ok with other outcomes",
        f"expect: [ok, deadlock]\n{MINIMAL}",
        [(1, 10, "'ok' cannot be listed with other outcomes: it means none of them")],
    ),
    (
        "unknown outcome",
        f"expect: {{v4.5: livelok}}\n{MINIMAL}",
        [(1, 16, "unknown outcome 'livelok' (did you mean 'livelock'?)")],
    ),
    (
        "unknown expect key",
        f"expect: {{v4.9: ok}}\n{MINIMAL}",
        [(1, 10, "unknown kernel preset 'v4.9' (a v4.9 kernel runs as v4.8)")],
    ),
    (
        "outcome listed twice",
        f"expect: [deadlock, deadlock]\n{MINIMAL}",
        [(1, 20, "outcome 'deadlock' is listed twice")],
    ),
    (
        "empty outcome list",
        f"expect: []\n{MINIMAL}",
        [(1, 9, "an empty list of outcomes; write 'ok' to expect none")],
    ),
    (
        "control character",
        f"{MINIMAL}# bell \x07\n",
        [(2, 8, "character U+0007 is not allowed in a YAML file")],
    ),
    (
        "complex key",
        f"{MINIMAL}? [a]\n: 1\n",
        [(2, 3, "a key must be a name, got a list")],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_problem(text: str, expected: list[tuple[int, int, str]]) -> None:
    assert brief(text) == expected


def test_every_problem_is_collected() -> None:
    text = (
        "mpsim: 2\n"
        "memory: {free: lots}\n"
        "locks: {M: mutex}\n"
        "tasks:\n"
        "  t:\n"
        "    context: hardirq\n"
        "    steps:\n"
        "      - mutex_lock: N\n"
        "      - alloc_pages: {gfp: GFP_KERNL}\n"
        "      - free_pages: x\n"
        "expect: [ok, deadlok]\n"
    )
    assert [(line, col) for line, col, _ in brief(text)] == [
        (1, 8),
        (2, 16),
        (6, 14),
        (8, 21),
        (9, 28),
        (10, 21),
        (11, 14),
    ]


def test_tag_payload_is_never_run(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    text = f"name: !!python/object/apply:os.system ['touch {target}']\n{MINIMAL}"
    assert one(text) == (1, 7, "YAML tags ('!!python/object/apply:os.system') are not allowed")
    assert not target.exists()
    nested = f"tasks:\n  t:\n    steps: !!python/object/apply:os.system ['touch {target}']\n"
    assert brief(nested)[0][2].startswith("YAML tags")
    assert not target.exists()


def test_tag_payload_is_live_in_an_unsafe_loader(tmp_path: Path) -> None:
    """The control for the test above: the same payload does run under yaml.unsafe_load."""
    import yaml

    target = tmp_path / "pwned"
    yaml.unsafe_load(f"name: !!python/object/apply:os.system ['touch {target}']\n")
    assert target.exists()


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    start = time.perf_counter()
    found = problems("\n".join(lines) + "\n" + MINIMAL)
    assert time.perf_counter() - start < 2
    assert sum("aliases" in p.message for p in found) == 90
    assert sum("anchors" in p.message for p in found) == 10


@pytest.mark.parametrize("depth", [65, 999, 1000, 100_000])
def test_deep_nesting_is_refused_without_recursion(depth: int) -> None:
    line, col, message = one("tasks: " + "[" * depth + "]" * depth + "\n")
    # The 64th '[' is 65 levels deep; libyaml may stop at its own limit (1000) first.
    assert line == 1 and col in (8 + 63, 8 + 999) and message == "nested deeper than 64 levels"


def test_deep_block_nesting_is_refused() -> None:
    text = "tasks:\n" + "".join("  " * i + "- \n" for i in range(1, 200))
    line, col, message = one(text)
    assert (line, col, message) == (65, 129, "nested deeper than 64 levels")


def test_nesting_within_the_limit_is_fine_as_yaml() -> None:
    # 63 levels below the top mapping: a shape error, not a depth error.
    assert one("tasks: " + "[" * 63 + "]" * 63 + "\n")[2] == "'tasks' must be a mapping, got a list"


def test_repeat_nesting_limit() -> None:
    def nest(n: int) -> str:
        inner = "complete: c"
        for _ in range(n):
            inner = f"repeat: {{times: 1, steps: [{inner}]}}"
        return f"completions: [c]\ntasks: {{t: {{steps: [{inner}]}}}}\n"

    assert load_text(nest(16), "n.yaml").tasks[0].steps
    assert one(nest(17)) == (
        2,
        20 + 16 * len("repeat: {times: 1, steps: [") + 1,
        "repeats nested 17 deep; the limit is 16",
    )


def test_not_utf8() -> None:
    data = b"tasks:\n  t: {steps: []}\n# caf\xc3\xa9 \xff\n"
    (p,) = problems(data)
    assert (p.line, p.col) == (3, 8)
    assert p.message == "the file is not UTF-8: byte 0xff (invalid start byte)"
    assert p.source_line == "# caf\u00e9 \ufffd"


def test_file_too_big() -> None:
    data = b"#" * (schema.LIMITS.file_bytes + 1)
    assert one(data) == (1, 1, "the file is larger than 1048576 bytes, the limit for a scenario")


def test_big_file_is_read_only_up_to_the_limit(tmp_path: Path) -> None:
    f = tmp_path / "big.yaml"
    f.write_bytes(b"#" * (3 * schema.LIMITS.file_bytes))
    with pytest.raises(ScenarioError, match="larger than 1048576 bytes"):
        load_scenario(str(f))


def test_gfp_error_column_on_a_block_scalar_falls_back_to_the_value() -> None:
    text = (
        "tasks:\n  t:\n    steps:\n      - alloc_pages:\n          gfp: >\n            GFP_KERNL\n"
    )
    (line, col, message) = one(text)
    assert (line, col) == (5, 16)
    assert message == "unknown gfp flag 'GFP_KERNL' (did you mean 'GFP_KERNEL'?)"


def test_schema_and_spec_know_the_same_steps() -> None:
    control = ["repeat", "loop", "break", "continue", "if", "call"]
    assert [f.key for f in schema.STEP_FORMS] == [*STEP_KINDS, *control]


# --- robustness --------------------------------------------------------------------

_EXAMPLE_TEXT = EXAMPLE.read_text()


def _load_or_problem(text: str | bytes) -> None:
    try:
        load_text(text, "fuzz.yaml")
    except ScenarioError as err:
        assert err.problems
        for p in err.problems:
            assert p.line >= 1 and p.col >= 1 and p.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#\n ~?,%@`\t<1\x85\u2028")), max_size=80)
)
def test_random_text_never_escapes(text: str) -> None:
    _load_or_problem(text)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60))
def test_random_bytes_never_escape(data: bytes) -> None:
    _load_or_problem(data)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, len(_EXAMPLE_TEXT)),
    st.integers(0, 12),
    st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|#\n 0~,?")), max_size=4),
)
def test_mutated_example_never_escapes(at: int, cut: int, insert: str) -> None:
    _load_or_problem(_EXAMPLE_TEXT[:at] + insert + _EXAMPLE_TEXT[at + cut :])


_WORDS = sorted(
    {
        *(f.key for f in schema.SCENARIO.fields),
        *(f.key for f in schema.TASK.fields),
        *(f.key for f in schema.MEMORY.fields),
        *(f.key for f in schema.RECLAIMABLE.fields),
        *(f.key for f in schema.STEP_FORMS),
        *("gfp", "as", "pool", "order", "handle", "times", "forever", "base", "min_nr"),
        *("M", "S", "p", "c", "t", "mutex", "spinlock", "GFP_KERNEL", "v4.5", "ok", "default"),
    }
)
_SCALARS = st.one_of(
    st.sampled_from(_WORDS),
    st.integers(-2, 70),
    st.booleans(),
    st.none(),
    st.sampled_from(["yes", "1.5", "GFP_KERNEL |", "", "~", "9" * 30]),
)
_DOCS = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_WORDS), inner, max_size=4)
    ),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_DOCS)
def test_random_documents_of_format_words_never_escape(document: object) -> None:
    import yaml

    _load_or_problem(yaml.safe_dump(document, default_flow_style=None))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_DOCS, st.sampled_from(["tasks", "memory", "kernel", "expect", "completions", "pools"]))
def test_random_values_under_real_keys_never_escape(value: object, key: str) -> None:
    import yaml

    document = {
        "locks": {"M": "mutex", "S": "spinlock"},
        "tasks": {"t": {"steps": [{"mutex_lock": "M"}, {"mutex_unlock": "M"}]}},
        key: value,
    }
    _load_or_problem(yaml.safe_dump(document, default_flow_style=None))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.dictionaries(st.sampled_from(_WORDS), _DOCS, min_size=1, max_size=2), max_size=6)
)
def test_random_steps_never_escape(steps: list[object]) -> None:
    import yaml

    document = {
        "locks": {"M": "mutex", "S": "spinlock"},
        "pools": {"p": {"min_nr": 1}},
        "completions": ["c"],
        "tasks": {"t": {"daemon": True, "steps": steps}},
    }
    _load_or_problem(yaml.safe_dump(document, default_flow_style=None))
