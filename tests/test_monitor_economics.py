"""The monitor spends calls and money only where evidence is due (issue 10): per-worker polling, offer
searches only when a launch or an upgrade check is planned, credit back -> launches in the same cycle,
and a flaky API never costs a healthy worker its place or its host a strike."""

from __future__ import annotations

import dataclasses

import pytest

from tests.simenv import HF_TOKEN
from zeb.adapters.vast import VastClient
from zeb.core.config import resolve
from zeb.core.lifecycle import WorkerRecord
from zeb.core.lifecycle import WorkerState as S
from zeb.plan.cadence import next_poll_at
from zeb.service.monitor import Monitor
from zeb.storage.store import Store

T = resolve("zeb", {}, {"ZEB_CONFIG": "/none"}).thresholds
KW = dict(flux_s=T.flux_poll_s, slow_s=T.slow_interval_s, retry_s=T.fast_interval_s)


def _rec(state, polled_at=1000.0, **kw) -> WorkerRecord:
    base = dict(instance_id=1, label="zeb-worker-vast-0", machine_id=7, gpu_name="RTX 3080", dph_total=0.08,
                created_at=0.0, state=state, state_since=0.0, first_seen=0.0, polled_at=polled_at)
    return WorkerRecord(**{**base, **kw})


def test_next_poll_follows_the_evidence():
    assert next_poll_at(None, "running", **KW) == 0.0, "a new worker is read at once"
    assert next_poll_at(None, "loading", **KW) is None, "Vast says it is not running: nothing to read"
    assert next_poll_at(_rec(S.SETUP), "running", **KW) == 1000.0 + T.flux_poll_s
    slow = _rec(S.PRODUCING, last_progress_at=990.0, games_per_s=1.0, total_games=2560, last_batch=10)
    assert next_poll_at(slow, "running", **KW) == 1000.0 + T.slow_interval_s, "a 256 s batch: stall check later"
    fast = _rec(S.PRODUCING, last_progress_at=990.0, games_per_s=4.0, total_games=2560, last_batch=10)
    assert next_poll_at(fast, "running", **KW) == pytest.approx(990.0 + 2.5 * 64 + 1), "a stall could be confirmed"
    assert next_poll_at(_rec(S.PRODUCING, failed_polls=1), "running", **KW) == 1000.0 + T.fast_interval_s
    assert next_poll_at(_rec(S.STOPPED), "exited", **KW) is None, "a stopped worker's last log is read once"
    assert next_poll_at(_rec(S.PRODUCING), "exited", **KW) == 0.0


def _monitor(sim, target: int) -> Monitor:
    cfg = resolve("zeb", {"target_workers": target}, sim.env)
    client = VastClient.from_env(sim.env, sleep=sim.clock.sleep)
    return Monitor(cfg, target, client, Store(sim.home), HF_TOKEN, clock=sim.clock.now, hub_env=sim.env)


def _until_producing(sim, mon: Monitor, target: int, limit: int = 80) -> None:
    for _ in range(limit):
        report = mon.cycle()
        if report.producing == target and report.live == target:
            return
        sim.clock.advance(report.interval)
    raise AssertionError("the fleet never became healthy")


def test_a_full_healthy_fleet_searches_offers_only_on_the_upgrade_cadence_and_reads_logs_slowly(sim):
    mon = _monitor(sim, 3)
    _until_producing(sim, mon, 3)
    hour = 3600.0
    for start in (sim.clock.now(),):          # the first hour: uploads start reaching HF
        while sim.clock.now() - start < hour:
            sim.clock.advance(mon.cycle().interval)
    sim.market.reset_calls()
    start = sim.clock.now()
    while sim.clock.now() - start < hour:
        report = mon.cycle()
        assert not report.error
        sim.clock.advance(report.interval)
    searches = sim.market.count_calls("POST", "/api/v0/bundles/")
    assert searches <= hour / T.upgrade_check_s + 1, searches
    log_reads = sim.market.count_calls("PUT", "/api/v0/instances/request_logs/")
    # Their examples keep reaching HF, so each worker's log is read about every healthy_poll_s only.
    assert log_reads <= 3 * (hour / T.healthy_poll_s + 1), log_reads


