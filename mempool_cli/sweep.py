"""``mpsim sweep``: one scenario searched at every point of a grid of values.

A ``--param KEY=VALUES`` names a value written in the file by a dotted
path (``pools.pool0.min_nr``, ``memory.reclaimable.0.pages``) and the
values to give it (``1..6``, ``0..20/4``, ``4,8,16``). Each point of the
grid (every combination, the first parameter varying slowest) is the
file's text with those values written in place of the ones it had,
loaded by the normal loader, so the format's own checks apply and a
refused value is an error at its position, with the point named. The
searches are (point, kernel) pairs; two pairs with the same text and a
kernel the model cannot tell apart (``kernels.model_key``) share one
search.

Everything here is plain data; the commands layer runs the searches (on
the local process pool or a dask cluster) and hands the results back to
``assemble``.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from mempool_cli.errors import Problem, ScenarioError, UsageError, printable
from mempool_cli.report import RunResult, outcome_text, sort_outcomes
from mempool_cli.scenario.kernels import Kernel, model_key
from mempool_cli.scenario.loader import load_text, locate_values
from mempool_cli.scenario.spec import Scenario
from mempool_cli.verdict import kernels_for

__all__ = [
    "MAX_POINTS",
    "Cell",
    "Param",
    "Plan",
    "Point",
    "Sweep",
    "assemble",
    "boundary",
    "cell_json",
    "parse_param",
    "plan",
    "to_csv",
    "to_json",
]

# More points than this is a typo (1..100000), not a sweep anyone waits for.
MAX_POINTS = 10_000

Value = int | str

_INT = re.compile(r"[-+]?[0-9]+")
_KEY_PART = re.compile(r"[A-Za-z0-9_-]+")
# A value written as a plain YAML scalar; anything else goes in double quotes.
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")


@dataclass(frozen=True, slots=True)
class Param:
    """One ``--param``: the dotted key and its values, in the order they are swept."""

    key: str
    values: tuple[Value, ...]


def _refuse(text: str, col: int, message: str) -> UsageError:
    """A usage error pointing at column ``col`` (0-based) of the ``--param`` text."""
    shown = printable(text)
    return UsageError(f"mpsim sweep: --param {shown}: {message}\n  {shown}\n  {' ' * col}^")


def parse_param(text: str) -> Param:
    """``KEY=VALUES``: ``a..b`` (integers a to b), ``a..b/step``, or ``a,b,c`` (any values;
    integers are read as integers).

    >>> parse_param("pools.pool0.min_nr=1..4")
    Param(key='pools.pool0.min_nr', values=(1, 2, 3, 4))
    >>> parse_param("memory.free=0..20/8").values, parse_param("k=4, 08 ,x").values
    ((0, 8, 16), (4, 8, 'x'))
    >>> try:
    ...     parse_param("memory.free=1..x")
    ... except UsageError as err:
    ...     print(err)
    mpsim sweep: --param memory.free=1..x: 'x' is not an integer (a range is a..b or a..b/step)
      memory.free=1..x
                     ^
    """
    key, eq, spec = text.partition("=")
    if not eq:
        raise _refuse(text, len(text), "expected KEY=VALUES, e.g. pools.pool0.min_nr=1..6")
    at = 0
    for part in key.split("."):
        if not _KEY_PART.fullmatch(part):
            what = "an empty part" if not part else f"'{part}'"
            raise _refuse(text, at, f"{what} in the key: a key is names and indices joined by '.'")
        at += len(part) + 1
    base = len(key) + 1
    return Param(key, _range(text, spec, base) if ".." in spec else _listed(text, spec, base))


def _range(text: str, spec: str, base: int) -> tuple[Value, ...]:
    low, _, rest = spec.partition("..")
    high, slash, step = rest.partition("/")
    words = [(low, base), (high, base + len(low) + 2)]
    if slash:
        words.append((step, base + len(low) + 2 + len(high) + 1))
    numbers: list[int] = []
    for word, at in words:
        if not _INT.fullmatch(word.strip()):
            shown = f"'{word.strip()}'" if word.strip() else "nothing"
            raise _refuse(text, at, f"{shown} is not an integer (a range is a..b or a..b/step)")
        numbers.append(int(word))
    first, last, by = numbers if slash else (*numbers, 1)
    if by <= 0:
        raise _refuse(text, words[-1][1], "the step must be at least 1")
    if first > last:
        raise _refuse(text, base, f"the range {first}..{last} is empty (a..b needs a <= b)")
    if (last - first) // by + 1 > MAX_POINTS:
        raise _refuse(text, base, f"more than {MAX_POINTS:,} values")
    return tuple(range(first, last + 1, by))


def _listed(text: str, spec: str, base: int) -> tuple[Value, ...]:
    values: list[Value] = []
    at = base
    for word in spec.split(","):
        item = word.strip()
        if not item:
            raise _refuse(text, at, "an empty value (VALUES is a..b, a..b/step or a,b,c)")
        value: Value = int(item) if _INT.fullmatch(item) else item
        if value in values:
            raise _refuse(text, at + word.index(item), f"{item} is listed twice")
        values.append(value)
        at += len(word) + 1
    return tuple(values)


def yaml_scalar(value: Value) -> str:
    """A value as YAML source: plain when it reads back as itself, else double-quoted.

    >>> yaml_scalar(3), yaml_scalar("v4.8"), yaml_scalar("GFP_NOIO | __GFP_NOFAIL")
    ('3', 'v4.8', '"GFP_NOIO | __GFP_NOFAIL"')
    """
    if isinstance(value, int) or _PLAIN.fullmatch(value):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Point:
    """A point of the grid: its values (one per parameter) and the scenario they give."""

    values: tuple[Value, ...]
    scenario: Scenario


@dataclass(frozen=True, slots=True)
class Plan:
    """What a sweep will search: its points, the kernels, and the distinct searches.

    ``jobs[j]`` is one search; ``job_of[i][k]`` is the job that answers point
    ``i`` under kernel column ``k``.
    """

    file: str
    scenario: str
    params: tuple[Param, ...]
    columns: tuple[str, ...]
    points: tuple[Point, ...]
    kernels: tuple[tuple[Kernel, ...], ...]  # per point, one per column
    jobs: tuple[tuple[Scenario, Kernel], ...]
    job_of: tuple[tuple[int, ...], ...]


def plan(
    base: Scenario, params: Sequence[Param], kernel_names: list[str], all_kernels: bool
) -> Plan:
    """Every point's scenario (all refused values reported at once) and its searches.

    A key named twice, or a grid of more than ``MAX_POINTS`` points, is a
    usage error; a key the file does not have is a positioned usage error
    (``locate_values``); a value the format refuses is the loader's
    ``ScenarioError``, each problem prefixed with the point
    (``at pools.pool0.min_nr=0: ...``), one problem for all the points that
    share it.
    """
    keys = [p.key for p in params]
    for i, key in enumerate(keys):
        if key in keys[:i]:
            raise UsageError(f"mpsim sweep: --param {key} is given twice")
    total = 1
    for p in params:
        total *= len(p.values)
    if total > MAX_POINTS:
        raise UsageError(f"mpsim sweep: {total:,} points; at most {MAX_POINTS:,} in one sweep")
    try:
        text, slots = locate_values(base.source, base.path, keys)
    except ScenarioError as err:
        raise UsageError(err.render()) from None
    order = sorted(range(len(slots)), key=lambda i: slots[i].start, reverse=True)
    points: list[Point] = []
    failed: dict[tuple[Problem, ...], list[tuple[Value, ...]]] = {}
    for values in itertools.product(*(p.values for p in params)):
        patched = text
        for i in order:  # from the end, so the earlier slots' offsets still hold
            s = slots[i]
            patched = patched[: s.start] + yaml_scalar(values[i]) + patched[s.end :]
        try:
            points.append(Point(values, load_text(patched, base.path)))
        except ScenarioError as err:
            failed.setdefault(tuple(err.problems), []).append(values)
    if failed:
        raise ScenarioError(
            [
                replace(p, message=f"at {_where(keys, group)}: {p.message}")
                for problems, group in failed.items()
                for p in problems
            ]
        )
    kernels = [tuple(kernels_for(pt.scenario, kernel_names, all_kernels)) for pt in points]
    columns = tuple(
        k.name if all(ks[c].name == k.name for ks in kernels) else "file's kernel"
        for c, k in enumerate(kernels[0])
    )
    jobs: list[tuple[Scenario, Kernel]] = []
    seen: dict[tuple[str, tuple[object, ...]], int] = {}
    job_of: list[tuple[int, ...]] = []
    for pt, ks in zip(points, kernels, strict=True):
        row = []
        for k in ks:
            index = seen.setdefault((pt.scenario.source, model_key(k)), len(jobs))
            if index == len(jobs):
                jobs.append((pt.scenario, k))
            row.append(index)
        job_of.append(tuple(row))
    return Plan(
        base.path,
        base.name,
        tuple(params),
        columns,
        tuple(points),
        tuple(kernels),
        tuple(jobs),
        tuple(job_of),
    )


def _where(keys: Sequence[str], group: Sequence[tuple[Value, ...]]) -> str:
    """The point, or the values every point of ``group`` shares (``memory.free`` varies)."""
    shared = [
        f"{key}={group[0][i]}"
        for i, key in enumerate(keys)
        if all(v[i] == group[0][i] for v in group)
    ]
    if not shared:
        return f"every one of {len(group)} points"
    return ", ".join(shared)


@dataclass(frozen=True, slots=True)
class Cell:
    """One point under one kernel: what its search found, and which search that was."""

    kernel: str
    outcomes: frozenset[str]
    complete: bool
    stop_reason: str | None
    states: int
    transitions: int
    search: int

    @property
    def status(self) -> str:
        """``ok``, ``found`` (some outcome, search complete), or ``incomplete`` (never ok)."""
        if not self.complete:
            return "incomplete"
        return "found" if self.outcomes else "ok"

    @property
    def text(self) -> str:
        """The outcome set; a search cut short reads as what it found so far, never ok."""
        if self.complete:
            return outcome_text(self.outcomes)
        found = outcome_text(self.outcomes) if self.outcomes else "nothing"
        return f"{found} found so far ({self.stop_reason})"


@dataclass(frozen=True, slots=True)
class Sweep:
    """A finished sweep: every point's cells, in grid order then column order."""

    file: str
    scenario: str
    params: tuple[Param, ...]
    columns: tuple[str, ...]
    points: tuple[tuple[tuple[Value, ...], tuple[Cell, ...]], ...]
    searches: int

    @property
    def complete(self) -> bool:
        return all(c.complete for _, cells in self.points for c in cells)


