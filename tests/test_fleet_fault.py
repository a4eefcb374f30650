"""Fleet-level judgement (zeb.plan.fleetfault) and how decide() holds, probes and resumes: plain records, a
fixed `now`."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from zeb.core.config import resolve
from zeb.core.domain import Instance, Offer
from zeb.core.lifecycle import WorkerRecord
from zeb.core.lifecycle import WorkerState as S
from zeb.plan import fleetfault as ff
from zeb.plan.fleet import label_for
from zeb.plan.hosts import add_strike, blocked, withdraw_strikes
from zeb.plan.monitor import Destroy, Launch, PolicyState, Snapshot, Trial, WithdrawStrikes, decide
from zeb.plan.types import InFlight, RankedOffer, Strike

NOW = 1_780_000_000.0
CFG = resolve("zeb", {"max_dph": 0.10, "gpus": ("RTX 3070",)}, {})
T = CFG.thresholds
OLD = "a" * 40
NEW = "b" * 40
TYPE_ERROR = "TypeError: make_buffers() got an unexpected keyword argument 'dtype'"
FRAME = "forge/zeb/selfplay/pipeline.py:64 in __init__"
HUB_DOWN = ("huggingface_hub.errors.LocalEntryNotFoundError: An error happened while trying to locate the file "
            "on the Hub and we cannot find the requested files in the local cache.")
HUB_OK = ff.HubCheck(ok=True)
HUB_DOWN_CHECK = ff.HubCheck(ok=False, cause="hub_unreachable",
                             detail="checking zeb-557k-1m.pt in jasonyandell/zeb-42: Hugging Face answered HTTP 503")


def inst(i, status="running", age=7200.0):
    return Instance(id=i, label=label_for("zeb", i), status=status, intended_status="running", gpu_name="RTX 3070",
                    num_gpus=1, dph_total=0.08, machine_id=1000 + i, host_id=1, start_date=NOW - age)


def producing(i, commit=OLD, age=7200.0):
    return WorkerRecord(instance_id=i, label=label_for("zeb", i), machine_id=1000 + i, gpu_name="RTX 3070",
                        dph_total=0.08, created_at=NOW - age, state=S.PRODUCING, state_since=NOW - age + 300,
                        first_seen=NOW - age, last_progress_at=NOW - 60, first_batch_at=NOW - age + 300,
                        last_batch=40, games_per_s=2.2, commit=commit)


def crashed(i, *, commit=NEW, evidence=TYPE_ERROR, frame=FRAME, kind="traceback", state=S.STOPPED, age=900.0,
            since=60.0, produced=False):
    return WorkerRecord(instance_id=i, label=label_for("zeb", i), machine_id=1000 + i, gpu_name="RTX 3070",
                        dph_total=0.08, created_at=NOW - age, state=state, state_since=NOW - since,
                        first_seen=NOW - age, fatal_kind=kind, fatal_final=True, evidence=f"vast: exited; {evidence}",
                        fault_frame=frame, commit=commit, first_batch_at=NOW - age + 300 if produced else None,
                        last_batch=9 if produced else None)


def offers(n=6):
    return tuple(RankedOffer(Offer(id=900 + k, machine_id=9000 + k, host_id=1, gpu_name="RTX 3070", num_gpus=1,
                                   dph_total=0.08 + k / 1000, reliability=0.99), 2.2, "config") for k in range(n))


def snap(records, *, hub=HUB_OK, offers_=None, inflight=(), pin=False, statuses=None):
    statuses = statuses or {}
    instances = tuple(inst(r.instance_id, statuses.get(r.instance_id, "exited" if r.state is S.STOPPED else "running"),
                           age=NOW - r.created_at) for r in records)
    return Snapshot("zeb", instances, {r.instance_id: r for r in records}, offers() if offers_ is None else offers_,
                    {}, frozenset(), None, tuple(inflight), {}, hub=hub, pin_last_good=pin)


def destroys(d):
    return sorted((a.instance_id, a.strike, a.kind) for a in d.actions if isinstance(a, Destroy))


def launches(d):
    return [a for a in d.actions if isinstance(a, Launch)]


# -- normalising and judging -------------------------------------------------------------------------------

def test_normalise_drops_what_differs_between_machines():
    a = ("huggingface_hub.errors.HfHubHTTPError: 401 Client Error: Unauthorized for url: https://hf.co/x "
         "(Request ID: Root=1-6750a1b2-3c4d5e6f7a8b9c0d1e2f3a4b)")
    b = a.replace("6750a1b2-3c4d5e6f7a8b9c0d1e2f3a4b", "11112222-333344445555666677778888")
    assert ff.normalise(a) == ff.normalise(b)
    assert ff.normalise("vast: exited; RuntimeError: at 0x7f3a2b in 12.5 s") == "RuntimeError: at <hex> in <n> s"
    assert ff.normalise(TYPE_ERROR) != ff.normalise("TypeError: something else")


def test_failure_of_reads_only_causes_the_fleet_can_share():
    assert ff.failure_of(producing(0)) is None
    assert ff.failure_of(crashed(1, kind="no_cuda", frame="")) is None            # the host's by nature
    assert ff.failure_of(crashed(1, frame="")) is None                             # no frame in the user's code
    assert ff.failure_of(crashed(1, kind="bad_args", commit=None, frame="")) is None   # a config halt's case
    f = ff.failure_of(crashed(1))
    assert f is not None and f.cause == "code_fault" and f.commit == NEW and FRAME in f.signature
    hub_a = ff.failure_of(crashed(2, kind="hub_unreachable", evidence=HUB_DOWN, frame="forge/zeb/hf.py:71 in x"))
    hub_b = ff.failure_of(crashed(3, kind="hub_unreachable", evidence=HUB_DOWN, frame=""))
    assert hub_a is not None and hub_b is not None and hub_a.signature == hub_b.signature == "hub_unreachable"


def test_one_machine_is_the_hosts_two_are_the_fleets():
    one = [ff.failure_of(crashed(1))]
    # Nothing producing on another commit to compare with: one machine is the host's.
    assert ff.judge(one, [producing(0, commit=None)], NOW) is None
    assert ff.judge(one, [], NOW) is None
    two = one + [ff.failure_of(crashed(2))]
    verdict = ff.judge(two, [producing(0, commit=None)], NOW)
    assert verdict is not None and verdict.cause == "code_fault" and verdict.machines == (1001, 1002)
    assert verdict.commit == NEW and not verdict.certain
    assert TYPE_ERROR in verdict.line() and NEW[:12] in verdict.line()


def test_one_crash_on_a_new_commit_while_the_old_one_produces_is_certain():
    one = [ff.failure_of(crashed(1))]
    verdict = ff.judge(one, [producing(0)], NOW)        # producing(0) runs OLD
    assert verdict is not None and verdict.certain and verdict.commit == NEW and verdict.machines == (1001,)
    # A hub failure on one machine stays the host's: nothing to compare it with.
    hub = [ff.failure_of(crashed(2, kind="hub_unreachable", evidence=HUB_DOWN, frame=""))]
    assert ff.judge(hub, [producing(0)], NOW) is None


def test_the_same_commit_producing_elsewhere_clears_the_code():
    fails = [ff.failure_of(crashed(1)), ff.failure_of(crashed(2))]
    assert ff.judge(fails, [producing(0, commit=NEW)], NOW) is None


def test_failures_outside_the_window_do_not_count():
    old = ff.failure_of(crashed(1, since=T.fleet_fault_window_s + 60))
    assert ff.judge([old, ff.failure_of(crashed(2))], [], NOW, T.fleet_fault_window_s) is None
    kept = ff.remember([old], [ff.failure_of(crashed(2))], NOW, T.fleet_fault_window_s)
    assert [f.instance_id for f in kept] == [2]


def test_without_commits_a_later_launch_producing_says_host():
    fails = [ff.failure_of(crashed(i, commit=None, age=900)) for i in (1, 2)]
    assert ff.judge(fails, [], NOW) is not None
    assert ff.judge(fails, [producing(5, commit=None, age=600)], NOW) is None   # launched later, got through
    assert ff.judge(fails, [producing(5, commit=None, age=7200)], NOW) is not None  # an old one says nothing


def test_crashes_after_producing_without_commits_stay_the_hosts():
    fails = [ff.failure_of(crashed(i, commit=None, produced=True)) for i in (1, 2)]
    assert ff.judge(fails, [], NOW) is None


def test_config_faults_count_as_code_only_on_a_commit_other_than_a_good_one():
    fails = [ff.failure_of(crashed(i, kind="bad_args", frame="",
                                   evidence="run.py: error: unrecognized arguments: --max-mcts-nodes 512"))
             for i in (1, 2)]
    assert ff.judge(fails, [], NOW) is None                          # never ran: the configuration's
    verdict = ff.judge(fails, [], NOW, good_commits=[OLD])
    assert verdict is not None and verdict.cause == "code_fault"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["a", "b"])), min_size=0, max_size=12))
def test_a_verdict_always_spans_two_machines_of_one_signature(spec):
    fails = [ff.failure_of(crashed(k, evidence=f"TypeError: {word}", commit=None)) for k, (m, word) in enumerate(spec)]
    fails = [dataclasses.replace(f, machine_id=m) for f, (m, _) in zip(fails, spec)]
    verdict = ff.judge(fails, [], NOW)
    groups = {}
    for f in fails:
        groups.setdefault(f.signature, set()).add(f.machine_id)
    assert (verdict is not None) == any(len(ms) >= 2 for ms in groups.values())
    if verdict is not None:
        assert len(set(verdict.machines)) >= 2 and len(groups[verdict.signature]) == len(verdict.machines)


def test_withdrawn_strikes_lift_the_block_they_made():
    hosts = {}
    for k, iid in enumerate((11, 12, 13)):
        hosts = add_strike(hosts, Strike(machine_id=77, time=NOW - k, reason="crashed", instance_id=iid))
    assert 77 in blocked(hosts, 3, NOW)
    after = withdraw_strikes(hosts, [12, 13])
    assert 77 not in blocked(after, 3, NOW) and [s.instance_id for s in after[77].strikes] == [11]


# -- decide(): hold, probe, canary, resume ---------------------------------------------------------------

def test_bad_commit_holds_no_strikes_producing_kept_and_strikes_withdrawn():
    recs = [producing(0), producing(1), crashed(2), crashed(3)]
    d = decide(snap(recs), PolicyState(), CFG, 4, NOW)
    hold = d.state.hold
    assert hold is not None and hold.cause == "code_fault" and hold.commit == NEW
    assert destroys(d) == [(2, False, "fleet_fault"), (3, False, "fleet_fault")]
    assert [a.instance_ids for a in d.actions if isinstance(a, WithdrawStrikes)] == [(2, 3)]
    # The crashes that started the hold were its first probe: nothing is launched now.
    assert not launches(d) and d.state.hold.canary_at == NOW
    assert any("FLEET HOLD" in n for n in d.notes) and any("2 launch(es) held back" in n for n in d.notes)
    # A probe interval later, one canary on the branch head (no commit pin), nothing else.
    later = [producing(0), producing(1)]
    assert not launches(decide(snap(later), d.state, CFG, 4, NOW + T.probe_interval_s - 60))
    d2 = decide(snap(later), d.state, CFG, 4, NOW + T.probe_interval_s)
    [canary] = launches(d2)
    assert canary.canary and canary.commit is None and d2.state.hold.canary_label == canary.label


def _first_canary(recs, state=None, pin=False):
    """The hold decided at NOW, then the cycle a probe interval later that sends its first canary."""
    d = decide(snap(recs, pin=pin), state or PolicyState(), CFG, 4, NOW)
    alive = [r for r in recs if r.state is S.PRODUCING]
    return decide(snap(alive, pin=pin), d.state, CFG, 4, NOW + T.probe_interval_s)


def test_one_canary_per_probe_interval():
    recs = [producing(0), producing(1), crashed(2), crashed(3)]
    d = _first_canary(recs)
    canary = launches(d)[0]
    # The canary is in flight, then crashes the same way: no strike, and no new canary before the interval.
    start = NOW + T.probe_interval_s
    later = start + 600
    c_rec = dataclasses.replace(crashed(7, age=300, since=30), label=canary.label, created_at=later - 300,
                                state_since=later - 30)
    state = dataclasses.replace(d.state, hold=dataclasses.replace(d.state.hold, canary_instance=7))
    d2 = decide(snap([producing(0), producing(1), c_rec]), state, CFG, 4, later)
    assert destroys(d2) == [(7, False, "fleet_fault")] and not launches(d2)
    assert d2.state.hold.canary_label is None
    d3 = decide(snap([producing(0), producing(1)]), d2.state, CFG, 4, start + T.probe_interval_s + 1)
    assert [a.canary for a in launches(d3)] == [True]


def test_a_producing_canary_lifts_the_hold_and_the_fleet_refills():
    recs = [producing(0), producing(1), crashed(2), crashed(3)]
    d = _first_canary(recs)
    canary = launches(d)[0]
    later = NOW + T.probe_interval_s + 600
    fixed = "c" * 40
    c_rec = dataclasses.replace(producing(9, commit=fixed, age=600), label=canary.label)
    state = dataclasses.replace(d.state, hold=dataclasses.replace(d.state.hold, canary_instance=9))
    d2 = decide(snap([producing(0), producing(1), c_rec]), state, CFG, 4, later)
    assert d2.state.hold is None and any("lifted" in n for n in d2.notes)
    assert len(launches(d2)) == 1 and not launches(d2)[0].canary          # back to target: 4


def test_pin_last_good_refills_on_the_old_commit_and_still_sends_a_canary():
    recs = [producing(0), producing(1), crashed(2), crashed(3)]
    state = PolicyState(good_commits={OLD: NOW - 7000})
    d = decide(snap(recs, pin=True), state, CFG, 4, NOW)
    # At once: both missing workers on the old commit; the canary waits its probe interval.
    assert [(a.canary, a.commit) for a in launches(d)] == [(False, OLD), (False, OLD)]
    # A fleet that is full again still sends its canary (one above target, as an upgrade trial).
    full = [producing(i) for i in range(4)]
    d2 = decide(snap(full, pin=True), d.state, CFG, 4, NOW + T.probe_interval_s)
    [canary] = launches(d2)
    assert canary.canary and canary.trial and canary.commit is None and d2.state.trial.label == canary.label


def test_hub_outage_holds_until_the_probe_answers():
    recs = [producing(0), producing(1)] + [crashed(i, kind="hub_unreachable", evidence=HUB_DOWN, frame="",
                                                    produced=True) for i in (2, 3)]
    # Without a hub answer this cycle, decide asks for one before holding.
    first = decide(snap(recs, hub=None), PolicyState(), CFG, 4, NOW)
    assert first.wants_hub and not first.actions
    d = decide(snap(recs, hub=HUB_DOWN_CHECK), PolicyState(), CFG, 4, NOW)
    assert d.state.hold is not None and d.state.hold.cause == "hub_unreachable"
    assert destroys(d) == [(2, False, "fleet_fault"), (3, False, "fleet_fault")] and not launches(d)
    # Still down an hour later: nothing launched, nothing struck.
    d2 = decide(snap([producing(0), producing(1)], hub=HUB_DOWN_CHECK), d.state, CFG, 4, NOW + 3600)
    assert d2.state.hold is not None and not launches(d2) and d2.state.hold.probe == HUB_DOWN_CHECK.detail
    # The cycle it answers, the fleet refills.
    d3 = decide(snap([producing(0), producing(1)], hub=HUB_OK), d2.state, CFG, 4, NOW + 3700)
    assert d3.state.hold is None and len(launches(d3)) == 2


def test_workers_failing_on_the_hub_while_it_answers_are_just_replaced():
    recs = [producing(0)] + [crashed(i, kind="hub_unreachable", evidence=HUB_DOWN, frame="") for i in (2, 3)]
    d = decide(snap(recs, hub=HUB_OK), PolicyState(), CFG, 3, NOW)
    assert d.state.hold is None and len(launches(d)) == 2 and any("answers now" in n for n in d.notes)


def test_no_launch_before_the_hub_is_checked_and_a_failed_check_holds():
    d = decide(snap([producing(0)], hub=None), PolicyState(), CFG, 3, NOW)
    assert d.wants_hub and not launches(d)
    d2 = decide(snap([producing(0)], hub=HUB_DOWN_CHECK), PolicyState(), CFG, 3, NOW)
    assert not launches(d2) and d2.state.hold is not None and d2.state.hold.cause == "hub_unreachable"
    assert not any(isinstance(a, WithdrawStrikes) for a in d2.actions)


def test_a_producing_worker_is_never_destroyed_in_a_hub_hold():
    recs = [producing(0), producing(1), crashed(2, kind="hub_unreachable", evidence=HUB_DOWN, frame="")]
    hold = ff.Hold("hub_unreachable", NOW - 600, "hub_unreachable on 2 machines")
    s = dataclasses.replace(snap(recs, hub=HUB_DOWN_CHECK), examples_replace={0: "no examples on HF for 40 min"})
    d = decide(s, PolicyState(hold=hold), CFG, 3, NOW)
    assert destroys(d) == [(2, False, "fleet_fault")]


def test_a_host_fault_during_a_code_hold_is_still_struck():
    recs = [producing(0), producing(1), crashed(2), crashed(3),
            crashed(4, kind="no_cuda", evidence="RuntimeError: No CUDA GPUs are available", frame="")]
    d = decide(snap(recs), PolicyState(), CFG, 5, NOW)
    assert (4, True, "replace") in destroys(d)


def test_the_canary_expires_when_it_never_shows():
    hold = ff.Hold("code_fault", NOW - 3000, "code_fault", signature="x", canary_label=label_for("zeb", 3),
                   canary_at=NOW - 600)
    d = decide(snap([producing(0)]), PolicyState(hold=hold), CFG, 2, NOW)
    assert d.state.hold.canary_label is None and not launches(d)   # gone; the next one waits for the interval
    later = decide(snap([producing(0)]), d.state, CFG, 2, NOW + 301)
    assert [a.canary for a in launches(later)] == [True]
    inflight = [InFlight(label=label_for("zeb", 3), offer_id=1, machine_id=5, time=NOW - 30)]
    d2 = decide(snap([producing(0)], inflight=inflight), PolicyState(hold=hold), CFG, 2, NOW)
    assert d2.state.hold.canary_label == label_for("zeb", 3)


def test_hold_state_survives_the_store():
    recs = [producing(0), producing(1), crashed(2), crashed(3)]
    d = decide(snap(recs), PolicyState(good_commits={OLD: NOW - 5}), CFG, 4, NOW)
    back = PolicyState.from_dict(d.state.to_dict())
    assert back == d.state and back.hold is not None and back.failures


def test_an_upgrade_trial_crashing_on_a_new_commit_holds_at_once_without_a_strike():
    # Four producing on the old commit, the trial (instance 9, fifth worker) on the new branch head crashed
    # five minutes in: judged now, not at the 15-minute trial timeout, and the host is not struck.
    recs = [producing(i) for i in range(4)] + [dataclasses.replace(crashed(9, age=400, since=100),
                                                                   label=label_for("zeb", 9))]
    state = PolicyState(trial=Trial(label_for("zeb", 9), 1, 1009, NOW - 400, 9))
    d = decide(snap(recs), state, CFG, 4, NOW)
    assert d.state.trial is None and d.state.trial_cooldown_until is not None
    assert destroys(d) == [(9, False, "fleet_fault")]
    assert d.state.hold is not None and d.state.hold.commit == NEW and d.state.hold.cause == "code_fault"


def test_examples_missing_from_the_whole_fleet_at_once_replaces_nobody():
    recs = [producing(i) for i in range(4)]
    silent = {i: f"no examples on HF from worker-vast-{i} for 40 min" for i in range(3)}
    d = decide(dataclasses.replace(snap(recs), examples_replace=silent), PolicyState(), CFG, 4, NOW)
    assert destroys(d) == []
    assert any("3 of 4 producing workers at once" in n for n in d.notes)
    # One worker silent while the rest upload is that worker's: replaced, without a strike.
    d = decide(dataclasses.replace(snap(recs), examples_replace={1: silent[1]}), PolicyState(), CFG, 4, NOW)
    assert destroys(d) == [(1, False, "replace")]


def test_a_moved_branch_head_refills_at_once_on_it_and_a_tried_head_waits_for_the_interval():
    recs = [producing(0), producing(1), crashed(2), crashed(3)]
    d = decide(snap(recs), PolicyState(), CFG, 4, NOW)
    alive = [producing(0), producing(1)]
    # The head is still the bad commit: nothing before the probe interval.
    same = dataclasses.replace(snap(alive), branch_head=NEW)
    assert not launches(decide(same, d.state, CFG, 4, NOW + 120))
    # A fix is pushed: both missing workers go on it now, pinned to its sha, the first as the canary.
    fixed = "c" * 40
    moved = dataclasses.replace(snap(alive), branch_head=fixed)
    d2 = decide(moved, d.state, CFG, 4, NOW + 120)
    assert [(a.canary, a.commit) for a in launches(d2)] == [(True, fixed), (False, fixed)]
    assert d2.state.hold.tried == (fixed,)
    # It crashes too: covered by the hold (no strike), and the same head is not tried again at once.
    c_rec = dataclasses.replace(crashed(8, commit=fixed, evidence="NameError: name 'x' is not defined"),
                                label=launches(d2)[0].label)
    d3 = decide(dataclasses.replace(snap([*alive, c_rec]), branch_head=fixed), d2.state, CFG, 4, NOW + 600)
    assert destroys(d3) == [(8, False, "fleet_fault")] and not launches(d3)


def test_a_full_fleet_sends_its_canary_on_a_moved_head_at_once():
    recs = [producing(i) for i in range(4)] + [crashed(5)]
    d = decide(snap(recs), PolicyState(), CFG, 4, NOW)
    assert d.state.hold is not None and not launches(d)
    full = [producing(i) for i in range(4)]
    d2 = decide(dataclasses.replace(snap(full), branch_head="d" * 40), d.state, CFG, 4, NOW + 120)
    [canary] = launches(d2)
    assert canary.canary and canary.trial and canary.commit == "d" * 40


def test_the_monitor_starts_through_a_hub_failure_only_where_it_has_workers_to_watch():
    assert ff.monitor_starts("hub_unreachable", has_run_here=False)
    assert ff.monitor_starts("weights_missing", has_run_here=True) and ff.monitor_starts("hub_auth", True)
    assert not ff.monitor_starts("weights_missing", has_run_here=False)    # a typo in a new fleet
    assert not ff.monitor_starts("hub_auth", has_run_here=False)
    assert not ff.monitor_starts(None, has_run_here=True)