def test_launches_resume_in_the_cycle_that_sees_credit_back(sim_factory):
    sim = sim_factory("no-credit")
    mon = _monitor(sim, 2)
    first = mon.cycle()
    assert mon.policy.credit_wait, first.actions
    sim.market.top_up(50.0)
    sim.clock.advance(T.credit_probe_s + 1)
    report = mon.cycle()
    assert "credit check: credit is back" in report.actions
    assert any(a.startswith("launched ") for a in report.actions), report.actions


def test_a_flaky_api_never_replaces_or_strikes_a_healthy_worker(sim):
    mon = _monitor(sim, 3)
    _until_producing(sim, mon, 3)
    healthy = {i for i, r in mon.records.items() if r.state is S.PRODUCING}
    # For 10 simulated minutes every log request fails or hangs (under the unseen limit).
    sim.market.inject("500", 40, path="/api/v0/instances/request_logs/")
    sim.market.inject("hang", 10, path="/_logs/", delay=0.2)
    start = sim.clock.now()
    while sim.clock.now() - start < 600:
        report = mon.cycle()
        sim.clock.advance(report.interval)
    assert healthy <= set(sim.market.instances), "no healthy worker was destroyed"
    assert mon.counters.strikes == 0 and mon.counters.replacements == 0
    assert all(mon.records[i].state is S.PRODUCING for i in healthy)


def test_a_hung_first_read_of_an_old_producing_worker_is_not_stuck_booting(sim):
    iid = sim.market.adopt("RTX 3080", "zeb-worker-vast-0", age_s=4 * 3600)
    sim.market.inject("500", 12, path="/api/v0/instances/request_logs/")   # every retry of the first read
    mon = _monitor(sim, 1)
    report = mon.cycle()
    assert iid in sim.market.instances and not [a for a in report.actions if "destroyed" in a], report.actions
    assert mon.records[iid].last_seen_at is None and mon.counters.strikes == 0
    sim.clock.advance(report.interval)
    for _ in range(5):
        report = mon.cycle()
        sim.clock.advance(report.interval)
    assert mon.records[iid].state is S.PRODUCING and iid in sim.market.instances
    assert dataclasses.asdict(mon.counters)["strikes"] == 0


def test_a_worker_that_crashed_on_its_host_strikes_it_and_a_preemption_does_not():
    from tests.test_plan_monitor import CFG, NOW, inst, rec, snap
    from zeb.plan.monitor import Destroy, PolicyState, decide

    for fatal, strike in (("traceback", True), ("segfault", True), (None, False), ("oom", False)):
        r = dataclasses.replace(rec(1, S.STOPPED, fatal=fatal), first_batch_at=NOW - 3000, last_batch=40)
        d = decide(snap([inst(0, 0), inst(1, 1, status="exited")], [rec(0, S.PRODUCING), r]), PolicyState(), CFG,
                   2, NOW)
        assert [(a.instance_id, a.strike) for a in d.actions if isinstance(a, Destroy)] == [(1, strike)], fatal


def test_an_end_after_producing_weighs_like_a_failed_boot():
    from zeb.plan.hosts import p_produce, record_boot, record_error

    ok = record_boot({}, 7, "RTX 3080", True, 200.0, 0.0)
    once = record_error(ok, 7, "preempted", 10.0)
    twice = record_error(ok, 7, "preempted", 10.0, 2.0)
    failed = record_boot(ok, 7, "RTX 3080", False, None, 10.0)
    assert p_produce(twice[7], 10.0) < p_produce(once[7], 10.0)
    assert p_produce(twice[7], 10.0) == pytest.approx(p_produce(failed[7], 10.0))


