"""`zeb report` over a simulated week: a 12-worker fleet's event log (every worker's state changes, its
replacement, the strike, the retired record) and the market history, in a temp store. Goal: < 3 s."""

from __future__ import annotations

import dataclasses
import random
import tempfile
import time
from pathlib import Path

from zeb.core.config import resolve
from zeb.core.lifecycle import WorkerRecord, WorkerState, record_to_dict
from zeb.plan.market import Sample
from zeb.storage import state
from zeb.storage.codec import event_row
from zeb.storage.market_history import MarketHistory
from zeb.storage.store import Store

START = 1_800_000_000.0
DAYS = 7
WORKERS = 12
GPUS = ["RTX 3060", "RTX 3070", "RTX 3080", "RTX 4070", "RTX 4070 Ti"]
BOOT = ("pending", "booting", "setup", "loading_model", "producing")


def _worker_rows(rng: random.Random, iid: int, slot: int, born: float, end: float) -> tuple[list[dict], float]:
    """One worker's rows from launch to its replacement (or `end`); returns the rows and when it went."""
    label, machine = f"zeb-worker-{slot}", 1000 + iid % 40
    rows, t, before = [], born, None
    for to in BOOT:
        rows.append(event_row(t, "transition", to, "", instance_id=iid, label=label, from_state=before, to=to))
        before, t = to, t + rng.uniform(60, 600)
    gone = min(end, t + rng.uniform(4, 30) * 3600)
    if gone < end:
        if rng.random() < 0.3:
            rows.append(event_row(gone - 900, "transition", "stalled", "no batch", instance_id=iid, label=label,
                                  from_state="producing", to="stalled"))
            before = "stalled"
        rows.append(event_row(gone, "transition", "replace", "stalled", instance_id=iid, label=label,
                              from_state=before, to="destroying"))
        rows.append(event_row(gone, "action", "replace", "stalled", instance_id=iid, label=label,
                              machine_id=machine, action="destroy", ok=True, strike=rng.random() < 0.3))
        rows.append(event_row(gone + 60, "transition", "gone", "", instance_id=iid, label=label,
                              from_state="destroying", to="gone"))
    return rows, gone


def build(root: Path) -> tuple[Store, float]:
    rng = random.Random(7)
    store = Store(root)
    end = START + DAYS * 86400
    rows: list[dict] = []
    records: dict[int, WorkerRecord] = {}
    iid = 10_000
    for slot in range(WORKERS):
        t = START
        while t < end:
            iid += 1
            mine, gone = _worker_rows(rng, iid, slot, t, end)
            rows += mine
            rec = WorkerRecord(instance_id=iid, label=f"zeb-worker-{slot}", machine_id=1000 + iid % 40,
                               gpu_name=rng.choice(GPUS), dph_total=round(rng.uniform(0.05, 0.12), 4), created_at=t,
                               state=WorkerState.PRODUCING, state_since=t + 1200, first_seen=t,
                               games_per_s=round(rng.uniform(1.5, 4.5), 2))
            if gone < end:
                rows.append(event_row(gone + 60, "retired", "retired", "", instance_id=iid,
                                      record=record_to_dict(dataclasses.replace(rec, state=WorkerState.GONE,
                                                                                state_since=gone + 60))))
            else:
                records[iid] = rec
            t = gone + 120
    rows.sort(key=lambda r: r["time"])
    state.append_events(store, "zeb", rows)
    state.save_records(store, "zeb", records)
    with MarketHistory.of(store) as history:
        for n in range(DAYS * 144):     # a search every 10 minutes
            now = START + n * 600
            history.record([Sample(now, g, round(0.04 + rng.random() * 0.04, 4), round(0.06 + rng.random() * 0.04, 4),
                                   rng.randint(1, 30), None) for g in GPUS], now)
    print(f"{len(rows)} event rows, {len(records)} live workers")
    return store, end


def main() -> None:
    from zeb.cli.report_cmd import write_report

    with tempfile.TemporaryDirectory() as tmp:
        store, now = build(Path(tmp) / "state")
        cfg = resolve("zeb", {"gpus": [g.replace(" ", "_") for g in GPUS]}, {})
        out = Path(tmp) / "report.html"
        began = time.perf_counter()
        size = write_report(store, cfg, out, now=now, since=now - DAYS * 86400)
        took = time.perf_counter() - began
        print(f"report of {DAYS} days, {WORKERS} workers: {took:.2f} s (goal < 3 s), {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
