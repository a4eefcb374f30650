"""Reading what workers say: stopped tails classified, launch faults told apart (configuration vs host),
the config halt, stuck loading, and the examples-on-HF check; pure functions on plain data, fixed now."""

from __future__ import annotations

import dataclasses

from zeb.core.config import resolve
from zeb.core.domain import Instance, Offer
from zeb.core.lifecycle import WorkerRecord, apply_observation, classify, new_record
from zeb.core.lifecycle import WorkerState as S
from zeb.plan.fleet import label_for
from zeb.plan.fleetfault import HubCheck
from zeb.plan.monitor import (
    Destroy,
    Launch,
    Outcome,
    PolicyState,
    Snapshot,
    check_examples,
    config_halt_line,
    decide,
    examples_folder,
    parse_upload,
)
from zeb.plan.types import RankedOffer

NOW = 1_780_000_000.0
CFG = resolve("zeb", {"max_dph": 0.10, "gpus": ("RTX 3070",)}, {})
T = CFG.thresholds

NO_CUDA_TAIL = ("=== Setup started at Thu Feb  6 12:00:00 UTC 2026 ===\n"
                "git installed\nrepo cloned\ndeps installed\n"
                "Traceback (most recent call last):\n  File \"<string>\", line 1, in <module>\n"
                "AssertionError: No CUDA\n")
PREEMPTED_TAIL = "[worker-vast-0] batch 7: 7168 examples, 2.2 games/s, step=142, total_games=1792\n"
BAD_REPO_TAIL = ("=== Setup started at Thu Feb  6 12:00:00 UTC 2026 ===\ngit installed\n"
                 "fatal: repository 'https://github.com/x/nope.git/' not found\n"
                 "GPU OK: NVIDIA GeForce RTX 3070\n=== Starting worker worker-vast-0 at now ===\n"
                 "/opt/conda/bin/python: Error while finding module specification for 'forge.zeb.worker.run' "
                 "(ModuleNotFoundError: No module named 'forge')\n")


def inst(i, status="running", age=3600.0, machine=None):
    return Instance(id=i, label=label_for("zeb", i), status=status, intended_status="running", gpu_name="RTX 3070",
                    num_gpus=1, dph_total=0.08, machine_id=machine if machine is not None else 1000 + i, host_id=1,
                    start_date=NOW - age)


def rec(i, state, *, since=60.0, age=3600.0, fatal=None, evidence="", produced=True, machine=None):
    return WorkerRecord(instance_id=i, label=label_for("zeb", i),
                        machine_id=machine if machine is not None else 1000 + i,
                        gpu_name="RTX 3070", dph_total=0.08, created_at=NOW - age, state=state,
                        state_since=NOW - since, first_seen=NOW - age, last_progress_at=NOW - 60 if produced else None,
                        first_batch_at=NOW - age + 300 if produced else None, last_batch=5 if produced else None,
                        games_per_s=2.2 if state is S.PRODUCING else None, fatal_kind=fatal, evidence=evidence)


def offers(n=6):
    return tuple(RankedOffer(Offer(id=900 + k, machine_id=9000 + k, host_id=1, gpu_name="RTX 3070", num_gpus=1,
                                   dph_total=0.08, reliability=0.99), 2.2, "config") for k in range(n))


def snap(instances, records, **kw):
    kw.setdefault("hub", HubCheck(ok=True))
    return Snapshot("zeb", tuple(instances), {r.instance_id: r for r in records}, kw.pop("offers_", offers()), {},
                    frozenset(), None, (), {}, **kw)


def destroys(d):
    return sorted((a.instance_id, a.strike) for a in d.actions if isinstance(a, Destroy))


# -- stopped and exited workers: the last log decides ----------------------------------------------

