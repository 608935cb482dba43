"""The `mpsim` command line: each command parses options and calls one library function.

Domain errors become exit codes here and nowhere else; anything else that
escapes is reported as a bug in mpsim (exit 70 would hide it among the
contract's codes, so it uses the usage code 2 with a clear "internal error").
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

from mempool_cli import __version__
from mempool_cli.errors import EXIT_INCOMPLETE, EXIT_USAGE, MpsimError, printable

F = TypeVar("F", bound=Callable[..., Any])

EPILOG_CHECK = """\b
Examples:
  mpsim check scenarios/mempool/rientjes-2016-oom-victim.yaml
  cat my.yaml | mpsim check -
"""


# Errors of writing a report, not bugs: no space, quota, I/O error, file too big, closed fd.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EBADF})


# The loader reports an unreadable file in one line, like any other it cannot read;
# click's own check would print a usage message for a problem that is not one.
_SCENARIO_PATH = click.Path(allow_dash=True, readable=False)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush cannot fail on a closed pipe."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _tell(message: str) -> None:
    """A message on stderr if it can take one: a closed or full stderr must not change the exit."""
    with contextlib.suppress(OSError, ValueError):
        click.echo(printable(message), err=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _terminated_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, like Ctrl-C, from before any input is opened.

    A FIFO with no writer blocks its reader in open(); without a handler
    SIGTERM would kill mpsim with no word. The search's own stop flag
    (commands.Stopper) takes over both signals while it runs.
    """
    try:
        old = signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread: leave signals to it
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _guarded(func: F) -> F:
    """Turn MpsimError into its exit code, and any other exception into an internal-error line."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with _terminated_as_interrupt():
                return func(*args, **kwargs)
        except MpsimError as err:
            _tell(str(err))
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            # A Ctrl-C outside a search: nothing certain to report.
            _tell("mpsim: interrupted")
            sys.exit(EXIT_INCOMPLETE)
        except MemoryError:
            # Outside a search (which reports its own as a memory limit): ulimit -v.
            _tell("mpsim: incomplete: out of memory (raise ulimit -v, or lower --max-memory)")
            sys.exit(EXIT_INCOMPLETE)
        except BrokenPipeError:
            # The reader went away (`mpsim run ... | head`): stop quietly, and keep
            # the interpreter's final flush of stdout from failing again.
            _silence_stdout()
            sys.exit(EXIT_USAGE)
        except (click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except click.ClickException:
            raise
        except Exception as err:  # the one place a bug is reported
            if isinstance(err, OSError) and err.errno in _WRITE_ERRNOS:
                # stdout or stderr on a full disk, /dev/full, a closed descriptor.
                _silence_stdout()
                _tell(f"mpsim: cannot write the output: {err.strerror}")
                sys.exit(EXIT_USAGE)
            _tell(
                f"mpsim: internal error: {type(err).__name__}: {err}\n"
                "This is a bug in mpsim, not in your scenario; please report it "
                "with the command line and the scenario file."
            )
            sys.exit(EXIT_USAGE)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper  # type: ignore[return-value]


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """--version: the version, and whether the search's hot modules run compiled."""
    if not value or ctx.resilient_parsing:
        return
    from mempool_cli import native

    click.echo(f"mpsim, version {__version__}\n{native.summary()}")
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and whether the search runs compiled, and exit.",
)
def cli() -> None:
    """Find deadlocks and livelocks in kernel memory-allocation paths.

    \b
    mpsim explores every interleaving of the tasks in a YAML scenario against
    a model of the Linux mempool, page allocator, reclaim and OOM killer.

    \b
    Examples:
      mpsim run scenario.yaml --kernel v4.5
      mpsim matrix scenarios/
      mpsim check scenario.yaml
    """


@cli.command(epilog=EPILOG_CHECK)
@click.argument("files", nargs=-1, required=True, type=_SCENARIO_PATH)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="json: an array of problems on stdout; github: GitHub Actions ::error annotations.",
)
@click.option(
    "--width",
    type=click.IntRange(min=40),
    default=None,
    metavar="N",
    help="Cut echoed source lines to N columns (each FILE:LINE:COL line stays whole) "
    "[default: 106, a 100-character window of the line].",
)
@_guarded
def check(files: tuple[str, ...], fmt: str, width: int | None) -> None:
    """Validate scenario FILES without exploring them ('-' reads stdin)."""
    from mempool_cli import commands

    sys.exit(commands.check(list(files), click.echo, fmt, width))


