"""The report and `zeb stats` read the event log in one pass (zeb.plan.stats.read_window): the series, the
markers and the totals built from that pass equal a plain walk over every worker at every change, and the
rows are consumed once, as a stream."""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from zeb.core.lifecycle import BILLING, Billing, WorkerRecord, WorkerState
from zeb.plan.report import Point, assemble, fleet_series, markers
from zeb.plan.stats import fleet_stats, read_window
from zeb.storage.codec import event_row

T0 = 1_000_000.0
END = T0 + 10_000
STATES = [WorkerState.PENDING, WorkerState.BOOTING, WorkerState.PRODUCING, WorkerState.STALLED,
          WorkerState.DESTROYING, WorkerState.GONE]


class Once:
    """An iterable that can be walked once: a second pass is a failure, as a second read of a stream is."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows
        self.used = False

    def __iter__(self) -> Iterator[dict]:
        assert not self.used, "the rows were read twice"
        self.used = True
        return iter(self.rows)


@st.composite
def logs(draw):
    """Workers with records and a time-ordered log of their state changes (some rows before the window)."""
    n = draw(st.integers(1, 6))
    records, rows = [], []
    for iid in range(1, n + 1):
        times = sorted(draw(st.lists(st.integers(0, 10_000), max_size=6)))
        path = [draw(st.sampled_from(STATES)) for _ in times]
        before = draw(st.sampled_from([None, *STATES]))
        for t, to in zip(times, path):
            rows.append(event_row(T0 + t, "transition", "replace" if to is WorkerState.DESTROYING else to.value,
                                  "", instance_id=iid, label=f"w-{iid}",
                                  from_state=before.value if before else None, to=to.value))
            before = to
        last = path[-1] if path else draw(st.sampled_from(STATES))
        records.append(WorkerRecord(
            instance_id=iid, label=f"w-{iid}", machine_id=iid, gpu_name="RTX 3060",
            dph_total=draw(st.sampled_from([0.05, 0.0713, 0.1, 0.125])), created_at=T0, state=last,
            state_since=T0 + (times[-1] if times else draw(st.integers(-500, 500))), first_seen=T0,
            games_per_s=draw(st.sampled_from([None, 1.5, 2.25, 3.1]))))
    rows.sort(key=lambda r: r["time"])
    since = T0 + draw(st.integers(0, 5_000))
    return rows, records, since


def _walk(rows: list[dict], records: list[WorkerRecord], since: float, now: float) -> list[Point]:
    """The oracle: at every point's time, every worker's state from scratch, summed in full."""
    by_id = {w.instance_id: w for w in records}
    inside = [r for r in rows if since <= r["time"] <= now]
    times = sorted({r["time"] for r in inside})

    def state_at(iid: int, t: float, first: bool) -> WorkerState | None:
        mine = [r for r in inside if r["instance_id"] == iid]
        if not mine:
            w = by_id.get(iid)
            return w.state if w is not None and w.state_since <= since else None
        passed = [] if first else [r for r in mine if r["time"] <= t]     # the first point: before any row
        if passed:
            return WorkerState(passed[-1]["to"])
        return WorkerState(mine[0]["from"]) if mine[0].get("from") else None

    ids = set(by_id) | {r["instance_id"] for r in inside}
    out = []
    for n, t in enumerate([since, *times, now]):
        states = {iid: state_at(iid, t, n == 0) for iid in ids}
        producing = [iid for iid, s in states.items() if s is WorkerState.PRODUCING]
        billed = [iid for iid, s in states.items() if s is not None and iid in by_id
                  and BILLING[s] is not Billing.NOT_BILLED]
        gps = sum(by_id[i].games_per_s or 0.0 for i in producing if i in by_id)
        dph = sum(by_id[i].dph_total for i in billed)
        out.append(Point(t, len(producing), round(gps, 4), round(dph, 5)))
    return out


@settings(max_examples=300, deadline=None)
@given(logs())
def test_the_series_equals_a_walk_over_every_worker(case):
    rows, records, since = case
    assert list(fleet_series(rows, records, since, END)) == _walk(rows, records, since, END)


@settings(max_examples=100, deadline=None)
@given(logs())
def test_one_pass_gives_what_the_rows_give(case):
    rows, records, since = case
    window = read_window(Once(rows), since)
    assert fleet_series(window, records, since, END) == fleet_series(rows, records, since, END)
    assert markers(window, since, END) == markers(rows, since, END)
    assert fleet_stats(records, [], window, 0, now=END, since=since) == \
        fleet_stats(records, [], rows, 0, now=END, since=since)


def test_the_window_keeps_numbers_not_rows():
    rows = [event_row(T0 + n, "transition", "producing", "x" * 500, instance_id=1, label="w-1",
                      from_state="booting", to="producing") for n in range(3)]
    window = read_window(iter(rows), T0 + 1)
    assert window.states == {1: [(T0 + 1, WorkerState.BOOTING, WorkerState.PRODUCING),
                                 (T0 + 2, WorkerState.BOOTING, WorkerState.PRODUCING)]}
    assert window.marks == [] and window.replacements == 0


def test_assemble_from_a_stream_takes_the_retired_records_from_it():
    rec = WorkerRecord(instance_id=7, label="w-7", machine_id=7, gpu_name="RTX 3060", dph_total=0.1,
                       created_at=T0, state=WorkerState.GONE, state_since=T0 + 50, first_seen=T0, games_per_s=2.0)
    from zeb.core.lifecycle import record_to_dict
    rows = [event_row(T0 + 10, "transition", "replace", "stalled", instance_id=7, label="w-7",
                      from_state="producing", to="destroying"),
            event_row(T0 + 50, "retired", "retired", "", instance_id=7, label="w-7", record=record_to_dict(rec))]
    data = assemble("zeb", 1, read_window(Once(rows), T0), [], None, [], {}, 0, 3, now=END, since=T0)
    assert data.totals["replacements"] == 1 and [m.kind for m in data.markers] == ["replacement"]
    assert data.gpus[0]["workers"] == 1
