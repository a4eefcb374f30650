"""The runbook's stats-tracker table, made permanent: per GPU type and per fleet, and the expected
games/s that offer ranking uses (observed per machine, else per GPU, else the config table, else 1.8).

Pure: worker records and event dicts in, plain dicts out; `now` and `since` are passed in."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping

from zeb.codec import upgrade_event
from zeb.lifecycle import BILLING, Billing, WorkerRecord, WorkerState
from zeb.plan.types import REPLACEMENT_KINDS

DEFAULT_GPS = 1.8


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _seen_since(w: WorkerRecord, since: float | None) -> bool:
    """A worker counts in a window unless it was gone before the window opened."""
    return since is None or not (w.state is WorkerState.GONE and w.state_since < since)


def gpu_stats(workers: Iterable[WorkerRecord], *, since: float | None = None) -> list[dict]:
    """Per GPU type: workers seen, mean/median games/s, median $/hr, $/game/s, median time to first batch.
    Best value ($/game/s) first; GPU types with no producing worker last."""
    by_gpu: dict[str, list[WorkerRecord]] = {}
    for w in workers:
        if _seen_since(w, since):
            by_gpu.setdefault(w.gpu_name, []).append(w)
    rows = []
    for gpu, ws in sorted(by_gpu.items()):
        gps = [w.games_per_s for w in ws if w.games_per_s]
        dph = [w.dph_total for w in ws]
        ttfb = [w.first_batch_at - w.created_at for w in ws if w.first_batch_at is not None]
        med_gps, med_dph, med_ttfb = _median(gps), _median(dph), _median(ttfb)
        rows.append({
            "gpu_name": gpu, "workers": len(ws), "producing_workers": len(gps),
            "mean_gps": round(statistics.fmean(gps), 3) if gps else None,
            "median_gps": round(med_gps, 3) if med_gps else None,
            "median_dph": round(med_dph, 4) if med_dph is not None else None,
            "dollars_per_gps": round(med_dph / med_gps, 5) if med_gps and med_dph is not None else None,
            "median_time_to_first_batch_s": round(med_ttfb, 1) if med_ttfb is not None else None,
        })
    rows.sort(key=lambda r: (r["dollars_per_gps"] is None, r["dollars_per_gps"] or 0))
    return rows


def window_spend(events: Iterable[Mapping], workers: Iterable[WorkerRecord], since: float,
                 now: float) -> tuple[float, float]:
    """($ productive, $ overhead) spent inside [since, now], from the state timeline of every worker.

    The event log may start inside the window: the state before a worker's first event there is that
    event's `from`; a worker with no event in the window spent all of it in its record's state."""
    dph = {w.instance_id: w.dph_total for w in workers}
    states = {w.instance_id: w.state for w in workers if w.state_since <= since}
    by_instance: dict[int, list[Mapping]] = {}
    for e in events:
        if e.get("kind", "transition") in ("transition", "adopted") and e.get("to"):
            by_instance.setdefault(int(e["instance_id"]), []).append(e)
    productive = overhead = 0.0

    def add(state: WorkerState | None, start: float, end: float, rate: float) -> None:
        nonlocal productive, overhead
        start, end = max(start, since), min(end, now)
        if state is None or end <= start:
            return
        cost = rate * (end - start) / 3600.0
        if BILLING[state] is Billing.PRODUCTIVE:
            productive += cost
        elif BILLING[state] is Billing.OVERHEAD:
            overhead += cost

    for iid in set(dph) | set(by_instance):
        rate = dph.get(iid, 0.0)
        rows = sorted(by_instance.get(iid, []), key=lambda e: float(e["time"]))
        if not rows:
            add(states.get(iid), since, now, rate)
            continue
        before = rows[0].get("from")
        add(WorkerState(before) if before else None, since, float(rows[0]["time"]), rate)
        for n, e in enumerate(rows):
            state = WorkerState(e["to"])
            if state is WorkerState.GONE:
                break
            end = float(rows[n + 1]["time"]) if n + 1 < len(rows) else now
            add(state, float(e["time"]), end, rate)
    return productive, overhead


def fleet_stats(live: Iterable[WorkerRecord], retired: Iterable[WorkerRecord], events: Iterable[Mapping],
                strikes: int, *, now: float | None = None, since: float | None = None) -> dict:
    """Games/s now, $/hr, $/day, $/week, $ spent productive vs overhead, replacements and strikes.

    With `now` and `since`, "spent" is what the window cost (from the timeline); without, it is the
    lifetime cost the workers' records accrued. Events are rows of the event log, of any version zeb
    reads (zeb.codec.upgrade_event): replacements are counted by their code, never by their text."""
    live = list(live)
    events = [upgrade_event(e) for e in events if since is None or float(e.get("time", 0.0)) >= since]
    everyone = live + list(retired)
    producing = [w for w in live if w.state is WorkerState.PRODUCING]
    billed_live = [w for w in live if BILLING[w.state] is not Billing.NOT_BILLED]
    dph = sum(w.dph_total for w in billed_live)
    if now is not None and since is not None:
        productive, overhead = window_spend(events, everyone, since, now)
    else:
        productive = sum(w.cost_productive for w in everyone)
        overhead = sum(w.cost_overhead for w in everyone)
    spent = productive + overhead
    replacements = sum(1 for e in events if e.get("to") == WorkerState.DESTROYING.value
                       and e.get("code") in REPLACEMENT_KINDS)
    return {
        "games_per_s": round(sum(w.games_per_s or 0.0 for w in producing), 3),
        "producing": len(producing), "live": len(billed_live),
        "dph": round(dph, 4), "per_day": round(dph * 24, 2), "per_week": round(dph * 24 * 7, 2),
        "spent": round(spent, 4), "spent_productive": round(productive, 4), "spent_overhead": round(overhead, 4),
        "productive_share": round(productive / spent, 4) if spent else None,
        "replacements": replacements, "strikes": strikes,
    }


def expected_gps(gpu_name: str, machine_id: int | None, observed_by_machine: Mapping[int, float],
                 observed_by_gpu: Mapping[str, float], config_table: Mapping[str, float]) -> tuple[float, str]:
    """(games/s, source): observed on this machine, else on this GPU type, else the config table, else 1.8."""
    if machine_id is not None and observed_by_machine.get(machine_id):
        return float(observed_by_machine[machine_id]), "machine"
    if observed_by_gpu.get(gpu_name):
        return float(observed_by_gpu[gpu_name]), "gpu"
    if config_table.get(gpu_name):
        return float(config_table[gpu_name]), "config"
    return DEFAULT_GPS, "default"
