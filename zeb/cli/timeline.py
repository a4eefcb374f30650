"""`zeb timeline`."""

from __future__ import annotations

from typing import Optional

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, not_built, zeb_command
from zeb.cli.output import Result


@zeb_command("timeline")
def timeline(
    ctx: typer.Context,
    worker: str = typer.Argument(..., help="Instance id or label."),
    json_out: bool = JSON_OPTION,
) -> Result:
    """Every state change of one worker, with durations and cost.

    Example: zeb timeline zeb-worker-vast-2
    """
    return not_built(ctx, "timeline", 5)


def register(app: typer.Typer) -> None:
    app.command("timeline")(timeline)
