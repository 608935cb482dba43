"""The scenario library that ships with mpsim: find it, list it, look a scenario up by name.

In a wheel the library is package data under ``mempool_cli/shipped/``
(setup.py copies the repository's ``scenarios/`` there); in a checkout or
an editable install it is ``scenarios/`` beside the package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mempool_cli.errors import EnvironmentProblem, UsageError

__all__ = ["Entry", "entries", "find", "library_root", "with_local_schema"]


def library_root() -> Path:
    """The directory that holds the shipped scenarios."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "shipped", here.parent / "scenarios"):
        if candidate.is_dir() and any(candidate.rglob("*.yaml")):
            return candidate
    raise EnvironmentProblem("mpsim: the scenario library is not installed with this mpsim")


@dataclass(frozen=True, slots=True)
class Entry:
    """One shipped scenario: its name (the file's stem), its path and its topic directory."""

    name: str
    path: Path
    topic: str
    summary: str


def entries() -> list[Entry]:
    """Every shipped scenario, by topic then name."""
    root = library_root()
    out = []
    for path in sorted(root.rglob("*.yaml")):
        rel = path.relative_to(root)
        topic = rel.parts[0] if len(rel.parts) > 1 else ""
        out.append(Entry(path.stem, path, topic, _summary(path)))
    return out


def find(name: str) -> Entry:
    """The scenario called ``name`` (``rientjes-2016-oom-victim``, or ``mempool/...``)."""
    name = name.removesuffix(".yaml")
    known = entries()
    for entry in known:
        if name in (entry.name, f"{entry.topic}/{entry.name}"):
            return entry
    from difflib import get_close_matches

    close = get_close_matches(name, [e.name for e in known], n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise UsageError(f"mpsim library: no scenario '{name}'{hint}; `mpsim library` lists them")


_MODELINE = re.compile(r"^# yaml-language-server: \$schema=\S+$", re.M)


def with_local_schema(text: str) -> str:
    """A scenario's text for a copy outside the library: its schema modeline points at an
    ``mpsim-schema.json`` beside it (``mpsim schema > mpsim-schema.json`` writes one).

    >>> with_local_schema("# yaml-language-server: $schema=../../mpsim-schema.json\\nmpsim: 1\\n")
    '# yaml-language-server: $schema=mpsim-schema.json\\nmpsim: 1\\n'
    """
    return _MODELINE.sub("# yaml-language-server: $schema=mpsim-schema.json", text, count=1)


def _summary(path: Path) -> str:
    """The first sentence of the scenario's description."""
    from mempool_cli.errors import MpsimError
    from mempool_cli.scenario.loader import load_scenario

    try:
        text = " ".join(load_scenario(str(path)).description.split())
    except MpsimError:
        return ""
    end = text.find(". ")
    return text[: end + 1] if end >= 0 else text
