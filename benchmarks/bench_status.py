"""`zeb status` (human, piped) and `zeb status --json` against the official `vastai show instances --raw`,
both pointed at one simulated marketplace, at 13, 200, 1,000 and 5,000 instances. Every run is a fresh
process; the table gives median wall and CPU (user+sys of the child) and zeb's ratio to vastai.
Goals: <= 0.5x wall at 13 instances, <= 1.0x CPU at 5,000; issue #21: `zeb status` <= 0.4x vastai's wall
at 13 instances and <= 2.5x `python -c "import typer, rich"` (the floor of any typer + rich CLI, also run).

The sim server runs in this process, so this process's own CPU during a run is the server side of the
listing (both clients fetch the same 25-row pages); its column shows when the server dominates.

Byte-compiled files are cached (in a temporary PYTHONPYCACHEPREFIX, for every command alike, one unmeasured
run each first) as on an installed zeb, even where the environment sets PYTHONDONTWRITEBYTECODE, as
benchmarks/bench_help.py does; --env-as-is measures without.

    python benchmarks/bench_status.py [--sizes 13,200] [--repeat 5] [--env-as-is]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zeb.sim.clock import RealClock
from zeb.sim.market import GPUS, Market
from zeb.sim.server import SimServer

SIZES = (13, 200, 1000, 5000)
TEMPLATES = 40
FLEETS = """
[defaults]
max_dph = 0.5
repo_id = "bench/zeb-42"
[fleets.zeb]
weights_name = "w"
"""


def build_market(n: int) -> Market:
    """`n` instances of fleet `zeb`. Adopting one runs its onstart through the sim's shell (~25 ms), so
    TEMPLATES are adopted and the rest are copies of them under their own ids, labels and ssh ports."""
    market = Market(RealClock(), seed=7, credit=1e9, api_key="bench-key")
    gpus = list(GPUS)
    ids = [market.adopt(gpus[k % len(gpus)], f"zeb-worker-vast-{k}", age_s=600.0 + 4000.0 * k)
           for k in range(min(n, TEMPLATES))]
    with market.lock:
        next_id, next_port = max(ids), max(market.instances[i].ssh_port for i in ids)
        for k in range(len(ids), n):
            next_id, next_port = next_id + 1 + k % 7, next_port + 1
            like = market.instances[ids[k % len(ids)]]
            market.instances[next_id] = dataclasses.replace(like, id=next_id, label=f"zeb-worker-vast-{k}",
                                                            ssh_port=next_port, log_blocks={}, past_uploads=[])
    return market


def _cpu(usage) -> float:
    return usage.ru_utime + usage.ru_stime


def run(cmd: list[str], env: dict) -> tuple[float, float, float, int]:
    """(wall s, child CPU s, this process's CPU s: the sim server, bytes of stdout) of one fresh process."""
    children, me = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, stdin=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    children_after, me_after = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.decode()[-2000:]}")
    return wall, _cpu(children_after) - _cpu(children), _cpu(me_after) - _cpu(me), len(out.stdout)


def median_of(cmd: list[str], env: dict, repeat: int) -> dict:
    runs = [run(cmd, env) for _ in range(repeat)]
    return {"wall": statistics.median(r[0] for r in runs), "cpu": statistics.median(r[1] for r in runs),
            "server": statistics.median(r[2] for r in runs), "bytes": runs[-1][3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--env-as-is", action="store_true", help="do not cache byte-compiled files")
    args = parser.parse_args()
    vastai = shutil.which("vastai", path=str(Path(sys.executable).parent)) or shutil.which("vastai")
    if vastai is None:
        raise SystemExit("the vastai CLI is not installed next to this Python")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "fleets.toml"
        cfg.write_text(FLEETS)
        for n in (int(s) for s in args.sizes.split(",")):
            market = build_market(n)
            repeat = args.repeat if n <= 1000 else max(3, args.repeat // 2)
            with SimServer(market) as url:
                env = {**os.environ, "VAST_URL": url, "VAST_API_KEY": market.api_key, "NO_COLOR": "1",
                       "ZEB_HOME": str(Path(tmp) / "home"), "ZEB_CONFIG": str(cfg), "HOME": tmp}
                env.pop("COLUMNS", None)
                if not args.env_as_is:
                    env.pop("PYTHONDONTWRITEBYTECODE", None)
                    env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
                commands = {
                    "zeb status": [sys.executable, "-m", "zeb", "status"],
                    "zeb status --json": [sys.executable, "-m", "zeb", "status", "--json"],
                    "vastai --raw": [vastai, "--url", url, "show", "instances", "--raw"],
                    "import typer, rich": [sys.executable, "-c", "import typer, rich"],
                    # The floor of any typer + rich CLI that talks to Vast through the official SDK.
                    "+ import vastai": [sys.executable, "-c", "import typer, rich, vastai"],
                    # The same, the SDK's serverless half left out as zeb/adapters/vast.py imports it.
                    "+ vastai as zeb": [sys.executable, "-c",
                                        "import typer, rich, zeb.adapters.vast; zeb.adapters.vast._sdk_class()"],
                }
                for cmd in commands.values():       # warm: byte-compiled files and the OS cache
                    run(cmd, env)
                got = {name: median_of(cmd, env, repeat) for name, cmd in commands.items()}
            base = got["vastai --raw"]
            for name, m in got.items():
                rows.append((n, name, m, m["wall"] / base["wall"], m["cpu"] / base["cpu"]))
            print(f"... {n} instances done", file=sys.stderr, flush=True)
    print(f"{'instances':>9}  {'command':<18} {'wall ms':>8} {'cpu ms':>8} {'server ms':>9} {'out KB':>7} "
          f"{'wall x':>6} {'cpu x':>6}")
    for n, name, m, wall_x, cpu_x in rows:
        print(f"{n:>9}  {name:<18} {m['wall'] * 1000:>8.0f} {m['cpu'] * 1000:>8.0f} {m['server'] * 1000:>9.0f} "
              f"{m['bytes'] / 1024:>7.0f} {wall_x:>6.2f} {cpu_x:>6.2f}")
    for n in dict.fromkeys(r[0] for r in rows):
        wall = {name: m["wall"] for k, name, m, _, _ in rows if k == n}
        print(f"{n:>9}  zeb status: {wall['zeb status'] / wall['vastai --raw']:.2f}x vastai --raw (goal <= 0.4x at "
              f"13), {wall['zeb status'] / wall['import typer, rich']:.2f}x import typer, rich (goal <= 2.5x); "
              f"importing the SDK alone is {wall['+ import vastai'] / wall['import typer, rich']:.2f}x "
              f"({wall['+ vastai as zeb'] / wall['import typer, rich']:.2f}x as zeb imports it)")
    print("x: zeb / vastai show instances --raw (same market, same 25-row pages); server ms: the sim "
          "server's CPU in this process during the run")


if __name__ == "__main__":
    main()
