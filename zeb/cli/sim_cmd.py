"""`zeb sim serve`: the simulated Vast marketplace on 127.0.0.1, in the foreground, with a fake Hugging Face
Hub beside it on the same clock and the same world (hub outages and revoked tokens the workers see too)."""

from __future__ import annotations

import signal
import time

import typer

from zeb.cli._base import app_of, zeb_command
from zeb.cli.output import Result
from zeb.core.errors import UsageError

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
    """Serve the simulated marketplace and a fake Hugging Face Hub on 127.0.0.1 until Ctrl-C.

    Example: zeb sim serve --port 8765 --scenario sick-fleet --speed 60
    """
    # deferred: zeb's planners and store cost ~100 ms that `--help` does not need (benchmarks/bench_help.py)
    from zeb.core.config import BUILT_IN
    from zeb.sim.clock import RealClock, ScaledClock
    from zeb.sim.hub import FakeHub
    from zeb.sim.onstart import KNOWN_GOOD_LAUNCH
    from zeb.sim.scenarios import load_scenario
    from zeb.sim.server import SimServer, git_env

    app = app_of(ctx)
    # At x1 the sim runs on wall time; faster, virtual time starts now so log stamps look current.
    clock = RealClock() if speed == 1.0 else ScaledClock(speed, start=time.time())
    market = load_scenario(scenario, clock, seed=seed, api_key=api_key)
    try:
        server = SimServer(market, port=port)
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    url = server.url
    # The default fleet's weights and examples repo, so `zeb up` and `zeb monitor` work against a bare serve.
    hf_token = str(KNOWN_GOOD_LAUNCH["env"]["HF_TOKEN"])
    weights = {str(BUILT_IN["repo_id"]): {f"{BUILT_IN['weights_name']}.pt": b"sim weights"},
               str(BUILT_IN["examples_repo_id"]): {}}
    hub = FakeHub(weights, clock, require_token=hf_token, examples_source=market.examples_uploads,
                  world=lambda: market.world)
    hub_url = hub.start()
    err = app.stderr
    err.print(f"zeb sim: scenario {scenario}, {len(market.offers)} offers, {len(market.instances)} instances, "
              f"credit ${market.credit:.2f}, clock x{speed:g}", markup=False)
    err.print(f"VAST_URL={url} HF_ENDPOINT={hub_url}", markup=False)
    err.print("Paste this into another shell:", markup=False)
    git = " ".join(f"{k}={v}" for k, v in git_env(url).items())   # `git ls-remote` of github.com: the sim's repos
    app.stdout.print(f"export VAST_URL={url} VAST_API_KEY={api_key} HF_ENDPOINT={hub_url} HF_TOKEN={hf_token} {git}",
                     markup=False, soft_wrap=True)
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
        hub.stop()
    err.print(f"zeb sim: stopped after {market.count_calls()} API calls", markup=False)
    from zeb.api.payloads import SimServeData  # deferred: its records cost start-up
    return Result("sim serve", data=SimServeData(url, hub_url, market.count_calls()))


def register(app: typer.Typer) -> None:
    app.add_typer(sim_app, name="sim")
