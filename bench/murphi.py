"""The pool-workers-N family as a Murphi model for Rumur, the peer of `make bench-peer`.

`model(n, variant)` writes pool-workers-N (bench/run.py) at mpsim's own
granularity, so that Rumur, with its symmetry reduction, stores exactly
the states mpsim stores with its reductions on (and, with symmetry off,
exactly mpsim's `--no-reduce` states).

What mpsim's state holds for this scenario, and where it went:

* each worker's task tuple (pc, the frame of the kernel call it is in,
  status, handles) takes 19 values in this family, one `Local` enum value
  each, below. mpsim's `mempool_alloc` frame has six points another CPU
  can observe (the first pass under pool->lock; *repeat_alloc:*;
  pool->alloc's slow path after direct reclaim; the check under
  pool->lock with the full mask; asleep on pool->wait), `mutex_lock` one
  (`LockWait`), and a worker at pc 6 is at its exit step or has exited.
  The handles follow from the pc (what a worker holds is fixed at each
  step), so they need no variable.
* the shared part: `curr_nr` of the pool is `curr` (0..min_nr), the
  mutex's owner is `locked` plus the one worker whose local state is
  inside the critical section (the owner's identity is implied by the
  locals, so a boolean keeps the count exact), and the zone's free pages
  stay at the min watermark throughout (every free refills the pool,
  which never holds more than min_nr), so they need no variable.

Workers are a scalarset, so Rumur's symmetry reduction identifies states
that differ only by which worker is which, as mpsim's does (it sorts the
workers' tuples). mpsim's partial-order reduction takes no step here (both
shared objects are named by every worker), so symmetry is its only
reduction on this family.

Every mpsim move is one rule firing. mpsim finds the deadlock as a hang:
a terminal strongly connected component, here the mutex holder's loop
from pool->wait (its 5 s timeout) back through pool->alloc to pool->wait
while the pool is empty and every other worker sleeps on the mutex.
Murphi only knows states with no enabled rule, so the wake-up from
pool->wait is disabled exactly when it would lead back into that loop
(the pool is empty and no other worker can run): every state of the loop
is still reached on its first lap, the counts stay equal, and the holder
asleep on pool->wait is a state with no enabled rule, which Rumur reports
as a deadlock (`--deadlock-detection stuck`). The state where every
worker has exited gets a rule that changes nothing, so it is no deadlock.
Rumur stops at its first error unless `--max-errors` says otherwise;
`rumur_args` passes a large one so the deadlock variant is counted to
the end like the ok one.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "LOCALS",
    "RumurRun",
    "available",
    "build",
    "check",
    "model",
    "parse_output",
    "rumur_args",
    "run",
]

# The local state of one worker: (Murphi name, mpsim's task tuple it stands for).
LOCALS: tuple[tuple[str, str], ...] = (
    ("A_START", "pc 0 (mempool_alloc a) at the step boundary"),
    ("A_FIRST", "pc 0, first pass (no reclaim) failed: the check under pool->lock"),
    ("A_REPEAT", "pc 0, pool empty: back to repeat_alloc with the full mask"),
    ("A_ALLOC", "pc 0, pool->alloc's slow path after direct reclaim"),
    ("A_LOCKED", "pc 0, full-mask pool->alloc failed: the check under pool->lock"),
    ("A_WAIT", "pc 0, asleep on pool->wait"),
    ("M_START", "pc 1 (mutex_lock L) at the step boundary, holding a"),
    ("M_WAIT", "pc 1, asleep on L (LockWait)"),
    ("B_START", "pc 2 (mempool_alloc b) at the step boundary, holding a and L"),
    ("B_FIRST", "pc 2, first pass failed: the check under pool->lock"),
    ("B_REPEAT", "pc 2, pool empty: back to repeat_alloc with the full mask"),
    ("B_ALLOC", "pc 2, pool->alloc's slow path after direct reclaim"),
    ("B_LOCKED", "pc 2, full-mask pool->alloc failed: the check under pool->lock"),
    ("B_WAIT", "pc 2, asleep on pool->wait"),
    ("UNLOCK", "pc 3 (mutex_unlock L), holding a, b and L"),
    ("FREE_B", "pc 4 (mempool_free b), holding a and b"),
    ("FREE_A", "pc 5 (mempool_free a), holding a"),
    ("EXIT", "pc 6, the end of the program"),
    ("EXITED", "pc 6, exited"),
)

_HEADER = """\
-- pool-workers-{n}-{variant}: bench/murphi.py writes this file; see its docstring.
-- {n} workers share one mempool (min_nr {min_nr}) and one mutex with memory at the min
-- watermark; each runs mempool_alloc a, mutex_lock, mempool_alloc b, mutex_unlock,
-- mempool_free b, mempool_free a.

