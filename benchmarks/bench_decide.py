"""decide() over 1,000 and 10,000 workers and 1,000 offers (issue #6: 1,000 under 20 ms; issue #21: linear,
10,000 under 100 ms)."""

from __future__ import annotations

import random
import statistics
import time

from zeb.core.config import resolve
from zeb.core.domain import Instance, Offer
from zeb.core.lifecycle import WorkerRecord, WorkerState
from zeb.plan.fleet import label_for
from zeb.plan.fleetfault import HubCheck
from zeb.plan.monitor import PolicyState, Snapshot, decide
from zeb.plan.types import RankedOffer

NOW = 1_780_000_000.0


def fleet(n: int):
    rng = random.Random(1)
    cfg = resolve("zeb", {"max_dph": 0.2, "gpus": ("RTX 3070",)}, {})
    states = [WorkerState.PRODUCING] * 8 + [WorkerState.BOOTING, WorkerState.SETUP, WorkerState.ERROR]
    instances, records = [], {}
    for i in range(n):
        inst = Instance(i, label_for("zeb", i), "running", "running", "RTX 3070", 1, 0.08, 5000 + i, 1,
                        NOW - rng.uniform(60, 9000))
        instances.append(inst)
        state = rng.choice(states)
        records[i] = WorkerRecord(i, inst.label, inst.machine_id, "RTX 3070", 0.08, inst.start_date, state,
                                  NOW - rng.uniform(0, 1200), NOW - 9000, NOW - rng.uniform(0, 900),
                                  games_per_s=2.2 if state is WorkerState.PRODUCING else None)
    offers = tuple(sorted((RankedOffer(Offer(10_000 + k, 20_000 + k, 1, "RTX 3070", 1, rng.uniform(0.05, 0.15), 0.99),
                                       2.2, "config") for k in range(1000)), key=lambda r: r.dollars_per_gps))
    return cfg, Snapshot("zeb", tuple(instances), records, offers, {}, frozenset(), None, (), {},
                         hub=HubCheck(ok=True))


def main() -> None:
    for n, runs, goal in ((1000, 30, "under 20 ms"), (10_000, 5, "under 100 ms")):
        cfg, snap = fleet(n)
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            decision = decide(snap, PolicyState(), cfg, n, NOW)
            samples.append((time.perf_counter() - start) * 1000)
        print(f"decide({n:,} workers, 1,000 offers): median {statistics.median(samples):.2f} ms, "
              f"max {max(samples):.2f} ms; {len(decision.actions)} actions (target: {goal})")


if __name__ == "__main__":
    main()
