"""A whole marketplace in a dict: offers to rent, instances rented, credit, logs, and the failures a real
one has. Written against zeb.core.domain.Marketplace only; tests/test_market_contract.py holds it to the same
contract as the Vast adapter, and tests/test_fleet_service.py runs the fleet service on it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence

from zeb.core.domain import RUNNING, Account, Instance, LaunchSpec, Offer, gpu_name
from zeb.core.errors import AuthError, MarketError, NoCredit, NotFound, OfferUnavailable, RateLimited, Unreachable

NOW = 1_800_000_000.0

# What every call raises while the marketplace is in that condition (MemoryMarket.failing).
FAILURES: dict[str, Callable[[], MarketError]] = {
    "auth": lambda: AuthError("memory market: the key is refused"),
    "down": lambda: Unreachable("memory market: no answer"),
    "rate_limited": lambda: RateLimited("memory market: too many requests", retry_after=1.0),
}


class MemoryMarket:
    """Ids grow with creation time, as the contract says; a rented offer leaves the market."""

    label_word = "mem"

    def __init__(self, offers: Sequence[Offer] = (), *, credit: float = 10.0,
                 clock: Callable[[], float] = lambda: NOW) -> None:
        self.offers = {o.id: o for o in offers}
        self.instances: dict[int, Instance] = {}
        self.log_text: dict[int, list[str]] = {}
        self.specs: list[LaunchSpec] = []
        self.searches: list[dict] = []
        self.credit = credit
        self.clock = clock
        self.requests_made = 0
        self.creates_sent = 0
        self.failing: str | None = None      # a key of FAILURES: every call raises it
        self.lose_create_answers = 0         # creates that rent but whose answer is lost (Unreachable)
        self._next_id = 500

    def _request(self) -> None:
        self.requests_made += 1
        if self.failing is not None:
            raise FAILURES[self.failing]()

    def list_instances(self) -> list[Instance]:
        self._request()
        return sorted(self.instances.values(), key=lambda i: i.id)

    def get_instance(self, instance_id: int) -> Instance | None:
        self._request()
        return self.instances.get(instance_id)

    def search_offers(self, gpus: Sequence[str], *, max_dph: float | None = None, num_gpus: int = 1,
                      limit: int = 500, exclude_machines: Collection[int] = ()) -> list[Offer]:
        self._request()
        names = {gpu_name(g) for g in gpus if g.strip()}
        excluded = set(exclude_machines)
        self.searches.append({"gpus": list(gpus), "exclude": excluded})
        found = [o for o in self.offers.values() if o.gpu_name in names and o.num_gpus == num_gpus
                 and o.machine_id not in excluded and (max_dph is None or o.dph_total <= max_dph)]
        return sorted(found, key=lambda o: o.dph_total)[:max(1, limit)]

    def create_instance(self, spec: LaunchSpec) -> int:
        self._request()
        self.creates_sent += 1
        offer = self.offers.get(spec.offer_id)
        if offer is None:
            raise OfferUnavailable(f"offer {spec.offer_id} is taken")
        if self.credit <= 0:
            raise NoCredit("memory market: the account lacks credit")
        del self.offers[spec.offer_id]
        self.specs.append(spec)
        self._next_id += 1
        self.instances[self._next_id] = Instance(
            id=self._next_id, label=spec.label, status=RUNNING, intended_status=RUNNING, gpu_name=offer.gpu_name,
            num_gpus=offer.num_gpus, dph_total=offer.dph_total, machine_id=offer.machine_id, host_id=offer.host_id,
            start_date=self.clock(), image=spec.image)
        self.log_text[self._next_id] = []
        if self.lose_create_answers:
            self.lose_create_answers -= 1
            raise Unreachable("memory market: the create's answer was lost; the create may have gone through")
        return self._next_id

    def destroy_instance(self, instance_id: int) -> bool:
        self._request()
        self.log_text.pop(instance_id, None)
        return self.instances.pop(instance_id, None) is not None

    def label_instance(self, instance_id: int, label: str) -> None:
        self._request()
        inst = self.instances.get(instance_id)
        if inst is None:
            raise NotFound(f"memory market: no instance {instance_id}")
        self.instances[instance_id] = dataclasses.replace(inst, label=label)

    def account(self) -> Account:
        self._request()
        return Account(id=1, email=None, credit=self.credit, balance=0.0)

    def logs(self, instance_id: int, tail: int = 200, timeout: float | None = None) -> str:
        self._request()
        if instance_id not in self.instances:
            raise NotFound(f"memory market: no instance {instance_id}")
        lines = self.log_text[instance_id][-tail:] if tail > 0 else []
        return "".join(line + "\n" for line in lines)

    # -- the world around the API (what a test arranges) ---------------------------------------------

    def write_log(self, instance_id: int, *lines: str) -> None:
        self.log_text[instance_id].extend(lines)
