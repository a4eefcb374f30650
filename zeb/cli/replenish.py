"""`zeb replenish N`: cron-safe top-up to N workers under the fleet's mutation lock."""

from __future__ import annotations

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, app_of, check_count, fleet_lock, zeb_command
from zeb.cli.output import Result
from zeb.core.errors import EXIT_FAILED, EXIT_PARTIAL, LockHeld
from zeb.core.timefmt import DATE_SECOND, when


@zeb_command("replenish")
def replenish(
    ctx: typer.Context,
    count: int | None = typer.Argument(None, help="Target number of workers (default: the fleet's "
                                          "target_workers)."),
    fleet: str | None = FLEET_OPTION,
    wait: float = typer.Option(120.0, "--wait", min=0.0, max=3600.0,
                               help="Seconds to wait for another run holding the fleet's lock."),
    json_out: bool = JSON_OPTION,
) -> Result:
    """Bring the fleet back to COUNT workers; safe to run from cron and to overlap.

    Example: */5 * * * * zeb replenish 4 --fleet zeb-large >> ~/zeb-cron.log 2>&1
    """
    check_count(count, 0)
    app = app_of(ctx)
    cfg = app.config(fleet)
    count = cfg.target_workers if count is None else count
    stamp = when(app.clock(), DATE_SECOND)
    try:
        lock = fleet_lock(app, cfg.name, wait)
        lock.__enter__()
    except LockHeld as exc:
        line = f"[{stamp}] {cfg.name}: another zeb run holds the fleet's lock; skipping ({exc.message})"
        from zeb.api.payloads import ReplenishSkippedData  # deferred: its records cost start-up
        return Result("replenish", data=ReplenishSkippedData(cfg.name, skipped=True),
                      human=lambda c: c.print(line))
    try:
        view, labels, outcomes, dedup = _top_up(app.fleet(cfg), count)
    finally:
        lock.__exit__(None, None, None)
    return _result(cfg, count, stamp, view, labels, outcomes, dedup)


def _top_up(service, count: int):
    """Undo double launches, then launch what is missing up to `count`. (view, labels, outcomes, dedup)."""
    # deferred: zeb's planners and store cost ~100 ms that `--help` does not need (benchmarks/bench_help.py)
    from zeb.plan.fleet import replenish_plan
    cfg = service.cfg
    view = service.observe()
    dedup = service.destroy_duplicates(view)
    if dedup:
        view = service.observe()
    labels = replenish_plan(view.instances, view.inflight, cfg.name, count, view.now,
                            cfg.thresholds.inflight_expiry_s, view.word)
    outcomes = []
    if labels:
        token = service.check_hub()
        outcomes = service.launch(view, labels, service.offers(view), token, target=count)
        # Another zeb (another ZEB_HOME or machine) may have launched the same labels a moment ago:
        # look once more, so a double launch is undone now rather than at the next run.
        dedup += service.destroy_duplicates(service.observe(prune=False))
    return view, labels, outcomes, dedup


def _result(cfg, count: int, stamp: str, view, labels, outcomes, dedup) -> Result:
    # deferred: zeb's planners and store cost ~100 ms that `--help` does not need (benchmarks/bench_help.py)
    from zeb.plan.fleet import unconfirmed
    from zeb.plan.launch import upload_banner
    running, launching = len(view.live), view.launching
    unsure = len(unconfirmed(launching))
    launched = [o for o in outcomes if o.ok]
    # Launches not yet listed are said as such: "4/4 present" while two of them are unconfirmed creates
    # would hide a fleet that is short until the listing proves them one way or the other.
    present = f"{running} running" + (f", {len(launching)} launching" if launching else "") + (
        f" ({unsure} unconfirmed)" if unsure else "")
    if not labels:
        line = f"[{stamp}] {cfg.name}: {present}, target {count}; nothing to do"
    else:
        done = ", ".join(f"{o.label} -> {o.instance_id}" for o in launched) or "none"
        line = (f"[{stamp}] {cfg.name}: {present}, target {count}; launched {len(launched)} of {len(labels)} "
                f"({done}); {upload_banner(cfg, count)}")
    failed = [o for o in outcomes if not o.ok]
    errors = [f"{o.label}: {o.error}" for o in failed]
    exit_code = 0 if not failed else (EXIT_PARTIAL if launched else EXIT_FAILED)
    from zeb.api.payloads import replenish_data  # deferred: its records cost start-up
    data = replenish_data(cfg.name, count, labels, running, launching, outcomes, dedup)

    def human(console) -> None:
        for d in dedup:
            console.print(f"[{stamp}] {cfg.name}: {d}", markup=False)
        console.print(line, markup=False)

    return Result("replenish", data=data, errors=errors, exit_code=exit_code, human=human)


def register(app: typer.Typer) -> None:
    app.command("replenish")(replenish)
