"""`zeb up`."""

from __future__ import annotations

from typing import Optional

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, not_built, zeb_command
from zeb.cli.output import Result


@zeb_command("up")
def up(
    ctx: typer.Context,
    count: int = typer.Argument(..., help="How many workers to launch."),
    fleet: Optional[str] = FLEET_OPTION,
    json_out: bool = JSON_OPTION,
) -> Result:
    """Launch COUNT workers on the best-value offers.

    Example: zeb up 4 --fleet zeb-large
    """
    return not_built(ctx, "up", 4)


def register(app: typer.Typer) -> None:
    app.command("up")(up)
