"""What `zeb report` shows, as plain data: the fleet over time rebuilt from the event log's state rows,
the replacement and strike markers, $/game/s per GPU type, market prices, machine reputations and the
cost totals (the same numbers as `zeb stats --since`).

Pure: event rows, worker records, market samples and host records in, `now` and `since` passed in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from zeb.core.lifecycle import BILLING, Billing, WorkerRecord, WorkerState
from zeb.plan.hosts import has_reputation, is_blocked, reputation
from zeb.plan.market import Sample
from zeb.plan.stats import LogWindow, fleet_stats, gpu_stats, read_window
from zeb.plan.types import HostRecord


@dataclass(frozen=True, slots=True)
class Point:
    """The fleet from `time` until the next point: producing workers, their games/s, and $/hr billed."""

    time: float
    producing: int
    games_per_s: float
    dph: float


@dataclass(frozen=True, slots=True)
class Marker:
    time: float
    kind: str            # "replacement" | "strike"
    label: str
    detail: str


@dataclass(frozen=True)
class ReportData:
    fleet: str
    since: float            # the window asked (`--since`): the totals cover all of it, as `zeb stats` does
    now: float
    target: int             # the configured target
    points: tuple[Point, ...]
    markers: tuple[Marker, ...]
    gpus: list[dict]
    market: dict[str, list[Sample]]
    machines: list[dict]
    totals: dict
    commits: list[dict] = field(default_factory=list)     # commit_rows(): the code the workers ran
    start: float | None = None      # where the charts start (chart_start); None: at `since`
    targets: tuple[tuple[float, int], ...] = ()          # the target rows the monitor logged (time, count)

    @property
    def shown_since(self) -> float:
        return self.since if self.start is None else self.start


def chart_start(since: float, now: float, first_row: float | None, records: Iterable[WorkerRecord]) -> float:
    """Where the charts' time axis starts: at `since`, unless the data begins later (the log's first row
    in the window and the fleet's first record both after it): then at the data, so a first report is
    not an empty stretch with the fleet squeezed against its right edge."""
    firsts = [t for t in (first_row, *(min(w.first_seen, w.created_at) for w in records)) if t is not None]
    if not firsts:
        return since
    return min(max(since, min(firsts)), now)


def target_line(targets: Sequence[tuple[float, int]], configured: int, start: float,
                now: float) -> tuple[list[tuple[float, int]], list[tuple[float, int]]]:
    """The target as the workers chart draws it: (the steps the monitor logged, each held until the next
    and the last until `now`; the configured target where nothing logged says otherwise: all of
    [start, now] with no row, else from `start` to the first row). Each a list of (time, count) for a
    post-step line; either may be empty."""
    rows = [(t, n) for t, n in targets if t <= now]
    if not rows:
        return [], [(start, configured), (now, configured)]
    before = [(t, n) for t, n in rows if t <= start]
    steps = [(start, before[-1][1])] if before else []
    for t, n in rows:
        if t > start and (not steps or steps[-1][1] != n):
            steps.append((t, n))
    steps.append((now, steps[-1][1]))
    fallback = [] if before else [(start, configured), (rows[0][0], configured)]
    return steps, fallback


def price_range(values: Iterable[float], margin: float = 0.1) -> tuple[float, float] | None:
    """A price axis fitted to the data with `margin` of its span either side (of the price itself when
    it is flat), never below 0; None with no value."""
    vs = [v for v in values if v is not None]
    if not vs:
        return None
    lo, hi = min(vs), max(vs)
    pad = (hi - lo) * margin or abs(hi) * margin or 0.01
    return max(0.0, lo - pad), hi + pad


def _billed(state: WorkerState) -> bool:
    return BILLING[state] is not Billing.NOT_BILLED


# Sums of games/s and $/hr are kept in integer units this small, so adding and taking away a worker at
# every change leaves no rounding drift however long the window (the points round far coarser).
_UNIT = 1e-9


def fleet_series(events: Iterable[Mapping] | LogWindow, records: Iterable[WorkerRecord], since: float,
                 now: float) -> tuple[Point, ...]:
    """One point at `since`, one at every state change in (since, now], one at `now`.

    As zeb.plan.stats.window_spend reads the window: the state before a worker's first row in the window
    is that row's `from`; a worker with no row in it was in its record's state all along (if that state
    began before the window). Games/s and $/hr per worker are its record's. `events` may be the rows or
    the LogWindow read_window made of them; the work is linear in the rows."""
    window = events if isinstance(events, LogWindow) else read_window(events, since)
    by_id = {w.instance_id: w for w in records}
    rows = {iid: [r for r in mine if since <= r[0] <= now] for iid, mine in window.states.items()}
    rows = {iid: mine for iid, mine in rows.items() if mine}
    state: dict[int, WorkerState] = {iid: w.state for iid, w in by_id.items()
                                     if w.state_since <= since and iid not in rows}
    changes: list[tuple[float, int, WorkerState]] = []
    for iid, mine in rows.items():
        if mine[0][1] is not None:
            state[iid] = mine[0][1]
        changes += [(t, iid, to) for t, _, to in mine]
    changes.sort(key=lambda c: c[0])

    gps = {iid: round((w.games_per_s or 0.0) / _UNIT) for iid, w in by_id.items()}
    dph = {iid: round(w.dph_total / _UNIT) for iid, w in by_id.items()}
    producing = billed = gps_sum = dph_sum = 0

    def place(iid: int, old: WorkerState | None, new: WorkerState) -> None:
        nonlocal producing, billed, gps_sum, dph_sum
        was, now_in = old is WorkerState.PRODUCING, new is WorkerState.PRODUCING
        if was != now_in:
            sign = 1 if now_in else -1
            producing += sign
            gps_sum += sign * gps.get(iid, 0)
        if iid in by_id:
            was, now_in = old is not None and _billed(old), _billed(new)
            if was != now_in:
                sign = 1 if now_in else -1
                billed += sign
                dph_sum += sign * dph[iid]

    for iid, s in state.items():
        place(iid, None, s)

    def point(t: float) -> Point:
        return Point(t, producing, round(gps_sum * _UNIT, 4), round(dph_sum * _UNIT, 5))

    points = [point(since)]
    n = 0
    while n < len(changes):
        t = changes[n][0]
        while n < len(changes) and changes[n][0] == t:     # simultaneous changes make one point
            _, iid, to = changes[n]
            place(iid, state.get(iid), to)
            state[iid] = to
            n += 1
        points.append(point(t))
    points.append(point(now))
    return tuple(points)


def markers(events: Iterable[Mapping] | LogWindow, since: float, now: float) -> tuple[Marker, ...]:
    """Replacements (destroy transitions whose code is a replacement kind) and strikes (action rows)."""
    window = events if isinstance(events, LogWindow) else read_window(events, since)
    out = [Marker(*m) for m in window.marks if since <= m[0] <= now]
    return tuple(sorted(out, key=lambda m: m.time))


# A chart is 11 inches wide: ~1,000 pixels. More points or marker lines than that draw nothing more but
# cost seconds to draw and megabytes of SVG on a long window (400,000 log lines hold ~100 days).
PLOT_BINS = 1000


def thin_points(points: Sequence[Point], since: float, now: float, bins: int = PLOT_BINS) -> tuple[Point, ...]:
    """At most ~2 points per 1/bins of the window: in each bin the first point, and the lowest and the
    highest producing count it reached (so a dip or a peak the step plot would show is still drawn)."""
    if len(points) <= 2 * bins or now <= since:
        return tuple(points)
    width = (now - since) / bins
    out: list[Point] = []
    bucket: list[Point] = []
    current = None
    for p in [*points, None]:
        b = None if p is None else int((p.time - since) // width)
        if bucket and b != current:
            keep = {id(bucket[0]): bucket[0], id(min(bucket, key=lambda q: q.producing)): None,
                    id(max(bucket, key=lambda q: q.producing)): None}
            out += [q for q in bucket if id(q) in keep]
            bucket = []
        if p is not None:
            current = b
            bucket.append(p)
    return tuple(out)


def thin_markers(found: Sequence[Marker], since: float, now: float, bins: int = PLOT_BINS) -> tuple[Marker, ...]:
    """One marker per kind per 1/bins of the window (the first): the lines a chart can tell apart."""
    if len(found) <= bins or now <= since:
        return tuple(found)
    width = (now - since) / bins
    seen: set[tuple[str, int]] = set()
    out = []
    for m in found:
        key = (m.kind, int((m.time - since) // width))
        if key not in seen:
            seen.add(key)
            out.append(m)
    return tuple(out)


def commit_rows(workers: Iterable[WorkerRecord], since: float) -> list[dict]:
    """The code the window's workers ran, newest first: per commit (the onstart's `code at <sha>`), when
    it was first seen, how many workers ran it, how many produced and how many ended on an error. A
    commit every worker crashed on stands out next to the one before it that produced."""
    by: dict[str, dict] = {}
    for w in workers:
        if not w.commit or max(w.state_since, w.first_seen) < since:
            continue
        row = by.setdefault(w.commit, {"commit": w.commit, "first_seen": w.first_seen, "workers": 0,
                                       "produced": 0, "failed": 0})
        row["first_seen"] = min(row["first_seen"], w.first_seen)
        row["workers"] += 1
        row["produced"] += w.first_batch_at is not None or w.last_batch is not None
        row["failed"] += bool(w.fatal_kind) and w.first_batch_at is None
    return sorted(by.values(), key=lambda r: r["first_seen"], reverse=True)


def machine_rows(hosts: Mapping[int, HostRecord], threshold: int, now: float) -> list[dict]:
    """The reputation table, as `zeb blacklist --all` lists it: machines with strikes or a reputation."""
    rows: list[dict] = []
    for machine_id, rec in sorted(hosts.items()):
        if not (rec.strikes or has_reputation(rec)):
            continue
        rep = reputation(rec, now)
        rows.append({"machine_id": machine_id, "gpu_name": rec.gpu_name, "strikes": len(rec.strikes),
                     "blocked": is_blocked(rec, threshold, now), "p_produce": round(rep.p_produce, 3),
                     "boots_ok": round(rep.boots_ok, 2), "boots_failed": round(rep.boots_failed, 2),
                     "stalls": round(rep.stalls, 2), "errors": round(rep.errors, 2),
                     "games_per_s": rep.games_per_s, "last_error": rep.last_error or ""})
    rows.sort(key=lambda r: (-r["p_produce"], r["machine_id"]))
    return rows


def market_by_gpu(samples: Sequence[Sample]) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = {}
    for s in sorted(samples, key=lambda s: s.time):
        out.setdefault(s.gpu_name, []).append(s)
    return dict(sorted(out.items()))


def assemble(fleet: str, target: int, events: Iterable[Mapping] | LogWindow, live: Sequence[WorkerRecord],
             retired: Sequence[WorkerRecord] | None, samples: Sequence[Sample], hosts: Mapping[int, HostRecord],
             strikes: int, threshold: int, *, now: float, since: float) -> ReportData:
    """Everything the report draws. `events` are the rows since `since` (what `zeb stats` reads), or the
    LogWindow read_window made of them in one pass; `retired` None takes the window's retired records."""
    window = events if isinstance(events, LogWindow) else read_window(events, since)
    retired = window.retired if retired is None else retired
    everyone = list(live) + list(retired)
    return ReportData(
        start=chart_start(since, now, window.first, everyone), targets=tuple(window.targets),
        fleet=fleet, since=since, now=now, target=target,
        points=fleet_series(window, everyone, since, now),
        markers=markers(window, since, now),
        gpus=gpu_stats(everyone, since=since),
        market=market_by_gpu(samples),
        machines=machine_rows(hosts, threshold, now),
        totals=fleet_stats(live, retired, window, strikes, now=now, since=since),
        commits=commit_rows(everyone, since),
    )
