"""Scenario files (YAML text) -> immutable ``Scenario`` specs; the only module that imports yaml.

Three passes, each collecting problems instead of stopping at the first:

1. *Compose.* The text is checked for size, UTF-8 and YAML's printable
   set, then turned into yaml node trees (with 0-based marks) from the
   event stream of PyYAML's parser (libyaml when present). Composing from
   events ourselves, rather than through ``yaml.compose``, lets one pass
   refuse anchors, aliases and explicit tags as they appear, and stop at
   a nesting depth of ``LIMITS.yaml_depth`` without recursion. No tag is
   ever constructed into a Python object: nothing in a file can run code.
2. *Shape.* Nodes are walked against the declarative descriptors of
   ``schema.py`` (keys, types, bounds, defaults). Each value comes back as
   an ``_At`` that remembers its node, so later errors can point at it.
3. *Meaning.* Spec objects are built, and the rules that need more than
   one value are checked: names resolve, lock kinds match their steps,
   handles are bound before use, memalloc scopes balance, limits hold.

Scalars are read as YAML 1.2 would, not 1.1: ``yes``/``no``/``on``/``off``
are words, not booleans, so where a boolean is wanted they are refused
with a hint rather than silently read either way.
"""

from __future__ import annotations

import bisect
import difflib
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mempool_cli.errors import EnvironmentProblem, Incomplete, Problem, ScenarioError, printable
from mempool_cli.scenario import schema as S
from mempool_cli.scenario.gfp import (
    COMPOSITE,
    FLAGS,
    IGNORED,
    READ_AS,
    GfpSyntaxError,
    gfp_names,
    parse_gfp,
)
from mempool_cli.scenario.kernels import PRESETS, Kernel, expand_aliases, resolve_kernel
from mempool_cli.scenario.spec import (
    NO_SPAN,
    Break,
    Call,
    Completion,
    Cond,
    Continue,
    Counter,
    Expect,
    Function,
    If,
    Lock,
    Loop,
    Memory,
    OnFail,
    Oom,
    Pool,
    Queue,
    Reclaimable,
    Repeat,
    Scenario,
    Span,
    Step,
    StepNode,
    Task,
)
from mempool_cli.scenario.steps import (
    ACQUIRES,
    IRQ_SCOPES,
    SCOPE_OPENER,
    STEP_KINDS,
    Arg,
    StepKind,
)

__all__ = ["STDIN_NAME", "Slot", "load_scenario", "load_text", "locate_values"]

STDIN_NAME = "<stdin>"

