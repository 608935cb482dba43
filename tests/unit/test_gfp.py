"""Tests of mempool_cli.scenario.gfp: the flag vocabulary and the mask expression language."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mempool_cli.scenario import gfp
from mempool_cli.scenario.gfp import COMPOSITE, FLAGS, GfpSyntaxError, format_gfp, parse_gfp

IO, FS = FLAGS["__GFP_IO"], FLAGS["__GFP_FS"]
DIRECT, KSWAPD = FLAGS["__GFP_DIRECT_RECLAIM"], FLAGS["__GFP_KSWAPD_RECLAIM"]
RECLAIM = DIRECT | KSWAPD


def test_composites_follow_the_4_4_to_6_2_table() -> None:
    # [2.2] of kernel-semantics.md: each mask is the previous one plus a bit.
    assert COMPOSITE["GFP_NOWAIT"] == KSWAPD
    assert COMPOSITE["GFP_NOIO"] == RECLAIM
    assert COMPOSITE["GFP_NOFS"] == RECLAIM | IO
    assert COMPOSITE["GFP_KERNEL"] == RECLAIM | IO | FS
    assert COMPOSITE["GFP_USER"] == COMPOSITE["GFP_KERNEL"] | FLAGS["__GFP_HARDWALL"]
    assert COMPOSITE["GFP_ATOMIC"] == FLAGS["__GFP_HIGH"] | FLAGS["__GFP_ATOMIC"] | KSWAPD
    assert FLAGS["__GFP_RECLAIM"] == RECLAIM
    assert FLAGS["__GFP_RETRY_MAYFAIL"] == FLAGS["__GFP_REPEAT"]


@pytest.mark.parametrize(
    ("text", "mask"),
    [
        ("GFP_KERNEL", COMPOSITE["GFP_KERNEL"]),
        ("  GFP_NOIO  ", RECLAIM),
        ("GFP_KERNEL | __GFP_NOFAIL", COMPOSITE["GFP_KERNEL"] | FLAGS["__GFP_NOFAIL"]),
        ("GFP_KERNEL|__GFP_NOFAIL|__GFP_NOWARN", COMPOSITE["GFP_KERNEL"] | 0x800 | 0x200),
        ("GFP_NOIO & ~__GFP_DIRECT_RECLAIM", KSWAPD),
        ("GFP_KERNEL & ~(__GFP_IO | __GFP_FS)", RECLAIM),
        # C precedence: & binds tighter than |, ~ tighter than &.
        ("__GFP_IO | GFP_KERNEL & ~__GFP_FS", RECLAIM | IO),
        ("(__GFP_IO | GFP_KERNEL) & ~__GFP_FS", RECLAIM | IO),
        ("~~__GFP_IO", IO),
        ("0", 0),
    ],
)
def test_parse(text: str, mask: int) -> None:
    assert parse_gfp(text) == mask


@pytest.mark.parametrize(
    ("text", "message", "offset", "suggestion"),
    [
        ("", "empty gfp mask", 0, None),
        ("   ", "empty gfp mask", 0, None),
        ("GFP_KERNL", "unknown gfp flag 'GFP_KERNL'", 0, "GFP_KERNEL"),
        ("GFP_KERNEL | __GFP_NOFAL", "unknown gfp flag '__GFP_NOFAL'", 13, "__GFP_NOFAIL"),
        ("GFP_KERNEL |", "gfp mask ends where a flag name was expected", 12, None),
        ("GFP_KERNEL + 1", "unexpected character '+' in gfp mask", 11, None),
        ("GFP_KERNEL GFP_NOIO", "unexpected 'GFP_NOIO' in gfp mask", 11, None),
        ("(GFP_KERNEL", "missing ')' in gfp mask", 11, None),
        ("GFP_KERNEL)", "unexpected ')' in gfp mask", 10, None),
        ("| GFP_KERNEL", "unexpected '|' in gfp mask", 0, None),
        ("mask", "unknown gfp flag 'mask'", 0, None),
    ],
)
def test_syntax_errors(text: str, message: str, offset: int, suggestion: str | None) -> None:
    with pytest.raises(GfpSyntaxError) as info:
        parse_gfp(text)
    assert (str(info.value), info.value.offset, info.value.suggestion) == (
        message,
        offset,
        suggestion,
    )


@pytest.mark.parametrize(
    ("mask", "text"),
    [
        (0, "0"),
        (COMPOSITE["GFP_KERNEL"], "GFP_KERNEL"),
        (COMPOSITE["GFP_NOIO"] | FLAGS["__GFP_NOMEMALLOC"], "GFP_NOIO|__GFP_NOMEMALLOC"),
        (RECLAIM | FS, "GFP_NOIO|__GFP_FS"),
        (DIRECT, "__GFP_DIRECT_RECLAIM"),
        (COMPOSITE["GFP_USER"] | FLAGS["__GFP_NOFAIL"], "GFP_USER|__GFP_NOFAIL"),
        (1 << 30, hex(1 << 30)),
    ],
)
def test_format(mask: int, text: str) -> None:
    assert format_gfp(mask) == text


@given(st.sets(st.sampled_from(sorted(gfp.NAMES))))
def test_format_then_parse_is_identity(names: set[str]) -> None:
    mask = 0
    for name in names:
        mask |= gfp.NAMES[name]
    assert parse_gfp(format_gfp(mask)) == mask


@given(st.text(max_size=40))
def test_parse_raises_only_gfp_syntax_errors_on_names_and_operators(text: str) -> None:
    try:
        parse_gfp(text)
    except GfpSyntaxError as err:
        assert 0 <= err.offset <= len(text)


def test_numbers_are_not_part_of_the_mask_language() -> None:
    with pytest.raises(GfpSyntaxError):
        parse_gfp("08")


def test_hex_numbers_are_refused() -> None:
    with pytest.raises(GfpSyntaxError):
        parse_gfp("0x1")


def test_non_ascii_digits_are_refused() -> None:
    with pytest.raises(GfpSyntaxError):
        parse_gfp("\u0663\u0663")


def test_did_you_mean_ignores_case() -> None:
    with pytest.raises(GfpSyntaxError) as err:
        parse_gfp("gfp_kernel")
    assert err.value.suggestion == "GFP_KERNEL"