@cli.command(epilog="\b\nExample:\n  mpsim schema > mpsim-schema.json")
@_guarded
def schema() -> None:
    """Print the JSON Schema of the scenario format, for editors' YAML language servers."""
    import json

    from mempool_cli.scenario.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))


def _view_options(func: F) -> F:
    func = click.option(
        "--style",
        type=click.Choice(["boxed", "plain"]),
        default="boxed",
        show_default=True,
        help="plain: no box characters, lockdep's layout, for mail and commit messages.",
    )(func)
    func = click.option(
        "--width",
        type=click.IntRange(min=40),
        default=None,
        metavar="N",
        help="Fit text in N columns [default: the terminal's width, else $COLUMNS, else 80].",
    )(func)
    return func


def _view(width: int | None, style: str) -> Any:
    from mempool_cli.commands import View

    return View(width, style)


@cli.command(epilog="\b\nExample:\n  mpsim kernels --width 72")
@_view_options
@_guarded
def kernels(width: int | None, style: str) -> None:
    """List the kernel presets and the value of each knob.

    A kernel version given to --kernel or `kernel:` (v5.10, 5.10, 6.6.30)
    resolves to the preset of its release, or to the older preset when it
    falls between two.
    """
    from mempool_cli import commands

    sys.exit(commands.kernels(_view(width, style)))


