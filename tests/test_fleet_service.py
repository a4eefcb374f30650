"""The fleet service over a marketplace that is not Vast: an in-memory one written against
zeb.core.domain.Marketplace only (tests/memory_market.py), whose labels carry its own word
(`zeb-worker-mem-0`). If the service needed anything of Vast's (its rows, its status words, its client, its
labels), these tests could not run; they are what "a second marketplace is one new adapter" means."""

from __future__ import annotations

from tests.memory_market import NOW, MemoryMarket
from zeb.core.config import resolve
from zeb.core.domain import LaunchSpec, Marketplace, Offer
from zeb.plan.types import InFlight
from zeb.service.fleet import Fleet
from zeb.storage.state import load_inflight, update_inflight
from zeb.storage.store import Store

FLEET = "zeb"


def offer(offer_id: int, machine: int, dph: float, gpu: str = "RTX 3070") -> Offer:
    return Offer(id=offer_id, machine_id=machine, host_id=machine, gpu_name=gpu, num_gpus=1, dph_total=dph,
                 reliability=0.99)


def service(tmp_path, offers, **flags) -> tuple[Fleet, MemoryMarket]:
    market = MemoryMarket(offers)
    cfg = resolve(FLEET, flags={"gpus": ("RTX_3070",), "max_dph": 0.2, **flags},
                  env={"ZEB_CONFIG": str(tmp_path / "none.toml")})
    return Fleet(market, Store(tmp_path / "state"), cfg, clock=lambda: NOW), market


def test_the_memory_market_satisfies_the_protocol():
    assert isinstance(MemoryMarket([]), Marketplace)


def test_launch_observe_destroy_round_trip(tmp_path):
    fleet, market = service(tmp_path, [offer(1, 11, 0.05), offer(2, 12, 0.06), offer(3, 13, 0.07)])
    view = fleet.observe()
    labels = view.new_labels(2)
    assert labels == ["zeb-worker-mem-0", "zeb-worker-mem-1"]
    outcomes = fleet.launch(view, labels, fleet.offers(view), "hf_token_value_123", target=2)
    assert [o.ok for o in outcomes] == [True, True]
    assert [s.offer_id for s in market.specs] == [1, 2]          # cheapest first, one machine each
    assert all(s.env["ZEB_UPLOAD_INTERVAL"] == "240" for s in market.specs)
    after = fleet.observe()
    assert [i.label for i in after.live] == labels and after.inflight == ()   # listed: the ledger let go
    assert after.new_labels(1) == ["zeb-worker-mem-2"]
    gone = fleet.destroy([i.id for i in after.live])
    assert all(o.ok for o in gone) and fleet.observe().members == ()


def test_dry_run_plan_is_what_launch_tries_first(tmp_path):
    # Machine 11 already runs a worker: neither the plan nor the launch may put a second one there.
    fleet, _market = service(tmp_path, [offer(1, 11, 0.04), offer(2, 11, 0.05), offer(3, 12, 0.06), offer(4, 13, 0.09)])
    first = fleet.launch(fleet.observe(), ["zeb-worker-mem-0"], fleet.offers(fleet.observe()), "tok", target=3)
    assert first[0].offer.offer.machine_id == 11
    view = fleet.observe()
    ranked = fleet.offers(view)
    labels = view.new_labels(2)
    planned = fleet.plan(view, labels, ranked)
    outcomes = fleet.launch(view, labels, ranked, "tok", target=3)
    assert [(label, p.offer.id) for label, p in planned] == [(o.label, o.offer.offer.id) for o in outcomes]
    assert [p.offer.machine_id for _, p in planned] == [12, 13]


def test_a_taken_offer_falls_through_to_the_next(tmp_path):
    fleet, market = service(tmp_path, [offer(1, 11, 0.04), offer(2, 12, 0.05)])
    view = fleet.observe()
    ranked = fleet.offers(view)
    del market.offers[1]                                           # rented by someone else meanwhile
    [outcome] = fleet.launch(view, ["zeb-worker-mem-0"], ranked, "tok", target=1)
    assert outcome.ok and outcome.offer.offer.id == 2


def test_the_label_rule_skips_launches_in_flight_and_reserved_labels(tmp_path):
    fleet, _market = service(tmp_path, [offer(1, 11, 0.04)])
    fleet.launch(fleet.observe(), ["zeb-worker-mem-0"], fleet.offers(fleet.observe()), "tok", target=3)
    update_inflight(fleet.store, FLEET, lambda cur: [*cur, InFlight("zeb-worker-mem-1", 9, 99, NOW)])
    view = fleet.observe()
    assert view.new_labels(2) == ["zeb-worker-mem-2", "zeb-worker-mem-3"]
    assert view.new_labels(1, reserved=["zeb-worker-mem-2"]) == ["zeb-worker-mem-3"]
    # A member being destroyed frees its label.
    assert view.new_labels(1, exclude_ids=[view.live[0].id]) == ["zeb-worker-mem-0"]


def test_blocked_machines_are_never_searched_nor_ranked(tmp_path):
    from zeb.plan.hosts import block_now

    fleet, market = service(tmp_path, [offer(1, 11, 0.04), offer(2, 12, 0.05)])
    fleet.update_hosts(lambda hosts: block_now(hosts, 11, "no CUDA", NOW, fleet=FLEET, threshold=3))
    view = fleet.observe()
    assert view.blocked == {11}
    assert [r.offer.machine_id for r in fleet.offers(view)] == [12]
    assert market.searches[-1]["exclude"] == {11}
    shown = fleet.offers(fleet.market_view(), include_blocked=True)
    assert [r.offer.machine_id for r in shown] == [11, 12]


def test_destroy_drops_the_launch_from_the_ledger(tmp_path):
    fleet, _market = service(tmp_path, [offer(1, 11, 0.04)])
    [outcome] = fleet.launch(fleet.observe(prune=False), ["zeb-worker-mem-0"],
                             fleet.offers(fleet.observe(prune=False)), "tok", target=1)
    assert [e.instance_id for e in load_inflight(fleet.store, FLEET)] == [outcome.instance_id]
    fleet.destroy([outcome.instance_id])
    assert load_inflight(fleet.store, FLEET) == ()


def test_duplicates_lowest_id_keeps_the_label(tmp_path):
    fleet, market = service(tmp_path, [offer(1, 11, 0.04), offer(2, 12, 0.05)])
    for o in (1, 2):
        market.create_instance(LaunchSpec(o, "zeb-worker-mem-0", "img", 10, {}, ""))
    lines = fleet.destroy_duplicates(fleet.observe())
    assert len(lines) == 1 and "502" in lines[0] and "501 keeps the label" in lines[0]
    assert [i.id for i in fleet.observe().members] == [501]
