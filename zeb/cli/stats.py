"""`zeb stats`."""

from __future__ import annotations

from typing import Optional

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, not_built, zeb_command
from zeb.cli.output import Result


@zeb_command("stats")
def stats(
    ctx: typer.Context,
    fleet: Optional[str] = FLEET_OPTION,
    json_out: bool = JSON_OPTION,
) -> Result:
    """Games/s and $/game/s by GPU type, and the fleet's cost split.

    Example: zeb stats --since 24h
    """
    return not_built(ctx, "stats", 5)


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)
