"""`make bench-sweep`: wall time of one `mpsim sweep` per executor, and the pool-workers boundary.

Two sweeps of 200+ points, each under the file's own kernel: the seed scenario
(rientjes-2016-oom-victim) over `pools.pool0.min_nr` 0..9 and `memory.free` 0..19 (searches
of a few milliseconds), and pool-workers-5 over `min_nr` 1..7 and `memory.free` 4..33 (210
points, searches of a tenth of a second or more). Each runs as a user runs it (`mpsim sweep
--format json`), once per executor: the local pool on 1 core and on 2 cores (the process's
CPU affinity, which `mpsim` reads), and `--executor dask` (a LocalCluster, one worker per
core: 2 here). The JSON of each run must be the same bytes. Then the pool-workers-N
family (bench/run.py) swept over `min_nr` 1..N+2 under every preset, N = 2..5: each
boundary must be N+1.

    python bench/sweep.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import POOL_WORKERS, machine

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "scenarios" / "mempool" / "rientjes-2016-oom-victim.yaml"
GRID = ["-p", "pools.pool0.min_nr=0..9", "-p", "memory.free=0..19"]
# Searches of a tenth of a second or more, where the process start-up of a job matters less.
HEAVY = ["-p", "pools.pool.min_nr=1..7", "-p", "memory.free=4..33"]


def mpsim(args: list[str], cores: set[int] | None = None) -> tuple[float, str]:
    """Run ``mpsim ARGS`` (on ``cores`` only); its wall time and stdout."""
    started = time.perf_counter()

    def pin() -> None:
        if cores is not None:
            os.sched_setaffinity(0, cores)

    done = subprocess.run(
        [sys.executable, "-m", "mempool_cli", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        preexec_fn=pin,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"mpsim {' '.join(args)}: exit {done.returncode}\n{done.stderr}")
    return seconds, done.stdout


def main() -> None:
    print(f"machine: {machine()}, cores usable: {len(os.sched_getaffinity(0))}")
    all_cores = os.sched_getaffinity(0)
    same = True
    with tempfile.TemporaryDirectory() as tmp:
        heavy = Path(tmp) / "pool-workers-5.yaml"
        heavy.write_text(POOL_WORKERS.format(n=5, variant="sweep", min_nr=1, expect="ok"))
        for name, sweep in (
            ("seed, min_nr 0..9 x free 0..19", ["sweep", str(SEED), *GRID]),
            ("pool-workers-5, min_nr 1..7 x free 4..33", ["sweep", str(heavy), *HEAVY]),
        ):
            outputs = {}
            for label, extra, cores in (
                ("local, 1 core", [], {min(all_cores)}),
                ("local, 2 cores", [], set(sorted(all_cores)[:2])),
                (
                    "dask LocalCluster, 2 workers",
                    ["--executor", "dask"],
                    set(sorted(all_cores)[:2]),
                ),
            ):
                seconds, out = mpsim([*sweep, "--format", "json", *extra], cores)
                doc = json.loads(out)
                outputs[label] = out
                print(
                    f"{name}: {label:28} {len(doc['points'])} points, {doc['searches']} "
                    f"searches: {seconds:6.2f} s wall",
                    flush=True,
                )
            same = same and len(set(outputs.values())) == 1
        print(f"same JSON bytes from every executor: {same}")
        for n in range(2, 6):
            path = Path(tmp) / f"pool-workers-{n}.yaml"
            path.write_text(POOL_WORKERS.format(n=n, variant="sweep", min_nr=1, expect="ok"))
            args = ["sweep", str(path), "-p", f"pools.pool.min_nr=1..{n + 2}", "--all-kernels"]
            seconds, out = mpsim([*args, "--format", "json"])
            boundary = json.loads(out)["boundary"]
            ok = boundary == [f"ok under every preset from pools.pool.min_nr {n + 1}"]
            mark = "" if ok else "  WRONG"
            print(f"pool-workers-{n}: {'; '.join(boundary)} ({seconds:.1f} s){mark}")
    if not same:
        raise SystemExit("the executors disagree")


if __name__ == "__main__":
    main()
