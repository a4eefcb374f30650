"""`zeb config`: show the resolved configuration, write a starter file, validate."""

from __future__ import annotations

from pathlib import Path

import typer

from zeb.adapters.registry import MARKETS
from zeb.cli._base import FLEET_OPTION, JSON_OPTION, app_of, zeb_command
from zeb.cli.output import Result
from zeb.core.config import config_path, fleet_names, resolve, write_starter
from zeb.core.paths import config_target

config_app = typer.Typer(help="Show, create and validate fleets.toml.\n\nExample: zeb config show --fleet zeb-large",
                         no_args_is_help=True)


@config_app.command("show")
@zeb_command("config show")
def show(ctx: typer.Context, fleet: str | None = FLEET_OPTION, json_out: bool = JSON_OPTION) -> Result:
    """Print the resolved config and where each value came from.

    Example: zeb config show --fleet zeb-large --json
    """
    from zeb.api.payloads import config_show_data

    app = app_of(ctx)
    cfg = app.config(fleet)
    data = config_show_data(cfg)
    values = data.values

    def human(console) -> None:
        from rich.table import Table
        from rich.text import Text

        where = f"config file: {cfg.config_file}" if cfg.config_file else "no fleets.toml: built-in defaults"
        undeclared = "" if cfg.declared else "; undeclared: built-in defaults, [defaults] and ZEB_* env apply"
        console.print(f"fleet {cfg.name} ({where}{undeclared})", markup=False)
        table = Table(box=None, pad_edge=False)
        table.add_column("key")
        table.add_column("value", overflow="fold", max_width=60)
        table.add_column("source", no_wrap=True)
        for key, value in values.items():
            if key in ("onstart", "thresholds", "expected_gps", "declared", "config_file"):
                continue
            table.add_row(key, Text(str(value)), Text(cfg.sources.get(key, "built-in")))
        for key, value in values["thresholds"].items():
            table.add_row(f"thresholds.{key}", Text(str(value)), Text(cfg.sources.get(f"thresholds.{key}", "built-in")))
        console.print(table)
        gps = ", ".join(f"{k} {v:g}" for k, v in cfg.expected_gps.items())
        console.print(f"expected games/s ({cfg.sources.get('expected_gps', 'built-in')}): {gps}", markup=False)

    return Result("config show", data=data, human=human)


@config_app.command("init")
@zeb_command("config init")
def init(
    ctx: typer.Context,
    path: Path | None = typer.Option(None, "--path", help="Where to write (default: $ZEB_CONFIG, else the user "
                                        "config dir)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    json_out: bool = JSON_OPTION,
) -> Result:
    """Write a starter fleets.toml (refuses to overwrite without --force).

    Example: zeb config init --path ./fleets.toml
    """

    app = app_of(ctx)
    target = write_starter(path.expanduser() if path else config_target(app.env), force=force)
    from zeb.api.payloads import ConfigInitData  # deferred: its records cost start-up
    return Result("config init", data=ConfigInitData(str(target)),
                  human=lambda c: c.print(f"wrote {target}; check it with: zeb config check", markup=False))


@config_app.command("check")
@zeb_command("config check")
def check(ctx: typer.Context, json_out: bool = JSON_OPTION) -> Result:
    """Validate fleets.toml and every fleet in it.

    Example: ZEB_CONFIG=./fleets.toml zeb config check
    """

    app = app_of(ctx)
    path = config_path(app.env)
    names = fleet_names(app.env)
    for name in names:
        resolve(name, {}, app.env, markets=MARKETS)
    exists = path.exists()
    line = f"ok: {len(names)} fleet(s) in {path}" if exists else f"ok: no file at {path}; built-in defaults apply"
    from zeb.api.payloads import ConfigCheckData  # deferred: its records cost start-up
    return Result("config check", data=ConfigCheckData(str(path), exists, names),
                  human=lambda c: c.print(line, markup=False))


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
