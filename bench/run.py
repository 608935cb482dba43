"""`make bench`: states, transitions, states per second, peak RSS and time per case.

Cases: the pool-workers-N family (N identical workers share one pool and one
mutex with memory at the min watermark; `min_nr: N+1` is ok, `min_nr: N`
deadlocks) for N = 2..10 and the deadlock variant of N = 12 and 14,
bench/hetero.yaml (six distinct tasks on locks, a pool, a queue and an rwsem:
no symmetry), every shipped scenario under its own kernel, and
the scenario loader on a 2,000-line file. Each search runs in up to three
modes: `on` (every reduction), `no-stub` (every reduction but the stubborn
sets, docs/model.md "Stubborn sets") and `off` (--no-reduce); the modes of a
case must find the same outcomes, and a case where they differ is reported
and makes the run fail. Each case runs in a
child process so its peak RSS is its own. Results are printed as a table and
written as JSON to bench/results/ so runs can be compared.

The peer comparison (`make bench-peer`, or at the end of the full suite)
checks pool-workers-10 and -12, both variants, with Rumur as well: a
Murphi model of the same scenario at mpsim's granularity (bench/murphi.py)
whose state count under Rumur's symmetry reduction must equal mpsim's.
mpsim and Rumur run in turn, three times each, and the medians are
reported: mpsim's time is its child process from start to verdict
(interpreter start, imports, load, explore; the explore alone is shown
too), Rumur's is generating the C, compiling it and running the verifier,
once with 1 thread and once with 2. Without `rumur` and `cc` on PATH the
comparison is skipped with one line saying how to install Rumur.

    python bench/run.py              # the full suite, with the peer comparison
    python bench/run.py --quick      # N <= 7, for a quick look (no peer comparison)
    python bench/run.py --peer-only  # the peer comparison alone (make bench-peer)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CASE_SECONDS = 180  # a case that needs longer is reported as incomplete
PEER_SIZES = (10, 12)  # the pool-workers-N of the peer comparison
PEER_RUNS = 3  # runs of each side per case; the median is reported
PEER_SECONDS = 1800  # mpsim's limit per peer case (N = 12 takes minutes)
LARGE = (12, 14)  # pool-workers-N deadlock cases beyond the family's N <= 10, reductions on
PEER_THREADS = (1, 2)

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

    loading = time.perf_counter()
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
        "load_seconds": round(start - loading, 3),  # load_scenario and the model's set-up
        "states_per_second": round(result.states / seconds) if seconds else None,
        "peak_rss_mb": round(peak / 2**20, 1),
        # what the search added to the peak, per distinct state (states, parent
        # pointers, successor arrays and the successor memo together)
        "bytes_per_state": round((peak - before) / result.states) if result.states else None,
        "reductions": list(model.reductions),
    }


def child(path: str, mode: str, max_seconds: float = CASE_SECONDS) -> dict[str, object]:
    """Explore one scenario in a fresh process in one mode (MODES); its numbers, with the
    process's wall time from start to verdict as ``wall_seconds``."""
    cmd = [sys.executable, __file__, "--case", path, "--max-seconds", str(max_seconds)]
    cmd += ["--mode", mode]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return {**json.loads(out.stdout), "wall_seconds": round(wall, 3)}


