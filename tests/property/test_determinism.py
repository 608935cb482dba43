"""Same file, same flags: byte-identical output, whatever PYTHONHASHSEED and however often it runs.

Only the time a search took may differ (``stats.seconds`` in JSON, the
``N.NN s`` of the text report). Each run is a fresh interpreter, so set
and dict orders that depend on string hashing would show here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from tests.property.harness import invoke
from tests.property.strategies import fuzz_settings, scenario_texts

ROOT = Path(__file__).resolve().parents[2]
INPUTS = [str(ROOT / "scenarios"), str(ROOT / "tests" / "data")]
SEEDS = ("0", "1", "4242")
TIMING = re.compile(r"\b\d+\.\d+ s\b")


def mpsim(seed: str, *args: str) -> tuple[int, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONHASHSEED": seed,
        "NO_COLOR": "1",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "mempool_cli", *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=False,
    )  # fmt: skip
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    return done.returncode, done.stdout


def without_seconds(reports: Any) -> Any:
    for report in reports:
        report["stats"].pop("seconds")
    return reports


@pytest.mark.parametrize(
    ("fmt", "flags"),
    [("json", ["--all-kernels"]), ("text", ["--trace"]), ("jsonl", ["--kernel", "v4.5"])],
)
def test_run_output_does_not_depend_on_the_hash_seed(fmt: str, flags: list[str]) -> None:
    args = ["run", *INPUTS, "--format", fmt, "--max-states", "3000", *flags]
    outputs = [mpsim(seed, *args) for seed in SEEDS]
    codes = {code for code, _ in outputs}
    assert len(codes) == 1
    if fmt == "json":
        texts = [without_seconds(json.loads(out)) for _, out in outputs]
    elif fmt == "jsonl":  # lines come in completion order (documented): compare them sorted
        texts = [
            sorted(
                without_seconds([json.loads(x) for x in out.splitlines()]),
                key=lambda r: (r["file"], r["kernel"]),
            )
            for _, out in outputs
        ]
    else:
        texts = [TIMING.sub("", out) for _, out in outputs]
    assert texts[0], "no output"
    for other in texts[1:]:
        assert other == texts[0]


def test_matrix_output_does_not_depend_on_the_hash_seed() -> None:
    outputs = {mpsim(seed, "matrix", INPUTS[0], "--max-states", "3000") for seed in SEEDS[:2]}
    assert len(outputs) == 1


@fuzz_settings(40)
@given(scenario_texts())
def test_the_same_input_twice_gives_the_same_report(text: str) -> None:
    args = ["run", "-", "--format", "json", "--max-states", "1000"]
    first = invoke(args, text.encode())
    second = invoke(args, text.encode())
    assert first.code == second.code
    if first.code in (0, 1, 4):
        assert without_seconds(json.loads(first.stdout)) == without_seconds(
            json.loads(second.stdout)
        )
    else:
        assert first.stderr == second.stderr
