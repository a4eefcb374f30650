"""`zeb down`."""

from __future__ import annotations

from typing import Optional

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, not_built, zeb_command
from zeb.cli.output import Result


@zeb_command("down")
def down(
    ctx: typer.Context,
    fleet: Optional[str] = FLEET_OPTION,
    json_out: bool = JSON_OPTION,
) -> Result:
    """Destroy every instance of the fleet (asks first unless --force).

    Example: zeb down --fleet zeb-large --force
    """
    return not_built(ctx, "down", 4)


def register(app: typer.Typer) -> None:
    app.command("down")(down)
