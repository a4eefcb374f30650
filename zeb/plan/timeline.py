"""A worker's timeline from its events: each state with its start, duration, billing class and cost.

Pure: events in (the store's JSON-line dicts or lifecycle.Event objects), `now` passed in. The spans
tile the wall time from the first event to `now` (or to the worker's `gone` event) without gaps, so the
durations always add up and the cost split is dph_total x billed time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from zeb.core.events import transition_row, upgrade_event
from zeb.core.lifecycle import BILLING, Billing, Event, WorkerState

# Event kinds that set a state; "anomaly" events record a refused transition and change nothing.
STATE_KINDS = ("transition", "adopted")

EventLike = Mapping | Event


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

    def to_dict(self) -> dict:
        return {"state": self.state, "start": self.start, "duration_s": round(self.duration, 1),
                "billing": self.billing, "cost": round(self.cost, 5), "reason": self.reason,
                "evidence": self.evidence}


@dataclass(frozen=True)
class Timeline:
    spans: tuple[Span, ...]
    productive: float
    overhead: float

    @property
    def wall(self) -> float:
        return self.spans[-1].end - self.spans[0].start if self.spans else 0.0

    @property
    def billed(self) -> float:
        """Seconds spent in billed states (productive or overhead)."""
        return sum(s.duration for s in self.spans if s.billing != Billing.NOT_BILLED.value)

    def seconds_in(self, state: WorkerState | str) -> float:
        name = state.value if isinstance(state, WorkerState) else state
        return sum(s.duration for s in self.spans if s.state == name)

    def totals(self) -> dict:
        spent = self.productive + self.overhead
        return {"productive": round(self.productive, 5), "overhead": round(self.overhead, 5),
                "spent": round(spent, 5), "productive_share": round(self.productive / spent, 4) if spent else None,
                "wall_s": round(self.wall, 1), "billed_s": round(self.billed, 1)}


def _as_dict(e: EventLike) -> Mapping:
    return transition_row(e) if isinstance(e, Event) else upgrade_event(e)


def _why(e: Mapping) -> str:
    """The reason a span began: its detail, after the destroy's kind for a destroy ("replace: stalled")."""
    code, detail = e.get("code") or "", e.get("detail", "")
    if e.get("to") == WorkerState.DESTROYING.value and code not in ("", WorkerState.DESTROYING.value):
        return f"{code}: {detail}"
    return detail


def timeline(events: Iterable[EventLike], now: float, dph_total: float) -> Timeline:
    rows = sorted((d for d in map(_as_dict, events) if d.get("kind", "transition") in STATE_KINDS),
                  key=lambda d: float(d["time"]))
    spans: list[Span] = []
    for n, e in enumerate(rows):
        state = WorkerState(e["to"])
        start = float(e["time"])
        if state is WorkerState.GONE:
            # Terminal: nothing after it counts (a late duplicate event must not reopen the worker).
            spans.append(Span(state.value, start, start, BILLING[state].value, 0.0, _why(e),
                              e.get("evidence", "")))
            break
        end = float(rows[n + 1]["time"]) if n + 1 < len(rows) else max(start, now)
        billing = BILLING[state]
        cost = 0.0 if billing is Billing.NOT_BILLED else dph_total * (end - start) / 3600.0
        spans.append(Span(state.value, start, end, billing.value, cost, _why(e), e.get("evidence", "")))
    productive = sum(s.cost for s in spans if s.billing == Billing.PRODUCTIVE.value)
    overhead = sum(s.cost for s in spans if s.billing == Billing.OVERHEAD.value)
    return Timeline(tuple(spans), productive, overhead)


def instance_for(events: Iterable[EventLike], worker: str) -> int | None:
    """An instance id, or the newest instance (latest first event) that carried a label."""
    if worker.isdigit():
        return int(worker)
    first_seen: dict[int, float] = {}
    for e in map(_as_dict, events):
        if e.get("label") == worker and e.get("instance_id") is not None:   # launch actions carry no id yet
            iid = int(e["instance_id"])
            first_seen[iid] = min(first_seen.get(iid, float("inf")), float(e["time"]))
    return max(first_seen, key=lambda i: (first_seen[i], i)) if first_seen else None
