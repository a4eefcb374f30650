"""`zeb stats`: games/s and $/game/s per GPU type, and the fleet's cost split."""

from __future__ import annotations

import re

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, app_of, zeb_command
from zeb.cli.output import Result
from zeb.core.errors import UsageError

_SINCE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str) -> float:
    m = _SINCE.match(text.strip())
    if not m:
        raise UsageError(f"--since {text!r}: use a number and a unit, e.g. 90m, 24h, 7d")
    seconds = float(m.group(1)) * _UNIT[m.group(2)]
    if seconds <= 0:
        raise UsageError(f"--since {text!r}: the window must be longer than 0")
    return seconds


@zeb_command("stats")
def stats(
    ctx: typer.Context,
    fleet: str | None = FLEET_OPTION,
    since: str = typer.Option("24h", "--since", help="Window: 90m, 24h, 7d ..."),
    json_out: bool = JSON_OPTION,
) -> Result:
    """Games/s and $/game/s by GPU type, and the fleet's $ productive vs overhead.

    Example: zeb stats --fleet zeb-large --since 24h
    """
    # deferred: zeb's planners and store cost ~100 ms that `--help` does not need (benchmarks/bench_help.py)
    from contextlib import closing

    from zeb.api.payloads import stats_data
    from zeb.plan.stats import fleet_stats, gpu_stats, read_window
    from zeb.storage import state

    app = app_of(ctx)
    cfg = app.config(fleet)
    now = app.clock()
    start = now - parse_since(since)
    with closing(app.store.events(cfg.name).stream(start)) as rows:     # one pass, a few numbers per row
        window = read_window(rows, start)
    live = list(state.load_records(app.store, cfg.name).values())
    retired = window.retired
    hosts = state.load_hosts(app.store, state.HostFiles.of(cfg))
    strikes = sum(1 for h in hosts.values() for s in h.strikes if s.fleet == cfg.name and s.time >= start)
    per_gpu = gpu_stats(live + retired, since=start)
    per_fleet = fleet_stats(live, retired, window, strikes, now=now, since=start)
    data = stats_data(cfg.name, now - start, per_gpu, per_fleet)
    return Result("stats", data=data, human=lambda c: render(c, cfg.name, since, per_gpu, per_fleet))


def render(console, fleet: str, since: str, per_gpu: list[dict], f: dict) -> None:
    from rich.table import Table

    if not per_gpu:
        console.print(f"No workers recorded for fleet {fleet} in the last {since} (the monitor records them).")
        return
    table = Table(title=f"fleet {fleet}, last {since}", box=None, pad_edge=False)
    for col in ("GPU", "Workers", "Mean g/s", "Median g/s", "$/hr", "$/game/s", "1st batch"):
        table.add_column(col, justify="left" if col == "GPU" else "right")
    for r in per_gpu:
        ttfb = r["median_time_to_first_batch_s"]
        table.add_row(r["gpu_name"], str(r["workers"]), _f(r["mean_gps"], 2), _f(r["median_gps"], 2),
                      _f(r["median_dph"], 3), _f(r["dollars_per_gps"], 4),
                      f"{ttfb / 60:.1f} min" if ttfb is not None else "-")
    console.print(table)
    share = f"{f['productive_share']:.0%}" if f["productive_share"] is not None else "-"
    console.print(f"now: {f['producing']}/{f['live']} producing, {f['games_per_s']:.1f} games/s, ${f['dph']:.3f}/hr "
                  f"(${f['per_day']:.2f}/day, ${f['per_week']:.2f}/week)", markup=False)
    console.print(f"spent ${f['spent']:.2f}: {share} producing; {f['replacements']} replacements, "
                  f"{f['strikes']} strikes", markup=False)


def _f(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)
