"""`zeb blacklist`: host strikes and blocks, shared by every fleet and, through the scripts'
bad-hosts.txt (ZEB_BLACKLIST), with the scripts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, app_of, zeb_command
from zeb.cli.output import Result
from zeb.core.errors import UsageError
from zeb.core.timefmt import when

if TYPE_CHECKING:
    from zeb.api.payloads import MachineRow

# zeb.storage.state and zeb.plan.hosts are imported inside the functions that use them ("lazy" below): they
# add ~40 ms that `zeb blacklist --help` need not pay.
# The 12 digits zeb.plan.hosts accepts, kept here so that `zeb blacklist --help` need not import the
# planner (tests/test_bad_input.py keeps the two equal).
MAX_MACHINE_ID = 10**12 - 1

blacklist_app = typer.Typer(
    help="Host strikes and blocks (3 strikes block a machine from offer search).\n\n"
         "Example: zeb blacklist add 12345 --reason 'no CUDA'",
    no_args_is_help=True,
)


def _threshold(app, fleet: str | None) -> int:
    return app.config(fleet).thresholds.strikes_to_block


def _files(cfg):
    from zeb.storage.state import HostFiles  # lazy

    return HostFiles.of(cfg)


def _listing(app, threshold: int, hosts, *, everyone: bool = False, imported: int | None = None) -> Result:
    """The machines shown (every one zeb knows with `everyone`, else those with strikes); with `imported`,
    how many strikes an import added."""
    from zeb.api.payloads import BlacklistData, BlacklistImportData, machine_row
    from zeb.plan.hosts import has_reputation, is_blocked, reputation  # lazy

    now = app.clock()
    rows = [machine_row(machine_id, rec, reputation(rec, now), is_blocked(rec, threshold, now))
            for machine_id, rec in sorted(hosts.items()) if rec.strikes or (everyone and has_reputation(rec))]
    data = (BlacklistData(threshold, rows) if imported is None else
            BlacklistImportData(threshold, rows, imported))

    def human(console) -> None:
        _print_listing(console, rows, threshold, everyone)

    return Result("blacklist", data=data, human=human)


def _print_listing(console, rows: list[MachineRow], threshold: int, everyone: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    from zeb.plan.hosts import HALF_LIFE_S, MIN_GPS_SAMPLES  # lazy

    if not rows:
        console.print("No machine has a strike." if not everyone else "zeb knows nothing of any machine yet.")
        return
    table = Table(box=None, pad_edge=False)
    for col in ("Machine", "GPU", "Strikes", "Blocked", "Boots", "Boot", "Stall/err", "games/s", "p"):
        table.add_column(col, justify="right" if col in ("Machine", "Boot", "games/s", "p") else "left")
    for r in rows:
        table.add_row(*_cells(r, threshold))
    why = [line for line in map(_why, rows) if line is not None]
    console.print(table)
    console.print(f"Boots ok/failed and stalls/errors weigh half every {HALF_LIFE_S / 86400:g} days; "
                  f"games/s×samples (trusted from {MIN_GPS_SAMPLES}); p: chance a launch produces.", style="dim")
    if why:
        console.print("Last strike or fault:")
        for line in why:
            console.print(Text("  " + line))


def _cells(r: MachineRow, threshold: int) -> tuple[str, ...]:
    rep = r.reputation
    gps = f"{rep.games_per_s:.2f}×{rep.gps_samples}" if rep.games_per_s else "-"
    return (str(r.machine_id), (r.gpu_name or "-").removeprefix("RTX "), f"{r.strikes}/{threshold}",
            _blocked(r), f"{_n(rep.boots_ok)}/{_n(rep.boots_failed)}",
            f"{rep.boot_s:.0f}s" if rep.boot_s is not None else "-",
            f"{_n(rep.stalls)}/{_n(rep.errors)}", gps, f"{rep.p_produce:.2f}")


def _why(r: MachineRow) -> str | None:
    """The machine's last strike (with where it came from) or, without one, its last fault."""
    if r.history:
        last = r.history[-1]
        at = "imported" if not last.time else when(last.time)
        where = ", ".join(x for x in ("certain: blocked at once" if last.certain else None, last.fleet,
                                      last.instance_id and f"instance {last.instance_id}",
                                      at) if x)
        return f"{r.machine_id}: {last.reason[:100]} ({where})"
    if r.reputation.last_error:
        return f"{r.machine_id}: {r.reputation.last_error[:100]}"
    return None


def _blocked(row: MachineRow) -> str:
    if row.blocked_until is not None:
        return "to " + when(row.blocked_until, "%m-%d")
    return "yes" if row.blocked else "no"


def _n(x: float) -> str:
    # Decayed counts are fractional; one decimal says "recent" (1) from "last week" (0.5) without noise.
    return f"{x:.1f}".rstrip("0").rstrip(".") if x else "0"



