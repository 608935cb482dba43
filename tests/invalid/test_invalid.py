"""Each bad scenario file here, run through `mpsim check`, with the exact errors it must produce.

Each file must exit 3 and print exactly the listed ``LINE:COL: MESSAGE``
problems (no more, no fewer), each followed by its source line and a caret.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mempool_cli.cli import cli
from mempool_cli.errors import escaped

HERE = Path(__file__).resolve().parent
VALID = HERE.parent / "data" / "rientjes-2016-oom-victim.yaml"
NAME_RULE = "a name matches [A-Za-z_][A-Za-z0-9_.-]*"
KNOWN_TOP_KEYS = (
    "known keys: mpsim, name, description, references, kernel, memory, oom, pools, locks, "
    "completions, counters, queues, functions, tasks, expect"
)
ALIAS = "YAML aliases ('*{}') are not allowed; write the value out"

EXPECTED: dict[str, list[str]] = {
    "yaml-syntax.yaml": [
        "7:21: YAML syntax error: did not find expected ',' or '}' "
        "(while parsing a flow mapping at line 6, column 22)",
    ],
    "empty.yaml": ["1:1: the file is empty: a scenario needs at least 'tasks'"],
    "comments-only.yaml": ["1:1: the file is empty: a scenario needs at least 'tasks'"],
    "top-level-list.yaml": [
        "1:1: a scenario must be a mapping with keys such as 'tasks', got a list",
    ],
    "two-documents.yaml": [
        "3:1: a scenario file holds one YAML document; this starts a second",
    ],
    "version-2.yaml": ["1:8: 'mpsim' must be 1, got 2"],
    "tasks-missing.yaml": ["1:1: missing key 'tasks' in scenario"],
    "tasks-empty.yaml": ["2:1: 'tasks' must declare at least one task"],
    "duplicate-keys.yaml": [
        "3:3: duplicate key 'free' (first at line 2)",
        "6:3: duplicate key 'M' (first at line 5)",
        "11:5: duplicate key 'rss' (first at line 9)",
    ],
    "anchors-aliases.yaml": [
        "2:6: YAML anchors ('&pool') are not allowed",
        "3:6: " + ALIAS.format("pool"),
    ],
    "merge-key.yaml": ["3:5: YAML merge keys ('<<') are not allowed; write the keys out"],
    "python-tag.yaml": ["2:7: YAML tags ('!!python/object/apply:os.system') are not allowed"],
    "alias-bomb.yaml": [
        f"1:1: unknown key 'a' in scenario ({KNOWN_TOP_KEYS})",
        "1:4: YAML anchors ('&a') are not allowed",
        f"2:1: unknown key 'b' in scenario ({KNOWN_TOP_KEYS})",
        "2:4: YAML anchors ('&b') are not allowed",
        *(f"2:{col}: " + ALIAS.format("a") for col in range(8, 41, 4)),
        f"3:1: unknown key 'c' in scenario ({KNOWN_TOP_KEYS})",
        *(f"3:{col}: " + ALIAS.format("b") for col in range(5, 38, 4)),
    ],
    "counter-names.yaml": [
        "14:23: 'eq' compares a counter; an 'if' on 'held' takes no comparison "
        "(write 'counter: NAME' to test a counter)",
        "15:23: 'L' names a lock (mutex), not a counter (counters are declared under 'counters:')",
        "17:21: 'L' names a lock (mutex), not a counter (counters are declared under 'counters:')",
        "18:21: 'done' names a completion, not a counter (counters are declared under 'counters:')",
        "19:31: 'p' names a pool, not a counter (counters are declared under 'counters:')",
        "20:31: 'done' names a completion, not a counter (counters are declared under 'counters:')",
        "21:21: 'c' names a counter, not a lock (locks are declared under 'locks:')",
        "22:19: 'c' names a counter, not a completion "
        "(completions are declared under 'completions:')",
        "23:30: 'c' names a counter, not a completion "
        "(completions are declared under 'completions:')",
        "24:20: 'c' names a counter, not a lock (locks are declared under 'locks:')",
        "28:23: 'lt' compares a counter; an 'if' on 'null' takes no comparison "
        "(write 'counter: NAME' to test a counter)",
        "28:30: 'ne' compares a counter; an 'if' on 'null' takes no comparison "
        "(write 'counter: NAME' to test a counter)",
    ],
    "unknown-keys.yaml": [
        "3:3: unknown key 'fre' in memory (did you mean 'free'?)",
        "4:21: unknown key 'reaperr' in oom (did you mean 'reaper'?)",
        "7:5: unknown key 'daemn' in task (did you mean 'daemon'?)",
        "9:40: unknown key 'ordr' in alloc_pages (did you mean 'order'?)",
    ],
    "unknown-step.yaml": [
        "6:9: unknown step 'mutex_lok' (did you mean 'mutex_lock'?)",
        "8:20: unknown completion 'x' (no completions are declared)",
        "8:23: a step has one key; start another '- ' item for this one",
    ],
    "wrong-types.yaml": [
        "2:9: 'free' must be an integer, got the string 'lots'",
        "3:8: 'min' must be an integer, got the boolean true",
        "6:9: 'rt' must be true or false, got 'yes' "
        "(YAML 1.1 would read it as a boolean; write true or false)",
        "7:12: 'count' must be an integer, got '1.5'",
        "8:12: 'steps' must be a list, got '3'",
        "10:17: 'oom_victim' must be true or false, got '1'",
        "12:47: 'order' must be an integer, got the string '2'",
    ],
    "out-of-range.yaml": [
        "1:16: 'free' must be at least 0, got -1",
        "1:25: 'min' must be at most 1000000, got 1000001",
        "3:15: 'min_nr' must be at most 1024, got 1025",
        "3:28: 'order' must be at most 10, got 11",
        "4:18: 'completions.c' must be at most 1000, got 1001",
        "7:10: 'rss' must be at most 1000000, got 2000000",
        "8:20: 'oom_score_adj' must be at most 1000, got 1001",
        "9:12: 'count' must be at most 64, got 65",
        "11:25: 'times' must be at most 1000, got 1001",
        "12:25: 'times' must be at least 1, got 0",
    ],
    "limits.yaml": [
        "2:1: 65 tasks once 'count' is expanded; the limit is 64",
        "3:3: task 'a' runs 11000 steps once repeats are unrolled; the limit is 10000",
    ],
    "watermarks.yaml": [
        "3:8: 'low' (6) must be at least 'min' (8)",
        "4:9: 'high' (4) must be at least 'low' (6)",
    ],
    "bad-names.yaml": [
        f"2:3: invalid lock name 'zone lock': {NAME_RULE}",
        f"4:3: invalid pool name '2pool': {NAME_RULE}",
        f"6:3: invalid task name 'task/a': {NAME_RULE}",
        f"10:44: invalid handle name 'my page': {NAME_RULE}",
    ],
    "control-flow.yaml": [
        "6:25: recursion through call: ping -> pong -> ping",
        "11:9: mutex_trylock without 'on_fail': say what happens when the lock is not free at "
        "once, e.g. 'mutex_trylock: {lock: A, on_fail: [...] | retry | unwind}'",
        "12:30: spin_trylock on 'A', which is a mutex (use mutex_trylock)",
        "13:9: 'break' outside a loop",
        "14:20: unknown handle 'pgae' (did you mean 'page'?)",
        "15:15: unknown function 'relase' (did you mean 'release'?)",
        "17:44: handle 'bio{i}' uses '{i}' outside a 'repeat: {times: N}': '{i}' is the pass "
        "number of the innermost repeat",
        "18:9: an 'if' needs a condition: one of null, not_null, held, counter",
        "18:21: 'continue' outside a loop",
        "19:24: 'continue' before any step of its loop: the loop would go round running nothing",
        "20:43: unknown on_fail action 'retyr' (did you mean 'retry'?)",
    ],
    "unknown-names.yaml": [
        "10:15: unknown lock 'fs_mutx' (did you mean 'fs_mutex'?)",
        "11:14: unknown completion 'writebak' (did you mean 'writeback'?)",
        "15:20: unknown lock 'zone_lok' (did you mean 'zone_lock'?)",
        "16:31: unknown pool 'bio_pol' (did you mean 'bio_pool'?)",
        "17:43: unknown pool 'bio_poll' (did you mean 'bio_pool'?)",
        "18:30: unknown completion 'writeback_done' (did you mean 'writeback'?)",
    ],
    "lock-kinds.yaml": [
        "7:21: mutex_lock on 'zone_lock', which is a spinlock (use spin_lock)",
        "8:20: spin_lock on 'fs_mutex', which is a mutex (use mutex_lock)",
        "9:22: spin_unlock on 'fs_mutex', which is a mutex (use mutex_unlock)",
        "10:23: mutex_unlock on 'zone_lock', which is a spinlock (use spin_unlock)",
    ],
    "handles.yaml": [
        "6:21: handle 'page' is used before 'as: page' binds it (line 7)",
        "8:23: unknown handle 'elem' (no step of task 't' has 'as: elem')",
        "12:29: handle 'bio' is used before 'as: bio' binds it (line 13)",
        "15:21: unknown handle 'pgae' (did you mean 'page'?)",
    ],
    "forever.yaml": [
        "6:11: 'forever' is only allowed in a task with 'daemon: true'",
        "12:27: 'forever' can only be true; use 'times: N' for a bounded loop",
        "13:9: a repeat needs 'times: N' or 'forever: true'",
        "14:28: a repeat has 'times' or 'forever', not both",
    ],
    "scopes.yaml": [
        "4:9: memalloc_noio_restore without an earlier memalloc_noio_save",
        "9:15: memalloc_nofs_restore without an earlier memalloc_nofs_save in the same repeat body",
        "10:15: memalloc_noreclaim_save is not restored within its repeat body",
        "12:9: memalloc_noio_save is never restored",
    ],
    "expect.yaml": [
        "4:10: 'ok' cannot be listed with other outcomes: it means none of them",
        "5:3: unknown kernel preset 'v4.9' (a v4.9 kernel runs as v4.8)",
        "6:13: unknown outcome 'deadlok' (did you mean 'deadlock'?)",
        "7:11: an empty list of outcomes; write 'ok' to expect none",
    ],
    "gfp.yaml": [
        "4:28: unknown gfp flag 'GFP_KERNL' (did you mean 'GFP_KERNEL'?)",
        "5:41: gfp mask ends where a flag name was expected",
        "6:39: unexpected character '+' in gfp mask",
        "7:9: missing key 'gfp' in alloc_pages",
        "9:27: missing ')' in gfp mask",
    ],
    "not-utf8.yaml": ["3:17: the file is not UTF-8: byte 0xe9 (invalid continuation byte)"],
    "control-char.yaml": ["3:20: character U+0007 is not allowed in a YAML file"],
    "deep-nesting.yaml": ["3:73: nested deeper than 64 levels"],
    # revision 2, "Work handed to another context"
    "queues.yaml": [
        "3:20: 'capacity' must be at least 1, got 0",
        "4:19: 'capacity' must be at most 1024, got 2000",
        "13:26: unknown queue 'resuce' (did you mean 'rescue'?)",
        "14:23: handle 'bio' is used after 'enqueue' handed it to queue 'resuce' (line 13); "
        "the task no longer holds it until an 'as: bio' binds it again",
        "15:26: 'L' is a spinlock, not a queue",
        "16:26: 'N' is a counter, not a queue",
        "17:34: dequeue with 'nowait: true' without 'on_fail': say what happens when the "
        "queue is empty, e.g. 'dequeue: {queue: rescue, nowait: true, on_fail: [...] | retry "
        "| unwind}'",
        "18:34: 'on_fail' on a dequeue that sleeps until the queue has an item: it never "
        "fails; add 'nowait: true' or drop 'on_fail'",
        "19:42: unknown handle 'nobio' (did you mean 'bio'?)",
    ],
}

FILES = sorted(EXPECTED)


def check(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", *args], input=input)
    return result.exit_code, result.output


def test_every_file_here_has_its_expectations() -> None:
    assert sorted(p.name for p in HERE.glob("*.yaml")) == FILES


@pytest.mark.parametrize("name", FILES)
def test_invalid_file(name: str) -> None:
    path = str(HERE / name)
    code, output = check(path)
    assert code == 3, output
    errors = [line for line in output.splitlines() if line.startswith(f"{path}:")]
    assert errors == [
        f"{path}:{e.split(': ', 1)[0]}: error: {e.split(': ', 1)[1]}" for e in EXPECTED[name]
    ]
    assert "Traceback" not in output and "internal error" not in output


@pytest.mark.parametrize("name", FILES)
def test_each_problem_shows_its_line_and_caret(name: str) -> None:
    path = HERE / name
    _, output = check(str(path))
    lines = output.splitlines()
    source = path.read_bytes().decode("utf-8", "replace").splitlines() or [""]
    for i, line in enumerate(lines):
        if line.startswith(f"{path}:"):
            line_no, col = (int(n) for n in line[len(str(path)) + 1 :].split(":")[:2])
            if line_no <= len(source) and source[line_no - 1].strip():
                original = source[line_no - 1].rstrip("\r")
                shown, caret = lines[i + 1], lines[i + 2]
                assert caret.strip() == "^"
                if len(escaped(original)) <= 100 and "\t" not in original:
                    # control characters go out escaped, the caret under the escape
                    assert shown == escaped(original)
                    assert caret == " " * len(escaped(original[: col - 1])) + "^"
                elif col <= len(original):
                    # long lines are cut to a window around the column: the caret
                    # still points at the character LINE:COL names
                    assert shown[caret.index("^")] == original[col - 1]


def test_python_tag_runs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = HERE / "python-tag.yaml"
    code, _ = check(str(path))
    assert code == 3
    assert not (tmp_path / "mpsim-pwned").exists()
    # The control: an unsafe loader does run the payload of this very file.
    yaml.unsafe_load(path.read_text())
    assert (tmp_path / "mpsim-pwned").exists()


def test_all_files_at_once_report_every_problem() -> None:
    code, output = check(str(VALID), *(str(HERE / n) for n in FILES))
    assert code == 3
    assert f"{VALID}: ok (rientjes-2016-oom-victim, 3 tasks)" in output
    assert output.count(": error: ") == sum(len(v) for v in EXPECTED.values())


def test_stdin_is_named_stdin() -> None:
    code, output = check("-", input=(HERE / "lock-kinds.yaml").read_text())
    assert code == 3
    assert "<stdin>:7:21: error: mutex_lock on 'zone_lock', which is a spinlock" in output


def test_valid_example_is_ok() -> None:
    assert check(str(VALID)) == (0, f"{VALID}: ok (rientjes-2016-oom-victim, 3 tasks)\n")


def test_missing_file_is_exit_2() -> None:
    code, output = check(str(HERE / "no-such-file.yaml"))
    assert code == 2
    assert output.strip() == f"{HERE / 'no-such-file.yaml'}: no such file"


def test_real_command_line() -> None:
    path = str(HERE / "unknown-names.yaml")
    proc = subprocess.run(
        [sys.executable, "-m", "mempool_cli", "check", path],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert (
        f"{path}:15:20: error: unknown lock 'zone_lok' (did you mean 'zone_lock'?)\n" in proc.stderr
    )
    assert "      - spin_lock: zone_lok\n                   ^\n" in proc.stderr
