"""The integration harness: the simulated marketplace and a fake hub on 127.0.0.1, a virtual clock,
and a way to run zeb commands through the CLI against them (in-process, clock injected)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from typer.testing import CliRunner

from zeb.cli import app as cli_app
from zeb.cli.context import App
from zeb.sim.clock import ManualClock
from zeb.sim.hub import FakeHub
from zeb.sim.market import Market
from zeb.sim.scenarios import load_scenario
from zeb.sim.server import SimServer, git_env

HF_TOKEN = "hf_simtoken_for_tests_only"
API_KEY = "sim-key"


@dataclass
class Sim:
    market: Market
    clock: ManualClock
    url: str
    hub: FakeHub
    home: Path
    config: Path
    extra_env: dict = field(default_factory=dict)

    @property
    def env(self) -> dict:
        return {"VAST_URL": self.url, "VAST_API_KEY": API_KEY, "HF_TOKEN": HF_TOKEN, "HF_ENDPOINT": self.hub.url,
                **git_env(self.url),
                "ZEB_HOME": str(self.home), "ZEB_CONFIG": str(self.config), "NO_COLOR": "1", "COLUMNS": "200",
                **self.extra_env}

    def app(self, **kw) -> App:
        return App(env=self.env, clock=self.clock.now, sleep=self.clock.sleep, interactive=kw.pop("interactive", False),
                   **kw)

    def run(self, *args: str, input: str | None = None, interactive: bool = False):
        runner = CliRunner()
        result = runner.invoke(cli_app, list(args), obj=self.app(interactive=interactive), input=input,
                               catch_exceptions=False)
        return result

    def json(self, *args: str) -> dict:
        result = self.run(*args, "--json")
        return json.loads(result.stdout)

    def calls(self, method: str | None = None, prefix: str = "") -> list[dict]:
        return [c for c in self.market.calls if (method is None or c["method"] == method)
                and c["path"].startswith(prefix)]


FLEETS_TOML = """
[defaults]
max_dph = 0.12
gpus = ["RTX_3060", "RTX_3060_Ti", "RTX_3070", "RTX_3070_Ti", "RTX_3080", "RTX_3080_Ti", "RTX_3090",
        "RTX_4070", "RTX_4070_Ti"]
repo_id = "jasonyandell/zeb-42"
examples_repo_id = "jasonyandell/zeb-42-examples"

[fleets.zeb]
weights_name = "zeb-557k-1m"

[fleets.zeb-large]
weights_name = "large"
"""


def start_sim(tmp_path: Path, scenario: str | Market = "default", seed: int | None = None):
    clock = ManualClock()
    market = scenario if isinstance(scenario, Market) else load_scenario(scenario, clock, seed=seed, api_key=API_KEY)
    if isinstance(scenario, Market):
        clock = scenario.clock
    server = SimServer(market)
    url = server.start()
    hub = FakeHub({"jasonyandell/zeb-42": {"zeb-557k-1m.pt": b"w", "large.pt": b"w"},
                   "jasonyandell/zeb-42-examples": {}}, clock,
                  examples_source=market.examples_uploads, world=lambda: market.world)
    hub.start()
    config = tmp_path / "fleets.toml"
    config.write_text(FLEETS_TOML)
    sim = Sim(market, clock, url, hub, tmp_path / "zeb-home", config)
    return sim, server


@contextlib.contextmanager
def lock_held_elsewhere(home: Path, lock: str):
    """Another process holds the fleet `zeb`'s `lock` ("mutation_lock(...)" or "monitor_lock(...)") under
    `home` for the duration; yields its pid."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from zeb.storage.store import Store\n"
         f"with Store(Path(sys.argv[1])).{lock}:\n    print('held', flush=True); time.sleep(60)",
         str(home)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()
