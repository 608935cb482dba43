"""``mpsim import lockdep``: the parser on every corpus report, the drafts, their verdicts, errors.

The corpus is ``tests/data/lockdep/`` (sources and resolutions in its
``sources.toml``; the table of verdicts in ``docs/import.md``). Each
report's draft is committed beside it as ``NAME.draft.yaml`` (golden: the
importer must write exactly that), and where the draft's assumptions
needed settling, ``NAME.edited.yaml`` is the hand-edited scenario.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from mempool_cli import api
from mempool_cli.cli import cli
from mempool_cli.errors import ReportError
from mempool_cli.lockdep.draft import draft_scenario, lock_kind
from mempool_cli.lockdep.parse import chain_classes, parse_report
from mempool_cli.scenario.loader import load_text

DATA = Path(__file__).resolve().parents[1] / "data" / "lockdep"
REPORTS = sorted(DATA.glob("*.txt"))
SOURCES = tomllib.loads((DATA / "sources.toml").read_text(encoding="utf-8"))

# name: (kind, lock classes of the deadlock, chain links, table columns, draft's tasks)
EXPECTED = {
    "amdkfd-svm-eviction-work": (
        "circular",
        {"(work_completion)(&svm_bo->eviction_work)", "&svms->lock", "&mm->mmap_lock"},
        3,
        2,
        ["kworker-8-2", "svm_range_evict_svm_bo_worker", "kfd_ioctl_alloc_memory_of_gpu"],
    ),
    "btrfs-abort-transaction-nofs": (
        "circular",
        {"sb_internal#2", "fs_reclaim"},
        2,
        2,
        ["kswapd0", "alloc_extent_state"],
    ),
    "btrfs-groups-sem-reclaim-inversion": (
        "irq-inversion",
        {"&delayed_node->mutex", "&found->groups_sem"},
        0,
        2,
        ["cpu0", "cpu1"],
    ),
    "efivarfs-resume-inode-lock-recursion": (
        "recursive",
        {"&sb->s_type->i_mutex_key#16"},
        0,
        1,
        ["syz-executor772"],
    ),
    "hugetlb-lock-softirq": ("inconsistent", {"hugetlb_lock"}, 0, 1, ["cpu0", "swapper-30"]),
    "io-wq-wqe-lock-recursion": ("recursive", {"&wqe->lock"}, 0, 1, ["iou-wrk-6468"]),
    "jffs2-fs-reclaim": (
        "circular",
        {"&f->sem", "fs_reclaim"},
        2,
        2,
        ["kswapd0", "jffs2_alloc_inode_cache"],
    ),
    "lan966x-ptp-irq-inversion": (
        "irq-inversion",
        {"_xmit_ETHER#2", "&lan966x->ptp_ts_id_lock"},
        0,
        2,
        ["cpu0", "swapper-0", "cpu1"],
    ),
    "nfit-teardown-work-flush": (
        "circular",
        {"(work_completion)(&(&acpi_desc->dwork)->work)", "&acpi_desc->init_mutex"},
        0,
        2,
        ["libndctl", "cpu1"],
    ),
    "pciehp-reset-lock-recursion": (
        "recursive",
        {"&ctrl->reset_lock"},
        0,
        1,
        ["irq-124-pciehp", "writer"],
    ),
    "xfs-ilock-reclaim-fs-inconsistent": (
        "inconsistent",
        {"&xfs_nondir_ilock_class"},
        0,
        1,
        ["fs_mark", "reclaim-xfs_nondir_ilock_class"],
    ),
    "zswap-cpu-hotplug-fs-reclaim": (
        "circular",
        {"cpu_hotplug_lock", "fs_reclaim"},
        2,
        2,
        ["kswapd0", "alloc_worker"],
    ),
}

# name: (draft's outcomes, edited file's outcomes or None): the table of docs/import.md.
VERDICTS = {
    "amdkfd-svm-eviction-work": (("deadlock",), ()),
    "btrfs-abort-transaction-nofs": (("deadlock",), ("deadlock",)),
    "btrfs-groups-sem-reclaim-inversion": (("deadlock",), ("deadlock",)),
    "efivarfs-resume-inode-lock-recursion": (("deadlock",), ()),
    "hugetlb-lock-softirq": (("deadlock",), None),
    "io-wq-wqe-lock-recursion": (("deadlock",), None),
    "jffs2-fs-reclaim": (("deadlock",), ()),
    "lan966x-ptp-irq-inversion": (("deadlock",), None),
    "nfit-teardown-work-flush": (("deadlock",), ("deadlock",)),
    "pciehp-reset-lock-recursion": (("deadlock",), ()),
    "xfs-ilock-reclaim-fs-inconsistent": (("deadlock",), ()),
    "zswap-cpu-hotplug-fs-reclaim": (("deadlock",), None),
}


def _draft(path: Path) -> str:
    return draft_scenario(
        parse_report(path.read_text(encoding="utf-8"), path.name), path.stem, path.name
    )


def test_the_corpus_is_the_table() -> None:
    names = {p.stem for p in REPORTS}
    assert names == set(EXPECTED) == set(VERDICTS) == set(SOURCES)
    assert len(names) >= 12
    kinds = {SOURCES[n]["kind"] for n in names}
    assert kinds == {"circular", "recursive", "inconsistent", "irq-inversion"}
    for name, source in SOURCES.items():
        assert source.get("lore") or source.get("url"), name
        assert source["resolution"].strip(), name
        assert source["kind"] == EXPECTED[name][0], name


@pytest.mark.parametrize("path", REPORTS, ids=lambda p: p.stem)
def test_parse(path: Path) -> None:
    kind, classes, links, cpus, _ = EXPECTED[path.stem]
    report = parse_report(path.read_text(encoding="utf-8"), path.name)
    assert report.kind == kind
    assert set(report.classes) == classes
    assert len(report.chain) == links
    assert report.cpus == cpus
    assert report.task
    assert report.acquiring is not None and report.acquiring.line >= 1


@pytest.mark.parametrize("path", REPORTS, ids=lambda p: p.stem)
def test_draft_loads_and_has_the_tasks(path: Path) -> None:
    scenario = load_text(_draft(path), f"{path.stem}.draft.yaml")
    assert [t.name for t in scenario.tasks] == EXPECTED[path.stem][4]


@pytest.mark.parametrize("path", REPORTS, ids=lambda p: p.stem)
def test_draft_is_deterministic_and_golden(path: Path) -> None:
    text = _draft(path)
    assert text == _draft(path)
    assert text == (DATA / f"{path.stem}.draft.yaml").read_text(encoding="utf-8")


def test_cli_writes_the_golden_draft(tmp_path: Path) -> None:
    path = DATA / "jffs2-fs-reclaim.txt"
    out = tmp_path / "draft.yaml"
    result = CliRunner().invoke(cli, ["import", "lockdep", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == (DATA / "jffs2-fs-reclaim.draft.yaml").read_text(
        encoding="utf-8"
    )
    assert "drafted jffs2-fs-reclaim (circular, 2 tasks, 2 assumed)" in result.output


def test_cli_reads_stdin_and_prints() -> None:
    text = (DATA / "io-wq-wqe-lock-recursion.txt").read_text(encoding="utf-8")
    result = CliRunner().invoke(cli, ["import", "lockdep", "-", "--name", "io-wq"], input=text)
    assert result.exit_code == 0, result.output
    assert "name: io-wq\n" in result.output
    assert "- spin_lock: wqe.lock" in result.output


def test_cli_refuses_to_write_over_its_input(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    path.write_text((DATA / "io-wq-wqe-lock-recursion.txt").read_text(encoding="utf-8"))
    result = CliRunner().invoke(cli, ["import", "lockdep", str(path), "-o", str(path)])
    assert result.exit_code == 2
    assert "would overwrite" in result.output


@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_verdicts(name: str) -> None:
    drafted, edited = VERDICTS[name]
    (result,) = api.run(DATA / f"{name}.draft.yaml")
    assert result.complete and result.outcomes == drafted
    path = DATA / f"{name}.edited.yaml"
    assert path.exists() == (edited is not None)
    if edited is not None:
        (result,) = api.run(path)
        assert result.complete and result.outcomes == edited
        assert result.status == "pass"  # its expect says what the table says


# --- tolerance ---------------------------------------------------------------------


def test_prefixes_do_not_change_the_report() -> None:
    """dmesg timestamps, caller ids, syslog prefixes, printk levels and mail quoting."""
    text = (DATA / "jffs2-fs-reclaim.txt").read_text(encoding="utf-8")
    plain = parse_report(text, "a")
    for prefix in (
        "[   12.345678] ",
        "[   12.345678] [  T1287] ",
        "<4>[ 1.5] ",
        "> > ",
        "Nov 26 04:05:14 garfield kernel: [   42.362138] ",
    ):
        wrapped = "\n".join(prefix + line for line in text.splitlines())
        got = parse_report(wrapped, "b")
        assert (got.kind, got.classes, chain_classes(got)) == (
            plain.kind,
            plain.classes,
            chain_classes(plain),
        )
        assert [e.op for e in got.events] == [e.op for e in plain.events]
        assert [e.cpu for e in got.events] == [e.cpu for e in plain.events]


def test_positions_are_those_of_the_input() -> None:
    report = parse_report(
        (DATA / "pciehp-reset-lock-recursion.txt").read_text(encoding="utf-8"), "p"
    )
    assert report.acquiring is not None
    # '> [   28.584873] ffff8e5ac4299ef8 (&ctrl->reset_lock)...': the class's '(' is column 35
    assert (report.acquiring.line, report.acquiring.col) == (6, 35)


def test_lock_kinds() -> None:
    report = parse_report(
        (DATA / "zswap-cpu-hotplug-fs-reclaim.txt").read_text(encoding="utf-8"), "z"
    )
    assert lock_kind(report, "cpu_hotplug_lock").kind == "rwsem"  # cpus_read_lock in its stack
    report = parse_report((DATA / "hugetlb-lock-softirq.txt").read_text(encoding="utf-8"), "h")
    assert lock_kind(report, "hugetlb_lock").kind == "spinlock"  # _raw_spin_lock, no wait type
    report = parse_report(
        (DATA / "btrfs-groups-sem-reclaim-inversion.txt").read_text(encoding="utf-8"), "b"
    )
    kind = lock_kind(report, "&found->groups_sem")
    assert (kind.kind, kind.guessed) == ("rwsem", True)  # by name and read usage: an assumption


# --- errors ------------------------------------------------------------------------

CUT = DATA / "lan966x-ptp-irq-inversion.txt"


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("", (1, 1), "empty input"),
        ("\n  \n", (1, 1), "empty input"),
        ("hello\nworld\n", (1, 1), "expected a lockdep report"),
        (
            "WARNING: possible recursive locking detected\n5.16.0 #0\n",
            (2, 10),
            "is trying to acquire lock",
        ),
        (
            "WARNING: possible recursive locking detected\nt/1 is trying to acquire lock:\n"
            "ffff88801aa98018 &wqe->lock\n",
            (3, 1),
            "expected the lock being acquired",
        ),
        ("-> #1 (fs_reclaim){+.+.}:\n", (1, 1), "expected a lockdep report"),
    ],
)
def test_bad_input_is_positioned(text: str, where: tuple[int, int], words: str) -> None:
    with pytest.raises(ReportError) as err:
        parse_report(text, "r.txt")
    (problem,) = err.value.problems
    assert (problem.line, problem.col) == where
    assert words in problem.message
    assert err.value.exit_code == 3


def test_a_report_cut_in_its_table() -> None:
    lines = CUT.read_text(encoding="utf-8").splitlines()
    cut = "\n".join(lines[:20])  # up to CPU1's lock(&lan966x->ptp_ts_id_lock)
    with pytest.raises(ReportError) as err:
        parse_report(cut, "cut.txt")
    (problem,) = err.value.problems
    assert problem.line == 20 and problem.col == len(lines[19]) + 1
    assert "ends before '*** DEADLOCK ***'" in problem.message


@pytest.mark.parametrize("path", REPORTS, ids=lambda p: p.stem)
def test_every_cut_is_a_report_or_a_positioned_error(path: Path) -> None:
    """Cut at every line: either what remains is a whole report, or the error is positioned
    within the text that remains."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for n in range(len(lines)):
        try:
            parse_report("\n".join(lines[:n]), "cut.txt")
        except ReportError as err:
            (problem,) = err.problems
            assert 1 <= problem.line <= max(n, 1)
            assert problem.col >= 1


def test_cli_bad_input_exits_3_with_a_caret(tmp_path: Path) -> None:
    path = tmp_path / "cut.txt"
    path.write_text("\n".join(CUT.read_text(encoding="utf-8").splitlines()[:20]) + "\n")
    result = CliRunner().invoke(cli, ["import", "lockdep", str(path)])
    assert result.exit_code == 3
    first, source, caret = result.output.splitlines()[:3]
    assert first.startswith(f"{path}:20:") and ": error: " in first
    assert source.endswith("lock(&lan966x->ptp_ts_id_lock);")
    assert caret.strip() == "^"


def test_cli_missing_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["import", "lockdep", str(tmp_path / "none.txt")])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_cli_counts_one_task_in_the_singular(tmp_path: Path) -> None:
    path = DATA / "efivarfs-resume-inode-lock-recursion.txt"
    out = tmp_path / "draft.yaml"
    result = CliRunner().invoke(cli, ["import", "lockdep", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "(recursive, 1 task, 1 assumed)" in result.output
