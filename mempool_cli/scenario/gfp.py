"""GFP flag vocabulary and the mask expression language of scenario files.

Bits are symbolic; the values are the 4.4–4.8 ones from [2.1] of
docs/kernel-facts.md so that a mask printed in hex reads like that era's
kernel. Composite masks follow the 4.4–6.2 column of [2.2].
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "COMPOSITE",
    "FLAGS",
    "GfpSyntaxError",
    "format_gfp",
    "parse_gfp",
]

HIGH = 0x20
IO = 0x40
FS = 0x80
ZERO = 0x100
NOWARN = 0x200
REPEAT = 0x400
NOFAIL = 0x800
NORETRY = 0x1000
MEMALLOC = 0x2000
COMP = 0x4000
NOMEMALLOC = 0x10000
HARDWALL = 0x20000
THISNODE = 0x40000
ATOMIC = 0x80000
DIRECT_RECLAIM = 0x400000
KSWAPD_RECLAIM = 0x2000000
RECLAIM = DIRECT_RECLAIM | KSWAPD_RECLAIM

# Every single-bit name a scenario may use. __GFP_RETRY_MAYFAIL is the
# ~4.13 name of __GFP_REPEAT [0.1]; both spell the same bit here.
FLAGS: dict[str, int] = {
    "__GFP_HIGH": HIGH,
    "__GFP_IO": IO,
    "__GFP_FS": FS,
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
    "__GFP_DIRECT_RECLAIM": DIRECT_RECLAIM,
    "__GFP_KSWAPD_RECLAIM": KSWAPD_RECLAIM,
    "__GFP_RECLAIM": RECLAIM,
}

# Composite masks, 4.4–6.2 column of [2.2].
COMPOSITE: dict[str, int] = {
    "GFP_ATOMIC": HIGH | ATOMIC | KSWAPD_RECLAIM,
    "GFP_NOWAIT": KSWAPD_RECLAIM,
    "GFP_NOIO": RECLAIM,
    "GFP_NOFS": RECLAIM | IO,
    "GFP_KERNEL": RECLAIM | IO | FS,
    "GFP_USER": RECLAIM | IO | FS | HARDWALL,
}

NAMES: dict[str, int] = {**COMPOSITE, **FLAGS}

# Names printed by format_gfp, widest composite first.
_PRINT_ORDER = (
    ["GFP_USER", "GFP_KERNEL", "GFP_NOFS", "GFP_ATOMIC", "GFP_NOIO"]
    + ["__GFP_RECLAIM"]
    + [n for n in FLAGS if n not in ("__GFP_RECLAIM", "__GFP_RETRY_MAYFAIL")]
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
