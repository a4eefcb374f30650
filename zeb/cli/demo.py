"""`zeb demo`: the monitor end to end against the built-in simulated marketplace."""

from __future__ import annotations

import typer

from zeb.cli._base import JSON_OPTION, app_of, zeb_command
from zeb.cli.output import Result


@zeb_command("demo")
def demo(
    ctx: typer.Context,
    speed: float = typer.Option(240.0, "--speed", min=10.0, max=5000.0, help="Virtual seconds per real second."),
    hours: float = typer.Option(3.5, "--hours", min=0.5, max=48.0, help="Simulated hours to run."),
    json_out: bool = JSON_OPTION,
) -> Result:
    """Run the self-healing monitor against the built-in simulated marketplace (about a minute).

    No Vast account, no network: a dud host, a crash, a preemption, an upgrade trial and credit
    running out all happen on a fast virtual clock, then the stats table is printed and an HTML
    report written (its path is the last line).

    Example: zeb demo --speed 240
    """
    # deferred: zeb's planners and store cost ~100 ms that `--help` does not need (benchmarks/bench_help.py)
    from zeb.api.payloads import demo_data
    from zeb.cli.demo_run import HOURS, PacedClock, Script, run_demo
    from zeb.cli.stats import render

    app = app_of(ctx)
    script = Script(duration_s=hours * HOURS)
    try:
        # Paced on the app's clock and sleep, so a test that injects both runs the same cycles every time.
        clock = PacedClock(speed, real=app.clock, wait=app.sleep)
        mon, run = run_demo(app.stdout if not json_out else app.stderr, app.stderr, speed=speed, script=script,
                             clock=clock)
    except KeyboardInterrupt:
        app.stderr.print("demo interrupted; the simulated fleet was discarded")
        raise typer.Exit(130) from None
    data = demo_data(run, mon.counters.__dict__)

    def human(console) -> None:
        c = mon.counters
        console.print("")
        render(console, "demo", f"{data.simulated_s / HOURS:.1f}h (simulated)", run["gpus"], run["fleet_stats"])
        console.print(f"{c.cycles} cycles, {c.launches} launches, {c.replacements} replacements, {c.strikes} strikes, "
                      f"{data.api_calls} Vast API calls", markup=False)
        console.print("Next: `zeb sim serve` in one shell, then point zeb at it with the printed export line.",
                      markup=False)
        console.print(f"report: {data.report} (open it in a browser)", markup=False)

    return Result("demo", data=data, human=human)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