def _not_nan(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    # FloatRange lets nan through (every comparison with it is false): it would mean no limit.
    if value is not None and value != value:
        raise click.BadParameter("must be a number of seconds, not nan")
    return value


def _limits_options(func: F) -> F:
    func = click.option(
        "--no-reduce",
        is_flag=True,
        help="Turn the symmetry and partial-order reductions off (same outcomes, more "
        "states; for comparison and debugging).",
    )(func)
    func = click.option(
        "--max-memory",
        type=int,
        default=None,
        metavar="MB",
        help="Stop with 'incomplete: memory limit' (exit 4) past this RSS in MiB "
        "[default: half of the machine's RAM, or of its container's limit if lower; at "
        "most 80% of ulimit -v / -d].",
    )(func)
    func = click.option(
        "--max-seconds",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        callback=_not_nan,
        help="Stop with 'incomplete' (exit 4) after this long per scenario and kernel.",
    )(func)
    func = click.option(
        "--max-states",
        type=click.IntRange(min=1),
        default=None,
        help="Stop with 'incomplete' (exit 4) after this many distinct states.",
    )(func)
    return func


def _one_kernel_option(func: F) -> F:
    """``--kernel`` for a command that runs one kernel (default: the file's own)."""
    return click.option(
        "--kernel",
        "-k",
        "kernel",
        metavar="PRESET",
        help="Kernel preset or version [default: the file's].",
    )(func)


def _output_option(what: str) -> Callable[[F], F]:
    """``-o OUT`` for a command that writes ``what`` (the report, the graph, the YAML...)."""

    def add(func: F) -> F:
        return click.option(
            "-o",
            "--output",
            type=click.Path(dir_okay=False),
            help=f"Write the {what} here: a file is replaced whole (temp file and rename), a "
            "symlink's target is written, a device or FIFO is written into.",
        )(func)

    return add


def _fail_on_option(func: F) -> F:
    return click.option(
        "--fail-on",
        metavar="OUTCOMES",
        default=None,
        help="Exit 1 if any run finds one of these outcomes (comma list, e.g. deadlock,livelock), "
        "whatever the files' `expect` says; `expect` then no longer decides the exit status.",
    )(func)


def _kernel_options(func: F) -> F:
    func = click.option(
        "--all-kernels", is_flag=True, help="Run under every preset (`mpsim kernels` lists them)."
    )(func)
    func = click.option(
        "--kernel",
        "-k",
        "kernels",
        multiple=True,
        metavar="PRESET",
        help="Kernel preset or version (v5.10, 6.6.30) to model; repeat for several. "
        "Overrides the file's `kernel`.",
    )(func)
    return func


def _executor_options(func: F) -> F:
    func = click.option(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="With --executor dask: the address of a running dask.distributed scheduler "
        "(tcp://host:8786) [default: start a LocalCluster on this machine, one worker per core].",
    )(func)
    func = click.option(
        "--executor",
        type=click.Choice(["local", "dask"]),
        default="local",
        show_default=True,
        help="Where the searches run: local worker processes, one per core; or a dask "
        "cluster (pip install 'mpsim[dask]'). The results are the same.",
    )(func)
    return func


EPILOG_RUN = """\b
Examples:
  mpsim run scenarios/mempool/rientjes-2016-oom-victim.yaml --kernel v4.5
  mpsim run scenario.yaml --all-kernels
  mpsim run --format json scenario.yaml | jq '.[0].outcomes'
  mpsim run scenario.yaml --style plain --width 72   # for a mail
  mpsim run scenarios/ --fail-on deadlock,livelock

\b
Exit status: 0 every run matches its `expect` (ok without one), 1 some run
does not, 2 usage or environment error, 3 invalid scenario, 4 a search
limit, Ctrl-C or a killed worker cut a search short. With --fail-on: 1 if
some run found one of those outcomes, else 4 or 0 as above.
\b
jsonl prints each result as its search ends, so its lines come in the
order the searches finish; json keeps file order, then kernel order.
"""


@cli.command(epilog=EPILOG_RUN)
@click.argument("files", nargs=-1, required=True, type=_SCENARIO_PATH)
@_kernel_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "jsonl"]),
    default="text",
    show_default=True,
    help="json: one array, in file order; jsonl: one object per line, each as it finishes.",
)
@click.option("--trace", is_flag=True, help="Show every step of each finding's schedule.")
@click.option(
    "--potential",
    is_flag=True,
    help="Also report each cycle of the lock-order graph lockdep would build over every "
    "explored execution (with the fs_reclaim and completion pseudo-locks), and whether a "
    "hang on it is reachable here.",
)
@_output_option("report")
@_fail_on_option
@_view_options
@_limits_options
@_executor_options
@_guarded
def run(
    files: tuple[str, ...],
    kernels: tuple[str, ...],
    all_kernels: bool,
    fmt: str,
    trace: bool,
    potential: bool,
    output: str | None,
    fail_on: str | None,
    width: int | None,
    style: str,
    max_states: int | None,
    max_seconds: float | None,
    max_memory: int | None,
    no_reduce: bool,
    executor: str,
    scheduler: str | None,
) -> None:
    """Explore every interleaving of each scenario FILE and report what can happen."""
    from mempool_cli import commands

    sys.exit(
        commands.run(
            list(files),
            list(kernels),
            all_kernels,
            fmt,
            trace,
            output,
            commands.limits(max_states, max_seconds, max_memory, not no_reduce, potential),
            _view(width, style),
            commands.fail_on_outcomes(fail_on),
            commands.executor(executor, scheduler),
        )
    )


EPILOG_MATRIX = """\b
Examples:
  mpsim matrix scenarios/
  mpsim matrix scenarios/mempool --kernel v4.5 --kernel v4.8
  mpsim matrix scenarios/ --fail-on deadlock

\b
Exit status as for `mpsim run`: a cell whose file has no `expect` for its
preset is expected to be ok, in both commands.
"""


