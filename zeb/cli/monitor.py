"""`zeb monitor`."""

from __future__ import annotations

from typing import Optional

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, not_built, zeb_command
from zeb.cli.output import Result


@zeb_command("monitor")
def monitor(
    ctx: typer.Context,
    count: int = typer.Argument(..., help="Number of healthy workers to keep."),
    fleet: Optional[str] = FLEET_OPTION,
) -> Result:
    """Keep COUNT healthy workers producing; replace what fails. Ctrl-C leaves the fleet running.

    Example: zeb monitor 8 --fleet zeb-large
    """
    return not_built(ctx, "monitor", 6)


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor)
