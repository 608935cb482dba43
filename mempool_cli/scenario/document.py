"""A scenario file as plain data and back: what ``mpsim shrink`` edits and writes.

The loader (loader.py) turns text into spec objects with positions; this
module only reads the YAML document into dicts, lists and scalars, and
writes such data back as YAML the loader reads again: block style, with
mappings of several scalars and short lists of scalars in flow style
(``- alloc_pages: {gfp: GFP_KERNEL, as: page}``, as the shipped scenarios
are written), keys in their order, no anchors or
aliases (the loader refuses them), and only ``true`` / ``false`` as
booleans, as the loader reads them, so a name such as ``on`` stays a word.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["MODELINE", "modeline", "read_document", "write_document"]

MODELINE = re.compile(r"# yaml-language-server: \$schema=\S+")


class _Reader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2's booleans: ``yes``, ``no``, ``on``, ``off`` are words."""


_Reader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Reader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _Writer(yaml.SafeDumper):
    """SafeDumper that never writes an alias (the loader refuses anchors)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _mapping(dumper: yaml.SafeDumper, data: dict[Any, Any]) -> yaml.MappingNode:
    """A mapping of two or more scalars in flow style (``{gfp: GFP_KERNEL, as: page}``),
    anything else in block style (``- mutex_lock: M``)."""
    node = dumper.represent_mapping("tag:yaml.org,2002:map", data)
    scalars = all(isinstance(value, yaml.ScalarNode) for _, value in node.value)
    node.flow_style = scalars and len(node.value) > 1
    return node


def _sequence(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.SequenceNode:
    """A short list of scalars in flow style (``needs: [__GFP_FS]``), else block style."""
    node = dumper.represent_sequence("tag:yaml.org,2002:seq", data)
    scalars = all(isinstance(value, yaml.ScalarNode) for value in node.value)
    node.flow_style = scalars and sum(len(str(v.value)) + 2 for v in node.value) <= 60
    return node


_Writer.add_representer(dict, _mapping)
_Writer.add_representer(list, _sequence)


def read_document(text: str) -> Any:
    """The document of a scenario text (one the loader accepts) as plain data.

    >>> read_document("locks: {on: mutex}\\ntasks: {t: {daemon: true}}\\n")
    {'locks': {'on': 'mutex'}, 'tasks': {'t': {'daemon': True}}}
    """
    return yaml.load(text, Loader=_Reader)


def write_document(data: Any, header: list[str] | None = None) -> str:
    """``data`` as YAML, after ``header`` (comment lines, written as they are).

    >>> print(write_document({"locks": {"M": "mutex"}, "tasks": {"t": {"steps": [
    ...     {"mutex_lock": "M"}, {"alloc_pages": {"gfp": "GFP_KERNEL", "as": "p"}}]}}},
    ...     ["# shrunk"]), end="")
    # shrunk
    locks:
      M: mutex
    tasks:
      t:
        steps:
        - mutex_lock: M
        - alloc_pages: {gfp: GFP_KERNEL, as: p}
    """
    body = yaml.dump(
        data,
        Dumper=_Writer,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=88,
    )
    lines = list(header or ())
    return "".join(line + "\n" for line in lines) + body


def modeline(text: str) -> str | None:
    """The ``# yaml-language-server: $schema=...`` first line of ``text``, if it has one.

    >>> modeline("# yaml-language-server: $schema=../../mpsim-schema.json\\nmpsim: 1\\n")
    '# yaml-language-server: $schema=../../mpsim-schema.json'
    """
    first = text.split("\n", 1)[0].rstrip("\r")
    return first if MODELINE.fullmatch(first) else None
