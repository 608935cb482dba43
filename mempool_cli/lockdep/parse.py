"""A lockdep report as data: text in, ``Report`` out, every piece with its line and column.

The four reports of ``kernel/locking/lockdep.c`` are read: "possible
circular locking dependency" (``print_circular_bug``), "possible recursive
locking" (``print_deadlock_bug``), "inconsistent lock state"
(``print_usage_bug``) and "possible irq lock inversion dependency"
(``print_irq_inversion_bug``), with their header (who acquires what while
holding what), the dependency chain (``-> #N (class){usage}-{w:w}:`` and
its stack), the "Possible unsafe locking scenario" table and the "locks
held by" list.

Around the lines lockdep prints, a report carries whatever its way to us
added: dmesg timestamps (``[   12.345678]``), a caller id (``[ T1287]``),
a printk level (``<4>``), a syslog prefix (``Nov 26 04:05:14 host
kernel:``), mail quoting (``> ``, ``| ``) and the indentation of a commit
message; older kernels print ``[ INFO: ... ]`` titles, ``[<addr>]`` before
each frame and six usage characters (the RECLAIM_FS state), newer ones a
``-{N:N}`` wait type and syzbot's ``file.c:123 [inline]`` frames. Those are
read past, not required. What a report cannot do without (its header, a
lock class where one is announced, a table that ends in ``*** DEADLOCK
***``) is a ``ReportError`` at the line and column where it was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mempool_cli.errors import Problem, ReportError

__all__ = [
    "KINDS",
    "Event",
    "Frame",
    "Held",
    "LockClass",
    "Report",
    "chain_classes",
    "parse_report",
]

# The report kinds, as mpsim names them, and the title lockdep prints for each.
KINDS = {
    "circular": "possible circular locking dependency detected",
    "recursive": "possible recursive locking detected",
    "inconsistent": "inconsistent lock state",
    "irq-inversion": "possible irq lock inversion dependency detected",
}

_PREFIX = re.compile(
    r"(?:(?:>|\|)[ \t]?"  # mail quoting, one level at a time
    r"|<\d>"  # printk level
    r"|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ kernel: ?"  # syslog
    r"|\[\s*\d+\.\d+\] ?"  # dmesg timestamp
    r"|\[\s*[TC]\d+\] ?"  # caller id (CONFIG_PRINTK_CALLER)
    r")"
)
_TITLE = re.compile(
    r"(?:WARNING: |\[ INFO: )?(?P<title>" + "|".join(re.escape(t) for t in KINDS.values()) + r")"
)
# (name){usage}-{inner:outer}: the name may hold parentheses, never "){".
_CLASS = re.compile(
    r"(?:(?P<addr>[0-9a-f]{8,16}|\(____ptrval____\))\s+)?"
    r"\((?P<name>.+?)\)\{(?P<usage>[-+.?]{2,8})\}"
    r"(?:-\{(?P<inner>\d):(?P<outer>\d)\})?"
    r"(?:, at: (?P<at>.*))?"
)
_LINK = re.compile(r"-> #(?P<n>\d+) " + _CLASS.pattern[_CLASS.pattern.index(r"\((?P<name>") :])
_TRYING = re.compile(r"(?P<task>\S+) is trying to acquire lock:")
_HOLDING = re.compile(r"but task is already holding lock:")
_TAKES = re.compile(r"(?P<task>\S+) \[HC\d\[\d\]:SC\d\[\d\]:HE\d:SE\d\] takes:")
_USAGE = re.compile(r"inconsistent \{(?P<was>[A-Za-z_-]+)\} -> \{(?P<now>[A-Za-z_-]+)\} usage\.")
_REGISTERED = re.compile(r"\{(?P<state>[A-Za-z_-]+)\} state was registered at:")
_CHANGED = re.compile(r"(?P<task>\S+) just changed the state of lock:")
_TOOK = re.compile(
    r"but this lock (?:took another|was taken by another), "
    r"(?P<state>[A-Za-z_]+?)(?:-READ)?-(?P<safety>safe|unsafe) lock in the past:",
    re.IGNORECASE,
)
_SCENARIO = re.compile(r"Possible (?:interrupt )?unsafe locking scenario:")
_CPU = re.compile(r"CPU\d+")
_EVENT = re.compile(r"(?P<op>r?lock|local_irq_disable)\((?P<arg>.*)\);$")
_HELD_BY = re.compile(r"(?:(?P<n>\d+) locks? held by|no locks held by) (?P<task>\S+?)[.:]$")
_HELD = re.compile(r"#(?P<i>\d+):\s+")
_FRAME_ADDR = re.compile(r"\[<[0-9a-f]+>\]\s*")
_VERSION = re.compile(r"(?P<version>\d+\.\d+\S*) #\S+")
_DASHES = re.compile(r"-{4,}|={4,}")


@dataclass(frozen=True, slots=True)
class LockClass:
    """One lock class as the report prints it, where it first printed it (1-based).

    ``usage`` is the characters between the braces (``+.+.``: per state,
    the write then the read usage; ``lockdep-design.rst``), ``wait`` the
    ``-{inner:outer}`` wait types (``lockdep_types.h``: 0 not checked, 1
    wait-free, 2 spin, 3 sleep or, with PROVE_RAW_LOCK_NESTING, spinlock_t,
    4 sleep), ``at`` the frame after ``at:``.
    """

    name: str
    usage: str
    wait: tuple[int, int] | None
    address: str
    at: str
    line: int
    col: int

    @property
    def read(self) -> bool:
        """Taken for read in some state: a read usage position is not ``.``.

        >>> LockClass("x", "++++", None, "", "", 1, 1).read
        True
        >>> LockClass("y", "+.+.", None, "", "", 1, 1).read
        False
        """
        return any(c != "." for c in self.usage[1::2])

    @property
    def in_irq(self) -> str:
        """``hardirq``, ``softirq`` or ``""``: the context lockdep saw it taken in (``-`` or ``?``).

        >>> LockClass("x", "+.-.", None, "", "", 1, 1).in_irq
        'softirq'
        """
        for state, chars in (("hardirq", self.usage[0:2]), ("softirq", self.usage[2:4])):
            if any(c in "-?" for c in chars):
                return state
        return ""


@dataclass(frozen=True, slots=True)
class Frame:
    """One stack frame: the function with its offset (``jffs2_iget+0x154/0x540``) and the rest."""

    function: str
    text: str
    line: int

    @property
    def name(self) -> str:
        """The function without its offset: ``jffs2_iget``."""
        return self.function.split("+", 1)[0]


@dataclass(frozen=True, slots=True)
class Link:
    """``-> #N (class)``: the lock class acquired, and the stack it was acquired with."""

    number: int
    lock: LockClass
    frames: tuple[Frame, ...]


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the unsafe-scenario table: ``lock``, ``rlock``, ``local_irq_disable`` or
    ``interrupt`` (the ``<Interrupt>`` line), in CPU column ``cpu``."""

    cpu: int
    op: str
    lock: str
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class Held:
    """One ``#i:`` entry of the "locks held by" list."""

    index: int
    lock: LockClass


