"""Machine reputation: decaying counts, p_produce, ranking by expected value, certain-fault blocks and
their lapse, the hosts.json form, and what `zeb blacklist list` and `zeb rank-offers` show of it."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeb.core.domain import Offer
from zeb.plan.hosts import (
    BLOCK_S,
    HALF_LIFE_S,
    MIN_GPS_SAMPLES,
    PRIOR_P,
    as_of,
    block_now,
    block_until,
    blocked,
    bump,
    clear,
    decayed,
    expire_blocks,
    gps_trusted,
    hosts_from_json,
    hosts_to_json,
    is_blocked,
    ledger_change,
    merge_ledger,
    p_produce,
    record_boot,
    record_error,
    record_gps,
    record_stall,
    remove_host,
    reputation,
)
from zeb.plan.offers import blocked_machines, expected_gps, rank_offers
from zeb.plan.types import Decayed, HostRecord, Strike

NOW = 1_780_000_000.0
DAY = 86400.0
TABLE = {"RTX 3070": 2.2}


def offer(i: int, machine: int, dph: float = 0.08, gpu: str = "RTX 3070") -> Offer:
    return Offer(id=i, machine_id=machine, host_id=1, gpu_name=gpu, num_gpus=1, dph_total=dph, reliability=0.99)


def rank(offers, hosts, now=NOW, blocked_ids=frozenset()):
    return rank_offers(offers, gpus=("RTX 3070",), max_dph=1.0, blocked=set(blocked_ids), hosts=hosts,
                       observed_gpu={}, config_table=TABLE, now=now)


def boots(hosts, machine, ok: int = 0, failed: int = 0, at: float = NOW):
    for _ in range(ok):
        hosts = record_boot(hosts, machine, "RTX 3070", True, 120.0, at)
    for _ in range(failed):
        hosts = record_boot(hosts, machine, "RTX 3070", False, None, at, reason="no CUDA")
    return hosts


# -- decay ------------------------------------------------------------------------------------------

def test_counts_halve_every_half_life_and_never_grow():
    c = bump(Decayed(), NOW)
    assert decayed(c, NOW) == 1.0
    assert decayed(c, NOW + HALF_LIFE_S) == pytest.approx(0.5)
    assert decayed(c, NOW + 3 * HALF_LIFE_S) == pytest.approx(0.125)
    assert decayed(c, NOW - DAY) == 1.0                       # a clock behind the record: no age
    assert decayed(c, None) == 1.0                            # no clock: as stored
    c2 = bump(c, NOW + HALF_LIFE_S)                           # the old event decays first, then one more
    assert c2 == Decayed(pytest.approx(1.5), NOW + HALF_LIFE_S)
    assert HALF_LIFE_S == 7 * DAY


def test_as_of_reads_the_same_reputation_without_a_clock():
    hosts = boots(boots({}, 1, ok=3), 1, failed=1, at=NOW + DAY)
    later = NOW + 10 * DAY
    assert p_produce(as_of(hosts, later)[1]) == pytest.approx(p_produce(hosts[1], later))


def test_a_bad_machine_earns_its_way_back():
    hosts = boots({}, 1, failed=2)
    assert p_produce(hosts[1], NOW) == pytest.approx(1.7 / 4)
    assert p_produce(hosts[1], NOW + 8 * HALF_LIFE_S) == pytest.approx(PRIOR_P, abs=0.01)


# -- p_produce and the three orderings ---------------------------------------------------------------

def test_p_produce_prior_and_updates():
    assert p_produce(None) == PRIOR_P == p_produce(HostRecord(1), NOW)
    one_fault = boots({}, 1, failed=1)[1]
    proven = boots({}, 1, ok=3)[1]
    assert p_produce(one_fault, NOW) == pytest.approx(0.85 * 2 / 3)
    assert p_produce(proven, NOW) == pytest.approx((1.7 + 3) / 5)
    stalled = record_stall(boots({}, 1, ok=1), 1, NOW)[1]
    errored = record_error(boots({}, 1, ok=1), 1, "oom", NOW)[1]
    assert p_produce(stalled, NOW) == p_produce(errored, NOW) == pytest.approx(2.7 / 3.5)
    assert errored.last_error == "oom" and errored.last_seen == NOW


def test_one_certain_boot_fault_ranks_below_untried_machines_of_the_same_price():
    hosts = block_now(boots({}, 1, failed=1), 1, "no CUDA", NOW)
    hosts = expire_blocks(hosts, NOW + BLOCK_S)               # even once its block lapsed
    ranked = rank([offer(10, 1), offer(11, 2), offer(12, 3)], hosts, now=NOW + BLOCK_S)
    assert [r.offer.machine_id for r in ranked] == [2, 3, 1]
    assert ranked[-1].p_produce < PRIOR_P == ranked[0].p_produce


def test_a_proven_machine_ranks_above_untried_ones():
    hosts = boots({}, 3, ok=3)
    ranked = rank([offer(10, 1), offer(11, 2), offer(12, 3)], hosts)
    assert [r.offer.machine_id for r in ranked] == [3, 1, 2]
    assert ranked[0].reputation is not None and ranked[0].reputation.boots_ok == 3
    assert ranked[1].reputation is None


def test_a_recent_failure_among_many_successes_still_ranks_well():
    hosts = boots(boots({}, 1, ok=10, at=NOW - 2 * DAY), 1, failed=1)
    ranked = rank([offer(10, 1), offer(11, 2)], hosts)
    assert [r.offer.machine_id for r in ranked] == [1, 2]
    assert ranked[0].p_produce > 0.85


def test_the_measured_dud_is_not_rented_again_and_again():
    # The cheapest machine fails at boot; the next is 10% dearer. One failure is enough to move on.
    offers = [offer(10, 1, dph=0.070), offer(11, 2, dph=0.077)]
    assert rank(offers, {})[0].offer.machine_id == 1
    assert rank(offers, boots({}, 1, failed=1))[0].offer.machine_id == 2


def test_expected_value_is_price_over_gps_times_p():
    r = rank([offer(10, 1, dph=0.11)], boots({}, 1, failed=1))[0]
    assert r.dollars_per_gps == pytest.approx(0.05)
    assert r.expected_dollars_per_gps == pytest.approx(0.11 / (2.2 * 0.85 * 2 / 3))


# -- games/s: trusted after MIN_GPS_SAMPLES -----------------------------------------------------------

def test_a_machines_games_per_s_are_trusted_after_three_samples():
    hosts: dict[int, HostRecord] = {}
    for k in range(MIN_GPS_SAMPLES):
        assert not gps_trusted(hosts.get(1))
        assert expected_gps(offer(10, 1), hosts, {}, TABLE) == (2.2, "config")
        hosts = record_gps(hosts, 1, "RTX 3070", 3.0, now=NOW + k)
    assert gps_trusted(hosts[1]) and hosts[1].gps_samples == 3 and hosts[1].last_seen == NOW + 2
    assert expected_gps(offer(10, 1), hosts, {}, TABLE) == (3.0, "machine")
    assert gps_trusted(HostRecord(1, games_per_s=2.5))       # a figure with no count (older stores) is trusted


def test_the_running_mean_is_bounded():
    hosts: dict[int, HostRecord] = {}
    for _ in range(100):
        hosts = record_gps(hosts, 1, "RTX 3070", 2.0)
    assert hosts[1].gps_samples == 20
    hosts = record_gps(hosts, 1, "RTX 3070", 4.0)
    assert hosts[1].games_per_s == pytest.approx(2.1)        # one sample moves it by 1/20 of the gap


def test_boot_times_are_a_bounded_mean():
    hosts = record_boot({}, 1, "RTX 3070", True, 100.0, NOW)
    hosts = record_boot(hosts, 1, "RTX 3070", True, 200.0, NOW)
    hosts = record_boot(hosts, 1, "RTX 3070", True, None, NOW)        # a boot with no time still counts
    assert hosts[1].boot_s == 150.0 and hosts[1].boot_samples == 2 and hosts[1].boots_ok.value == 3


# -- certain faults block at once, for a while --------------------------------------------------------

def test_block_now_blocks_at_once_and_lapses():
    hosts = block_now({}, 7, "no CUDA", NOW, fleet="zeb", instance_id=70)
    rec = hosts[7]
    assert len(rec.strikes) == 3 and all(s.certain for s in rec.strikes)     # enough for the scripts too
    assert blocked_machines(hosts, 3) == {7} == blocked_machines(hosts, 3, NOW)
    assert blocked_machines(hosts, 5, NOW) == {7}                            # whatever the threshold
    assert block_until(rec, NOW) == NOW + BLOCK_S
    later = NOW + BLOCK_S
    assert not is_blocked(rec, 3, later) and block_until(rec, later) is None
    assert is_blocked(rec, 3)                                                # no clock: it holds until pruned
    assert expire_blocks(hosts, later)[7].strikes == () and expire_blocks(hosts, NOW) == hosts


def test_block_now_tops_up_existing_strikes_and_keeps_them():
    hosts = {7: HostRecord(7, strikes=(Strike(7, NOW - DAY, "stalled"),))}
    hosts = block_now(hosts, 7, "driver mismatch", NOW)
    assert [s.certain for s in hosts[7].strikes] == [False, True, True]
    hosts = expire_blocks(hosts, NOW + BLOCK_S)
    assert [s.reason for s in hosts[7].strikes] == ["stalled"] and not blocked(hosts, 3, NOW + BLOCK_S)
    again = block_now(hosts, 7, "no CUDA", NOW + BLOCK_S)                    # a second fault, a new block
    assert blocked(again, 3, NOW + BLOCK_S + DAY) == {7}


def test_block_now_reaches_the_scripts_file_and_remove_undoes_it():
    # Through the ledger: the certain strikes become lines of bad-hosts.txt; remove drops exactly them.
    stored: dict[int, HostRecord] = {}
    view = merge_ledger(stored, {7: 1}, "bad-hosts.txt")                     # the scripts struck it once
    after = block_now(view, 7, "no CUDA", NOW)
    change = ledger_change(stored, view, after, shared=True)
    assert change.append == (7, 7) and change.drop == {}                     # 3 lines in all: blocked for them
    reloaded = merge_ledger(change.store, {7: 3}, "bad-hosts.txt")
    assert is_blocked(reloaded[7], 3, NOW) and block_until(reloaded[7], NOW) == NOW + BLOCK_S
    undone = ledger_change(change.store, reloaded, remove_host(reloaded, 7), shared=True)
    assert undone.drop == {7: 3} and undone.store[7].strikes == ()
    lapsed = ledger_change(change.store, reloaded, expire_blocks(reloaded, NOW + BLOCK_S), shared=True)
    assert lapsed.drop == {7: 2}                                             # the scripts' own strike stays


def test_remove_and_clear_forgive_failures_but_keep_what_went_well():
    hosts = block_now(record_gps(boots({}, 7, ok=2, failed=1), 7, "RTX 3070", 2.5), 7, "no CUDA", NOW)
    hosts = record_stall(hosts, 7, NOW)
    for forgiven in (remove_host(hosts, 7)[7], clear(hosts)[7]):
        assert forgiven.strikes == () and not forgiven.boots_failed.value and not forgiven.stalls.value
        assert forgiven.boots_ok.value == 2 and forgiven.games_per_s == 2.5 and forgiven.last_error is None


# -- hosts.json -------------------------------------------------------------------------------------

def test_json_round_trips_a_full_reputation():
    hosts = block_now(boots({}, 7, ok=2, failed=1), 7, "no CUDA", NOW, fleet="zeb", instance_id=70)
    hosts = record_error(record_stall(record_gps(hosts, 7, "RTX 3070", 2.5, now=NOW), 7, NOW), 7, "oom", NOW)
    hosts = {**hosts, 8: HostRecord(8, games_per_s=2.0)}
    assert hosts_from_json(hosts_to_json(hosts)) == hosts
    row = hosts_to_json(hosts)["7"]
    assert row["boots_ok"] == {"value": 2.0, "at": NOW} and row["strikes"][0]["certain"] is True
    assert hosts_to_json({8: hosts[8]})["8"] == {"gpu_name": None, "games_per_s": 2.0, "strikes": []}


def test_an_old_hosts_file_still_loads():
    old = {"42": {"gpu_name": "RTX 3070", "games_per_s": 2.5,
                  "strikes": [{"time": NOW, "reason": "stalled", "fleet": "zeb", "instance_id": 9}]}}
    rec = hosts_from_json(old)[42]
    assert rec.gps_samples is None and gps_trusted(rec) and rec.boots_ok == Decayed()
    assert p_produce(rec, NOW) == PRIOR_P and not rec.strikes[0].certain
    assert hosts_to_json({42: rec}) == old                                   # and writes back the same


@pytest.mark.parametrize("row", [{"boots_ok": 3}, {"boots_ok": {"value": "x"}}, {"stalls": {"value": -1}},
                                 {"strikes": [{"certain": "yes"}]}])
def test_a_garbled_reputation_is_a_store_error(row):
    from zeb.core.errors import StoreError

    with pytest.raises(StoreError, match="machine '5'"):
        hosts_from_json({"5": row})


# -- properties ---------------------------------------------------------------------------------------

EVENTS = st.lists(st.tuples(st.sampled_from(["ok", "fail", "stall", "error"]), st.floats(0, 60 * DAY)),
                  max_size=12)


def _apply(events) -> dict[int, HostRecord]:
    hosts: dict[int, HostRecord] = {}
    for kind, t in sorted(events, key=lambda e: e[1]):
        at = NOW - 60 * DAY + t
        if kind in ("ok", "fail"):
            hosts = record_boot(hosts, 1, "RTX 3070", kind == "ok", 90.0, at)
        elif kind == "stall":
            hosts = record_stall(hosts, 1, at)
        else:
            hosts = record_error(hosts, 1, "oom", at)
    return hosts


@given(EVENTS)
def test_a_failure_never_raises_p_and_a_success_never_lowers_it(events):
    hosts = _apply(events)
    p = p_produce(hosts.get(1), NOW)
    assert 0.0 < p < 1.0
    assert p_produce(record_boot(hosts, 1, "RTX 3070", False, None, NOW)[1], NOW) <= p + 1e-12
    assert p_produce(record_stall(hosts, 1, NOW)[1], NOW) <= p + 1e-12
    assert p_produce(record_error(hosts, 1, "oom", NOW)[1], NOW) <= p + 1e-12
    assert p_produce(record_boot(hosts, 1, "RTX 3070", True, 60.0, NOW)[1], NOW) >= p - 1e-12


@given(EVENTS, st.floats(0.01, 0.5), st.floats(0.01, 0.5))
def test_ranking_is_monotone_in_price(events, dph_a, dph_b):
    # Two offers on machines with the same record: the cheaper one never ranks second.
    rec = _apply(events).get(1) or HostRecord(1)
    hosts = {1: rec, 2: dataclasses.replace(rec, machine_id=2)}
    ranked = rank([offer(10, 1, dph=dph_a), offer(11, 2, dph=dph_b)], hosts)
    assert ranked[0].offer.dph_total <= ranked[1].offer.dph_total


@given(EVENTS)
def test_reputation_summary_matches_the_record(events):
    hosts = _apply(events)
    if 1 in hosts:
        rep = reputation(hosts[1], NOW)
        assert rep.p_produce == p_produce(hosts[1], NOW) and rep.boots_ok <= hosts[1].boots_ok.value + 1e-9


# -- the CLI ------------------------------------------------------------------------------------------

def _seed(sim, fn) -> None:
    from zeb.storage import state

    app = sim.app()
    state.update_hosts(app.store, fn, state.HostFiles.of(app.config(None)))


def test_blacklist_list_shows_reputation(sim, tmp_path):
    sim.extra_env["COLUMNS"] = "80"
    now = sim.clock.now()
    _seed(sim, lambda h: block_now(boots(h, 111, failed=1, at=now), 111, "no CUDA", now, fleet="zeb"))
    _seed(sim, lambda h: record_gps(boots(h, 222, ok=3, at=now), 222, "RTX 3070", 2.61, now=now))
    doc = sim.json("blacklist", "list")["data"]
    assert [m["machine_id"] for m in doc["machines"]] == [111]                # struck machines, as before
    m = doc["machines"][0]
    assert m["blocked"] and m["blocked_until"] == now + BLOCK_S and m["strikes"] == 3
    assert m["reputation"]["boots_failed"] == 1 and m["reputation"]["p_produce"] == pytest.approx(0.5667, abs=1e-4)
    assert all(s["certain"] for s in m["history"])
    everyone = {m["machine_id"]: m for m in sim.json("blacklist", "list", "--all")["data"]["machines"]}
    rep = everyone[222]["reputation"]
    assert rep["boots_ok"] == 3 and rep["boot_s"] == 120.0 and rep["gps_samples"] == 1 and not rep["gps_trusted"]
    out = sim.run("blacklist", "list", "--all").stdout
    assert max(len(line) for line in out.splitlines()) <= 80
    lines = out.splitlines()
    assert lines[0].split() == ["Machine", "GPU", "Strikes", "Blocked", "Boots", "Boot", "Stall/err", "games/s", "p"]
    assert lines[1].split()[:4] == ["111", "3070", "3/3", "to"] and lines[1].split()[5:] == ["0/1", "-", "0/0", "-",
                                                                                          "0.57"]
    assert lines[2].split() == ["222", "3070", "0/3", "no", "3/0", "120s", "0/0", "2.61×1", "0.94"]
    assert "  111: no CUDA (certain: blocked at once, zeb, " in out
    sim.clock.advance(BLOCK_S)                                                # the block lapses
    m = sim.json("blacklist", "list")["data"]["machines"][0]
    assert not m["blocked"] and m["blocked_until"] is None
    assert sim.run("blacklist", "remove", "111").exit_code == 0
    assert sim.json("blacklist", "list")["data"]["machines"] == []


def test_rank_offers_shows_p_and_the_expected_value(sim):
    offers = sim.json("rank-offers", "--limit", "3")["data"]["offers"]
    assert all(o["p_produce"] == PRIOR_P for o in offers)
    first = offers[0]
    assert first["expected_dollars_per_gps"] == pytest.approx(first["dollars_per_gps"] / PRIOR_P, abs=1e-4)
    now = sim.clock.now()
    _seed(sim, lambda h: boots(h, first["machine_id"], failed=1, at=now))     # one failed boot: it drops
    again = sim.json("rank-offers", "--limit", "50")["data"]["offers"]
    row = next(o for o in again if o["machine_id"] == first["machine_id"])
    assert row["p_produce"] == pytest.approx(0.5667, abs=1e-4) and again[0]["machine_id"] != first["machine_id"]
    exp = [o["expected_dollars_per_gps"] for o in again]
    assert exp == sorted(exp)
    sim.extra_env["COLUMNS"] = "80"
    out = sim.run("rank-offers", "--limit", "3").stdout
    assert max(len(line) for line in out.splitlines()) <= 80
    assert out.splitlines()[0].split() == ["#", "GPU", "$/hr", "games/s", "source", "$/game/s", "p", "$/exp",
                                           "Machine", "Offer"]
    assert out.splitlines()[1].split()[-4:-2] == ["0.85", f"{again[0]['expected_dollars_per_gps']:.4f}"]
