"""Every GFP name of the kernel headers is accepted; ignored ones get a note, typos a hint.

The name lists below are typed from the headers themselves (docs/model.md,
"GFP vocabulary"), not taken from mempool_cli, so a name the vocabulary
lacks fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mempool_cli.cli import cli
from mempool_cli.scenario import gfp as G
from mempool_cli.scenario.gfp import COMPOSITE, FLAGS, GfpSyntaxError, parse_gfp


def _words(text: str) -> list[str]:
    return text.split()


# include/linux/gfp_types.h @16f5dfbc851b (6.3 layout), plus __GFP_NO_OBJ_EXT (6.10) and
# the two KASAN bits of 5.16-6.2 that 6.3 merged into __GFP_SKIP_KASAN.
TODAY_FLAGS = _words(
    """__GFP_DMA __GFP_HIGHMEM __GFP_DMA32 __GFP_MOVABLE __GFP_RECLAIMABLE __GFP_WRITE
__GFP_HARDWALL __GFP_THISNODE __GFP_ACCOUNT __GFP_HIGH __GFP_MEMALLOC __GFP_NOMEMALLOC __GFP_IO
__GFP_FS __GFP_DIRECT_RECLAIM __GFP_KSWAPD_RECLAIM __GFP_RECLAIM __GFP_RETRY_MAYFAIL
__GFP_NOFAIL __GFP_NORETRY __GFP_NOWARN __GFP_COMP __GFP_ZERO __GFP_ZEROTAGS __GFP_SKIP_ZERO
__GFP_SKIP_KASAN __GFP_NOLOCKDEP __GFP_NO_OBJ_EXT __GFP_SKIP_KASAN_UNPOISON
__GFP_SKIP_KASAN_POISON"""
)
TODAY_MASKS = _words(
    """GFP_ATOMIC GFP_KERNEL GFP_KERNEL_ACCOUNT GFP_NOWAIT GFP_NOIO GFP_NOFS GFP_USER
GFP_DMA GFP_DMA32 GFP_HIGHUSER GFP_HIGHUSER_MOVABLE GFP_TRANSHUGE_LIGHT GFP_TRANSHUGE
GFP_ZONEMASK"""
)
# include/linux/gfp.h of 4.10.1 (kaikai-sk/linux-4.10.1), plus __GFP_OTHER_NODE (4.4-4.9),
# and the 4.0-4.3 names 4.4 removed (__GFP_WAIT, __GFP_NO_KSWAPD, __GFP_NOACCOUNT).
V4_FLAGS = _words(
    """__GFP_DMA __GFP_HIGHMEM __GFP_DMA32 __GFP_MOVABLE __GFP_RECLAIMABLE __GFP_HIGH
__GFP_IO __GFP_FS __GFP_COLD __GFP_NOWARN __GFP_REPEAT __GFP_NOFAIL __GFP_NORETRY
__GFP_MEMALLOC __GFP_COMP __GFP_ZERO __GFP_NOMEMALLOC __GFP_HARDWALL __GFP_THISNODE
__GFP_ATOMIC __GFP_ACCOUNT __GFP_NOTRACK __GFP_NOTRACK_FALSE_POSITIVE __GFP_DIRECT_RECLAIM
__GFP_WRITE __GFP_KSWAPD_RECLAIM __GFP_RECLAIM __GFP_OTHER_NODE __GFP_NOLOCKDEP __GFP_WAIT
__GFP_NO_KSWAPD __GFP_NOACCOUNT"""
)
V4_MASKS = _words(
    """GFP_ATOMIC GFP_KERNEL GFP_KERNEL_ACCOUNT GFP_NOWAIT GFP_NOIO GFP_NOFS GFP_TEMPORARY
