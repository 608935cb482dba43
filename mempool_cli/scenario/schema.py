"""The one declarative description of scenario format v1, and the JSON Schema made from it.

Every key the format knows, with its type, bounds, default and a line of
help, is written down once here as a tree of small frozen descriptors
(``Record``, ``MapOf``, ``ListOf``, ``Int``, ...). The loader
(``loader.py``) walks YAML nodes against this tree to check keys, types
and bounds, and ``json_schema`` turns the same tree into a draft 2020-12
JSON Schema for editors, so the two cannot drift. Rules that need more
than one value at a time (names that must resolve, handles bound before
use, ``min <= low <= high``) live in the loader.

This module does not import yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from mempool_cli.scenario.gfp import COMPOSITE, FLAGS
from mempool_cli.scenario.kernels import KNOBS, PRESET_NAMES
from mempool_cli.scenario.spec import OUTCOMES

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
LOCK_KINDS: tuple[str, ...] = ("mutex", "spinlock")
GFP_NAMES: tuple[str, ...] = (*COMPOSITE, *FLAGS)


@dataclass(frozen=True, slots=True)
class Limits:
    """Upper bounds that keep a scenario (and its state space) sane; each breach is an error."""

    file_bytes: int = 1 << 20
    yaml_depth: int = 64
    tasks: int = 64  # after count expansion
    count: int = 64
    repeat_times: int = 1000
    repeat_nesting: int = 16
    task_steps: int = 10_000  # after unrolling repeats
    pages: int = 1_000_000  # free, min, low, high, rss, reclaimable pages
    min_nr: int = 1024
    order: int = 10
    completion_initial: int = 1000


LIMITS = Limits()


# --- descriptors -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Int:
    """An integer in ``lo..hi`` (a plain YAML scalar; booleans and quoted strings are refused)."""

    lo: int
    hi: int


@dataclass(frozen=True, slots=True)
class Bool:
    """``true`` or ``false`` (YAML 1.1 ``yes``/``no``/``on``/``off`` are refused as ambiguous)."""


@dataclass(frozen=True, slots=True)
class Str:
    """Free text: any non-null scalar, taken as written."""


@dataclass(frozen=True, slots=True)
class Name:
    """A name matching ``NAME_PATTERN``; ``what`` says what it names, for messages."""

    what: str


@dataclass(frozen=True, slots=True)
class Choice:
    """One of a fixed set of words; ``what`` names the set, for messages."""

    values: tuple[str, ...]
    what: str


@dataclass(frozen=True, slots=True)
class Gfp:
    """A gfp mask expression, parsed by ``gfp.parse_gfp``."""


@dataclass(frozen=True, slots=True)
class Empty:
    """No value: ``null`` or ``{}`` (the ``memalloc_*`` steps)."""


@dataclass(frozen=True, slots=True)
class Ref:
    """A named descriptor in ``DEFS``, so that steps can contain steps."""

    name: str


@dataclass(frozen=True, slots=True)
class ListOf:
    item: Type


@dataclass(frozen=True, slots=True)
class MapOf:
    """A mapping from names (or from ``key`` choices) to values of one type."""

    key: Name | Choice
    value: Type


@dataclass(frozen=True, slots=True)
class Field:
    """One key of a ``Record``. ``default`` is used when the key is absent."""

    key: str
    type: Type
    doc: str
    default: Any = None
    required: bool = False


@dataclass(frozen=True, slots=True)
class Record:
    """A mapping with a fixed set of keys; any other key is an error."""

    what: str
    fields: tuple[Field, ...]

    def field(self, key: str) -> Field | None:
        """The field named ``key``, or None.

        >>> MEMORY.field("free").default
        16
        """
        for f in self.fields:
            if f.key == key:
                return f
        return None


@dataclass(frozen=True, slots=True)
class OneKey:
    """A mapping with exactly one key, chosen from ``forms`` (a step)."""

    what: str
    forms: tuple[Field, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """One of several shapes, told apart by node kind (scalar, list, mapping)."""

    options: tuple[Type, ...]
    what: str


Type: TypeAlias = (
    Int | Bool | Str | Name | Choice | Gfp | Empty | Ref | ListOf | MapOf | Record | OneKey | AnyOf
)


# --- format v1 ---------------------------------------------------------------

_PAGES = Int(0, LIMITS.pages)
_HANDLE = Name("handle")
_LOCK = Name("lock")
_POOL = Name("pool")
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


KERNEL = AnyOf(
    (
        Choice(PRESET_NAMES, "kernel preset"),
        Record(
            "kernel",
            (
                Field(
                    "base",
                    Choice(PRESET_NAMES, "kernel preset"),
                    "the preset to start from",
                    required=True,
                ),
                *(
                    Field(k, _knob_type(k, v), f"knob: one of {', '.join(map(str, v))}")
                    for k, v in KNOBS.items()
                ),
            ),
        ),
    ),
    "a preset name or a {base: PRESET, knob: value} mapping",
)

_NO_VALUE = Empty()
_GFP_FIELD = Field(
    "gfp", Gfp(), "gfp mask expression, e.g. GFP_KERNEL | __GFP_NOFAIL", required=True
)
_AS_FIELD = Field("as", _HANDLE, "handle bound to the result (null on failure)")

STEP_FORMS: tuple[Field, ...] = (
    Field(
        "alloc_pages",
        Record(
            "alloc_pages",
            (_GFP_FIELD, Field("order", Int(0, LIMITS.order), "2^order pages", 0), _AS_FIELD),
        ),
        "alloc_pages(gfp, order)",
    ),
    Field("free_pages", _HANDLE, "__free_pages of a handle; null is a no-op"),
    Field(
        "mempool_alloc",
        Record(
            "mempool_alloc",
            (Field("pool", _POOL, "the pool", required=True), _GFP_FIELD, _AS_FIELD),
        ),
        "mempool_alloc(pool, gfp)",
    ),
    Field(
        "mempool_free",
        AnyOf(
            (
                _HANDLE,
                Record(
                    "mempool_free",
                    (
                        Field("handle", _HANDLE, "the element to free", required=True),
                        Field("pool", _POOL, "the pool it is returned to (default: its own)"),
                    ),
                ),
            ),
            "a handle or a {handle, pool} mapping",
        ),
        "mempool_free of a handle",
    ),
    Field("mutex_lock", _LOCK, "uninterruptible sleep on a mutex"),
    Field("mutex_lock_killable", _LOCK, "killable sleep on a mutex"),
    Field("mutex_unlock", _LOCK, "release a mutex"),
    Field("spin_lock", _LOCK, "take a spinlock (atomic context until spin_unlock)"),
    Field("spin_unlock", _LOCK, "release a spinlock"),
    Field("wait_for_completion", _COMPLETION, "uninterruptible wait"),
    Field("wait_for_completion_killable", _COMPLETION, "killable wait"),
    Field("complete", _COMPLETION, "wake one waiter"),
    Field("complete_all", _COMPLETION, "wake every waiter, for good"),
    Field("memalloc_noio_save", _NO_VALUE, "open a NOIO scope"),
    Field("memalloc_noio_restore", _NO_VALUE, "close a NOIO scope"),
    Field("memalloc_nofs_save", _NO_VALUE, "open a NOFS scope"),
    Field("memalloc_nofs_restore", _NO_VALUE, "close a NOFS scope"),
    Field("memalloc_noreclaim_save", _NO_VALUE, "open a PF_MEMALLOC scope"),
    Field("memalloc_noreclaim_restore", _NO_VALUE, "close a PF_MEMALLOC scope"),
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
)

STEP = OneKey("step", STEP_FORMS)

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
        Field("daemon", Bool(), "need not finish; may loop forever", False),
    ),
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
        return {
            "type": "object",
            "properties": {f.key: _property(f) for f in t.forms},
            "additionalProperties": False,
            "minProperties": 1,
            "maxProperties": 1,
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