@dataclass(frozen=True, slots=True)
class Report:
    """A lockdep report. ``acquiring`` is the lock being taken (or whose state changed);
    ``holding`` the one held (or, for an irq inversion, the one it took in the past)."""

    kind: str
    title: str
    line: int
    kernel: str
    task: str
    acquiring: LockClass | None
    holding: LockClass | None
    chain: tuple[Link, ...]
    chain_elided: bool
    cpus: int
    events: tuple[Event, ...]
    held: tuple[Held, ...]
    held_by: str
    usage: tuple[str, str] | None
    state: str
    registered: tuple[Frame, ...]
    acquiring_frames: tuple[Frame, ...]

    @property
    def classes(self) -> tuple[str, ...]:
        """Every lock class the deadlock is about (header, chain, table), in first-seen order."""
        names = [c.name for c in (self.acquiring, self.holding) if c is not None]
        names += [link.lock.name for link in self.chain]
        names += [e.lock for e in self.events if e.lock]
        return tuple(dict.fromkeys(names))

    def lock_class(self, name: str) -> LockClass | None:
        """The first printed ``LockClass`` of that name (header, chain, held list)."""
        for c in (self.acquiring, self.holding):
            if c is not None and c.name == name:
                return c
        for link in self.chain:
            if link.lock.name == name:
                return link.lock
        for h in self.held:
            if h.lock.name == name:
                return h.lock
        return None