def assemble(p: Plan, results: Sequence[RunResult]) -> Sweep:
    """The sweep from its plan and one result per job, in job order."""
    points = []
    for pt, ks, jobs in zip(p.points, p.kernels, p.job_of, strict=True):
        cells = tuple(cell(results[j], k, j) for k, j in zip(ks, jobs, strict=True))
        points.append((pt.values, cells))
    return Sweep(p.file, p.scenario, p.params, p.columns, tuple(points), len(p.jobs))


def cell(r: RunResult, kernel: Kernel, search: int) -> Cell:
    return Cell(kernel.name, r.outcomes, r.complete, r.stop_reason, r.states, r.transitions, search)


# ---------------------------------------------------------------- the boundary


def boundary(sweep: Sweep) -> list[str]:
    """Where the scenario turns ok, in words, along the first parameter.

    One line per combination of the other parameters (``at memory.free=4:
    ...``): ``ok under every preset from KEY 3`` when every column turns ok
    at the same value and stays ok; otherwise per column (``ok under v4.6
    from KEY 2; under v4.5 at no KEY in 1..4``). A point cut short is not ok:
    the line says which were, since more values might be ok than it shows.

    >>> c = lambda ok: Cell("v4.5", frozenset() if ok else {"deadlock"}, True, None, 1, 1, 0)
    >>> s = Sweep("f", "s", (Param("min_nr", (1, 2, 3)),), ("v4.5",),
    ...           tuple(((v,), (c(v >= 2),)) for v in (1, 2, 3)), 3)
    >>> boundary(s)
    ['ok under v4.5 from min_nr 2']
    """
    first = sweep.params[0]
    others = sweep.params[1:]
    by_rest: dict[tuple[Value, ...], dict[Value, tuple[Cell, ...]]] = {}
    for values, cells in sweep.points:
        by_rest.setdefault(values[1:], {})[values[0]] = cells
    lines = []
    for rest, row in by_rest.items():
        prefix = ", ".join(f"{p.key}={v}" for p, v in zip(others, rest, strict=True))
        words = _along(first, row, sweep.columns)
        lines.append(f"at {prefix}: {words}" if prefix else words)
    return lines


