"""Cost of `zeb monitor --metrics-port` per cycle (issue 15: well under 5 ms per cycle).

One FleetMetrics.observe() after a cycle, for a 12-worker and a 200-worker fleet, plus one scrape
(generate_latest) of the registry it fills, which runs on the exporter's thread."""

from __future__ import annotations

import itertools
import statistics
import time
from types import SimpleNamespace

from prometheus_client import CollectorRegistry, generate_latest

from zeb.core.lifecycle import WorkerState
from zeb.observe.metrics import FleetMetrics
from zeb.service.monitor import Counters, CycleReport

ENDPOINTS = ("list_instances", "search_offers", "create_instance", "destroy_instance", "logs", "account")


def fake_monitor(workers: int):
    states = itertools.cycle(list(WorkerState))
    records = {i: SimpleNamespace(state=next(states)) for i in range(workers)}
    client = SimpleNamespace(calls=dict.fromkeys(ENDPOINTS, 0), call_errors=dict.fromkeys(ENDPOINTS, 0))
    return SimpleNamespace(records=records, target=workers, counters=Counters(), client=client)


def step(mon, metrics: FleetMetrics, n: int) -> CycleReport:
    """What one cycle changes: counters and call counts grow, a destroy is reported."""
    mon.counters.cycles += 1
    mon.counters.launches += 1
    for e in ENDPOINTS:
        mon.client.calls[e] += 3
    mon.client.call_errors["logs"] += 1
    metrics.event({"kind": "action", "action": "destroy", "code": "replace", "ok": True, "strike": n % 2 == 0})
    return CycleReport(n, 1_700_000_000.0 + n, producing=len(mon.records) // 2, games_per_s=1.4 * len(mon.records),
                       dph=0.12 * len(mon.records), duration_s=0.3)


def per_cycle_ms(workers: int, cycles: int = 2000) -> tuple[float, float]:
    metrics, mon = FleetMetrics(CollectorRegistry(), "zeb"), fake_monitor(workers)
    reports = [step(mon, metrics, n) for n in range(1, cycles + 1)]
    times = []
    for report in reports:
        t0 = time.perf_counter()
        metrics.observe(report, mon)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, max(times) * 1e3


def scrape_ms(workers: int, scrapes: int = 300) -> float:
    metrics, mon = FleetMetrics(CollectorRegistry(), "zeb"), fake_monitor(workers)
    for n in range(1, 20):
        metrics.observe(step(mon, metrics, n), mon)
    times = []
    for _ in range(scrapes):
        t0 = time.perf_counter()
        generate_latest(metrics.registry)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    for workers in (12, 200):
        median, worst = per_cycle_ms(workers)
        print(f"observe, {workers:>3} workers: {median:.3f} ms per cycle (median; worst {worst:.3f} ms)")
    print(f"scrape (generate_latest), 200 workers: {scrape_ms(200):.3f} ms")


if __name__ == "__main__":
    main()