GFP_USER GFP_DMA GFP_DMA32 GFP_HIGHUSER GFP_HIGHUSER_MOVABLE GFP_TRANSHUGE_LIGHT
GFP_TRANSHUGE GFP_ZONEMASK"""
)
ALL_NAMES = sorted({*TODAY_FLAGS, *TODAY_MASKS, *V4_FLAGS, *V4_MASKS})


@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_header_name_parses(name: str) -> None:
    parse_gfp(name)


def test_compositions_follow_the_headers() -> None:
    f = FLAGS
    user = COMPOSITE["GFP_USER"]
    assert COMPOSITE["GFP_KERNEL_ACCOUNT"] == COMPOSITE["GFP_KERNEL"] | f["__GFP_ACCOUNT"]
    assert COMPOSITE["GFP_TEMPORARY"] == COMPOSITE["GFP_KERNEL"] | f["__GFP_RECLAIMABLE"]
    assert COMPOSITE["GFP_DMA"] == f["__GFP_DMA"] and COMPOSITE["GFP_DMA32"] == f["__GFP_DMA32"]
    assert COMPOSITE["GFP_HIGHUSER"] == user | f["__GFP_HIGHMEM"]
    assert COMPOSITE["GFP_HIGHUSER_MOVABLE"] == COMPOSITE["GFP_HIGHUSER"] | f["__GFP_MOVABLE"]
    light = (
        COMPOSITE["GFP_HIGHUSER_MOVABLE"]
        | f["__GFP_COMP"]
        | f["__GFP_NOMEMALLOC"]
        | f["__GFP_NOWARN"]
    ) & ~f["__GFP_RECLAIM"]
    assert COMPOSITE["GFP_TRANSHUGE_LIGHT"] == light
    assert COMPOSITE["GFP_TRANSHUGE"] == light | f["__GFP_DIRECT_RECLAIM"]
    assert not COMPOSITE["GFP_TRANSHUGE_LIGHT"] & f["__GFP_DIRECT_RECLAIM"]
    assert f["__GFP_WAIT"] == f["__GFP_RECLAIM"]  # d0164adc89f6
    assert f["__GFP_NOTRACK_FALSE_POSITIVE"] == f["__GFP_NOTRACK"]


def test_distinct_flags_have_distinct_bits() -> None:
    aliases = {"__GFP_RETRY_MAYFAIL", "__GFP_NOTRACK_FALSE_POSITIVE", "__GFP_WAIT"}
    singles = {n: b for n, b in FLAGS.items() if n not in aliases and b & (b - 1) == 0}
    assert len(set(singles.values())) == len(singles)


def test_highmem_is_a_flag_not_a_typo_of_high() -> None:
    """The old did-you-mean offered __GFP_HIGH (reserve access!) for __GFP_HIGHMEM."""
    assert parse_gfp("GFP_KERNEL | __GFP_HIGHMEM") != parse_gfp("GFP_KERNEL | __GFP_HIGH")
    assert parse_gfp("__GFP_HIGHMEM") & G.HIGH == 0


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("__GFP_HIGHMEN", "__GFP_HIGHMEM"),
        ("__GFP_HIHG", "__GFP_HIGH"),
        ("__GFP_DMA23", "__GFP_DMA32"),
        ("GFP_KERNEL_ACOUNT", "GFP_KERNEL_ACCOUNT"),
        ("GFP_HIGHUSER_MOVEABLE", "GFP_HIGHUSER_MOVABLE"),
        ("__GFP_MOVEABLE", "__GFP_MOVABLE"),
    ],
)
def test_typos_get_the_flag_they_spell(typo: str, suggestion: str) -> None:
    with pytest.raises(GfpSyntaxError) as err:
        parse_gfp(f"GFP_KERNEL | {typo}")
    assert err.value.suggestion == suggestion
    assert err.value.offset == len("GFP_KERNEL | ")


def _scenario(gfp: str) -> str:
    return f"tasks:\n  t:\n    steps:\n      - alloc_pages: {{gfp: {gfp}, as: p}}\n"


def test_check_accepts_every_header_name_with_notes(tmp_path: Path) -> None:
    lines = ["tasks:", "  t:", "    steps:"]
    for n, name in enumerate(ALL_NAMES):
        lines.append(f"      - alloc_pages: {{gfp: 'GFP_NOWAIT | {name}', as: p{n}}}")
        lines.append(f"      - free_pages: p{n}")
    path = tmp_path / "every-gfp.yaml"
    path.write_text("\n".join(lines) + "\n")
    done = CliRunner().invoke(cli, ["check", str(path)])
    assert done.exit_code == 0, done.output
    notes = [line for line in done.stderr.splitlines() if ": note: " in line]
    noted = [line.split(": note: ")[1].split()[0] for line in notes]
    # Once per flag the model ignores, at its first use; never for a flag it acts on.
    assert len(noted) == len(set(noted))
    for name in ("__GFP_HIGHMEM", "__GFP_MOVABLE", "__GFP_ACCOUNT", "__GFP_HARDWALL"):
        assert name in noted
    for name in ("__GFP_DMA", "__GFP_DMA32", "__GFP_THISNODE", "__GFP_NOFAIL", "__GFP_HIGH"):
        assert name not in noted
    assert "__GFP_WAIT" in noted  # read as __GFP_RECLAIM, and said so
    # GFP_KERNEL_ACCOUNT sorts before __GFP_ACCOUNT: the flag is noted where that brings it in.
    first = next(line for line in notes if " __GFP_ACCOUNT " in line)
    row = 1 + lines.index(next(x for x in lines if "| GFP_KERNEL_ACCOUNT'" in x))
    assert first.startswith(f"{path}:{row}:")
    assert "__GFP_ACCOUNT (in GFP_KERNEL_ACCOUNT) has no effect" in first
    assert done.stdout.strip().endswith("ok (every-gfp, 1 tasks)")


def test_a_note_points_at_the_flag(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(_scenario("GFP_KERNEL | __GFP_ZERO") + "      - free_pages: p\n")
    done = CliRunner().invoke(cli, ["check", str(path)])
    assert done.exit_code == 0
    col = _scenario("GFP_KERNEL | __GFP_ZERO").splitlines()[3].index("__GFP_ZERO") + 1
    assert done.stderr.splitlines()[0] == (
        f"{path}:4:{col}: note: __GFP_ZERO has no effect in mpsim's one-zone model "
        "(zeroes the page): accepted and ignored"
    )
    assert done.stderr.splitlines()[2].index("^") == col - 1


def test_a_composite_names_the_flag_it_brings(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(_scenario("GFP_USER") + "      - free_pages: p\n")
    done = CliRunner().invoke(cli, ["check", str(path)])
    assert "note: __GFP_HARDWALL (in GFP_USER) has no effect" in done.stderr


def test_a_misspelled_flag_is_a_positioned_error(tmp_path: Path) -> None:
    text = _scenario("GFP_KERNEL | __GFP_HIGHMEN")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    done = CliRunner().invoke(cli, ["check", str(path)])
    assert done.exit_code == 3
    col = text.splitlines()[3].index("__GFP_HIGHMEN")
    head, source, caret = done.stderr.splitlines()[:3]
    assert head == (
        f"{path}:4:{col + 1}: error: unknown gfp flag '__GFP_HIGHMEN' "
        "(did you mean '__GFP_HIGHMEM'?)"
    )
    assert source == text.splitlines()[3]
    assert caret == " " * col + "^"
