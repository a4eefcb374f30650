"""`zeb status`."""

from __future__ import annotations

from typing import Optional

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, not_built, zeb_command
from zeb.cli.output import Result


@zeb_command("status")
def status(
    ctx: typer.Context,
    fleet: Optional[str] = FLEET_OPTION,
    json_out: bool = JSON_OPTION,
) -> Result:
    """Show the fleet's instances: label, GPU, state, age, $/hr, id, ssh.

    Example: zeb status --fleet zeb-large
    """
    return not_built(ctx, "status", 4)


def register(app: typer.Typer) -> None:
    app.command("status")(status)
