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


def main() -> None:
    cli(prog_name="mpsim")
