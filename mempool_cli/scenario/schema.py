"""The one declarative description of scenario format v1, and the JSON Schema made from it.

Every key the format knows, with its type, bounds, default and a line of
help, is written down once here as a tree of small frozen descriptors
(``Record``, ``MapOf``, ``ListOf``, ``Int``, ... from ``descriptors.py``);
the step forms are made from the table of step kinds in ``steps.py``, so a
step kind is declared there and nowhere here. The loader
(``loader.py``) walks YAML nodes against this tree to check keys, types
and bounds, and ``json_schema`` turns the same tree into a draft 2020-12
JSON Schema for editors, so the two cannot drift. Rules that need more
than one value at a time (names that must resolve, handles bound before
use, ``min <= low <= high``) live in the loader.

This module does not import yaml.
"""

from __future__ import annotations

from typing import Any

from mempool_cli.scenario.descriptors import (
    LIMITS,
    AnyOf,
    Bool,
    Choice,
    Empty,
    Field,
    Gfp,
    Int,
    ListOf,
    MapOf,
    Name,
    OneKey,
    Preset,
    Record,
    Ref,
    Str,
    Type,
)
from mempool_cli.scenario.gfp import COMPOSITE, FLAGS
from mempool_cli.scenario.kernels import KNOB_ALIASES, KNOBS, PRESET_NAMES, VERSION_PATTERN
from mempool_cli.scenario.spec import OUTCOMES
from mempool_cli.scenario.steps import COMPARISONS, COUNTER_VALUE, STEP_KINDS, StepKind

__all__ = [
    "CONTEXTS",
    "FORMAT_VERSION",
    "GFP_NAMES",
    "LIMITS",
    "LOCK_KINDS",
    "NAME_PATTERN",
    "SCENARIO",
    "STEP",
    "STEP_FORMS",
    "TASK_FLAGS",
    "AnyOf",
    "Bool",
    "Choice",
    "Empty",
    "Field",
    "Gfp",
    "Int",
    "ListOf",
    "MapOf",
    "Name",
    "OneKey",
    "Preset",
    "Record",
    "Ref",
    "Str",
    "Type",
    "json_schema",
    "resolve",
]

FORMAT_VERSION = 1
NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_.-]*"
TASK_FLAGS: tuple[str, ...] = ("PF_MEMALLOC", "PF_MEMALLOC_NOIO", "PF_MEMALLOC_NOFS", "PF_KTHREAD")
CONTEXTS: tuple[str, ...] = ("process", "softirq", "irq")
LOCK_KINDS: tuple[str, ...] = ("mutex", "spinlock", "rwsem")
GFP_NAMES: tuple[str, ...] = (*COMPOSITE, *FLAGS)


# --- format v1 ---------------------------------------------------------------

_PAGES = Int(0, LIMITS.pages)
_LOCK = Name("lock")
_COMPLETION = Name("completion")

RECLAIMABLE = Record(
    "reclaimable entry",
    (
        Field("pages", Int(0, LIMITS.pages), "pages direct reclaim can free", required=True),
        Field(
            "needs",
            ListOf(Choice(GFP_NAMES, "gfp flag")),
            "gfp flags the caller must have, after its task scope",
            (),
        ),
        Field("locks", ListOf(_LOCK), "locks the reclaimer takes, in order", ()),
        Field("waits", _COMPLETION, "completion the reclaimer waits for (swap-out, writeback)"),
        Field("name", Name("reclaimable entry"), "what reports call this entry"),
        Field(
            "trylocks",
            ListOf(_LOCK),
            "locks the reclaimer must take at once (a shrinker's mutex_trylock), "
            "else this entry gives no progress on this pass",
            (),
        ),
    ),
)

MEMORY = Record(
    "memory",
    (
        Field("free", _PAGES, "free pages at start", 16),
        Field("min", _PAGES, "min watermark, in pages", 4),
        Field("low", _PAGES, "kswapd wake-up mark; the fast path's mark (default min + min/4)"),
        Field("high", _PAGES, "the last attempt before an OOM kill (default min + min/2)"),
        Field("reclaimable", ListOf(RECLAIMABLE), "what direct reclaim can free", ()),
    ),
)

OOM = Record(
    "oom",
    (
        Field("killer", Bool(), "whether the OOM killer runs", True),
        Field(
            "reaper",
            Choice(tuple(map(str, KNOBS["oom_reaper"])), "oom reaper"),
            "overrides the preset",
        ),
    ),
)

POOL = Record(
    "pool",
    (
        Field(
            "min_nr",
            Int(0, LIMITS.min_nr),
            "reserved elements; the pool starts full",
            required=True,
        ),
        Field("order", Int(0, LIMITS.order), "each element is 2^order pages", 0),
    ),
)