def chain_classes(report: Report) -> tuple[str, ...]:
    """The chain's classes in cycle order: each is taken while holding the one before it,
    and the first (``#0``) while holding the last."""
    return tuple(link.lock.name for link in sorted(report.chain, key=lambda k: k.number))


# --- lines -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Line:
    number: int  # 1-based, in the input
    raw: str
    start: int  # index in raw where lockdep's own text starts
    text: str  # raw[start:], right-stripped

    @property
    def body(self) -> str:
        return self.text.strip()

    def col(self, index_in_text: int = -1) -> int:
        """1-based column in the input of ``text[index_in_text]`` (default: the first non-blank)."""
        if index_in_text < 0:
            index_in_text = len(self.text) - len(self.text.lstrip())
        return self.start + index_in_text + 1

    @property
    def indent(self) -> int:
        """Width of the leading blanks of ``text``, tabs expanded: table columns are read so."""
        return len(self.text.expandtabs()) - len(self.text.expandtabs().lstrip())


def _lines(text: str) -> list[_Line]:
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        start = 0
        while m := _PREFIX.match(raw, start):
            if m.end() == start:
                break
            start = m.end()
        out.append(_Line(number, raw, start, raw[start:].rstrip()))
    return out


class _Reader:
    """The report's lines with a cursor; problems are raised as a positioned ``ReportError``."""

    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.lines = _lines(text)
        self.i = 0

    def fail(self, line: _Line | None, message: str, index: int = -1) -> ReportError:
        if line is None:  # the input ended: point just past its last character
            last = self.lines[-1] if self.lines else _Line(1, "", 0, "")
            return ReportError(
                [Problem(self.path, last.number, len(last.raw) + 1, message, last.raw)]
            )
        return ReportError([Problem(self.path, line.number, line.col(index), message, line.raw)])

    def peek(self) -> _Line | None:
        """The next line that is not blank (the cursor stays)."""
        j = self.i
        while j < len(self.lines) and not self.lines[j].body:
            j += 1
        return self.lines[j] if j < len(self.lines) else None

    def next(self) -> _Line | None:
        line = self.peek()
        if line is not None:
            self.i = self.lines.index(line, self.i) + 1
        return line

    def find(self, pattern: re.Pattern[str], stop: re.Pattern[str] | None = None) -> _Line | None:
        """Move to the next line whose body matches; None (cursor unmoved) if ``stop`` or the
        end comes first."""
        for j in range(self.i, len(self.lines)):
            body = self.lines[j].body
            if stop is not None and stop.search(body):
                return None
            if pattern.search(body):
                self.i = j + 1
                return self.lines[j]
        return None

    def expect(self, pattern: re.Pattern[str], message: str) -> tuple[_Line, re.Match[str]]:
        """Move past the next line matching ``pattern``; ``message`` is the error if none does."""
        line = self.find(pattern)
        if line is None:
            raise self.fail(self.peek(), message)
        m = pattern.search(line.body)
        assert m is not None
        return line, m

    def lock_class(self, after: _Line, what: str) -> LockClass:
        """The lock class on the line after ``after`` (syzbot prints it once per inlined frame:
        the first is kept)."""
        line = self.next()
        m = _CLASS.search(line.body) if line is not None else None
        if line is None or m is None:
            raise self.fail(
                line,
                f"expected {what} after '{after.body}', such as "
                "'ffff888012345678 (&f->sem){+.+.}-{3:3}, at: jffs2_iget+0x154/0x540'",
            )
        first = _class(line, m)
        while (more := self.peek()) is not None and (again := _CLASS.search(more.body)):
            if again.group("name") != first.name:
                break
            self.next()
        return first


def _class(line: _Line, m: re.Match[str]) -> LockClass:
    offset = line.text.index(line.body)
    wait = (int(m.group("inner")), int(m.group("outer"))) if m.group("inner") else None
    at = _FRAME_ADDR.sub("", m.group("at") or "").strip()
    return LockClass(
        name=m.group("name"),
        usage=m.group("usage"),
        wait=wait,
        address=m.groupdict().get("addr") or "",
        at=at,
        line=line.number,
        col=line.col(offset + m.start("name") - 1),
    )


