"""Offer ranking by $ per expected game/s, blocked machines, and picks on distinct machines."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeb.core.domain import Offer
from zeb.plan.hosts import add_strike
from zeb.plan.offers import blocked_machines, expected_gps, pick_offers, rank_offers
from zeb.plan.types import HostRecord, RankedOffer, Strike

TABLE = {"RTX 3070": 2.2, "RTX 4070 Ti": 4.2}
GPUS = ("RTX 3070", "RTX 4070 Ti")


def offer(i: int, gpu="RTX 3070", dph=0.08, machine=None, rel=0.99) -> Offer:
    return Offer(id=i, machine_id=machine if machine is not None else 5000 + i, host_id=1, gpu_name=gpu,
                 num_gpus=1, dph_total=dph, reliability=rel)


def rank(offers, *, gpus=GPUS, max_dph=0.10, blocked=frozenset(), hosts=None, observed_gpu=None):
    return rank_offers(offers, gpus=gpus, max_dph=max_dph, blocked=set(blocked), hosts=hosts or {},
                       observed_gpu=observed_gpu or {}, config_table=TABLE)


def test_expected_gps_sources():
    hosts = {5001: HostRecord(5001, games_per_s=2.9), 5005: HostRecord(5005, games_per_s=None)}
    assert expected_gps(offer(1), hosts, {"RTX 3070": 2.5}, TABLE) == (2.9, "machine")
    assert expected_gps(offer(2), hosts, {"RTX 3070": 2.5}, TABLE) == (2.5, "gpu")
    assert expected_gps(offer(3), hosts, {}, TABLE) == (2.2, "config")
    assert expected_gps(offer(4, gpu="RTX 3060"), hosts, {}, TABLE) == (1.8, "default")
    assert expected_gps(offer(5), hosts, {}, TABLE) == (2.2, "config")   # a record without games/s says nothing


def test_rank_by_dollars_per_game_per_second():
    offers = [offer(1, "RTX 3070", 0.06), offer(2, "RTX 4070 Ti", 0.09), offer(3, "RTX 4070 Ti", 0.20),
              offer(4, "RTX 3070", 0.05, machine=66), offer(5, "RTX 3060", 0.01)]
    ranked = rank(offers, blocked={66})
    assert [r.offer.id for r in ranked] == [2, 1]     # 0.09/4.2 = 0.0214 beats 0.06/2.2 = 0.0273
    assert [r.gps_source for r in ranked] == ["config", "config"]


def test_observed_speed_reorders_the_ranking():
    offers = [offer(1, "RTX 3070", 0.06), offer(2, "RTX 4070 Ti", 0.09)]
    slow_4070 = {5002: HostRecord(5002, games_per_s=2.0, gpu_name="RTX 4070 Ti")}
    assert [r.offer.id for r in rank(offers, hosts=slow_4070)] == [1, 2]
    assert [r.offer.id for r in rank(offers, observed_gpu={"RTX 3070": 1.0})] == [2, 1]


def test_max_dph_is_inclusive_and_gpu_spelling_is_normalised():
    offers = [offer(1, "RTX 4070 Ti", 0.10), offer(2, "RTX 4070 Ti", 0.1001)]
    assert [r.offer.id for r in rank(offers, gpus=("RTX_4070_Ti",))] == [1]


def test_ties_break_by_price_then_reliability_then_id():
    # Same $/game/s (0.5/2 == 1/4 with observed speeds), then cheaper first, whatever the input order.
    hosts = {5001: HostRecord(5001, games_per_s=4.0), 5002: HostRecord(5002, games_per_s=2.0)}
    offers = [offer(1, dph=1.0), offer(2, dph=0.5)]
    assert [r.offer.id for r in rank(offers, hosts=hosts, max_dph=2.0)] == [2, 1]
    # A tie up to float noise is still a tie: 0.11/2.2 is 0.049999999999999996, 0.05/1.0 is 0.05.
    hosts = {5003: HostRecord(5003, games_per_s=2.2), 5004: HostRecord(5004, games_per_s=1.0)}
    offers = [offer(3, dph=0.11), offer(4, dph=0.05)]
    assert [r.offer.id for r in rank(offers, hosts=hosts, max_dph=1.0)] == [4, 3]
    same = [offer(3, rel=0.90), offer(4, rel=0.99), offer(2, rel=0.99)]
    assert [r.offer.id for r in rank(same)] == [2, 4, 3]


OFFERS = st.lists(st.tuples(st.sampled_from(["RTX 3070", "RTX 4070 Ti", "RTX 3060"]), st.floats(0.01, 0.3),
                            st.integers(0, 20), st.sampled_from([0.9, 0.95, 0.99])), max_size=30)


@given(OFFERS, st.sets(st.integers(0, 20), max_size=5), st.floats(0.02, 0.3),
       st.dictionaries(st.integers(0, 20), st.floats(0.5, 6.0), max_size=5))
def test_rank_properties(rows, blocked, max_dph, speeds):
    offers = [offer(n, g, round(d, 3), machine=m, rel=r) for n, (g, d, m, r) in enumerate(rows)]
    hosts = {m: HostRecord(m, games_per_s=s) for m, s in speeds.items()}
    ranked = rank(offers, max_dph=max_dph, blocked=blocked, hosts=hosts)
    values = [r.dollars_per_gps for r in ranked]
    assert all(a <= b + 1e-9 for a, b in itertools.pairwise(values))
    assert all(r.offer.machine_id not in blocked and r.offer.dph_total <= max_dph and r.offer.gpu_name in GPUS
               for r in ranked)
    eligible = [o for o in offers if o.gpu_name in GPUS and o.dph_total <= max_dph and o.machine_id not in blocked]
    assert sorted(r.offer.id for r in ranked) == sorted(o.id for o in eligible)
    shuffled = offers[:]
    random.Random(len(offers)).shuffle(shuffled)
    assert rank(shuffled, max_dph=max_dph, blocked=blocked, hosts=hosts) == ranked   # deterministic


def test_pick_offers_uses_distinct_machines_best_first():
    ranked = rank([offer(1, dph=0.03, machine=7), offer(2, dph=0.04, machine=7), offer(3, dph=0.05, machine=8),
                   offer(4, dph=0.06, machine=9)])
    assert [p.offer.id for p in pick_offers(ranked, 2)] == [1, 3]
    assert [p.offer.id for p in pick_offers(ranked, 5)] == [1, 3, 4]
    assert [p.offer.id for p in pick_offers(ranked, 5, exclude_machines={8})] == [1, 4]
    assert pick_offers(ranked, 0) == []


@given(OFFERS, st.integers(0, 8), st.sets(st.integers(0, 20), max_size=4))
def test_pick_properties(rows, count, exclude):
    ranked = rank([offer(n, g, round(d, 3), machine=m, rel=r) for n, (g, d, m, r) in enumerate(rows)], max_dph=1.0)
    picked = pick_offers(ranked, count, exclude_machines=exclude)
    machines = [p.offer.machine_id for p in picked]
    assert len(set(machines)) == len(machines) and not set(machines) & exclude
    assert len(picked) == min(count, len({r.offer.machine_id for r in ranked} - exclude))
    positions = [ranked.index(p) for p in picked]
    assert positions == sorted(positions)
    # Each pick is the best offer on a machine not used yet: nothing skipped was usable.
    seen = set(exclude)
    for r in ranked[: positions[-1] + 1] if positions else []:
        assert (r in picked) == (r.offer.machine_id not in seen)
        seen.add(r.offer.machine_id)


def test_blocked_machines_from_strikes():
    hosts = {}
    for n in range(3):
        hosts = add_strike(hosts, Strike(42, float(n), "no CUDA"))
    hosts = add_strike(hosts, Strike(43, 0.0, "dud"))
    assert blocked_machines(hosts, 3) == {42}
    assert blocked_machines(hosts, 1) == {42, 43}
    ranked = rank([offer(1, machine=42), offer(2, machine=43)], blocked=blocked_machines(hosts, 3))
    assert [r.offer.id for r in ranked] == [2]


def test_ranked_offer_value():
    assert RankedOffer(offer(1, dph=0.11), 2.2, "config").dollars_per_gps == pytest.approx(0.05)
    assert RankedOffer(offer(1), 0.0, "machine").dollars_per_gps == float("inf")


# -- the scripts' preferred machines ------------------------------------------------------------------

def test_a_preferred_machine_gets_the_ten_percent_bonus():
    hosts = {5001: HostRecord(5001, preferred_gps=3.0),
             5002: HostRecord(5002, games_per_s=2.0, preferred_gps=3.0),
             5003: HostRecord(5003, preferred_gps=0.0),
             5004: HostRecord(5004, games_per_s=2.0)}
    assert expected_gps(offer(1), hosts, {}, TABLE) == (pytest.approx(3.3), "preferred")
    assert expected_gps(offer(2), hosts, {}, TABLE) == (pytest.approx(2.2), "machine")   # zeb's figure, bonus
    assert expected_gps(offer(3), hosts, {}, TABLE) == (pytest.approx(2.42), "config")   # a listed 0 says nothing
    assert expected_gps(offer(4), hosts, {}, TABLE) == (2.0, "machine")                  # not preferred: no bonus


def test_the_bonus_reorders_the_ranking_and_marks_the_offer():
    offers = [offer(1, "RTX 3070", 0.0600), offer(2, "RTX 3070", 0.0640)]
    assert [r.offer.id for r in rank(offers)] == [1, 2]
    ranked = rank(offers, hosts={5002: HostRecord(5002, preferred_gps=2.2)})
    assert [r.offer.id for r in ranked] == [2, 1]            # 0.064/2.42 < 0.060/2.2
    assert [r.preferred for r in ranked] == [True, False]
