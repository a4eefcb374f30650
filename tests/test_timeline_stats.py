"""Timelines from events (spans tile the wall time, cost = dph x billed time) and the stats tables."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeb.core.lifecycle import BILLING, Billing, new_record, transition
from zeb.core.lifecycle import WorkerState as S
from zeb.plan.stats import (
    expected_gps,
    fleet_stats,
    gpu_stats,
    window_spend,
)
from zeb.plan.timeline import instance_for, timeline
from zeb.storage.codec import transition_row

T0 = 1_780_000_000.0
DPH = 0.36  # $0.0001 per second


def ev(t, to, frm=None, iid=1, label="zeb-worker-vast-0", kind="transition", reason="r"):
    return {"time": T0 + t, "instance_id": iid, "label": label, "machine_id": 7, "from": frm, "to": to,
            "reason": reason, "evidence": "", "kind": kind}


LIFE = [ev(0, "pending", kind="adopted"), ev(100, "booting", "pending"), ev(400, "setup", "booting"),
        ev(700, "loading_model", "setup"), ev(800, "producing", "loading_model")]


def test_spans_tile_the_wall_time_and_cost_follows_billing():
    tl = timeline(LIFE, T0 + 4400, DPH)
    assert [(s.state, s.duration) for s in tl.spans] == [
        ("pending", 100), ("booting", 300), ("setup", 300), ("loading_model", 100), ("producing", 3600)]
    assert tl.spans[0].cost == 0.0 and tl.spans[0].billing == "not_billed"
    assert tl.productive == pytest.approx(0.36)
    assert tl.overhead == pytest.approx(DPH * 700 / 3600)
    assert tl.wall == 4400 and tl.billed == 4300
    assert tl.seconds_in(S.PRODUCING) == 3600
    totals = tl.totals()
    assert totals["wall_s"] == 4400 and totals["spent"] == pytest.approx(0.43, abs=1e-5)
    assert totals["productive_share"] == pytest.approx(0.36 / 0.43, abs=1e-4)


def test_gone_closes_the_timeline_and_later_events_do_not_reopen_it():
    events = LIFE + [ev(1000, "destroying", "producing"), ev(1010, "gone", "destroying"),
                     ev(2000, "producing", "gone")]
    tl = timeline(events, T0 + 99_999, DPH)
    assert tl.spans[-1].state == "gone" and tl.spans[-1].duration == 0
    assert tl.wall == 1010
    assert tl.spans[-2].state == "destroying" and tl.spans[-2].duration == 10


def test_anomalies_and_unsorted_input_and_event_objects():
    rec = new_record(1, "zeb-worker-vast-0", 7, "RTX 3070", DPH, T0, T0)
    rec, e1 = transition(rec, S.BOOTING, T0 + 60, "observed booting")
    rec, legal = transition(rec, S.PRODUCING, T0 + 90, "observed producing")    # booting -> producing: legal
    rec, bad = transition(rec, S.PENDING, T0 + 120, "observed pending")          # producing -> pending is not
    assert bad[0].kind == "anomaly"
    events = [*bad, *legal, ev(0, "pending", kind="adopted"), *e1]   # mixed Event objects and dicts, unsorted
    tl = timeline(events, T0 + 180, DPH)
    assert [s.state for s in tl.spans] == ["pending", "booting", "producing"]
    assert sum(s.duration for s in tl.spans) == 180


def test_now_before_the_last_event_gives_no_negative_span():
    tl = timeline(LIFE, T0 + 500, DPH)   # a clock behind the log must not make a negative duration
    assert all(s.duration >= 0 for s in tl.spans)


def test_empty_timeline():
    tl = timeline([], T0, DPH)
    assert tl.spans == () and tl.wall == 0 and tl.productive == tl.overhead == 0


def test_instance_for_picks_the_newest_instance_of_a_label():
    events = [ev(0, "pending", iid=5), ev(500, "pending", iid=9), ev(600, "booting", iid=5)]
    assert instance_for(events, "zeb-worker-vast-0") == 9
    assert instance_for(events, "12345") == 12345
    assert instance_for(events, "zeb-worker-vast-3") is None


STATES = st.sampled_from([s.value for s in S if s is not S.GONE])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(STATES, st.floats(min_value=0, max_value=5000)), min_size=1, max_size=30),
       st.floats(min_value=0, max_value=5000), st.booleans(), st.floats(min_value=0.01, max_value=2.0))
def test_durations_add_up_and_cost_is_rate_times_billed_time(steps, tail, gone, dph):
    events, t = [], 0.0
    for state, dt in steps:
        events.append(ev(t, state))
        t += dt
    if gone:
        events.append(ev(t, "gone"))
    now = T0 + t + tail
    tl = timeline(events, now, dph)
    end = T0 + t if gone else now
    assert sum(s.duration for s in tl.spans) == pytest.approx(end - T0)
    assert tl.wall == pytest.approx(end - T0)
    billed = sum(s.duration for s in tl.spans if BILLING[S(s.state)] is not Billing.NOT_BILLED)
    assert tl.productive + tl.overhead == pytest.approx(dph * billed / 3600)
    productive = sum(s.duration for s in tl.spans if s.state == "producing")
    assert tl.productive == pytest.approx(dph * productive / 3600)


# -- stats ---------------------------------------------------------------------------------------------

def rec(iid, gpu, dph, gps, *, machine=None, state=S.PRODUCING, ttfb=600.0, since=T0, **kw):
    r = new_record(iid, f"zeb-worker-vast-{iid}", machine or 100 + iid, gpu, dph, T0, T0)
    return dataclasses.replace(r, state=state, state_since=since, games_per_s=gps,
                               first_batch_at=T0 + ttfb if gps else None, **kw)


def test_gpu_stats_table():
    workers = [rec(1, "RTX 4070 Ti", 0.08, 4.2), rec(2, "RTX 4070 Ti", 0.09, 4.0, ttfb=900),
               rec(3, "RTX 4070 Ti", 0.074, 4.1, ttfb=300), rec(4, "RTX 3070", 0.06, 2.0),
               rec(5, "RTX 3060", 0.05, None, state=S.BOOTING)]
    rows = gpu_stats(workers)
    assert [r["gpu_name"] for r in rows] == ["RTX 4070 Ti", "RTX 3070", "RTX 3060"]
    ti = rows[0]
    assert ti["workers"] == 3 and ti["producing_workers"] == 3
    assert ti["mean_gps"] == pytest.approx(4.1) and ti["median_gps"] == 4.1
    assert ti["median_dph"] == 0.08 and ti["dollars_per_gps"] == pytest.approx(0.08 / 4.1, abs=1e-5)
    assert ti["median_time_to_first_batch_s"] == 600
    assert rows[2]["median_gps"] is None and rows[2]["dollars_per_gps"] is None


def test_gpu_stats_window_drops_workers_gone_before_it():
    old = rec(1, "RTX 3080", 0.08, 3.0, state=S.GONE, since=T0 + 100)
    assert gpu_stats([old], since=T0 + 50)[0]["workers"] == 1
    assert gpu_stats([old], since=T0 + 200) == []


def test_fleet_stats_lifetime():
    live = [rec(1, "RTX 3070", 0.1, 2.0, cost_productive=1.0, cost_overhead=0.2),
            rec(2, "RTX 3070", 0.2, None, state=S.SETUP, cost_overhead=0.1),
            rec(3, "RTX 3070", 0.3, None, state=S.PENDING)]
    retired = [rec(4, "RTX 3080", 0.1, 3.0, state=S.GONE, cost_productive=0.5, cost_overhead=0.2)]
    events = [ev(10, "destroying", "stalled", iid=4, reason="replace: stalled"),
              ev(20, "destroying", "producing", iid=9, reason="scale_down: too many"),
              ev(30, "destroying", "producing", iid=8, reason="cost: over the limit")]
    f = fleet_stats(live, retired, events, strikes=2)
    assert f["games_per_s"] == 2.0 and f["producing"] == 1 and f["live"] == 2
    assert f["dph"] == pytest.approx(0.3) and f["per_day"] == pytest.approx(7.2) and f["per_week"] == 50.4
    assert f["spent"] == pytest.approx(2.0) and f["productive_share"] == pytest.approx(0.75)
    assert f["replacements"] == 2 and f["strikes"] == 2


def test_fleet_stats_window_spend_from_the_timeline():
    # Worker 1 produced the whole window with no event in it; worker 2's log starts inside the window
    # (its first event says it was booting before); worker 3 was gone before the window.
    w1 = rec(1, "RTX 3070", 0.36, 2.0, since=T0 - 7200)
    w2 = rec(2, "RTX 3070", 0.36, 2.0, since=T0 + 1800)
    w3 = rec(3, "RTX 3070", 0.36, 2.0, state=S.GONE, since=T0 - 10)
    events = [ev(1800, "producing", "booting", iid=2)]
    productive, overhead = window_spend(events, [w1, w2, w3], T0, T0 + 3600)
    assert productive == pytest.approx(0.36 + 0.18) and overhead == pytest.approx(0.18)
    f = fleet_stats([w1, w2], [w3], events, 0, now=T0 + 3600, since=T0)
    assert f["spent"] == pytest.approx(0.72) and f["productive_share"] == pytest.approx(0.75)


def test_fleet_stats_window_ignores_older_replacements():
    events = [ev(-100, "destroying", "stalled", iid=4, reason="replace: stalled"),
              ev(100, "destroying", "stalled", iid=5, reason="replace: stalled")]
    assert fleet_stats([], [], events, 0, now=T0 + 200, since=T0)["replacements"] == 1


def test_empty_fleet_stats():
    f = fleet_stats([], [], [], 0)
    assert f["productive_share"] is None and f["games_per_s"] == 0 and f["dph"] == 0


def test_expected_gps_sources_in_order():
    table = {"RTX 3070": 2.2}
    assert expected_gps("RTX 3070", 7, {7: 2.9}, {"RTX 3070": 2.5}, table) == (2.9, "machine")
    assert expected_gps("RTX 3070", 8, {7: 2.9}, {"RTX 3070": 2.5}, table) == (2.5, "gpu")
    assert expected_gps("RTX 3070", None, {}, {}, table) == (2.2, "config")
    assert expected_gps("RTX 3060", 7, {}, {}, table) == (1.8, "default")


def test_event_objects_round_trip_into_stats_inputs():
    r = new_record(1, "zeb-worker-vast-0", 7, "RTX 3070", DPH, T0, T0)
    r, evs = transition(r, S.PRODUCING, T0 + 60, "observed producing")
    d = transition_row(evs[0])
    assert set(d) == {"v", "time", "instance_id", "label", "machine_id", "from", "to", "code", "detail", "evidence",
                      "kind"}
    assert window_spend([d], [r], T0, T0 + 3660) == pytest.approx((0.36, 0.0))