def _frame(line: _Line) -> Frame | None:
    body = _FRAME_ADDR.sub("", line.body).strip()
    if not body or body.startswith("?") or body.startswith("<") or " from " in body:
        return None
    function = body.split()[0]
    if not re.fullmatch(r"[A-Za-z_][\w.]*(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?", function):
        return None
    if "+0x" not in function and "[inline]" not in body:
        return None
    return Frame(function, body, line.number)


def _frames(reader: _Reader) -> tuple[Frame, ...]:
    """The frames from the cursor on, to the first blank line or line that is not a frame."""
    out: list[Frame] = []
    while reader.i < len(reader.lines):
        line = reader.lines[reader.i]
        if not line.body:
            break
        if _LINK.match(line.body) or _SCENARIO.search(line.body):
            break
        frame = _frame(line)
        if frame is None and not line.body.startswith("?"):
            break
        if frame is not None:
            out.append(frame)
        reader.i += 1
    return tuple(out)


# --- the report --------------------------------------------------------------------


def parse_report(text: str, path: str = "<stdin>") -> Report:
    """Read the lockdep report in ``text``; ``path`` names it in errors.

    Raises ``ReportError`` (exit 3) for input that holds no report, or a
    report cut short before a part it cannot do without.

    >>> r = parse_report('''
    ... ============================================
    ... WARNING: possible recursive locking detected
    ... 5.16.0-rc4 #0 Not tainted
    ... --------------------------------------------
    ... iou-wrk-6468/6471 is trying to acquire lock:
    ... ffff88801aa98018 (&wqe->lock){+.+.}-{2:2}, at: io_worker_cancel_cb+0xb7/0x210
    ...
    ... but task is already holding lock:
    ... ffff88801aa98018 (&wqe->lock){+.+.}-{2:2}, at: io_wq_worker_sleeping+0xb6/0x140
    ... ''')
    >>> r.kind, r.task, r.acquiring.name, r.acquiring.wait, r.classes
    ('recursive', 'iou-wrk-6468/6471', '&wqe->lock', (2, 2), ('&wqe->lock',))
    >>> parse_report("", "x.txt")
    Traceback (most recent call last):
    ...
    mempool_cli.errors.ReportError: x.txt:1:1: error: empty input: expected a lockdep report
    """
    reader = _Reader(text, path)
    if not any(line.body for line in reader.lines):
        raise ReportError([Problem(path, 1, 1, "empty input: expected a lockdep report")])
    kind, title, title_line = _kind(reader)
    kernel = ""
    version = reader.peek()
    if title_line is not None and version is not None and (m := _VERSION.match(version.body)):
        kernel = m.group("version")
        reader.next()
    parts = _Parts()
    if kind in ("circular", "recursive"):
        _acquire_and_hold(reader, parts)
        if kind == "circular":
            _chain(reader, parts)
    elif kind == "inconsistent":
        _inconsistent(reader, parts)
    else:
        _inversion(reader, parts)
    # A recursive report's header says all its table would; the others need theirs (a
    # circular one its chain, or its table when the chain is cut).
    needed = kind in ("inconsistent", "irq-inversion") or (
        kind == "circular" and len(parts.chain) < 2
    )
    _scenario(reader, parts, required=needed)
    _held(reader, parts)
    return Report(
        kind=kind,
        title=title,
        line=title_line.number if title_line is not None else 1,
        kernel=kernel,
        task=parts.task,
        acquiring=parts.acquiring,
        holding=parts.holding,
        chain=tuple(parts.chain),
        chain_elided=parts.elided,
        cpus=parts.cpus,
        events=tuple(parts.events),
        held=tuple(parts.held),
        held_by=parts.held_by,
        usage=parts.usage,
        state=parts.state,
        registered=parts.registered,
        acquiring_frames=parts.acquiring_frames,
    )


