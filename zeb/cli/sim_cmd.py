"""`zeb sim`: the simulated Vast marketplace."""

from __future__ import annotations

import typer

from zeb.cli._base import not_built, zeb_command
from zeb.cli.output import Result

sim_app = typer.Typer(help="The simulated Vast marketplace.\n\nExample: zeb sim serve --port 8765 --scenario sick-fleet", no_args_is_help=True)


@sim_app.command("serve")
@zeb_command("sim serve")
def serve(ctx: typer.Context) -> Result:
    """Serve the simulated marketplace on 127.0.0.1 until Ctrl-C.

    Example: zeb sim serve --port 8765 --scenario default
    """
    return not_built(ctx, "sim", 3)


def register(app: typer.Typer) -> None:
    app.add_typer(sim_app, name="sim")
