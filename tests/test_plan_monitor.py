"""decide(): every trigger with its threshold edges, ties and interactions, and hypothesis invariants."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeb.core.config import resolve
from zeb.core.domain import Account, Instance, Offer
from zeb.core.lifecycle import WorkerRecord
from zeb.core.lifecycle import WorkerState as S
from zeb.plan.fleet import label_for, parse_label
from zeb.plan.fleetfault import HubCheck
from zeb.plan.monitor import (
    CheckCredit,
    Destroy,
    Launch,
    PolicyState,
    Snapshot,
    Trial,
    decide,
    on_launch_failed,
)
from zeb.plan.types import InFlight, RankedOffer

NOW = 1_780_000_000.0
CFG = resolve("zeb", {"max_dph": 0.10, "gpus": ("RTX 3070", "RTX 4070 Ti")}, {})
T = CFG.thresholds


def inst(i, idx, status="running", dph=0.08, age=7200.0, fleet="zeb", machine=None, label=None):
    return Instance(id=i, label=label or label_for(fleet, idx), status=status, intended_status="running",
                    gpu_name="RTX 3070", num_gpus=1, dph_total=dph,
                    machine_id=machine if machine is not None else 1000 + i, host_id=1, start_date=NOW - age)


def rec(i, state, *, since=600.0, first_seen=7200.0, gps=2.2, dph=0.08, age=7200.0, progress=60.0, fatal=None,
        idx=None):
    return WorkerRecord(instance_id=i, label=label_for("zeb", idx if idx is not None else i), machine_id=1000 + i,
                        gpu_name="RTX 3070", dph_total=dph, created_at=NOW - age, state=state,
                        state_since=NOW - since, first_seen=NOW - first_seen,
                        last_progress_at=None if progress is None else NOW - progress,
                        games_per_s=gps if state is S.PRODUCING else None, fatal_kind=fatal)


def offers(*specs):
    out = []
    for n, (gpu, dph, gps) in enumerate(specs):
        o = Offer(id=900 + n, machine_id=9000 + n, host_id=1, gpu_name=gpu, num_gpus=1, dph_total=dph,
                  reliability=0.99)
        out.append(RankedOffer(o, gps, "config"))
    return tuple(sorted(out, key=lambda r: r.dollars_per_gps))


HUB_OK = HubCheck(ok=True)   # the controller's weights check answered this cycle
OFFERS = offers(("RTX 3070", 0.08, 2.2), ("RTX 3070", 0.085, 2.2), ("RTX 3070", 0.09, 2.2), ("RTX 3070", 0.095, 2.2))


def snap(instances, records, *, offers_=OFFERS, inflight=(), destroying=None, account=None, blocked=frozenset(),
         hub=HUB_OK):
    return Snapshot("zeb", tuple(instances), {r.instance_id: r for r in records}, offers_, {}, blocked, account,
                    tuple(inflight), destroying or {}, hub=hub)


def healthy(n):
    return [inst(i, i) for i in range(n)], [rec(i, S.PRODUCING) for i in range(n)]


def kinds(decision):
    return [(type(a).__name__, getattr(a, "kind", None), getattr(a, "label", None)) for a in decision.actions]


def test_healthy_full_fleet_does_nothing():
    i, r = healthy(4)
    assert decide(snap(i, r), PolicyState(), CFG, 4, NOW).actions == ()


def test_the_fatal_grace_counts_from_the_workers_start_not_from_when_the_error_was_seen():
    i, r = healthy(4)
    for age, fires in ((T.fatal_grace_s - 1, False), (T.fatal_grace_s + 1, True)):
        # Seen in error only now (since=0): the scripts act once the worker is over 5 minutes old.
        r2 = r[:3] + [rec(3, S.ERROR, since=0, first_seen=age, fatal="traceback", progress=None, age=age)]
        d = decide(snap(i[:3] + [inst(3, 3, age=age)], r2), PolicyState(), CFG, 4, NOW)
        destroys = [(a.instance_id, a.strike) for a in d.actions if isinstance(a, Destroy)]
        assert destroys == ([(3, True)] if fires else [])


@pytest.mark.parametrize("fatal,final,strike", [
    ("no_cuda", False, True), ("oom", False, True), ("traceback", True, True), ("killed", True, True),
    ("bad_branch", False, False),
])
def test_certain_faults_act_in_the_cycle_they_are_seen_even_on_a_young_worker(fatal, final, strike):
    i, r = healthy(4)
    young = dataclasses.replace(rec(3, S.ERROR, since=0, first_seen=60, fatal=fatal, progress=None, age=60),
                                fatal_final=final)
    d = decide(snap(i[:3] + [inst(3, 3, age=60)], r[:3] + [young]), PolicyState(), CFG, 4, NOW)
    assert [(a.instance_id, a.strike) for a in d.actions if isinstance(a, Destroy)] == [(3, strike)]


def test_an_error_that_may_recover_on_a_young_worker_waits():
    i, r = healthy(4)
    young = rec(3, S.ERROR, since=0, first_seen=60, fatal="traceback", progress=None, age=60)
    assert not [a for a in decide(snap(i[:3] + [inst(3, 3, age=60)], r[:3] + [young]), PolicyState(), CFG, 4,
                                  NOW).actions if isinstance(a, Destroy)]


def test_a_worker_never_seen_is_not_judged_on_its_age():
    """A hung first log fetch of an adopted, 4-hour-old producing worker must not read as 4 hours of booting."""
    i, r = healthy(4)
    unseen = dataclasses.replace(rec(3, S.PENDING, since=30, first_seen=30, progress=None, age=4 * 3600),
                                 failed_polls=1)
    d = decide(snap(i, r[:3] + [unseen]), PolicyState(), CFG, 4, NOW)
    assert not [a for a in d.actions if isinstance(a, Destroy)]
    # Unseen past the limit: judged from Vast (running), replaced without a strike.
    long_unseen = dataclasses.replace(unseen, first_seen=NOW - T.unseen_replace_s - 1, failed_polls=30)
    d = decide(snap(i, r[:3] + [long_unseen]), PolicyState(), CFG, 4, NOW)
    assert [(a.instance_id, a.strike) for a in d.actions if isinstance(a, Destroy)] == [(3, False)]


def test_a_producing_worker_whose_reads_keep_failing_is_replaced_without_a_strike():
    i, r = healthy(4)
    quiet = dataclasses.replace(r[3], last_seen_at=NOW - T.unseen_replace_s + 60, failed_polls=5)
    assert not [a for a in decide(snap(i, r[:3] + [quiet]), PolicyState(), CFG, 4, NOW).actions
                if isinstance(a, Destroy)]
    gone_dark = dataclasses.replace(quiet, last_seen_at=NOW - T.unseen_replace_s - 60)
    d = decide(snap(i, r[:3] + [gone_dark]), PolicyState(), CFG, 4, NOW)
    assert [(a.instance_id, a.strike) for a in d.actions if isinstance(a, Destroy)] == [(3, False)]


@pytest.mark.parametrize("state,limit,fatal", [
    (S.BOOTING, T.boot_timeout_s, None), (S.SETUP, T.setup_timeout_s, None),
])
def test_timed_triggers_edges(state, limit, fatal):
    i, r = healthy(4)
    for since, fires in ((limit - 1, False), (limit + 1, True)):
        r2 = r[:3] + [rec(3, state, since=since, first_seen=8000, fatal=fatal, progress=None, age=limit + 50)]
        d = decide(snap(i, r2), PolicyState(), CFG, 4, NOW)
        destroys = [a for a in d.actions if isinstance(a, Destroy)]
        if fires:
            assert [(a.instance_id, a.strike) for a in destroys] == [(3, True)]
            assert any(isinstance(a, Launch) and a.label == "zeb-worker-vast-3" for a in d.actions)
        else:
            assert destroys == []


def test_no_progress_measured_from_creation_when_no_batch_yet():
    i, r = healthy(4)
    for age, fires in ((T.no_progress_s - 1, False), (T.no_progress_s + 1, True)):
        r2 = r[:3] + [rec(3, S.LOADING_MODEL, since=60, first_seen=age, progress=None, age=age)]
        d = decide(snap(i[:3] + [inst(3, 3, age=age)], r2), PolicyState(), CFG, 4, NOW)
        assert any(isinstance(a, Destroy) and a.strike for a in d.actions) is fires


def test_first_seen_worker_falls_back_to_instance_age():
    i, r = healthy(4)
    # Seen for the first time just now, booting, but the instance is 11 minutes old: replace.
    r2 = r[:3] + [rec(3, S.BOOTING, since=0, first_seen=0, progress=None, age=660)]
    d = decide(snap(i[:3] + [inst(3, 3, status="loading", age=660)], r2), PolicyState(), CFG, 4, NOW)
    assert ("Destroy", "replace", "zeb-worker-vast-3") in kinds(d)


def test_stalled_is_replaced_with_a_strike():
    i, r = healthy(4)
    d = decide(snap(i, r[:3] + [rec(3, S.STALLED)]), PolicyState(), CFG, 4, NOW)
    assert [a.strike for a in d.actions if isinstance(a, Destroy)] == [True]


def test_stopped_and_cost_replacements_get_no_strike():
    i, r = healthy(4)
    i2 = i[:2] + [inst(2, 2, status="exited"), inst(3, 3, dph=0.11)]
    d = decide(snap(i2, r), PolicyState(), CFG, 4, NOW)
    destroys = sorted((a.instance_id, a.kind, a.strike) for a in d.actions if isinstance(a, Destroy))
    assert destroys == [(2, "replace", False), (3, "cost", False)]
    assert sorted(a.label for a in d.actions if isinstance(a, Launch)) == ["zeb-worker-vast-2", "zeb-worker-vast-3"]


def test_one_failed_poll_is_forgiven():
    i, r = healthy(4)
    r[2] = dataclasses.replace(r[2], failed_polls=1)
    assert decide(snap(i, r), PolicyState(), CFG, 4, NOW).actions == ()


def test_dedup_keeps_the_lowest_id_and_downscale_in_same_cycle():
    i, r = healthy(4)
    dup_young = inst(10, 1, age=100)
    dup_booting = inst(11, 2, status="loading", age=9000)
    extra = inst(12, 4, age=60)
    records = r + [rec(10, S.PRODUCING, idx=1, age=100), rec(11, S.BOOTING, idx=2, since=60, age=9000),
                   rec(12, S.SETUP, idx=4, since=30, age=60)]
    d = decide(snap(i + [dup_young, dup_booting, extra], records), PolicyState(), CFG, 4, NOW)
    got = sorted((a.instance_id, a.kind) for a in d.actions if isinstance(a, Destroy))
    assert got == [(10, "dedup"), (11, "dedup"), (12, "downscale")]
    assert not any(isinstance(a, Launch) for a in d.actions)


def test_dedup_reads_only_the_listing_so_every_observer_keeps_the_same_one():
    """A newer duplicate that this monitor saw producing still goes: another zeb (another ZEB_HOME) that
    has not polled it would keep the lower id, and the two must never destroy both."""
    i, r = healthy(4)
    newer = inst(20, 0, age=50)
    records = r + [rec(20, S.PRODUCING, idx=0, age=50)]
    lowest = min(x.id for x in i if x.label == newer.label)
    r_booting = [dataclasses.replace(x, state=S.BOOTING) if x.instance_id == lowest else x for x in records]
    d = decide(snap(i + [newer], r_booting), PolicyState(), CFG, 4, NOW)
    assert [(a.instance_id, a.kind) for a in d.actions if isinstance(a, Destroy)] == [(20, "dedup")]


def test_scale_down_order_not_running_then_young_then_worst_value():
    i = [inst(n, n) for n in range(6)]
    r = [rec(0, S.PRODUCING, gps=2.0), rec(1, S.PRODUCING, gps=1.0), rec(2, S.PRODUCING, gps=3.0),
         rec(3, S.PRODUCING, gps=2.5), rec(4, S.SETUP, since=10), rec(5, S.PRODUCING, gps=2.0, age=60)]
    i[5] = inst(5, 5, age=60)
    for target, expected in ((5, [4]), (4, [4, 5]), (3, [1, 4, 5])):
        d = decide(snap(i, r), PolicyState(), CFG, target, NOW)
        assert sorted(a.instance_id for a in d.actions if isinstance(a, Destroy)) == expected


def test_scale_up_lowest_indices_distinct_machines_and_slow_start_batches():
    d = decide(snap([inst(1, 1)], [rec(1, S.PRODUCING)]), PolicyState(), CFG, 5, NOW)
    launches = [a for a in d.actions if isinstance(a, Launch)]
    assert [a.label for a in launches] == [label_for("zeb", k) for k in (0, 2, 3, 4)]
    assert [a.batch for a in launches] == [0, 1, 1, 2]
    assert len({a.offer.offer.machine_id for a in launches}) == 4


def test_never_launches_on_blocked_over_max_or_inflight():
    bad = offers(("RTX 3070", 0.05, 2.2), ("RTX 3070", 0.2, 2.2), ("RTX 3070", 0.09, 2.2))
    blocked = frozenset({bad[0].offer.machine_id})
    inflight = [InFlight("zeb-worker-vast-0", 1, 77, NOW - 30)]
    d = decide(snap([], [], offers_=bad, inflight=inflight, blocked=blocked), PolicyState(), CFG, 3, NOW)
    launches = [a for a in d.actions if isinstance(a, Launch)]
    assert [(a.label, a.offer.offer.dph_total) for a in launches] == [("zeb-worker-vast-1", 0.09)]
    assert d.notes


def test_credit_wait_blocks_launches_and_upgrades_and_probes_every_cycle():
    state = on_launch_failed(PolicyState(), "no_credit", NOW - 100)
    assert state.credit_wait
    d = decide(snap([], []), state, CFG, 4, NOW)
    assert [type(a) for a in d.actions] == [CheckCredit]
    # The account checked before deciding (the monitor does): no second call.
    still = decide(snap([], [], account=Account(1, None, 0.0, 0.0)), state, CFG, 4, NOW)
    assert still.actions == () and still.state.credit_wait
    slow = dataclasses.replace(CFG, thresholds=dataclasses.replace(T, credit_probe_s=300.0))
    assert decide(snap([], []), state, slow, 4, NOW).actions == ()
    assert [type(a) for a in decide(snap([], []), state, slow, 4, NOW + 201).actions] == [CheckCredit]
    back = decide(snap([], [], account=Account(1, None, 5.0, 0.0)), d.state, CFG, 4, NOW + 400)
    assert not back.state.credit_wait
    assert len([a for a in back.actions if isinstance(a, Launch)]) == 4
    i, r = healthy(4)
    great = offers(("RTX 4070 Ti", 0.05, 4.2))
    assert [type(a) for a in decide(snap(i, r, offers_=great), state, CFG, 4, NOW).actions] == [CheckCredit]


def test_upgrade_trial_starts_promotes_or_fails():
    i, r = healthy(4)
    great = offers(("RTX 4070 Ti", 0.05, 4.2))
    d = decide(snap(i, r, offers_=great), PolicyState(), CFG, 4, NOW)
    [launch] = d.actions
    assert launch.trial and launch.label == "zeb-worker-vast-4" and d.state.trial.label == launch.label
    # Not quite 15% better: no trial.
    meh = offers(("RTX 3070", 0.08 * 0.86, 2.2))
    assert decide(snap(i, r, offers_=meh), PolicyState(), CFG, 4, NOW).actions == ()
    # Promote: the trial produces -> destroy the worst worker (no strike).
    r_worst = r[:3] + [rec(3, S.PRODUCING, gps=1.0)]
    trial_i = inst(20, 4, age=300)
    d2 = decide(snap(i + [trial_i], r_worst + [rec(20, S.PRODUCING, idx=4, gps=4.2)], offers_=great),
                d.state, CFG, 4, NOW + 300)
    assert [(a.instance_id, a.kind, a.strike) for a in d2.actions] == [(3, "upgrade", False)]
    assert d2.state.trial is None
    # Fail: not producing after 15 min -> destroy it with a strike and cool down.
    d3 = decide(snap(i + [trial_i], r + [rec(20, S.SETUP, idx=4, since=60)], offers_=great), d.state, CFG, 4,
                NOW + T.trial_timeout_s + 1)
    assert [(a.instance_id, a.kind, a.strike) for a in d3.actions] == [(20, "trial_failed", True)]
    assert d3.state.trial_cooldown_until == NOW + T.trial_timeout_s + 1 + T.trial_cooldown_s
    assert decide(snap(i, r, offers_=great), d3.state, CFG, 4, NOW + T.trial_timeout_s + 60).actions == ()


def test_destroy_retried_past_deadline_only():
    i, r = healthy(4)
    d = decide(snap(i, r, destroying={2: NOW - 200}), PolicyState(), CFG, 4, NOW)
    assert ("Destroy", "retry_destroy", "zeb-worker-vast-2") in kinds(d)
    d = decide(snap(i, r, destroying={2: NOW - 60}), PolicyState(), CFG, 4, NOW)
    assert not any(isinstance(a, Destroy) for a in d.actions)


def test_policy_state_round_trip():
    s = PolicyState(True, NOW, Trial("zeb-worker-vast-4", 1, 2, NOW, 9), NOW + 5, 3)
    assert PolicyState.from_dict(s.to_dict()) == s


STATES = st.sampled_from([S.PENDING, S.BOOTING, S.SETUP, S.LOADING_MODEL, S.PRODUCING, S.STALLED, S.ERROR])


@settings(max_examples=300, deadline=None)
@given(
    workers=st.lists(st.tuples(st.integers(0, 9), STATES, st.sampled_from([None, "loading", "running", "exited"]),
                               st.floats(0.05, 0.12), st.floats(0, 4000), st.booleans()), max_size=14),
    flying=st.lists(st.integers(0, 9), max_size=3, unique=True),
    target=st.integers(0, 8),
    credit=st.booleans(),
    trial=st.booleans(),
    offer_specs=st.lists(st.tuples(st.floats(0.03, 0.15), st.floats(1.0, 5.0), st.integers(0, 30)), max_size=10),
    blocked=st.sets(st.integers(9000, 9030), max_size=5),
)
def test_invariants(workers, flying, target, credit, trial, offer_specs, blocked):
    instances, records = [], []
    for n, (idx, state, status, dph, since, foreign) in enumerate(workers):
        fleet = "zeb-large" if foreign else "zeb"
        instances.append(inst(n, idx, status=status, dph=round(dph, 3), fleet=fleet))
        records.append(dataclasses.replace(rec(n, state, since=since, dph=round(dph, 3)), label=instances[-1].label))
    ranked = []
    for n, (dph, gps, m) in enumerate(offer_specs):
        o = Offer(id=500 + n, machine_id=9000 + m, host_id=1, gpu_name="RTX 3070", num_gpus=1,
                  dph_total=round(dph, 3), reliability=0.9)
        ranked.append(RankedOffer(o, gps, "config"))
    ranked.sort(key=lambda r: r.dollars_per_gps)
    inflight = [InFlight(label_for("zeb", i), 1, 8000 + i, NOW - 30) for i in flying
                if not any(x.label == label_for("zeb", i) for x in instances)]
    state = PolicyState(credit_wait=credit, credit_checked_at=NOW,
                        trial=Trial(label_for("zeb", 9), 1, 1, NOW - 60) if trial else None)
    s = snap(instances, records, offers_=tuple(ranked), inflight=inflight, blocked=frozenset(blocked))
    d = decide(s, state, CFG, target, NOW)
    assert d == decide(s, state, CFG, target, NOW)   # deterministic
    destroys = [a for a in d.actions if isinstance(a, Destroy)]
    launches = [a for a in d.actions if isinstance(a, Launch)]
    own = {i.id for i in instances if parse_label(i.label, "zeb") is not None}
    assert all(a.instance_id in own for a in destroys), "never a destroy outside the fleet"
    for a in launches:
        assert a.offer.offer.machine_id not in blocked and a.offer.offer.dph_total <= CFG.max_dph
    labels = [a.label for a in launches]
    assert len(labels) == len(set(labels))
    live_labels = {i.label for i in instances if i.id in own and i.id not in {x.instance_id for x in destroys}}
    assert not set(labels) & ({e.label for e in inflight} | live_labels)
    if credit:
        assert not launches
    # At most target (+1 during a trial) billed workers not being destroyed; launches already in flight
    # cannot be taken back, so they can only push the count over when nothing else is left to remove.
    extra = 1 if d.state.trial is not None else 0
    surviving = len(own) - len({a.instance_id for a in destroys})
    assert surviving + len(inflight) + len(launches) <= max(target, len(inflight)) + extra


def test_hub_failures_are_replaced_without_a_strike():
    i, r = healthy(4)
    r2 = r[:3] + [rec(3, S.ERROR, since=T.fatal_grace_s + 1, first_seen=8000, fatal="hf_auth")]
    d = decide(snap(i, r2), PolicyState(), CFG, 4, NOW)
    assert [(a.instance_id, a.strike) for a in d.actions if isinstance(a, Destroy)] == [(3, False)]
