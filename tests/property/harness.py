"""Run `mpsim` in-process and check that what it did is one of the things it may do.

Whatever the input, a run ends with an exit status of the contract
(0 pass, 1 fail, 2 usage, 3 invalid scenario, 4 incomplete) and either a
report or errors of the form ``FILE:LINE:COL: error: MESSAGE``; never a
traceback, never an "internal error".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from click.testing import CliRunner, Result

from mempool_cli.cli import cli
from mempool_cli.errors import Problem, ScenarioError
from mempool_cli.scenario.loader import STDIN_NAME, load_text
from mempool_cli.scenario.spec import Scenario

CONTRACT_CODES = frozenset({0, 1, 2, 3, 4})
HEAD = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): error: (?P<message>.+)$")
FORBIDDEN = ("Traceback", "internal error")


@dataclass(frozen=True, slots=True)
class Run:
    code: int
    stdout: str
    stderr: str


def invoke(args: list[str], data: bytes | None = None) -> Run:
    """``mpsim ARGS`` with ``data`` on stdin; fails the test on anything outside the contract."""
    # Wide enough that no report line wraps: these tests read content, not layout.
    runner = CliRunner(env={"COLUMNS": "250"})
    result: Result = runner.invoke(cli, args, input=data, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(
            f"mpsim {' '.join(args)} raised {type(result.exception).__name__}: "
            f"{result.exception}\n{result.stderr}"
        ) from result.exception
    run = Run(result.exit_code, result.stdout, result.stderr)
    assert run.code in CONTRACT_CODES, f"exit status {run.code}\n{run.stderr}"
    for word in FORBIDDEN:
        assert word not in run.stdout and word not in run.stderr, run.stderr or run.stdout
    return run


def check_problems(err: ScenarioError, text_lines: int) -> None:
    """Every problem names a real line and column and renders as ``FILE:LINE:COL: error: ...``."""
    assert err.problems, "a ScenarioError without a problem"
    for problem in err.problems:
        assert isinstance(problem, Problem)
        assert 1 <= problem.line <= text_lines + 1, problem
        assert problem.col >= 1, problem
        assert problem.message.strip(), problem
        head = problem.render().split("\n", 1)[0]
        assert HEAD.match(head), head


def check_error_output(stderr: str, path: str) -> None:
    """Exit 3's stderr: it starts with a positioned error, and every head names ``path``."""
    lines = stderr.splitlines()
    assert lines, "exit 3 without a message"
    first = HEAD.match(lines[0])
    assert first is not None, f"not a positioned error: {lines[0]!r}"
    assert first["path"] == path, lines[0]


def load_or_error(data: bytes | str) -> Scenario | None:
    """The loader's answer to ``data``: a scenario, or None after checking its problems."""
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    try:
        return load_text(data, STDIN_NAME)
    except ScenarioError as err:
        check_problems(err, len(text.splitlines()) + text.count("\r") + 2)
        return None


def check_run(data: bytes, extra: list[str]) -> Run:
    """``mpsim run -`` on ``data``: a report agreeing with its exit status, or positioned errors."""
    run = invoke(["run", "-", *extra], data)
    if run.code == 3:
        check_error_output(run.stderr, STDIN_NAME)
        assert run.stdout == ""
        return run
    if run.code == 2:  # a usage error: one line, no report
        assert run.stderr.strip() and len(run.stderr.strip().splitlines()) == 1, run.stderr
        return run
    if "--format" in extra and extra[extra.index("--format") + 1] in ("json", "jsonl"):
        fmt = extra[extra.index("--format") + 1]
        reports = (
            json.loads(run.stdout)
            if fmt == "json"
            else [json.loads(line) for line in run.stdout.splitlines()]
        )
        assert reports, "no report"
        statuses = {r["status"] for r in reports}
        if run.code == 0:
            assert statuses == {"pass"}
        elif run.code == 1:
            assert "fail" in statuses
        else:
            assert "incomplete" in statuses and "fail" not in statuses
            assert all(r["stop_reason"] for r in reports if not r["complete"])
    else:
        assert run.stdout.strip(), "no report"
        assert ("incomplete:" in run.stdout) == (run.code == 4) or run.code == 1, run.stdout
    return run