# libyaml's parser when PyYAML was built with it (10x faster); same events, same marks.
_PARSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# YAML's line breaks, so that our line numbers agree with the parser's marks.
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
# Booleans to YAML 1.1 only: refused where a boolean is wanted, words elsewhere.
_YAML11_BOOLS = frozenset(
    {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO"}
    | {"on", "On", "ON", "off", "Off", "OFF"}
)
_INT = re.compile(r"[-+]?[0-9]+")
_NAME = re.compile(S.NAME_PATTERN)
_GFP_BITS = {**COMPOSITE, **FLAGS}

# --- reading -----------------------------------------------------------------


def load_scenario(path: str) -> Scenario:
    """Read and load the scenario file at ``path`` (``-`` reads stdin, shown as ``<stdin>``).

    Raises ``ScenarioError`` with every problem in the file, or
    ``EnvironmentProblem`` when the file cannot be read at all.

    >>> load_scenario("/nonexistent/x.yaml")
    Traceback (most recent call last):
    ...
    mempool_cli.errors.EnvironmentProblem: /nonexistent/x.yaml: no such file
    """
    if path == "-":
        return load_text(_read_stdin(), STDIN_NAME)
    return load_text(_read_file(path), path)


# One byte more than the limit is enough to know the file is too big,
# and keeps /dev/zero or a huge file from being read whole.
_READ_LIMIT = S.LIMITS.file_bytes + 1


def _read_file(
    path: str, limit: int = _READ_LIMIT, what: str = "scenario file", shown: str | None = None
) -> bytes:
    """At most ``limit`` bytes of ``path``; problems name it as ``shown`` (default: the path)
    and say a directory is not a ``what``.

    A FIFO is read like stdin: its open waits for a writer, and Ctrl-C or SIGTERM
    (which the CLI turns into KeyboardInterrupt) ends the wait.
    """
    name = path if shown is None else shown
    try:
        with open(path, "rb") as stream:
            return stream.read(limit)
    except KeyboardInterrupt:
        raise Incomplete(f"mpsim: interrupted while waiting to read {name}") from None
    except FileNotFoundError:
        raise EnvironmentProblem(f"{name}: no such file") from None
    except IsADirectoryError:
        raise EnvironmentProblem(f"{name}: is a directory, not a {what}") from None
    except PermissionError:
        raise EnvironmentProblem(f"{name}: permission denied") from None
    except OSError as err:
        raise EnvironmentProblem(f"{name}: cannot read: {err.strerror or err}") from None


def _read_stdin(limit: int = _READ_LIMIT) -> bytes:
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise EnvironmentProblem(f"{STDIN_NAME}: standard input is not available")
    try:
        data = stream.read(limit)
    except KeyboardInterrupt:
        raise Incomplete("mpsim: interrupted while waiting to read standard input") from None
    except OSError as err:
        raise EnvironmentProblem(f"{STDIN_NAME}: cannot read: {err.strerror or err}") from None
    return bytes(data)


def _long_plain_key(lines: list[str], line: int, col: int) -> bool:
    """The error is at the ':' after a key longer than PyYAML's 1024-character limit."""
    if not 0 <= line < len(lines):
        return False
    text = lines[line]
    head = text[:col].strip().lstrip("-{[, ").strip()
    return text[col : col + 1] == ":" and len(head) > 1024


def load_text(text: str | bytes, path: str) -> Scenario:
    """Load a scenario from its text; ``path`` is how problems name the file.

    >>> text = "locks: {M: mutex}\\ntasks:\\n  t: {steps: [mutex_lock: M, mutex_unlock: M]}\\n"
    >>> s = load_text(text, "a/x.yaml")
    >>> s.name, s.kernel.name, s.tasks[0].steps[0].target, s.tasks[0].steps[0].span
    ('x', 'latest', 'M', Span(line=3, col=15))
    >>> load_text("tasks: {t: {steps: [mutex_lock: M]}}", "b.yaml")
    Traceback (most recent call last):
    ...
    mempool_cli.errors.ScenarioError: b.yaml:1:33: error: unknown lock 'M' (no locks are declared)
    tasks: {t: {steps: [mutex_lock: M]}}
                                    ^
    """
    loader = _Loader(path)
    scenario = loader.load(text)
    if loader.problems:
        raise ScenarioError(list(dict.fromkeys(loader.problems)))
    if scenario is None:
        raise AssertionError(f"{path}: the loader found no problem but built no scenario")
    return scenario


# --- located values ----------------------------------------------------------


@dataclass(slots=True)
class _At:
    """A checked value and where it was written: its node and, for a mapping entry, its key.

    ``node`` is None for a default; ``ok`` is False when the value was
    present but invalid (already reported), so that no second error
    cascades from it.
    """

    value: Any
    node: Node | None = None
    key: Node | None = None
    ok: bool = True

    @property
    def given(self) -> bool:
        return self.node is not None

    @property
    def good(self) -> bool:
        return self.ok and self.node is not None


@dataclass(slots=True)
class _TaskContext:
    """What the walk over one task's steps (or one function's) has seen so far, in order.

    ``events`` records, for a function body, the handle uses and binds and the calls in
    program order, so that each ``call:`` replays them in its caller's context (the
    handles are the caller's).
    """

    name: str
    daemon: bool
    bound: dict[str, Node] = field(default_factory=dict)  # handle -> its first `as:`
    pending: list[tuple[str, Node]] = field(default_factory=list)  # uses before any `as:`
    scopes: dict[str, list[Node]] = field(default_factory=dict)  # scope -> open *_save steps
    forever: bool = False
    loops: int = 0  # how many `loop`s the walk is inside (break / continue need one)
    passes: list[int | None] = field(default_factory=list)  # enclosing repeats' `times`
    # a function body's uses, binds and calls, each with the repeats around it inside the
    # body (their `times`; none there: the caller's repeats count for `{i}`)
    events: list[tuple[str, str, Node, tuple[int | None, ...]]] | None = None
    function: str | None = None  # the function whose body this is
    # revision 2, queues: handle -> the enqueue that handed it over, on the straight-line
    # path since (a use is an error until an `as:` binds it again)
    sent: dict[str, Node] = field(default_factory=dict)


def _inner(ctx: _TaskContext) -> tuple[int | None, ...]:
    """The repeats around this point of a function body (their ``times``, outermost first)."""
    return tuple(ctx.passes)


@dataclass(slots=True)
class _Function:
    """A parsed top-level function: its steps and what its body does with handles."""

    spec: Function
    key: Node
    events: list[tuple[str, str, Node, tuple[int | None, ...]]]
    forever: bool


def _undone(scope: str, never: bool = False) -> str:
    """How a scope left open is said: a memalloc scope is not restored; an interrupt-
    disabling pair (revision 2) is not undone by its other half, which is named."""
    if scope in IRQ_SCOPES:
        closer = next(
            k.name for k in STEP_KINDS.values() if k.scope == scope and k.role != ACQUIRES
        )
        return f"is {'never' if never else 'not'} undone (no {closer})"
    return "is never restored" if never else "is not restored"


def _span(node: Node) -> Span:
    return Span(node.start_mark.line + 1, node.start_mark.column + 1)


def _is_plain(node: ScalarNode) -> bool:
    return not node.style  # None from the Python parser, "" from libyaml


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and _is_plain(node) and node.value in _NULLS


def _did_you_mean(word: str, candidates: Any) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(node: Node) -> str:
    """How a value reads in a message: ``'lots'``, ``the string '4'``, ``a list``."""
    if isinstance(node, MappingNode):
        return "a mapping" if node.value else "an empty mapping"
    if isinstance(node, SequenceNode):
        return "a list" if node.value else "an empty list"
    text = _short(str(node.value))
    if not isinstance(node, ScalarNode) or not _is_plain(node):
        return f"the string {text!r}"
    if node.value in _NULLS:
        return "nothing (null)"
    if node.value in _BOOLS:
        return f"the boolean {text}"
    return repr(text)


def _expected(t: S.Type) -> str:
    t = S.resolve(t)
    if isinstance(t, S.Int):
        return "an integer"
    if isinstance(t, S.Bool):
        return "true or false"
    if isinstance(t, S.Str):
        return "a string"
    if isinstance(t, S.Name):
        return f"a {t.what} name"
    if isinstance(t, S.Choice):
        return f"a {t.what}"
    if isinstance(t, S.Preset):
        return "a kernel preset or version"
    if isinstance(t, S.Gfp):
        return "a gfp mask such as GFP_KERNEL"
    if isinstance(t, S.Empty):
        return "empty (null or {})"
    if isinstance(t, S.ListOf):
        return "a list"
    if isinstance(t, S.OneKey):
        return f"a one-key mapping such as 'mutex_lock: M' (a {t.what})"
    if isinstance(t, S.AnyOf):
        return t.what
    return "a mapping"


def _kind_matches(t: S.Type, node: Node) -> bool:
    t = S.resolve(t)
    if isinstance(t, S.ListOf):
        return isinstance(node, SequenceNode)
    if isinstance(t, S.MapOf | S.Record | S.OneKey):
        return isinstance(node, MappingNode)
    if isinstance(t, S.AnyOf):
        return any(_kind_matches(o, node) for o in t.options)
    return isinstance(node, ScalarNode)


# --- the loader --------------------------------------------------------------


class _Loader:
    """One load of one file: the text, its lines, and every problem found in it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.text = ""
        self.lines: list[str] = [""]
        self.line_starts: list[int] = [0]
        self.problems: list[Problem] = []
        # What `mpsim check` tells about a valid file: each ignored gfp flag, once.
        self.notes: list[Problem] = []
        self.noted: set[str] = set()
        # Nodes already reported (aliases, tagged values): never looked into.
        self.poisoned: set[int] = set()
        # The declared functions (names, then parsed bodies), for `call:` steps.
        self.known_functions: set[str] = set()
        self.function_table: dict[str, _Function] = {}
        # revision 2, queues: an enqueue's handle node (by id) -> the queue it named
        self.sent_queue: dict[int, str] = {}

    # problems

    def report(self, line0: int, col0: int, message: str) -> None:
        source = self.lines[line0] if 0 <= line0 < len(self.lines) else ""
        self.problems.append(Problem(self.path, line0 + 1, col0 + 1, message, source))

    def error(self, node: Node, message: str) -> None:
        self.report(node.start_mark.line, node.start_mark.column, message)

    def at_index(self, index: int, message: str) -> None:
        line0 = bisect.bisect_right(self.line_starts, index) - 1
        self.report(line0, index - self.line_starts[line0], message)

    # pass 1: text -> nodes

    def load(self, data: str | bytes) -> Scenario | None:
        text = self.decode(data)
        if text is None:
            return None
        self.text = text.removeprefix("\ufeff")
        self.lines = _LINE_BREAK.split(self.text)
        self.line_starts = [0]
        for m in _LINE_BREAK.finditer(self.text):
            self.line_starts.append(m.end())
        bad = _NON_PRINTABLE.search(self.text)
        if bad is not None:
            char = bad.group()
            self.at_index(bad.start(), f"character U+{ord(char):04X} is not allowed in a YAML file")
            return None
        root = self.compose()
        if root is None:
            if not self.problems:
                self.report(0, 0, "the file is empty: a scenario needs at least 'tasks'")
            return None
        return self.scenario(root)

    def decode(self, data: str | bytes) -> str | None:
        limit = S.LIMITS.file_bytes
        size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
        if size > limit:
            self.report(0, 0, f"the file is larger than {limit} bytes, the limit for a scenario")
            return None
        if isinstance(data, str):
            return data
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # echoing a line of it would print NULs
            self.lines = [""]
            self.report(0, 0, "the file is UTF-16 (it starts with a byte-order mark), not UTF-8")
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as err:
            start = data.rfind(b"\n", 0, err.start) + 1
            end = data.find(b"\n", err.start)
            line = data[start : end if end >= 0 else len(data)].decode("utf-8", "replace")
            col = len(data[start : err.start].decode("utf-8", "replace"))
            self.lines = [""] * data.count(b"\n", 0, start) + [line.rstrip("\r")]
            self.report(
                len(self.lines) - 1,
                col,
                f"the file is not UTF-8: byte 0x{data[err.start]:02x} ({err.reason})",
            )
            return None

    def compose(self) -> Node | None:
        """Build the node tree of the file's single document from parser events."""
        stack: list[tuple[Node, list[Node]]] = []
        root: Node | None = None
        documents = 0
        parser = _PARSER(self.text)
        try:
            while (event := parser.get_event()) is not None:
                kind = type(event)
                if kind is ScalarEvent or kind is AliasEvent:
                    node = self.node(event)
                    if stack:
                        stack[-1][1].append(node)
                    else:
                        root = node
                elif kind is MappingStartEvent or kind is SequenceStartEvent:
                    node = self.node(event)
                    if stack:
                        stack[-1][1].append(node)
                    else:
                        root = node
                    stack.append((node, []))
                    if len(stack) > S.LIMITS.yaml_depth:
                        self.error(node, f"nested deeper than {S.LIMITS.yaml_depth} levels")
                        return None
                elif kind is MappingEndEvent or kind is SequenceEndEvent:
                    node, children = stack.pop()
                    if kind is MappingEndEvent:
                        node.value = list(zip(children[0::2], children[1::2], strict=True))
                    else:
                        node.value = children
                    node.end_mark = event.end_mark
                elif kind is DocumentStartEvent:
                    documents += 1
                    if documents > 1:
                        mark: Any = event.start_mark
                        message = "a scenario file holds one YAML document; this starts a second"
                        self.report(mark.line, mark.column, message)
                        break
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            message = f"YAML syntax error: {err.problem or err.context or 'invalid YAML'}"
            if "maximum nesting depth" in str(err.problem):
                # libyaml's own limit (1000 flow levels) can trip before ours is reached.
                message = f"nested deeper than {S.LIMITS.yaml_depth} levels"
            elif mark is not None and _long_plain_key(self.lines, mark.line, mark.column):
                # PyYAML stops looking for a key's ':' after 1024 characters.
                message = (
                    "a key (a task, lock or pool name?) longer than 1024 characters, "
                    "the YAML parser's limit; use a shorter name"
                )
            elif err.context and err.context_mark is not None and err.problem_mark is not None:
                where = err.context_mark
                message += f" ({err.context} at line {where.line + 1}, column {where.column + 1})"
            self.report(mark.line if mark else 0, mark.column if mark else 0, message)
            return None
        except yaml.reader.ReaderError as err:
            self.at_index(err.position, f"YAML syntax error: {err.reason}")
            return None
        except yaml.YAMLError as err:
            self.report(0, 0, f"YAML syntax error: {err}")
            return None
        finally:
            parser.dispose()
        return root

    def node(self, event: NodeEvent) -> Node:
        start: Any = event.start_mark
        end: Any = event.end_mark
        if isinstance(event, AliasEvent):
            self.report(
                start.line,
                start.column,
                f"YAML aliases ('*{event.anchor}') are not allowed; write the value out",
            )
            placeholder = ScalarNode("", "", start, end)
            self.poisoned.add(id(placeholder))
            return placeholder
        if event.anchor is not None:
            self.report(
                start.line, start.column, f"YAML anchors ('&{event.anchor}') are not allowed"
            )
        node: Node
        if isinstance(event, ScalarEvent):
            node = ScalarNode("", event.value, start, end, style=event.style)
        elif isinstance(event, SequenceStartEvent):
            node = SequenceNode("", [], start, end, flow_style=event.flow_style)
        elif isinstance(event, MappingStartEvent):
            node = MappingNode("", [], start, end, flow_style=event.flow_style)
        else:
            raise AssertionError(f"unexpected YAML event {event!r}")
        tag = getattr(event, "tag", None)
        if tag is not None:
            shown = re.sub(r"^tag:yaml\.org,2002:", "!!", tag)
            self.report(start.line, start.column, f"YAML tags ('{shown}') are not allowed")
            self.poisoned.add(id(node))
        return node

    # pass 2: nodes -> checked values

    def convert(self, node: Node, t: S.Type, label: str, key: Node | None = None) -> _At | None:
        """Check ``node`` against descriptor ``t``; None (after reporting) when it does not fit."""
        if id(node) in self.poisoned:
            return None
        t = S.resolve(t)
        if isinstance(t, S.AnyOf):
            for option in t.options:
                if _kind_matches(option, node):
                    return self.convert(node, option, label, key)
            return self.mismatch(node, key, f"'{label}' must be {t.what}, got {_describe(node)}")
        if isinstance(t, S.ListOf):
            if not isinstance(node, SequenceNode):
                return self.mismatch(node, key, f"'{label}' must be a list, got {_describe(node)}")
            items = [self.convert(item, t.item, label) for item in node.value]
            good = [item for item in items if item is not None]
            return _At(good, node, key, ok=len(good) == len(items))
        if isinstance(t, S.MapOf):
            return self.map_of(node, t, label, key)
        if isinstance(t, S.Record):
            return self.record(node, t, label, key)
        if isinstance(t, S.OneKey):
            return self.one_key(node, t)
        if isinstance(t, S.Empty):
            if _is_null(node) or (isinstance(node, MappingNode) and not node.value):
                return _At(None, node, key)
            got = _describe(node)
            return self.mismatch(node, key, f"'{label}' takes no value (null or {{}}), got {got}")
        if not isinstance(node, ScalarNode):
            got = _describe(node)
            return self.mismatch(node, key, f"'{label}' must be {_expected(t)}, got {got}")
        return self.scalar(node, t, label, key)

    def mismatch(self, node: Node, key: Node | None, message: str) -> _At | None:
        """Report a value of the wrong shape; None, so that ``convert`` can return it."""
        # An empty value has no text to point at: point at its key instead.
        self.error(key if key is not None and _is_null(node) and not node.value else node, message)
        return None

    def scalar(self, node: ScalarNode, t: S.Type, label: str, key: Node | None) -> _At | None:
        text: str = node.value
        plain = _is_plain(node)
        if plain and text in _NULLS:
            return self.mismatch(node, key, f"'{label}' must be {_expected(t)}, got nothing (null)")
        if isinstance(t, S.Int):
            return self.integer(node, t, label, key)
        if isinstance(t, S.Bool):
            if plain and text in _BOOLS:
                return _At(_BOOLS[text], node, key)
            hint = " (YAML 1.1 would read it as a boolean; write true or false)"
            return self.mismatch(
                node,
                key,
                f"'{label}' must be true or false, got {_describe(node)}"
                + (hint if plain and text in _YAML11_BOOLS else ""),
            )
        if isinstance(t, S.Str):
            return _At(text, node, key)
        if isinstance(t, S.Name):
            if _NAME.fullmatch(text.replace("{i}", "i") if t.what == "handle" else text):
                return _At(text, node, key)
            self.error(node, f"invalid {t.what} name {text!r}: a name matches {S.NAME_PATTERN}")
            return None
        if isinstance(t, S.Choice):
            if text in t.values:
                return _At(text, node, key)
            resolved = resolve_kernel(text) if t.what == "kernel preset" else None
            if resolved is not None:
                # An expect key names a preset; a version's nearest name may be another one.
                self.error(
                    node, f"unknown {t.what} {text!r} (a {text} kernel runs as {resolved[0]})"
                )
                return None
            hint = _did_you_mean(text, t.values)
            if not hint and len(t.values) <= 10:
                hint = f" (one of: {', '.join(t.values)})"
            self.error(node, f"unknown {t.what} {text!r}{hint}")
            return None
        if isinstance(t, S.Preset):
            return self.preset(node, t, key)
        if isinstance(t, S.Gfp):
            return self.gfp(node, key)
        raise AssertionError(f"no scalar check for descriptor {t!r}")

    def integer(self, node: ScalarNode, t: S.Int, label: str, key: Node | None) -> _At | None:
        text: str = node.value
        if not _is_plain(node):
            return self.mismatch(node, key, f"'{label}' must be an integer, got {_describe(node)}")
        if not _INT.fullmatch(text):
            return self.mismatch(node, key, f"'{label}' must be an integer, got {_describe(node)}")
        digits = text.lstrip("+-").lstrip("0")
        # Refuse huge literals before int() does the work (or hits its digit limit).
        too_big = t.lo - 1 if text.startswith("-") else t.hi + 1
        value = int(text) if len(digits) <= 18 else too_big
        if t.lo == t.hi and value != t.lo:
            self.error(node, f"'{label}' must be {t.lo}, got {_short(text)}")
        elif value < t.lo:
            self.error(node, f"'{label}' must be at least {t.lo}, got {_short(text)}")
        elif value > t.hi:
            self.error(node, f"'{label}' must be at most {t.hi}, got {_short(text)}")
        else:
            return _At(value, node, key)
        return None

    def preset(self, node: ScalarNode, t: S.Preset, key: Node | None) -> _At | None:
        """A preset name or a kernel version, as (preset, the version asked for or "")."""
        text: str = node.value
        resolved = resolve_kernel(text)
        if resolved is not None:
            return _At(resolved, node, key)
        if re.fullmatch(t.version, text, re.ASCII):
            oldest = next(n for n in t.names if n.startswith("v"))
            self.error(node, f"no preset for kernel {text!r}: the oldest is {oldest}")
        else:
            hint = _did_you_mean(text, t.names)
            self.error(node, f"unknown kernel preset or version {text!r}{hint}")
        return None

    def gfp(self, node: ScalarNode, key: Node | None) -> _At | None:
        text: str = node.value
        try:
            mask = parse_gfp(text)
        except GfpSyntaxError as err:
            line0, col0 = node.start_mark.line, node.start_mark.column
            base = col0 + (0 if _is_plain(node) else 1)
            source = self.lines[line0] if line0 < len(self.lines) else ""
            # Point into the mask only when the value is written verbatim on one line.
            if source[base : base + len(text)] == text:
                col0 = base + err.offset
            self.report(line0, col0, f"{err.message}{_did_you_mean_exact(err.suggestion)}")
            return None
        self.gfp_notes(node, text)
        return _At((mask, text), node, key)

    def gfp_notes(self, node: ScalarNode, text: str) -> None:
        """A note per gfp flag the model ignores or reads as another, at its first use."""
        line0, col0 = node.start_mark.line, node.start_mark.column
        base = col0 + (0 if _is_plain(node) else 1)
        source = self.lines[line0] if line0 < len(self.lines) else ""
        verbatim = source[base : base + len(text)] == text
        for name, offset in gfp_names(text):
            bits = COMPOSITE.get(name, 0)
            inside = [f for f in IGNORED if bits and FLAGS[f] & ~bits == 0 and FLAGS[f]]
            for flag in [name] if name in FLAGS else inside:
                if flag in self.noted or (flag not in IGNORED and flag not in READ_AS):
                    continue
                self.noted.add(flag)
                where = flag if flag == name else f"{flag} (in {name})"
                if flag in IGNORED:
                    message = (
                        f"{where} has no effect in mpsim's one-zone model "
                        f"({IGNORED[flag]}): accepted and ignored"
                    )
                else:
                    message = f"{where} is read as {READ_AS[flag]}"
                at = base + offset if verbatim else col0
                self.notes.append(Problem(self.path, line0 + 1, at + 1, message, source, "note"))

    def key_text(self, key: Node) -> str | None:
        if id(key) in self.poisoned:
            return None
        if not isinstance(key, ScalarNode):
            self.error(key, f"a key must be a name, got {_describe(key)}")
            return None
        if key.value == "<<" and _is_plain(key):
            self.error(key, "YAML merge keys ('<<') are not allowed; write the keys out")
            return None
        return str(key.value)

    def duplicate(self, key: Node, name: str, first: Node) -> None:
        self.error(key, f"duplicate key '{name}' (first at line {first.start_mark.line + 1})")

    def record(self, node: Node, t: S.Record, label: str, key: Node | None) -> _At | None:
        if not isinstance(node, MappingNode):
            return self.mismatch(node, key, f"'{label}' must be a mapping, got {_describe(node)}")
        out: dict[str, _At] = {}
        first: dict[str, Node] = {}
        merged = False
        for k, v in node.value:
            merged = merged or (isinstance(k, ScalarNode) and k.value == "<<" and _is_plain(k))
            name = self.key_text(k)
            if name is None:
                continue
            if name in first:
                self.duplicate(k, name, first[name])
                continue
            first[name] = k
            f = t.field(name)
            if f is None:
                known = [f.key for f in t.fields]
                hint = _did_you_mean(name, known) or f" (known keys: {', '.join(known)})"
                self.error(k, f"unknown key '{name}' in {t.what}{hint}")
                continue
            at = self.convert(v, f.type, name, k)
            out[name] = at if at is not None else _At(f.default, v, k, ok=False)
        for f in t.fields:
            if f.key not in out:
                if f.required and not merged:  # the refused merge may have held it
                    where = key if key is not None else node
                    self.error(where, f"missing key '{f.key}' in {t.what}")
                out[f.key] = _At(f.default, ok=not f.required)
        return _At(out, node, key)

    def map_of(self, node: Node, t: S.MapOf, label: str, key: Node | None) -> _At | None:
        if not isinstance(node, MappingNode):
            return self.mismatch(node, key, f"'{label}' must be a mapping, got {_describe(node)}")
        out: dict[str, _At] = {}
        first: dict[str, Node] = {}
        for k, v in node.value:
            name = self.key_text(k)
            if name is None:
                continue
            if name in first:
                self.duplicate(k, name, first[name])
                continue
            first[name] = k
            if self.convert(k, t.key, label) is None:
                continue
            at = self.convert(v, t.value, f"{label}.{name}", k)
            out[name] = at if at is not None else _At(None, v, k, ok=False)
        return _At(out, node, key)

    def one_key(self, node: Node, t: S.OneKey) -> _At | None:
        if isinstance(node, ScalarNode) and _is_plain(node) and node.value in t.bare:
            return _At((node.value, _At(None, node, node)), node, node)  # `- break`
        if not isinstance(node, MappingNode) or not node.value:
            got = _describe(node)
            self.error(
                node, f"a {t.what} must be a one-key mapping like 'mutex_lock: M', got {got}"
            )
            return None
        (k, v), *extra = node.value
        for other, _ in extra:
            if id(other) not in self.poisoned:
                self.error(other, f"a {t.what} has one key; start another '- ' item for this one")
        op = self.key_text(k)
        if op is None:
            return None
        form = next((f for f in t.forms if f.key == op), None)
        if form is None:
            hint = _did_you_mean(op, [f.key for f in t.forms])
            self.error(k, f"unknown {t.what} '{op}'{hint}")
            return None
        return _At((op, self.convert(v, form.type, op, k)), node, k)

    # pass 3: checked values -> spec, with the rules that span values

    def scenario(self, root: Node) -> Scenario | None:
        if _is_null(root):
            self.report(0, 0, "the file is empty: a scenario needs at least 'tasks'")
            return None
        if not isinstance(root, MappingNode):
            got = _describe(root)
            self.error(root, f"a scenario must be a mapping with keys such as 'tasks', got {got}")
            return None
        top_at = self.convert(root, S.SCENARIO, "scenario")
        if top_at is None:
            return None
        top: dict[str, _At] = top_at.value
        locks = self.locks(top["locks"])
        completions = self.completions(top["completions"])
        counters = self.counters(top["counters"])
        queues = self.queues(top["queues"])
        pools = self.pools(top["pools"])
        declared_locks = _declared(top["locks"])
        declared_pools = _declared(top["pools"])
        names = _Names(
            # A lock whose kind is invalid is still declared: no 'unknown lock' cascade.
            locks=None
            if declared_locks is None
            else {n: (e.value if e.ok else None) for n, e in declared_locks.items()},
            completions=_declared_completions(top["completions"]),
            pools=None if declared_pools is None else set(declared_pools),
            counters=None
            if (declared_counters := _declared(top["counters"])) is None
            else set(declared_counters),
            queues=None
            if (declared_queues := _declared(top["queues"])) is None
            else set(declared_queues),
        )
        kernel, kernel_span, kernel_knobs = self.kernel(top["kernel"])
        functions = self.functions(top["functions"], names)
        tasks = self.tasks(top["tasks"], names, functions)
        stem = printable(Path(self.path).stem) if self.path != STDIN_NAME else "stdin"
        return Scenario(
            path=self.path,
            name=top["name"].value if top["name"].good else stem,
            kernel=kernel,
            memory=self.memory(top["memory"], names),
            tasks=tasks,
            description=top["description"].value if top["description"].ok else "",
            references=tuple(at.value for at in top["references"].value or ()),
            oom=self.oom(top["oom"]),
            pools=pools,
            locks=locks,
            completions=completions,
            counters=counters,
            queues=queues,
            expect=self.expect(top["expect"]),
            version=top["mpsim"].value if top["mpsim"].ok else S.FORMAT_VERSION,
            kernel_span=kernel_span,
            kernel_knobs=kernel_knobs,
            source=self.text,
            functions=tuple(f.spec for f in functions.values()),
            notes=tuple(self.notes),
        )

    def fields(self, at: _At, record: S.Record) -> dict[str, _At]:
        """A record's checked fields, or its defaults when it is absent or was invalid."""
        if at.good and isinstance(at.value, dict):
            return at.value
        return {f.key: _At(f.default, ok=at.ok) for f in record.fields}

    def kernel(self, at: _At) -> tuple[Kernel, Span, tuple[tuple[str, str | bool], ...]]:
        """The file's kernel, where it was written, and the knobs it sets explicitly."""
        if not at.given:
            return PRESETS["latest"], NO_SPAN, ()
        span = _span(at.node) if at.node is not None else NO_SPAN
        if not at.ok:
            return PRESETS["latest"], span, ()
        if isinstance(at.value, tuple):
            name, asked = at.value
            return replace(PRESETS[name], asked=asked), span, ()
        fields: dict[str, _At] = at.value
        if not fields["base"].good:
            return PRESETS["latest"], span, ()
        given = {k: v.value for k, v in fields.items() if k != "base" and v.good and v.given}
        knobs = expand_aliases(given)
        explicit = tuple(sorted(knobs.items()))
        name, asked = fields["base"].value
        return replace(PRESETS[name], asked=asked).with_knobs(**knobs), span, explicit

    def memory(self, at: _At, names: _Names) -> Memory:
        f = self.fields(at, S.MEMORY)
        free, min_ = f["free"].value, f["min"].value
        low = f["low"].value if f["low"].good else min_ + min_ // 4
        high = f["high"].value if f["high"].good else min_ + min_ // 2
        low_at, high_at = f["low"], f["high"]
        if f["min"].ok and low_at.ok and high_at.ok:
            if low_at.node is not None and low < min_:
                self.error(low_at.node, f"'low' ({low}) must be at least 'min' ({min_})")
            if high < low and high_at.node is not None:
                default = "" if low_at.given else ", by default min + min/4"
                self.error(high_at.node, f"'high' ({high}) must be at least 'low' ({low}{default})")
            elif high < low and low_at.node is not None:
                self.error(
                    low_at.node,
                    f"'low' ({low}) is above 'high' ({high} by default: min + min/2); set 'high'",
                )
        entries = f["reclaimable"].value or ()
        reclaimable = tuple(self.reclaimable(entry, names) for entry in entries)
        span = _span(at.key) if at.key is not None else NO_SPAN
        return Memory(free, min_, low, high, reclaimable, span)

    def reclaimable(self, at: _At, names: _Names) -> Reclaimable:
        f: dict[str, _At] = at.value
        needs = 0
        for flag in f["needs"].value or ():
            needs |= _GFP_BITS[flag.value]
        for lock in (*(f["locks"].value or ()), *(f["trylocks"].value or ())):
            known = self.resolve(lock, "lock", names.locks, names)
            locks = names.locks or {}
            if known and lock.node is not None and locks.get(lock.value) == "rwsem":
                self.error(
                    lock.node,
                    f"a reclaim entry cannot name the rwsem '{lock.value}' "
                    "(only a mutex or spinlock)",
                )
        waits = f["waits"]
        if waits.good:
            self.resolve(waits, "completion", names.completions, names)
        return Reclaimable(
            pages=f["pages"].value if f["pages"].good else 0,
            needs=needs,
            locks=tuple(lock.value for lock in f["locks"].value or ()),
            waits=waits.value if waits.good else None,
            span=_span(at.node) if at.node is not None else NO_SPAN,
            name=f["name"].value if f["name"].good else None,
            trylocks=tuple(lock.value for lock in f["trylocks"].value or ()),
        )

    def oom(self, at: _At) -> Oom:
        f = self.fields(at, S.OOM)
        span = _span(at.key) if at.key is not None else NO_SPAN
        reaper = f["reaper"].value if f["reaper"].good else None
        return Oom(killer=bool(f["killer"].value), reaper=reaper, span=span)

    def locks(self, at: _At) -> tuple[Lock, ...]:
        entries: dict[str, _At] = at.value if at.good else {}
        return tuple(
            Lock(n, e.value, _span(e.key)) for n, e in entries.items() if e.ok and e.key is not None
        )

    def pools(self, at: _At) -> tuple[Pool, ...]:
        entries: dict[str, _At] = at.value if at.good else {}
        out = []
        for name, e in entries.items():
            if e.ok and e.key is not None:
                f: dict[str, _At] = e.value
                out.append(Pool(name, f["min_nr"].value or 0, f["order"].value or 0, _span(e.key)))
        return tuple(out)

    def completions(self, at: _At) -> tuple[Completion, ...]:
        if not at.good:
            return ()
        if isinstance(at.value, dict):
            entries: dict[str, _At] = at.value
            return tuple(
                Completion(n, e.value, _span(e.key))
                for n, e in entries.items()
                if e.ok and e.key is not None
            )
        out: list[Completion] = []
        first: dict[str, Node] = {}
        for item in at.value:
            if item.value in first:
                line = first[item.value].start_mark.line + 1
                message = f"completion '{item.value}' is declared twice (first at line {line})"
                self.error(item.node, message)
                continue
            first[item.value] = item.node
            out.append(Completion(item.value, 0, _span(item.node)))
        return tuple(out)

    def counters(self, at: _At) -> tuple[Counter, ...]:
        """``counters:``: name -> initial value, or {initial, max} (default max 64)."""
        entries: dict[str, _At] = at.value if at.good else {}
        out = []
        for name, e in entries.items():
            if not e.ok or e.key is None:
                continue
            if isinstance(e.value, dict):
                f: dict[str, _At] = e.value
                initial = f["initial"].value if f["initial"].ok else 0
                top = f["max"].value if f["max"].ok else S.COUNTER_MAX_DEFAULT
                initial = 0 if initial is None else initial
                top = S.COUNTER_MAX_DEFAULT if top is None else top
            else:
                initial, top = e.value, S.COUNTER_MAX_DEFAULT
            if initial > top:
                self.error(
                    e.node or e.key, f"counter '{name}' starts at {initial}, above its max {top}"
                )
                continue
            out.append(Counter(name, initial, top, _span(e.key)))
        return tuple(out)

    def queues(self, at: _At) -> tuple[Queue, ...]:
        """``queues:`` (revision 2): name -> {capacity: N} (default 64); the schema bounds N."""
        entries: dict[str, _At] = at.value if at.good else {}
        out = []
        for name, e in entries.items():
            if not e.ok or e.key is None:
                continue
            f: dict[str, _At] = e.value if isinstance(e.value, dict) else {}
            capacity = f["capacity"].value if "capacity" in f and f["capacity"].ok else None
            out.append(Queue(name, capacity or S.QUEUE_CAPACITY_DEFAULT, _span(e.key)))
        return tuple(out)

    def compares(self, f: dict[str, _At], where: Node, what: str) -> tuple[str, int] | None:
        """The one comparison (eq, ne, lt, ge) of a counter condition, or None (reported)."""
        given = [(key, f[key]) for key in S.IF_COMPARISONS if key in f and f[key].given]
        if not given:
            keys = ", ".join(S.IF_COMPARISONS)
            self.error(where, f"{what} needs a comparison: one of {keys}")
            return None
        for key, at in given[1:]:
            self.error(at.key or where, f"{what} has one comparison; '{key}' is a second")
        key, at = given[0]
        return (key, at.value) if at.ok else None

    def resolve(self, at: _At, what: str, table: Any, names: _Names | None = None) -> bool:
        """Report ``at`` (a name) unless ``table`` declares it; a None table was invalid itself.

        A name declared as another kind (a lock where a counter is expected, a counter
        where a lock or completion is) says what it is instead of "unknown".
        """
        if table is None or at.value in table:
            return True
        if at.node is None:
            return False
        other = _declared_as(at.value, names) if names is not None else None
        if other is not None:
            self.error(
                at.node,
                f"'{at.value}' names a {other}, not a {what} ({what}s are declared under "
                f"'{what}s:')",
            )
            return False
        if not table:
            hint = f" (no {what}s are declared)"
        else:
            hint = _did_you_mean(at.value, table) or f" (declared: {', '.join(sorted(table))})"
        self.error(at.node, f"unknown {what} '{at.value}'{hint}")
        return False

    def functions(self, at: _At, names: _Names) -> dict[str, _Function]:
        """The top-level ``functions:`` (revision 2), each body walked once on its own.

        A body's handle uses and binds are checked where it is called (in the caller's
        context); its scopes balance within it and ``break`` needs a loop within it.
        Recursion through ``call`` is reported here, with the chain.
        """
        entries: dict[str, _At] = at.value if at.good else {}
        self.known_functions = set(entries)
        out: dict[str, _Function] = {}
        for name, entry in entries.items():
            if not entry.ok or entry.key is None:
                continue
            ctx = _TaskContext(name, daemon=True, events=[], function=name)
            body_at: _At = entry.value["steps"]
            if body_at.good and not body_at.value:
                self.error(body_at.key or entry.key, f"function '{name}' needs at least one step")
            body = self.steps(body_at.value or [], ctx, names, 0)
            for scope, opened in ctx.scopes.items():
                for save in opened:
                    opener = SCOPE_OPENER[scope]
                    self.error(save, f"{opener} {_undone(scope)} within function '{name}'")
            events = ctx.events if ctx.events is not None else []
            out[name] = _Function(
                Function(name, body, _span(entry.key)), entry.key, events, ctx.forever
            )
        self.recursion(out)
        return out

    def recursion(self, functions: dict[str, _Function]) -> None:
        """Report each cycle of ``call`` steps once, at the call that closes it."""
        reported: set[frozenset[str]] = set()

        def walk(name: str, chain: list[str]) -> None:
            for kind, callee, node, _ in functions[name].events:
                if kind != "call" or callee not in functions:
                    continue
                if callee in chain:
                    cycle = [*chain[chain.index(callee) :], callee]
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        path = " -> ".join(cycle)
                        self.error(node, f"recursion through call: {path}")
                    continue
                walk(callee, [*chain, callee])

        for name in functions:
            walk(name, [name])

    def tasks(self, at: _At, names: _Names, functions: dict[str, _Function]) -> tuple[Task, ...]:
        if not at.good:
            return ()
        entries: dict[str, _At] = at.value
        if isinstance(at.node, MappingNode) and not at.node.value:
            self.error(at.key or at.node, "'tasks' must declare at least one task")
        out: list[Task] = []
        total = 0
        self.function_table = functions
        bodies = {name: f.spec.body for name, f in functions.items()}
        for name, entry in entries.items():
            if not entry.ok or entry.key is None:
                continue
            f: dict[str, _At] = entry.value
            daemon = bool(f["daemon"].value)
            ctx = _TaskContext(name, daemon)
            steps = self.steps(f["steps"].value or [], ctx, names, 0)
            self.finish(ctx)
            unrolled = _unrolled(steps, bodies)
            if unrolled > S.LIMITS.task_steps:
                self.error(
                    entry.key,
                    f"task '{name}' runs {unrolled} steps once repeats are unrolled; "
                    f"the limit is {S.LIMITS.task_steps}",
                )
            count = f["count"].value if f["count"].good else 1
            total += count
            common: dict[str, Any] = {
                "steps": steps,
                "flags": frozenset(flag.value for flag in f["flags"].value or ()),
                "context": f["context"].value if f["context"].ok else "process",
                "rt": bool(f["rt"].value),
                "rss": f["rss"].value if f["rss"].ok else 0,
                "oom_score_adj": f["oom_score_adj"].value if f["oom_score_adj"].ok else 0,
                "oom_victim": bool(f["oom_victim"].value),
                "mm_reapable": bool(f["mm_reapable"].value) if f["mm_reapable"].ok else True,
                "mm_lock": self.mm_lock(f["mm_lock"], names),
                "interrupts": self.interrupts(f, entries),
                "daemon": daemon,
                "span": _span(entry.key),
            }
            if count == 1:
                out.append(Task(name=name, base=name, index=None, **common))
            else:
                out.extend(
                    Task(name=f"{name}[{i}]", base=name, index=i, **common) for i in range(count)
                )
        if total > S.LIMITS.tasks and at.key is not None:
            limit = S.LIMITS.tasks
            self.error(at.key, f"{total} tasks once 'count' is expanded; the limit is {limit}")
        return tuple(out)

    def steps(
        self, items: list[_At], ctx: _TaskContext, names: _Names, depth: int
    ) -> tuple[StepNode, ...]:
        out: list[StepNode] = []
        for item in items:
            op, value = item.value
            where = item.key
            if value is None or where is None:
                continue  # its value was reported already
            node = self.control(op, value, where, ctx, names, depth)
            if node is not None:
                out.append(node)
        return tuple(out)

    def control(
        self, op: str, value: _At, where: Node, ctx: _TaskContext, names: _Names, depth: int
    ) -> StepNode | None:
        """One item of a step list: a control-flow form, or a step of the table."""
        if op == "repeat":
            return self.repeat(value, where, ctx, names, depth)
        if op == "loop":
            return self.loop(value, where, ctx, names, depth)
        if op in ("break", "continue"):
            if not ctx.loops:
                inside = f" in function '{ctx.function}'" if ctx.function else ""
                self.error(where, f"'{op}' outside a loop{inside}")
            return Break(_span(where)) if op == "break" else Continue(_span(where))
        if op == "if":
            return self.branch(value, where, ctx, names, depth)
        if op == "call":
            return self.call(value, where, ctx)
        return self.step(op, value, where, ctx, names, depth)

    def step(
        self, op: str, value: _At, where: Node, ctx: _TaskContext, names: _Names, depth: int
    ) -> Step:
        """Check and build one step from its row in ``steps.py``: its args, then its scope."""
        kind = STEP_KINDS[op]
        if isinstance(value.value, dict):  # the mapping form: its keys, in the row's order
            given = [(arg, value.value[arg.key]) for arg in kind.args if arg.key is not None]
        else:  # a name, or no value
            given = [(arg, value) for arg in kind.args if arg.key is None]
        fields: dict[str, Any] = {}
        on_fail: OnFail = None
        for arg, at in given:
            if arg.key == "on_fail":
                on_fail = self.on_fail(at, ctx, names, depth)
                continue
            if arg.compares:
                continue  # the comparison: one of the row's, read below
            if at.good:
                self.step_arg(kind, arg, at, where, ctx, names)
            fields[arg.step] = at.value if at.ok else arg.default
        if (
            kind.must_handle
            and on_fail is None
            and not (isinstance(value.value, dict) and value.value["on_fail"].given)
        ):
            target = fields.get("target") or "L"
            when = (kind.fails or "it fails").split(" (")[0]
            self.error(
                where,
                f"{op} without 'on_fail': say what happens when {when}, e.g. "
                f"'{op}: {{lock: {target}, on_fail: [...] | retry | unwind}}'",
            )
        if op == "dequeue" and isinstance(value.value, dict):
            self.dequeue_fails(value.value, fields, where)
        if op == "enqueue" and fields.get("handle") and isinstance(value.value, dict):
            handle_at: _At = value.value["handle"]
            if handle_at.good and handle_at.node is not None:
                self.send(ctx, handle_at.value, handle_at.node, fields.get("target"))
        if any(arg.compares for arg in kind.args) and isinstance(value.value, dict):
            compared = self.compares(value.value, where, f"'{op}'")
            if compared is not None:
                fields["cmp"], fields["value"] = compared
        if kind.scope is not None:
            self.scope_step(kind, kind.scope, where, ctx, depth)
        if "gfp" in fields:
            fields["gfp"], fields["gfp_text"] = fields["gfp"] or (None, None)
        return Step(op, span=_span(where), on_fail=on_fail, **fields)

    def dequeue_fails(self, f: dict[str, _At], fields: dict[str, Any], where: Node) -> None:
        """``dequeue`` fails only with ``nowait: true``, and then its failure must be
        handled (as a trylock's): ``on_fail`` with ``nowait``, and only with it."""
        queue = fields.get("target") or "Q"
        if fields.get("nowait") and not f["on_fail"].given:
            self.error(
                f["nowait"].key or where,
                "dequeue with 'nowait: true' without 'on_fail': say what happens when the "
                f"queue is empty, e.g. 'dequeue: {{queue: {queue}, nowait: true, "
                "on_fail: [...] | retry | unwind}'",
            )
        elif f["on_fail"].given and not fields.get("nowait"):
            self.error(
                f["on_fail"].key or where,
                "'on_fail' on a dequeue that sleeps until the queue has an item: it never "
                "fails; add 'nowait: true' or drop 'on_fail'",
            )

    def send(self, ctx: _TaskContext, name: str, node: Node, queue: str | None) -> None:
        """``enqueue: {handle: H}`` handed H over: a later use of H is an error until an
        ``as: H`` binds it again (docs/model.md, "Queues")."""
        self.sent_queue[id(node)] = queue or "?"
        if ctx.events is not None:
            ctx.events.append(("send", name, node, _inner(ctx)))
            return
        ctx.sent[name] = node

    def on_fail(self, at: _At, ctx: _TaskContext, names: _Names, depth: int) -> OnFail:
        """``on_fail``: a word (``retry``, ``unwind``), or a list of steps walked as a branch."""
        if not at.good:
            return None
        if isinstance(at.value, str):
            return str(at.value)
        return self.branch_body(at.value, ctx, names, depth)

    def branch_body(
        self, items: list[_At], ctx: _TaskContext, names: _Names, depth: int
    ) -> tuple[StepNode, ...]:
        """A branch (an ``if`` arm, an ``on_fail`` list): walked with a copy of the open
        scopes, so it may close a scope opened before it (an error path restores and
        leaves), and the path after the branch goes on with the scopes it had
        (docs/model.md, "Scopes in branches")."""
        outer = ctx.scopes
        ctx.scopes = {scope: list(opened) for scope, opened in outer.items()}
        outer_sent = ctx.sent
        ctx.sent = dict(outer_sent)
        body = self.steps(items, ctx, names, depth)
        ctx.scopes = outer
        # a send inside a branch may not happen; a rebind inside it may: neither is certain
        ctx.sent = {h: n for h, n in outer_sent.items() if h in ctx.sent}
        return body

    def branch(
        self, value: _At, where: Node, ctx: _TaskContext, names: _Names, depth: int
    ) -> If | None:
        """``if: {COND, then, else}``: exactly one condition, naming a handle or a lock."""
        f: dict[str, _At] = value.value
        conds = [(key, f[key]) for key, _, _ in S.IF_CONDITIONS if f[key].given]
        if not conds:
            keys = ", ".join(key for key, _, _ in S.IF_CONDITIONS)
            self.error(where, f"an 'if' needs a condition: one of {keys}")
        for key, at in conds[1:]:
            self.error(at.key or where, f"an 'if' has one condition; '{key}' is a second")
        cond: Cond | None = None
        if conds:
            key, at = conds[0]
            what = dict((k, w) for k, w, _ in S.IF_CONDITIONS)[key]
            if what != "counter":
                for cmp in S.IF_COMPARISONS:
                    if f[cmp].given:
                        self.error(
                            f[cmp].key or where,
                            f"'{cmp}' compares a counter; an 'if' on '{key}' takes no "
                            "comparison (write 'counter: NAME' to test a counter)",
                        )
            if at.good:
                if what == "handle":
                    self.use(ctx, at, deref=False)  # testing a pointer is no use of it
                    cond = Cond(key, at.value)
                elif what == "counter":
                    self.resolve(at, "counter", names.counters, names)
                    compared = self.compares(f, where, "an 'if' on a counter")
                    if compared is not None:
                        cond = Cond(key, at.value, *compared)
                else:
                    self.resolve(at, "lock", names.locks, names)
                    cond = Cond(key, at.value)
        then = self.branch_body(f["then"].value or [], ctx, names, depth)
        orelse = self.branch_body(f["else"].value or [], ctx, names, depth)
        if cond is None:
            return None
        return If(cond, then, orelse, _span(where))

    def loop(
        self, value: _At, where: Node, ctx: _TaskContext, names: _Names, depth: int
    ) -> Loop | None:
        """``loop: {steps}``: its scopes balance within the body, like a repeat's."""
        if depth + 1 > S.LIMITS.repeat_nesting:
            self.error(
                where, f"loops nested {depth + 1} deep; the limit is {S.LIMITS.repeat_nesting}"
            )
            return None
        body_at: _At = value.value["steps"]
        if body_at.good and not body_at.value and isinstance(body_at.node, SequenceNode):
            self.error(body_at.key or where, "a loop needs at least one step")
        outer, ctx.scopes = ctx.scopes, {}
        outer_sent = ctx.sent
        ctx.sent = dict(outer_sent)
        ctx.loops += 1
        body = self.steps(body_at.value or [], ctx, names, depth + 1)
        ctx.loops -= 1
        # a loop may be left (break) before a send in its body, or after a rebind
        ctx.sent = {h: n for h, n in outer_sent.items() if h in ctx.sent}
        for scope, opened in ctx.scopes.items():
            for save in opened:
                self.error(save, f"{SCOPE_OPENER[scope]} {_undone(scope)} within its loop body")
        ctx.scopes = outer
        bodies = {name: f.spec.body for name, f in self.function_table.items()}
        first = _first_round(body, bodies, ())
        if isinstance(first, Continue):
            self.report(
                first.span.line - 1,
                first.span.col - 1,
                "'continue' before any step of its loop: the loop would go round running nothing",
            )
        return Loop(body, _span(where))

    def call(self, value: _At, where: Node, ctx: _TaskContext) -> Call | None:
        """``call: NAME``: the function must exist; its body's handle uses and binds happen
        here, in the caller's context."""
        if not value.good:
            return None
        name = value.value
        known = self.known_functions
        if name not in known:
            hint = _did_you_mean(name, known) or (
                f" (declared: {', '.join(sorted(known))})"
                if known
                else " (no 'functions:' are declared)"
            )
            self.error(value.node or where, f"unknown function '{name}'{hint}")
            return None
        if ctx.events is not None:
            ctx.events.append(("call", name, value.node or where, _inner(ctx)))
        else:
            self.replay(ctx, name, [], value.node or where)
        return Call(name, _span(where))

    def replay(self, ctx: _TaskContext, name: str, chain: list[str], where: Node) -> None:
        """Apply function ``name``'s handle uses and binds (and its calls') to ``ctx``."""
        fn = self.function_table.get(name)
        if fn is None or name in chain:
            return  # declared but invalid, or recursion (reported with the function)
        if fn.forever and not ctx.daemon:
            self.error(where, f"function '{name}' loops forever; only a daemon task may call it")
        for kind, what, node, inside in fn.events:
            ctx.passes.extend(inside)  # `{i}` counts the passes of a repeat inside the body
            if kind == "call":
                self.replay(ctx, what, [*chain, name], where)
            elif kind == "use":
                self.use(ctx, _At(what, node))
            elif kind == "test":
                self.use(ctx, _At(what, node), deref=False)
            elif kind == "send":
                ctx.sent[what] = node
            else:
                self.bind(ctx, what, node)
            del ctx.passes[len(ctx.passes) - len(inside) :]

    def interrupts(self, f: dict[str, _At], entries: dict[str, _At]) -> str | None:
        """``interrupts: T`` (revision 2): on an irq or softirq task that is not a daemon,
        naming another task of the file that runs in process context with no ``count``."""
        at = f["interrupts"]
        if not at.good or at.value is None or at.node is None:
            return None
        context = f["context"].value if f["context"].ok else "process"
        if context == "process":
            self.error(
                at.key or at.node,
                "'interrupts' is for an irq or softirq handler; add 'context: irq' or "
                "'context: softirq' to this task",
            )
            return None
        if f["daemon"].value:
            self.error(
                at.key or at.node,
                "a handler with 'interrupts' fires once and runs to its end; it cannot be a daemon",
            )
            return None
        if not self.resolve(at, "task", entries):
            return None
        host: dict[str, _At] = entries[at.value].value if entries[at.value].ok else {}
        if not host:
            return None
        host_context = host["context"].value if host["context"].ok else "process"
        if host_context != "process":
            self.error(
                at.node,
                f"'{at.value}' runs in {host_context} context; 'interrupts' names the "
                "process-context task whose CPU the handler interrupts",
            )
            return None
        if host["count"].good and host["count"].value != 1:
            self.error(
                at.node,
                f"'{at.value}' has count {host['count'].value}; a handler interrupts one task's "
                "CPU, so it may name only a task without 'count'",
            )
            return None
        return str(at.value)

    def mm_lock(self, at: _At, names: _Names) -> str | None:
        """``mm_lock: L`` (revision 2): L must be a declared rwsem."""
        if not at.good or at.value is None:
            return None
        if not self.resolve(at, "lock", names.locks, names) or names.locks is None:
            return None
        kind = names.locks.get(at.value)
        if kind is not None and kind != "rwsem" and at.node is not None:
            self.error(at.node, f"mm_lock '{at.value}' is a {kind}; it must be an rwsem")
            return None
        return str(at.value)

    def step_arg(
        self, kind: StepKind, arg: Arg, at: _At, where: Node, ctx: _TaskContext, names: _Names
    ) -> None:
        """The checks on one arg that need more than its value: what it names."""
        if arg.names == "lock":
            if self.resolve(at, "lock", names.locks, names) and names.locks is not None:
                lock_kind = names.locks.get(at.value)
                if lock_kind is not None and lock_kind not in kind.lock_kinds:
                    use = dict(kind.instead).get(lock_kind)
                    hint = f" (use {use})" if use else ""
                    message = f"{kind.name} on '{at.value}', which is a {lock_kind}{hint}"
                    self.error(at.node or where, message)
        elif arg.names == "completion":
            self.resolve(at, "completion", names.completions, names)
        elif arg.names == "pool":
            self.resolve(at, "pool", names.pools, names)
        elif arg.names == "counter":
            self.resolve(at, "counter", names.counters, names)
        elif arg.names == "queue":
            self.resolve_queue(at, names, where)
        elif arg.names == "handle":
            self.use(ctx, at)
        elif arg.names == "binds" and at.value is not None and at.node is not None:
            self.bind(ctx, at.value, at.node)

    def resolve_queue(self, at: _At, names: _Names, where: Node) -> bool:
        """A queue name; a lock, completion, pool or counter named instead is a wrong type."""
        if names.queues is None or at.value in names.queues:
            return True
        other = [
            (f"a {(names.locks or {}).get(at.value) or 'lock'}", names.locks),
            ("a completion", names.completions),
            ("a pool", names.pools),
            ("a counter", names.counters),
        ]
        for what, table in other:
            if table is not None and at.value in table:
                hint = _did_you_mean(at.value, names.queues) if names.queues else ""
                self.error(at.node or where, f"'{at.value}' is {what}, not a queue{hint}")
                return False
        return self.resolve(at, "queue", names.queues)

    def scope_step(
        self, kind: StepKind, scope: str, where: Node, ctx: _TaskContext, depth: int
    ) -> None:
        """A memalloc scope opens (an acquiring step) or closes (a releasing one)."""
        if kind.role == ACQUIRES:
            ctx.scopes.setdefault(scope, []).append(where)
        elif ctx.scopes.get(scope):
            ctx.scopes[scope].pop()
        else:
            inside = " in the same repeat body" if depth else ""
            if ctx.function is not None:
                inside = f" in function '{ctx.function}'"
            self.error(where, f"{kind.name} without an earlier {SCOPE_OPENER[scope]}{inside}")

    def per_pass(self, ctx: _TaskContext, name: str, node: Node) -> list[str] | None:
        """The names a handle stands for: ``bio{i}`` inside ``repeat: {times: N}`` is
        bio0 ... bio{N-1}; None (after reporting) for ``{i}`` outside such a repeat."""
        if "{i}" not in name:
            return [name]
        if ctx.events is not None:
            return [name]  # a function body: checked where it is called
        times = ctx.passes[-1] if ctx.passes else None
        if times is None:
            self.error(
                node,
                f"handle '{name}' uses '{{i}}' outside a 'repeat: {{times: N}}': "
                "'{i}' is the pass number of the innermost repeat",
            )
            return None
        return [name, *(name.replace("{i}", str(i)) for i in range(times))]

    def use(self, ctx: _TaskContext, handle: _At, deref: bool = True) -> None:
        if handle.node is None:
            return
        if ctx.events is not None:
            kind = "use" if deref else "test"
            ctx.events.append((kind, handle.value, handle.node, _inner(ctx)))
            return
        sent = ctx.sent.get(handle.value)
        if deref and sent is not None:
            line = sent.start_mark.line + 1
            queue = self.sent_queue.get(id(sent), "?")
            self.error(
                handle.node,
                f"handle '{handle.value}' is used after 'enqueue' handed it to queue "
                f"'{queue}' (line {line}); the task no longer holds it until an "
                f"'as: {handle.value}' binds it again",
            )
        if self.per_pass(ctx, handle.value, handle.node) is None:
            return
        if handle.value not in ctx.bound:
            ctx.pending.append((handle.value, handle.node))

    def bind(self, ctx: _TaskContext, name: str, node: Node) -> None:
        if ctx.events is not None:
            ctx.events.append(("bind", name, node, _inner(ctx)))
            return
        ctx.sent.pop(name, None)
        for each in self.per_pass(ctx, name, node) or ():
            ctx.bound.setdefault(each, node)

    def repeat(
        self, value: _At, where: Node, ctx: _TaskContext, names: _Names, depth: int
    ) -> Repeat | None:
        f: dict[str, _At] = value.value
        if depth + 1 > S.LIMITS.repeat_nesting:
            self.error(
                where, f"repeats nested {depth + 1} deep; the limit is {S.LIMITS.repeat_nesting}"
            )
            return None
        times, forever = f["times"], f["forever"]
        if times.given and forever.given:
            self.error(forever.key or where, "a repeat has 'times' or 'forever', not both")
        elif not times.given and not forever.given:
            self.error(where, "a repeat needs 'times: N' or 'forever: true'")
        elif forever.good and forever.value is not True:
            self.error(
                forever.node or where,
                "'forever' can only be true; use 'times: N' for a bounded loop",
            )
        elif forever.good and not ctx.daemon:
            self.error(
                forever.key or where, "'forever' is only allowed in a task with 'daemon: true'"
            )
        if forever.good and forever.value is True:
            ctx.forever = True
        body_at = f["steps"]
        if body_at.good and not body_at.value and isinstance(body_at.node, SequenceNode):
            self.error(body_at.key or where, "a repeat needs at least one step")
        outer, ctx.scopes = ctx.scopes, {}
        ctx.passes.append(times.value if times.good else None)
        body = self.steps(body_at.value or [], ctx, names, depth + 1)
        ctx.passes.pop()
        for scope, opened in ctx.scopes.items():
            for save in opened:
                opener = SCOPE_OPENER[scope]
                self.error(save, f"{opener} {_undone(scope)} within its repeat body")
        ctx.scopes = outer
        count = times.value if times.good else (None if forever.given else 1)
        return Repeat(count, body, _span(where))

    def finish(self, ctx: _TaskContext) -> None:
        """Report what the walk of one task's steps left unresolved."""
        seen: set[int] = set()
        for name, node in ctx.pending:
            if id(node) in seen:
                continue  # a function body's use, replayed by a second call
            seen.add(id(node))
            if name in ctx.bound:
                line = ctx.bound[name].start_mark.line + 1
                self.error(
                    node, f"handle '{name}' is used before 'as: {name}' binds it (line {line})"
                )
            else:
                hint = (
                    _did_you_mean(name, ctx.bound)
                    or f" (no step of task '{ctx.name}' has 'as: {name}')"
                )
                self.error(node, f"unknown handle '{name}'{hint}")
        if not ctx.forever:
            for scope, opened in ctx.scopes.items():
                for save in opened:
                    self.error(save, f"{SCOPE_OPENER[scope]} {_undone(scope, never=True)}")

    def expect(self, at: _At) -> Expect | None:
        if not at.good:
            return None
        if isinstance(at.value, dict):
            entries = list(at.value.items())
            if isinstance(at.node, MappingNode) and not at.node.value:
                self.error(
                    at.node,
                    "'expect' is an empty mapping; give an outcome per preset, or remove it",
                )
        else:
            entries = [("default", at)]
        by_key: list[tuple[str, frozenset[str]]] = []
        spans: list[tuple[str, Span]] = []
        for key, value in entries:
            outcomes = self.outcomes(value)
            if outcomes is not None and value.node is not None:
                by_key.append((key, outcomes))
                spans.append((key, _span(value.node)))
        return Expect(tuple(by_key), tuple(spans))

    def outcomes(self, at: _At) -> frozenset[str] | None:
        if not at.good:
            return None
        if isinstance(at.value, str):
            return frozenset() if at.value == "ok" else frozenset({at.value})
        items: list[_At] = at.value
        if not items and at.node is not None:
            self.error(at.node, "an empty list of outcomes; write 'ok' to expect none")
            return None
        seen: set[str] = set()
        for item in items:
            if item.value == "ok" and len(items) > 1 and item.node is not None:
                self.error(
                    item.node, "'ok' cannot be listed with other outcomes: it means none of them"
                )
            elif item.value in seen and item.node is not None:
                self.error(item.node, f"outcome '{item.value}' is listed twice")
            seen.add(item.value)
        return frozenset(seen - {"ok"})


@dataclass(slots=True)
class _Names:
    """Declared names a step may refer to; None when the declaration itself was invalid."""

    locks: dict[str, str | None] | None
    completions: set[str] | None
    pools: set[str] | None
    counters: set[str] | None = None
    queues: set[str] | None = None


def _declared_as(name: Any, names: _Names) -> str | None:
    """What else ``name`` is declared as (``lock (mutex)``, ``completion``, ...), or None."""
    if names.locks and name in names.locks:
        kind = names.locks[name]
        return f"lock ({kind})" if kind else "lock"
    for what, table in (
        ("completion", names.completions),
        ("pool", names.pools),
        ("counter", names.counters),
    ):
        if table and name in table:
            return what
    return None


def _declared(at: _At) -> dict[str, _At] | None:
    """A name -> entry table as declared: {} when absent, None when itself invalid."""
    if not at.ok:
        return None
    return at.value if at.good and isinstance(at.value, dict) else {}


def _declared_completions(at: _At) -> set[str] | None:
    """Completion names as declared in either form, counting those with a bad initial count."""
    if not at.ok:
        return None
    if isinstance(at.value, dict):
        return set(at.value)
    return {item.value for item in at.value}


def _did_you_mean_exact(suggestion: str | None) -> str:
    return f" (did you mean '{suggestion}'?)" if suggestion else ""


def _first_round(
    steps: tuple[StepNode, ...], functions: dict[str, tuple[StepNode, ...]], chain: tuple[str, ...]
) -> StepNode | None:
    """What a pass through ``steps`` meets first: a step (or an ``if``, a move of its own),
    a ``break``, a ``continue``, or None when it runs out without meeting any of them."""
    for node in steps:
        if isinstance(node, Step | If | Break | Continue):
            return node
        body: tuple[StepNode, ...] = ()
        if isinstance(node, Repeat | Loop):
            body = node.body
        elif isinstance(node, Call) and node.function not in chain:
            body = functions.get(node.function, ())
            chain = (*chain, node.function)
        first = _first_round(body, functions, chain)
        if first is not None:
            return first
    return None


def _unrolled(
    steps: tuple[StepNode, ...],
    functions: dict[str, tuple[StepNode, ...]],
    chain: tuple[str, ...] = (),
) -> int:
    """How many steps a task's program holds with every repeat unrolled and every call
    inlined (a forever or loop body counts once, an ``if`` both arms, an ``on_fail`` list
    with its step)."""
    total = 0
    for node in steps:
        if isinstance(node, Repeat):
            total += (node.times or 1) * _unrolled(node.body, functions, chain)
        elif isinstance(node, Loop):
            total += 1 + _unrolled(node.body, functions, chain)
        elif isinstance(node, If):
            total += 2 + _unrolled(node.then, functions, chain)
            total += _unrolled(node.orelse, functions, chain)
        elif isinstance(node, Call):
            if node.function in functions and node.function not in chain:
                body = functions[node.function]
                total += _unrolled(body, functions, (*chain, node.function))
        elif isinstance(node, Step) and isinstance(node.on_fail, tuple):
            total += 2 + _unrolled(node.on_fail, functions, chain)
        else:
            total += 1
    return total


# --- values named by a dotted path (`mpsim sweep --param KEY=VALUES`) ---------


@dataclass(frozen=True, slots=True)
class Slot:
    """Where the scalar a dotted path names is written: ``text[start:end]`` is its source.

    ``text`` is the file's text as the loader reads it (a byte-order mark
    dropped), so a sweep patches exactly the characters the value takes
    (quotes included) and every other line stays as written.
    """

    key: str
    start: int
    end: int
    line: int  # 1-based, like a Problem's
    col: int


def locate_values(text: str | bytes, path: str, keys: list[str]) -> tuple[str, list[Slot]]:
    """The text and, for each dotted ``key``, the scalar it names (``pools.pool0.min_nr``,
    ``memory.reclaimable.0.pages``: a number indexes a list).

    The file must load as it is (its own problems are raised first, as
    ``load_text`` raises them). A key that names nothing written in the file,
    or a mapping or list rather than a value, is a ``Problem`` at the
    closest mapping or list that exists (its key, or line 1 for the
    file's top level), with the keys it does have and a did-you-mean; a
    name holding dots (``tasks.my.task``) is matched whole, longest first.

    >>> text = "pools: {p0: {min_nr: 1}}\\ntasks: {t: {steps: []}}\\n"
    >>> _, [slot] = locate_values(text, "a.yaml", ["pools.p0.min_nr"])
    >>> text[slot.start:slot.end], slot.line, slot.col
    ('1', 1, 22)
    >>> try:
    ...     locate_values(text, "a.yaml", ["pools.p0.min_nx"])
    ... except ScenarioError as err:
    ...     print(err.problems[0].line, err.problems[0].col, err.problems[0].message)
    1 9 --param pools.p0.min_nx: pools.p0 has no key 'min_nx' (did you mean 'min_nr'?)
    """
    load_text(text, path)
    loader = _Loader(path)
    decoded = loader.decode(text)
    if decoded is None:  # load_text refused it already
        raise AssertionError(f"{path}: loaded, then could not be decoded")
    loader.text = decoded.removeprefix("\ufeff")
    loader.lines = _LINE_BREAK.split(loader.text)
    loader.line_starts = [0, *(m.end() for m in _LINE_BREAK.finditer(loader.text))]
    root = loader.compose()
    if root is None:
        raise AssertionError(f"{path}: loaded, then could not be composed")
    slots = [slot for key in keys if (slot := _locate(loader, root, key)) is not None]
    if loader.problems:
        raise ScenarioError(loader.problems)
    return loader.text, slots


def _locate(loader: _Loader, root: Node, key: str) -> Slot | None:
    """The scalar ``key`` names under ``root``, or None after reporting where the path ends."""
    parts = key.split(".")
    node: Node = root
    where: Node = root  # what a problem points at: the key of the current node
    walked: list[str] = []
    i = 0
    while i < len(parts):
        here = ".".join(walked) or "the file's top level"
        if isinstance(node, MappingNode):
            entries = {str(k.value): (k, v) for k, v in node.value if isinstance(k, ScalarNode)}
            name = next(
                (
                    ".".join(parts[i:j])
                    for j in range(len(parts), i, -1)
                    if ".".join(parts[i:j]) in entries
                ),
                None,
            )
            if name is None:
                hint = _did_you_mean(parts[i], entries) or (
                    f" (it has {', '.join(entries)})" if entries else " (it is empty)"
                )
                loader.error(where, f"--param {key}: {here} has no key '{parts[i]}'{hint}")
                return None
            where, node = entries[name]
            walked.append(name)
            i += name.count(".") + 1
        elif isinstance(node, SequenceNode):
            if not (parts[i].isdigit() and int(parts[i]) < len(node.value)):
                has = f"0 to {len(node.value) - 1}" if node.value else "none: it is empty"
                loader.error(
                    where,
                    f"--param {key}: {here} is a list; '{parts[i]}' is not one of its "
                    f"indices ({has})",
                )
                return None
            node = where = node.value[int(parts[i])]
            walked.append(parts[i])
            i += 1
        else:
            loader.error(where, f"--param {key}: {here} is a value, with no '{parts[i]}' in it")
            return None
    if not isinstance(node, ScalarNode):
        what = "a mapping" if isinstance(node, MappingNode) else "a list"
        loader.error(where, f"--param {key}: {key} is {what}, not a value; name one inside it")
        return None
    start = loader.line_starts[node.start_mark.line] + node.start_mark.column
    end = loader.line_starts[node.end_mark.line] + node.end_mark.column
    return Slot(key, start, end, node.start_mark.line + 1, node.start_mark.column + 1)


def read_source(
    path: str, limit: int = _READ_LIMIT, what: str = "scenario file", shown: str | None = None
) -> bytes:
    """The bytes of the file at ``path`` (``-``: stdin), at most ``limit``, with
    ``load_scenario``'s errors for a file that cannot be read: for commands that need the
    text itself (``mpsim shrink`` edits a scenario, ``mpsim import`` reads a report)."""
    return _read_stdin(limit) if path == "-" else _read_file(path, limit, what, shown)
