"""`zeb status` over 200 instances and `zeb up 8` against the sim server, as a user runs them
(fresh processes): wall time and the number of Vast API calls each made (issue #4)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zeb.sim.clock import RealClock
from zeb.sim.hub import FakeHub
from zeb.sim.scenarios import load_scenario
from zeb.sim.server import SimServer

FLEETS = """
[defaults]
max_dph = 0.5
gpus = ["RTX_3060", "RTX_3060_Ti", "RTX_3070", "RTX_3070_Ti", "RTX_3080", "RTX_3080_Ti", "RTX_3090", "RTX_4070",
        "RTX_4070_Ti", "RTX_4080", "RTX_4090"]
repo_id = "bench/zeb-42"
[fleets.zeb]
weights_name = "w"
[fleets.fresh]
weights_name = "w"
"""


def run(env, *args) -> float:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "zeb", *args], env=env, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        raise SystemExit(f"zeb {' '.join(args)} failed: {out.stderr}")
    return time.perf_counter() - start


def main() -> None:
    market = load_scenario("big-market", RealClock())
    with tempfile.TemporaryDirectory() as tmp, SimServer(market) as url, \
            FakeHub({"bench/zeb-42": {"w.pt": b""}}) as hub:
        cfg = Path(tmp) / "fleets.toml"
        cfg.write_text(FLEETS)
        env = {**os.environ, "VAST_URL": url, "VAST_API_KEY": market.api_key, "HF_TOKEN": "hf_bench",
               "HF_ENDPOINT": hub, "ZEB_HOME": str(Path(tmp) / "home"), "ZEB_CONFIG": str(cfg)}
        times = []
        for _ in range(5):
            market.calls.clear()
            times.append(run(env, "status"))
        status_calls = len(market.calls)
        base = []
        for _ in range(5):
            base.append(run(env, "--version"))
        print(f"zeb status (200 instances): median {statistics.median(times) * 1000:.0f} ms wall "
              f"(process start alone {statistics.median(base) * 1000:.0f} ms); {status_calls} Vast API calls "
              f"(8 pages of 25 from one listing)")
        market.calls.clear()
        wall = run(env, "up", "8", "--fleet", "fresh")
        creates = sum(1 for c in market.calls if "/asks/" in c["path"])
        print(f"zeb up 8: {wall * 1000:.0f} ms wall; {len(market.calls)} Vast API calls "
              f"({creates} creates, {sum(1 for c in market.calls if 'bundles' in c['path'])} offer search)")


if __name__ == "__main__":
    main()
