"""`zeb market`: the recorded price history per GPU type; `zeb market scan`: search on purpose and record."""

from __future__ import annotations

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, QUIET_OPTION, VERBOSE_OPTION, app_of, group_verbosity, zeb_command
from zeb.cli.output import Result
from zeb.cli.stats import parse_since

HELP = "Offer prices per GPU type over time, from every offer search zeb makes (and `market scan`)."
market_app = typer.Typer(help=f"{HELP}\n\nExample: zeb market --since 7d --gpu RTX_3090", invoke_without_command=True)


@market_app.callback()
def market(
    ctx: typer.Context,
    fleet: str | None = FLEET_OPTION,
    since: str = typer.Option("7d", "--since", help="Window: 90m, 24h, 7d ..."),
    gpu: list[str] = typer.Option([], "--gpu", metavar="GPU", help="Only this GPU type (repeatable), e.g. RTX_3090."),
    json_out: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
    verbose: bool = VERBOSE_OPTION,
) -> None:
    if ctx.invoked_subcommand is None:
        _show(ctx=ctx, fleet=fleet, since=since, gpu=gpu, json_out=json_out, quiet=quiet, verbose=verbose)
    else:
        group_verbosity(ctx, quiet, verbose)      # `zeb market -q scan`


@zeb_command("market")
def _show(*, ctx: typer.Context, fleet: str | None, since: str, gpu: list[str], json_out: bool) -> Result:
    # deferred: zeb's planners and sqlite3 cost start-up that `--help` does not need (benchmarks/bench_help.py)
    from zeb.api.payloads import market_data
    from zeb.core.domain import gpu_name
    from zeb.plan.market import summarize
    from zeb.storage.market_history import MarketHistory

    app = app_of(ctx)
    window = parse_since(since)
    now = app.clock()
    # --fleet narrows to its GPU list; the history itself is the market's, shared by every fleet
    names = list(gpu) or (list(app.config(fleet).gpus) if fleet else [])
    gpus = {gpu_name(g) for g in names}
    with MarketHistory.of(app.store) as history:
        samples = history.samples(since=now - window, gpus=gpus)
    rows = summarize(samples, since=now - window, gpus=gpus)
    data = market_data(window, rows)
    return Result("market", data=data, human=lambda c: _render(c, since, rows))


def _render(console, since: str, rows: list[dict]) -> None:
    from zeb.cli.output import print_table

    if not rows:
        console.print(f"No market samples in the last {since}: every offer search records one (zeb market scan).",
                      markup=False)
        return
    columns = [("GPU", False), ("$/hr now", True), ("then", True), ("low", True), ("high", True),
               ("trend/day", True), ("$/g/s now", True), ("then", True), ("n", True)]
    table = [[r["gpu_name"].removeprefix("RTX "), f"{r['dph_now']:.3f}", f"{r['dph_then']:.3f}",
              f"{r['min_dph']:.3f}", f"{r['max_dph']:.3f}", _signed(r["trend_dph_per_day"]),
              _f(r["dollars_per_gps_now"]), _f(r["dollars_per_gps_then"]), str(r["count_now"])]
             for r in rows]
    print_table(console, columns, table, title=f"cheapest offer per GPU, last {since} (n: offers now)")


@market_app.command("scan")
@zeb_command("market scan")
def scan(
    ctx: typer.Context,
    fleet: str | None = FLEET_OPTION,
    every: str | None = typer.Option(None, "--every", help="Scan again after this long (10m, 1h ...) until "
                                     "Ctrl-C."),
    count: int | None = typer.Option(None, "--count", "-n", min=1, help="Stop after N scans."),
    json_out: bool = JSON_OPTION,
) -> Result:
    """Search the offers for the fleet's GPU list now and record a price sample per GPU type.

    Example: zeb market scan --every 10m
    """
    from zeb.api.payloads import MarketScanData, Scan, scan_of
    from zeb.core.timefmt import when
    from zeb.plan.market import sample_from_ranked

    app = app_of(ctx)
    interval = parse_since(every) if every else None
    total = count if count is not None else (None if interval else 1)
    cfg = app.config(fleet)
    service = app.fleet(cfg)
    scans: list[Scan] = []
    try:
        while total is None or len(scans) < total:
            if scans and interval:
                app.sleep(interval)
            view = service.market_view()
            samples = sample_from_ranked(service.offers(view), view.now, blocked=view.blocked)
            scans.append(scan_of(view.now, samples))
            if not json_out:
                cheapest = min(samples, key=lambda s: s.min_dph, default=None)
                best = f"; cheapest {cheapest.gpu_name} ${cheapest.min_dph:.3f}/hr" if cheapest else ""
                app.stdout.print(f"{when(view.now)}  scan {len(scans)}: {sum(s.count for s in samples)} offers "
                                 f"across {len(samples)} GPU types{best}", markup=False, highlight=False)
    except KeyboardInterrupt:       # Ctrl-C is how a looping scan ends: what was recorded stays
        pass
    return Result("market scan", data=MarketScanData(cfg.name, scans))


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def register(app: typer.Typer) -> None:
    app.add_typer(market_app, name="market")