def test_stopped_tail_keeps_its_fault_line_as_evidence():
    obs = classify("exited", NO_CUDA_TAIL)
    assert obs.state is S.STOPPED and obs.fatal_kind == "no_cuda"
    assert obs.evidence == "vast: exited; AssertionError: No CUDA"
    pre = classify("stopped", PREEMPTED_TAIL)
    assert pre.fatal_kind is None and pre.batch == 7
    assert pre.evidence.startswith("vast: stopped; no fault in its last log (last: [worker-vast-0] batch 7")
    assert classify("exited", "").evidence == "vast: exited; no log output"


def test_evidence_reaches_the_record_and_the_timeline_event():
    r = new_record(1, "zeb-worker-vast-1", 1001, "RTX 3070", 0.08, NOW - 600, NOW - 600)
    r2, events = apply_observation(r, classify("exited", NO_CUDA_TAIL), NOW)
    assert r2.state is S.STOPPED and r2.fatal_kind == "no_cuda"
    assert r2.evidence == events[0].evidence == "vast: exited; AssertionError: No CUDA"


def test_host_fault_in_a_stopped_tail_strikes_a_preemption_does_not():
    i = [inst(0), inst(1, "exited"), inst(2, "stopped"), inst(3, "exited")]
    r = [rec(0, S.PRODUCING), rec(1, S.STOPPED, fatal="no_cuda", produced=False),
         rec(2, S.STOPPED, produced=True), rec(3, S.STOPPED, fatal="oom", produced=False)]
    d = decide(snap(i, r), PolicyState(), CFG, 4, NOW)
    assert destroys(d) == [(1, True), (2, False), (3, True)]
    reasons = {a.instance_id: a.reason for a in d.actions if isinstance(a, Destroy)}
    assert "host fault (no_cuda)" in reasons[1] and "preempted" in reasons[2]


def test_oom_after_producing_is_not_the_hosts_fault():
    i = [inst(0), inst(1, "exited")]
    r = [rec(0, S.PRODUCING), rec(1, S.STOPPED, fatal="oom", produced=True)]
    assert destroys(decide(snap(i, r), PolicyState(), CFG, 2, NOW)) == [(1, False)]


# -- launch faults: the configuration's or the host's? ----------------------------------------------

def test_config_fault_is_replaced_at_once_without_a_strike():
    obs = classify("running", BAD_REPO_TAIL)
    assert obs.state is S.ERROR and obs.fatal_kind == "bad_repo"
    assert obs.evidence == "fatal: repository 'https://github.com/x/nope.git/' not found"   # the root cause
    i = [inst(0), inst(1)]
    r = [rec(0, S.PRODUCING), rec(1, S.ERROR, since=5, fatal="bad_repo", evidence=obs.evidence, produced=False)]
    d = decide(snap(i, r), PolicyState(), CFG, 2, NOW)
    assert destroys(d) == [(1, False)]
    assert d.state.config_halt is None            # one machine is not yet "in a row"


def test_config_fault_on_two_machines_in_a_row_stops_launching_with_one_line():
    i = [inst(0, age=600), inst(1, age=500)]
    r = [rec(n, S.ERROR, since=5, age=600 - 100 * n, fatal="bad_branch", produced=False,
             evidence="fatal: Remote branch nope not found in upstream origin") for n in (0, 1)]
    d = decide(snap(i, r), PolicyState(), CFG, 4, NOW)
    assert destroys(d) == [(0, False), (1, False)]
    assert not [a for a in d.actions if isinstance(a, Launch)]
    line = d.state.config_halt
    assert line and "\n" not in line and "bad_branch" in line and "git_branch" in line and "1000, 1001" in line
    assert line in d.notes
    # Next cycle: still nothing launched while the configuration is the same.
    d2 = decide(snap([], []), d.state, CFG, 4, NOW + 60)
    assert not [a for a in d2.actions if isinstance(a, Launch)] and d2.state.config_halt == line
    # The user fixes the branch: the halt lifts and launches resume.
    fixed = dataclasses.replace(CFG, git_branch="main-fixed")
    d3 = decide(snap([], []), d.state, fixed, 4, NOW + 120)
    assert d3.state.config_halt is None and len([a for a in d3.actions if isinstance(a, Launch)]) == 4


