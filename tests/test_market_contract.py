"""The marketplace contract: what the fleet service relies on of a zeb.core.domain.Marketplace, run against
every adapter. Each adapter comes with a world that arranges what its API cannot (offers on sale, credit, a
failure of the whole service, someone else's actions); the tests talk to the adapter only through the
Protocol. Vast is reached over HTTP through the real `vastai` SDK, against the simulator (zeb/sim).

A new marketplace passes this file with one more world in WORLDS (test_every_registered_market_is_tested)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import pytest

from tests.memory_market import MemoryMarket
from zeb.adapters.registry import MARKETS
from zeb.core.domain import ENDED, LIVE, Account, Instance, LaunchSpec, Marketplace, Offer
from zeb.core.errors import (
    AuthError,
    MarketError,
    NoCredit,
    NotFound,
    OfferUnavailable,
    RateLimited,
    Unreachable,
)
from zeb.plan.fleet import group_by_fleet, label_for, members, next_labels, parse_label
from zeb.sim.onstart import KNOWN_GOOD_LAUNCH

# A launch that runs on a real machine (the simulator runs its onstart, so its workers write logs).
GOOD = KNOWN_GOOD_LAUNCH


class World(Protocol):
    market: Marketplace

    def add_offer(self, gpu: str, dph: float) -> Offer: ...      # a new machine with one offer on it
    def take_offer(self, offer_id: int) -> None: ...             # someone else rents it
    def set_credit(self, amount: float) -> None: ...
    def destroy_elsewhere(self, instance_id: int) -> None: ...   # the owner, in the console
    def fail(self, kind: str) -> None: ...                       # "auth", "down", "rate_limited": every call
    def lose_create_answer(self) -> None: ...                    # the next create's answer never arrives
    def creates_sent(self) -> int: ...
    def run_for(self, seconds: float) -> None: ...               # time passes; workers write their logs


# -- the worlds -----------------------------------------------------------------------------------


class MemoryWorld:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.market = MemoryMarket(clock=lambda: self.now)
        self._ids = iter(range(9000, 10_000))

    def add_offer(self, gpu: str, dph: float) -> Offer:
        n = next(self._ids)
        offer = Offer(id=n, machine_id=n + 1000, host_id=n + 2000, gpu_name=gpu, num_gpus=1, dph_total=dph,
                      reliability=0.99)
        self.market.offers[offer.id] = offer
        return offer

    def take_offer(self, offer_id: int) -> None:
        del self.market.offers[offer_id]

    def set_credit(self, amount: float) -> None:
        self.market.credit = amount

    def destroy_elsewhere(self, instance_id: int) -> None:
        del self.market.instances[instance_id]

    def fail(self, kind: str) -> None:
        self.market.failing = kind

    def lose_create_answer(self) -> None:
        self.market.lose_create_answers += 1

    def creates_sent(self) -> int:
        return self.market.creates_sent

    def run_for(self, seconds: float) -> None:
        self.now += seconds
        for iid in self.market.instances:
            self.market.write_log(iid, *(f"{self.now:.0f} step {k}" for k in range(10)))


class VastWorld:
    """The simulator served on 127.0.0.1, reached by the real VastClient (SDK and all); no sleeping."""

    KEY = "contract-key"

    def __init__(self) -> None:
        from zeb.adapters.vast import VastClient
        from zeb.sim.clock import ManualClock
        from zeb.sim.market import Market
        from zeb.sim.server import SimServer

        self.clock = ManualClock()
        self.sim = Market(self.clock, seed=7, credit=50.0, api_key=self.KEY)
        self.server = SimServer(self.sim)
        url = self.server.start()
        self.market = VastClient(self.KEY, url, timeout=5.0, attempts=2, sleep=lambda s: None, rng=random.Random(1))
        self._client = lambda key: VastClient(key, url, timeout=5.0, attempts=2, sleep=lambda s: None)

    def close(self) -> None:
        self.server.stop()

    def add_offer(self, gpu: str, dph: float) -> Offer:
        sim_offer = self.sim.add_machine(gpu, dph=dph)
        m = self.sim.machines[sim_offer.machine_id]
        return Offer(id=sim_offer.id, machine_id=m.id, host_id=m.host_id, gpu_name=gpu, num_gpus=1, dph_total=dph,
                     reliability=m.reliability)

    def take_offer(self, offer_id: int) -> None:
        self.sim.take_offer(offer_id)

    def set_credit(self, amount: float) -> None:
        self.sim.set_credit(amount)

    def destroy_elsewhere(self, instance_id: int) -> None:
        assert self.sim.destroy(instance_id)

    def fail(self, kind: str) -> None:
        if kind == "auth":
            self.market = self._client("not-the-key")
        else:
            self.sim.inject({"down": "500", "rate_limited": "429"}[kind], -1)

    def lose_create_answer(self) -> None:
        self.sim.inject("502", 1, path="/api/v0/asks/", method="PUT")

    def creates_sent(self) -> int:
        return self.sim.count_calls("PUT", "/api/v0/asks/")

    def run_for(self, seconds: float) -> None:
        self.clock.advance(seconds)


@dataclass(frozen=True)
class Adapter:
    name: str
    build: Callable[[], World]
    word: str                      # the label word the adapter must carry


WORLDS = {
    "memory": Adapter("memory", MemoryWorld, "mem"),
    "vast": Adapter("vast", VastWorld, "vast"),    # the scripts' labels: never change it
}


@pytest.fixture(params=sorted(WORLDS))
def world(request) -> Iterator[World]:
    made = WORLDS[request.param].build()
    try:
        yield made
    finally:
        close = getattr(made, "close", None)
        if close is not None:
            close()


def spec(offer: Offer | int, label: str) -> LaunchSpec:
    offer_id = offer if isinstance(offer, int) else offer.id
    return LaunchSpec(offer_id=offer_id, label=label, image=GOOD["image"], disk_gb=float(GOOD["disk"]),
                      env={**GOOD["env"], "WORKER_ID": "worker-x-0"}, onstart=GOOD["onstart"])


def rent(world: World, label: str, gpu: str = "RTX 3070", dph: float = 0.07) -> int:
    return world.market.create_instance(spec(world.add_offer(gpu, dph), label))


def listed(world: World) -> dict[int, Instance]:
    return {i.id: i for i in world.market.list_instances()}


# -- the registry and the Protocol -----------------------------------------------------------------


def test_every_registered_market_is_tested():
    assert set(MARKETS) <= set(WORLDS), "a marketplace in zeb.adapters.registry has no world in this suite"


def test_satisfies_the_protocol(world, request):
    assert isinstance(world.market, Marketplace)
    assert world.market.label_word == WORLDS[request.node.callspec.params["world"]].word
    assert isinstance(world.market.requests_made, int)


def test_labels_carry_the_adapter_word_and_round_trip(world):
    word = world.market.label_word
    label = label_for("zeb", 3, word)
    assert label == f"zeb-worker-{word}-3"
    iid = rent(world, label)
    [inst] = [i for i in world.market.list_instances() if i.id == iid]
    assert parse_label(inst.label, "zeb", word) == 3
    assert next_labels("zeb", [inst.label], 2, word) == [label_for("zeb", 0, word), label_for("zeb", 1, word)]


# -- search ---------------------------------------------------------------------------------------------


def test_search_is_cheapest_first(world):
    for dph in (0.09, 0.05, 0.07):
        world.add_offer("RTX 3070", dph)
    found = world.market.search_offers(["RTX 3070"])
    assert [o.dph_total for o in found] == [0.05, 0.07, 0.09]
    assert all(isinstance(o, Offer) and o.num_gpus == 1 for o in found)


def test_search_keeps_to_the_gpu_list_in_either_spelling(world):
    world.add_offer("RTX 3070", 0.06)
    world.add_offer("RTX 4070 Ti", 0.08)
    world.add_offer("RTX 3090", 0.07)
    found = world.market.search_offers(["RTX_3070", "RTX_4070_Ti"])
    assert sorted(o.gpu_name for o in found) == ["RTX 3070", "RTX 4070 Ti"]


def test_search_of_no_gpus_finds_nothing(world):
    world.add_offer("RTX 3070", 0.06)
    assert world.market.search_offers([]) == []


def test_search_never_passes_the_price_ceiling(world):
    for dph in (0.05, 0.08, 0.081, 0.12):
        world.add_offer("RTX 3070", dph)
    assert [o.dph_total for o in world.market.search_offers(["RTX 3070"], max_dph=0.08)] == [0.05, 0.08]


def test_search_never_offers_an_excluded_machine(world):
    a = world.add_offer("RTX 3070", 0.05)
    b = world.add_offer("RTX 3070", 0.06)
    found = world.market.search_offers(["RTX 3070"], exclude_machines={a.machine_id})
    assert [o.machine_id for o in found] == [b.machine_id]


def test_search_respects_the_limit(world):
    for k in range(5):
        world.add_offer("RTX 3070", 0.05 + k / 100)
    assert len(world.market.search_offers(["RTX 3070"], limit=2)) == 2


def test_an_offer_rented_is_no_longer_offered(world):
    a = world.add_offer("RTX 3070", 0.05)
    world.market.create_instance(spec(a, "zeb-worker-x-0"))
    assert a.id not in {o.id for o in world.market.search_offers(["RTX 3070"])}


# -- create ------------------------------------------------------------------------------------------


def test_create_returns_the_new_instance_with_its_label(world):
    offer = world.add_offer("RTX 3070", 0.07)
    iid = world.market.create_instance(spec(offer, "zeb-worker-x-0"))
    assert isinstance(iid, int)
    inst = listed(world)[iid]
    assert (inst.label, inst.gpu_name, inst.machine_id, inst.num_gpus) == \
        ("zeb-worker-x-0", "RTX 3070", offer.machine_id, 1)
    assert inst.dph_total == pytest.approx(0.07)


def test_a_new_instance_is_live_not_ended(world):
    iid = rent(world, "zeb-worker-x-0")
    inst = listed(world)[iid]
    assert inst.status in LIVE and inst.live and not inst.ended and inst.status not in ENDED


def test_ids_grow_with_creation_time(world):
    ids = []
    for k in range(4):
        ids.append(rent(world, f"zeb-worker-x-{k}"))
        world.run_for(5)
    assert ids == sorted(ids) and len(set(ids)) == 4
    starts = [listed(world)[i].start_date for i in ids]
    assert starts == sorted(starts)


def test_a_taken_offer_is_offer_unavailable(world):
    offer = world.add_offer("RTX 3070", 0.05)
    world.take_offer(offer.id)
    with pytest.raises(OfferUnavailable):
        world.market.create_instance(spec(offer, "zeb-worker-x-0"))
    assert listed(world) == {}


def test_an_offer_rented_once_cannot_be_rented_again(world):
    offer = world.add_offer("RTX 3070", 0.05)
    world.market.create_instance(spec(offer, "zeb-worker-x-0"))
    with pytest.raises(OfferUnavailable):
        world.market.create_instance(spec(offer, "zeb-worker-x-1"))


def test_no_credit_is_no_credit(world):
    offer = world.add_offer("RTX 3070", 0.05)
    world.set_credit(0.0)
    with pytest.raises(NoCredit):
        world.market.create_instance(spec(offer, "zeb-worker-x-0"))


def test_a_create_whose_answer_is_lost_is_unreachable_and_never_resent(world):
    offer = world.add_offer("RTX 3070", 0.05)
    world.lose_create_answer()
    before = world.creates_sent()
    with pytest.raises(Unreachable):
        world.market.create_instance(spec(offer, "zeb-worker-x-0"))
    assert world.creates_sent() - before == 1     # the caller reconciles through the listing
    assert len([i for i in world.market.list_instances() if i.label == "zeb-worker-x-0"]) <= 1


# -- list and get --------------------------------------------------------------------------------------


def test_the_listing_is_whole_across_pages(world):
    ids = {rent(world, f"zeb-worker-x-{k}", dph=0.05 + k / 1000) for k in range(30)}   # Vast pages by 25
    assert set(listed(world)) == ids


def test_the_listing_shows_every_label_and_membership_is_the_planners(world):
    word = world.market.label_word
    ours = [rent(world, label_for("zeb", k, word)) for k in range(2)]
    large = rent(world, label_for("zeb-large", 0, word))
    foreign = rent(world, "my-notebook")
    listing = world.market.list_instances()
    assert {i.id for i in listing} == {*ours, large, foreign}
    assert sorted(i.id for i in members(listing, "zeb", word)) == ours
    groups = group_by_fleet(listing, word)
    assert {name: [i.id for i in g] for name, g in groups.items()} == {"zeb": ours, "zeb-large": [large]}


def test_get_instance_finds_one_and_none_for_an_absent_id(world):
    iid = rent(world, "zeb-worker-x-0")
    got = world.market.get_instance(iid)
    assert got is not None and got.id == iid and got.label == "zeb-worker-x-0"
    assert world.market.get_instance(iid + 777_777) is None


# -- destroy and label -----------------------------------------------------------------------------


def test_destroy_is_true_then_false_and_the_instance_is_gone(world):
    iid = rent(world, "zeb-worker-x-0")
    assert world.market.destroy_instance(iid) is True
    assert world.market.destroy_instance(iid) is False
    assert iid not in listed(world) and world.market.get_instance(iid) is None


def test_destroying_an_absent_or_already_destroyed_instance_is_false(world):
    iid = rent(world, "zeb-worker-x-0")
    world.destroy_elsewhere(iid)
    assert world.market.destroy_instance(iid) is False
    assert world.market.destroy_instance(123_456_789) is False


def test_destroy_leaves_the_others(world):
    a, b = rent(world, "zeb-worker-x-0"), rent(world, "zeb-worker-x-1")
    world.market.destroy_instance(a)
    assert set(listed(world)) == {b}


def test_label_instance_relabels_and_an_absent_one_is_not_found(world):
    iid = rent(world, "zeb-worker-x-0")
    world.market.label_instance(iid, "zeb-worker-x-7")
    assert listed(world)[iid].label == "zeb-worker-x-7"
    with pytest.raises(NotFound):
        world.market.label_instance(iid + 777_777, "x")


# -- account and logs ------------------------------------------------------------------------------


def test_the_account_shows_the_credit(world):
    world.set_credit(12.5)
    account = world.market.account()
    assert isinstance(account, Account) and account.credit == pytest.approx(12.5) and not account.exhausted
    world.set_credit(0.0)
    assert world.market.account().exhausted


def test_logs_are_text_within_the_tail(world):
    iid = rent(world, "zeb-worker-x-0")
    assert isinstance(world.market.logs(iid, tail=5), str)
    world.run_for(1800)
    text = world.market.logs(iid, tail=3, timeout=5.0)
    assert 1 <= len(text.splitlines()) <= 3


def test_logs_of_an_absent_instance_are_not_found(world):
    with pytest.raises(NotFound):
        world.market.logs(123_456_789, tail=5)


# -- failures ------------------------------------------------------------------------------------------


def test_requests_are_counted(world):
    before = world.market.requests_made
    world.market.list_instances()
    world.market.account()
    assert world.market.requests_made >= before + 2


@pytest.mark.parametrize(("kind", "error"), [("auth", AuthError), ("down", Unreachable),
                                             ("rate_limited", RateLimited)])
def test_a_failing_marketplace_raises_zebs_errors(world, kind, error):
    world.fail(kind)
    for call in (lambda m: m.list_instances(), lambda m: m.account(), lambda m: m.search_offers(["RTX 3070"])):
        with pytest.raises(error) as caught:
            call(world.market)
        assert isinstance(caught.value, MarketError) and str(caught.value)
