"""The sim's HTTP face: the real `vastai` CLI (env-configured) and SDK against it, paging, filters and
order, auth, every API fault kind, the log endpoint, and the /_sim/ control API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest
import requests

from zeb.sim.clock import ManualClock, RealClock
from zeb.sim.market import Market
from zeb.sim.onstart import KNOWN_GOOD_LAUNCH
from zeb.sim.server import SimServer

AUTH = {"Authorization": "Bearer sim-key"}


@pytest.fixture
def served():
    market = Market(ManualClock(), seed=21)
    market.populate(24, gpus=["RTX 3060", "RTX 3070", "RTX 4070 Ti", "RTX 3080"], faulty_share=0.0)
    server = SimServer(market)
    url = server.start()
    try:
        yield market, url
    finally:
        server.stop()


def _sdk(url):
    from vastai import VastAI

    return VastAI(api_key="sim-key", server_url=url)


def _get(url, path, **params):
    return requests.get(url + path, params={k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()},
                        headers=AUTH, timeout=5)


def test_vastai_cli_configured_by_env(served, tmp_path):
    market, url = served
    exe = shutil.which("vastai") or os.path.join(os.path.dirname(sys.executable), "vastai")
    env = {**os.environ, "VAST_URL": url, "VAST_API_KEY": "sim-key", "HOME": str(tmp_path), "COLUMNS": "200"}

    def cli(*args):
        out = subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, env=env,
                             stdin=subprocess.DEVNULL)
        assert out.returncode == 0, out.stderr
        return out.stdout

    offer = min((o for o in market.offers.values() if market.machines[o.machine_id].gpu_name == "RTX 3080"),
                key=lambda o: o.dph_total)
    created = json.loads(cli("create", "instance", str(offer.id), "--image", KNOWN_GOOD_LAUNCH["image"],
                             "--disk", "20", "--label", "zeb-worker-vast-3",
                             "--env", "-e HF_TOKEN=hf_secret -e ZEB_UPLOAD_INTERVAL=240 -e WORKER_ID=worker-vast-3",
                             "--onstart-cmd", KNOWN_GOOD_LAUNCH["onstart"], "--raw"))
    iid = created["new_contract"]
    [create_call] = market.calls_to("PUT", "/api/v0/asks/")
    assert create_call["body"]["env"]["HF_TOKEN"] == "hf_secret" and market.offers[offer.id].rented
    market.clock.advance(2 * 3600)
    table = cli("show", "instances")
    assert str(iid) in table and "running" in table
    logs = cli("logs", str(iid), "--tail", "20").strip().splitlines()
    assert len(logs) == 20 and any(ln.startswith("[worker-vast-3] batch ") for ln in logs)
    user = json.loads(cli("show", "user", "--raw"))
    assert user["credit"] == pytest.approx(100 - 2 * offer.dph_total, abs=1e-3)


def test_sdk_end_to_end(served):
    market, url = served
    sdk = _sdk(url)
    offers = sdk.search_offers(query="gpu_name in [RTX_3060,RTX_3070] num_gpus=1", order="dph_total", limit=5)
    assert len(offers) == 5 and {o["gpu_name"] for o in offers} <= {"RTX 3060", "RTX 3070"}
    assert [o["dph_total"] for o in offers] == sorted(o["dph_total"] for o in offers)
    made = [sdk.create_instance(o["id"], image=KNOWN_GOOD_LAUNCH["image"], disk=10, label=f"zeb-worker-vast-{n}",
                                env={"HF_TOKEN": "hf_x"}, onstart_cmd=KNOWN_GOOD_LAUNCH["onstart"])["new_contract"]
            for n, o in enumerate(offers[:3])]
    rows = sdk.show_instances()
    assert [r["id"] for r in rows] == sorted(made) and rows[0]["extra_env"]["HF_TOKEN"] == "hf_x"
    assert rows[0]["actual_status"] is None and isinstance(rows[0]["start_date"], float)
    market.clock.advance(3600)
    one = sdk.show_instance(id=made[0])
    assert one["actual_status"] == "running" and one["gpu_name"] in ("RTX 3060", "RTX 3070")
    assert sdk.label_instance(id=made[0], label="renamed")["success"]
    sdk.stop_instance(id=made[1])
    assert market.status_of(market.instances[made[1]], market.clock.now()) == "stopped"
    sdk.destroy_instances(ids=made[1:])
    assert list(market.instances) == [made[0]] and market.instances[made[0]].label == "renamed"
    assert sdk.show_user()["credit"] < 100
    assert sdk.show_instance(id=12345) is None


def test_sixty_instances_page_in_three_requests_with_a_stable_keyset(served):
    market, url = served
    for n in range(60):
        market.adopt("RTX 3070", f"zeb-worker-vast-{n}", age_s=600)
    market.reset_calls()
    rows = _sdk(url).show_instances()
    assert len(rows) == 60 and len({r["id"] for r in rows}) == 60
    assert market.count_calls("GET", "/api/v1/instances/") == 3
    first = _get(url, "/api/v1/instances/", limit=25).json()
    assert first["total_instances"] == 60 and len(first["instances"]) == 25
    # A destroy between two page fetches neither skips nor repeats a row.
    market.destroy(first["instances"][3]["id"])
    rest = []
    token = first["next_token"]
    while token:
        page = _get(url, "/api/v1/instances/", limit=25, after_token=token).json()
        rest += page["instances"]
        token = page["next_token"]
    assert len(first["instances"]) + len(rest) == 60
    assert not {r["id"] for r in rest} & {r["id"] for r in first["instances"]}


def test_instance_filters_and_order(served):
    market, url = served
    for n in range(4):
        market.adopt("RTX 3060" if n % 2 else "RTX 3080", f"zeb-worker-vast-{n}", age_s=3600)
    market.adopt("RTX 3090", "my_notebook", age_s=3600)
    got = _get(url, "/api/v1/instances/", select_filters={"label": {"in": ["my_notebook", "zeb-worker-vast-1"]}})
    assert sorted(r["label"] for r in got.json()["instances"]) == ["my_notebook", "zeb-worker-vast-1"]
    got = _get(url, "/api/v1/instances/", select_filters={"gpu_name": {"in": ["RTX 3080"]}},
               order_by=[{"col": "label", "dir": "desc"}]).json()
    assert [r["label"] for r in got["instances"]] == ["zeb-worker-vast-2", "zeb-worker-vast-0"]
    by_price = _get(url, "/api/v1/instances/", order_by=[{"col": "dph_total", "dir": "desc"}], limit=2).json()
    everything = sorted((i.dph_total for i in market.instances.values()), reverse=True)
    assert [r["dph_total"] for r in by_price["instances"]] == everything[:2] and by_price["next_token"]
    tail = _get(url, "/api/v1/instances/", order_by=[{"col": "dph_total", "dir": "desc"}], limit=25,
                after_token=by_price["next_token"]).json()
    assert [r["dph_total"] for r in tail["instances"]] == everything[2:] and tail["next_token"] is None
    assert _get(url, "/api/v1/instances/", after_token="not-a-token").status_code == 400


def test_offer_search_operators_and_defaults(served):
    market, url = served
    sdk = _sdk(url)
    taken = next(iter(market.offers.values()))
    market.take_offer(taken.id)
    assert taken.id not in {o["id"] for o in sdk.search_offers(query="num_gpus=1", limit=100)}
    assert taken.id in {o["id"] for o in sdk.search_offers(query="num_gpus=1", limit=100, no_default=True)}
    new = sdk.search_offers_new(query="gpu_name=RTX_4070_Ti dph_total<0.2", order="dph_total-", limit=3)
    assert {o["gpu_name"] for o in new} == {"RTX 4070 Ti"}
    assert [o["dph_total"] for o in new] == sorted((o["dph_total"] for o in new), reverse=True)
    cut = sorted(o.dph_total for o in market.offers.values())[10]
    for op, ok in (("lt", float.__lt__), ("lte", float.__le__), ("gt", float.__gt__), ("gte", float.__ge__),
                   ("eq", float.__eq__), ("neq", float.__ne__)):
        rows = requests.post(f"{url}/api/v0/bundles/", json={"dph_total": {op: str(cut)}}, headers=AUTH,
                             timeout=5).json()["offers"]
        assert rows and all(ok(r["dph_total"], cut) for r in rows), op
    rows = requests.post(f"{url}/api/v0/bundles/", json={"gpu_name": {"notin": ["RTX 3060", "RTX 3070"]},
                                                         "num_gpus": {"in": ["1"]}, "limit": 3},
                         headers=AUTH, timeout=5).json()["offers"]
    assert len(rows) == 3 and {r["gpu_name"] for r in rows} <= {"RTX 4070 Ti", "RTX 3080"}


def test_create_failures_taken_absent_raced_and_no_credit(served):
    market, url = served
    ids = list(market.offers)

    def create(offer_id):
        return requests.put(f"{url}/api/v0/asks/{offer_id}/", json={"image": "img", "label": "x"}, headers=AUTH,
                            timeout=5)

    assert create(ids[0]).json()["success"]
    again = create(ids[0])
    assert again.status_code == 404 and again.json()["error"] == "no_such_ask"
    assert "not available" in again.json()["msg"]
    assert create(99).status_code == 404
    market.inject("rented")
    raced = create(ids[1])
    assert raced.status_code == 404 and market.offers[ids[1]].rented and len(market.instances) == 1
    assert create(ids[2]).json()["success"]         # the fault was for one call only
    market.set_credit(0)
    broke = create(ids[3])
    assert 400 <= broke.status_code < 500 and "lacks credit" in broke.json()["msg"]
    assert not market.offers[ids[3]].rented
    market.top_up(5)
    assert create(ids[3]).json()["success"]


def test_auth(served):
    _market, url = served
    assert requests.get(f"{url}/api/v0/users/current", timeout=5).status_code == 401
    wrong = requests.get(f"{url}/api/v0/users/current", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert wrong.status_code == 401 and wrong.json()["msg"]
    me = requests.get(f"{url}/api/v0/users/current", headers=AUTH, timeout=5).json()
    assert me["credit"] == 100 and me["api_key"] == "sim-key" and me["email"] and me["id"]


def test_429_with_retry_after_and_the_sdk_retrying_it(served):
    market, url = served
    market.inject("429", 1, retry_after=7)
    r = _get(url, "/api/v1/instances/")
    assert r.status_code == 429 and r.headers["Retry-After"] == "7" and r.json()["detail"]
    assert _get(url, "/api/v1/instances/").status_code == 200
    market.inject("429", 2, retry_after=0)
    market.reset_calls()
    assert _sdk(url).show_instances() == []
    assert market.count_calls("GET", "/api/v1/") == 3


def test_5xx_matching_a_path_and_the_sdk_not_retrying_500(served):
    market, url = served
    market.inject("503", 1, path="/api/v0/bundles")
    assert _get(url, "/api/v1/instances/").status_code == 200       # other paths untouched
    r = requests.post(f"{url}/api/v0/bundles/", json={}, headers=AUTH, timeout=5)
    assert r.status_code == 503
    market.inject("500", -1, path="/api/v0/users", method="GET")
    with pytest.raises(requests.HTTPError):
        _sdk(url).show_user()
    assert market.count_calls("GET", "/api/v0/users") == 1
    assert _get(url, "/api/v0/users/current").status_code == 500     # -1: until cleared
    market.api_faults.clear()
    assert _get(url, "/api/v0/users/current").status_code == 200


def test_malformed_json(served):
    market, url = served
    market.inject("malformed", 1, path="/api/v1/instances")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        _sdk(url).show_instances()
    assert _sdk(url).show_instances() == []


def test_log_endpoint_honours_tail_as_a_string_and_slow_fetches(served):
    market, url = served
    iid = market.adopt("RTX 3070", "zeb-worker-vast-0", age_s=3 * 3600)
    r = requests.put(f"{url}/api/v0/instances/request_logs/{iid}/", json={"tail": "3"}, headers=AUTH, timeout=5)
    result_url = r.json()["result_url"]
    assert result_url.startswith(url + "/_logs/")
    text = requests.get(result_url, timeout=5).text
    assert text.splitlines() == market.logs(iid, 3).splitlines() and len(text.splitlines()) == 3
    assert requests.get(result_url, timeout=5).status_code == 404      # fetched once, like a presigned URL
    assert requests.put(f"{url}/api/v0/instances/request_logs/999/", json={}, headers=AUTH,
                        timeout=5).status_code == 404
    market.inject("slow", 1, path="/_logs/", delay=0.2)
    result_url = requests.put(f"{url}/api/v0/instances/request_logs/{iid}/", json={}, headers=AUTH,
                              timeout=5).json()["result_url"]
    start = time.perf_counter()
    assert "games/s" in requests.get(result_url, timeout=5).text
    assert time.perf_counter() - start >= 0.2


def test_a_hung_log_fetch_times_out_and_ends_with_the_server():
    market = Market(ManualClock(), seed=1)
    iid = market.adopt("RTX 3070", "zeb-worker-vast-0")
    server = SimServer(market)
    url = server.start()
    market.inject("hang", 1, path="/_logs/")
    result_url = requests.put(f"{url}/api/v0/instances/request_logs/{iid}/", json={}, headers=AUTH,
                              timeout=5).json()["result_url"]
    before = set(threading.enumerate())
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(result_url, timeout=0.2)
    hung = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    assert len(hung) == 1
    server.stop()
    for t in hung:
        t.join(timeout=2)
    assert not any(t.is_alive() for t in hung)


def test_log_sdk_round_trip(served):
    market, url = served
    iid = market.adopt("RTX 4070 Ti", "zeb-worker-vast-2", age_s=2 * 3600)
    text = _sdk(url).logs(instance_id=iid, tail="5")
    assert len(text.splitlines()) == 5 and "[worker-vast-2] batch" in text


def test_bulk_state_reboot_and_label(served):
    market, url = served
    ids = [market.adopt("RTX 3070", f"zeb-worker-vast-{n}", age_s=3600) for n in range(3)]
    r = requests.put(f"{url}/api/v0/instances/", json={"ids": ids[:2], "state": "stopped"}, headers=AUTH, timeout=5)
    assert r.json()["ids"] == ids[:2]
    now = market.clock.now()
    assert [market.status_of(market.instances[i], now) for i in ids] == ["stopped", "stopped", "running"]
    row = _get(url, f"/api/v0/instances/{ids[0]}/", owner="me").json()["instances"]
    assert row["intended_status"] == "stopped" and row["cur_state"] == "stopped"
    requests.put(f"{url}/api/v0/instances/{ids[0]}/", json={"state": "running"}, headers=AUTH, timeout=5)
    assert market.status_of(market.instances[ids[0]], market.clock.now()) is None     # booting again
    assert requests.put(f"{url}/api/v0/instances/reboot/{ids[2]}/", json={}, headers=AUTH, timeout=5).json()["success"]
    assert market.logs(ids[2], 10) == ""
    assert requests.put(f"{url}/api/v0/instances/777/", json={"label": "x"}, headers=AUTH,
                        timeout=5).status_code == 404
    assert requests.delete(f"{url}/api/v0/instances/777/", headers=AUTH, timeout=5).status_code == 404


def test_control_api(served):
    market, url = served
    t0 = market.clock.now()
    assert requests.post(f"{url}/_sim/advance", json={"seconds": 90}, timeout=5).json()["now"] == t0 + 90
    requests.post(f"{url}/_sim/credit", json={"amount": 5}, timeout=5)
    assert market.credit == pytest.approx(105)
    requests.post(f"{url}/_sim/credit", json={"set": 1.5}, timeout=5)
    assert market.credit == pytest.approx(1.5)
    offer = next(iter(market.offers))
    requests.post(f"{url}/_sim/take-offer", json={"offer_id": offer}, timeout=5)
    assert market.offers[offer].rented
    requests.post(f"{url}/_sim/fault", json={"kind": "502", "count": 1}, timeout=5)
    assert _get(url, "/api/v1/instances/").status_code == 502
    bad = requests.post(f"{url}/_sim/fault", json={"kind": "teapot"}, timeout=5)
    assert bad.status_code == 400 and "teapot" in bad.json()["msg"]
    requests.put(f"{url}/api/v0/asks/{offer}/", json={"env": {"HF_TOKEN": "hf_x"}}, headers=AUTH, timeout=5)
    calls = requests.get(f"{url}/_sim/calls", params={"method": "PUT"}, timeout=5).json()
    assert calls["count"] == 1 and calls["calls"][0]["body"]["env"]["HF_TOKEN"] == "hf_x"
    assert calls["calls"][0]["time"] == t0 + 90
    iid = market.adopt("RTX 3060", "zeb-worker-vast-9")
    requests.post(f"{url}/_sim/state-change", json={"instance_id": iid, "state": "stopped"}, timeout=5)
    state = requests.get(f"{url}/_sim/state", timeout=5).json()
    assert [r["actual_status"] for r in state["instances"]] == ["stopped"]
    requests.post(f"{url}/_sim/machine-fault", json={"machine_id": market.instances[iid].machine_id,
                                                      "fault": "oom"}, timeout=5)
    assert market.machines[market.instances[iid].machine_id].fault == "oom"
    requests.delete(f"{url}/_sim/calls", timeout=5)
    assert market.calls == []


def test_control_api_cannot_advance_a_real_clock():
    market = Market(RealClock(), seed=1)
    with SimServer(market) as url:
        r = requests.post(f"{url}/_sim/advance", json={"seconds": 60}, timeout=5)
        assert r.status_code == 400 and "--speed" in r.json()["msg"]