def _knob_type(knob: str, values: tuple[str | bool, ...]) -> Type:
    if all(isinstance(v, bool) for v in values):
        return Bool()
    return Choice(tuple(str(v) for v in values), f"{knob} value")


_PRESET = Preset(PRESET_NAMES, VERSION_PATTERN)

KERNEL = AnyOf(
    (
        _PRESET,
        Record(
            "kernel",
            (
                Field(
                    "base",
                    _PRESET,
                    "the preset to start from (a preset name or a kernel version)",
                    required=True,
                ),
                *(
                    Field(k, _knob_type(k, v), f"knob: one of {', '.join(map(str, v))}")
                    for k, v in KNOBS.items()
                ),
                *(
                    Field(k, Bool(), "older spelling of " + ", ".join(v[True]))
                    for k, v in KNOB_ALIASES.items()
                ),
            ),
        ),
    ),
    "a preset name, a kernel version, or a {base: PRESET, knob: value} mapping",
)


def _step_value(kind: StepKind) -> Type:
    """The descriptor of a step kind's value, from the args of its row in ``steps.py``."""
    whole = [arg for arg in kind.args if arg.key is None]
    keys = [arg for arg in kind.args if arg.key is not None]
    record = Record(
        kind.name,
        tuple(Field(a.key, a.type, a.doc, a.default, a.required) for a in keys if a.key),
    )
    if not kind.args:
        return Empty()
    if not keys:
        return whole[0].type
    if not whole:
        return record
    mapping = "{" + ", ".join(a.key for a in keys if a.key) + "}"
    return AnyOf((whole[0].type, record), f"a {whole[0].names} or a {mapping} mapping")


# The conditions of an `if` (revision 2), each a key of its mapping naming what it tests.
IF_CONDITIONS: tuple[tuple[str, str, str], ...] = (
    ("null", "handle", "the handle is null (its allocation failed, or it was never bound)"),
    ("not_null", "handle", "the handle is not null"),
    ("held", "lock", "the task holds the lock"),
    # revision 2, counters: `counter: C` with exactly one of the comparisons below
    ("counter", "counter", "the counter compares with N as eq/ne/lt/ge says"),
)
# The comparison keys of a counter condition (`if` and `wait_event*`): key -> C operator.
IF_COMPARISONS = COMPARISONS
_STEPS = ListOf(Ref("step"))

STEP_FORMS: tuple[Field, ...] = (
    *(Field(kind.name, _step_value(kind), kind.doc) for kind in STEP_KINDS.values()),
    Field(
        "repeat",
        Record(
            "repeat",
            (
                Field("times", Int(1, LIMITS.repeat_times), "how many times to run the body"),
                Field("forever", Bool(), "loop forever (daemon tasks only); must be true"),
                Field("steps", ListOf(Ref("step")), "the body", required=True),
            ),
        ),
        "a loop: {times: N, steps} or {forever: true, steps}",
    ),
    Field(
        "loop",
        Record("loop", (Field("steps", _STEPS, "the body", required=True),)),
        "repeat the steps until a break",
    ),
    Field("break", Empty(), "leave the innermost loop"),
    Field("continue", Empty(), "go back to the first step of the innermost loop"),
    Field(
        "if",
        Record(
            "if",
            (
                *(Field(key, Name(what), doc) for key, what, doc in IF_CONDITIONS),
                *(
                    Field(key, COUNTER_VALUE, f"with counter: the condition is counter {op} N")
                    for key, op in IF_COMPARISONS.items()
                ),
                Field("then", _STEPS, "the steps run when the condition holds", required=True),
                Field("else", _STEPS, "the steps run when it does not", ()),
            ),
        ),
        "run one branch: {null: H | not_null: H | held: L | counter: C, eq|ne|lt|ge: N, "
        "then: [...], else: [...]}",
    ),
    Field("call", Name("function"), "run a function's steps as if written here"),
)

# A step with no value may be written as the bare word: `- break`, `- local_irq_disable`.
STEP = OneKey(
    "step",
    STEP_FORMS,
    bare=("break", "continue", *(k.name for k in STEP_KINDS.values() if not k.args)),
)

