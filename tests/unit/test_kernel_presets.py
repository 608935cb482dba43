"""Kernel presets (revision 2): versions resolve to presets, and each preset's knobs.

The expected values are the table of docs/model.md ("Kernel presets, knob
by knob"), which says where in each kernel's source they were read.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mempool_cli.cli import cli
from mempool_cli.errors import UsageError
from mempool_cli.scenario.kernels import PRESETS, asked_label, resolve_kernel
from mempool_cli.scenario.loader import load_text
from mempool_cli.verdict import kernels_for

LONG_TERM = ("v4.19", "v5.4", "v5.10", "v5.15", "v6.1", "v6.6", "v6.12")
MINIMAL = "tasks: {t: {steps: [alloc_pages: {gfp: GFP_KERNEL, as: p}, free_pages: p]}}\n"


@pytest.mark.parametrize(
    ("text", "preset"),
    [
        ("v5.10", "v5.10"),
        ("5.10", "v5.10"),
        ("6.6.30", "v6.6"),
        ("v4.19.0-rc3", "v4.19"),
        ("v5.2", "v4.19"),  # between two presets: the older (contract)
        ("5.9", "v5.4"),
        ("v4.7", "v4.6"),
        ("4.10", "v4.8"),
        ("v4.11", "v4.11"),
        ("4.14.336", "v4.11"),
        ("v6.12", "v6.12"),
        ("6.19", "v6.12"),  # after the newest release preset; `latest` is asked by name
        ("v4.5", "v4.5"),
        ("latest", "latest"),
        ("rfc-2016-07", "rfc-2016-07"),
    ],
)
def test_versions_resolve_to_presets(text: str, preset: str) -> None:
    resolved = resolve_kernel(text)
    assert resolved is not None and resolved[0] == preset


@pytest.mark.parametrize("text", ["v4.4", "3.10", "v2.6", "lastest", "v5", "5.x"])
def test_what_is_no_preset(text: str) -> None:
    assert resolve_kernel(text) is None


@pytest.mark.parametrize(
    ("asked", "label"),
    [
        ("v5.10", "v5.10 (preset v5.10)"),
        ("5.10", "5.10 (preset v5.10)"),
        ("6.6.30", "6.6.30 (preset v6.6)"),
        ("v5.9", "v5.9 (as v5.4)"),
        ("latest", "latest"),
    ],
)
def test_the_header_says_which_preset(asked: str, label: str) -> None:
    sc = load_text(MINIMAL, "s.yaml")
    (kernel,) = kernels_for(sc, [asked], False)
    assert asked_label(kernel) == label


def test_an_unknown_kernel_is_a_usage_error() -> None:
    sc = load_text(MINIMAL, "s.yaml")
    with pytest.raises(UsageError, match=r"no preset for kernel 'v4\.4': the oldest is v4\.5"):
        kernels_for(sc, ["v4.4"], False)
    with pytest.raises(UsageError, match="did you mean 'latest'"):
        kernels_for(sc, ["lates"], False)


def test_a_file_may_name_a_version(tmp_path: Path) -> None:
    sc = load_text(f"kernel: 5.15.100\n{MINIMAL}", "s.yaml")
    assert sc.kernel == PRESETS["v5.15"] and asked_label(sc.kernel) == "5.15.100 (preset v5.15)"
    sc = load_text(f"kernel: {{base: '5.9', zero_min_pool: one_element}}\n{MINIMAL}", "s.yaml")
    assert sc.kernel.name == "v5.4" and sc.kernel.zero_min_pool == "one_element"


def test_run_names_the_preset_it_used(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(MINIMAL)
    done = CliRunner().invoke(cli, ["run", str(path), "--kernel", "6.6.30"])
    assert done.exit_code == 0, done.output
    assert "kernel 6.6.30 (preset v6.6):" in done.stdout


def test_kernels_lists_every_preset() -> None:
    """As a table where it fits (--width 400), else one paragraph per knob (80 piped)."""
    done = CliRunner().invoke(cli, ["kernels", "--width", "400"])
    header = next(line for line in done.stdout.splitlines() if "knob" in line)
    assert [c.strip() for c in header.strip("|").split("|")][1:-1] == list(PRESETS)
    narrow = CliRunner().invoke(cli, ["kernels"])
    for knob, value in PRESETS["v4.5"].knobs().items():
        assert knob in done.stdout and f"{knob}:" in narrow.stdout
        assert f"v4.5 {str(value).lower()}," in " ".join(narrow.stdout.split())
    for preset in PRESETS:
        assert f" {preset} " in " ".join(narrow.stdout.split()) + " "


# --- each knob, as read in each kernel's source (docs/model.md) -------------


def test_long_term_kernels_keep_every_knob_of_v4_15() -> None:
    """mempool.c, page_alloc.c and oom_kill.c of 4.19, 5.4, 5.10, 5.15 and the 6.1-era tree
    read the same for every modelled rule; 6.6 and 6.12 were not read (docs/model.md)."""
    for name in LONG_TERM:
        assert PRESETS[name].knobs() == PRESETS["v4.15"].knobs(), name


@pytest.mark.parametrize(
    ("knob", "first", "before", "after"),
    [
        # 5020e285856c: absent from the 4.5-era text, present in 4.6.2.
        ("nofail_reserves_after_oom", "v4.6", False, True),
        # __alloc_pages_high_priority's NOFAIL loop: 4.5-era text only.
        ("nofail_no_watermarks_loop", "v4.6", True, False),
        # 06ad276ac187 and 9a67f6488eca/6c18ba7a1899: 4.10.1 has neither, 4.19 both.
        ("nofail_forces_oom", "v4.11", True, False),
        ("nofail_nopage_fallback", "v4.11", False, True),
        # __GFP_RETRY_MAYFAIL's may_oom bail-out: 4.13 (4.19 has it).
        ("retry_mayfail", "v4.15", False, True),
        # cd04ae1e2dc8 ALLOC_OOM.
        ("victim_reserves", "v4.15", "all", "half_min"),
    ],
)
def test_knob_boundaries(knob: str, first: str, before: object, after: object) -> None:
    releases = [n for n in PRESETS if n not in ("rfc-2016-07", "latest")]
    at = releases.index(first)
    assert {PRESETS[n].knobs()[knob] for n in releases[:at]} == {before}
    assert {PRESETS[n].knobs()[knob] for n in releases[at:]} == {after}
    assert PRESETS["latest"].knobs()[knob] == after


def test_retry_policy_per_release() -> None:
    got = {n: PRESETS[n].retry for n in PRESETS}
    assert got["v4.5"] == got["v4.6"] == "v4.5"  # 4.6.2 still has the pages_reclaimed rule
    assert got["v4.8"] == got["v4.11"] == "v4.7"  # 4.10.1: back-off by no_progress_loops
    assert {got[n] for n in ("v4.15", *LONG_TERM, "latest")} == {"v4.12"}


def test_the_old_nofail_reserves_knob_still_reads() -> None:
    sc = load_text(f"kernel: {{base: v4.8, nofail_reserves: true}}\n{MINIMAL}", "s.yaml")
    k = sc.kernel
    assert (k.nofail_forces_oom, k.nofail_reserves_after_oom, k.nofail_nopage_fallback) == (
        False,
        True,
        True,
    )
