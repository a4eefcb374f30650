"""The worker lifecycle: every (from, to) pair of the transition table, billing, and properties of
random observation sequences (never an illegal state, durations add up, costs add up)."""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeb.core.lifecycle import (
    BILLING,
    LEGAL_TRANSITIONS,
    Billing,
    Observation,
    apply_observation,
    is_legal,
    is_live,
    is_terminal,
    mark_destroying,
    mark_gone,
    new_record,
    record_from_dict,
    record_to_dict,
    transition,
)
from zeb.core.lifecycle import (
    WorkerState as S,
)
from zeb.plan.timeline import timeline
from zeb.storage.codec import transition_event as event_from_dict
from zeb.storage.codec import transition_row as event_to_dict

NOW = 1_780_000_000.0


def _rec(state: S, **kw):
    rec = new_record(1, "zeb-worker-vast-0", 77, "RTX 3070", 0.36, NOW - 3600, NOW - 100)
    return dataclasses.replace(rec, state=state, **kw)


@pytest.mark.parametrize("src,dst", list(itertools.product(list(S), list(S))))
def test_every_pair(src, dst):
    rec = _rec(src)
    new, events = transition(rec, dst, NOW, "test", "line")
    if src is dst:
        assert new.state is src and events == []
    elif dst in LEGAL_TRANSITIONS[src]:
        assert new.state is dst and new.state_since == NOW
        assert [e.kind for e in events] == ["transition"]
        assert events[0].from_state is src and events[0].to_state is dst
    else:
        assert new.state is src and new.state_since == rec.state_since
        assert [e.kind for e in events] == ["anomaly"]


def test_table_shape():
    assert LEGAL_TRANSITIONS[S.GONE] == frozenset()
    assert LEGAL_TRANSITIONS[S.DESTROYING] == frozenset({S.GONE})
    for live in (S.PENDING, S.BOOTING, S.SETUP, S.LOADING_MODEL, S.PRODUCING, S.STALLED):
        assert {S.ERROR, S.STOPPED, S.DESTROYING, S.GONE} <= LEGAL_TRANSITIONS[live]
    assert [s for s in S if S.STALLED in LEGAL_TRANSITIONS[s]] == [S.PRODUCING]
    assert not is_legal(S.PRODUCING, S.BOOTING)
    assert is_legal(S.PENDING, S.PRODUCING)  # polls are coarse: forward moves may skip


def test_billing_classes():
    assert BILLING[S.PRODUCING] is Billing.PRODUCTIVE
    assert BILLING[S.PENDING] is Billing.NOT_BILLED and BILLING[S.GONE] is Billing.NOT_BILLED
    assert all(BILLING[s] is Billing.OVERHEAD for s in (S.BOOTING, S.SETUP, S.LOADING_MODEL, S.STALLED, S.ERROR))


def _obs(state, batch=None, **kw):
    return Observation(state, evidence="x", batch=batch, games_per_s=2.0 if batch else None,
                       total_games=256 * batch if batch else None, **kw)


def test_one_failed_poll_of_a_producing_worker_changes_nothing():
    rec = _rec(S.PRODUCING, last_batch=5, games_per_s=2.0, total_games=1280, last_progress_at=NOW - 60)
    new, events = apply_observation(rec, Observation(S.PRODUCING, poll_failed=True), NOW)
    assert new.state is S.PRODUCING and events == [] and new.failed_polls == 1


def test_stall_needs_polls_and_the_workers_own_batch_period():
    rec = _rec(S.PRODUCING, last_batch=5, games_per_s=2.0, total_games=1280, last_progress_at=NOW)
    t = NOW
    for _ in range(3):   # three polls 30 s apart: 90 s < 2.5 x 128 s batch period
        t += 30
        rec, _ = apply_observation(rec, _obs(S.PRODUCING, 5), t)
    assert rec.state is S.PRODUCING
    t += 300
    rec, events = apply_observation(rec, _obs(S.PRODUCING, 5), t)
    assert rec.state is S.STALLED and events[0].to_state is S.STALLED
    rec, events = apply_observation(rec, _obs(S.PRODUCING, 6), t + 30)
    assert rec.state is S.PRODUCING and rec.last_progress_at == t + 30


def test_progress_fields_follow_batches():
    rec = _rec(S.LOADING_MODEL)
    rec, _ = apply_observation(rec, _obs(S.PRODUCING, 1), NOW)
    assert rec.first_batch_at == NOW and rec.last_progress_at == NOW and rec.last_batch == 1


