"""`zeb logs`."""

from __future__ import annotations

from typing import Optional

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, not_built, zeb_command
from zeb.cli.output import Result


@zeb_command("logs")
def logs(
    ctx: typer.Context,
    worker: str = typer.Argument(..., help="Instance id or label (zeb-worker-vast-2)."),
    json_out: bool = JSON_OPTION,
) -> Result:
    """Print a worker's log tail and its classified state.

    Example: zeb logs zeb-worker-vast-2 --tail 50
    """
    return not_built(ctx, "logs", 4)


def register(app: typer.Typer) -> None:
    app.command("logs")(logs)
