"""`zeb down`: destroy the fleet (or some of its instances), asking first."""

from __future__ import annotations

from typing import List, Optional

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, app_of, zeb_command
from zeb.cli.output import Result
from zeb.errors import EXIT_FAILED, UsageError, ZebError


@zeb_command("down")
def down(
    ctx: typer.Context,
    fleet: Optional[str] = FLEET_OPTION,
    ids: Optional[List[int]] = typer.Option(None, "--id", help="Only this instance of the fleet (repeatable)."),
    force: bool = typer.Option(False, "--force", "-y", help="Do not ask for confirmation."),
    json_out: bool = JSON_OPTION,
) -> Result:
    """Destroy every instance of the fleet (asks first unless --force). Idempotent.

    Example: zeb down --fleet zeb-large --force
    """
    from zeb import state
    from zeb.cli._fleet import observe_fleet
    from zeb.ops import destroy_all

    app = app_of(ctx)
    cfg = app.config(fleet)
    with app.store.mutation_lock(cfg.name, timeout=60.0):
        view = observe_fleet(app, cfg)
        targets = {i.id: i.label for i in view.members}
        # Launches Vast accepted but does not list yet are paid instances too.
        targets.update({e.instance_id: e.label for e in view.inflight if e.instance_id is not None})
        if ids:
            unknown = sorted(set(ids) - set(targets))
            if unknown:
                raise UsageError(f"instance(s) {', '.join(map(str, unknown))} are not in fleet {cfg.name}")
            targets = {i: targets[i] for i in ids}
        if not targets:
            return Result("down", data={"fleet": cfg.name, "destroyed": [], "failed": []},
                          human=lambda c: c.print(f"No instances in fleet {cfg.name}; nothing to destroy."))
        _confirm(app, cfg.name, targets, force)
        outcomes = destroy_all(app.vast, sorted(targets))
        done = {o.instance_id for o in outcomes if o.ok}
        state.update_inflight(app.store, cfg.name, lambda cur: [e for e in cur if e.instance_id not in done])
    failed = [o for o in outcomes if not o.ok]
    data = {
        "fleet": cfg.name,
        "destroyed": [{"id": o.instance_id, "label": targets[o.instance_id], "already_gone": o.already_gone}
                      for o in outcomes if o.ok],
        "failed": [{"id": o.instance_id, "label": targets[o.instance_id], "error": o.error} for o in failed],
    }

    def human(console) -> None:
        for o in outcomes:
            what = "already gone" if o.already_gone else ("destroyed" if o.ok else f"FAILED: {o.error}")
            console.print(f"  {targets[o.instance_id]} (instance {o.instance_id}): {what}")
        console.print(f"Destroyed {len(done)} of {len(outcomes)} instance(s) of fleet {cfg.name}.")

    errors = [f"{len(failed)} destroy(s) failed; run `zeb down` again" + ("" if cfg.name == "zeb" else f" --fleet {cfg.name}")] if failed else []
    return Result("down", data=data, errors=errors, exit_code=EXIT_FAILED if failed else 0, human=human)


def _confirm(app, fleet: str, targets: dict, force: bool) -> None:
    if force:
        return
    if not app.interactive:
        raise ZebError("refusing to destroy without confirmation: no terminal to ask on; pass --force")
    app.stderr.print(f"Fleet {fleet}: these instances will be destroyed:")
    for instance_id, label in sorted(targets.items(), key=lambda kv: str(kv[1])):
        app.stderr.print(f"  {label}  (instance {instance_id})")
    if not typer.confirm(f"Destroy {len(targets)} instance(s)?", default=False, err=True):
        raise _Declined()


class _Declined(ZebError):
    def __init__(self) -> None:
        super().__init__("nothing destroyed")


def register(app: typer.Typer) -> None:
    app.command("down")(down)
