"""`zeb sim serve`: the simulated Vast marketplace on 127.0.0.1, in the foreground."""

from __future__ import annotations

import signal
import time

import typer

from zeb.cli._base import app_of, zeb_command
from zeb.cli.output import Result
from zeb.errors import UsageError

sim_app = typer.Typer(help="The simulated Vast marketplace.\n\n"
                      "Example: zeb sim serve --port 8765 --scenario sick-fleet",
                      no_args_is_help=True)


@sim_app.command("serve")
@zeb_command("sim serve")
def serve(
    ctx: typer.Context,
    port: int = typer.Option(8765, "--port", "-p", min=0, max=65535, help="Port on 127.0.0.1 (0: any free port)."),
    scenario: str = typer.Option("default", "--scenario", "-s", help="Scenario name or path to a .toml file."),
    seed: int | None = typer.Option(None, "--seed", help="Seed (default: the scenario's)."),
    api_key: str = typer.Option("sim-key", "--api-key", help="The Bearer key the server accepts."),
    speed: float = typer.Option(1.0, "--speed", min=0.001, help="Virtual seconds per real second."),
) -> Result:
    """Serve the simulated marketplace on 127.0.0.1 until Ctrl-C.

    Example: zeb sim serve --port 8765 --scenario sick-fleet --speed 60
    """
    # deferred: zeb's planners and store cost ~100 ms that `--help` does not need (benchmarks/bench_help.py)
    from zeb.sim.clock import RealClock, ScaledClock
    from zeb.sim.scenarios import load_scenario
    from zeb.sim.server import SimServer

    app = app_of(ctx)
    # At x1 the sim runs on wall time; faster, virtual time starts now so log stamps look current.
    clock = RealClock() if speed == 1.0 else ScaledClock(speed, start=time.time())
    market = load_scenario(scenario, clock, seed=seed, api_key=api_key)
    try:
        server = SimServer(market, port=port)
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    url = server.url
    err = app.stderr
    err.print(f"zeb sim: scenario {scenario}, {len(market.offers)} offers, {len(market.instances)} instances, "
              f"credit ${market.credit:.2f}, clock x{speed:g}", markup=False)
    err.print(f"VAST_URL={url}", markup=False)
    err.print("Paste this into another shell:", markup=False)
    app.stdout.print(f"export VAST_URL={url} VAST_API_KEY={api_key}", markup=False)
    app.stdout.file.flush()
    err.print("Ctrl-C stops the server.", markup=False)

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    err.print(f"zeb sim: stopped after {market.count_calls()} API calls", markup=False)
    return Result("sim serve", data={"url": url, "calls": market.count_calls()})


def register(app: typer.Typer) -> None:
    app.add_typer(sim_app, name="sim")
