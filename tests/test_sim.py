"""The simulated marketplace: the real `vastai` CLI and SDK against it, every lifecycle path and fault
kind on the virtual clock, credit, API faults, scenarios."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import requests

from tests.test_sim_onstart import PYTORCH_26, ZEB_ENV, ZEB_SELFPLAY
from zeb.core.lifecycle import WorkerState, classify
from zeb.sim.clock import ManualClock, ScaledClock
from zeb.sim.market import FAULTS, Market
from zeb.sim.onstart import KNOWN_GOOD_LAUNCH, KNOWN_GOOD_ONSTART, known_good_body
from zeb.sim.scenarios import load_scenario, names
from zeb.sim.server import SimServer


@pytest.fixture
def served():
    market = Market(ManualClock(), seed=9)
    market.populate(30, gpus=["RTX 3060", "RTX 3070", "RTX 4070 Ti"], faulty_share=0.0)
    server = SimServer(market)
    url = server.start()
    yield market, url
    server.stop()


def _vastai(url, *args):
    exe = shutil.which("vastai") or os.path.join(os.path.dirname(sys.executable), "vastai")
    out = subprocess.run([exe, "--url", url, "--api-key", "sim-key", *args], capture_output=True, text=True,
                         timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_real_vastai_cli_works_against_the_sim(served):
    market, url = served
    offers = json.loads(_vastai(url, "search", "offers", "gpu_name in [RTX_3060,RTX_3070] num_gpus=1",
                                "-o", "dph_total", "--raw"))
    assert offers and {o["gpu_name"] for o in offers} <= {"RTX 3060", "RTX 3070"}
    assert [o["dph_total"] for o in offers] == sorted(o["dph_total"] for o in offers)
    created = _vastai(url, "create", "instance", str(offers[0]["id"]), "--image", KNOWN_GOOD_LAUNCH["image"],
                      "--disk", "20", "--label", "zeb-worker-vast-0", "--env", "-e WORKER_ID=worker-vast-0",
                      "--onstart-cmd", KNOWN_GOOD_ONSTART, "--raw")
    new_id = json.loads(created)["new_contract"]
    rows = json.loads(_vastai(url, "show", "instances", "--raw"))
    assert [r["id"] for r in rows] == [new_id] and rows[0]["label"] == "zeb-worker-vast-0"
    market.clock.advance(3600)
    logs = _vastai(url, "logs", str(new_id), "--tail", "20")
    assert "games/s" in logs
    user = json.loads(_vastai(url, "show", "user", "--raw"))
    assert user["credit"] < 100.0 and "api_key" not in user
    _vastai(url, "destroy", "instance", str(new_id), "-y")
    assert market.instances == {}


def test_sdk_calls_and_auth(served):
    from vastai import VastAI

    _market, url = served
    sdk = VastAI(api_key="sim-key", server_url=url)
    offer = sdk.search_offers(query="gpu_name=RTX_4070_Ti num_gpus=1", order="dph_total", limit=3)[0]
    sdk.create_instance(offer["id"], image="img", disk=10, label="x")
    assert len(sdk.show_instances()) == 1
    r = requests.get(f"{url}/api/v0/users/current", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert r.status_code == 401


def test_search_operators(served):
    _market, url = served

    def search(q):
        r = requests.post(f"{url}/api/v0/bundles/", json=q, headers={"Authorization": "Bearer sim-key"}, timeout=5)
        return r.json()["offers"]

    everything = search({"order": [["dph_total", "asc"]]})
    cut = everything[5]["dph_total"]
    assert all(o["dph_total"] < cut for o in search({"dph_total": {"lt": str(cut)}}))
    assert all(o["dph_total"] <= cut for o in search({"dph_total": {"lte": str(cut)}}))
    assert all(o["dph_total"] > cut for o in search({"dph_total": {"gt": str(cut)}}))
    assert all(o["dph_total"] >= cut for o in search({"dph_total": {"gte": str(cut)}}))
    assert {o["gpu_name"] for o in search({"gpu_name": {"neq": "RTX 3060"}})} == {"RTX 3070", "RTX 4070 Ti"}
    assert {o["gpu_name"] for o in search({"gpu_name": {"notin": ["RTX 3060", "RTX 3070"]}})} == {"RTX 4070 Ti"}
    assert {o["gpu_name"] for o in search({"gpu_name": {"eq": "RTX_3070"}})} == {"RTX 3070"}
    assert len(search({"limit": 4})) == 4
    desc = search({"order": [["dph_total", "desc"]]})
    assert desc[0]["dph_total"] == max(o["dph_total"] for o in everything)
    new_asks = requests.put(f"{url}/api/v0/search/asks/", json={"q": {"gpu_name": {"in": ["RTX 3060"]}}},
                            headers={"Authorization": "Bearer sim-key"}, timeout=5).json()["offers"]
    assert new_asks and {o["gpu_name"] for o in new_asks} == {"RTX 3060"}


def _life(fault, *, advance=3 * 3600, step=60, after=1800.0, body=None):
    clock = ManualClock()
    m = Market(clock, seed=1)
    offer = m.add_machine("RTX 3070", fault=fault, fault_after_s=after)
    iid = m.create(offer.id, body or known_good_body("zeb-worker-vast-0", {"WORKER_ID": "worker-vast-0"}))
    seen = []
    for _ in range(int(advance / step)):
        clock.advance(step)
        inst = m.instances[iid]
        status = m.status_of(inst, clock.now())
        obs = classify(status, m.logs(iid, 200) or "")
        if not seen or seen[-1] != obs.state:
            seen.append(obs.state)
    return m, iid, seen


def test_healthy_path():
    # zeb's launch on the plain pytorch image: its setup (apt, clone, pip) lasts long enough to be seen.
    body = {"label": "zeb-worker-vast-0", "image": PYTORCH_26, "onstart": ZEB_SELFPLAY, "env": ZEB_ENV}
    _, _, seen = _life(None, body=body)
    assert seen[:1] == [WorkerState.BOOTING] and seen[-1] is WorkerState.PRODUCING
    assert WorkerState.SETUP in seen and WorkerState.LOADING_MODEL in seen


@pytest.mark.parametrize("fault,final", [
    ("dud", WorkerState.BOOTING), ("no_cuda", WorkerState.ERROR), ("oom", WorkerState.ERROR),
    ("crash", WorkerState.STOPPED), ("preempt", WorkerState.STOPPED), ("broken_launch", WorkerState.ERROR),
    ("slow_setup", WorkerState.SETUP),
])
def test_fault_paths(fault, final):
    _, _, seen = _life(fault, advance=2 * 3600 if fault != "slow_setup" else 1200)
    assert seen[-1] is final, seen


def test_stall_stops_the_batch_counter():
    m, iid, _ = _life("stall", advance=3600, after=600)
    first = m.logs(iid, 1)
    m.clock.advance(3600)
    assert m.logs(iid, 1) == first and "batch" in first


def test_flaky_ssh_loses_some_log_requests(served):
    market, url = served
    offer = market.add_machine("RTX 3070", fault="flaky_ssh")
    iid = market.create(offer.id, known_good_body("zeb-worker-vast-0"))
    market.clock.advance(3600)
    codes = [requests.put(f"{url}/api/v0/instances/request_logs/{iid}/", json={"tail": "5"},
                          headers={"Authorization": "Bearer sim-key"}, timeout=5).status_code for _ in range(30)]
    assert 200 in codes and 500 in codes
    assert set(FAULTS) >= {"dud", "no_cuda", "oom", "slow_setup", "stall", "crash", "preempt", "flaky_ssh"}


def test_logs_honour_tail_and_are_deterministic(served):
    market, _url = served
    iid = market.adopt("RTX 3070", "zeb-worker-vast-0", age_s=86400)
    a = market.logs(iid, 50)
    assert len(a.splitlines()) == 50 and a == market.logs(iid, 50)
    assert market.logs(iid, 10) == "\n".join(a.splitlines()[-10:]) + "\n"


def test_credit_drains_and_top_up():
    clock = ManualClock()
    m = Market(clock, seed=1, credit=1.0)
    offer = m.add_machine("RTX 3070", dph=0.5)
    m.create(offer.id, {"label": "a"})
    clock.advance(3600)
    assert m.credit == pytest.approx(0.5)
    clock.advance(3600)
    other = m.add_machine("RTX 3070")
    with pytest.raises(PermissionError):
        m.create(other.id, {"label": "b"})
    m.top_up(5)
    assert m.create(other.id, {"label": "b"})


def test_control_api_advances_clock_and_reads_calls(served):
    market, url = served
    before = market.clock.now()
    requests.post(f"{url}/_sim/advance", json={"seconds": 600}, timeout=5)
    assert market.clock.now() == before + 600
    requests.get(f"{url}/api/v1/instances/", headers={"Authorization": "Bearer sim-key"}, timeout=5)
    calls = requests.get(f"{url}/_sim/calls", timeout=5).json()["calls"]
    assert [c["path"] for c in calls] == ["/api/v1/instances/"]
    requests.post(f"{url}/_sim/fault", json={"kind": "429", "count": 1, "retry_after": 3}, timeout=5)
    r = requests.get(f"{url}/api/v1/instances/", headers={"Authorization": "Bearer sim-key"}, timeout=5)
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    requests.post(f"{url}/_sim/credit", json={"set": 0}, timeout=5)
    assert market.credit == 0


def test_scenarios_load():
    assert set(names()) >= {"default", "sick-fleet", "no-credit", "flaky-api", "big-market"}
    clock = ManualClock()
    assert len(load_scenario("default", clock).offers) >= 55
    sick = load_scenario("sick-fleet", clock)
    labels = {i.label for i in sick.instances.values()}
    assert {"zeb-large-worker-vast-0", "my-notebook", "zeb-worker-vast-0"} <= labels
    assert {sick.machines[i.machine_id].fault for i in sick.instances.values()} >= {
        "dud", "no_cuda", "oom", "crash", "preempt", "stall", "broken_launch"}
    assert load_scenario("no-credit", clock).credit == 0
    assert load_scenario("flaky-api", clock).api_faults
    big = load_scenario("big-market", clock)
    assert len(big.instances) == 200 and sum(not o.rented for o in big.offers.values()) == 500


def test_scaled_clock_runs_fast():
    c = ScaledClock(1000.0)
    t0 = c.now()
    c.sleep(100)   # 0.1 s of real time
    assert c.now() - t0 >= 100


def test_bulk_destroy_label_and_state_change(served):
    market, url = served
    ids = [market.adopt("RTX 3070", f"zeb-worker-vast-{n}") for n in range(3)]
    auth = {"Authorization": "Bearer sim-key"}
    r = requests.put(f"{url}/api/v0/instances/{ids[0]}/", json={"label": "renamed"}, headers=auth, timeout=5)
    assert r.json()["success"] and market.instances[ids[0]].label == "renamed"
    requests.put(f"{url}/api/v0/instances/{ids[1]}/", json={"state": "stopped"}, headers=auth, timeout=5)
    assert market.status_of(market.instances[ids[1]], market.clock.now()) == "stopped"
    r = requests.delete(f"{url}/api/v0/instances/", json={"instance_ids": ids[:2]}, headers=auth, timeout=5)
    assert r.json()["destroyed"] == ids[:2] and list(market.instances) == [ids[2]]