def test_cost_split_by_billing_class():
    rec = _rec(S.BOOTING, last_accrued_at=NOW)
    rec, _ = transition(rec, S.PRODUCING, NOW + 3600, "x")          # 1 h booting: overhead
    rec, _ = transition(rec, S.ERROR, NOW + 3 * 3600, "x")          # 2 h producing
    assert rec.cost_overhead == pytest.approx(0.36)
    assert rec.cost_productive == pytest.approx(0.72)


def test_wire_forms_round_trip():
    rec = _rec(S.PRODUCING, last_batch=3)
    assert record_from_dict(record_to_dict(rec)) == rec
    _, events = transition(rec, S.ERROR, NOW, "why", "line")
    assert event_to_dict(events[0])["to"] == "error" and event_to_dict(events[0])["from"] == "producing"


def _reachable(start: S) -> set[S]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in LEGAL_TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


REACHABLE = _reachable(S.PENDING)


OBS = st.builds(
    lambda state, batch, failed: Observation(state, evidence="e", batch=batch,
                                             games_per_s=1.5 if batch else None,
                                             total_games=256 * batch if batch else None, poll_failed=failed),
    st.sampled_from([S.PENDING, S.BOOTING, S.SETUP, S.LOADING_MODEL, S.PRODUCING, S.ERROR, S.STOPPED]),
    st.one_of(st.none(), st.integers(min_value=1, max_value=50)),
    st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(OBS, st.floats(min_value=1, max_value=900)), min_size=1, max_size=40))
def test_random_observations_never_leave_the_table(seq):
    rec = new_record(1, "zeb-worker-vast-0", 7, "RTX 3070", 0.1, NOW, NOW)
    events = [{"time": NOW, "instance_id": 1, "to": "pending", "kind": "adopted"}]
    t = NOW
    for obs, dt in seq:
        t += dt
        prev = rec.state
        rec, evs = apply_observation(rec, obs, t)
        for e in evs:
            if e.kind == "transition":
                assert is_legal(e.from_state, e.to_state)
            else:
                assert rec.state is prev
            events.append(event_to_dict(e))
        assert rec.state in LEGAL_TRANSITIONS
    tl = timeline(events, t, rec.dph_total)
    assert sum(s.duration for s in tl.spans) == pytest.approx(t - NOW)
    assert tl.wall == pytest.approx(t - NOW)
    assert rec.state in REACHABLE
    # The record's own accrual agrees with the timeline's cost split, and both are dph x billed time.
    assert rec.cost_productive == pytest.approx(tl.productive, abs=1e-9)
    assert rec.cost_overhead == pytest.approx(tl.overhead, abs=1e-9)
    assert rec.cost_productive + rec.cost_overhead == pytest.approx(rec.dph_total * tl.billed / 3600, abs=1e-9)
    assert rec.cost_productive == pytest.approx(rec.dph_total * tl.seconds_in(S.PRODUCING) / 3600, abs=1e-9)


def test_reachability():
    assert set(S) == REACHABLE
    for state in S:
        assert S.GONE in _reachable(state), f"{state} has no way out"
    assert _reachable(S.GONE) == {S.GONE}
    # Once destroying, only gone: nothing brings a destroyed worker back.
    assert _reachable(S.DESTROYING) == {S.DESTROYING, S.GONE}


def test_live_and_terminal():
    assert {s for s in S if is_live(s)} == {S.PENDING, S.BOOTING, S.SETUP, S.LOADING_MODEL, S.PRODUCING, S.STALLED}
    assert {s for s in S if is_terminal(s)} == {S.GONE}
    assert set(BILLING) == set(S)
    assert {s for s in S if BILLING[s] is Billing.NOT_BILLED} == {S.PENDING, S.GONE}


def test_illegal_observation_is_an_anomaly_and_keeps_the_state():
    rec = _rec(S.PRODUCING, last_batch=5, games_per_s=2.0, total_games=1280, last_progress_at=NOW - 60)
    new, events = apply_observation(rec, _obs(S.BOOTING), NOW)
    assert new.state is S.PRODUCING and new.state_since == rec.state_since
    assert [e.kind for e in events] == ["anomaly"] and events[0].to_state is S.BOOTING
    assert "illegal" in events[0].reason


def test_same_state_refreshes_the_evidence_without_an_event():
    rec = _rec(S.PRODUCING, last_batch=5, games_per_s=2.0, total_games=1280, last_progress_at=NOW - 60)
    obs = Observation(S.PRODUCING, evidence="[w] batch 6: ...", batch=6, games_per_s=2.1, total_games=1536)
    new, events = apply_observation(rec, obs, NOW)
    assert events == [] and new.evidence == "[w] batch 6: ..." and new.last_batch == 6 and new.games_per_s == 2.1


