"""The typer app. Each command lives in its own small module and is registered here; heavy
imports (vastai, huggingface_hub) happen inside the commands that need them."""

from __future__ import annotations

import typer

from zeb import __version__

app = typer.Typer(
    name="zeb",
    help=(
        "Keep a fleet of GPU self-play workers alive on Vast.ai at the best $ per game/s.\n\n"
        "Example: zeb up 4 --fleet zeb-large"
    ),
    no_args_is_help=True,
    add_completion=False,
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
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    pass


def _register() -> None:
    from zeb.cli import commands  # noqa: F401  (registers every command on `app`)


_register()


def main() -> None:
    app(prog_name="zeb")
