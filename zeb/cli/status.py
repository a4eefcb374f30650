"""`zeb status`: one instance listing and the launch ledger, rendered; `--probe` also classifies every worker live.
One screen, one layout: every fleet shares the columns and widths, and a column blank in every row is left out."""

from __future__ import annotations

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, app_of, zeb_command
from zeb.cli.output import Result, blank_columns, plural, print_table, state_style, table_widths, without
from zeb.core.timefmt import age


@zeb_command("status")
def status(
    ctx: typer.Context,
    fleet: str | None = FLEET_OPTION,
    all_fleets: bool = typer.Option(False, "--all", help="Every zeb fleet on the account, grouped."),
    probe: bool = typer.Option(False, "--probe", help="Also fetch every worker's log tail and classify it live."),
    wide: bool = typer.Option(False, "--wide", help="Also show each instance's machine and ssh command."),
    json_out: bool = JSON_OPTION,
) -> Result:
    """Show the fleet's instances and launches in flight: label, GPU, state (the worker's, else Vast's), games/s,
    $/hr, age, id (--wide: Vast status, machine, ssh).

    Example: zeb status --fleet zeb-large --probe
    """
    # deferred: zeb's planners and store cost ~100 ms that `--help` does not need (benchmarks/bench_help.py)
    from dataclasses import asdict

    from zeb.service.status import read_status

    app = app_of(ctx)
    cfg = app.config(fleet)
    market = app.market if all_fleets else app.market_for(cfg.market)
    data = read_status(market, app.store, cfg, app.clock(), all_fleets=all_fleets, probe=probe,
                       reading=lambda n: _reading(app, n))
    return Result("status", data=data,
                  human=lambda console: render_status(console, asdict(data), all_fleets, cfg.name, wide=wide))


def status_data(groups: dict, records: dict, live: dict, now: float, stuck_after_s: float,
                holds: dict | None = None, *, ledgers: dict | None = None, listing=None,
                expiry_s: float = 600.0) -> dict:
    """The `--json` data as plain JSON values (what render_status draws): zeb.plan.status.status_report,
    with each fleet's hold given as its JSON form."""
    import dataclasses

    from zeb.plan.status import HoldView, status_report

    views = {name: HoldView(**h) if h else None for name, h in (holds or {}).items()}
    return dataclasses.asdict(status_report(groups, records, live, now, stuck_after_s, views, ledgers=ledgers,
                                            listing=listing, expiry_s=expiry_s))


def _reading(app, n: int):
    """Reading every log takes seconds: a terminal hears so while it happens, then no trace (piped: nothing)."""
    import contextlib

    return app.stderr.status(f"reading {plural(n, 'worker log')}…") if app.stderr.is_terminal \
        else contextlib.nullcontext()


# One State column: the worker's state where it is known (probed live, or as the monitor last recorded it),
# Vast's status otherwise; Vast's own is in --wide and --json. Two state columns do not fit 80 columns.
_COLUMNS = (("Label", False), ("GPU", False), ("State", False), ("games/s", True), ("$/hr", True), ("Age", True),
            ("ID", True))
_WIDE_COLUMNS = _COLUMNS + (("Vast", False), ("Machine", True), ("SSH", False), ("Commit", False))
def _state(r: dict) -> str:
    c = r["classified"]
    if c is None:
        return r["vast_status"] or "pending"
    return c["state"] if c["live"] else f"{c['state']} {age(c['age_s'])} ago"


def _cells(r: dict) -> list[str]:
    gps = r.get("games_per_s")
    return [r["label"] or "-", (r["gpu_name"] or "-").removeprefix("RTX "), _state(r),
            "-" if gps is None else f"{gps:.2f}", f"{r['dph_total']:.3f}", age(r["age_s"]), str(r["id"]),
            r["vast_status"] or "pending", str(r["machine_id"]), r["ssh"] or "-", (r.get("commit") or "-")[:12]]


def _launching_cells(e: dict) -> list[str]:
    return [e["label"], "-", "launching", "-", "-", age(e["for_s"]), str(e["instance_id"] or "-"), "-",
            str(e["machine_id"]), "-", "-"]


def _table(f: dict) -> list[list[str]]:
    """A fleet's rows, instances and launches in flight together, in label order."""
    keyed = [(_label_key(r["label"], r["id"]), _cells(r)) for r in f["instances"]]
    keyed += [(_label_key(e["label"], e["instance_id"] or 0), _launching_cells(e)) for e in f.get("launching", ())]
    return [cells for _, cells in sorted(keyed, key=lambda kv: kv[0])]


def _label_key(label: str | None, instance_id: int) -> tuple:
    head, _, tail = (label or "").rpartition("-")
    return (head, int(tail) if tail.isdigit() else 0, instance_id)


def status_layout(data: dict, wide: bool) -> tuple[list[tuple[str, bool]], dict[str, list[list[str]]], list[int]]:
    """The columns, each fleet's rows and the widths of one screen: every fleet shares them, and a column
    empty (`-`) in every row of every fleet is left out."""
    columns = list(_WIDE_COLUMNS if wide else _COLUMNS)
    tables = {name: [cells[:len(columns)] for cells in _table(f)] for name, f in data["fleets"].items()}
    drop = blank_columns(columns, *tables.values())
    columns = without(columns, drop)
    tables = {name: [without(row, drop) for row in rows] for name, rows in tables.items()}
    return columns, tables, table_widths(columns, *tables.values())


def render_status(console, data: dict, all_fleets: bool, fleet: str, *, wide: bool = False) -> None:
    if not data["fleets"] or all(not f["instances"] and not f.get("launching") for f in data["fleets"].values()):
        where = "any zeb fleet" if all_fleets else f"fleet {fleet}"
        console.print(f"No instances in {where}. Launch some with: zeb up 4" + ("" if all_fleets or fleet == "zeb"
                                                                                else f" --fleet {fleet}"))
        return
    columns, tables, widths = status_layout(data, wide)
    for name, f in data["fleets"].items():
        print_table(console, columns, tables[name], title=f"fleet {name}" if all_fleets else None, widths=widths,
                    styles={"State": state_style})
        t = f["totals"]
        pending = len(f.get("launching", ()))
        console.print(f"Total: {plural(t['count'], 'instance')}" + (f", {pending} launching" if pending else "")
                      + f", ${t['dph']:.3f}/hr (${t['per_day']:.2f}/day, ${t['per_week']:.2f}/week)")
        hold = f.get("hold")
        if hold:
            console.print(f"HOLD ({hold['cause']}, {age(hold['for_s'])}): {hold['why']}", markup=False)
            console.print(f"  {hold['line']}", markup=False)
        for instance_id in f["stuck_loading"]:
            flag = "" if name == "zeb" else f" --fleet {name}"
            _warn(console, f"instance {instance_id} has been loading for over {data['stuck_after_s'] / 60:g} min",
                  f"destroy it with: zeb down{flag} --id {instance_id}")


def _warn(console, what: str, fix: str) -> None:
    # One line, unless a terminal is too narrow for it: then the fix goes on its own line, its command whole.
    from rich.text import Text

    line = Text.assemble(("warning:", "yellow"), f" {what}; {fix}")
    if not console.is_terminal or line.cell_len <= console.width:
        console.print(line)
        return
    console.print(Text.assemble(("warning:", "yellow"), f" {what};"))
    console.print(f"  {fix}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("status")(status)