def test_error_then_recovery_sets_and_clears_the_fatal_kind():
    rec = _rec(S.PRODUCING, last_batch=5, games_per_s=2.0, total_games=1280, last_progress_at=NOW - 60)
    rec, events = apply_observation(rec, Observation(S.ERROR, evidence="oom", batch=5, fatal_kind="oom"), NOW)
    assert rec.state is S.ERROR and rec.fatal_kind == "oom" and events[0].evidence == "oom"
    rec, events = apply_observation(rec, _obs(S.PRODUCING, 6), NOW + 60)
    assert rec.state is S.PRODUCING and rec.fatal_kind is None and rec.last_progress_at == NOW + 60


def test_failed_polls_count_and_reset():
    rec = _rec(S.SETUP)
    for n in range(1, 4):
        rec, events = apply_observation(rec, Observation(S.SETUP, poll_failed=True), NOW + n)
        assert events == [] and rec.failed_polls == n and rec.state is S.SETUP
    rec, _ = apply_observation(rec, _obs(S.SETUP), NOW + 10)
    assert rec.failed_polls == 0


def test_stopped_worker_restarted_by_vast_goes_back_on_the_happy_path():
    rec = _rec(S.STOPPED)
    rec, events = apply_observation(rec, _obs(S.BOOTING), NOW)
    assert rec.state is S.BOOTING and events[0].kind == "transition"


def test_mark_destroying_then_gone():
    rec = _rec(S.STALLED, last_accrued_at=NOW - 3600)
    rec, events = mark_destroying(rec, NOW, "replace: stalled")
    assert rec.state is S.DESTROYING and events[0].reason == "replace: stalled"
    assert rec.cost_overhead == pytest.approx(0.36)   # the stalled hour was overhead
    rec, events = mark_gone(rec, NOW + 30, "destroyed")
    assert rec.state is S.GONE and events[0].from_state is S.DESTROYING
    rec, events = mark_destroying(rec, NOW + 60, "again")
    assert rec.state is S.GONE and events[0].kind == "anomaly"


def test_not_billed_states_accrue_nothing():
    rec = _rec(S.PENDING, last_accrued_at=NOW - 3600)
    rec, _ = transition(rec, S.BOOTING, NOW, "x")
    assert rec.cost_overhead == rec.cost_productive == 0.0 and rec.last_accrued_at == NOW


def test_event_and_record_survive_json():
    rec = _rec(S.PRODUCING, last_batch=3, games_per_s=1.5, extra={"note": "x"})
    assert record_from_dict(json.loads(json.dumps(record_to_dict(rec)))) == rec
    _, events = transition(rec, S.ERROR, NOW, "why", "line")
    wire = json.loads(json.dumps(event_to_dict(events[0])))
    assert set(wire) == {"v", "time", "instance_id", "label", "machine_id", "from", "to", "code", "detail",
                         "evidence", "kind"}
    assert wire["code"] == "error" and wire["detail"] == "why"
    assert event_from_dict(wire) == events[0]
    # A destroy carries its kind as the code statistics count; the detail stays the human text.
    _, doomed = mark_destroying(rec, NOW, "stalled at batch 3", code="replace")
    wire = json.loads(json.dumps(event_to_dict(doomed[0])))
    assert (wire["code"], wire["detail"], wire["to"]) == ("replace", "stalled at batch 3", "destroying")
    assert event_from_dict(wire) == doomed[0]
    adopted = event_from_dict({"time": NOW, "instance_id": 1, "to": "producing", "kind": "adopted"})
    assert adopted.from_state is None and adopted.to_state is S.PRODUCING


_LIVE_SIDEBANDS = {"error", "stopped", "destroying", "gone"}
PINNED = {  # the table as documented; a change to LEGAL_TRANSITIONS must change this on purpose
    "pending": {"booting", "setup", "loading_model", "producing"} | _LIVE_SIDEBANDS,
    "booting": {"setup", "loading_model", "producing"} | _LIVE_SIDEBANDS,
    "setup": {"loading_model", "producing"} | _LIVE_SIDEBANDS,
    "loading_model": {"producing"} | _LIVE_SIDEBANDS,
    "producing": {"stalled"} | _LIVE_SIDEBANDS,
    "stalled": {"producing"} | _LIVE_SIDEBANDS,
    "error": {"booting", "setup", "loading_model", "producing", "stopped", "destroying", "gone"},
    "stopped": {"booting", "setup", "loading_model", "producing", "error", "destroying", "gone"},
    "destroying": {"gone"},
    "gone": set(),
}


def test_table_is_pinned():
    assert {k.value: {s.value for s in v} for k, v in LEGAL_TRANSITIONS.items()} == PINNED