def test_a_success_between_config_faults_is_not_in_a_row():
    outs = [Outcome(1, 11, NOW - 300, "bad_args", "e"), Outcome(2, 12, NOW - 200, "ok"),
            Outcome(3, 13, NOW - 100, "bad_args", "e")]
    assert config_halt_line(outs) is None
    assert config_halt_line(outs + [Outcome(4, 14, NOW - 50, "bad_args", "run.py: error: x")]) is not None
    # The same machine twice is not two machines.
    assert config_halt_line([Outcome(5, 11, NOW - 40, "bad_args"), Outcome(6, 11, NOW - 30, "bad_args")]) is None


def test_policy_state_with_outcomes_and_halt_survives_the_store():
    d = decide(snap([inst(0, age=600), inst(1, age=500)],
                    [rec(n, S.ERROR, since=5, age=600 - 100 * n, fatal="missing_module", produced=False)
                     for n in (0, 1)]), PolicyState(), CFG, 2, NOW)
    back = PolicyState.from_dict(d.state.to_dict())
    assert back == d.state and back.outcomes and back.config_halt


def test_broken_launch_while_others_run_fine_strikes_the_host():
    i = [inst(0), inst(1)]
    r = [rec(0, S.PRODUCING), rec(1, S.ERROR, since=5, fatal="broken_launch", produced=False)]
    d = decide(snap(i, r), PolicyState(), CFG, 2, NOW)
    assert destroys(d) == [(1, True)] and d.state.config_halt is None


def test_broken_launch_waits_for_starting_peers_then_counts_as_the_scripts():
    i = [inst(0, age=200), inst(1, age=200)]
    r = [rec(0, S.SETUP, produced=False, age=200), rec(1, S.ERROR, since=30, fatal="broken_launch", produced=False)]
    assert destroys(decide(snap(i, r), PolicyState(), CFG, 2, NOW)) == []
    late = [r[0], dataclasses.replace(r[1], state_since=NOW - T.fatal_grace_s - 1)]
    assert destroys(decide(snap(i, late), PolicyState(), CFG, 2, NOW)) == [(1, False)]
    # Alone in the fleet, on two machines in a row: the script, not the market.
    both = [rec(n, S.ERROR, since=5, age=200 - n, fatal="broken_launch", produced=False) for n in (0, 1)]
    d = decide(snap(i, both), PolicyState(), CFG, 2, NOW)
    assert destroys(d) == [(0, False), (1, False)] and d.state.config_halt


def test_no_cuda_acts_at_once_not_after_the_grace():
    i = [inst(0), inst(1)]
    r = [rec(0, S.PRODUCING), rec(1, S.ERROR, since=5, fatal="no_cuda", produced=False)]
    assert destroys(decide(snap(i, r), PolicyState(), CFG, 2, NOW)) == [(1, True)]


# -- stuck loading the model ------------------------------------------------------------------------

def test_stuck_loading_is_replaced_after_ten_minutes_not_fifteen():
    assert T.stuck_loading_s < T.no_progress_s
    i = [inst(0), inst(1, age=T.stuck_loading_s + 200)]
    for since, fires in ((T.stuck_loading_s - 1, False), (T.stuck_loading_s + 1, True)):
        r = [rec(0, S.PRODUCING), rec(1, S.LOADING_MODEL, since=since, age=T.stuck_loading_s + 200, produced=False,
                                      evidence="Pulling initial weights from test/zeb-42...")]
        r[1] = dataclasses.replace(r[1], first_seen=NOW - T.stuck_loading_s - 200)
        d = decide(snap(i, r), PolicyState(), CFG, 2, NOW)
        assert destroys(d) == ([(1, True)] if fires else [])


