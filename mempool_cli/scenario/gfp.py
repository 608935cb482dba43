"""GFP flag vocabulary and the mask expression language of scenario files.

Every flag and composite mask of ``include/linux/gfp.h`` of the 4.x
kernels and of today's ``include/linux/gfp_types.h`` is a name here
(docs/model.md, "GFP vocabulary", says which header each comes from).
Bits are symbolic: those of 4.4-4.8 have that era's values
(d0164adc89f6, [2.1] of docs/kernel-facts.md) so that a mask printed in
hex reads like that era's kernel; flags added later sit above them.
Composites follow the 4.4-6.2 column of [2.2] and 4.x ``gfp.h``.

Most zone, placement, accounting and debugging modifiers change nothing
in mpsim's one-zone model: they are accepted, and ``IGNORED`` lists them
so that ``mpsim check`` can say so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "COMPOSITE",
    "FLAGS",
    "IGNORED",
    "READ_AS",
    "GfpSyntaxError",
    "format_gfp",
    "gfp_names",
    "parse_gfp",
]

# Zone modifiers (low four bits, as in every kernel since 2.6).
DMA = 0x01
HIGHMEM = 0x02
DMA32 = 0x04
MOVABLE = 0x08
# 4.4-4.8 values (d0164adc89f6).
RECLAIMABLE = 0x10
HIGH = 0x20
IO = 0x40
FS = 0x80
COLD = 0x100  # 4.x only (removed in 4.15)
NOWARN = 0x200
REPEAT = 0x400
NOFAIL = 0x800
NORETRY = 0x1000
MEMALLOC = 0x2000
COMP = 0x4000
ZERO = 0x8000
NOMEMALLOC = 0x10000
HARDWALL = 0x20000
THISNODE = 0x40000
ATOMIC = 0x80000  # 4.4-6.2
ACCOUNT = 0x100000
NOTRACK = 0x200000  # kmemcheck, 4.x only
DIRECT_RECLAIM = 0x400000
OTHER_NODE = 0x800000  # 4.4-4.9
WRITE = 0x1000000
KSWAPD_RECLAIM = 0x2000000
RECLAIM = DIRECT_RECLAIM | KSWAPD_RECLAIM
# Later flags, above the 4.x ones (bit 30 is left unnamed).
NOLOCKDEP = 1 << 26  # 4.12
ZEROTAGS = 1 << 27  # 5.12
SKIP_ZERO = 1 << 28  # 5.19
SKIP_KASAN_UNPOISON = 1 << 29  # 5.16-6.2
SKIP_KASAN_POISON = 1 << 31  # 5.16-6.2; merged into __GFP_SKIP_KASAN in 6.3
NO_OBJ_EXT = 1 << 32  # 6.10
# Flags of 4.0-4.3 that 4.4 removed.
NO_KSWAPD = 1 << 33
NOACCOUNT = 1 << 34  # 4.2-4.4
# The zones below ZONE_NORMAL (x86-64: ZONE_DMA, ZONE_DMA32): __alloc_pages_may_oom does
# not OOM-kill for them ([3.7 step 3]).
LOWMEM = DMA | DMA32

# Every single-flag name a scenario may use. __GFP_RETRY_MAYFAIL is the 4.13 name of
# __GFP_REPEAT [0.1]; both spell the same bit here. __GFP_WAIT (until 4.3) became
# __GFP_RECLAIM in 4.4 (d0164adc89f6) and is read as it.
FLAGS: dict[str, int] = {
    "__GFP_DMA": DMA,
    "__GFP_HIGHMEM": HIGHMEM,
    "__GFP_DMA32": DMA32,
    "__GFP_MOVABLE": MOVABLE,
    "__GFP_RECLAIMABLE": RECLAIMABLE,
    "__GFP_HIGH": HIGH,
    "__GFP_IO": IO,
    "__GFP_FS": FS,
    "__GFP_COLD": COLD,
    "__GFP_ZERO": ZERO,
    "__GFP_NOWARN": NOWARN,
    "__GFP_REPEAT": REPEAT,
    "__GFP_RETRY_MAYFAIL": REPEAT,
    "__GFP_NOFAIL": NOFAIL,
    "__GFP_NORETRY": NORETRY,
    "__GFP_MEMALLOC": MEMALLOC,
    "__GFP_COMP": COMP,
    "__GFP_NOMEMALLOC": NOMEMALLOC,
    "__GFP_HARDWALL": HARDWALL,
    "__GFP_THISNODE": THISNODE,
    "__GFP_ATOMIC": ATOMIC,
    "__GFP_ACCOUNT": ACCOUNT,
    "__GFP_NOTRACK": NOTRACK,
    "__GFP_NOTRACK_FALSE_POSITIVE": NOTRACK,
    "__GFP_DIRECT_RECLAIM": DIRECT_RECLAIM,
    "__GFP_OTHER_NODE": OTHER_NODE,
    "__GFP_WRITE": WRITE,
    "__GFP_KSWAPD_RECLAIM": KSWAPD_RECLAIM,
    "__GFP_RECLAIM": RECLAIM,
    "__GFP_NOLOCKDEP": NOLOCKDEP,
    "__GFP_ZEROTAGS": ZEROTAGS,
    "__GFP_SKIP_ZERO": SKIP_ZERO,
    "__GFP_SKIP_KASAN_UNPOISON": SKIP_KASAN_UNPOISON,
    "__GFP_SKIP_KASAN_POISON": SKIP_KASAN_POISON,
    "__GFP_SKIP_KASAN": SKIP_KASAN_UNPOISON | SKIP_KASAN_POISON,
    "__GFP_NO_OBJ_EXT": NO_OBJ_EXT,
    "__GFP_WAIT": RECLAIM,
    "__GFP_NO_KSWAPD": NO_KSWAPD,
    "__GFP_NOACCOUNT": NOACCOUNT,
}

# Composite masks: the 4.4-6.2 column of [2.2] and 4.x gfp.h. Where today's gfp_types.h
# differs it only adds flags with no effect here (GFP_NOWAIT's __GFP_NOWARN,
# GFP_HIGHUSER_MOVABLE's __GFP_SKIP_KASAN) or drops __GFP_ATOMIC (6.3), whose
# ALLOC_HARDER the model keeps for GFP_ATOMIC on every preset.
_USER = RECLAIM | IO | FS | HARDWALL
_HIGHUSER_MOVABLE = _USER | HIGHMEM | MOVABLE
_TRANSHUGE_LIGHT = (_HIGHUSER_MOVABLE | COMP | NOMEMALLOC | NOWARN) & ~RECLAIM
COMPOSITE: dict[str, int] = {
    "GFP_ATOMIC": HIGH | ATOMIC | KSWAPD_RECLAIM,
    "GFP_NOWAIT": KSWAPD_RECLAIM,
    "GFP_NOIO": RECLAIM,
    "GFP_NOFS": RECLAIM | IO,
    "GFP_KERNEL": RECLAIM | IO | FS,
    "GFP_USER": _USER,
    "GFP_KERNEL_ACCOUNT": RECLAIM | IO | FS | ACCOUNT,
    "GFP_TEMPORARY": RECLAIM | IO | FS | RECLAIMABLE,  # 4.x, removed in 4.14
    "GFP_DMA": DMA,
    "GFP_DMA32": DMA32,
    "GFP_HIGHUSER": _USER | HIGHMEM,
    "GFP_HIGHUSER_MOVABLE": _HIGHUSER_MOVABLE,
    "GFP_TRANSHUGE_LIGHT": _TRANSHUGE_LIGHT,
    "GFP_TRANSHUGE": _TRANSHUGE_LIGHT | DIRECT_RECLAIM,
    "GFP_ZONEMASK": DMA | HIGHMEM | DMA32 | MOVABLE,
}

# Flags the one-zone model does not act on. __GFP_DMA, __GFP_DMA32 and __GFP_THISNODE do
# act: they keep __alloc_pages_may_oom from killing [3.7]. __GFP_KSWAPD_RECLAIM is left
# out too: every composite has it, and waking kswapd is the contract's to leave out.
IGNORED: dict[str, str] = {
    "__GFP_HIGHMEM": "zone modifier",
    "__GFP_MOVABLE": "zone and mobility modifier",
    "__GFP_RECLAIMABLE": "mobility hint",
    "__GFP_COLD": "per-cpu list hint",
    "__GFP_ZERO": "zeroes the page",
    "__GFP_NOWARN": "failure-report switch",
    "__GFP_COMP": "compound page metadata",
    "__GFP_HARDWALL": "cpuset policy",
    "__GFP_ACCOUNT": "kmemcg accounting",
    "__GFP_NOTRACK": "kmemcheck switch",
    "__GFP_NOTRACK_FALSE_POSITIVE": "kmemcheck switch",
    "__GFP_OTHER_NODE": "NUMA statistics",
    "__GFP_WRITE": "dirty-page spreading",
    "__GFP_NOLOCKDEP": "lockdep switch",
    "__GFP_ZEROTAGS": "memory-tag zeroing",
    "__GFP_SKIP_ZERO": "KASAN switch",
    "__GFP_SKIP_KASAN_UNPOISON": "KASAN switch",
    "__GFP_SKIP_KASAN_POISON": "KASAN switch",
    "__GFP_SKIP_KASAN": "KASAN switch",
    "__GFP_NO_OBJ_EXT": "slab object extension switch",
    "__GFP_NO_KSWAPD": "kswapd is not modelled",
    "__GFP_NOACCOUNT": "kmemcg accounting",
}

# Names that mean another name here: how ``mpsim check`` says so.
READ_AS: dict[str, str] = {
    "__GFP_WAIT": "__GFP_RECLAIM (4.4, d0164adc89f6, split __GFP_WAIT)",
    "__GFP_REPEAT": "__GFP_RETRY_MAYFAIL's bit (4.13 renamed it)",
}

NAMES: dict[str, int] = {**COMPOSITE, **FLAGS}

# Names printed by format_gfp, widest composite first; one name per bit.
_PRINT_ORDER = (
    ["GFP_USER", "GFP_KERNEL", "GFP_NOFS", "GFP_ATOMIC", "GFP_NOIO"]
    + ["__GFP_RECLAIM"]
    + [
        n
        for n in FLAGS
        if n
        not in (
            "__GFP_RECLAIM",
            "__GFP_RETRY_MAYFAIL",
            "__GFP_NOTRACK_FALSE_POSITIVE",
            "__GFP_SKIP_KASAN",
            "__GFP_WAIT",
        )
    ]
)

# Flag names, operators and the empty mask `0`: no other numbers, so every bit
# in a scenario has a name.
_TOKEN = re.compile(
    r"[ \t]*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<zero>0(?![0-9A-Za-z_]))|(?P<op>[|&~()]))",
    re.ASCII,
)


@dataclass
class GfpSyntaxError(Exception):
    """A mask expression that does not parse; ``offset`` is 0-based in the text."""

    message: str
    offset: int
    suggestion: str | None = None

    def __str__(self) -> str:
        return self.message


def parse_gfp(text: str) -> int:
    """Evaluate a mask expression with C precedence (``~`` > ``&`` > ``|``).

    >>> hex(parse_gfp("GFP_NOIO & ~__GFP_DIRECT_RECLAIM"))
    '0x2000000'
    >>> parse_gfp("GFP_KERNEL | __GFP_NOFAIL") == COMPOSITE["GFP_KERNEL"] | NOFAIL
    True
    """
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    stripped_end = len(text.rstrip())
    while pos < stripped_end:
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = pos + (len(text[pos:]) - len(text[pos:].lstrip()))
            raise GfpSyntaxError(f"unexpected character {text[bad]!r} in gfp mask", bad)
        kind = m.lastgroup or "op"
        tokens.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    if not tokens:
        raise GfpSyntaxError("empty gfp mask", 0)
    parser = _Parser(tokens, len(text))
    value = parser.expr()
    if parser.i != len(tokens):
        _, tok, off = tokens[parser.i]
        raise GfpSyntaxError(f"unexpected {tok!r} in gfp mask", off)
    return value


def gfp_names(text: str) -> list[tuple[str, int]]:
    """The flag and mask names of an expression, with their 0-based offsets, in order.

    >>> gfp_names("GFP_USER | ~__GFP_HIGHMEM")
    [('GFP_USER', 0), ('__GFP_HIGHMEM', 12)]
    """
    out: list[tuple[str, int]] = []
    pos = 0
    while (m := _TOKEN.match(text, pos)) is not None and m.end() > pos:
        if m.group("name") is not None:
            out.append((m.group("name"), m.start("name")))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str, int]], end: int) -> None:
        self.tokens = tokens
        self.i = 0
        self.end = end

    def _peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def expr(self) -> int:
        value = self.term()
        while (tok := self._peek()) is not None and tok[1] == "|":
            self.i += 1
            value |= self.term()
        return value

    def term(self) -> int:
        value = self.unary()
        while (tok := self._peek()) is not None and tok[1] == "&":
            self.i += 1
            value &= self.unary()
        return value

    def unary(self) -> int:
        tok = self._peek()
        if tok is None:
            raise GfpSyntaxError("gfp mask ends where a flag name was expected", self.end)
        kind, text, off = tok
        self.i += 1
        if text == "~":
            return ~self.unary() & _ALL_BITS
        if text == "(":
            value = self.expr()
            close = self._peek()
            if close is None or close[1] != ")":
                where = close[2] if close else self.end
                raise GfpSyntaxError("missing ')' in gfp mask", where)
            self.i += 1
            return value
        if kind == "zero":
            return 0
        if kind == "name":
            if text in NAMES:
                return NAMES[text]
            from difflib import get_close_matches

            by_upper = {name.upper(): name for name in NAMES}
            close_names = get_close_matches(text.upper(), list(by_upper), n=1, cutoff=0.6)
            hint = by_upper[close_names[0]] if close_names else None
            raise GfpSyntaxError(f"unknown gfp flag {text!r}", off, hint)
        raise GfpSyntaxError(f"unexpected {text!r} in gfp mask", off)


_ALL_BITS = 0
for _bit in NAMES.values():
    _ALL_BITS |= _bit


def format_gfp(mask: int) -> str:
    """Name a mask with composites first, e.g. ``GFP_NOIO|__GFP_NOMEMALLOC``.

    >>> format_gfp(COMPOSITE["GFP_KERNEL"] | NOFAIL)
    'GFP_KERNEL|__GFP_NOFAIL'
    >>> format_gfp(0)
    '0'
    """
    parts: list[str] = []
    rest = mask
    for name in _PRINT_ORDER:
        bits = NAMES[name]
        if bits and rest & bits == bits:
            parts.append(name)
            rest &= ~bits
    if rest:
        parts.append(hex(rest))
    return "|".join(parts) if parts else "0"
