"""Kernel presets and their knobs, and kernel versions resolved to presets.

A ``Kernel`` is the set of behaviour switches the model reads; presets are
named rows of the contract's table plus one row per long-term kernel
(revision 2). Knobs beyond the contract's five are additions; each
preset's value of each knob, and the kernel source it was read from, is
in docs/model.md ("Kernel presets, knob by knob").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace

__all__ = [
    "KNOBS",
    "KNOB_ALIASES",
    "PRESETS",
    "PRESET_NAMES",
    "RWSEM_READER_STEALING",
    "VERSION_PATTERN",
    "Kernel",
    "asked_label",
    "expand_aliases",
    "knob_help",
    "model_key",
    "resolve_kernel",
    "rwsem_reader_steals",
]


@dataclass(frozen=True, slots=True)
class Kernel:
    """The behaviour switches of one modelled kernel. ``name`` is the preset it is based on.

    ``asked`` is the kernel version the user wrote (``--kernel 6.6.30``,
    ``kernel: v5.9``) when it was resolved to this preset; it only labels
    reports and takes no part in comparisons.
    """

    name: str
    mempool_nomemalloc: str  # [1.3 A/B/C]
    oom_reaper: str  # [5.4]
    victim_reserves: str  # [3.2], [3.3], [5.3]
    zero_min_pool: str  # [1.5]
    retry: str  # [3.5], [3.6]: v4.5, v4.7 (with the no-progress back-off), v4.12 (without)
    nofail_forces_oom: bool  # [9.4] 82553a937f12 until 06ad276ac187 (4.11)
    nofail_reserves_after_oom: bool  # [9.4] 5020e285856c (4.6)
    nofail_nopage_fallback: bool  # [9.4] 9a67f6488eca + 6c18ba7a1899 (4.11)
    nofail_no_watermarks_loop: bool  # [3.5 step 4]: 4.5's __alloc_pages_high_priority
    retry_mayfail: bool  # [0.1][3.6]: __GFP_RETRY_MAYFAIL (4.13) never OOM-kills
    asked: str = field(default="", compare=False)

    def knobs(self) -> dict[str, str | bool]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in KNOBS}

    def with_knobs(self, **knobs: str | bool) -> Kernel:
        return replace(self, **knobs)  # type: ignore[arg-type]

    @property
    def customised(self) -> bool:
        return self != PRESETS[self.name]


# knob -> allowed values, first the meaning of each.
KNOBS: dict[str, tuple[str | bool, ...]] = {
    "mempool_nomemalloc": ("always", "if_pool_nonempty", "victim_if_empty"),
    "oom_reaper": ("none", "reap", "reap_or_skip"),
    "victim_reserves": ("all", "half_min"),
    "zero_min_pool": ("poll", "one_element"),
    "retry": ("v4.5", "v4.7", "v4.12"),
    "nofail_forces_oom": (False, True),
    "nofail_reserves_after_oom": (False, True),
    "nofail_nopage_fallback": (False, True),
    "nofail_no_watermarks_loop": (False, True),
    "retry_mayfail": (False, True),
}

_KNOB_HELP = {
    "mempool_nomemalloc": "when mempool_alloc forces __GFP_NOMEMALLOC [1.3]",
    "oom_reaper": "what the OOM reaper does to a victim [5.4]",
    "victim_reserves": "how far below min an OOM victim may allocate [3.2]",
    "zero_min_pool": "what a min_nr: 0 pool does [1.5]",
    "retry": "page allocator retry policy; v4.7 scales reclaimable pages down per loop [3.5-3.6]",
    "nofail_forces_oom": "__GFP_NOFAIL skips may_oom's bail-outs and out_of_memory's !__GFP_FS "
    "return [9.4]",
    "nofail_reserves_after_oom": "__GFP_NOFAIL tries ALLOC_NO_WATERMARKS after out_of_memory [9.4]",
    "nofail_nopage_fallback": "__GFP_NOFAIL at nopage: ALLOC_HARDER attempt, then retry [9.4]",
    "nofail_no_watermarks_loop": "a NO_WATERMARKS-eligible __GFP_NOFAIL request loops without "
    "reclaim [3.5]",
    "retry_mayfail": "__GFP_REPEAT is __GFP_RETRY_MAYFAIL: retries but never OOM-kills [3.6]",
}

# Knobs of earlier mpsim versions that stand for several of today's: name -> value -> knobs.
# ``nofail_reserves`` merged three changes of [9.4] (docs/model.md).
KNOB_ALIASES: dict[str, dict[bool, dict[str, str | bool]]] = {
    "nofail_reserves": {
        False: {
            "nofail_forces_oom": True,
            "nofail_reserves_after_oom": False,
            "nofail_nopage_fallback": False,
        },
        True: {
            "nofail_forces_oom": False,
            "nofail_reserves_after_oom": True,
            "nofail_nopage_fallback": True,
        },
    },
}


def knob_help(knob: str) -> str:
    return _KNOB_HELP[knob]


def expand_aliases(knobs: dict[str, str | bool]) -> dict[str, str | bool]:
    """Replace an alias knob by the knobs it stands for; a knob named outright wins.

    >>> expand_aliases({"nofail_reserves": True, "nofail_forces_oom": True})["nofail_forces_oom"]
    True
    """
    out: dict[str, str | bool] = {}
    for name, value in knobs.items():
        if name in KNOB_ALIASES and isinstance(value, bool):
            for k, v in KNOB_ALIASES[name][value].items():
                out.setdefault(k, v)
    out.update({k: v for k, v in knobs.items() if k not in KNOB_ALIASES})
    return out


def _k(name: str, nomem: str, reaper: str, res: str, zero: str, retry: str, *flags: bool) -> Kernel:
    forces, after_oom, nopage, hp_loop, mayfail = flags
    return Kernel(
        name, nomem, reaper, res, zero, retry, forces, after_oom, nopage, hp_loop, mayfail
    )


# Columns: mempool_nomemalloc, oom_reaper, victim_reserves, zero_min_pool, retry, then
# nofail_forces_oom, nofail_reserves_after_oom, nofail_nopage_fallback,
# nofail_no_watermarks_loop, retry_mayfail. docs/model.md says where each value was read.
_T, _F = True, False
_LTS = ("always", "reap_or_skip", "half_min", "poll", "v4.12", _F, _T, _T, _F, _T)
PRESETS: dict[str, Kernel] = {
    k.name: k
    for k in (
        _k("v4.5", "always", "none", "all", "poll", "v4.5", _T, _F, _F, _T, _F),
        _k("v4.6", "if_pool_nonempty", "reap", "all", "poll", "v4.5", _T, _T, _F, _F, _F),
        _k("rfc-2016-07", "victim_if_empty", "reap", "all", "poll", "v4.5", _T, _T, _F, _F, _F),
        _k("v4.8", "always", "reap", "all", "poll", "v4.7", _T, _T, _F, _F, _F),
        _k("v4.11", "always", "reap_or_skip", "all", "poll", "v4.7", _F, _T, _T, _F, _F),
        _k("v4.15", *_LTS),
        _k("v4.19", *_LTS),
        _k("v5.4", *_LTS),
        _k("v5.10", *_LTS),
        _k("v5.15", *_LTS),
        _k("v6.1", *_LTS),
        _k("v6.6", *_LTS),
        _k("v6.12", *_LTS),
        _k("latest", "always", "reap_or_skip", "half_min", "one_element", "v4.12", *_LTS[5:]),
    )
}

PRESET_NAMES: tuple[str, ...] = tuple(PRESETS)

# A kernel version as users write it: v5.10, 5.10, 6.6.30, v4.19.0-rc3 (anything after the
# major.minor is taken as a point release or a local suffix and does not choose the preset).
VERSION_PATTERN = r"v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+~][0-9A-Za-z.+~-]*)?"
_VERSION = re.compile(VERSION_PATTERN, re.ASCII)

# Presets that are a release, in release order; rfc-2016-07 and latest are not.
_RELEASES: tuple[tuple[tuple[int, int], str], ...] = tuple(
    sorted(
        ((int(m.group(1)), int(m.group(2))), name)
        for name in PRESET_NAMES
        if (m := _VERSION.fullmatch(name)) is not None
    )
)


def resolve_kernel(text: str) -> tuple[str, str] | None:
    """The preset for a preset name or kernel version, and how reports label it.

    A version resolves to the preset of its release, or, between two
    presets, to the older one (contract, "Kernel versions"); a version
    after the newest release preset resolves to that one (``latest`` is
    today's tree, asked for by name). None for a word that is neither, or
    a version before the oldest preset.

    >>> resolve_kernel("latest"), resolve_kernel("v5.10"), resolve_kernel("6.6.30")
    (('latest', ''), ('v5.10', 'v5.10'), ('v6.6', '6.6.30'))
    >>> resolve_kernel("v5.2"), resolve_kernel("5.9"), resolve_kernel("v3.10")
    (('v4.19', 'v5.2'), ('v5.4', '5.9'), None)
    """
    m = _VERSION.fullmatch(text)
    if m is None:
        return (text, "") if text in PRESETS else None
    wanted = (int(m.group(1)), int(m.group(2)))
    older = [name for release, name in _RELEASES if release <= wanted]
    return (older[-1], text) if older else None


def asked_label(kernel: Kernel) -> str:
    """``v5.10 (preset v5.10)`` or ``v5.9 (as v5.4)`` for a version; the preset name otherwise.

    >>> asked_label(replace(PRESETS["v5.4"], asked="v5.9")), asked_label(PRESETS["v4.8"])
    ('v5.9 (as v5.4)', 'v4.8')
    """
    if not kernel.asked:
        return kernel.name
    m = _VERSION.fullmatch(kernel.asked)
    same = m is not None and f"v{m.group(1)}.{m.group(2)}" == kernel.name
    return f"{kernel.asked} ({'preset' if same else 'as'} {kernel.name})"


# Presets whose rwsem lets a reader in the slow path take the lock while no writer holds
# it, ahead of queued waiters (kernel-semantics §9.2; docs/model.md, "rwsem"): from the 5.3
# rework (reader optimistic spinning, then 5.11's reader lock stealing). Not a knob: it is
# a fact of each release, fixed with the preset.
RWSEM_READER_STEALING: frozenset[str] = frozenset(
    name for (version, name) in _RELEASES if version >= (5, 3)
) | {"latest"}


def rwsem_reader_steals(kernel: Kernel) -> bool:
    """Whether a reader may steal an rwsem past queued waiters on ``kernel``'s preset."""
    return kernel.name in RWSEM_READER_STEALING


def model_key(kernel: Kernel) -> tuple[object, ...]:
    """Everything of ``kernel`` the model reads: two kernels with the same key give the same
    search, states and outcomes (``mpsim sweep`` runs that search once for both).

    The knobs, and the one behaviour still read from the preset's name
    (``rwsem_reader_steals``); a new name-based rule belongs here too.

    >>> model_key(PRESETS["v5.4"]) == model_key(PRESETS["v6.12"])
    True
    >>> model_key(PRESETS["v4.19"]) == model_key(PRESETS["v5.4"])  # reader stealing, 5.3
    False
    """
    return (*sorted(kernel.knobs().items()), rwsem_reader_steals(kernel))
