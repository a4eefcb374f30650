"""The one Vast client against a small fixture of Vast's API on 127.0.0.1 (tests/vast_fixture.py):
paging, row mapping, the search filter, create/destroy outcomes, the retry policy (Retry-After, 5xx,
no retry for 4xx, no blind create retry), bounded timeouts and logs, error mapping, no secrets out."""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import time

import pytest

from tests.vast_fixture import KEY, VastFixture
from zeb.adapters.vast import KEY_HOWTO, VastClient
from zeb.core.domain import LaunchSpec
from zeb.core.errors import (
    AuthError,
    MarketError,
    NoCredit,
    NotFound,
    OfferUnavailable,
    RateLimited,
    Unreachable,
)


@pytest.fixture
def vast():
    fixture = VastFixture()
    fixture.start()
    yield fixture
    fixture.stop()


def make(vast_or_url, **kw):
    """A client whose sleeps are recorded, not slept."""
    sleeps: list[float] = []
    url = vast_or_url if isinstance(vast_or_url, str) else vast_or_url.url
    kw.setdefault("timeout", 5.0)
    c = VastClient(kw.pop("key", KEY), url, sleep=sleeps.append, rng=random.Random(1), **kw)
    return c, sleeps


def spec(offer_id, label="zeb-worker-vast-0"):
    return LaunchSpec(offer_id, label, "ghcr.io/zeb/worker:latest", 20,
                      {"HF_TOKEN": "hf_secret_in_env", "WORKER_ID": "worker-vast-0"}, "bash /onstart.sh")


# -- listing -------------------------------------------------------------------------------------


def test_sixty_instances_come_in_three_pages_of_25(vast):
    for _ in range(60):
        vast.add_instance()
    c, _ = make(vast)
    found = c.list_instances()
    assert [i.id for i in found] == sorted(vast.instances)
    pages = [s for s in vast.seen if s.path == "/api/v1/instances/"]
    assert len(pages) == 3 and c.requests_made == 3
    assert [p.query["limit"] for p in pages] == [25, 25, 25]
    assert "after_token" not in pages[0].query and str(pages[1].query["after_token"]) == str(found[24].id)


def test_row_mapping_with_missing_fields_and_null_status(vast):
    full = vast.add_instance(label="zeb-worker-vast-3", gpu_name="RTX 4070 Ti", dph_total=0.085, machine_id=4242,
                             ssh_host="ssh7.vast.ai", ssh_port=31234)
    bare = vast.add_instance(actual_status=None, label=None)
    for key in ("start_date", "extra_env", "ssh_host", "ssh_port", "intended_status", "image_uuid", "gpu_name"):
        del vast.instances[bare][key]
    c, _ = make(vast)
    by_id = {i.id: i for i in c.list_instances()}
    one = by_id[full]
    assert (one.label, one.status, one.gpu_name, one.dph_total, one.machine_id) == \
        ("zeb-worker-vast-3", "running", "RTX 4070 Ti", 0.085, 4242)
    assert one.ssh_command == "ssh -p 31234 root@ssh7.vast.ai" and one.start_date == 1_700_000_000.0
    other = by_id[bare]
    assert other.status is None and other.label is None and other.start_date == 0.0
    assert other.ssh_command is None and other.gpu_name == "?"


def test_extra_env_never_reaches_results(vast):
    iid = vast.add_instance(label="zeb-worker-vast-0")
    c, _ = make(vast)
    listed, shown = c.list_instances(), c.get_instance(iid)
    assert shown == listed[0]
    for thing in (listed, shown):
        assert "hf_fixture_secret" not in repr(thing) and "extra_env" not in repr(thing)
    assert not hasattr(shown, "extra_env")


def test_get_instance_of_an_unknown_id_is_none(vast):
    c, _ = make(vast)
    assert c.get_instance(4711) is None
    vast.fail(404, path="/api/v0/instances/")
    assert c.get_instance(4712) is None


def test_a_listing_that_never_ends_is_refused_not_truncated(vast):
    vast.fail(200, -1, path="/api/v1/instances/", body={"instances": [], "next_token": "same"})
    c, _ = make(vast)
    with pytest.raises(Unreachable, match="paging"):
        c.list_instances()
    assert vast.count() == 2