class _Parts:
    def __init__(self) -> None:
        self.task = ""
        self.acquiring: LockClass | None = None
        self.holding: LockClass | None = None
        self.chain: list[Link] = []
        self.elided = False
        self.cpus = 0
        self.events: list[Event] = []
        self.held: list[Held] = []
        self.held_by = ""
        self.usage: tuple[str, str] | None = None
        self.state = ""
        self.registered: tuple[Frame, ...] = ()
        self.acquiring_frames: tuple[Frame, ...] = ()


def _kind(reader: _Reader) -> tuple[str, str, _Line | None]:
    """The report's kind from its title, or (a commit message may quote the report without
    its title) from the first line only that kind prints."""
    for j, line in enumerate(reader.lines):
        if m := _TITLE.search(line.body):
            reader.i = j + 1
            title = m.group("title")
            return next(k for k, t in KINDS.items() if t == title), title, line
    markers = (
        (_TRYING, None),
        (_USAGE, "inconsistent"),
        (_TAKES, "inconsistent"),
        (_CHANGED, "irq-inversion"),
    )
    for j, line in enumerate(reader.lines):
        for pattern, kind in markers:
            if pattern.search(line.body):
                reader.i = j
                if kind is None:
                    rest = " ".join(x.body for x in reader.lines[j:])
                    kind = (
                        "circular"
                        if "which lock already depends on the new lock" in rest
                        else "recursive"
                    )
                return kind, KINDS[kind], None
    first = next(line for line in reader.lines if line.body)
    raise reader.fail(
        first,
        "expected a lockdep report: no line such as 'WARNING: possible circular locking "
        "dependency detected' or 'TASK/PID is trying to acquire lock:' in the input",
    )


def _header(
    reader: _Reader, parts: _Parts, *pairs: tuple[re.Pattern[str], str, str]
) -> re.Match[str]:
    """The two header lines and the lock class under each: ``(pattern, message, what)`` for
    the line with the task and the lock it acquires, then for the other lock's line. Returns
    the second line's match."""
    (first, first_message, first_what), (second, second_message, second_what) = pairs
    line, m = reader.expect(first, first_message)
    parts.task = m.group("task")
    parts.acquiring = reader.lock_class(line, first_what)
    other, m = reader.expect(second, second_message)
    parts.holding = reader.lock_class(other, second_what)
    return m


def _acquire_and_hold(reader: _Reader, parts: _Parts) -> None:
    _header(
        reader,
        parts,
        (
            _TRYING,
            "expected 'TASK/PID is trying to acquire lock:' after the title",
            "the lock being acquired",
        ),
        (
            _HOLDING,
            "expected 'but task is already holding lock:' after the lock being acquired",
            "the lock already held",
        ),
    )


def _chain(reader: _Reader, parts: _Parts) -> None:
    reader.expect(
        re.compile("which lock already depends on the new lock"),
        "expected 'which lock already depends on the new lock.' after the held lock",
    )
    stop = re.compile(
        r"other info that might help|Possible (?:interrupt )?unsafe locking scenario"
        r"|Chain exists of"
    )
    while (line := reader.peek()) is not None and not stop.search(line.body):
        reader.next()
        if line.body in ("...", "....", ":"):
            parts.elided = True
            continue
        if line.body.startswith("->"):
            m = _LINK.match(line.body)
            if m is None:
                raise reader.fail(
                    line, "expected a chain link such as '-> #1 (fs_reclaim){+.+.}-{0:0}:'"
                )
            lock = _class(line, m)
            parts.chain.append(Link(int(m.group("n")), lock, _frames(reader)))
    numbers = sorted(link.number for link in parts.chain)
    if numbers and numbers != list(range(len(numbers))):
        at = parts.chain[-1].lock
        raise ReportError(
            [
                Problem(
                    reader.path,
                    at.line,
                    at.col,
                    f"the chain's links are #{numbers}, not #0 to #{len(numbers) - 1}: "
                    "the report is cut or garbled",
                    reader.lines[at.line - 1].raw,
                )
            ]
        )