TASK = Record(
    "task",
    (
        Field("steps", ListOf(Ref("step")), "the kernel code path, as steps", required=True),
        Field(
            "count", Int(1, LIMITS.count), "identical copies, named name[0] ... name[count-1]", 1
        ),
        Field("flags", ListOf(Choice(TASK_FLAGS, "task flag")), "PF_* flags", ()),
        Field("context", Choice(CONTEXTS, "context"), "process, softirq or irq", "process"),
        Field("rt", Bool(), "real-time task (ALLOC_HARDER)", False),
        Field("rss", _PAGES, "user pages, freed on exit or by the reaper", 0),
        Field("oom_score_adj", Int(-1000, 1000), "-1000 is never chosen by the OOM killer", 0),
        Field("oom_victim", Bool(), "already an OOM victim with SIGKILL pending", False),
        Field("mm_reapable", Bool(), "false: the OOM reaper cannot free this task's memory", True),
        Field(
            "mm_lock",
            Name("lock"),
            "the rwsem standing for this task's mmap_lock (the OOM reaper read-trylocks it)",
        ),
        Field("daemon", Bool(), "need not finish; may loop forever", False),
        Field(
            "interrupts",
            Name("task"),
            "an irq or softirq handler that runs on this process task's CPU (revision 2)",
        ),
    ),
)

FUNCTION = Record(
    "function", (Field("steps", ListOf(Ref("step")), "the steps 'call:' runs", required=True),)
)

_OUTCOME = Choice(OUTCOMES, "outcome")
_OUTCOMES = AnyOf((_OUTCOME, ListOf(_OUTCOME)), "an outcome or a list of outcomes")

EXPECT = AnyOf(
    (
        _OUTCOME,
        ListOf(_OUTCOME),
        MapOf(Choice((*PRESET_NAMES, "default"), "kernel preset"), _OUTCOMES),
    ),
    "an outcome, a list of outcomes, or a mapping preset -> outcome(s)",
)

COMPLETIONS = AnyOf(
    (ListOf(_COMPLETION), MapOf(_COMPLETION, Int(0, LIMITS.completion_initial))),
    "a list of names or a mapping name -> initial count",
)

# revision 2, "State a condition waits on": name -> initial value, or {initial, max}
COUNTER_MAX_DEFAULT = 64
COUNTER = AnyOf(
    (
        COUNTER_VALUE,
        Record(
            "counter",
            (
                Field("initial", COUNTER_VALUE, "the value at start", 0),
                Field(
                    "max",
                    COUNTER_VALUE,
                    "the highest value it may take (above: a violation)",
                    COUNTER_MAX_DEFAULT,
                ),
            ),
        ),
    ),
    "an initial value or an {initial, max} mapping",
)

# revision 2, "Work handed to another context": name -> {capacity: N}
QUEUE_CAPACITY_DEFAULT = 64
QUEUE = Record(
    "queue",
    (
        Field(
            "capacity",
            Int(1, LIMITS.queue_capacity),
            "the items it holds at most; an enqueue onto a full queue sleeps",
            QUEUE_CAPACITY_DEFAULT,
        ),
    ),
)

SCENARIO = Record(
    "scenario",
    (
        Field("mpsim", Int(FORMAT_VERSION, FORMAT_VERSION), "format version", FORMAT_VERSION),
        Field("name", Str(), "scenario name (default: the file stem)"),
        Field("description", Str(), "what the scenario shows", ""),
        Field("references", ListOf(Str()), "commits, threads, documents", ()),
        Field("kernel", KERNEL, "the kernel behaviour to model", "latest"),
        Field("memory", MEMORY, "the single memory zone"),
        Field("oom", OOM, "OOM killer settings"),
        Field("pools", MapOf(Name("pool"), POOL), "mempools, full at start", {}),
        Field(
            "locks",
            MapOf(Name("lock"), Choice(LOCK_KINDS, "lock kind")),
            "mutexes and spinlocks",
            {},
        ),
        Field("completions", COMPLETIONS, "struct completion objects", {}),
        Field(
            "counters",
            MapOf(Name("counter"), COUNTER),
            "atomic counters wait_event and if test (below 0 or above max: a violation)",
            {},
        ),
        Field(
            "queues",
            MapOf(Name("queue"), QUEUE),
            "bio lists, workqueues, completion rings: FIFO queues that enqueue hands work to",
            {},
        ),
        Field(
            "functions",
            MapOf(Name("function"), FUNCTION),
            "named step lists that 'call:' runs in place",
            {},
        ),
        Field("tasks", MapOf(Name("task"), TASK), "the tasks, at least one", required=True),
        Field("expect", EXPECT, "what the scenario must show"),
    ),
)

DEFS: dict[str, Type] = {"step": STEP}


def resolve(t: Type) -> Type:
    """Follow a ``Ref`` to its descriptor.

    >>> resolve(Ref("step")) is STEP
    True
    """
    return DEFS[t.name] if isinstance(t, Ref) else t


# --- JSON Schema -------------------------------------------------------------