def test_a_stall_weighs_like_a_failed_boot_when_the_monitor_says_so():
    from zeb.plan.hosts import p_produce, record_boot, record_stall

    ok = record_boot({}, 7, "RTX 3080", True, 200.0, 0.0)
    assert p_produce(record_stall(ok, 7, 10.0, 2.0)[7], 10.0) == pytest.approx(
        p_produce(record_boot(ok, 7, "RTX 3080", False, None, 10.0)[7], 10.0))
    assert p_produce(record_stall(ok, 7, 10.0)[7], 10.0) > p_produce(record_stall(ok, 7, 10.0, 2.0)[7], 10.0)


def test_learn_turns_a_cycle_into_reputation():
    from zeb.core.lifecycle import Event
    from zeb.plan.hosts import p_produce
    from zeb.plan.monitor import CycleFacts, learn

    now = 5000.0
    booted = _rec(S.PRODUCING, instance_id=1, machine_id=7, first_batch_at=now, games_per_s=3.0, created_at=4700.0)
    stalled = _rec(S.STALLED, instance_id=2, machine_id=8, first_batch_at=1000.0)
    dud = _rec(S.BOOTING, instance_id=3, machine_id=9)
    evs = (Event(now, 1, booted.label, 7, S.SETUP, S.PRODUCING, "observed producing", ""),
           Event(now, 2, stalled.label, 8, S.PRODUCING, S.STALLED, "no new batch", ""))
    facts = CycleFacts(fresh=frozenset({1}), records={1: booted, 2: stalled, 3: dud}, transitions=evs,
                       given_up=((dud, "stuck booting"),))
    hosts = learn({}, facts, now)
    assert hosts[7].boot_samples == 1 and hosts[7].boot_s == pytest.approx(300.0)
    assert p_produce(hosts[7], now) > 0.85 > p_produce(hosts[8], now) and p_produce(hosts[9], now) < 0.85
    assert learn({}, CycleFacts(fresh=frozenset(), records={1: booted}), now) == {}, "a record not read: no sample"


def test_reads_due_before_the_next_cycle_are_made_now():
    from zeb.plan.cadence import is_due

    assert is_due(100.0, 100.0, 90.0) and is_due(144.0, 100.0, 90.0)
    assert not is_due(146.0, 100.0, 90.0) and not is_due(None, 100.0, 90.0)


def test_what_a_destroy_says_about_its_machine():
    from zeb.plan.monitor import Destroy, destroy_verdict

    struck = Destroy(1, "zeb-worker-vast-0", 7, "stuck booting", strike=True)
    assert destroy_verdict(struck, _rec(S.BOOTING)) == "failed_boot"
    assert destroy_verdict(struck, _rec(S.STALLED, first_batch_at=10.0)) is None, "its stall is learnt elsewhere"
    preempted = Destroy(1, "zeb-worker-vast-0", 7, "Vast reports stopped")
    assert destroy_verdict(preempted, _rec(S.STOPPED)) == "ended"
    assert destroy_verdict(preempted, _rec(S.PRODUCING, failed_polls=9)) == "ended"
    assert destroy_verdict(Destroy(1, "x", 7, "above target", kind="downscale"), _rec(S.STOPPED)) is None
    assert destroy_verdict(struck, None) is None


@pytest.mark.parametrize("kind,produced,cause", [
    ("bad_branch", False, "config"), ("no_cuda", True, "hardware"), ("oom", False, "hardware"),
    ("oom", True, "none"), ("traceback", True, "crash"), ("hf_upload", True, "none"), (None, True, "none"),
])
def test_stop_causes(kind, produced, cause):
    from zeb.plan.monitor import stop_cause

    assert stop_cause(kind, produced) == cause


def test_the_poll_pool_grows_with_the_calls_within_bounds():
    from zeb.service.ops import poll_pool_size

    assert poll_pool_size(8, 0) >= 1 and poll_pool_size(8, 4) <= 8
    assert poll_pool_size(8, 100) == 50 and poll_pool_size(8, 1000) == 64
