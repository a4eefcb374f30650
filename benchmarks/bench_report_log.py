"""`zeb report` on a long event log: 40,000 and 400,000 lines in the monitor's own row format (zeb.storage.codec's
event_row, appended through the store), in a temp ZEB_HOME, ending now. `zeb report` runs as a subprocess
for all of the log (--since covering every line) and for the last 7 days; wall time and the child's peak
RSS (resource.getrusage of the children of a one-run wrapper process) are printed.
Goals: 400,000 lines < 10 s and < 200 MB; a 7-day window of a long log < 2 s.

    python benchmarks/bench_report_log.py [LINES ...]      # default: 40000 400000
"""

from __future__ import annotations

import dataclasses
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zeb.core.lifecycle import WorkerRecord, WorkerState, record_to_dict
from zeb.storage import state
from zeb.storage.codec import event_row
from zeb.storage.store import Store

SLOTS = 64
GPUS = ["RTX 3060", "RTX 3070", "RTX 3080", "RTX 4070", "RTX 4070 Ti"]
BOOT = ("pending", "booting", "setup", "loading_model", "producing")
EVIDENCE = {"booting": "Status: Downloaded newer image for pytorch/pytorch:2.6.0-cuda12.6-cudnn9-runtime",
            "setup": "Cloning into '/root/code'... Installing collected packages: zeb-forge",
            "loading_model": "Loading weights zeb-557k-1m.pt from jasonyandell/zeb-42 (cuda:0)",
            "producing": "[batch 1] 64 games in 29.8s (2.15 games/s), step 557000"}
# A one-run wrapper: its children's rusage is the one `zeb report` process, whatever ran before it.
WRAP = ("import resource, subprocess, sys, time\n"
        "t = time.perf_counter(); rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
        "print(rc, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")


def _worker(rng: random.Random, iid: int, slot: int, born: float, end: float) -> tuple[list[dict], WorkerRecord, float]:
    label, machine, gpu = f"zeb-worker-vast-{slot}", 1000 + iid % 300, rng.choice(GPUS)
    dph = round(rng.uniform(0.05, 0.12), 4)
    rows = [event_row(born, "action", "launch", f"offer {iid * 7} on machine {machine}", label=label,
                      machine_id=machine, action="launch", ok=True, offer_id=iid * 7, gpu_name=gpu, dph_total=dph)]
    t, before = born, None
    for to in BOOT:
        rows.append(event_row(t, "transition", to, f"classified {to}", instance_id=iid, label=label,
                              machine_id=machine, from_state=before, to=to, evidence=EVIDENCE.get(to)))
        before, t = to, t + rng.uniform(60, 600)
    gone = min(end, t + rng.uniform(4, 30) * 3600)
    if gone < end:
        if rng.random() < 0.3:
            rows.append(event_row(gone - 900, "transition", "stalled", "no new batch in 2.5 batch periods",
                                  instance_id=iid, label=label, machine_id=machine, from_state="producing",
                                  to="stalled"))
            before = "stalled"
        rows.append(event_row(gone, "transition", "replace", "stalled at batch 41", instance_id=iid, label=label,
                              machine_id=machine, from_state=before, to="destroying"))
        rows.append(event_row(gone, "action", "replace", "stalled at batch 41", instance_id=iid, label=label,
                              machine_id=machine, action="destroy", ok=True, strike=rng.random() < 0.3))
        rows.append(event_row(gone + 60, "transition", "gone", "no longer listed", instance_id=iid, label=label,
                              machine_id=machine, from_state="destroying", to="gone"))
    rec = WorkerRecord(instance_id=iid, label=label, machine_id=machine, gpu_name=gpu, dph_total=dph, created_at=born,
                       state=WorkerState.PRODUCING, state_since=t, first_seen=born,
                       games_per_s=round(rng.uniform(1.5, 4.5), 2))
    return rows, rec, gone


def build(home: Path, lines: int, end: float) -> float:
    """An event log of about `lines` lines ending at `end` in `home`; returns the time of its first line."""
    rng = random.Random(lines)
    # Each worker writes ~11 rows and lives ~17 h: lay the slots' lives back from `end` far enough to fill it.
    span = lines / 11 * 17.5 * 3600 / SLOTS
    start = end - span
    rows: list[dict] = []
    live: dict[int, WorkerRecord] = {}
    iid = 10_000
    for slot in range(SLOTS):
        t = start + rng.uniform(0, 3600)
        while t < end:
            iid += 1
            mine, rec, gone = _worker(rng, iid, slot, t, end)
            rows += mine
            if gone < end:
                rows.append(event_row(gone + 60, "retired", "retired", "", instance_id=iid, label=rec.label,
                                      record=record_to_dict(dataclasses.replace(rec, state=WorkerState.GONE,
                                                                                state_since=gone + 60))))
            else:
                live[iid] = rec
            t = gone + 120
    rows.sort(key=lambda r: r["time"])
    rows = rows[-lines:]
    store = Store(home, event_limit=1 << 40)     # one file, however long, as the finding's log was
    state.append_events(store, "zeb", rows)
    state.save_records(store, "zeb", live)
    return float(rows[0]["time"])


def run_report(home: Path, since: str, out: Path) -> tuple[int, float, float]:
    env = {**os.environ, "ZEB_HOME": str(home), "ZEB_CONFIG": str(home / "no-fleets.toml"), "NO_COLOR": "1"}
    cmd = [sys.executable, "-m", "zeb", "report", "--fleet", "zeb", "--since", since, "--out", str(out)]
    done = subprocess.run([sys.executable, "-c", WRAP, *cmd], env=env, capture_output=True, text=True, check=True)
    rc, wall, rss_kib = done.stdout.split()
    return int(rc), float(wall), int(rss_kib) / 1024


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [40_000, 400_000]
    for lines in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "home"
            end = time.time()
            first = build(home, lines, end)
            log = home / "fleets" / "zeb" / "events.jsonl"
            print(f"{lines} lines, {log.stat().st_size / 1e6:.1f} MB, {(end - first) / 86400:.0f} days")
            days = int((time.time() - first) / 86400) + 2
            for name, since in (("all of it", f"{days}d"), ("last 7 days", "7d")):
                rc, wall, rss = run_report(home, since, Path(tmp) / "report.html")
                print(f"  zeb report --since {since:>5} ({name}): {wall:6.2f} s, peak RSS {rss:5.0f} MB, exit {rc}")


if __name__ == "__main__":
    main(sys.argv[1:])
