"""`zeb blacklist`: host strikes and blocks."""

from __future__ import annotations

import typer

from zeb.cli._base import JSON_OPTION, not_built, zeb_command
from zeb.cli.output import Result

blacklist_app = typer.Typer(help="Host strikes and blocks.\n\nExample: zeb blacklist add 12345 --reason 'no CUDA'", no_args_is_help=True)


@blacklist_app.command("list")
@zeb_command("blacklist list")
def list_(ctx: typer.Context, json_out: bool = JSON_OPTION) -> Result:
    """List machines with strikes.

    Example: zeb blacklist list --json
    """
    return not_built(ctx, "blacklist", 4)


def register(app: typer.Typer) -> None:
    app.add_typer(blacklist_app, name="blacklist")
