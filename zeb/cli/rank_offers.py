"""`zeb rank-offers`."""

from __future__ import annotations

from typing import Optional

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, not_built, zeb_command
from zeb.cli.output import Result


@zeb_command("rank-offers")
def rank_offers(
    ctx: typer.Context,
    fleet: Optional[str] = FLEET_OPTION,
    json_out: bool = JSON_OPTION,
) -> Result:
    """Rank current offers by $ per game/s for the fleet's GPU list.

    Example: zeb rank-offers --fleet zeb-belief --limit 10
    """
    return not_built(ctx, "rank-offers", 4)


def register(app: typer.Typer) -> None:
    app.command("rank-offers")(rank_offers)
