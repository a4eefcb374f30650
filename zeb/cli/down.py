"""`zeb down`: destroy the fleet (or some of its instances), asking first."""

from __future__ import annotations

import contextlib
import math

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, app_of, fleet_lock, spinner, zeb_command
from zeb.cli.output import Result
from zeb.core.errors import EXIT_FAILED, EXIT_PARTIAL, UsageError, ZebError


@zeb_command("down")
def down(
    ctx: typer.Context,
    fleet: str | None = FLEET_OPTION,
    ids: list[int] | None = typer.Option(None, "--id", help="Only this instance of the fleet (repeatable)."),
    force: bool = typer.Option(False, "--force", "-y", help="Do not ask for confirmation."),
    wait: float = typer.Option(90.0, "--wait", min=0.0, max=1800.0,
                               help="Seconds to wait for launches still in flight to appear, to destroy them too."),
    json_out: bool = JSON_OPTION,
) -> Result:
    """Destroy every instance of the fleet (asks first unless --force). Idempotent.

    A launch whose create was sent but never answered (a crash, a dropped connection) may still rent a
    machine: down waits up to --wait seconds for it to appear and destroys it, or exits 3 naming it.

    Example: zeb down --fleet zeb-large --force
    """
    app = app_of(ctx)
    cfg = app.config(fleet)
    with fleet_lock(app, cfg.name, 60.0):
        outcomes, labels, pending = _destroy_all(app, cfg, ids, force, wait)
    return _result(cfg.name, outcomes, labels, pending, wait)


def _destroy_all(app, cfg, ids, force: bool, wait: float) -> tuple[list, dict[int, str], list]:
    """Destroy the fleet's instances (or `ids`), and launches in flight as they appear, for up to `wait`
    seconds. Returns the destroy outcomes, the label of each destroyed id, and launches still unconfirmed."""
    # deferred: zeb's planners and store cost ~100 ms that `--help` does not need (benchmarks/bench_help.py)
    from zeb.plan.fleet import unconfirmed
    service = app.fleet(cfg)
    labels: dict[int, str] = {}
    outcomes: list = []
    pending: list = []
    deadline = app.clock() + wait
    asked = waited = False
    with contextlib.ExitStack() as stack:
        status = None
        while True:
            view = service.observe()
            targets = {i.id: i.label for i in view.members}
            # Launches Vast accepted but does not list yet are paid instances too.
            targets.update({e.instance_id: e.label for e in view.inflight if e.instance_id is not None})
            pending = [] if ids else unconfirmed(view.inflight)
            if ids:
                unknown = sorted(set(ids) - set(targets))
                if unknown:
                    raise UsageError(f"instance(s) {', '.join(map(str, unknown))} are not in fleet {cfg.name}")
                targets = {i: targets[i] for i in ids}
            targets = {i: label for i, label in targets.items() if i not in labels}
            if not asked and (targets or pending):
                _confirm(app, cfg.name, targets, pending, force)
                asked = True
            if status is None:      # after the question: a spinner must not cover a prompt
                status = stack.enter_context(spinner(app, f"looking at fleet {cfg.name}…"))
            if targets:
                status.update(f"destroying {len(targets)} instance(s) of fleet {cfg.name}…")
                outcomes += service.destroy(sorted(targets))
                labels.update(targets)
            if not pending or app.clock() >= deadline:
                break
            if not waited:
                waited = True
                app.note(f"waiting up to {wait:g}s for {len(pending)} launch(es) still in flight to "
                         f"appear ({', '.join(e.label for e in pending)})...")
            _count_down(app, status, len(pending), min(_POLL_S, max(0.0, deadline - app.clock())), deadline)
    return outcomes, labels, pending


def _count_down(app, status, n: int, seconds: float, deadline: float) -> None:
    """Sleep `seconds` in steps of about a second, so the spinner's countdown moves."""
    steps = max(1, math.ceil(seconds))
    for _ in range(steps):
        status.update(f"waiting for {n} launch(es) to appear… {max(0.0, deadline - app.clock()):.0f} s left")
        app.sleep(seconds / steps)


def _result(fleet: str, outcomes: list, labels: dict[int, str], pending: list, wait: float) -> Result:
    if not outcomes and not pending:
        from zeb.api.payloads import down_data  # deferred: its records cost start-up
        return Result("down", data=down_data(fleet, [], {}, []),
                      human=lambda c: c.print(f"No instances in fleet {fleet}; nothing to destroy."))
    done_ids = {o.instance_id for o in outcomes if o.ok}
    failed = [o for o in outcomes if not o.ok]
    from zeb.api.payloads import down_data  # deferred: its records cost start-up
    data = down_data(fleet, outcomes, labels, pending)
    again = "run `zeb down" + ("" if fleet == "zeb" else f" --fleet {fleet}") + " --force` again"

    def human(console) -> None:
        for o in outcomes:
            what = "already gone" if o.already_gone else ("destroyed" if o.ok else f"FAILED: {o.error}")
            console.print(f"  {labels[o.instance_id]} (instance {o.instance_id}): {what}", markup=False)
        for e in pending:
            console.print(f"  {e.label} (offer {e.offer_id}): launch unconfirmed after {wait:g}s; not destroyed",
                          markup=False)
        console.print(f"Destroyed {len(done_ids)} of {len(outcomes)} instance(s) of fleet {fleet}.", markup=False)

    brief = f"zeb down: destroyed {len(done_ids)} of {len(outcomes)} instance(s) of fleet {fleet}" + (
        f"; {len(pending)} launch(es) unconfirmed" if pending else "")

    errors = []
    if failed:
        errors.append(f"{len(failed)} destroy(s) failed; {again}")
    if pending:
        errors.append(f"{len(pending)} launch(es) still unconfirmed ({', '.join(e.label for e in pending)}): they "
                      f"may yet appear and bill; {again} in a minute")
    exit_code = EXIT_FAILED if failed else (EXIT_PARTIAL if pending else 0)
    return Result("down", data=data, errors=errors, exit_code=exit_code, human=human, brief=brief)


_POLL_S = 5.0


def _confirm(app, fleet: str, targets: dict, pending: list, force: bool) -> None:
    if force:
        return
    if not app.interactive:
        raise ZebError("refusing to destroy without confirmation: no terminal to ask on; pass --force")
    app.stderr.print(f"Fleet {fleet}: these instances will be destroyed:", markup=False)
    for instance_id, label in sorted(targets.items(), key=lambda kv: str(kv[1])):
        app.stderr.print(f"  {label}  (instance {instance_id})", markup=False)
    for e in pending:
        app.stderr.print(f"  {e.label}  (launch in flight: destroyed when it appears)", markup=False)
    if not typer.confirm(f"Destroy {len(targets) + len(pending)} instance(s)?", default=False, err=True):
        raise _Declined()


class _Declined(ZebError):
    def __init__(self) -> None:
        super().__init__("nothing destroyed")


def register(app: typer.Typer) -> None:
    app.command("down")(down)
