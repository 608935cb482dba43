"""-o onto something that is not a regular file: written through, never replaced.

Device nodes are made in a scratch directory with the numbers of
/dev/null (1, 3) and /dev/full (1, 7), so nothing here touches the
machine's own /dev. Making them needs root (CAP_MKNOD).
"""

from __future__ import annotations

import fcntl
import os
import select
import stat
import threading
from pathlib import Path

import pytest

from tests.property.harness import invoke
from tests.robustness.child import SMALL

NULL, FULL = os.makedev(1, 3), os.makedev(1, 7)


def device(path: Path, number: int) -> Path:
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, number)
    except PermissionError:
        pytest.skip("making a device node needs root")
    return path


def is_char_device(path: Path, number: int) -> bool:
    st = os.lstat(path)
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == number


def only(directory: Path, *names: str) -> None:
    assert sorted(p.name for p in directory.iterdir()) == sorted(names)


def test_a_null_device_stays_a_device(tmp_path: Path) -> None:
    null = device(tmp_path / "null", NULL)
    run = invoke(["run", str(SMALL), "-o", str(null)])
    assert run.code == 0, run.stderr
    assert is_char_device(null, NULL)
    only(tmp_path, "null")


def test_a_full_device_is_an_environment_error_and_stays_a_device(tmp_path: Path) -> None:
    full = device(tmp_path / "full", FULL)
    run = invoke(["run", str(SMALL), "-o", str(full)])
    assert run.code == 2
    assert run.stderr == f"mpsim: cannot write {full}: No space left on device\n"
    assert is_char_device(full, FULL)
    only(tmp_path, "full")


def test_graph_output_onto_a_full_device(tmp_path: Path) -> None:
    full = device(tmp_path / "full", FULL)
    run = invoke(["graph", str(SMALL), "--kernel", "v4.5", "-o", str(full)])
    assert run.code == 2
    assert "No space left on device" in run.stderr
    assert is_char_device(full, FULL)


def test_a_symlink_stays_and_its_target_gets_the_report(tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("old\n")
    link = tmp_path / "link.txt"
    link.symlink_to(target.name)
    run = invoke(["run", str(SMALL), "-o", str(link)])
    assert run.code == 0, run.stderr
    assert link.is_symlink() and os.readlink(link) == target.name
    assert "rientjes-2016-oom-victim" in target.read_text()
    only(tmp_path, "link.txt", "target.txt")


def test_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.txt"
    link.symlink_to("new.txt")
    run = invoke(["run", str(SMALL), "-o", str(link)])
    assert run.code == 0, run.stderr
    assert link.is_symlink()
    assert "rientjes-2016-oom-victim" in (tmp_path / "new.txt").read_text()


def test_a_symlink_to_a_device_leaves_both(tmp_path: Path) -> None:
    full = device(tmp_path / "full", FULL)
    link = tmp_path / "link"
    link.symlink_to(full)
    run = invoke(["run", str(SMALL), "-o", str(link)])
    assert run.code == 2 and "No space left on device" in run.stderr
    assert link.is_symlink() and is_char_device(full, FULL)


def test_a_symlink_loop_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    run = invoke(["run", str(SMALL), "-o", str(tmp_path / "a")])
    assert run.code == 2
    assert run.stderr.count("\n") == 1 and "symbolic links" in run.stderr, run.stderr
    assert (tmp_path / "a").is_symlink() and (tmp_path / "b").is_symlink()


def read_fifo(path: Path, out: list[bytes]) -> None:
    with open(path, "rb") as f:
        out.append(f.read())


def test_a_fifo_reader_gets_the_report(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=read_fifo, args=(fifo, got), daemon=True)
    reader.start()
    run = invoke(["run", str(SMALL), "--format", "json", "-o", str(fifo)])
    reader.join(timeout=60)
    assert run.code == 0, run.stderr
    assert got and b'"rientjes-2016-oom-victim"' in got[0]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    only(tmp_path, "fifo")


def test_a_fifo_whose_reader_leaves_is_an_environment_error(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    # A one-page pipe and a reader that takes the first bytes and leaves: the
    # report (about 10 kB with --trace) cannot fit, so the writer meets EPIPE.
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 4096)

    def take_a_little_and_leave() -> None:
        select.select([fd], [], [], 60)
        os.read(fd, 10)
        os.close(fd)

    reader = threading.Thread(target=take_a_little_and_leave, daemon=True)
    reader.start()
    run = invoke(["run", str(SMALL), "--all-kernels", "--trace", "-o", str(fifo)])
    reader.join(timeout=60)
    assert run.code == 2
    assert run.stderr == f"mpsim: cannot write {fifo}: Broken pipe\n"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    only(tmp_path, "fifo")


@pytest.mark.parametrize("command", [["run", str(SMALL)], ["graph", str(SMALL), "-k", "v4.5"]])
def test_an_empty_output_name_is_a_usage_error(command: list[str]) -> None:
    run = invoke([*command, "-o", ""])
    assert run.code == 2
    assert run.stderr == "mpsim: -o needs a file name (leave -o out to print to standard output)\n"
