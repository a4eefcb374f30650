"""A whole simulated day of a 12-worker fleet on the virtual clock (goal: the day over HTTP in under 10 s
of wall time).

Three passes over the same seeded market, each step listing the instances and fetching every worker's
200-line log tail:
  model  -- the model directly (Market.row + Market.logs), 1-minute steps;
  HTTP   -- over loopback HTTP with one keep-alive requests.Session, 5-minute steps (the monitor's steady
            cadence): the goal's figure. About a third of it is the server; the rest is requests' own
            per-call overhead;
  SDK    -- through zeb's VastClient and the vastai SDK, 5-minute steps. The SDK opens a new session and
            connection per request, so this pass mostly measures the client.
Run: python benchmarks/bench_sim_day.py"""

from __future__ import annotations

import time

import requests

from zeb.sim.clock import ManualClock
from zeb.sim.market import Market
from zeb.sim.server import SimServer

DAY = 24 * 3600
GOAL_S = 10.0
WORKERS = 12
TAIL = 200


def fleet(clock) -> Market:
    market = Market(clock, seed=4)
    market.populate(60, faulty_share=0.08)
    for n in range(WORKERS):
        market.adopt("RTX 3070", f"zeb-worker-vast-{n}", age_s=0)
    return market


def model_day(step: float) -> tuple[float, int]:
    clock = ManualClock()
    market = fleet(clock)
    start = time.perf_counter()
    fetched = 0
    for _ in range(int(DAY / step)):
        clock.advance(step)
        market.tick()
        for inst in market.live_instances():
            market.row(inst, clock.now())
            market.logs(inst.id, TAIL)
            fetched += 1
    return time.perf_counter() - start, fetched


def http_day(step: float) -> tuple[float, int]:
    clock = ManualClock()
    market = fleet(clock)
    with SimServer(market) as url:
        session = requests.Session()
        session.trust_env = False
        session.headers["Authorization"] = "Bearer sim-key"
        start = time.perf_counter()
        for _ in range(int(DAY / step)):
            clock.advance(step)
            for row in session.get(f"{url}/api/v1/instances/", timeout=10).json()["instances"]:
                ask = session.put(f"{url}/api/v0/instances/request_logs/{row['id']}/", json={"tail": str(TAIL)},
                                  timeout=10)
                _ = session.get(ask.json()["result_url"], timeout=10).text   # read the body: part of the cost
        wall = time.perf_counter() - start
        return wall, market.count_calls() + market.count_calls("PUT", "/api/v0/instances/request_logs/")


def sdk_day(step: float) -> tuple[float, int]:
    from zeb.adapters.vast import VastClient

    clock = ManualClock()
    market = fleet(clock)
    with SimServer(market) as url:
        client = VastClient("sim-key", url)
        start = time.perf_counter()
        for _ in range(int(DAY / step)):
            clock.advance(step)
            for inst in client.list_instances():
                client.logs(inst.id, tail=TAIL)
        return time.perf_counter() - start, client.requests_made


def main() -> None:
    wall, fetched = model_day(60.0)
    print(f"model, 1-min steps: 24 simulated hours of {WORKERS} workers in {wall:.2f} s wall "
          f"({fetched} listing rows and {TAIL}-line tails, no HTTP)")
    wall, made = http_day(300.0)
    verdict = "meets" if wall < GOAL_S else "MISSES"
    print(f"HTTP,  5-min steps: 24 simulated hours of {WORKERS} workers in {wall:.2f} s wall "
          f"({made} HTTP requests, {wall / made * 1000:.2f} ms each, keep-alive; goal < {GOAL_S:g} s: {verdict})")
    wall, made = sdk_day(300.0)
    print(f"SDK,   5-min steps: 24 simulated hours of {WORKERS} workers in {wall:.2f} s wall "
          f"({made} HTTP requests, {wall / made * 1000:.2f} ms each, a new connection per request)")


if __name__ == "__main__":
    main()
