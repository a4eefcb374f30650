"""`zeb demo`."""

from __future__ import annotations

from typing import Optional

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, not_built, zeb_command
from zeb.cli.output import Result


@zeb_command("demo")
def demo(ctx: typer.Context) -> Result:
    """Run the monitor against the built-in simulated marketplace for about a minute.

    Example: zeb demo
    """
    return not_built(ctx, "demo", 6)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