# -- search --------------------------------------------------------------------------------------


def test_one_search_for_the_whole_gpu_list_with_the_sdk_filter_shape(vast):
    vast.add_offer(gpu_name="RTX 3070", dph_total=0.08, machine_id=1)
    vast.add_offer(gpu_name="RTX 4070 Ti", dph_total=0.06, machine_id=2)
    vast.add_offer(gpu_name="RTX 3070", dph_total=0.05, machine_id=3)    # blocked
    vast.add_offer(gpu_name="RTX 3070", dph_total=0.12, machine_id=4)    # too dear
    vast.add_offer(gpu_name="RTX 3090", dph_total=0.04, machine_id=5)    # not wanted
    c, _ = make(vast)
    offers = c.search_offers(["RTX_3070", "RTX 4070 Ti"], max_dph=0.09, limit=7, exclude_machines={3})
    [call] = vast.seen
    assert (call.method, call.path) == ("POST", "/api/v0/bundles/")
    body = call.body
    assert body["gpu_name"] == {"in": ["RTX 3070", "RTX 4070 Ti"]}
    assert body["dph_total"] == {"lte": "0.09"} and body["num_gpus"] == {"eq": "1"}
    assert body["order"] == [["dph_total", "asc"]] and body["limit"] == 7
    assert body["machine_id"] == {"notin": ["3"]}
    assert body["rented"] == {"eq": False} and body["verified"] == {"eq": True} and body["rentable"] == {"eq": True}
    assert [(o.machine_id, o.dph_total) for o in offers] == [(2, 0.06), (1, 0.08)]


def test_blocked_machines_are_dropped_even_if_the_server_returns_them(vast):
    rows = [{"id": 1, "machine_id": 3, "gpu_name": "RTX 3070", "dph_total": 0.05},
            {"id": 2, "machine_id": 8, "gpu_name": "RTX 3070", "dph_total": 0.07, "extra": "ignored"}]
    vast.fail(200, path="/api/v0/bundles/", body={"offers": rows})
    c, _ = make(vast)
    offers = c.search_offers(["RTX_3070"], exclude_machines=[3])
    assert [o.machine_id for o in offers] == [8] and offers[0].id == 2


# -- create, destroy, label, account -------------------------------------------------------------


def test_create_returns_the_new_contract_and_the_instance_starts_pending(vast):
    oid = vast.add_offer()
    c, _ = make(vast)
    iid = c.create_instance(spec(oid))
    body = vast.seen[-1].body
    assert body["label"] == "zeb-worker-vast-0" and body["env"]["HF_TOKEN"] == "hf_secret_in_env"
    assert body["image"] == "ghcr.io/zeb/worker:latest" and body["disk"] == 20 and body["onstart"] == "bash /onstart.sh"
    [listed] = c.list_instances()
    assert listed.id == iid and listed.status is None and listed.label == "zeb-worker-vast-0"


def test_an_offer_already_taken_is_unavailable_and_not_retried(vast):
    oid = vast.add_offer()
    c, sleeps = make(vast)
    c.create_instance(spec(oid))
    with pytest.raises(OfferUnavailable, match="taken or gone"):
        c.create_instance(spec(oid, "zeb-worker-vast-1"))
    assert vast.count("PUT", "/api/v0/asks/") == 2 and sleeps == []


def test_lacks_credit_is_matched_by_text_whatever_the_status(vast):
    oid = vast.add_offer()
    vast.user["credit"] = 0.0
    c, _ = make(vast)
    with pytest.raises(NoCredit):
        c.create_instance(spec(oid))
    vast.fail(403, body={"success": False, "msg": "Account lacks credit to rent"})
    with pytest.raises(NoCredit):     # a 403 would otherwise read as a rejected key
        c.create_instance(spec(oid))
    vast.fail(200, body={"success": False, "msg": "user lacks credit"})
    with pytest.raises(NoCredit):
        c.create_instance(spec(oid))


def test_destroy_is_idempotent(vast):
    iid = vast.add_instance()
    c, _ = make(vast)
    assert c.destroy_instance(iid) is True
    assert c.destroy_instance(iid) is False
    assert iid not in vast.instances and vast.count("DELETE") == 2