def test_a_whole_fleet_stuck_loading_strikes_nobody():
    i = [inst(0), inst(1)]
    r = [dataclasses.replace(rec(n, S.LOADING_MODEL, since=T.stuck_loading_s + 5, produced=False),
                             first_seen=NOW - 7200) for n in (0, 1)]
    assert destroys(decide(snap(i, r), PolicyState(), CFG, 2, NOW)) == [(0, False), (1, False)]


# -- examples arriving on HF ------------------------------------------------------------------------

INTERVAL = 240.0
WINDOW = T.examples_stale_uploads * INTERVAL


def up(worker, ts, folder="large"):
    return f"{folder}/{worker}_{int(ts)}_{'ab12':s}.pt" if folder else f"{worker}_{int(ts)}_ab12.pt"


def test_upload_names_parse_by_namespace():
    assert examples_folder("model") == "" and examples_folder("large") == "large"
    assert parse_upload("large/worker-vast-3_1780000000_9f8e.pt", "large") == ("worker-vast-3", 1780000000.0)
    assert parse_upload("worker-vast-3_1780000000_9f8e.pt", "") == ("worker-vast-3", 1780000000.0)
    assert parse_upload("other/worker-vast-3_1780000000_9f8e.pt", "large") is None
    assert parse_upload("large/README.md", "large") is None


def producing(i, first_batch_ago):
    return dataclasses.replace(rec(i, S.PRODUCING), first_batch_at=NOW - first_batch_ago)


def test_fresh_uploads_and_new_workers_are_not_flagged():
    recs = [producing(0, 7200), producing(1, WINDOW - 10)]       # 1 started producing recently: exempt
    c = check_examples(recs, [up("worker-vast-0", NOW - 100)], "large", {}, {}, INTERVAL, T, NOW)
    assert c.flags == {} and c.replace == {} and c.seen == {"worker-vast-0": NOW - 100}


def test_silent_worker_is_flagged_then_replaced_after_the_replace_window():
    recs = [producing(0, 7200), producing(1, 7200)]
    paths = [up("worker-vast-0", NOW - 60), up("worker-vast-1", NOW - WINDOW - 1)]
    c = check_examples(recs, paths, "large", {}, {}, INTERVAL, T, NOW)
    assert set(c.flagged) == {1} and c.flags == {"1": NOW} and c.replace == {}
    later = NOW + T.examples_replace_s
    c2 = check_examples(recs, [up("worker-vast-0", later - 60)], "large", c.seen, c.flags, INTERVAL, T, later)
    assert c2.flagged == {} and set(c2.replace) == {1} and "worker-vast-1" in c2.replace[1]
    # The learner pruned worker-vast-1's old file: what was seen is remembered, not forgotten.
    assert c2.seen["worker-vast-1"] == NOW - WINDOW - 1


def test_a_failed_listing_is_not_seen_no_flag_no_replacement():
    recs = [producing(1, 7200)]
    c = check_examples(recs, None, "large", {}, {"1": NOW - T.examples_replace_s - 1}, INTERVAL, T, NOW)
    assert c.replace == {} and c.flagged == {} and c.flags == {"1": NOW - T.examples_replace_s - 1}


def test_uploads_resuming_clear_the_flag():
    recs = [producing(1, 7200)]
    c = check_examples(recs, [up("worker-vast-1", NOW - 30)], "large", {}, {"1": NOW - 600}, INTERVAL, T, NOW)
    assert c.flags == {} and c.replace == {}


def test_decide_replaces_examples_silent_workers_without_a_strike():
    i = [inst(0), inst(1)]
    r = [rec(0, S.PRODUCING), rec(1, S.PRODUCING)]
    d = decide(snap(i, r, examples_replace={1: "no examples on HF from worker-vast-1 for 40 min"}), PolicyState(),
               CFG, 2, NOW)
    assert destroys(d) == [(1, False)]
    assert [a.label for a in d.actions if isinstance(a, Launch)] == ["zeb-worker-vast-1"]
