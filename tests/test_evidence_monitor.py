"""The monitor reading what workers say, end to end against the simulated marketplace: stopped workers
blamed (or not) by their last log, a broken configuration halting launches, examples silent on HF."""

from __future__ import annotations

from tests.simenv import HF_TOKEN
from zeb.sim.clock import ManualClock
from zeb.sim.market import Market

BAD_REPO_TAIL = ("=== Setup started at Thu Feb  6 12:00:00 UTC 2026 ===\ngit installed\nCloning into '/root/code'...\n"
                 "fatal: repository 'https://github.com/jasonyandell/zebb.git/' not found\n")


def _destroyed(sim) -> set[int]:
    return {int(c["path"].rstrip("/").split("/")[-1]) for c in sim.calls("DELETE")}


def test_stopped_worker_is_blamed_by_its_last_log(sim_factory):
    market = Market(ManualClock(), seed=3)
    market.populate(10, faulty_share=0.0)
    healthy = market.adopt("RTX 3070", "zeb-worker-vast-0", age_s=7200)
    no_cuda = market.adopt("RTX 3060", "zeb-worker-vast-1", age_s=1200, fault="no_cuda")
    preempted = market.adopt("RTX 3060", "zeb-worker-vast-2", age_s=7200, fault="preempt")
    market.machines[market.instances[preempted].machine_id].fault_after_s = 3600
    market.set_state(no_cuda, "stopped")        # the container died on the host with no GPU
    machine_of = {i: market.instances[i].machine_id for i in (no_cuda, preempted)}
    sim = sim_factory(market)
    res = sim.run("monitor", "3", "--once")
    assert res.exit_code == 0, res.stderr
    assert {no_cuda, preempted} <= _destroyed(sim) and healthy not in _destroyed(sim)
    machines = {m["machine_id"]: m for m in sim.json("blacklist", "list")["data"]["machines"]}
    assert machine_of[no_cuda] in machines and machine_of[preempted] not in machines
    spans = sim.json("timeline", str(no_cuda))["data"]["spans"]
    assert any("AssertionError: No CUDA" in s["evidence"] for s in spans), spans


def test_a_broken_configuration_stops_launching_after_two_machines(sim_factory):
    class BadConfigMarket(Market):
        # Every instance runs the same broken onstart: the clone fails on every machine.
        def logs(self, instance_id, tail):
            text = super().logs(instance_id, tail)
            return None if text is None else (BAD_REPO_TAIL if text else text)

    market = BadConfigMarket(ManualClock(), seed=5)
    market.populate(30, faulty_share=0.0)
    sim = sim_factory(market)
    res = sim.run("monitor", "2", "--max-cycles", "40")
    assert res.exit_code == 0, res.stderr
    launches = sim.calls("PUT", "/api/v0/asks/")
    assert len(launches) == 2, len(launches)              # the first two machines, then no more
    assert sim.json("blacklist", "list")["data"]["machines"] == []
    assert res.stdout.count("CONFIG ERROR") == 1                        # said once, not every cycle
    said = " ".join(res.stdout.split())
    assert "bad_repo on 2 machines in a row" in said and "fix git_repo" in said
    assert not market.instances                            # nothing left renting


def test_broken_launch_next_to_producing_workers_strikes_the_host(sim_factory):
    market = Market(ManualClock(), seed=7)
    market.populate(10, faulty_share=0.0)
    market.adopt("RTX 3070", "zeb-worker-vast-0", age_s=7200)
    broken = market.adopt("RTX 3060", "zeb-worker-vast-1", age_s=400, fault="broken_launch")
    machine = market.instances[broken].machine_id
    sim = sim_factory(market)
    res = sim.run("monitor", "2", "--once")
    assert res.exit_code == 0, res.stderr
    assert broken in _destroyed(sim)
    assert machine in {m["machine_id"] for m in sim.json("blacklist", "list")["data"]["machines"]}
    logs_line = [s for s in sim.json("timeline", str(broken))["data"]["spans"] if s["state"] == "error"]
    assert logs_line and "/root/onstart.sh" in logs_line[0]["evidence"]


def test_examples_silent_on_hf_are_flagged_then_replaced_without_a_strike(sim_factory):
    from zeb.service.monitor import Monitor

    market = Market(ManualClock(), seed=9)
    market.populate(10, faulty_share=0.0)
    # Cheap fast workers: no offer is good enough for an upgrade trial to interfere.
    quiet = market.adopt("RTX 4070 Ti", "zeb-worker-vast-1", age_s=7200, dph=0.04)
    market.adopt("RTX 4070 Ti", "zeb-worker-vast-0", age_s=7200, dph=0.04)
    sim = sim_factory(market)
    clock = sim.clock
    # worker-vast-0 uploads every few minutes; worker-vast-1's uploads never reach the repo.
    sim.hub.examples_source = lambda repo: [(clock.now(), f"zeb-557k-1m/worker-vast-0_{int(clock.now()) - 60}_ab.pt")]
    app = sim.app()
    cfg = app.config(None, target_workers=2)
    mon = Monitor(cfg, 2, app.market, app.store, HF_TOKEN, clock=clock.now, hub_env=sim.env)
    first = mon.cycle()
    assert not any("flagged" in a for a in first.actions)            # just seen producing: exempt
    def tree_calls():
        return [c for c in sim.hub.calls if "/tree/" in c["path"]]
    assert len(tree_calls()) == 1
    clock.advance(60)
    mon.cycle()
    assert len(tree_calls()) == 1                                    # the slow cadence, not every cycle
    clock.advance(3 * 240 + 300)
    report = mon.cycle()
    assert [a for a in report.actions if a.startswith("flagged zeb-worker-vast-1")], report.actions
    states = [r["state"] for r in report.rows if r["label"] == "zeb-worker-vast-1"]
    assert states == ["producing (no examples)"], report.rows
    assert quiet not in _destroyed(sim)
    sim.hub.fail_next(503, times=1)                                   # a failed listing replaces nobody
    clock.advance(cfg.thresholds.examples_replace_s)
    mon.cycle()
    assert quiet not in _destroyed(sim)
    clock.advance(cfg.thresholds.slow_interval_s)
    report = mon.cycle()
    assert quiet in _destroyed(sim), report.actions
    assert sim.json("blacklist", "list")["data"]["machines"] == []
