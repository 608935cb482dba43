"""`make bench-shipped`: each shipped scenario's time to verdict, this tree against an older one.

Per scenario and tree: the median of ``--runs`` in-process runs of loading
the scenario, building its model and exploring it under its own kernel (the
interpreter's start and imports left out: they are the same for every
scenario). The two trees run in turn, twice each, in child processes (the
older one from a `git worktree` of ``--base``, its Python source as it was
then), and each keeps the lower of its two medians. A scenario is
reported slower when its time grew by more than ``--noise`` (a fraction);
the state counts and outcomes of both trees are printed beside the times.

Then the time a user waits: the median of ``--whole-runs`` whole
``mpsim run FILE`` processes per scenario and tree (interpreter start,
imports, load, search, report), the two trees in turn, with the
scenarios whose median grew listed.

    python bench/shipped.py --base b241245          # the table and a one-line summary
    python bench/shipped.py --base b241245 --runs 61 --noise 0.03
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


Times = dict[str, tuple[float, int, list[str]]]  # scenario -> (median seconds, states, outcomes)


def measure(tree: Path, runs: int) -> Times:
    """In this process (with ``tree`` first on sys.path): per shipped scenario of
    ``tree``, [median seconds, states, outcomes]."""
    sys.path.insert(0, str(tree))
    from mempool_cli.explore import explore
    from mempool_cli.kernel.model import KernelModel
    from mempool_cli.scenario.loader import load_scenario

    out: Times = {}
    for path in sorted((tree / "scenarios").rglob("*.yaml")):
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            scenario = load_scenario(str(path))
            result = explore(KernelModel(scenario))
            times.append(time.perf_counter() - start)
        out[str(path.relative_to(tree))] = (
            statistics.median(times),
            result.states,
            list(result.outcomes) or ["ok"],
        )
    return out


def _env(tree: Path) -> dict[str, str]:
    """This process's environment with ``tree`` alone on PYTHONPATH."""
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": str(tree)}


def _child(tree: Path, runs: int) -> Times:
    done = subprocess.run(
        [sys.executable, __file__, "--measure", str(tree), "--runs", str(runs)],
        cwd=tempfile.gettempdir(),  # not this tree's root, which `-m` imports would see first
        env=_env(tree),
        capture_output=True,
        text=True,
        check=True,
    )
    return {name: (row[0], row[1], row[2]) for name, row in json.loads(done.stdout).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="b241245", help="the older commit (default: b241245)")
    parser.add_argument("--runs", type=int, default=41, help="runs per scenario (default: 41)")
    parser.add_argument(
        "--noise", type=float, default=0.05, help="growth not counted as slower (default: 0.05)"
    )
    parser.add_argument(
        "--whole-runs", type=int, default=5, help="whole runs per scenario (default: 5)"
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure), args.runs)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "base"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old), args.base],
            check=True,
        )
        try:
            rounds = [(_child(old, args.runs), _child(ROOT, args.runs)) for _ in range(2)]
            whole = _whole(old, args.whole_runs)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=False
            )
    before = {k: min(r[0][k][0] for r in rounds) for k in rounds[0][0]}
    after = {k: min(r[1][k][0] for r in rounds) for k in rounds[0][1]}
    width = max(map(len, after))
    print(f"{'scenario':{width}} {'before ms':>9} {'after ms':>9} {'ratio':>6}  states, outcomes")
    slower = []
    for name in sorted(after):
        _, new_states, new_outcomes = rounds[0][1][name]
        if name not in before:
            print(f"{name:{width}} {'-':>9} {after[name] * 1e3:9.2f} {'':>6}  {new_states}")
            continue
        _, old_states, old_outcomes = rounds[0][0][name]
        ratio = after[name] / before[name]
        mark = ""
        if ratio > 1 + args.noise:
            slower.append(name)
            mark = "  SLOWER"
        if old_outcomes != new_outcomes:
            mark += f"  OUTCOMES {old_outcomes} -> {new_outcomes}"
        print(
            f"{name:{width}} {before[name] * 1e3:9.2f} {after[name] * 1e3:9.2f} {ratio:6.2f}"
            f"  {old_states} -> {new_states}, {','.join(new_outcomes)}{mark}"
        )
    total_before = sum(before[k] for k in after if k in before)
    total_after = sum(after[k] for k in after if k in before)
    print(
        f"{len(after)} scenarios, {total_before * 1e3:.0f} ms before, {total_after * 1e3:.0f} ms "
        f"after; slower by more than {args.noise:.0%}: {len(slower)}"
        + (f" ({', '.join(slower)})" if slower else "")
    )

    print(whole)


def _whole(old: Path, runs: int) -> str:
    """The summary line of whole ``mpsim run`` processes, ``old`` against this tree."""
    trees = (old, ROOT)
    envs = (_env(old), _env(ROOT))
    names = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "scenarios").rglob("*.yaml"))
    totals = [0.0, 0.0]
    grew = []
    for name in names:
        times: tuple[list[float], list[float]] = ([], [])
        for _ in range(runs):
            for side, tree in enumerate(trees):
                if not (tree / name).exists():
                    continue
                start = time.perf_counter()
                subprocess.run(
                    [sys.executable, "-m", "mempool_cli", "run", str(tree / name)],
                    cwd=tempfile.gettempdir(),
                    env=envs[side],
                    capture_output=True,
                    check=False,
                )
                times[side].append(time.perf_counter() - start)
        if not times[0]:
            continue
        before, after = statistics.median(times[0]), statistics.median(times[1])
        totals[0] += before
        totals[1] += after
        if after > before:
            grew.append(f"{name} {before * 1e3:.0f} -> {after * 1e3:.0f} ms")
    return (
        f"whole `mpsim run` processes, median of {runs}: {totals[0]:.1f} s before, "
        f"{totals[1]:.1f} s after; longer: {len(grew)}" + (f" ({'; '.join(grew)})" if grew else "")
    )


if __name__ == "__main__":
    main()
