"""One monitor cycle over 100 workers whose log calls each take 0.3-2 s (issue #6 (a): under 10 s with
the default settings), and the same cycle with one log call that never returns (it may delay the
cycle by no more than the per-call timeout)."""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from zeb.config import resolve
from zeb.monitor import Monitor
from zeb.sim.clock import ManualClock
from zeb.sim.market import Market
from zeb.sim.server import SimServer
from zeb.store import Store
from zeb.vast import VastClient


def one_cycle(hang: bool) -> tuple[float, int, int]:
    clock = ManualClock()
    market = Market(clock, seed=2, credit=1e6)
    market.populate(40, gpus=["RTX 3070"], faulty_share=0.0)
    for n in range(100):
        market.adopt("RTX 3070", f"zeb-worker-vast-{n}", age_s=7200)
    rng = random.Random(5)
    market.log_latency = lambda: rng.uniform(0.3, 2.0)
    if hang:
        market.inject("hang", 1, path="/_logs/", method="GET", delay=3600)
    cfg = resolve("zeb", {"max_dph": 0.2, "gpus": ("RTX 3070",)}, {"ZEB_CONFIG": "/nonexistent"})
    with tempfile.TemporaryDirectory() as tmp, SimServer(market) as url:
        client = VastClient("sim-key", url, timeout=cfg.thresholds.poll_timeout_s)
        mon = Monitor(cfg, 100, client, Store(Path(tmp)), "hf_bench", clock=clock.now)
        start = time.perf_counter()
        report = mon.cycle()
        wall = time.perf_counter() - start
        return wall, report.producing, client.requests_made


def main() -> None:
    t = resolve("zeb", {}, {"ZEB_CONFIG": "/nonexistent"}).thresholds
    wall, producing, requests = one_cycle(False)
    print(f"cycle over 100 workers, log calls 0.3-2 s: {wall:.2f} s wall, {producing} producing, {requests} requests "
          f"(pool: default {t.poll_concurrency}, growing to 1 per 4 workers up to 32; target < 10 s)")
    hung, producing, _ = one_cycle(True)
    print(f"same cycle with one hung log call: {hung:.2f} s wall (+{hung - wall:.2f} s; per-call timeout "
          f"{t.poll_timeout_s:g} s), {producing} producing (the hung poll is recorded as a failed poll, not a crash)")


if __name__ == "__main__":
    main()