@cli.command(epilog=EPILOG_MATRIX)
@click.argument("paths", nargs=-1, required=True, type=_SCENARIO_PATH)
@click.option(
    "--kernel",
    "-k",
    "kernels",
    multiple=True,
    metavar="PRESET",
    help="Columns to show: presets or kernel versions [default: every preset].",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@_fail_on_option
@_view_options
@_limits_options
@_executor_options
@_guarded
def matrix(
    paths: tuple[str, ...],
    kernels: tuple[str, ...],
    fmt: str,
    fail_on: str | None,
    width: int | None,
    style: str,
    max_states: int | None,
    max_seconds: float | None,
    max_memory: int | None,
    no_reduce: bool,
    executor: str,
    scheduler: str | None,
) -> None:
    """One row per scenario, one column per kernel preset, each cell checked against `expect`.

    A cell for which the file has no expectation is marked '?' and expected
    to be ok, as `mpsim run` does. Exit 0 only if every cell is as expected.
    """
    from mempool_cli import commands

    sys.exit(
        commands.matrix(
            list(paths),
            list(kernels),
            fmt,
            commands.limits(max_states, max_seconds, max_memory, not no_reduce),
            _view(width, style),
            commands.fail_on_outcomes(fail_on),
            commands.executor(executor, scheduler),
        )
    )


EPILOG_REPLAY = """\b
Example (the schedule comes from a report's replay line):
  mpsim replay scenario.yaml 'taskA,taskB,taskB#1,reaper@taskC' --kernel v4.8

\b
A long schedule may come in several pieces (a narrow report wraps it so);
they are joined with commas.
"""


@cli.command(epilog=EPILOG_REPLAY)
@click.argument("file", type=_SCENARIO_PATH)
@click.argument("schedule", nargs=-1, required=True)
@_one_kernel_option
@_view_options
@_guarded
def replay(
    file: str, schedule: tuple[str, ...], kernel: str | None, width: int | None, style: str
) -> None:
    """Re-run SCHEDULE step by step, printing each state change and what it reaches."""
    from mempool_cli import commands

    sys.exit(
        commands.replay(file, commands.join_schedule(list(schedule)), kernel, _view(width, style))
    )


EPILOG_GRAPH = """\b
Examples:
  mpsim graph scenarios/mempool/weiner-2016-abba.yaml | dot -Tsvg > abba.svg
  mpsim graph scenario.yaml --kernel v4.5 --format svg -o waitfor.svg
  mpsim graph scenario.yaml --states -o states.dot

\b
Without --states: the wait-for graph at a deadlock or livelock (the first,
or --finding N), its cycle in red. With --states: every state of a small
scenario (at most 2,000), the finding's schedule in red. svg and png need
Graphviz's `dot` on PATH; png is never written to a terminal.
"""


@cli.command(epilog=EPILOG_GRAPH)
@click.argument("file", type=_SCENARIO_PATH)
@_one_kernel_option
@click.option(
    "--finding",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Which finding, as numbered in the report [default: the first hang].",
)
@_output_option("graph")
@click.option(
    "--states", is_flag=True, help="Draw the explored state graph instead of the wait-for graph."
)
@click.option(
    "--format", "fmt", type=click.Choice(["dot", "svg", "png"]), default="dot", show_default=True
)
@_limits_options
@_guarded
def graph(
    file: str,
    kernel: str | None,
    finding: int | None,
    output: str | None,
    states: bool,
    fmt: str,
    max_states: int | None,
    max_seconds: float | None,
    max_memory: int | None,
    no_reduce: bool,
) -> None:
    """Draw FILE's wait-for graph at a hang, or its state graph, as DOT (or svg/png)."""
    from mempool_cli import commands

    sys.exit(
        commands.graph(
            file,
            kernel,
            finding,
            output,
            states,
            fmt,
            commands.limits(max_states, max_seconds, max_memory, not no_reduce),
        )
    )


EPILOG_LIBRARY = """\b
Examples:
  mpsim library
  mpsim library run rientjes-2016-oom-victim --kernel v4.5
  mpsim library copy weiner-2016-abba my-abba.yaml
  mpsim matrix "$(mpsim library path)"
"""


@cli.group(invoke_without_command=True, epilog=EPILOG_LIBRARY)
@_view_options
@click.pass_context
@_guarded
def library(ctx: click.Context, width: int | None, style: str) -> None:
    """The scenario library shipped with mpsim: list it, run or copy out a scenario by name."""
    if ctx.invoked_subcommand is None:
        from mempool_cli import commands

        sys.exit(commands.library_list(_view(width, style)))


@library.command("list")
@_view_options
@_guarded
def library_list(width: int | None, style: str) -> None:
    """List the shipped scenarios: name, topic and the first sentence of each description."""
    from mempool_cli import commands

    sys.exit(commands.library_list(_view(width, style)))


@library.command("path")
@click.argument("name", required=False)
@_guarded
def library_path(name: str | None) -> None:
    """Print the library's directory, or the file of scenario NAME."""
    from mempool_cli import library as lib

    click.echo(str(lib.find(name).path if name else lib.library_root()))


@library.command("copy")
@click.argument("name")
@click.argument("dest", required=False, type=click.Path())
@click.option("--force", is_flag=True, help="Overwrite DEST if it exists.")
@_guarded
def library_copy(name: str, dest: str | None, force: bool) -> None:
    """Copy scenario NAME to DEST (a file or a directory; default: NAME.yaml here)."""
    from mempool_cli import commands

    sys.exit(commands.library_copy(name, dest, force, click.echo))


@library.command("run")
@click.argument("names", nargs=-1, required=True)
@_kernel_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "jsonl"]),
    default="text",
    show_default=True,
    help="As for `mpsim run`.",
)
@click.option("--trace", is_flag=True, help="Show every step of each finding's schedule.")
@_fail_on_option
@_view_options
@_limits_options
@_guarded
def library_run(
    names: tuple[str, ...],
    kernels: tuple[str, ...],
    all_kernels: bool,
    fmt: str,
    trace: bool,
    fail_on: str | None,
    width: int | None,
    style: str,
    max_states: int | None,
    max_seconds: float | None,
    max_memory: int | None,
    no_reduce: bool,
) -> None:
    """`mpsim run` on the shipped scenarios NAMES (exit status as for `mpsim run`)."""
    from mempool_cli import commands
    from mempool_cli import library as lib

    sys.exit(
        commands.run(
            [str(lib.find(n).path) for n in names],
            list(kernels),
            all_kernels,
            fmt,
            trace,
            None,
            commands.limits(max_states, max_seconds, max_memory, not no_reduce),
            _view(width, style),
            commands.fail_on_outcomes(fail_on),
        )
    )


