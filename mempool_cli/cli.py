"""The `mpsim` command line: each command parses options and calls one library function.

Domain errors become exit codes here and nowhere else; anything else that
escapes is reported as a bug in mpsim (exit 70 would hide it among the
contract's codes, so it uses the usage code 2 with a clear "internal error").
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from mempool_cli import __version__
from mempool_cli.errors import EXIT_USAGE, MpsimError

F = TypeVar("F", bound=Callable[..., Any])

EPILOG_CHECK = """\b
Examples:
  mpsim check scenarios/mempool/rientjes-2016-oom-victim.yaml
  cat my.yaml | mpsim check -
"""


def _guarded(func: F) -> F:
    """Turn MpsimError into its exit code, and any other exception into an internal-error line."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MpsimError as err:
            click.echo(str(err), err=True)
            sys.exit(err.exit_code)
        except (KeyboardInterrupt, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except click.ClickException:
            raise
        except Exception as err:  # noqa: BLE001 - the one place a bug is reported
            click.echo(
                f"mpsim: internal error: {type(err).__name__}: {err}\n"
                "This is a bug in mpsim, not in your scenario; please report it "
                "with the command line and the scenario file.",
                err=True,
            )
            sys.exit(EXIT_USAGE)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="mpsim")
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
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@_guarded
def check(files: tuple[str, ...]) -> None:
    """Validate scenario FILES without exploring them ('-' reads stdin)."""
    from mempool_cli import commands

    sys.exit(commands.check(list(files), click.echo))


@cli.command(epilog="\b\nExample:\n  mpsim schema > mpsim-schema.json")
@_guarded
def schema() -> None:
    """Print the JSON Schema of the scenario format, for editors' YAML language servers."""
    import json

    from mempool_cli.scenario.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))


@cli.command(epilog="\b\nExample:\n  mpsim kernels")
@_guarded
def kernels() -> None:
    """List the kernel presets and the value of each knob."""
    from mempool_cli import render

    render.print_kernels()


def _limits_options(func: F) -> F:
    func = click.option(
        "--max-memory",
        type=int,
        default=None,
        metavar="MB",
        help="Stop with 'incomplete: memory limit' (exit 4) past this RSS in MiB "
        "[default: half of the machine's RAM].",
    )(func)
    func = click.option(
        "--max-seconds",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Stop with 'incomplete' (exit 4) after this long per scenario and kernel.",
    )(func)
    func = click.option(
        "--max-states",
        type=click.IntRange(min=1),
        default=None,
        help="Stop with 'incomplete' (exit 4) after this many distinct states.",
    )(func)
    return func


def _kernel_options(func: F) -> F:
    func = click.option(
        "--all-kernels", is_flag=True, help="Run under every preset (v4.5 ... latest)."
    )(func)
    func = click.option(
        "--kernel",
        "-k",
        "kernels",
        multiple=True,
        metavar="PRESET",
        help="Kernel preset to model; repeat for several. Overrides the file's `kernel`.",
    )(func)
    return func


EPILOG_RUN = """\b
Examples:
  mpsim run scenarios/mempool/rientjes-2016-oom-victim.yaml --kernel v4.5
  mpsim run scenario.yaml --all-kernels
  mpsim run --format json scenario.yaml | jq '.[0].outcomes'

\b
Exit status: 0 every run matches its `expect` (ok without one), 1 some run
does not, 3 invalid scenario, 4 a search limit or Ctrl-C cut a search short.
"""


@cli.command(epilog=EPILOG_RUN)
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@_kernel_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "jsonl"]),
    default="text",
    show_default=True,
    help="json: one array; jsonl: one object per line.",
)
@click.option("--trace", is_flag=True, help="Show every step of each finding's schedule.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the report here.")
@_limits_options
@_guarded
def run(
    files: tuple[str, ...],
    kernels: tuple[str, ...],
    all_kernels: bool,
    fmt: str,
    trace: bool,
    output: str | None,
    max_states: int | None,
    max_seconds: float | None,
    max_memory: int | None,
) -> None:
    """Explore every interleaving of each scenario FILE and report what can happen."""
    from mempool_cli import commands

    sys.exit(
        commands.run(
            list(files), list(kernels), all_kernels, fmt, trace, output,
            commands.limits(max_states, max_seconds, max_memory),
        )
    )


EPILOG_MATRIX = """\b
Examples:
  mpsim matrix scenarios/
  mpsim matrix scenarios/mempool --kernel v4.5 --kernel v4.8
"""


@cli.command(epilog=EPILOG_MATRIX)
@click.argument("paths", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--kernel", "-k", "kernels", multiple=True, metavar="PRESET", help="Columns to show [default: every preset].")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_limits_options
@_guarded
def matrix(
    paths: tuple[str, ...],
    kernels: tuple[str, ...],
    fmt: str,
    max_states: int | None,
    max_seconds: float | None,
    max_memory: int | None,
) -> None:
    """One row per scenario, one column per kernel preset, each cell checked against `expect`.

    Cells for which the file has no expectation are shown but not checked.
    Exit 0 only if every expectation holds.
    """
    from mempool_cli import commands

    sys.exit(commands.matrix(list(paths), list(kernels), fmt, commands.limits(max_states, max_seconds, max_memory)))


EPILOG_REPLAY = """\b
Example (the schedule comes from a report's replay line):
  mpsim replay scenario.yaml 'taskA,taskB,taskB#1,reaper@taskC' --kernel v4.8
"""


@cli.command(epilog=EPILOG_REPLAY)
@click.argument("file", type=click.Path(allow_dash=True))
@click.argument("schedule")
@click.option("--kernel", "-k", "kernel", metavar="PRESET", help="Kernel preset [default: the file's].")
@_guarded
def replay(file: str, schedule: str, kernel: str | None) -> None:
    """Re-run SCHEDULE step by step, printing each state change and what it reaches."""
    from mempool_cli import commands

    sys.exit(commands.replay(file, schedule, kernel))


def main() -> None:
    cli(prog_name="mpsim")