_GFP_OPERAND = (
    "(?:" + "|".join(sorted(GFP_NAMES, key=len, reverse=True)) + r"|0x[0-9a-fA-F]+|[0-9]+)"
)
_GFP_TERM = r"[~(\s]*" + _GFP_OPERAND + r"[)\s]*"
GFP_PATTERN = rf"^\s*{_GFP_TERM}(?:[|&]\s*{_GFP_TERM})*$"
GFP_MESSAGE = (
    "not a gfp mask: GFP_* masks and __GFP_* flags joined by | or & ~, "
    "e.g. GFP_NOIO | __GFP_NOFAIL (mpsim check names the unknown flag)"
)


def _json(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_json(v) for v in value]
    return value


def _schema(t: Type) -> dict[str, Any]:
    if isinstance(t, Int):
        if t.lo == t.hi:
            return {"type": "integer", "const": t.lo}
        return {"type": "integer", "minimum": t.lo, "maximum": t.hi}
    if isinstance(t, Bool):
        return {"type": "boolean"}
    if isinstance(t, Str):
        return {"type": "string"}
    if isinstance(t, Name):
        return {"type": "string", "pattern": f"^{NAME_PATTERN}$"}
    if isinstance(t, Choice):
        return {"type": "string", "enum": list(t.values)}
    if isinstance(t, Preset):
        return {
            "anyOf": [
                {"type": "string", "enum": list(t.names)},
                {"type": "string", "pattern": f"^{t.version}$"},
            ]
        }
    if isinstance(t, Gfp):
        # One type list rather than anyOf: a bad mask then gets one short message.
        return {
            "type": ["string", "integer"],
            "pattern": GFP_PATTERN,
            "minimum": 0,
            "patternErrorMessage": GFP_MESSAGE,
            "examples": [
                *COMPOSITE,
                "GFP_KERNEL | __GFP_NOFAIL",
                "GFP_NOIO & ~__GFP_DIRECT_RECLAIM",
            ],
        }
    if isinstance(t, Empty):
        return {"anyOf": [{"type": "null"}, {"type": "object", "maxProperties": 0}]}
    if isinstance(t, Ref):
        return {"$ref": f"#/$defs/{t.name}"}
    if isinstance(t, ListOf):
        return {"type": "array", "items": _schema(t.item)}
    if isinstance(t, MapOf):
        if isinstance(t.key, Choice):
            value = _schema(t.value)
            return {
                "type": "object",
                "properties": {k: value for k in t.key.values},
                "additionalProperties": False,
            }
        return {
            "type": "object",
            "propertyNames": _schema(t.key),
            "additionalProperties": _schema(t.value),
        }
    if isinstance(t, Record):
        out: dict[str, Any] = {
            "type": "object",
            "properties": {f.key: _property(f) for f in t.fields},
            "additionalProperties": False,
        }
        required = [f.key for f in t.fields if f.required]
        if required:
            out["required"] = required
        return out
    if isinstance(t, OneKey):
        # One object that knows every form, and at most one key of it: a misspelt or a
        # second key is one diagnostic, and an editor offers each form once.
        one: dict[str, Any] = {
            "type": "object",
            "properties": {f.key: _property(f) for f in t.forms},
            "additionalProperties": False,
            "minProperties": 1,
            "maxProperties": 1,
        }
        if not t.bare:
            return one
        # A step with no value may be written as a bare word (`- break`): still one schema,
        # whose object keywords do not apply to a string, and a string must be such a word.
        return {
            **one,
            "type": ["object", "string"],
            "if": {"type": "string"},
            "then": {"enum": list(t.bare), "description": "a step with no value"},
        }
    if isinstance(t, AnyOf):
        return {"anyOf": [_schema(o) for o in t.options], "description": t.what}
    raise TypeError(f"no JSON Schema for descriptor {t!r}")


def _property(f: Field) -> dict[str, Any]:
    out = dict(_schema(f.type))
    out["description"] = f.doc
    if not f.required and f.default is not None:
        out["default"] = _json(f.default)
    return out


def json_schema() -> dict[str, Any]:
    """A draft 2020-12 JSON Schema of format v1, made from the same descriptors the loader checks.

    It cannot express what needs the whole file (names that resolve,
    handles bound before use), but it knows every key, step, preset,
    knob, outcome and gfp flag, which is what editors complete.

    >>> s = json_schema()
    >>> s["required"], "mutex_lock" in str(s["$defs"]["step"])
    (['tasks'], True)
    """
    out = _schema(SCENARIO)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:mpsim:scenario:v1",
        "title": "mpsim scenario, format v1",
        "description": "A Linux mempool / page-allocator scenario for mpsim.",
        **out,
        "$defs": {name: _schema(t) for name, t in DEFS.items()},
    }