def _inconsistent(reader: _Reader, parts: _Parts) -> None:
    _, m = reader.expect(
        _USAGE, "expected 'inconsistent {STATE} -> {STATE} usage.' after the title"
    )
    parts.usage = (m.group("was"), m.group("now"))
    parts.state = _state(m.group("was") + " " + m.group("now"))
    takes, m = reader.expect(
        _TAKES, "expected 'TASK/PID [HC0[0]:SC0[0]:HE1:SE1] takes:' after the usage line"
    )
    parts.task = m.group("task")
    parts.acquiring = reader.lock_class(takes, "the lock it takes")
    parts.holding = parts.acquiring
    if reader.find(_REGISTERED, stop=_SCENARIO) is not None:
        parts.registered = _frames(reader)


def _inversion(reader: _Reader, parts: _Parts) -> None:
    m = _header(
        reader,
        parts,
        (
            _CHANGED,
            "expected 'TASK/PID just changed the state of lock:' after the title",
            "the lock whose state changed",
        ),
        (
            _TOOK,
            "expected 'but this lock took another, STATE-unsafe lock in the past:'",
            "the other lock",
        ),
    )
    parts.state = _state(m.group("state"))


def _state(text: str) -> str:
    """The irq state a report is about: ``hardirq``, ``softirq`` or ``reclaim_fs``."""
    upper = text.upper()
    for word, state in (
        ("RECLAIM_FS", "reclaim_fs"),
        ("SOFTIRQ", "softirq"),
        ("HARDIRQ", "hardirq"),
    ):
        if word in upper:
            return state
    return ""


def _scenario(reader: _Reader, parts: _Parts, required: bool) -> None:
    line = reader.find(_SCENARIO)
    if line is None:
        if required:
            raise reader.fail(
                reader.peek(),
                "expected ' Possible unsafe locking scenario:': the report ends before its table",
            )
        return
    header = reader.next()
    if header is None or not _CPU.match(header.body):
        raise reader.fail(header, "expected the table's header 'CPU0                    CPU1'")
    expanded = header.text.expandtabs()
    starts = [m.start() for m in _CPU.finditer(expanded)]
    parts.cpus = len(starts)
    dashes = reader.peek()
    if dashes is not None and set(dashes.body.replace(" ", "")) == {"-"}:
        reader.next()
    while True:
        line = reader.next()
        if line is None:
            if _complete(parts):  # a commit message may quote the table and stop there
                return
            raise reader.fail(
                None, "the unsafe-scenario table ends before '*** DEADLOCK ***': the report is cut"
            )
        body = line.body
        if "*** DEADLOCK ***" in body:
            return
        cpu = min(range(len(starts)), key=lambda k: abs(starts[k] - line.indent))
        col = line.col()
        if body == "<Interrupt>":
            parts.events.append(Event(cpu, "interrupt", "", line.number, col))
            continue
        m = _EVENT.match(body)
        if m is None:
            raise reader.fail(
                line,
                "expected 'lock(CLASS);', 'rlock(CLASS);', 'local_irq_disable();', '<Interrupt>' "
                "or '*** DEADLOCK ***' in the table",
            )
        lock = m.group("arg") if m.group("op") != "local_irq_disable" else ""
        parts.events.append(Event(cpu, m.group("op"), lock, line.number, col))


# The lines print_circular_lock_scenario, print_deadlock_scenario and print_irq_lock_scenario
# write, per column: a table with this many events is whole even without its last line.
_SHAPES = {
    1: ((2,), (3,)),  # recursive: lock, lock; inconsistent: lock, <Interrupt>, lock
    2: ((2, 2), (3, 3)),  # circular: two each; irq inversion: lock, <Interrupt>, lock / 3
}


def _complete(parts: _Parts) -> bool:
    counts = tuple(sum(1 for e in parts.events if e.cpu == c) for c in range(parts.cpus))
    return counts in _SHAPES.get(parts.cpus, ())


def _held(reader: _Reader, parts: _Parts) -> None:
    line = reader.find(_HELD_BY)
    if line is None:
        return
    m = _HELD_BY.search(line.body)
    assert m is not None
    parts.held_by = m.group("task")
    seen: set[int] = set()
    while (item := reader.peek()) is not None and (h := _HELD.match(item.body)):
        reader.next()
        c = _CLASS.search(item.body, h.end())
        if c is None:
            continue  # the entry's class went to the next line (a mail client wrapped it)
        index = int(h.group("i"))
        if index not in seen:
            seen.add(index)
            parts.held.append(Held(index, _class(item, c)))