EPILOG_SHRINK = """\b
Examples:
  mpsim shrink scenarios/mempool/rientjes-2016-oom-victim.yaml --kernel v4.5
  mpsim shrink my.yaml --outcome deadlock --max-seconds 30 -o my-small.yaml

\b
Exit status: 0 done, 2 usage (the file does not show the outcome), 3
invalid scenario, 4 --max-seconds stopped it first (what it wrote still
shows the outcome, and may shrink further with more time).
"""


@cli.command(epilog=EPILOG_SHRINK)
@click.argument("file", type=_SCENARIO_PATH)
@_one_kernel_option
@click.option(
    "--outcome",
    metavar="OUTCOME",
    default=None,
    help="The outcome to keep [default: the first finding's under the kernel].",
)
@click.option(
    "--max-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    callback=_not_nan,
    help="Stop after this long with the smallest scenario found so far (exit 4).",
)
@_output_option("YAML")
@_guarded
def shrink(
    file: str,
    kernel: str | None,
    outcome: str | None,
    max_seconds: float | None,
    output: str | None,
) -> None:
    """The smallest scenario that still shows FILE's outcome, as YAML.

    Deletes tasks, steps (a lock with its unlock, a block with its body) and
    declared names, and lowers counts and pages, keeping each change after
    which a search still finds the outcome; a comment says what went.
    """
    from mempool_cli import commands

    sys.exit(commands.shrink(file, kernel, outcome, max_seconds, output, click.echo))


EPILOG_IMPORT = """\b
Examples:
  mpsim import lockdep splat.txt -o draft.yaml && mpsim run draft.yaml
  dmesg | mpsim import lockdep - > draft.yaml

\b
The draft lists every guess it made as '# assumed:' lines at its top; it
expects deadlock, which is what lockdep claims. Exit status: 0 the draft
was written, 2 usage or environment error, 3 the input is not a lockdep
report or is cut short (FILE:LINE:COL with the report's line and a caret).
"""


@cli.group("import")
def import_group() -> None:
    """Draft a scenario from a report another tool printed (lockdep)."""


