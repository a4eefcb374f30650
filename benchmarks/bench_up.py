"""`zeb up 8` against the scripts' way of launching eight workers (vast_up.sh: one `vastai search offers`, then
eight `vastai create instance` processes, one after another), both through the official `vastai` package
against the same simulated marketplace (benchmarks/bench_commands.py's big market, 200 instances already up).
The scripts' per-worker `python3 -c` JSON helpers are left out, which flatters the scripts."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zeb.sim.clock import RealClock
from zeb.sim.hub import FakeHub
from zeb.sim.onstart import KNOWN_GOOD_LAUNCH
from zeb.sim.scenarios import load_scenario
from zeb.sim.server import SimServer

ROUNDS = 3
WORKERS = 8
GPUS = ["RTX_3060", "RTX_3060_Ti", "RTX_3070", "RTX_3070_Ti", "RTX_3080", "RTX_3080_Ti", "RTX_3090", "RTX_4070",
        "RTX_4070_Ti", "RTX_4080", "RTX_4090"]
FLEETS = f"""
[defaults]
max_dph = 0.5
gpus = {json.dumps(GPUS)}
repo_id = "bench/zeb-42"
""" + "".join(f'[fleets.fresh{n}]\nweights_name = "w"\n' for n in range(ROUNDS))


def timed(argv: list[str], env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(argv, check=False, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} ... failed: {out.stderr}")
    return wall, out.stdout


def zeb_up(env: dict, fleet: str) -> float:
    wall, _ = timed([sys.executable, "-m", "zeb", "up", str(WORKERS), "--fleet", fleet], env)
    return wall


def scripts_up(env: dict, vastai: str, fleet: str) -> float:
    """vast_up.sh's calls: its search (a dict of the cheapest N, cheapest first), then each create."""
    query = f"gpu_name in [{','.join(GPUS)}] num_gpus=1 dph_total<=0.5"
    start = time.perf_counter()
    _, found = timed([vastai, "search", "offers", query, "-o", "dph_total", "--raw", "--limit", str(WORKERS)], env)
    for n, offer in enumerate(json.loads(found)[:WORKERS]):
        timed([vastai, "create", "instance", str(offer["id"]), "--image", KNOWN_GOOD_LAUNCH["image"], "--disk", "15",
               "--label", f"{fleet}-worker-vast-{n}", "--env", f"-e HF_TOKEN=hf_bench -e WORKER_ID=worker-vast-{n}",
               "--onstart-cmd", KNOWN_GOOD_LAUNCH["onstart"]], env)
    return time.perf_counter() - start


def launched(market, fleet: str) -> int:
    return sum(1 for i in market.instances.values() if (i.label or "").startswith(f"{fleet}-worker-vast-"))


def main() -> None:
    vastai = shutil.which("vastai") or os.path.join(os.path.dirname(sys.executable), "vastai")
    market = load_scenario("big-market", RealClock())
    hub_files = {"bench/zeb-42": {"w.pt": b""}}
    with tempfile.TemporaryDirectory() as tmp, SimServer(market) as url, FakeHub(hub_files) as hub:
        cfg = Path(tmp) / "fleets.toml"
        cfg.write_text(FLEETS)
        env = {**os.environ, "VAST_URL": url, "VAST_API_KEY": market.api_key, "HF_TOKEN": "hf_bench",
               "HF_ENDPOINT": hub, "ZEB_HOME": str(Path(tmp) / "home"), "ZEB_CONFIG": str(cfg), "HOME": tmp,
               "VASTAI_NO_UPDATE_CHECK": "1"}
        zeb_walls, script_walls = [], []
        for n in range(ROUNDS):
            zeb_walls.append(zeb_up(env, f"fresh{n}"))
            script_walls.append(scripts_up(env, vastai, f"scripts{n}"))
            for fleet in (f"fresh{n}", f"scripts{n}"):
                if launched(market, fleet) != WORKERS:
                    raise SystemExit(f"{fleet}: {launched(market, fleet)} instances launched, not {WORKERS}")
        zeb_wall, script_wall = statistics.median(zeb_walls), statistics.median(script_walls)
        print(f"median of {ROUNDS} rounds, {WORKERS} workers each, all launched:")
        print(f"  zeb up {WORKERS}:                                   {zeb_wall * 1000:6.0f} ms wall")
        print(f"  vastai search offers + {WORKERS} x vastai create instance: {script_wall * 1000:6.0f} ms wall")
        print(f"zeb up / scripts: {zeb_wall / script_wall:.3f}x wall  (goal <= 0.1x)")


if __name__ == "__main__":
    main()