const
  N: {n};
  MIN_NR: {min_nr};

type
  worker: scalarset(N);
  local: enum {{ {locals} }};

var
  curr: 0..MIN_NR;  -- the pool's curr_nr
  locked: boolean;  -- the mutex; its owner is the worker in B_* or UNLOCK
  pc: array [worker] of local;

startstate "all at their first step"
begin
  curr := MIN_NR;
  locked := false;
  for w: worker do
    pc[w] := A_START;
  endfor;
end;
"""

# One worker's rules: (name, guard, body), in the order mpsim's code runs them. A pool
# check takes an element when there is one; else the first pass retries with the full
# mask and the full-mask pass sleeps on pool->wait.
_STAGES = """\
ruleset w: worker do
{rules}
endruleset;

rule "all exited"
  forall v: worker do pc[v] = EXITED endforall
==>
begin
end;
"""


def _alloc_rules(p: str, then: str) -> list[tuple[str, str, str]]:
    """The rules of one mempool_alloc (locals ``{p}_*``), ending at ``then`` with an element."""
    take = f"curr := curr - 1; pc[w] := {then};"
    return [
        (f"{p}: first pass", f"pc[w] = {p}_START", f"pc[w] := {p}_FIRST;"),
        (
            f"{p}: first check under pool->lock",
            f"pc[w] = {p}_FIRST",
            f"if curr > 0 then {take} else pc[w] := {p}_REPEAT; endif;",
        ),
        (f"{p}: repeat_alloc", f"pc[w] = {p}_REPEAT", f"pc[w] := {p}_ALLOC;"),
        (f"{p}: pool->alloc fails", f"pc[w] = {p}_ALLOC", f"pc[w] := {p}_LOCKED;"),
        (
            f"{p}: check under pool->lock",
            f"pc[w] = {p}_LOCKED",
            f"if curr > 0 then {take} else pc[w] := {p}_WAIT; endif;",
        ),
        (
            f"{p}: woken on pool->wait",
            f"pc[w] = {p}_WAIT & !stuck(w)",
            f"pc[w] := {p}_ALLOC;",
        ),
    ]


_RULES: list[tuple[str, str, str]] = [
    *_alloc_rules("A", "M_START"),
    ("mutex_lock", "pc[w] = M_START & !locked", "locked := true; pc[w] := B_START;"),
    ("mutex_lock sleeps", "pc[w] = M_START & locked", "pc[w] := M_WAIT;"),
    ("mutex_lock wakes", "pc[w] = M_WAIT & !locked", "locked := true; pc[w] := B_START;"),
    *_alloc_rules("B", "UNLOCK"),
    ("mutex_unlock", "pc[w] = UNLOCK", "locked := false; pc[w] := FREE_B;"),
    ("mempool_free b", "pc[w] = FREE_B", "curr := curr + 1; pc[w] := FREE_A;"),
    ("mempool_free a", "pc[w] = FREE_A", "curr := curr + 1; pc[w] := EXIT;"),
    ("exit", "pc[w] = EXIT", "pc[w] := EXITED;"),
]

_STUCK = """\
-- A wake-up on pool->wait that leads back to pool->wait: the pool is empty and no other
-- worker can run (mpsim's hang; see bench/murphi.py).
function stuck(me: worker): boolean;
begin
  return curr = 0 & forall v: worker do v = me | pc[v] = M_WAIT | pc[v] = EXITED endforall;
end;
"""


def model(n: int, variant: str) -> str:
    """The Murphi text of pool-workers-``n``, ``variant`` 'ok' (min_nr n+1) or 'deadlock'."""
    if n < 1:
        raise ValueError(f"pool-workers needs at least one worker, got {n}")
    if variant not in ("ok", "deadlock"):
        raise ValueError(f"variant is 'ok' or 'deadlock', got {variant!r}")
    min_nr = n + 1 if variant == "ok" else n
    locals_ = ", ".join(name for name, _ in LOCALS)
    rules = "\n\n".join(
        f'  rule "{name}"\n    {guard}\n  ==>\n  begin\n    {body}\n  end;'
        for name, guard, body in _RULES
    )
    head = _HEADER.format(n=n, variant=variant, min_nr=min_nr, locals=locals_)
    return f"{head}\n{_STUCK}\n{_STAGES.format(rules=rules)}"


def available() -> bool:
    """Whether ``rumur`` and ``cc`` are on PATH."""
    return shutil.which("rumur") is not None and shutil.which("cc") is not None


def rumur_args(threads: int, symmetry: str = "heuristic") -> list[str]:
    """Rumur's options: ``threads`` threads (fixed when the C is generated), ``symmetry``
    reduction, a deadlock is a state with no enabled rule, every error counted to the end
    of the search (not a stop at the first), and no counterexample trace (so no scalarset
    schedules to keep for one)."""
    return [
        "--threads",
        str(threads),
        "--symmetry-reduction",
        symmetry,
        "--deadlock-detection",
        "stuck",
        "--max-errors",
        str(MAX_ERRORS),
        "--counterexample-trace",
        "off",
        "--scalarset-schedules",
        "off",
        "--colour",
        "off",
    ]


MAX_ERRORS = 2**31 - 1
# How the generated C is compiled: Rumur's README says `cc -std=c11 -O3 model.c -lpthread`,
# with -mcx16 for GCC on x86-64 (the lock-free seen set's 16-byte compare-and-swap); we add
# -march=native, as the verifier runs where it is built.
CFLAGS: tuple[str, ...] = (
    "-std=c11",
    "-O3",
    "-march=native",
    *(("-mcx16",) if platform.machine() in ("x86_64", "AMD64") else ()),
    "-pthread",
)


@dataclass
class RumurRun:
    """One Rumur check: what it found and how long each part took."""

    states: int
    rules_fired: int
    errors: int  # the errors Rumur reported: each a deadlock in this model
    state_bytes: int  # one state's packed size, as the verifier prints it
    peak_rss: int  # the verifier process's peak resident set, in bytes
    rumur_seconds: float
    cc_seconds: float
    run_seconds: float

    @property
    def seconds(self) -> float:
        """Time to verdict: generating the C, compiling it and running it."""
        return self.rumur_seconds + self.cc_seconds + self.run_seconds

    @property
    def verdict(self) -> str:
        return "deadlock" if self.errors else "ok"

    @property
    def bytes_per_state(self) -> int:
        """The verifier's peak RSS per state (its seen set, queue and code together)."""
        return round(self.peak_rss / self.states) if self.states else 0


def build(
    text: str,
    workdir: Path,
    threads: int,
    symmetry: str = "heuristic",
    cflags: tuple[str, ...] = CFLAGS,
) -> tuple[Path, float, float]:
    """Write ``text`` to workdir, generate C with rumur and compile it with ``cflags``; the
    verifier and the seconds rumur and cc took."""
    src = workdir / "model.m"
    src.write_text(text)
    c_file = workdir / f"model-{threads}-{symmetry}.c"
    binary = workdir / f"model-{threads}-{symmetry}"
    start = time.perf_counter()
    subprocess.run(
        ["rumur", *rumur_args(threads, symmetry), "--output", str(c_file), str(src)],
        check=True,
        capture_output=True,
        text=True,
    )
    middle = time.perf_counter()
    subprocess.run(
        ["cc", *cflags, "-o", str(binary), str(c_file)],
        check=True,
        capture_output=True,
        text=True,
    )
    return binary, middle - start, time.perf_counter() - middle


_STATES = re.compile(r"(\d+) states, (\d+) rules fired")
_ERRORS = re.compile(r"(\d+) error\(s\) found")
_STATE_BYTES = re.compile(r"rounded up to (\d+) bytes")


def parse_output(out: str) -> tuple[int, int, int, int]:
    """(states, rules fired, errors, bytes per packed state) from a Rumur verifier's
    human-readable summary.

    >>> parse_output("(rounded up to 2 bytes)\\n1 error(s) found.\\n82 states, 139 rules fired")
    (82, 139, 1, 2)
    """
    states = _STATES.search(out)
    if states is None:
        raise ValueError(f"no state count in Rumur's output: {out[-400:]!r}")
    errors = _ERRORS.search(out)
    size = _STATE_BYTES.search(out)
    return (
        int(states[1]),
        int(states[2]),
        int(errors[1]) if errors else 0,
        int(size[1]) if size else 0,
    )


def run(binary: Path) -> tuple[str, float, int]:
    """Run a verifier: its output, wall seconds and peak RSS in bytes."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(binary)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{binary.name} exited {proc.returncode}: {out[-400:]}")
    return out, seconds, usage.ru_maxrss * 1024


def check(
    n: int,
    variant: str,
    workdir: Path,
    threads: int = 1,
    symmetry: str = "heuristic",
    cflags: tuple[str, ...] = CFLAGS,
) -> RumurRun:
    """Generate, compile and run the pool-workers-``n`` model in ``workdir``.

    ``symmetry`` is Rumur's option: 'heuristic' (sorting; exact on this model, whose only
    scalarset-indexed data is the array of locals), 'exhaustive' or 'off'. Tests pass a
    quicker ``cflags`` (-O0)."""
    binary, rumur_s, cc_s = build(model(n, variant), workdir, threads, symmetry, cflags)
    out, run_s, peak = run(binary)
    states, fired, errors, size = parse_output(out)
    return RumurRun(states, fired, errors, size, peak, rumur_s, cc_s, run_s)
