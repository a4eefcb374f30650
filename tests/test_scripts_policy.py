"""The scripts' policy model (benchmarks/scripts_policy.py) follows vast_monitor.sh's rules: classification of
log tails, stall and two-poll resilience, age thresholds, strikes, offer ranking, launches and upgrades, on
plain data through a fake API; and the economics benchmark's --quick mode runs end to end."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import scripts_policy as sp

BATCH = "[worker-vast-0] batch {n}: 7168 examples, 2.6 games/s, step=142, total_games=256"


# -- check_worker -----------------------------------------------------------------------------------------


def test_batch_line_is_ok_with_the_last_batch():
    tail = "\n".join(["GPU OK: RTX 3080", BATCH.format(n=3), BATCH.format(n=4),
                      "[worker-vast-0] Upload complete (4 batches)"])
    assert sp.check_worker(tail) == "OK:batch 4: 7168 examples, 2.6 games/s"


@pytest.mark.parametrize("line", ["Traceback (most recent call last):", "worker OOM, restarting",
                                  "Killed", "RuntimeError: size mismatch for head.weight", "SomeException: boom",
                                  "oom-killer invoked"])
def test_fatal_lines_are_errors_even_after_batches(line):
    assert sp.check_worker(BATCH.format(n=9) + "\n" + line).startswith("ERR:")


def test_the_bare_torch_oom_line_is_not_in_the_scripts_pattern():
    # grep -iE '(Exception|Traceback|killed|OOM|size mismatch)': "OutOfMemoryError" holds no "oom"; the real
    # worker's OOM also prints a Traceback, which is what the scripts catch.
    assert sp.check_worker(BATCH.format(n=9) + "\ntorch.OutOfMemoryError: CUDA out of memory").startswith("OK:")


def test_broken_launch_needs_ten_error_lines_and_no_progress():
    errs = ["/root/onstart.sh: line 4: python: command not found"] * 10
    assert sp.check_worker("\n".join(errs)).startswith("ERR:launch-broken(")
    assert sp.check_worker("\n".join(errs[:9])) == "WAIT"
    # Any progress marker (here the setup banner) keeps it out of the broken-launch rule.
    assert sp.check_worker("\n".join(["=== Setup started at now ===", *errs])) == "SETUP"


def test_setup_boot_wait_and_failed_reads():
    assert sp.check_worker("=== Setup started at Thu ===\ncode updated") == "SETUP"
    assert sp.check_worker("Pulling initial weights from x/y.pt...") == "SETUP"
    assert sp.check_worker("Error response from daemon: No such container: 1c0ffee") == "BOOT"
    assert sp.check_worker("") == "WAIT"
    assert sp.check_worker(None) == "BOOT"          # timeout 5 vastai logs ... || echo BOOT
    assert sp.check_worker("[w] Uploading 4 batches to HF...") == "OK:uploading"


# -- classify_all: stall and two-poll resilience -----------------------------------------------------------


def _poll(proj, iid, raw, age):
    out = sp.classify(iid, raw, age, proj)
    proj.update(iid, *sp.split(out))
    return out


def test_stall_is_the_same_batch_on_three_polls_of_a_worker_older_than_300s():
    proj = sp.Projections()
    raw = "OK:" + "batch 5: 7168 examples, 2.6 games/s"
    assert _poll(proj, 1, raw, 400).startswith("OK")
    assert _poll(proj, 1, raw, 460).startswith("OK")
    assert _poll(proj, 1, raw, 520).startswith("STALL:batch 5")
    # A young worker is never stalled.
    young = sp.Projections()
    for age in (100, 160, 220, 280):
        assert _poll(young, 2, raw, age).startswith("OK")


def test_a_bad_poll_after_ok_is_forgiven_but_an_error_before_any_batch_is_not():
    proj = sp.Projections()
    _poll(proj, 1, "OK:batch 1: 7168 examples, 2.6 games/s", 400)
    assert _poll(proj, 1, "BOOT", 460) == "POLL_TIMEOUT:BOOT"
    # Once produced, BOOT/WAIT stay forgiven; a real error after a forgiven poll is not.
    assert _poll(proj, 1, "WAIT", 520) == "POLL_TIMEOUT:WAIT"
    assert _poll(proj, 1, "ERR:Traceback", 580) == "ERR:Traceback"
    fresh = sp.Projections()
    assert _poll(fresh, 2, "ERR:OOM", 400) == "ERR:OOM"
    assert _poll(fresh, 2, "BOOT", 460) == "BOOT"


# -- offers ---------------------------------------------------------------------------------------------------


def _offer(oid, gpu, dph, mid):
    return {"id": oid, "gpu_name": gpu, "dph_total": dph, "machine_id": mid}


def test_offers_ranked_by_dph_per_expected_games_with_blacklist_cap_and_preferred_bonus():
    by_gpu = [[_offer(1, "RTX 3060", 0.055, 10), _offer(2, "RTX 3060", 0.06, 11)],
              [_offer(3, "RTX 4070 Ti", 0.08, 20), _offer(4, "RTX 4070 Ti", 0.20, 21)]]
    # 0.055/1.8 = 0.0306 vs 0.08/2.8 = 0.0286: the 4070 Ti wins on the table.
    assert sp.pick_offer(by_gpu, 0.09, set(), {})[0]["id"] == 3
    assert sp.pick_offer(by_gpu, 0.09, {"20"}, {})[0]["id"] == 1
    # A preferred 3060 seen at 2.0 games/s: 0.055 / 2.2 = 0.025 beats the 4070 Ti, and says so.
    assert sp.pick_offer(by_gpu, 0.09, set(), {"10": 2.0}) == (by_gpu[0][0], True)
    assert sp.pick_offer([[_offer(5, "RTX 3080", 0.10, 30)]], 0.09, set(), {}) is None


def test_downscale_order_not_running_then_young_then_worst_value():
    now = 10_000.0
    rows = [{"id": 1, "gpu_name": "RTX 3080", "dph_total": 0.08, "actual_status": "running", "start_date": now - 5000},
            {"id": 2, "gpu_name": "RTX 3060", "dph_total": 0.08, "actual_status": "running", "start_date": now - 5000},
            {"id": 3, "gpu_name": "RTX 4070 Ti", "dph_total": 0.07, "actual_status": "running", "start_date": now - 60},
            {"id": 4, "gpu_name": "RTX 4070 Ti", "dph_total": 0.07, "actual_status": "loading",
             "start_date": now - 900}]
    assert [r["id"] for r in sp.downscale_order(rows, {}, now)] == [4, 3, 2, 1]
    assert sp.worst_value(rows, exclude=2)[1]["id"] == 1


# -- the monitor on a fake API -----------------------------------------------------------------------------------


class FakeApi:
    def __init__(self, offers):
        self.t = 100_000.0
        self.instances: dict[int, dict] = {}
        self.tails: dict[int, str | None] = {}
        self.offers = offers            # gpu -> [offer]
        self.calls: list[str] = []
        self.credit = True
        self.next_id = 100

    def now(self):
        return self.t

    def list_instances(self):
        self.calls.append("list")
        return list(self.instances.values())

    def logs(self, iid, tail):
        self.calls.append("logs")
        assert tail == 50
        return self.tails.get(iid, "")

    def search(self, gpu, limit):
        self.calls.append("search")
        return [o for o in self.offers.get(gpu.replace("_", " "), []) if not o.get("rented")][:limit]

    def create(self, offer_id, body):
        self.calls.append("create")
        if not self.credit:
            return "failed with error 402: Your account lacks credit; see the billing page to add some."
        offer = next(o for os_ in self.offers.values() for o in os_ if o["id"] == offer_id)
        if offer.get("rented"):
            return "failed with error 404: no_such_ask"
        offer["rented"] = True
        self.next_id += 1
        self.instances[self.next_id] = {"id": self.next_id, "label": body["label"], "gpu_name": offer["gpu_name"],
                                        "actual_status": "running", "dph_total": offer["dph_total"],
                                        "start_date": self.t, "machine_id": offer["machine_id"], "body": body}
        return f"Started. {{'success': True, 'new_contract': {self.next_id}}}"

    def destroy(self, iid):
        self.calls.append("destroy")
        self.instances.pop(iid, None)


def _market(n=12):
    return {"RTX 3080": [_offer(500 + k, "RTX 3080", round(0.07 + k * 0.001, 3), 9000 + k) for k in range(n)]}


def _monitor(api, target=2, **kw):
    cfg = sp.ScriptsConfig(target=target, gpus=("RTX_3080",), max_dph=0.09, **kw)
    return sp.ScriptsMonitor(cfg, api)


def test_parallel_launches_in_a_batch_race_for_the_same_offer_and_use_the_scripts_launch():
    api = FakeApi(_market())
    mon = _monitor(api, target=4)
    assert mon.cycle() == 60.0
    # Four parallel spawns saw the same best offer: one got it.
    assert len(api.instances) == 1
    body = next(iter(api.instances.values()))["body"]
    assert body["image"] == "jasonyandell/zeb-worker:latest" and body["label"] == "zeb-worker-vast-0"
    assert body["env"]["WORKER_ID"] == "worker-vast-0" and body["env"]["ZEB_UPLOAD_INTERVAL"] == "240"
    assert "--repo-id jasonyandell/zeb-42 " in body["onstart"] and "@@" not in body["onstart"]
    assert "--weights-name zeb-557k-1m " in body["onstart"]


def test_phase_two_cadence_after_30_minutes():
    api = FakeApi(_market())
    mon = _monitor(api)
    assert mon.cycle() == 60.0
    api.t += 1800
    assert mon.cycle() == 600.0


def test_thresholds_and_strikes():
    api = FakeApi(_market(30))
    mon = _monitor(api, target=2)
    for _ in range(3):      # fill and pass the three warm-up cycles
        mon.cycle()
        api.t += 60
    assert len(api.instances) == 2
    a, b = sorted(api.instances)
    api.tails[a] = "=== Setup started at x ==="      # SETUP
    api.tails[b] = ""                               # WAIT
    api.instances[a]["start_date"] = api.instances[b]["start_date"] = api.t - 650
    mon.cycle()
    # SETUP over 600 s is replaced (strike), WAIT at 650 s is not yet (900 s).
    assert a not in api.instances and b in api.instances
    assert mon.strikes[str(9000)] + mon.strikes[str(9001)] == 1
    api.t += 60
    api.instances[b]["start_date"] = api.t - 950
    mon.cycle()
    assert b not in api.instances


def test_error_waits_for_300s_and_for_the_warmup():
    api = FakeApi(_market())
    mon = _monitor(api, target=1)
    mon.cycle()
    (iid,) = api.instances
    api.tails[iid] = "Traceback (most recent call last):"
    api.instances[iid]["start_date"] = api.t - 1000
    api.t += 60
    mon.cycle()          # check 2: warm-up, only observed
    assert iid in api.instances
    api.t += 60
    mon.cycle()
    api.t += 60
    mon.cycle()          # check 4: acted on
    assert iid not in api.instances and len(api.instances) == 1


def test_three_strikes_block_a_machine():
    api = FakeApi({"RTX 3080": [_offer(1, "RTX 3080", 0.07, 77), _offer(2, "RTX 3080", 0.08, 78)]})
    mon = _monitor(api, target=1)
    for _ in range(3):
        mon.strikes["77"] += 1 if _ < 2 else 0
    assert mon.find_offer()[0]["machine_id"] == 77
    mon.blacklist_host(77, "test")
    assert mon.find_offer()[0]["machine_id"] == 78
    assert [a.kind for a in mon.actions] == ["strike"]


def test_cost_guard_destroys_with_a_strike():
    api = FakeApi(_market())
    mon = _monitor(api, target=1)
    mon.cycle()
    (iid,) = api.instances
    api.instances[iid]["dph_total"] = 0.5
    api.t += 60
    mon.cycle()
    assert iid not in api.instances and sum(mon.strikes.values()) == 1


def test_upgrade_trial_when_full_and_healthy_then_swap():
    offers = {"RTX 3080": [_offer(1, "RTX 3080", 0.089, 1)], "RTX 4070 Ti": []}
    api = FakeApi(offers)
    cfg = sp.ScriptsConfig(target=1, gpus=("RTX_3080", "RTX_4070_Ti"), max_dph=0.09)
    mon = sp.ScriptsMonitor(cfg, api)
    mon.cycle()
    (old,) = api.instances
    api.tails[old] = "[w] batch 7: 7168 examples, 2.6 games/s, step=1"
    offers["RTX 4070 Ti"].append(_offer(2, "RTX 4070 Ti", 0.07, 2))     # 0.025 vs 0.034: > 15% better
    api.t += 60
    mon.cycle()
    trial = mon.upgrade_iid
    assert trial is not None and api.instances[trial]["label"] == "zeb-worker-vast-upgrade"
    api.tails[trial] = "[w] batch 1: 7168 examples, 4.0 games/s, step=1"
    api.tails[old] = "[w] batch 8: 7168 examples, 2.6 games/s, step=1"
    api.t += 60
    mon.cycle()
    assert old not in api.instances and trial in api.instances and mon.upgrade_iid is None


def test_failed_upgrade_trial_is_struck_and_cools_down():
    offers = {"RTX 3080": [_offer(1, "RTX 3080", 0.089, 1)], "RTX 4070 Ti": [_offer(2, "RTX 4070 Ti", 0.07, 2)]}
    api = FakeApi(offers)
    offers_4070 = offers.pop("RTX 4070 Ti")
    cfg = sp.ScriptsConfig(target=1, gpus=("RTX_3080", "RTX_4070_Ti"), max_dph=0.09)
    mon = sp.ScriptsMonitor(cfg, api)
    mon.cycle()
    (old,) = api.instances
    api.tails[old] = "[w] batch 7: 7168 examples, 2.6 games/s, step=1"
    offers["RTX 4070 Ti"] = offers_4070
    api.t += 60
    mon.cycle()
    trial = mon.upgrade_iid
    for k in range(16):
        api.t += 60
        api.tails[old] = f"[w] batch {8 + k}: 7168 examples, 2.6 games/s, step=1"
        mon.cycle()
    assert trial not in api.instances and mon.strikes["2"] == 1
    assert mon.upgrade_cooldown > api.t


def test_lacks_credit_pauses_and_probes_every_300s():
    api = FakeApi(_market())
    api.credit = False
    mon = _monitor(api, target=2)
    assert mon.cycle() == 300.0 and mon.no_credit
    api.t += 300
    api.calls.clear()
    assert mon.cycle() == 300.0         # one probe launch, still no credit; no other launches
    assert api.calls.count("create") == 1
    api.credit = True
    api.t += 300
    mon.cycle()
    assert not mon.no_credit and len(api.instances) == 2


def test_in_process_backend_counts_calls_like_the_cli():
    from zeb.sim.clock import ManualClock
    from zeb.sim.market import Market

    market = Market(ManualClock(), seed=3, credit=1e6)
    offers = [market.add_machine("RTX 3080") for _ in range(30)]
    api = sp.InProcessBackend(market)
    cfg = sp.ScriptsConfig(target=1)
    for o in offers:
        assert "new_contract" in api.create(o.id, sp.create_body(cfg, "worker-vast-0"))
    market.reset_calls()
    assert len(api.list_instances()) == 30
    assert market.count_calls("GET", "/api/v1/instances/") == 2     # 25 rows a page
    iid = next(iter(market.instances))
    api.logs(iid, 50)
    api.search("RTX_3080", 10)
    api.destroy(iid)
    assert market.count_calls() == 5


@pytest.mark.slow
def test_benchmark_quick_mode_runs(capsys):
    import bench_fleet_economics as bench

    assert bench.main(["--quick", "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert "failure -> replacement producing, median" in out and "rentals per faulty machine, max" in out
    assert "met" in out