def _along(param: Param, row: dict[Value, tuple[Cell, ...]], columns: Sequence[str]) -> str:
    values = list(row)
    per_column = []
    for c in range(len(columns)):
        ok = [v for v in values if row[v][c].status == "ok"]
        per_column.append(_span_words(param.key, values, ok))
    groups: dict[str, list[str]] = {}
    for name, words in zip(columns, per_column, strict=True):
        groups.setdefault(words, []).append(name)
    if len(groups) == 1 and len(columns) == 1:
        text = f"ok under {columns[0]} {per_column[0]}"
    elif len(groups) == 1 and not any(c.status == "ok" for cells in row.values() for c in cells):
        text = f"ok under no preset at any {param.key} in {_swept(values)}"
    elif len(groups) == 1:
        text = f"ok under every preset {per_column[0]}"
    else:  # the largest group last, as "every other preset"
        most = max(groups, key=lambda w: len(groups[w]))
        told = [f"under {', '.join(names)} {w}" for w, names in groups.items() if w != most]
        others = "every other preset" if len(groups[most]) > 1 else groups[most][0]
        text = "ok " + "; ".join([*told, f"under {others} {most}"])
    cut = [
        f"{param.key} {v} under {columns[c]} ({row[v][c].stop_reason})"
        for v in values
        for c in range(len(columns))
        if not row[v][c].complete
    ]
    if cut:
        shown = ", ".join(cut[:3]) + (f" and {len(cut) - 3} more" if len(cut) > 3 else "")
        text += f" (cut short, so not counted as ok: {shown})"
    return text