@blacklist_app.command("list")
@zeb_command("blacklist list")
def list_(ctx: typer.Context, fleet: str | None = FLEET_OPTION,
          everyone: bool = typer.Option(False, "--all", help="Every machine zeb has rented, struck or not."),
          json_out: bool = JSON_OPTION) -> Result:
    """List machines with strikes, which are blocked (and until when), and their reputation: boots,
    boot time, stalls and errors (fading with age), observed games/s and the chance a launch produces.

    Example: zeb blacklist list --all --json
    """
    from zeb.storage import state  # lazy

    app = app_of(ctx)
    cfg = app.config(fleet)
    return _listing(app, cfg.thresholds.strikes_to_block, state.load_hosts(app.store, _files(cfg)), everyone=everyone)


@blacklist_app.command("add")
@zeb_command("blacklist add")
def add(
    ctx: typer.Context,
    machine: int = typer.Argument(..., min=1, max=MAX_MACHINE_ID, help="Vast machine id."),
    reason: str = typer.Option("manual", "--reason", "-r", help="Why (kept with the strike)."),
    block: bool = typer.Option(False, "--block", help="Add enough strikes to block it now."),
    fleet: str | None = FLEET_OPTION,
    json_out: bool = JSON_OPTION,
) -> Result:
    """Give MACHINE a strike (or block it outright with --block).

    Example: zeb blacklist add 12345 --reason "no CUDA" --block
    """
    from zeb.plan.hosts import add_strike
    from zeb.plan.types import Strike
    from zeb.storage import state  # lazy

    app = app_of(ctx)
    cfg = app.config(fleet)
    threshold = cfg.thresholds.strikes_to_block

    def change(hosts):
        have = len(hosts[machine].strikes) if machine in hosts else 0
        for _ in range(max(1, threshold - have) if block else 1):
            hosts = add_strike(hosts, Strike(machine_id=machine, time=app.clock(), reason=reason, fleet=cfg.name))
        return hosts

    return _listing(app, threshold, state.update_hosts(app.store, change, _files(cfg)))


@blacklist_app.command("remove")
@zeb_command("blacklist remove")
def remove(ctx: typer.Context, machine: int = typer.Argument(..., min=1, max=MAX_MACHINE_ID, help="Vast machine id."),
           fleet: str | None = FLEET_OPTION, json_out: bool = JSON_OPTION) -> Result:
    """Forget every strike of MACHINE, and its lines in the scripts' bad-hosts.txt.

    Example: zeb blacklist remove 12345
    """
    from zeb.plan.hosts import remove_host
    from zeb.storage import state  # lazy

    app = app_of(ctx)
    cfg = app.config(fleet)
    hosts = state.load_hosts(app.store, _files(cfg))
    if machine not in hosts or not hosts[machine].strikes:
        raise UsageError(f"machine {machine} has no strike")
    hosts = state.update_hosts(app.store, lambda h: remove_host(h, machine), _files(cfg))
    return _listing(app, cfg.thresholds.strikes_to_block, hosts)


@blacklist_app.command("clear")
@zeb_command("blacklist clear")
def clear_(ctx: typer.Context, fleet: str | None = FLEET_OPTION, json_out: bool = JSON_OPTION) -> Result:
    """Forget every strike of every machine, in zeb and in bad-hosts.txt (observed games/s are kept).

    Example: zeb blacklist clear
    """
    from zeb.plan.hosts import clear
    from zeb.storage import state  # lazy

    app = app_of(ctx)
    cfg = app.config(fleet)
    return _listing(app, cfg.thresholds.strikes_to_block, state.update_hosts(app.store, clear, _files(cfg)))


@blacklist_app.command("import")
@zeb_command("blacklist import")
def import_(ctx: typer.Context, path: Path = typer.Argument(..., help="A scripts-style bad-hosts.txt."),
            fleet: str | None = FLEET_OPTION, json_out: bool = JSON_OPTION) -> Result:
    """Import another scripts-style bad-hosts.txt: one machine id per strike per line. Its strikes are
    added to the shared one too. The shared file itself (ZEB_BLACKLIST) is always honoured: importing
    it changes nothing.

    Example: zeb blacklist import ~/old-laptop/bad-hosts.txt
    """
    from zeb.plan.hosts import import_bad_hosts, parse_bad_hosts
    from zeb.storage import state  # lazy

    app = app_of(ctx)
    cfg = app.config(fleet)
    files = _files(cfg)
    source = path.expanduser()
    if files.blacklist is not None and source.resolve() == files.blacklist.resolve():
        # Its lines already count once; importing them would count them twice.
        app.store.warnings.append(f"{source} is the blacklist zeb shares with the scripts; its strikes already count")
        return _listing(app, cfg.thresholds.strikes_to_block, state.load_hosts(app.store, files), imported=0)
    try:
        ids = parse_bad_hosts(source.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a text file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from None
    hosts = state.update_hosts(app.store, lambda h: import_bad_hosts(h, ids, app.clock(), f"import {path.name}"),
                               files)
    return _listing(app, cfg.thresholds.strikes_to_block, hosts, imported=len(ids))


def register(app: typer.Typer) -> None:
    app.add_typer(blacklist_app, name="blacklist")
