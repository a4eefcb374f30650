"""The executors: the ledger is written before a create, taken offers fall through to the next,
credit exhaustion stops everything, and log polling bounds a hung call by its own deadline."""

from __future__ import annotations

import threading
import time

from zeb.core.domain import LaunchSpec, Offer
from zeb.core.errors import NoCredit, OfferUnavailable, Unreachable
from zeb.plan.types import RankedOffer
from zeb.service.ops import destroy_all, launch_labels, poll_tails


def _ranked(offer_id: int, machine: int, dph: float = 0.08) -> RankedOffer:
    return RankedOffer(Offer(id=offer_id, machine_id=machine, host_id=1, gpu_name="RTX 3070", num_gpus=1,
                             dph_total=dph, reliability=0.99), 2.2, "config")


class Ledger:
    def __init__(self):
        self.entries = {}
        self.log = []

    def add(self, e):
        self.entries[e.label] = e
        self.log.append(("add", e.label))

    def resolve(self, label, instance_id):
        self.log.append(("resolve", label, instance_id))

    def drop(self, label):
        self.entries.pop(label, None)
        self.log.append(("drop", label))

    def refused(self, label, at):
        self.log.append(("refused", label))


class Client:
    """A stand-in for zeb.adapters.vast.VastClient (zeb's own interface, not the SDK's)."""

    def __init__(self, fail=None):
        self.fail = fail or {}
        self.created = []
        self.ledger_at_create = []

    def create_instance(self, spec: LaunchSpec) -> int:
        self.ledger_at_create.append(spec.label in self.ledger.entries)
        error = self.fail.get(spec.offer_id)
        if error:
            raise error
        self.created.append((spec.label, spec.offer_id))
        return 1000 + spec.offer_id

    def destroy_instance(self, instance_id):
        if instance_id == 13:
            raise Unreachable("boom")
        return instance_id != 7


def _spec(label, offer):
    return LaunchSpec(offer.offer.id, label, "img", 20, {"HF_TOKEN": "secret"}, "onstart")


def test_ledger_entry_exists_before_create_and_taken_offer_moves_on():
    ledger = Ledger()
    client = Client(fail={1: OfferUnavailable("taken")})
    client.ledger = ledger
    out = launch_labels(client, ledger, _spec, ["f-worker-vast-0", "f-worker-vast-1"],
                        [_ranked(1, 10), _ranked(2, 20), _ranked(3, 30)], lambda: 100.0)
    assert [o.instance_id for o in out] == [1002, 1003]
    assert all(client.ledger_at_create)
    assert ("drop", "f-worker-vast-0") in ledger.log


def test_distinct_machines_and_used_machines_respected():
    ledger = Ledger()
    client = Client()
    client.ledger = ledger
    out = launch_labels(client, ledger, _spec, ["a", "b"], [_ranked(1, 10), _ranked(2, 10), _ranked(3, 30)],
                        lambda: 0.0, used_machines={30})
    assert [o.ok for o in out] == [True, False]
    assert out[1].error_kind == "no_offer"
    assert client.created == [("a", 1)]


def test_no_credit_stops_every_later_launch():
    ledger = Ledger()
    client = Client(fail={1: NoCredit("lacks credit")})
    client.ledger = ledger
    out = launch_labels(client, ledger, _spec, ["a", "b"], [_ranked(1, 10), _ranked(2, 20)], lambda: 0.0)
    assert [o.error_kind for o in out] == ["no_credit", "no_credit"]
    assert client.created == []
    assert ledger.entries == {}


def test_ambiguous_create_failure_keeps_the_ledger_entry():
    ledger = Ledger()
    client = Client(fail={1: Unreachable("timed out")})
    client.ledger = ledger
    out = launch_labels(client, ledger, _spec, ["a"], [_ranked(1, 10), _ranked(2, 20)], lambda: 0.0)
    assert out[0].error_kind == "unknown"
    assert "a" in ledger.entries          # counts as in flight: no second launch for "a"
    assert client.created == []           # and no blind retry on another offer


def test_destroy_all_reports_each():
    out = {o.instance_id: o for o in destroy_all(Client(), [5, 7, 13])}
    assert out[5].ok and not out[5].already_gone
    assert out[7].ok and out[7].already_gone
    assert not out[13].ok and "boom" in out[13].error


def test_poll_tails_bounds_a_hung_call_by_its_timeout():
    release = threading.Event()

    def fetch(i):
        if i == 3:
            release.wait(10)
            return "late"
        if i == 4:
            raise Unreachable("refused")
        return f"tail {i}"

    start = time.monotonic()
    try:
        res = poll_tails(fetch, [1, 2, 3, 4], workers=4, timeout=0.3)
    finally:
        release.set()
    assert time.monotonic() - start < 2.0
    assert res[1].text == "tail 1" and res[2].text == "tail 2"
    assert res[3].text is None and "0.3" in res[3].error
    assert res[4].text is None and "refused" in res[4].error