def _span_words(key: str, values: list[Value], ok: list[Value]) -> str:
    """How the ok values sit among the swept ones: from, up to, every, none, or a list.

    >>> _span_words("k", [1, 2, 3, 4], [3, 4]), _span_words("k", [1, 2, 3], [1])
    ('from k 3', 'up to k 1')
    >>> _span_words("k", [1, 2, 3], []), _span_words("k", [1, 2, 3], [1, 3])
    ('at no k in 1..3', 'at k 1, 3 only')
    """
    swept = _swept(values)
    if not ok:
        return f"at no {key} in {swept}"
    if len(ok) == len(values):
        return f"at every {key} in {swept}"
    start = values.index(ok[0])
    if values[start:] == ok:
        return f"from {key} {ok[0]}"
    if values[: len(ok)] == ok:
        return f"up to {key} {ok[-1]}"
    return f"at {key} {', '.join(map(str, ok))} only"


def _swept(values: list[Value]) -> str:
    """``1..6`` for consecutive integers, else the values listed."""
    ints = [v for v in values if isinstance(v, int)]
    if len(ints) == len(values) > 2 and ints == list(range(ints[0], ints[-1] + 1)):
        return f"{ints[0]}..{ints[-1]}"
    return ", ".join(map(str, values))


# ---------------------------------------------------------------- JSON, CSV


def cell_json(params: Sequence[Param], values: tuple[Value, ...], c: Cell) -> dict[str, Any]:
    """One (point, kernel) as JSON: the keys of docs/reports.md ("mpsim sweep")."""
    return {
        "values": {p.key: v for p, v in zip(params, values, strict=True)},
        "kernel": c.kernel,
        "outcomes": sort_outcomes(c.outcomes),
        "status": c.status,
        "complete": c.complete,
        "stop_reason": c.stop_reason,
        "states": c.states,
        "transitions": c.transitions,
        "search": c.search,
    }


def to_json(sweep: Sweep) -> dict[str, Any]:
    """The whole sweep; no times, so the same sweep gives the same bytes on any executor."""
    return {
        "scenario": sweep.scenario,
        "file": printable(sweep.file),
        "params": [{"key": p.key, "values": list(p.values)} for p in sweep.params],
        "kernels": list(sweep.columns),
        "searches": sweep.searches,
        "complete": sweep.complete,
        "boundary": boundary(sweep),
        "points": [cell_json(sweep.params, v, c) for v, cells in sweep.points for c in cells],
    }


CSV_FIELDS = ("kernel", "outcomes", "status", "complete", "stop_reason", "states", "transitions")


def to_csv(sweep: Sweep) -> str:
    """One row per (point, kernel): the parameters' keys, then ``CSV_FIELDS`` and ``search``;
    outcomes joined by ``;`` (empty for none)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*(p.key for p in sweep.params), *CSV_FIELDS, "search"])
    for values, cells in sweep.points:
        for c in cells:
            writer.writerow(
                [
                    *values,
                    c.kernel,
                    ";".join(sort_outcomes(c.outcomes)),
                    c.status,
                    str(c.complete).lower(),
                    c.stop_reason or "",
                    c.states,
                    c.transitions,
                    c.search,
                ]
            )
    return out.getvalue()
