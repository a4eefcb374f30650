"""The one Vast client against the simulated marketplace on 127.0.0.1: paging, shapes, retries with
Retry-After, no retry for 4xx, bounded timeouts, error mapping, no secrets out."""

from __future__ import annotations

import time

import pytest

from zeb.errors import AuthError, NoCredit, OfferUnavailable, RateLimited, Unreachable
from zeb.sim.clock import ManualClock
from zeb.sim.market import Market
from zeb.sim.server import SimServer
from zeb.vast import LaunchSpec, VastClient


@pytest.fixture
def market():
    m = Market(ManualClock(), seed=3)
    m.populate(20, gpus=["RTX 3070", "RTX 4070 Ti"], faulty_share=0.0)
    return m


@pytest.fixture
def served(market):
    server = SimServer(market)
    url = server.start()
    yield market, url
    server.stop()


def client(url, **kw):
    sleeps = []
    c = VastClient("sim-key", url, sleep=sleeps.append, timeout=kw.pop("timeout", 5.0), **kw)
    return c, sleeps


def spec(offer_id, label="zeb-worker-vast-0"):
    return LaunchSpec(offer_id, label, "img", 20, {"HF_TOKEN": "hf_secret_in_env", "WORKER_ID": "worker-vast-0"}, "x")


def test_paging_and_row_mapping(served):
    market, url = served
    for n in range(60):
        market.adopt("RTX 3070", f"zeb-worker-vast-{n}", env={"HF_TOKEN": "hf_secret_in_env"})
    c, _ = client(url)
    rows = c.list_instances()
    assert len(rows) == 60 and market.count_calls("GET", "/api/v1/instances") == 3
    assert rows[0].gpu_name == "RTX 3070" and rows[0].ssh_command.startswith("ssh -p ")
    assert "hf_secret_in_env" not in repr(rows)
    assert not hasattr(rows[0], "extra_env")


def test_null_status_is_pending_not_dead(served):
    market, url = served
    c, _ = client(url)
    offer = c.search_offers(["RTX 3070"], limit=5)[0]
    new = c.create_instance(spec(offer.id))
    [row] = c.list_instances()
    assert row.id == new and row.status is None


def test_one_search_with_the_sdk_filter_shape(served):
    market, url = served
    c, _ = client(url)
    offers = c.search_offers(["RTX 3070", "RTX 4070 Ti"], max_dph=0.09, limit=7, exclude_machines={1})
    [call] = market.calls
    assert call["method"] == "POST" and call["path"] == "/api/v0/bundles/"
    body = call["body"]
    assert body["gpu_name"] == {"in": ["RTX 3070", "RTX 4070 Ti"]}
    assert body["dph_total"] == {"lte": "0.09"} and body["limit"] == 7 and body["order"] == [["dph_total", "asc"]]
    assert offers and all(o.dph_total <= 0.09 for o in offers)
    assert [o.dph_total for o in offers] == sorted(o.dph_total for o in offers)


def test_create_taken_offer_and_lacks_credit(served):
    market, url = served
    c, _ = client(url)
    offer = c.search_offers(["RTX 3070"], limit=5)[0]
    assert c.create_instance(spec(offer.id)) > 0
    assert market.instances[max(market.instances)].env["HF_TOKEN"] == "hf_secret_in_env"
    with pytest.raises(OfferUnavailable):
        c.create_instance(spec(offer.id))
    market.set_credit(0.0)
    other = c.search_offers(["RTX 3070"], limit=5)[0]
    with pytest.raises(NoCredit):
        c.create_instance(spec(other.id))


def test_destroy_is_idempotent(served):
    market, url = served
    c, _ = client(url)
    iid = market.adopt("RTX 3070", "zeb-worker-vast-0")
    assert c.destroy_instance(iid) is True
    assert c.destroy_instance(iid) is False


def test_429_honours_retry_after_then_succeeds(served):
    market, url = served
    market.inject("429", 2, retry_after=7)
    c, sleeps = client(url)
    assert c.list_instances() == []
    assert sleeps == [7.0, 7.0]


def test_429_forever_is_rate_limited_after_bounded_attempts(served):
    market, url = served
    market.inject("429", -1, retry_after=1)
    c, sleeps = client(url, attempts=3)
    with pytest.raises(RateLimited):
        c.list_instances()
    assert len(sleeps) == 2 and market.count_calls() == 3


def test_5xx_retried_then_unreachable_and_400_not_retried(served):
    market, url = served
    market.inject("503", 2)
    c, _ = client(url)
    assert c.list_instances() == []
    market.calls.clear()
    market.inject("500", -1)
    with pytest.raises(Unreachable):
        c.account()
    assert market.count_calls() == 4
    market.api_faults.clear()
    market.calls.clear()
    with pytest.raises(Exception) as info:
        c.logs(999999)   # a 404 is not retried
    assert market.count_calls() == 1 and "999999" in str(info.value)


def test_malformed_json_is_unreachable(served):
    market, url = served
    market.inject("malformed", 1)
    c, _ = client(url, attempts=1)
    with pytest.raises(Unreachable, match="unreadable"):
        c.list_instances()


def test_hung_call_is_bounded_by_the_timeout(served):
    market, url = served
    market.inject("hang", 1, delay=5)
    c, _ = client(url, attempts=1, timeout=0.3)
    start = time.monotonic()
    with pytest.raises(Unreachable, match="timed out"):
        c.list_instances()
    assert time.monotonic() - start < 2.0


def test_connection_refused_is_quick_and_clear():
    c, sleeps = client("http://127.0.0.1:9", attempts=2)
    with pytest.raises(Unreachable) as info:
        c.list_instances()
    assert "127.0.0.1:9" in str(info.value) and len(sleeps) == 1


def test_wrong_key_and_missing_key(served):
    market, url = served
    bad = VastClient("wrong-secret-key", url, sleep=lambda s: None)
    with pytest.raises(AuthError) as info:
        bad.list_instances()
    assert "wrong-secret-key" not in str(info.value) and "wrong-secret-key" not in repr(bad)
    with pytest.raises(AuthError, match="VAST_API_KEY"):
        VastClient.from_env({"XDG_CONFIG_HOME": "/nonexistent", "HOME": "/nonexistent"})


def test_logs_and_account(served):
    market, url = served
    iid = market.adopt("RTX 3070", "zeb-worker-vast-0", age_s=3600)
    c, _ = client(url)
    text = c.logs(iid, tail=5)
    assert len(text.splitlines()) == 5 and "games/s" in text
    assert market.calls[-1]["body"] == {"tail": "5"}
    assert c.account().credit > 0


def test_create_not_retried_after_an_ambiguous_failure(served):
    market, url = served
    c, _ = client(url, timeout=0.3)
    offer = c.search_offers(["RTX 3070"], limit=1)[0]
    market.inject("hang", 1, path="/api/v0/asks/", delay=2)
    with pytest.raises(Unreachable):
        c.create_instance(spec(offer.id))
    assert market.count_calls("PUT", "/api/v0/asks/") == 1
