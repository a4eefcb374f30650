"""Market history size and query time: a simulated week (and year) of samples into a temp store.

A monitor searching every 30 min plus `zeb market scan` every 10 min leaves 8 samples per GPU type an
hour; 12 GPU types. Thinning runs as it would (at most once an hour, on record). Target: a week < 5 MB."""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from zeb.plan.market import DAY, HOUR, Sample, summarize
from zeb.storage.market_history import MarketHistory

GPUS = [f"RTX {n}" for n in ("3060", "3060 Ti", "3070", "3070 Ti", "3080", "3080 Ti", "3090", "4060", "4060 Ti",
                             "4070", "4070 Ti", "4080")]
START = 1_800_000_000.0


def search_times(days: float) -> list[float]:
    monitor = [START + i * 1800 for i in range(int(days * 48))]
    scans = [START + i * 600 + 7 for i in range(int(days * 144))]
    return sorted(monitor + scans)


def simulate(days: float) -> None:
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "market.sqlite"
        began = time.perf_counter()
        with MarketHistory(path, []) as history:
            now = START
            for now in search_times(days):
                history.record([Sample(now, g, round(0.05 + rng.random() * 0.05, 4), 0.1, rng.randint(1, 30),
                                       round(0.02 + rng.random() * 0.02, 5)) for g in GPUS], now)
            written = time.perf_counter() - began
            history._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            size = sum(p.stat().st_size for p in Path(tmp).iterdir())
            rows = len(history.samples())
            t0 = time.perf_counter()
            for _ in range(20):
                summarize(history.samples(since=now - 7 * DAY), since=now - 7 * DAY)
            query_ms = (time.perf_counter() - t0) / 20 * 1000
            t0 = time.perf_counter()
            for _ in range(20):
                history.samples(since=now - 7 * DAY, gpus={"RTX 3090"})
            one_gpu_ms = (time.perf_counter() - t0) / 20 * 1000
            t0 = time.perf_counter()
            history.record([Sample(now + 1, GPUS[0], 0.05, 0.1, 3, 0.02)], now + HOUR + 1)   # one record + thinning
            record_ms = (time.perf_counter() - t0) * 1000
    print(f"{days:g} days: {rows:,} rows kept, {size / 1e6:.2f} MB on disk; `zeb market --since 7d` query+summary "
          f"{query_ms:.1f} ms, one GPU {one_gpu_ms:.2f} ms; a record that thins {record_ms:.1f} ms "
          f"(simulation wrote in {written:.1f} s)")


if __name__ == "__main__":
    simulate(7)
    simulate(365)
