"""A worker's timeline from its events: each state with its start, duration, billing class and cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from zeb.lifecycle import BILLING, Billing, WorkerState

STATE_KINDS = ("transition", "adopted")


@dataclass(frozen=True)
class Span:
    state: str
    start: float
    end: float
    billing: str
    cost: float
    reason: str = ""
    evidence: str = ""

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Timeline:
    spans: tuple[Span, ...]
    productive: float
    overhead: float

    @property
    def wall(self) -> float:
        return self.spans[-1].end - self.spans[0].start if self.spans else 0.0


def timeline(events: Iterable[Mapping], now: float, dph_total: float) -> Timeline:
    rows = sorted((e for e in events if e.get("kind", "transition") in STATE_KINDS), key=lambda e: float(e["time"]))
    spans: list[Span] = []
    for n, e in enumerate(rows):
        state = e["to"]
        start = float(e["time"])
        if state == WorkerState.GONE.value:
            end = start
        else:
            end = float(rows[n + 1]["time"]) if n + 1 < len(rows) else max(start, now)
        billing = BILLING[WorkerState(state)]
        cost = 0.0 if billing is Billing.NOT_BILLED else dph_total * (end - start) / 3600.0
        spans.append(Span(state, start, end, billing.value, cost, e.get("reason", ""), e.get("evidence", "")))
    productive = sum(s.cost for s in spans if s.billing == Billing.PRODUCTIVE.value)
    overhead = sum(s.cost for s in spans if s.billing == Billing.OVERHEAD.value)
    return Timeline(tuple(spans), productive, overhead)


def instance_for(events: Iterable[Mapping], worker: str) -> int | None:
    """An instance id, or the newest instance (latest first event) that carried a label."""
    if worker.isdigit():
        return int(worker)
    first_seen: dict[int, float] = {}
    for e in events:
        if e.get("label") == worker and e.get("instance_id") is not None:
            iid = int(e["instance_id"])
            first_seen[iid] = min(first_seen.get(iid, float("inf")), float(e["time"]))
    return max(first_seen, key=lambda i: (first_seen[i], i)) if first_seen else None