def test_label_and_account(vast):
    iid = vast.add_instance()
    c, _ = make(vast)
    c.label_instance(iid, "zeb-worker-vast-5")
    assert vast.instances[iid]["label"] == "zeb-worker-vast-5"
    with pytest.raises(NotFound):
        c.label_instance(999, "x")
    account = c.account()
    assert (account.id, account.credit, account.balance) == (7, 25.0, -1.5)
    assert KEY not in repr(account)


# -- retries -------------------------------------------------------------------------------------


def test_429_waits_the_retry_after_then_succeeds(vast):
    vast.fail(429, 2, retry_after=7)
    c, sleeps = make(vast)
    assert c.list_instances() == []
    assert len(sleeps) == 2 and all(7.0 <= s <= 7.5 for s in sleeps)
    assert vast.count() == 3 == c.requests_made


def test_429_forever_is_rate_limited_after_the_bounded_attempts(vast):
    vast.fail(429, -1, retry_after=1)
    c, sleeps = make(vast, attempts=3)
    with pytest.raises(RateLimited) as info:
        c.list_instances()
    assert info.value.retry_after == 1.0 and len(sleeps) == 2 and vast.count() == 3


def test_a_retry_after_longer_than_max_wait_is_handed_to_the_caller(vast):
    vast.fail(429, -1, retry_after=600)
    c, sleeps = make(vast, max_wait=60)
    with pytest.raises(RateLimited) as info:
        c.account()
    assert info.value.retry_after == 600 and sleeps == [] and vast.count() == 1


def test_429_without_retry_after_backs_off_with_jitter(vast):
    vast.fail(429, 3)
    c, sleeps = make(vast, base_wait=1.0, max_wait=3.0)
    c.account()
    assert len(sleeps) == 3 and 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0 and 1.5 <= sleeps[2] <= 3.0


def test_5xx_is_retried_then_unreachable(vast):
    vast.fail(503, 2)
    c, sleeps = make(vast)
    assert c.account().credit == 25.0 and len(sleeps) == 2
    vast.fail(500, -1)
    with pytest.raises(Unreachable) as info:
        c.account()
    assert vast.count() == 3 + 4 and "HTTP 500" in str(info.value) and vast.url in str(info.value)


def test_other_4xx_are_not_retried(vast):
    vast.fail(400, -1, body={"success": False, "msg": "invalid filter"})
    c, sleeps = make(vast)
    with pytest.raises(MarketError, match="invalid filter") as info:
        c.search_offers(["RTX_3070"])
    assert not isinstance(info.value, Unreachable) and vast.count() == 1 and sleeps == []


def test_create_is_not_resent_after_a_failure_that_may_have_reached_vast(vast):
    oid = vast.add_offer()
    c, sleeps = make(vast, timeout=0.2)
    for kind in ("hang", "drop", 500, 504):
        vast.seen.clear()
        vast.fail(kind, path="/api/v0/asks/", delay=2)
        with pytest.raises(Unreachable, match="not resent"):
            c.create_instance(spec(oid))
        assert vast.count("PUT", "/api/v0/asks/") == 1, kind
    assert sleeps == []


def test_create_is_retried_when_vast_answered_before_renting(vast):
    oid = vast.add_offer()
    c, sleeps = make(vast)
    vast.fail(503, path="/api/v0/asks/")
    vast.fail(429, path="/api/v0/asks/", retry_after=2)
    assert c.create_instance(spec(oid)) > 0
    assert vast.count("PUT", "/api/v0/asks/") == 3 and len(sleeps) == 2


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_connection_refused_is_unreachable_quickly():
    url = closed_port_url()
    c, sleeps = make(url, attempts=3)
    start = time.monotonic()
    with pytest.raises(Unreachable) as info:
        c.list_instances()
    assert time.monotonic() - start < 1.0 and len(sleeps) == 2 and c.requests_made == 3
    assert url in str(info.value) and "could not be reached" in str(info.value)
    # Nothing can have been rented through a refused connection, so a create may try again.
    with pytest.raises(Unreachable):
        c.create_instance(spec(1))
    assert c.requests_made == 6


