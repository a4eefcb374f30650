"""Fleet economics over a simulated 24 h with the default fault mix (issue #6 (b)): the real monitor,
over HTTP through the real SDK, against the sim on a virtual clock. Prints, per cadence:
median time from a worker's failure to its replacement producing, the share of $ spent on workers
that were not producing, the fleet's $/game/s against the best possible in that market, and Vast API
calls per worker-hour. Used to choose the default cadence (fast while in flux, slow when healthy)."""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from zeb import state
from zeb.config import resolve
from zeb.monitor import Monitor
from zeb.sim.clock import ManualClock
from zeb.sim.market import FAULTS
from zeb.sim.scenarios import load_scenario
from zeb.sim.server import SimServer
from zeb.store import Store
from zeb.vast import VastClient

DAY = 24 * 3600.0
FAIL_STATES = ("error", "stalled", "stopped")


def failure_to_producing(events: list[dict]) -> list[float]:
    by_instance: dict[int, list[dict]] = {}
    for e in events:
        if e.get("kind", "transition") in ("transition", "adopted"):
            by_instance.setdefault(int(e["instance_id"]), []).append(e)
    out = []
    for iid, evs in by_instance.items():
        evs.sort(key=lambda e: e["time"])
        destroy = next((e for e in evs if e["to"] == "destroying" and str(e["reason"]).startswith(("replace", "cost"))),
                       None)
        if destroy is None:
            continue
        before = [e for e in evs if e["time"] <= destroy["time"] and e["to"] != "destroying"]
        failed_at = before[-1]["time"] if before and before[-1]["to"] in FAIL_STATES else evs[0]["time"]
        label = destroy["label"]
        later = [e for other, oe in by_instance.items() if other != iid for e in oe
                 if e["label"] == label and e["to"] == "producing" and e["time"] >= destroy["time"]]
        if later:
            out.append(min(e["time"] for e in later) - failed_at)
    return out


def run(fast: float, slow: float, target: int, seed: int) -> dict:
    clock = ManualClock()
    market = load_scenario("default", clock, seed=seed)
    market.set_credit(1e6)
    # The fault mix: one machine in four, best value first, cycles through every fault kind, so the
    # monitor meets each of them among the offers it prefers.
    by_value = sorted(market.offers.values(), key=lambda o: o.dph_total / market.machines[o.machine_id].gps)
    for n, offer in enumerate(by_value[::4]):
        market.set_fault(offer.machine_id, FAULTS[n % len(FAULTS)])
    cfg = resolve("zeb", {"max_dph": 0.12, "gpus": tuple(sorted({m.gpu_name for m in market.machines.values()}))},
                  {"ZEB_CONFIG": "/nonexistent"})
    cfg = dataclasses.replace(cfg, thresholds=dataclasses.replace(cfg.thresholds, fast_interval_s=fast,
                                                                  slow_interval_s=slow))
    with tempfile.TemporaryDirectory() as tmp, SimServer(market) as url:
        store = Store(Path(tmp))
        # Retry waits are real seconds; shrink them so a simulated day takes a minute, not several.
        client = VastClient("sim-key", url, base_wait=0.01)
        mon = Monitor(cfg, target, client, store, "hf_bench", clock=clock.now)
        start = clock.now()
        wall = time.perf_counter()
        while clock.now() - start < DAY:
            market.tick()
            report = mon.cycle()
            clock.advance(report.interval)
        wall = time.perf_counter() - wall
        events = state.read_events(store, "zeb")
        records = list(mon.records.values()) + state.retired_records(events)
        productive = sum(r.cost_productive for r in records)
        overhead = sum(r.cost_overhead for r in records)
        live = [r for r in mon.records.values() if r.state.value == "producing" and r.games_per_s]
        fleet_dpg = sum(r.dph_total for r in live) / sum(r.games_per_s for r in live) if live else float("nan")
        healthy = sorted(((o.dph_total, market.machines[o.machine_id].gps) for o in market.offers.values()
                          if market.machines[o.machine_id].fault is None and o.dph_total <= cfg.max_dph),
                         key=lambda x: x[0] / x[1])[:target]
        best = sum(d for d, _ in healthy) / sum(g for _, g in healthy)
        recovery = failure_to_producing(events)
        return {
            "fast": fast, "slow": slow, "cycles": mon.counters.cycles, "wall": wall,
            "recovery_median_min": statistics.median(recovery) / 60 if recovery else float("nan"),
            "recoveries": len(recovery),
            "non_producing_share": overhead / (productive + overhead) if productive + overhead else float("nan"),
            "fleet_dpg": fleet_dpg, "best_dpg": best,
            "calls_per_worker_hour": market.count_calls() / (target * 24),
            "replacements": mon.counters.replacements, "strikes": mon.counters.strikes,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cadences", default="30/300,15/300,60/600",
                        help="fast/slow seconds pairs, comma-separated")
    args = parser.parse_args()
    print(f"24 simulated hours, {args.target} workers, default market with one best-value machine in four "
          f"faulty (every fault kind), seed {args.seed}")
    print(f"{'fast/slow s':>11} {'cycles':>6} {'recovery':>10} {'non-prod $':>10} {'fleet $/g/s':>11} "
          f"{'best $/g/s':>10} {'vs best':>7} {'calls/w-h':>9} {'repl':>4} {'wall s':>6}")
    for pair in args.cadences.split(","):
        fast, slow = (float(x) for x in pair.split("/"))
        r = run(fast, slow, args.target, args.seed)
        print(f"{pair:>11} {r['cycles']:>6} {r['recovery_median_min']:>7.1f} min {r['non_producing_share']:>10.1%} "
              f"{r['fleet_dpg']:>11.4f} {r['best_dpg']:>10.4f} {r['fleet_dpg'] / r['best_dpg']:>6.2f}x "
              f"{r['calls_per_worker_hour']:>9.1f} {r['replacements']:>4} {r['wall']:>6.1f}")


if __name__ == "__main__":
    main()
