"""The runbook's stats-tracker table, made permanent: per GPU type and per fleet, and the expected
games/s that offer ranking uses (observed per machine, else per GPU, else the config table, else 1.8).

Pure: worker records and event dicts in, plain dicts out; `now` and `since` are passed in."""

from __future__ import annotations

import statistics
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from zeb.core.events import upgrade_event
from zeb.core.lifecycle import BILLING, Billing, WorkerRecord, WorkerState, record_from_dict
from zeb.plan.timeline import STATE_KINDS
from zeb.plan.types import REPLACEMENT_KINDS

DESTROYING = WorkerState.DESTROYING.value

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


StateRow = tuple[float, "WorkerState | None", WorkerState]      # (time, from, to): one state row of a worker
_STATES = {s.value: s for s in WorkerState}


@dataclass
class LogWindow:
    """The event log's window reduced, in one pass, to what the stats and the report read of it: each
    worker's state rows (time, from, to) in log order, the replacements counted by code, the retired
    workers' final records, the rows the report marks (replacement, strike), the time of the first row
    and the monitor's target rows (time, count). A few numbers per row are kept, never the rows: a log
    of months is read in bounded memory."""

    since: float | None = None
    states: dict[int, list[StateRow]] = field(default_factory=dict)
    replacements: int = 0
    retired: list[WorkerRecord] = field(default_factory=list)
    marks: list[tuple[float, str, str, str]] = field(default_factory=list)   # (time, kind, label, detail)
    first: float | None = None                                                # the first row's time
    targets: list[tuple[float, int]] = field(default_factory=list)           # (time, count), log order


def _label(e: Mapping) -> str:
    return sys.intern(str(e.get("label") or e.get("instance_id") or ""))


def read_window(events: Iterable[Mapping], since: float | None = None) -> LogWindow:
    """One pass over event rows (any version zeb reads: zeb.core.events.upgrade_event) at or after `since`."""
    out = LogWindow(since=since)
    states = out.states
    for row in events:
        e = upgrade_event(row)
        t = float(e.get("time", 0.0))
        if since is not None and t < since:
            continue
        if out.first is None or t < out.first:
            out.first = t
        kind = e.get("kind", "transition")
        to = e.get("to")
        if kind in STATE_KINDS and to and e.get("instance_id") is not None:
            iid = int(e["instance_id"])
            before = e.get("from")
            states.setdefault(iid, []).append((t, _STATES[before] if before else None, _STATES[to]))
        replacement = to == DESTROYING and e.get("code") in REPLACEMENT_KINDS     # by code, whatever the kind
        out.replacements += replacement
        if replacement and kind == "transition":
            out.marks.append((t, "replacement", _label(e), sys.intern(e.get("detail", ""))))
        elif kind == "action" and e.get("strike"):
            out.marks.append((t, "strike", _label(e),
                              sys.intern(f"machine {e.get('machine_id', '?')}: {e.get('detail', '')}")))
        elif kind == "target" and e.get("target") is not None:
            out.targets.append((t, int(e["target"])))
        elif kind == "retired" and e.get("record"):
            # Labels, GPU names and errors repeat across thousands of records: one copy of each string.
            out.retired.append(record_from_dict({k: sys.intern(v) if type(v) is str else v
                                                 for k, v in e["record"].items()}))
    for rows in states.values():
        rows.sort(key=lambda r: r[0])   # stable: rows of one time keep their log order
    out.targets.sort(key=lambda r: r[0])
    return out


def window_spend(events: Iterable[Mapping] | LogWindow, workers: Iterable[WorkerRecord], since: float,
                 now: float) -> tuple[float, float]:
    """($ productive, $ overhead) spent inside [since, now], from the state timeline of every worker.

    The event log may start inside the window: the state before a worker's first event there is that
    event's `from`; a worker with no event in the window spent all of it in its record's state."""
    window = events if isinstance(events, LogWindow) else read_window(events)
    dph = {w.instance_id: w.dph_total for w in workers}
    states = {w.instance_id: w.state for w in workers if w.state_since <= since}
    by_instance = window.states
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
        rows = by_instance.get(iid, [])
        if not rows:
            add(states.get(iid), since, now, rate)
            continue
        add(rows[0][1], since, rows[0][0], rate)
        for n, (t, _, state) in enumerate(rows):
            if state is WorkerState.GONE:
                break
            end = rows[n + 1][0] if n + 1 < len(rows) else now
            add(state, t, end, rate)
    return productive, overhead


def fleet_stats(live: Iterable[WorkerRecord], retired: Iterable[WorkerRecord],
                events: Iterable[Mapping] | LogWindow, strikes: int, *, now: float | None = None,
                since: float | None = None) -> dict:
    """Games/s now, $/hr, $/day, $/week, $ spent productive vs overhead, replacements and strikes.

    With `now` and `since`, "spent" is what the window cost (from the timeline); without, it is the
    lifetime cost the workers' records accrued. Events are rows of the event log, of any version zeb
    reads (zeb.core.events.upgrade_event), or the LogWindow read_window made of them at `since`: replacements
    are counted by their code, never by their text."""
    live = list(live)
    window = events if isinstance(events, LogWindow) else read_window(events, since)
    everyone = live + list(retired)
    producing = [w for w in live if w.state is WorkerState.PRODUCING]
    billed_live = [w for w in live if BILLING[w.state] is not Billing.NOT_BILLED]
    dph = sum(w.dph_total for w in billed_live)
    if now is not None and since is not None:
        productive, overhead = window_spend(window, everyone, since, now)
    else:
        productive = sum(w.cost_productive for w in everyone)
        overhead = sum(w.cost_overhead for w in everyone)
    spent = productive + overhead
    return {
        "games_per_s": round(sum(w.games_per_s or 0.0 for w in producing), 3),
        "producing": len(producing), "live": len(billed_live),
        "dph": round(dph, 4), "per_day": round(dph * 24, 2), "per_week": round(dph * 24 * 7, 2),
        "spent": round(spent, 4), "spent_productive": round(productive, 4), "spent_overhead": round(overhead, 4),
        "productive_share": round(productive / spent, 4) if spent else None,
        "replacements": window.replacements, "strikes": strikes,
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