def test_on_retry_hears_each_pause_before_it_is_slept():
    url = closed_port_url()
    heard: list[tuple[str, float]] = []
    c, sleeps = make(url, attempts=3, on_retry=lambda reason, seconds: heard.append((reason, seconds)))
    with pytest.raises(Unreachable):
        c.list_instances()
    # One call per pause, with the pause the injected sleep is then given, and what failed.
    assert [s for _, s in heard] == sleeps and len(heard) == 2
    assert all("list instances" in r and url in r and "could not be reached" in r for r, _ in heard)


def test_on_retry_hears_a_429_wait_and_nothing_for_a_final_error(vast):
    heard: list[tuple[str, float]] = []
    vast.fail(429, 1, retry_after=7)
    c, sleeps = make(vast, on_retry=lambda reason, seconds: heard.append((reason, seconds)))
    assert c.list_instances() == []
    assert len(heard) == 1 and "rate limited" in heard[0][0] and heard[0][1] == sleeps[0]
    vast.fail(400, -1, body={"success": False, "msg": "invalid filter"})
    with pytest.raises(MarketError):
        c.search_offers(["RTX_3070"])
    assert len(heard) == 1      # a final answer is not retried, so nothing is said


def test_on_retry_within_a_log_budget(vast):
    heard: list[float] = []
    iid = vast.add_instance()
    vast.fail(503, 1)
    c, sleeps = make(vast, on_retry=lambda reason, seconds: heard.append(seconds))
    assert c.logs(iid, timeout=5.0) == ""
    assert len(heard) == 1 and heard[0] == sleeps[0] and 0.0 <= heard[0] <= 0.5


def test_a_hung_endpoint_costs_attempts_times_the_timeout(vast):
    vast.fail("hang", -1, delay=5)
    c, sleeps = make(vast, attempts=2, timeout=0.2)
    start = time.monotonic()
    with pytest.raises(Unreachable, match=r"no answer within 0\.2s"):
        c.list_instances()
    elapsed = time.monotonic() - start
    assert 0.4 <= elapsed < 1.2 and len(sleeps) == 1 and vast.count() == 2


def test_one_malformed_answer_to_a_read_is_retried(vast):
    vast.add_instance()
    vast.fail("malformed")
    c, sleeps = make(vast)
    assert len(c.list_instances()) == 1
    assert vast.count() == 2 and len(sleeps) == 1


def test_a_read_that_stays_malformed_is_unreachable_after_the_attempts(vast):
    vast.fail("malformed", -1)
    c, _ = make(vast, attempts=3)
    with pytest.raises(Unreachable, match="unreadable"):
        c.list_instances()
    assert vast.count() == 3


def test_a_malformed_answer_to_a_create_is_never_resent(vast):
    offer = vast.add_offer()
    vast.fail("malformed", path="/api/v0/asks/")
    c, _ = make(vast)
    with pytest.raises(Unreachable, match="not resent"):
        c.create_instance(spec(offer))
    assert vast.count("PUT", "/api/v0/asks/") == 1


# -- logs ----------------------------------------------------------------------------------------


def test_logs_sends_tail_as_a_string_and_polls_until_ready(vast):
    iid = vast.add_instance()
    vast.log_text[iid] = "".join(f"line {n}\n" for n in range(10))
    vast.log_not_ready = 2
    c, sleeps = make(vast)
    assert c.logs(iid, tail=3) == "line 7\nline 8\nline 9\n"
    assert vast.seen[0].body == {"tail": "3"} and vast.count("GET", "/_logs/") == 3
    assert sleeps[0] == pytest.approx(0.3) and sleeps[1] > sleeps[0] and c.requests_made == 4


def test_an_empty_log_is_empty_text(vast):
    iid = vast.add_instance()
    c, _ = make(vast)
    assert c.logs(iid) == ""


def test_logs_of_an_unknown_instance_is_not_found_without_retry(vast):
    c, sleeps = make(vast)
    with pytest.raises(NotFound, match="4711"):
        c.logs(4711)
    assert vast.count() == 1 and sleeps == []


def test_a_log_that_never_becomes_ready_is_bounded_by_the_timeout(vast):
    iid = vast.add_instance()
    vast.log_not_ready = -1
    c, sleeps = make(vast, timeout=30)
    start = time.monotonic()
    with pytest.raises(Unreachable, match="not ready within 3s"):
        c.logs(iid, timeout=3)
    assert time.monotonic() - start < 2.0
    assert sum(sleeps) <= 3.0 and 3 <= vast.count("GET", "/_logs/") <= 8


