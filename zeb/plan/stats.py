"""The runbook's stats-tracker table, made permanent: per GPU type and per fleet."""

from __future__ import annotations

import statistics
from typing import Iterable, Mapping

from zeb.lifecycle import WorkerRecord, WorkerState

REPLACE_KINDS = ("replace:", "cost:")


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def gpu_stats(workers: Iterable[WorkerRecord]) -> list[dict]:
    by_gpu: dict[str, list[WorkerRecord]] = {}
    for w in workers:
        by_gpu.setdefault(w.gpu_name, []).append(w)
    rows = []
    for gpu, ws in sorted(by_gpu.items()):
        gps = [w.games_per_s for w in ws if w.games_per_s]
        dph = [w.dph_total for w in ws]
        ttfb = [w.first_batch_at - w.created_at for w in ws if w.first_batch_at is not None]
        med_gps, med_dph = _median(gps), _median(dph)
        rows.append({
            "gpu_name": gpu, "workers": len(ws), "producing_workers": len(gps),
            "mean_gps": round(statistics.fmean(gps), 3) if gps else None,
            "median_gps": round(med_gps, 3) if med_gps else None,
            "median_dph": round(med_dph, 4) if med_dph is not None else None,
            "dollars_per_gps": round(med_dph / med_gps, 5) if med_gps and med_dph is not None else None,
            "median_time_to_first_batch_s": round(_median(ttfb), 1) if ttfb else None,
        })
    rows.sort(key=lambda r: (r["dollars_per_gps"] is None, r["dollars_per_gps"] or 0))
    return rows


def fleet_stats(live: Iterable[WorkerRecord], retired: Iterable[WorkerRecord], events: Iterable[Mapping],
                strikes: int) -> dict:
    live = list(live)
    everyone = live + list(retired)
    producing = [w for w in live if w.state is WorkerState.PRODUCING]
    billed_live = [w for w in live if w.state not in (WorkerState.GONE, WorkerState.PENDING)]
    dph = sum(w.dph_total for w in billed_live)
    productive = sum(w.cost_productive for w in everyone)
    overhead = sum(w.cost_overhead for w in everyone)
    spent = productive + overhead
    replacements = sum(1 for e in events if e.get("to") == WorkerState.DESTROYING.value
                       and str(e.get("reason", "")).startswith(REPLACE_KINDS))
    return {
        "games_per_s": round(sum(w.games_per_s or 0.0 for w in producing), 3),
        "producing": len(producing), "live": len(billed_live),
        "dph": round(dph, 4), "per_day": round(dph * 24, 2), "per_week": round(dph * 24 * 7, 2),
        "spent": round(spent, 4), "spent_productive": round(productive, 4), "spent_overhead": round(overhead, 4),
        "productive_share": round(productive / spent, 4) if spent else None,
        "replacements": replacements, "strikes": strikes,
    }
