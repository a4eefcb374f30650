"""`zeb rank-offers`: the offer table the launchers choose from, best $ per game/s first."""

from __future__ import annotations

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, app_of, zeb_command
from zeb.cli.output import Result


@zeb_command("rank-offers")
def rank_offers(
    ctx: typer.Context,
    fleet: str | None = FLEET_OPTION,
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many offers to show."),
    show_blocked: bool = typer.Option(False, "--show-blocked", help="Also show blocked machines, struck out."),
    json_out: bool = JSON_OPTION,
) -> Result:
    """Rank current offers by $ per expected game/s for the fleet's GPU list: $/hr over games/s times p,
    the machine's chance of booting and producing (from its reputation; 0.85 untried). Machines in the
    scripts' preferred-hosts.txt (ZEB_PREFERRED) are starred and get its 10% bonus.

    Example: zeb rank-offers --fleet zeb-belief --limit 10
    """
    from zeb.api.payloads import rank_offers_data

    app = app_of(ctx)
    cfg = app.config(fleet)
    service = app.fleet(cfg)
    view = service.market_view()
    ranked = service.offers(view, include_blocked=show_blocked)[:limit]
    data = rank_offers_data(cfg.name, cfg.max_dph, cfg.gpus, ranked, view.blocked)
    rows = data.offers

    def human(console) -> None:
        from rich.table import Table

        if not rows:
            console.print(f"No offers for {', '.join(cfg.gpus)} under ${cfg.max_dph:.3f}/hr.")
            return
        table = Table(box=None, pad_edge=False)
        # Vast's own reliability stays in --json: at 80 columns p, which ranks, says more.
        for col in ("#", "GPU", "$/hr", "games/s", "source", "$/game/s", "p", "$/exp", "Machine", "Offer"):
            table.add_column(col, justify="left" if col in ("GPU", "source") else "right")
        for n, r in enumerate(rows, 1):
            style = "strike dim" if r.blocked else None
            table.add_row(str(n), r.gpu_name.removeprefix("RTX "), f"{r.dph_total:.3f}",
                          f"{r.expected_gps:.2f}", r.gps_source, f"{r.dollars_per_gps:.4f}",
                          f"{r.p_produce:.2f}", f"{r.expected_dollars_per_gps:.4f}",
                          str(r.machine_id) + (" ★" if r.preferred else ""),
                          str(r.offer_id) + (" blocked" if r.blocked else ""), style=style)
        console.print(table)
        console.print("p: chance the machine boots and produces (0.85 untried); $/exp = $/game/s ÷ p, "
                      "what offers rank by.", style="dim")

    return Result("rank-offers", data=data, human=human)


def register(app: typer.Typer) -> None:
    app.command("rank-offers")(rank_offers)
