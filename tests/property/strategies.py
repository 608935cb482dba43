"""Hypothesis strategies over the scenario format, and the settings every fuzz test uses.

Two sources of inputs:

* ``scenario_texts``: scenarios built from the format itself (tasks,
  steps, pools, locks, completions, gfp expressions, reclaimable memory,
  kernels, expectations), mostly valid so the whole pipeline runs, with
  a share of near misses: names that are not declared, values of the
  wrong type or out of range, broken gfp masks, extra keys.
* ``mutated_texts``: the shipped scenarios in ``scenarios/`` with a few
  edits applied: lines deleted, duplicated (duplicate keys) or swapped,
  values replaced by values of other types, keys renamed, indentation
  changed, truncation, random bytes.

``FUZZ`` is deterministic by default (derandomized, no example
database) so `make test` and CI see the same inputs every run;
``MPSIM_FUZZ_EXAMPLES=N`` (as `make fuzz` sets it) asks for N random
examples per test instead.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from mempool_cli.scenario.kernels import KNOBS, PRESET_NAMES
from mempool_cli.scenario.schema import GFP_NAMES, TASK_FLAGS
from mempool_cli.scenario.spec import OUTCOMES

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "scenarios").rglob("*.yaml"))
SEEDS = SHIPPED + sorted((ROOT / "tests" / "data").glob("*.yaml"))


def fuzz_settings(default_examples: int) -> settings:
    """``default_examples`` derandomized examples, or ``$MPSIM_FUZZ_EXAMPLES`` random ones."""
    wanted = os.environ.get("MPSIM_FUZZ_EXAMPLES")
    long_run = bool(wanted)
    return settings(
        max_examples=int(wanted) if wanted else default_examples,
        derandomize=not long_run,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --- scenarios built from the format -------------------------------------------

POOLS = ("pool0", "pool1")
MUTEXES = ("M", "L")
SPINLOCKS = ("S",)
LOCKS = MUTEXES + SPINLOCKS
COMPLETIONS = ("done", "ready")
FUNCTIONS = ("signal", "kick")
TASK_NAMES = ("taskA", "taskB", "taskC", "kswapd")
NOT_DECLARED = ("nosuch", "M2", "1bad", "", "h0")

# Values of every other type, for the near misses.
ODD_VALUES: tuple[Any, ...] = (
    None,
    True,
    "yes",
    -1,
    0,
    10**30,
    "",
    "x" * 50,
    [],
    {},
    [1, 2],
    {"a": 1},
    3.5,
    "ünïcödé",
)
_ODD = st.sampled_from(ODD_VALUES)
GFP_ATOMS = st.sampled_from(GFP_NAMES)
COMMON_GFP = st.sampled_from(
    ["GFP_KERNEL", "GFP_NOIO", "GFP_NOFS", "GFP_ATOMIC", "GFP_NOWAIT", "GFP_KERNEL | __GFP_NOFAIL",
     "GFP_NOIO | __GFP_NOMEMALLOC", "GFP_KERNEL & ~__GFP_DIRECT_RECLAIM",
     "GFP_NOFS | __GFP_NORETRY", "GFP_KERNEL | __GFP_RETRY_MAYFAIL", "GFP_ATOMIC | __GFP_HIGH"]
)  # fmt: skip
BROKEN_GFP = st.one_of(
    st.sampled_from(
        ["", "|", "GFP_KERNL", "GFP_KERNEL |", "(GFP_NOIO", "~", "0x10", "08", "0", "a b", "0|0"]
    ),
    st.text(st.sampled_from("GFP_KERNL|&~() 0x_"), max_size=20),
)
# Steps that take nothing and release nothing, so they fit anywhere.
SIMPLE_STEPS = ("complete", "complete_all", "wait_for_completion", "wait_for_completion_killable")
BLOCKS = ("simple", "mutex", "spin", "scope", "alloc", "mempool", "repeat", "leak",
          "trylock", "back-off", "fallback", "if", "call")  # fmt: skip
ON_FAIL_WORDS = ("retry", "unwind")
NOISE_STEPS = (
    "mutex_unlock", "spin_unlock", "free_pages", "mempool_free", "memalloc_noio_restore",
    "memalloc_nofs_save", "mutex_lock", "bogus_step", "repeat",
    "mutex_trylock", "break", "call", "if",
)  # fmt: skip
OUTCOME_WORDS = OUTCOMES  # "ok" first
FOUND = tuple(o for o in OUTCOMES if o != "ok")
EXPECT_KEYS = (*PRESET_NAMES, "default")


@functools.cache
def _below(n: int) -> st.SearchStrategy[int]:
    return st.integers(0, n - 1)


@functools.cache
def _one_of(values: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    return st.sampled_from(values)


class _Gen:
    """One scenario being drawn. ``noisy`` scenarios get near misses at a few places each."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.noisy = self.chance(3)
        self.handles = 0

    def chance(self, n: int) -> bool:
        """True about once in ``n`` draws."""
        return bool(self.draw(_below(n)) == 0)

    def pick(self, values: tuple[Any, ...]) -> Any:
        return self.draw(_one_of(values))

    def below(self, n: int) -> int:
        return int(self.draw(_below(n)))

    def odd(self, value: Any, weight: int = 10) -> Any:
        """``value`` (or a draw from it); in a noisy scenario, sometimes a value of another type."""
        if self.noisy and self.chance(weight):
            return self.draw(_ODD)
        return self.draw(value) if isinstance(value, st.SearchStrategy) else value

    def name(self, declared: tuple[str, ...]) -> str:
        """A declared name; in a noisy scenario, sometimes one that is not."""
        if self.noisy and self.chance(12):
            return str(self.pick(NOT_DECLARED + LOCKS + POOLS + COMPLETIONS))
        return str(self.pick(declared))

    def gfp(self) -> str:
        if self.noisy and self.chance(8):
            return str(self.draw(BROKEN_GFP))
        if not self.chance(4):
            return str(self.draw(COMMON_GFP))
        terms = []
        for _ in range(1 + self.below(3)):
            term = self.draw(GFP_ATOMS)
            if self.chance(3):
                term = f"{term} & ~{self.draw(GFP_ATOMS)}"
                if self.chance(2):
                    term = f"({term})"
            terms.append(term)
        return " | ".join(terms)

    def handle(self) -> str:
        self.handles += 1
        return f"h{self.handles}"

    # steps: balanced blocks (a lock with its unlock, a save with its restore...)

    def steps(self, depth: int, daemon: bool, atomic: bool = False) -> list[Any]:
        out: list[Any] = []
        for _ in range(1 + self.below(3 if depth == 0 else 2)):
            out.extend(self.block(depth, daemon, atomic))
            if self.noisy and self.chance(10):
                out.insert(self.below(len(out) + 1), self.noise_step())
        return out

    def block(self, depth: int, daemon: bool, atomic: bool) -> list[Any]:
        kind = self.pick(BLOCKS)
        inner: list[Any] = []
        if depth < 2 and kind != "simple" and self.chance(2):
            inner = self.steps(depth + 1, daemon, atomic or kind == "spin")
        if kind == "mutex":
            lock = self.name(MUTEXES)
            take = "mutex_lock_killable" if self.chance(3) else "mutex_lock"
            return [{take: lock}, *inner, {"mutex_unlock": lock}]
        if kind == "spin":
            lock = self.name(SPINLOCKS)
            return [{"spin_lock": lock}, *inner, {"spin_unlock": lock}]
        if kind == "scope":
            scope = self.pick(("noio", "nofs", "noreclaim"))
            save: dict[str, Any] = {f"memalloc_{scope}_save": None if self.chance(2) else {}}
            return [save, *inner, {f"memalloc_{scope}_restore": None}]
        if kind == "alloc":
            h = self.handle()
            alloc: dict[str, Any] = {"gfp": self.gfp(), "as": h}
            if self.chance(4):
                alloc["order"] = self.odd(_below(3))
            tail = [] if self.chance(6) else [{"free_pages": h}]  # a leak, now and then
            return [{"alloc_pages": self.odd(alloc, 30)}, *inner, *tail]
        if kind == "mempool":
            h = self.handle()
            pool = self.name(POOLS)
            free: Any = h if not self.chance(5) else {"handle": h, "pool": self.name(POOLS)}
            alloc = {"pool": pool, "gfp": self.gfp(), "as": h}
            return [{"mempool_alloc": alloc}, *inner, {"mempool_free": free}]
        if kind == "repeat":
            body = inner or self.steps(depth + 1, daemon, atomic) if depth < 2 else inner
            if not body:
                return [{"complete": self.name(COMPLETIONS)}]
            loop: dict[str, Any] = {"steps": body}
            if daemon and self.chance(2):
                loop["forever"] = True
            else:
                loop["times"] = self.odd(st.integers(1, 3))
            return [{"repeat": loop}]
        if kind == "leak":  # an allocation that keeps nothing: fine if it fails
            return [{"alloc_pages": {"gfp": self.gfp()}}]
        # revision 2: failure and control flow
        if kind == "trylock":
            spin = self.chance(3)
            lock = self.name(SPINLOCKS if spin else MUTEXES)
            op = "spin" if spin else "mutex"
            on_fail: Any = self.pick(ON_FAIL_WORDS)
            if self.chance(3):  # a list: it does not hold the lock after it
                on_fail = [{"complete": self.name(COMPLETIONS)}]
                return [
                    {f"{op}_trylock": {"lock": lock, "on_fail": on_fail}},
                    {"if": {"held": lock, "then": [*inner, {f"{op}_unlock": lock}]}},
                ]
            try_ = {f"{op}_trylock": {"lock": lock, "on_fail": self.odd(on_fail, 20)}}
            return [try_, *inner, {f"{op}_unlock": lock}]
        if kind == "back-off":  # for (;;) { lock(B); if (trylock(A)) break; unlock(B); }
            b, a = ("M", "L") if self.chance(2) else ("L", "M")
            back: list[Any] = [{"mutex_unlock": b}, "continue"]
            body = [{"mutex_lock": b}, {"mutex_trylock": {"lock": a, "on_fail": back}}, "break"]
            return [{"loop": {"steps": body}}, *inner, {"mutex_unlock": a}, {"mutex_unlock": b}]
        if kind == "fallback":  # GFP_NOWAIT, then a sleeping allocation on NULL
            h = self.handle()
            retry: Any = [{"alloc_pages": {"gfp": self.gfp(), "as": h}}]
            if self.chance(3):
                retry = self.pick(ON_FAIL_WORDS)
            alloc = {"gfp": "GFP_NOWAIT", "as": h, "on_fail": retry}
            return [{"alloc_pages": alloc}, *inner, {"free_pages": h}]
        if kind == "if":
            h = self.handle()
            then = [{"free_pages": h}]
            cond = "not_null" if self.chance(2) else "null"
            arms = (then, inner) if cond == "not_null" else (inner, then)
            branch = {cond: h, "then": arms[0] or [{"complete": self.name(COMPLETIONS)}]}
            if arms[1]:
                branch["else"] = arms[1]
            return [{"alloc_pages": {"gfp": self.gfp(), "as": h}}, {"if": branch}]
        if kind == "call":
            return [{"call": self.name(FUNCTIONS)}]
        return [{self.pick(SIMPLE_STEPS): self.name(COMPLETIONS)}]

    def noise_step(self) -> Any:
        kind = self.pick(NOISE_STEPS)
        if kind.startswith("memalloc_"):
            return {kind: self.odd(None, 3)}
        if kind == "repeat":
            broken: list[dict[str, Any]] = [{"forever": True, "steps": []}, {"times": 2}, {}]
            return {"repeat": broken[self.below(len(broken))]}
        if kind == "break":  # outside a loop
            return "break" if self.chance(2) else {"continue": None}
        if kind == "call":  # unknown, or recursive
            return {"call": self.pick(("nosuch", "loops", *FUNCTIONS))}
        if kind == "if":  # no condition, an unknown handle
            broken_if: list[dict[str, Any]] = [{"then": []}, {"null": "h9", "then": []}]
            return {"if": broken_if[self.below(len(broken_if))]}
        if kind == "mutex_trylock":  # without on_fail
            return {kind: self.pick(MUTEXES)}
        if "free" in kind:
            return {kind: self.pick(("h1", "h9", None, "nosuch"))}
        return {kind: self.odd(self.name(LOCKS), 3)}

    # the rest of the document

    def task(self) -> Any:
        daemon = self.chance(6)
        self.handles = 0
        out: dict[str, Any] = {"steps": self.steps(0, daemon)}
        if daemon:
            out["daemon"] = True
        if self.chance(6):
            out["count"] = self.odd(st.integers(1, 3))
        if self.chance(5):
            out["flags"] = self.draw(st.lists(_one_of(TASK_FLAGS), max_size=2, unique=True))
        if self.chance(8):
            out["context"] = self.pick(("process", "softirq", "irq"))
        if self.chance(7):
            out["rt"] = self.odd(st.booleans())
        if self.chance(3):
            out["rss"] = self.odd(_below(9))
        if self.chance(7):
            out["oom_score_adj"] = self.odd(_one_of((-1000, -500, 0, 500, 1000)))
        if self.chance(6):
            out["oom_victim"] = True
        if self.chance(7):
            out["mm_reapable"] = self.odd(st.booleans())
        return self.odd(out, 40)

    def memory(self) -> dict[str, Any]:
        free, min_ = self.below(13), self.below(7)
        out: dict[str, Any] = {"free": self.odd(free), "min": self.odd(min_)}
        if self.chance(5):
            out["low"] = min_ + self.below(3) if not self.noisy else self.below(9)
            out["high"] = out["low"] + self.below(3) if not self.noisy else self.below(9)
        if self.chance(3):
            entries = []
            for _ in range(1 + self.below(2)):
                entry: dict[str, Any] = {"pages": self.odd(_below(7))}
                if self.chance(2):
                    needs = ("__GFP_IO", "__GFP_FS") + (("GFP_X",) if self.noisy else ())
                    entry["needs"] = [self.pick(needs) for _ in range(self.below(3))]
                if self.chance(3):
                    entry["locks"] = [self.name(MUTEXES + SPINLOCKS) for _ in range(self.below(3))]
                if self.chance(4):
                    entry["waits"] = self.name(COMPLETIONS)
                entries.append(entry)
            out["reclaimable"] = entries
        return out

    def kernel(self) -> Any:
        if self.chance(2):
            return self.odd(_one_of((*PRESET_NAMES, *(("v9.9",) if self.noisy else ()))))
        kernel: dict[str, Any] = {"base": self.pick(PRESET_NAMES)}
        for knob in self.draw(st.lists(_one_of(tuple(KNOBS)), max_size=2, unique=True)):
            kernel[knob] = self.odd(_one_of(KNOBS[knob]))
        return kernel

    def expect(self) -> Any:
        shape = self.below(3)
        if shape == 0:
            return self.pick(OUTCOME_WORDS)
        if shape == 1:
            listed = self.draw(st.lists(_one_of(FOUND), min_size=1, max_size=3, unique=True))
            return [*listed, "ok"] if self.noisy and self.chance(4) else listed
        return {self.pick(EXPECT_KEYS): self.pick(OUTCOME_WORDS) for _ in range(1 + self.below(3))}

    def scenario(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if self.chance(2):
            doc["mpsim"] = self.odd(1)
        if self.chance(4):
            doc["name"] = self.odd(_one_of(("fuzz", "a b", "ünï")))
        if self.chance(3):
            doc["kernel"] = self.kernel()
        if not self.chance(4):
            doc["memory"] = self.memory()
        if self.chance(4):
            oom: dict[str, Any] = {"killer": self.odd(st.booleans())}
            if self.chance(2):
                oom["reaper"] = self.pick(("none", "reap", "reap_or_skip"))
            doc["oom"] = oom
        doc["pools"] = {name: self.pool() for name in POOLS}
        doc["locks"] = {n: "mutex" for n in MUTEXES} | {n: "spinlock" for n in SPINLOCKS}
        if self.noisy and self.chance(4):
            doc["locks"]["M"] = self.odd("semaphore", 1)
        if self.chance(2):
            doc["completions"] = list(COMPLETIONS)
        else:
            doc["completions"] = {n: self.odd(_below(2)) for n in COMPLETIONS}
        doc["functions"] = {
            "signal": {"steps": [{"complete": self.name(COMPLETIONS)}]},
            "kick": {"steps": [{"call": "signal"}, {"complete_all": self.name(COMPLETIONS)}]},
        }
        if self.noisy and self.chance(4):
            doc["functions"]["loops"] = {"steps": [{"call": "loops"}]}
        doc["tasks"] = {name: self.task() for name in self.some(TASK_NAMES, 3)}
        if self.chance(2):
            doc["expect"] = self.expect()
        if self.noisy and self.chance(5):
            doc[self.pick(("task", "extra", "memroy"))] = 1
        if self.noisy and self.chance(5):
            del doc[self.pick(tuple(doc))]
        return doc

    def pool(self) -> dict[str, Any]:
        pool: dict[str, Any] = {"min_nr": self.odd(_below(3))}
        if self.chance(3):
            pool["order"] = self.below(2)
        return pool

    def some(self, names: tuple[str, ...], most: int) -> list[str]:
        return list(self.draw(st.lists(_one_of(names), min_size=1, max_size=most, unique=True)))


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A scenario as the Python value of its YAML document; about two in three are valid."""
    return _Gen(draw).scenario()


def scenario_texts() -> st.SearchStrategy[str]:
    """Scenario documents as YAML text, block or flow style."""
    return st.tuples(scenarios(), st.booleans()).map(lambda pair: to_yaml(*pair))


def to_yaml(doc: Any, flow: bool = False) -> str:
    return yaml.dump(
        doc,
        Dumper=_DUMPER,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=True if flow else None,
    )


_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


# --- the shipped scenarios, mutated -------------------------------------------

REPLACEMENTS = (
    "",
    "~",
    "null",
    "[]",
    "{}",
    "[1, 2]",
    "{a: 1}",
    "-1",
    "0",
    "99999999999999999999999",
    "1.5",
    "yes",
    "true",
    "'quoted'",
    '"4"',
    "GFP_KERNEL |",
    "GFP_KERNL",
    "&anchor x",
    "*alias",
    "!!python/object/apply:os.system ['true']",
    "!custom x",
    "<<: {a: 1}",
    "- item",
    "{unclosed",
    "[unclosed",
    "'unterminated",
    "é\u2028x",
    "\t",
    "%YAML 1.2",
    "--- second",
    "...",
    "mutex",
    "spinlock",
    "pool0",
    "M",
    "latest",
    "deadlock",
)


KEYS = (
    "tasks", "steps", "memory", "free", "min", "pools", "locks", "expect", "as", "gfp", "count",
    "repeat", "kernel", "daemon", "bogus", "mutex_lock", "pool", "times", "forever", "<<",
)  # fmt: skip
MUTATIONS = (
    "delete",
    "duplicate",
    "swap",
    "replace_value",
    "replace_key",
    "swap_values",
    "indent",
    "truncate",
    "insert_bytes",
    "set_byte",
)


@st.composite
def mutated_texts(draw: st.DrawFn) -> bytes:
    """A seed scenario with one to four edits, as bytes (edits may break UTF-8)."""
    data = SEED_BYTES[draw(_below(len(SEED_BYTES)))]
    for _ in range(draw(st.integers(1, 4))):
        data = mutate(draw, data)
    return data


SEED_BYTES = tuple(path.read_bytes() for path in SEEDS)


def mutate(draw: st.DrawFn, data: bytes) -> bytes:
    """One edit of ``data``: a line-level change to its YAML, or a byte-level one."""
    op = draw(_one_of(MUTATIONS))
    if op == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if op == "insert_bytes":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    if op == "set_byte":
        if not data:
            return data
        at = draw(_below(len(data)))
        return data[:at] + bytes([draw(_below(256))]) + data[at + 1 :]
    lines = data.split(b"\n")
    i, j = draw(_below(len(lines))), draw(_below(len(lines)))
    line = lines[i]
    if op == "delete":
        del lines[i]
    elif op == "duplicate":  # a duplicate key, or a list item twice
        lines.insert(i, line)
    elif op == "swap":
        lines[i], lines[j] = lines[j], line
    elif op == "replace_value":
        cut = line.find(b": ")
        if cut < 0:
            cut = line.find(b"- ")
        head = line[: cut + 2] if cut >= 0 else line[: len(line) - len(line.lstrip())]
        lines[i] = head + draw(_one_of(REPLACEMENTS)).encode("utf-8")
    elif op == "replace_key":
        stripped = line.lstrip(b" -")
        cut = stripped.find(b":")
        if cut >= 0:
            key = draw(_one_of(KEYS)).encode()
            lines[i] = line[: len(line) - len(stripped)] + key + stripped[cut:]
    elif op == "swap_values":
        a, b = line.partition(b": "), lines[j].partition(b": ")
        if a[1] and b[1]:
            lines[i], lines[j] = a[0] + a[1] + b[2], b[0] + b[1] + a[2]
    else:  # indent
        delta = draw(_one_of((-4, -2, -1, 1, 2, 4)))
        lines[i] = line[-delta:] if delta < 0 else b" " * delta + line
    return b"\n".join(lines)
