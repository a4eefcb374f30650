"""`zeb replenish`."""

from __future__ import annotations

from typing import Optional

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, not_built, zeb_command
from zeb.cli.output import Result


@zeb_command("replenish")
def replenish(
    ctx: typer.Context,
    count: int = typer.Argument(..., help="Target number of workers."),
    fleet: Optional[str] = FLEET_OPTION,
    json_out: bool = JSON_OPTION,
) -> Result:
    """Bring the fleet back to COUNT workers; safe to run from cron and to overlap.

    Example: */5 * * * * zeb replenish 4
    """
    return not_built(ctx, "replenish", 4)


def register(app: typer.Typer) -> None:
    app.command("replenish")(replenish)