def test_a_hung_log_request_is_bounded_by_the_timeout(vast):
    iid = vast.add_instance()
    vast.fail("hang", -1, path="/api/v0/instances/request_logs/", delay=5)
    c, _ = make(vast, timeout=30)
    start = time.monotonic()
    with pytest.raises(Unreachable):
        c.logs(iid, timeout=0.3)
    assert time.monotonic() - start < 0.9


# -- keys and secrets ----------------------------------------------------------------------------


def test_a_missing_key_says_how_to_set_it(tmp_path):
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    with pytest.raises(AuthError) as info:
        VastClient.from_env(env)
    text = str(info.value)
    assert "export VAST_API_KEY=" in text and "vastai set api-key" in text and "\n" not in text
    assert KEY_HOWTO in text


def test_the_key_comes_from_the_env_else_the_vastai_key_file(vast, tmp_path):
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "VAST_URL": vast.url}
    (tmp_path / ".vast_api_key").write_text(KEY + "\n")
    assert VastClient.from_env(env, sleep=lambda s: None).account().credit == 25.0
    (tmp_path / "xdg" / "vastai").mkdir(parents=True)
    (tmp_path / "xdg" / "vastai" / "vast_api_key").write_text("stale-key")
    with pytest.raises(AuthError):         # the XDG file wins over the legacy one, as in the SDK
        VastClient.from_env(env, sleep=lambda s: None).account()
    assert VastClient.from_env({**env, "VAST_API_KEY": KEY}).account().credit == 25.0
    assert VastClient.from_env({"VAST_API_KEY": KEY}).server_url == "https://console.vast.ai"
    assert vast.seen[0].authorization == f"Bearer {KEY}"


def test_a_rejected_key_never_appears_in_errors_or_repr(vast):
    c, sleeps = make(vast, key="wrong-secret-key-42")
    with pytest.raises(AuthError, match="rejected the API key") as info:
        c.list_instances()
    assert "wrong-secret-key-42" not in str(info.value) and "wrong-secret-key-42" not in repr(c)
    assert vast.count() == 1 and sleeps == []
    vast.fail(400, body={"msg": f"bad request for key {KEY}"})
    good, _ = make(vast)
    with pytest.raises(MarketError) as info:
        good.account()
    assert KEY not in str(info.value) and KEY not in repr(good)


def test_importing_zeb_vast_does_not_import_the_sdk():
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import zeb.adapters.vast"],
                         capture_output=True, text=True, check=True)
    modules = [line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line]
    assert "zeb.adapters.vast" in modules
    assert not [m for m in modules if m.split(".")[0] in ("vastai", "requests", "tenacity")]


# -- one session per client (issue #21) ----------------------------------------------------------


def test_a_multi_page_listing_and_the_calls_after_it_share_one_connection():
    """The SDK opens a session, so a TCP connection, per request; zeb's client keeps one alive for all of
    its calls. Counted where it shows: the connections the simulated marketplace's server accepted."""
    from zeb.sim.clock import ManualClock
    from zeb.sim.market import GPUS, Market
    from zeb.sim.server import SimServer

    market = Market(ManualClock(), seed=3, credit=100.0, api_key="sim-key")
    for k in range(60):
        market.adopt(list(GPUS)[k % len(GPUS)], f"zeb-worker-vast-{k}")
    server = SimServer(market)
    url = server.start()
    try:
        c, _ = make(url, key="sim-key")
        before = server.connections_accepted
        assert len(c.list_instances()) == 60 and c.requests_made == 3       # three pages of 25
        c.account()
        c.get_instance(min(market.instances))
        assert c.requests_made == 5
        assert server.connections_accepted - before == 1
        # Idle past _IDLE_S (a monitor between cycles): the pooled connection is dropped, not reused, so a
        # create never goes out on a connection the server may have closed meanwhile.
        c._last_use -= 60
        c.account()
        assert server.connections_accepted - before == 2
        c.account()
        assert server.connections_accepted - before == 2
    finally:
        server.stop()
