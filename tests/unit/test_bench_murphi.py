"""bench/murphi.py, the Murphi model of pool-workers-N for the Rumur peer of `make bench-peer`:
its text is well-formed, and where Rumur is installed its state counts are mpsim's."""

from __future__ import annotations

import importlib.util
import platform
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from mempool_cli.explore import explore
from mempool_cli.kernel.model import KernelModel
from mempool_cli.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # a dataclass looks its module up while it is built
    spec.loader.exec_module(module)
    return module


murphi = _load("murphi")
bench = _load("run")
VARIANTS = ("ok", "deadlock")
# quicker to compile than the bench's -O3; the count does not depend on it
QUICK_CFLAGS = (
    "-std=c11",
    "-O0",
    *(("-mcx16",) if platform.machine() in ("x86_64", "AMD64") else ()),
    "-pthread",
)
NO_RUMUR = "Rumur is not installed (`make rumur`, or apt-get install rumur)"


def _words(text: str, word: str) -> int:
    return len(re.findall(rf"\b{word}\b", text))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("n", [1, 2, 5, 12])
def test_the_text_is_well_formed(n: int, variant: str) -> None:
    text = murphi.model(n, variant)
    body = "\n".join(line.split("--", 1)[0] for line in text.splitlines())  # no comments
    assert f"N: {n};" in body
    assert f"MIN_NR: {n + 1 if variant == 'ok' else n};" in body
    assert "worker: scalarset(N);" in body
    # every block is closed
    for opens, closes in (
        ("begin", "end"),
        ("ruleset", "endruleset"),
        ("forall", "endforall"),
        ("for", "endfor"),
        ("if", "endif"),
    ):
        assert _words(body, opens) == _words(body, closes), (opens, closes)
    assert body.count('"') % 2 == 0
    assert "{" not in body.replace("enum {", "") and "}" not in body.replace(" }", "")
    # rule names are unique, as Rumur's counterexamples need them
    names = re.findall(r'rule "([^"]+)"', body)
    assert len(names) == len(set(names))


def test_every_local_is_declared_reached_and_left() -> None:
    body = murphi.model(3, "ok")
    declared = re.search(r"enum \{ ([^}]*) \}", body)
    assert declared is not None
    names = [name for name, _ in murphi.LOCALS]
    assert declared[1].split(", ") == names
    targets = set(re.findall(r"pc\[w\] := (\w+);", body))
    guards = set(re.findall(r"pc\[w\] = (\w+)", body))
    assert targets == set(names)  # A_START by the start state alone
    assert guards == set(names) - {"EXITED"}  # the "all exited" rule reads EXITED


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        murphi.model(0, "ok")
    with pytest.raises(ValueError, match="variant"):
        murphi.model(2, "maybe")


def test_parse_output() -> None:
    out = (
        "\t* The size of each state is 14 bits (rounded up to 2 bytes).\n"
        "Status:\n\n\t1 error(s) found.\n\nState Space Explored:\n\n"
        "\t82 states, 139 rules fired in 0s.\n"
    )
    assert murphi.parse_output(out) == (82, 139, 1, 2)
    assert murphi.parse_output("\t70 states, 120 rules fired in 0s.\n") == (70, 120, 0, 0)
    with pytest.raises(ValueError, match="no state count"):
        murphi.parse_output("rumur crashed")


def test_rumur_options_count_every_state() -> None:
    args = murphi.rumur_args(2)
    assert args[args.index("--threads") + 1] == "2"
    assert args[args.index("--deadlock-detection") + 1] == "stuck"
    assert int(args[args.index("--max-errors") + 1]) > 1  # no stop at the first deadlock


def _mpsim(tmp_path: Path, n: int, variant: str, reduce: bool) -> tuple[int, bool]:
    path = tmp_path / f"pool-workers-{n}-{variant}.yaml"
    path.write_text(bench.pool_workers(n, variant))
    result = explore(KernelModel(load_scenario(str(path)), reduce=reduce))
    assert result.complete
    return result.states, "deadlock" in result.outcomes


@pytest.mark.skipif(shutil.which("rumur") is None or shutil.which("cc") is None, reason=NO_RUMUR)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("n", [2, 3, 4])
def test_rumur_counts_mpsims_states(tmp_path: Path, n: int, variant: str) -> None:
    states, deadlock = _mpsim(tmp_path, n, variant, reduce=True)
    peer = murphi.check(n, variant, tmp_path, cflags=QUICK_CFLAGS)
    assert peer.states == states
    assert peer.verdict == ("deadlock" if deadlock else "ok")
    assert peer.errors == (1 if deadlock else 0)  # one deadlocked state, up to symmetry


@pytest.mark.skipif(shutil.which("rumur") is None or shutil.which("cc") is None, reason=NO_RUMUR)
@pytest.mark.parametrize("variant", VARIANTS)
def test_rumur_without_symmetry_counts_mpsims_unreduced_states(
    tmp_path: Path, variant: str
) -> None:
    states, deadlock = _mpsim(tmp_path, 3, variant, reduce=False)
    peer = murphi.check(3, variant, tmp_path, symmetry="off", cflags=QUICK_CFLAGS)
    assert peer.states == states
    assert peer.errors == (3 if deadlock else 0)  # which of the 3 workers holds the mutex
