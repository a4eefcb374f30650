"""A whole simulated day of a 12-worker fleet on the virtual clock (issue #3: under 10 s of wall time).

Two passes: the model alone (listing + every worker's 200-line log tail each simulated minute), and the
same day over HTTP through the real SDK-based client at the monitor's 5-minute cadence."""

from __future__ import annotations

import time

from zeb.sim.clock import ManualClock
from zeb.sim.market import Market
from zeb.sim.server import SimServer
from zeb.vast import VastClient

DAY = 24 * 3600


def fleet(clock) -> Market:
    market = Market(clock, seed=4)
    market.populate(60, faulty_share=0.08)
    for n in range(12):
        market.adopt("RTX 3070", f"zeb-worker-vast-{n}", age_s=0)
    return market


def model_day(step: float) -> tuple[float, int]:
    clock = ManualClock()
    market = fleet(clock)
    start = time.perf_counter()
    fetched = 0
    t = 0.0
    while t < DAY:
        clock.advance(step)
        t += step
        market.tick()
        for inst in market.live_instances():
            market.row(inst, clock.now())
            market.logs(inst.id, 200)
            fetched += 1
    return time.perf_counter() - start, fetched


def http_day(step: float) -> tuple[float, int]:
    clock = ManualClock()
    market = fleet(clock)
    with SimServer(market) as url:
        client = VastClient("sim-key", url)
        start = time.perf_counter()
        t = 0.0
        while t < DAY:
            clock.advance(step)
            t += step
            for inst in client.list_instances():
                client.logs(inst.id, tail=200)
        return time.perf_counter() - start, client.requests_made


def main() -> None:
    wall, fetched = model_day(60.0)
    print(f"model, 1-min steps : 24 simulated hours of 12 workers in {wall:.2f} s wall ({fetched} log tails)")
    wall, requests = http_day(300.0)
    print(f"HTTP,  5-min steps : 24 simulated hours of 12 workers in {wall:.2f} s wall ({requests} HTTP requests)")


if __name__ == "__main__":
    main()
