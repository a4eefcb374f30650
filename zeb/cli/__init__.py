"""The typer app. Each command lives in its own small module, listed in zeb/cli/commands.py and
imported only when that command runs or shows its help; heavy imports (vastai, huggingface_hub)
happen inside the commands that need them.

The top floor: may import every layer; nothing but zeb.__main__ (and the tests) imports it."""

from __future__ import annotations

import typer

from zeb import __version__
from zeb.cli._base import QUIET_OPTION, VERBOSE_OPTION, group_verbosity
from zeb.cli.commands import LazyGroup

app = typer.Typer(
    name="zeb",
    cls=LazyGroup,
    help=(
        "Keep a fleet of GPU self-play workers alive on Vast.ai at the best $ per game/s.\n\n"
        "Example: zeb up 4 --fleet zeb-large"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"zeb {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    quiet: bool = QUIET_OPTION,
    verbose: bool = VERBOSE_OPTION,
) -> None:
    group_verbosity(ctx, quiet, verbose)


def main() -> None:
    app(prog_name="zeb")
