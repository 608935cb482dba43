"""Kernel presets and their knobs, as the contract's table defines them.

A ``Kernel`` is the set of behaviour switches the model reads; presets are
named rows of the contract's table. Knobs beyond the contract's five are
additions, documented in docs/model.md.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

__all__ = ["KNOBS", "PRESETS", "PRESET_NAMES", "Kernel", "knob_help"]


@dataclass(frozen=True, slots=True)
class Kernel:
    """The behaviour switches of one modelled kernel. ``name`` is the preset it is based on."""

    name: str
    mempool_nomemalloc: str  # [1.3 A/B/C]
    oom_reaper: str  # [5.4]
    victim_reserves: str  # [3.2], [3.3], [5.3]
    zero_min_pool: str  # [1.5]
    retry: str  # [3.5], [3.6]
    nofail_reserves: bool  # [3.6]: NOFAIL gets reserves after the OOM step, obeys may_oom bail-outs
    retry_mayfail: bool  # [0.1][3.6]: __GFP_RETRY_MAYFAIL (~4.13) never OOM-kills

    def knobs(self) -> dict[str, str | bool]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "name"}

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
    "retry": ("v4.5", "v4.7"),
    "nofail_reserves": (False, True),
    "retry_mayfail": (False, True),
}

_KNOB_HELP = {
    "mempool_nomemalloc": "when mempool_alloc forces __GFP_NOMEMALLOC [1.3]",
    "oom_reaper": "what the OOM reaper does to a victim [5.4]",
    "victim_reserves": "how far below min an OOM victim may allocate [3.2]",
    "zero_min_pool": "what a min_nr: 0 pool does [1.5]",
    "retry": "page allocator retry policy [3.5-3.6]",
    "nofail_reserves": "__GFP_NOFAIL gets reserves after OOM, no bail-out bypass [3.6]",
    "retry_mayfail": "__GFP_REPEAT is __GFP_RETRY_MAYFAIL: retries but never OOM-kills [3.6]",
}


def knob_help(knob: str) -> str:
    return _KNOB_HELP[knob]


def _k(name: str, nomem: str, reaper: str, res: str, zero: str, retry: str, later: bool) -> Kernel:
    # `later` switches on the two additions of ~4.10-4.13 together: both are in v4.15 and latest.
    return Kernel(name, nomem, reaper, res, zero, retry, later, later)


PRESETS: dict[str, Kernel] = {
    k.name: k
    for k in (
        _k("v4.5", "always", "none", "all", "poll", "v4.5", False),
        _k("v4.6", "if_pool_nonempty", "reap", "all", "poll", "v4.5", False),
        _k("rfc-2016-07", "victim_if_empty", "reap", "all", "poll", "v4.5", False),
        _k("v4.8", "always", "reap", "all", "poll", "v4.7", False),
        _k("v4.15", "always", "reap_or_skip", "half_min", "poll", "v4.7", True),
        _k("latest", "always", "reap_or_skip", "half_min", "one_element", "v4.7", True),
    )
}

PRESET_NAMES: tuple[str, ...] = tuple(PRESETS)
