"""The fleet service over a marketplace that is not Vast: an in-memory one written against
zeb.core.domain.Marketplace only. If the service needed anything of Vast's (its rows, its status words, its
client), these tests could not run; they are what "a second marketplace is one new adapter" means."""

from __future__ import annotations

from zeb.core.config import resolve
from zeb.core.domain import RUNNING, Account, Instance, LaunchSpec, Marketplace, Offer
from zeb.core.errors import OfferUnavailable
from zeb.plan.types import InFlight
from zeb.service.fleet import Fleet
from zeb.storage.state import load_inflight, update_inflight
from zeb.storage.store import Store

NOW = 1_800_000_000.0
FLEET = "zeb"


class MemoryMarket:
    """A whole marketplace in a dict: offers to rent, instances rented. Ids grow, as the contract says."""

    def __init__(self, offers: list[Offer]) -> None:
        self.offers = {o.id: o for o in offers}
        self.instances: dict[int, Instance] = {}
        self.specs: list[LaunchSpec] = []
        self.requests_made = 0
        self.searches: list[dict] = []
        self._next_id = 500

    def list_instances(self) -> list[Instance]:
        self.requests_made += 1
        return sorted(self.instances.values(), key=lambda i: i.id)

    def get_instance(self, instance_id: int) -> Instance | None:
        return self.instances.get(instance_id)

    def search_offers(self, gpus, *, max_dph=None, num_gpus=1, limit=500, exclude_machines=()):
        self.requests_made += 1
        self.searches.append({"gpus": list(gpus), "exclude": set(exclude_machines)})
        return sorted((o for o in self.offers.values() if o.machine_id not in set(exclude_machines)),
                      key=lambda o: o.dph_total)

    def create_instance(self, spec: LaunchSpec) -> int:
        self.requests_made += 1
        offer = self.offers.pop(spec.offer_id, None)
        if offer is None:
            raise OfferUnavailable(f"offer {spec.offer_id} is taken")
        self.specs.append(spec)
        self._next_id += 1
        self.instances[self._next_id] = Instance(
            id=self._next_id, label=spec.label, status=RUNNING, intended_status=RUNNING, gpu_name=offer.gpu_name,
            num_gpus=1, dph_total=offer.dph_total, machine_id=offer.machine_id, host_id=offer.host_id,
            start_date=NOW)
        return self._next_id

    def destroy_instance(self, instance_id: int) -> bool:
        self.requests_made += 1
        return self.instances.pop(instance_id, None) is not None

    def label_instance(self, instance_id: int, label: str) -> None:
        pass

    def account(self) -> Account:
        return Account(id=1, email=None, credit=10.0, balance=0.0)

    def logs(self, instance_id: int, tail: int = 200, timeout: float | None = None) -> str:
        return ""


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
    assert labels == ["zeb-worker-vast-0", "zeb-worker-vast-1"]
    outcomes = fleet.launch(view, labels, fleet.offers(view), "hf_token_value_123", target=2)
    assert [o.ok for o in outcomes] == [True, True]
    assert [s.offer_id for s in market.specs] == [1, 2]          # cheapest first, one machine each
    assert all(s.env["ZEB_UPLOAD_INTERVAL"] == "240" for s in market.specs)
    after = fleet.observe()
    assert [i.label for i in after.live] == labels and after.inflight == ()   # listed: the ledger let go
    assert after.new_labels(1) == ["zeb-worker-vast-2"]
    gone = fleet.destroy([i.id for i in after.live])
    assert all(o.ok for o in gone) and fleet.observe().members == ()


def test_dry_run_plan_is_what_launch_tries_first(tmp_path):
    # Machine 11 already runs a worker: neither the plan nor the launch may put a second one there.
    fleet, _market = service(tmp_path, [offer(1, 11, 0.04), offer(2, 11, 0.05), offer(3, 12, 0.06), offer(4, 13, 0.09)])
    first = fleet.launch(fleet.observe(), ["zeb-worker-vast-0"], fleet.offers(fleet.observe()), "tok", target=3)
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
    [outcome] = fleet.launch(view, ["zeb-worker-vast-0"], ranked, "tok", target=1)
    assert outcome.ok and outcome.offer.offer.id == 2


def test_the_label_rule_skips_launches_in_flight_and_reserved_labels(tmp_path):
    fleet, _market = service(tmp_path, [offer(1, 11, 0.04)])
    fleet.launch(fleet.observe(), ["zeb-worker-vast-0"], fleet.offers(fleet.observe()), "tok", target=3)
    update_inflight(fleet.store, FLEET, lambda cur: [*cur, InFlight("zeb-worker-vast-1", 9, 99, NOW)])
    view = fleet.observe()
    assert view.new_labels(2) == ["zeb-worker-vast-2", "zeb-worker-vast-3"]
    assert view.new_labels(1, reserved=["zeb-worker-vast-2"]) == ["zeb-worker-vast-3"]
    # A member being destroyed frees its label.
    assert view.new_labels(1, exclude_ids=[view.live[0].id]) == ["zeb-worker-vast-0"]


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
    [outcome] = fleet.launch(fleet.observe(prune=False), ["zeb-worker-vast-0"],
                             fleet.offers(fleet.observe(prune=False)), "tok", target=1)
    assert [e.instance_id for e in load_inflight(fleet.store, FLEET)] == [outcome.instance_id]
    fleet.destroy([outcome.instance_id])
    assert load_inflight(fleet.store, FLEET) == ()


def test_duplicates_lowest_id_keeps_the_label(tmp_path):
    fleet, market = service(tmp_path, [offer(1, 11, 0.04), offer(2, 12, 0.05)])
    for o in (1, 2):
        market.create_instance(LaunchSpec(o, "zeb-worker-vast-0", "img", 10, {}, ""))
    lines = fleet.destroy_duplicates(fleet.observe())
    assert len(lines) == 1 and "502" in lines[0] and "501 keeps the label" in lines[0]
    assert [i.id for i in fleet.observe().members] == [501]
