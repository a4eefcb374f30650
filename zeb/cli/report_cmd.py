"""`zeb report`: one self-contained HTML file of the fleet over a window."""

from __future__ import annotations

from pathlib import Path

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, app_of, zeb_command
from zeb.cli.output import Result
from zeb.core.errors import UsageError, ZebError

DEFAULT_NAME = "report.html"


@zeb_command("report")
def report(
    ctx: typer.Context,
    fleet: str | None = FLEET_OPTION,
    since: str = typer.Option("24h", "--since", help="Window: 90m, 24h, 7d ..."),
    out: Path = typer.Option(Path(DEFAULT_NAME), "--out",
                             help=f"The HTML file to write; a directory gets {DEFAULT_NAME} inside it. "
                                  "Its parent directory must exist."),
    json_out: bool = JSON_OPTION,
) -> Result:
    """Write one self-contained HTML report: workers, games/s, $, market prices, events, machines.

    Example: zeb report --fleet zeb-large --since 7d --out week.html
    """
    # deferred: the planners, the store and matplotlib cost far more than --help start-up may pay
    # (benchmarks/bench_help.py)
    from zeb.api.payloads import ReportData
    from zeb.cli.stats import parse_since

    app = app_of(ctx)
    cfg = app.config(fleet)
    now = app.clock()
    path = report_path(out)      # before the work: a bad --out fails at once
    size = write_report(app.store, cfg, out, now=now, since=now - parse_since(since))
    data = ReportData(fleet=cfg.name, since_s=parse_since(since), path=str(path), bytes=size)
    return Result("report", data=data,
                  human=lambda c: c.print(f"report: {path} ({size / 1024:.0f} KiB)", markup=False))


def gather(store, cfg, *, now: float, since: float):
    """The report's data from the state directory: what `zeb stats --since` reads, plus market history."""
    from contextlib import closing

    from zeb.core.domain import gpu_name
    from zeb.plan.report import assemble
    from zeb.plan.stats import read_window
    from zeb.storage import state
    from zeb.storage.market_history import MarketHistory

    # One pass over the log's window, kept as a few numbers per row: a log of months fits in memory.
    with closing(store.events(cfg.name).stream(since)) as rows:
        window = read_window(rows, since)
    live = list(state.load_records(store, cfg.name).values())
    hosts = state.load_hosts(store, state.HostFiles.of(cfg))
    strikes = sum(1 for h in hosts.values() for s in h.strikes if s.fleet == cfg.name and s.time >= since)
    with MarketHistory.of(store) as history:
        samples = history.samples(since, gpus={gpu_name(g) for g in cfg.gpus})
    return assemble(cfg.name, cfg.target_workers, window, live, None, samples, hosts, strikes,
                    cfg.thresholds.strikes_to_block, now=now, since=since)


def report_path(out: Path) -> Path:
    """Where `--out` puts the report: a directory gets the default name inside it. A missing parent is
    refused rather than created: a typo in the path should not grow a tree of directories."""
    out = Path(out).expanduser()
    if out.is_dir():
        return out / DEFAULT_NAME
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: directory {out.parent} does not exist")
    return out


def write_report(store, cfg, out: Path, *, now: float, since: float) -> int:
    """Write the report to `out` (a directory: the default name inside it) atomically; returns its size in
    bytes."""
    from zeb.observe.html import render_html
    from zeb.storage.store import atomic_write_bytes

    out = report_path(out)
    body = render_html(gather(store, cfg, now=now, since=since)).encode()
    try:
        atomic_write_bytes(out, body, mode=0o644)
    except OSError as exc:
        raise ZebError(f"cannot write {out}: {exc.strerror or exc}") from None
    return len(body)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
