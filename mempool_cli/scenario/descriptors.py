"""The descriptors scenario format v1 is written in, and the limits its bounds use.

``schema.py`` describes the format as a tree of these small frozen
descriptors (``Record``, ``MapOf``, ``ListOf``, ``Int``, ...) and
``steps.py`` describes each step kind's value with them; the loader walks
YAML nodes against the tree and ``schema.json_schema`` turns it into a
JSON Schema. They live in a module of their own so that ``schema.py`` can
build its step forms from ``steps.py``'s table without an import cycle.

This module does not import yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = [
    "LIMITS",
    "AnyOf",
    "Bool",
    "Choice",
    "Empty",
    "Field",
    "Gfp",
    "Int",
    "Limits",
    "ListOf",
    "MapOf",
    "Name",
    "OneKey",
    "Preset",
    "Record",
    "Ref",
    "Str",
    "Type",
]


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
    queue_capacity: int = 1024  # revision 2, queues: items a queue holds at most


LIMITS = Limits()


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
class Preset:
    """A kernel preset by name, or a kernel version matching ``version`` (``v5.10``,
    ``5.10``, ``6.6.30``) that ``kernels.resolve_kernel`` turns into a preset."""

    names: tuple[str, ...]
    version: str


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

        >>> Record("pool", (Field("min_nr", Int(0, 9), "reserved elements"),)).field("min_nr").doc
        'reserved elements'
        """
        for f in self.fields:
            if f.key == key:
                return f
        return None


@dataclass(frozen=True, slots=True)
class OneKey:
    """A mapping with exactly one key, chosen from ``forms`` (a step); the forms named in
    ``bare`` (valueless, such as ``break``) may also be written as the bare word."""

    what: str
    forms: tuple[Field, ...]
    bare: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AnyOf:
    """One of several shapes, told apart by node kind (scalar, list, mapping)."""

    options: tuple[Type, ...]
    what: str


Type: TypeAlias = (
    Int
    | Bool
    | Str
    | Name
    | Choice
    | Preset
    | Gfp
    | Empty
    | Ref
    | ListOf
    | MapOf
    | Record
    | OneKey
    | AnyOf
)
