"""`zeb config`: show, init, check."""

from __future__ import annotations

from typing import Optional

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, not_built, zeb_command
from zeb.cli.output import Result

config_app = typer.Typer(help="Show, create and validate fleets.toml.\n\nExample: zeb config show --fleet zeb-large", no_args_is_help=True)


@config_app.command("show")
@zeb_command("config show")
def show(ctx: typer.Context, fleet: Optional[str] = FLEET_OPTION, json_out: bool = JSON_OPTION) -> Result:
    """Print the resolved config and where each value came from.

    Example: zeb config show --fleet zeb-large --json
    """
    return not_built(ctx, "config", 2)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
