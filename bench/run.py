"""`make bench`: states, transitions, states per second, peak RSS and time per case.

Cases: the pool-workers-N family (N identical workers share one pool and one
mutex with memory at the min watermark; `min_nr: N+1` is ok, `min_nr: N`
deadlocks), bench/hetero.yaml (six distinct tasks on locks, a pool, a queue
and an rwsem: no symmetry), every shipped scenario under its own kernel, and
the scenario loader on a 2,000-line file. Each search runs in up to three
modes: `on` (every reduction), `no-stub` (every reduction but the stubborn
sets, docs/model.md "Stubborn sets") and `off` (--no-reduce); the modes of a
case must find the same outcomes, and a case where they differ is reported
and makes the run fail. Each case runs in a
child process so its peak RSS is its own. Results are printed as a table and
written as JSON to bench/results/ so runs can be compared.

    python bench/run.py              # the full suite
    python bench/run.py --quick      # N <= 7, for a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CASE_SECONDS = 180  # a case that needs longer is reported as incomplete

POOL_WORKERS = """\
mpsim: 1
name: pool-workers-{n}-{variant}
kernel: latest
memory: {{free: 4, min: 4}}
pools:
  pool: {{min_nr: {min_nr}}}
locks:
  L: mutex
tasks:
  worker:
    count: {n}
    steps:
      - mempool_alloc: {{pool: pool, gfp: GFP_NOIO, as: a}}
      - mutex_lock: L
      - mempool_alloc: {{pool: pool, gfp: GFP_NOIO, as: b}}
      - mutex_unlock: L
      - mempool_free: b
      - mempool_free: a
expect: {expect}
"""


def pool_workers(n: int, variant: str) -> str:
    """The pool-workers-N scenario text; variant 'ok' (min_nr N+1) or 'deadlock' (min_nr N)."""
    min_nr = n + 1 if variant == "ok" else n
    return POOL_WORKERS.format(n=n, variant=variant, min_nr=min_nr, expect=variant)


MODES = ("on", "no-stub", "off")
HETERO = ROOT / "bench" / "hetero.yaml"


def run_case(path: str, mode: str, max_seconds: float) -> dict[str, object]:
    """Explore one scenario in this process and report the numbers."""
    sys.path.insert(0, str(ROOT))
    from mempool_cli.explore import explore
    from mempool_cli.kernel.model import KernelModel
    from mempool_cli.scenario.loader import load_scenario

    scenario = load_scenario(path)
    model = KernelModel(scenario, reduce=mode != "off", stubborn=mode == "on")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    result = explore(model, max_seconds=max_seconds)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "outcomes": list(result.outcomes) or ["ok"],
        "complete": result.complete,
        "states": result.states,
        "transitions": result.transitions,
        "seconds": round(seconds, 3),
        "states_per_second": round(result.states / seconds) if seconds else None,
        "peak_rss_mb": round(peak / 2**20, 1),
        # what the search added to the peak, per distinct state (states, parent
        # pointers, successor arrays and the successor memo together)
        "bytes_per_state": round((peak - before) / result.states) if result.states else None,
        "reductions": list(model.reductions),
    }


def child(path: str, mode: str) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--case", path, "--max-seconds", str(CASE_SECONDS)]
    cmd += ["--mode", mode]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return dict(json.loads(out.stdout))


def machine() -> dict[str, object]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pool-workers up to N = 7 only")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, default="on", help=argparse.SUPPRESS)
    parser.add_argument("--max-seconds", type=float, default=CASE_SECONDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.mode, args.max_seconds)))
        return

    rows: list[dict[str, object]] = []
    top = 7 if args.quick else 10
    shipped = sorted((ROOT / "scenarios").rglob("*.yaml"))
    width = max(len(str(p.relative_to(ROOT))) for p in shipped) if shipped else 24
    print(f"machine: {machine()}")
    header = (
        f"{'case':{width}} {'mode':7} {'outcome':10} {'states':>10} {'transitions':>12} "
        f"{'states/s':>9} {'RSS MB':>7} {'B/state':>7} {'seconds':>8}"
    )
    print(header)
    print("-" * len(header))

    seen: dict[str, tuple[str, object]] = {}  # case -> (mode, outcomes) of its first complete run
    mismatches: list[str] = []

    def record(name: str, mode: str, data: dict[str, object]) -> None:
        rows.append({"case": name, "mode": mode, **data})
        if "error" in data:
            print(f"{name:{width}} {mode:7} ERROR {data['error']}")
            return
        if data["complete"]:
            first = seen.setdefault(name, (mode, data["outcomes"]))
            if first[1] != data["outcomes"]:
                mismatches.append(f"{name}: {first[0]} {first[1]} but {mode} {data['outcomes']}")
        outcome = ",".join(str(o) for o in data["outcomes"])  # type: ignore[union-attr]
        if not data["complete"]:
            outcome += " (cut)"
        print(
            f"{name:{width}} {mode:7} {outcome:10} {data['states']:>10,} "
            f"{data['transitions']:>12,} {data['states_per_second'] or 0:>9,} "
            f"{data['peak_rss_mb']:>7} {data['bytes_per_state'] or 0:>7} {data['seconds']:>8}",
            flush=True,
        )

    with tempfile.TemporaryDirectory() as tmp:
        for n in range(2, top + 1):
            for variant in ("ok", "deadlock"):
                path = Path(tmp) / f"pool-workers-{n}-{variant}.yaml"
                path.write_text(pool_workers(n, variant))
                record(path.stem, "on", child(str(path), "on"))
                if n <= 8:
                    record(path.stem, "no-stub", child(str(path), "no-stub"))
                if n <= 5:  # without reductions the space grows ~14x per worker
                    record(path.stem, "off", child(str(path), "off"))
    for mode in MODES:
        record(str(HETERO.relative_to(ROOT)), mode, child(str(HETERO), mode))
    for path in shipped:
        for mode in ("on", "no-stub"):
            record(str(path.relative_to(ROOT)), mode, child(str(path), mode))

    load = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load_bench.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    print(load.stdout.strip())

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"bench-{stamp}.json"
    out.write_text(
        json.dumps({"machine": machine(), "cases": rows, "loader": load.stdout.strip()}, indent=2)
    )
    print(f"results written to {out.relative_to(ROOT)}")
    for line in mismatches:
        print(f"OUTCOMES DIFFER: {line}")
    if mismatches:
        sys.exit(1)


if __name__ == "__main__":
    main()
