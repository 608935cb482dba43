"""How long `load_scenario` takes on a large (~2,000-line) valid scenario.

Generates the file in a temporary directory, loads it N times and prints
the mean and the minimum seconds per load.

    python bench/load_bench.py            # 20 loads
    python bench/load_bench.py -n 100
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from mempool_cli.scenario.loader import load_scenario

TASKS = 48
BLOCKS_PER_TASK = 4  # each block is 10 lines of steps


def scenario_text(tasks: int = TASKS, blocks: int = BLOCKS_PER_TASK) -> str:
    """A valid scenario with ``tasks`` tasks of ``blocks`` ten-line step blocks each."""
    lines = [
        "mpsim: 1",
        "name: load-bench",
        "description: many tasks with many steps, to time the loader",
        "kernel: {base: v4.8, oom_reaper: reap_or_skip}",
        "memory:",
        "  free: 64",
        "  min: 8",
        "  reclaimable:",
        "    - {pages: 16, needs: [__GFP_IO, __GFP_FS], locks: [fs_lock], waits: writeback}",
        "pools:",
        "  bio_pool: {min_nr: 4}",
        "locks:",
        "  fs_lock: mutex",
        "  zone_lock: spinlock",
        "completions: {writeback: 0}",
        "tasks:",
    ]
    for t in range(tasks):
        lines += [f"  task{t}:", "    rss: 2", "    steps:"]
        for _ in range(blocks):
            lines += [
                "      - mutex_lock: fs_lock",
                "      - alloc_pages: {gfp: GFP_KERNEL | __GFP_NOFAIL, as: page}",
                "      - memalloc_noio_save:",
                "      - mempool_alloc: {pool: bio_pool, gfp: GFP_NOIO, as: bio}",
                "      - memalloc_noio_restore:",
                "      - mutex_unlock: fs_lock",
                "      - repeat: {times: 2, steps: [spin_lock: zone_lock, spin_unlock: zone_lock]}",
                "      - mempool_free: bio",
                "      - free_pages: page",
                "      - complete: writeback",
            ]
    lines += ["expect:", "  default: ok", "  v4.5: [livelock, oom-kill]"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="number of loads (default 20)")
    args = parser.parse_args()
    text = scenario_text()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "load-bench.yaml"
        path.write_text(text)
        scenario = load_scenario(str(path))  # warm-up, and proof that the file is valid
        times = []
        for _ in range(args.n):
            start = time.perf_counter()
            load_scenario(str(path))
            times.append(time.perf_counter() - start)
    libyaml = "libyaml" if hasattr(yaml, "CSafeLoader") else "pure-Python yaml"
    print(
        f"{path.name}: {text.count(chr(10))} lines, {len(scenario.tasks)} tasks, "
        f"{len(text)} bytes, {libyaml}"
    )
    print(f"{args.n} loads: mean {statistics.fmean(times):.4f} s, min {min(times):.4f} s per load")


if __name__ == "__main__":
    main()