def _median_run(runs: list[Any]) -> Any:
    """The run with the median time (the lower middle one of an even count)."""
    ordered = sorted(runs, key=lambda r: r.seconds)
    return ordered[(len(ordered) - 1) // 2]


def peer_comparison(sizes: tuple[int, ...], runs: int) -> list[dict[str, object]]:
    """mpsim against Rumur on pool-workers-N for each N in ``sizes``, both variants.

    mpsim and the two Rumur builds (1 and 2 threads) run in turn, ``runs`` times each;
    the medians are printed and returned. An empty list when Rumur is not installed.
    """
    sys.path.insert(0, str(ROOT / "bench"))
    import murphi

    if not murphi.available():
        print(
            "peer comparison skipped: no rumur (or no cc) on PATH; "
            "install it with `apt-get install rumur` (or `make rumur` as root)"
        )
        return []
    print(
        f"peer: Rumur {_rumur_version()}, symmetry reduction heuristic (exact here), "
        f"cc {' '.join(murphi.CFLAGS)}"
    )
    header = (
        f"{'case':24} {'thr':>3} {'verdicts':17} {'mpsim states':>12} {'rumur states':>12} "
        f"{'mpsim s':>8} {'(explore)':>9} {'rumur s':>7} {'cc s':>5} {'run s':>7} "
        f"{'peer s':>7} {'ratio':>6} {'B/state':>7}"
    )
    print(header)
    print("-" * len(header))
    rows: list[dict[str, object]] = []
    for n in sizes:
        for variant in ("ok", "deadlock"):
            name = f"pool-workers-{n}-{variant}"
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"{name}.yaml"
                path.write_text(pool_workers(n, variant))
                mine: list[dict[str, Any]] = []
                peers: dict[int, list[Any]] = {t: [] for t in PEER_THREADS}
                for _ in range(runs):
                    mine.append(child(str(path), "on", PEER_SECONDS))
                    for threads in PEER_THREADS:
                        work = Path(tmp) / f"rumur-{threads}"
                        work.mkdir(exist_ok=True)
                        peers[threads].append(murphi.check(n, variant, work, threads))
            rows.extend(_peer_rows(name, mine, peers))
    return rows


def _rumur_version() -> str:
    out = subprocess.run(["rumur", "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip().split()[-1] if out.stdout.strip() else "?"


def _peer_rows(
    name: str, mine: list[dict[str, Any]], peers: dict[int, list[Any]]
) -> list[dict[str, object]]:
    """Print and return one case's rows (one per Rumur thread count)."""
    errors = [m["error"] for m in mine if "error" in m]
    if errors:
        print(f"{name:24} ERROR mpsim: {errors[0]}")
        return [{"case": name, "error": f"mpsim: {errors[0]}"}]
    wall = statistics.median(m["wall_seconds"] for m in mine)
    explore = statistics.median(m["seconds"] for m in mine)
    first = mine[0]
    verdict = "deadlock" if "deadlock" in first["outcomes"] else ",".join(first["outcomes"])
    if not all(m["complete"] for m in mine):
        verdict += " (cut)"
    rows = []
    for threads, runs in peers.items():
        peer = _median_run(runs)
        counts = {r.states for r in runs}
        same = counts == {first["states"]} and all(m["states"] == first["states"] for m in mine)
        print(
            f"{name:24} {threads:>3} {verdict + '/' + peer.verdict:17} {first['states']:>12,} "
            f"{peer.states:>12,} {wall:>8.2f} {explore:>9.2f} {peer.rumur_seconds:>7.2f} "
            f"{peer.cc_seconds:>5.2f} {peer.run_seconds:>7.2f} {peer.seconds:>7.2f} "
            f"{wall / peer.seconds:>6.1f} {peer.bytes_per_state:>7}",
            flush=True,
        )
        if not same:
            print(
                f"!!! STATE COUNT MISMATCH on {name} ({threads} threads): mpsim "
                f"{sorted({m['states'] for m in mine})}, rumur {sorted(counts)} !!!",
                flush=True,
            )
        if peer.verdict != verdict:
            print(f"!!! VERDICT MISMATCH on {name}: mpsim {verdict}, rumur {peer.verdict} !!!")
        rows.append(
            {
                "case": name,
                "threads": threads,
                "states_equal": same,
                "mpsim": {
                    "outcome": verdict,
                    "states": first["states"],
                    "wall_seconds": wall,
                    "explore_seconds": explore,
                    "peak_rss_mb": statistics.median(m["peak_rss_mb"] for m in mine),
                    "runs_wall_seconds": [m["wall_seconds"] for m in mine],
                },
                "rumur": {
                    "outcome": peer.verdict,
                    "states": peer.states,
                    "rules_fired": peer.rules_fired,
                    "seconds": round(peer.seconds, 3),
                    "rumur_seconds": round(peer.rumur_seconds, 3),
                    "cc_seconds": round(peer.cc_seconds, 3),
                    "run_seconds": round(peer.run_seconds, 3),
                    "state_bytes": peer.state_bytes,
                    "peak_rss_mb": round(peer.peak_rss / 2**20, 1),
                    "bytes_per_state": peer.bytes_per_state,
                    "runs_seconds": [round(r.seconds, 3) for r in runs],
                },
                "ratio": round(wall / peer.seconds, 2),
            }
        )
    return rows


def machine() -> dict[str, object]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from mempool_cli import native  # (mpsim --version's line: compiled or interpreted)

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "mpsim": native.summary(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="pool-workers up to N = 7 only, no peer comparison"
    )
    parser.add_argument(
        "--peer-only", action="store_true", help="only the comparison with Rumur (bench-peer)"
    )
    parser.add_argument(
        "--peer-sizes",
        type=lambda text: tuple(int(x) for x in text.split(",")),
        default=PEER_SIZES,
        help="the N of the peer comparison, comma-separated (default: 10,12)",
    )
    parser.add_argument(
        "--peer-runs", type=int, default=PEER_RUNS, help="runs of each side per peer case"
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, default="on", help=argparse.SUPPRESS)
    parser.add_argument("--max-seconds", type=float, default=CASE_SECONDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.mode, args.max_seconds)))
        return
    if args.peer_only:
        print(f"machine: {machine()}")
        peer = peer_comparison(args.peer_sizes, args.peer_runs)
        if peer:
            write_results("bench-peer", {"machine": machine(), "peer": peer})
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
        if not args.quick:  # the large cases: time to a verdict and bytes a state
            for n in LARGE:
                path = Path(tmp) / f"pool-workers-{n}-deadlock.yaml"
                path.write_text(pool_workers(n, "deadlock"))
                record(path.stem, "on", child(str(path), "on", PEER_SECONDS))
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

    peer = [] if args.quick else peer_comparison(args.peer_sizes, args.peer_runs)
    write_results(
        "bench",
        {"machine": machine(), "cases": rows, "loader": load.stdout.strip(), "peer": peer},
    )
    for line in mismatches:
        print(f"OUTCOMES DIFFER: {line}")
    if mismatches:
        sys.exit(1)


def write_results(prefix: str, data: dict[str, object]) -> None:
    """Write ``data`` as bench/results/PREFIX-<UTC time>.json and say where."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"{prefix}-{stamp}.json"
    out.write_text(json.dumps(data, indent=2))
    print(f"results written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