@import_group.command("lockdep", epilog=EPILOG_IMPORT)
@click.argument("file", type=_SCENARIO_PATH)
@_output_option("draft")
@click.option(
    "--name", default=None, metavar="NAME", help="The scenario's name [default: FILE's stem]."
)
@_guarded
def import_lockdep(file: str, output: str | None, name: str | None) -> None:
    """Draft a scenario from the lockdep report in FILE ('-' reads stdin).

    Reads "possible circular locking dependency", "possible recursive
    locking", "inconsistent lock state" and "possible irq lock inversion
    dependency" reports as the kernel prints them, with or without dmesg
    timestamps, syslog prefixes or mail quoting.
    """
    from mempool_cli import commands

    sys.exit(commands.import_lockdep(file, output, name, click.echo))


def main() -> None:
    # File names that are not UTF-8 reach us as surrogates (PEP 383). Reports show
    # them as \xNN (errors.printable); any surrogate that still gets through goes out
    # as the byte it was, whatever the locale's error handler (strict in most).
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
    cli(prog_name="mpsim")


EPILOG_SWEEP = """\b
Examples:
  mpsim sweep pool-workers-3.yaml --param pools.pool.min_nr=1..5 --all-kernels
  mpsim sweep scenarios/mempool/rientjes-2016-oom-victim.yaml \\
      --param pools.pool0.min_nr=0..4 --param memory.free=0..12/2 --plot sweep.svg
  mpsim sweep scenario.yaml --param tasks.worker.count=1,2,4 --format csv -o out.csv
  mpsim sweep scenario.yaml --param memory.free=0..64 --executor dask \\
      --scheduler tcp://scheduler.example:8786

\b
KEY is a dotted path to a value written in FILE (memory.free,
pools.pool0.min_nr, tasks.taskC.rss, memory.reclaimable.0.pages: a
number indexes a list). VALUES is a..b, a..b/step or a,b,c. Every
combination of the values is a point; the first --param varies slowest,
and the boundary is told along it, at each value of the others. Each
point is the file with those values written in, checked as any file is
(a refused value is an error at its line, naming the point), and
searched in full under each kernel; a point cut short by a limit or
Ctrl-C is shown as such, never as ok. The same text under kernels the
model cannot tell apart is searched once.

\b
jsonl prints each (point, kernel) as its search ends, in the order the
searches finish; json, csv and the table keep grid order. --plot draws
one panel per kernel: a heatmap for two parameters, a strip for one
(pip install 'mpsim[plot]').

\b
Exit status: 0 every search complete, 2 usage error (a KEY the file does
not have, a bad VALUES), 3 a value the format refuses, 4 some search cut
short.
"""


@cli.command(epilog=EPILOG_SWEEP)
@click.argument("file", type=_SCENARIO_PATH)
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    required=True,
    metavar="KEY=VALUES",
    help="A value of FILE and the values to give it (a..b, a..b/step, a,b,c); repeat for a grid.",
)
@_kernel_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "jsonl", "csv"]),
    default="text",
    show_default=True,
    help="text: a table, one row per point, one column per kernel, then the boundary; "
    "json: one object; jsonl: one line per (point, kernel), as each finishes; csv: one row each.",
)
@_output_option("report")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    metavar="FILE.svg|png",
    help="Also draw the sweep: a heatmap per kernel for two parameters, a strip for one.",
)
@_view_options
@_limits_options
@_executor_options
@_guarded
def sweep(
    file: str,
    params: tuple[str, ...],
    kernels: tuple[str, ...],
    all_kernels: bool,
    fmt: str,
    output: str | None,
    plot_path: str | None,
    width: int | None,
    style: str,
    max_states: int | None,
    max_seconds: float | None,
    max_memory: int | None,
    no_reduce: bool,
    executor: str,
    scheduler: str | None,
) -> None:
    """Search FILE at every point of a grid of values, and say where it turns ok."""
    from mempool_cli import commands

    sys.exit(
        commands.sweep(
            file,
            list(params),
            list(kernels),
            all_kernels,
            fmt,
            output,
            plot_path,
            commands.limits(max_states, max_seconds, max_memory, not no_reduce),
            commands.executor(executor, scheduler),
            _view(width, style),
        )
    )
