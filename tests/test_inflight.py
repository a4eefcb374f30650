"""Launches in flight whose create never answered: shown as such, resolved from the listing as soon as it
can prove them, and never left billing after `zeb down` (issue 11: #1 and #3)."""

from __future__ import annotations

from zeb.core.domain import Instance
from zeb.plan.fleet import (
    CAUGHT_UP_GRACE_S,
    prune_inflight,
    replenish_plan,
    unconfirmed,
)
from zeb.plan.types import InFlight
from zeb.storage.state import StoreLedger, load_inflight
from zeb.storage.store import Store

NOW = 1_000_000.0


def inst(i: int, label: str, start: float, machine: int | None = None) -> Instance:
    return Instance(id=i, label=label, status="running", intended_status="running", gpu_name="RTX 3070",
                    num_gpus=1, dph_total=0.08, machine_id=machine or 500 + i, host_id=1, start_date=start)


def lost(label: str, t: float) -> InFlight:
    return InFlight(label=label, offer_id=9, machine_id=77, time=t)


def test_a_lost_create_is_kept_until_the_listing_has_caught_up_past_it():
    entry = lost("zeb-worker-vast-1", NOW - CAUGHT_UP_GRACE_S - 1)
    older = [inst(1, "zeb-worker-vast-0", NOW - 3600)]
    assert prune_inflight([entry], older, NOW, 600) == (entry,), "nothing listed started after it: keep"
    newer = older + [inst(2, "zeb-worker-vast-2", entry.time + 5)]
    assert prune_inflight([entry], newer, NOW, 600) == (), "a later instance is listed: it never rented"
    young = lost("zeb-worker-vast-1", NOW - 30)
    assert prune_inflight([young], newer + [inst(3, "x", NOW - 1)], NOW, 600) == (young,), "within the grace"


def test_a_lost_create_that_did_rent_is_matched_by_label_and_machine():
    entry = lost("zeb-worker-vast-1", NOW - 10)
    listed = [inst(5, "zeb-worker-vast-1", NOW - 8, machine=77)]
    assert prune_inflight([entry], listed, NOW, 600) == ()


def test_replenish_plans_again_once_a_lost_create_is_disproved():
    entry = lost("zeb-worker-vast-1", NOW - 200)
    live = [inst(1, "zeb-worker-vast-0", NOW - 3600), inst(3, "zeb-worker-vast-2", NOW - 190),
            inst(4, "zeb-worker-vast-3", NOW - 185)]
    assert replenish_plan(live, [entry], "zeb", 4, NOW, 600) == ["zeb-worker-vast-1"]
    assert replenish_plan(live, [entry], "zeb", 4, entry.time + 60, 600) == []
    assert unconfirmed([entry, InFlight("zeb-worker-vast-2", 1, 2, NOW, instance_id=3)]) == [entry]


# -- end to end: a killed `zeb up` left a create in flight ------------------------------------------

def _leave_a_create_in_flight(sim, label: str = "zeb-worker-vast-0", appears_after: float | None = 20.0):
    """What `kill -9` of `zeb up 1` mid-create leaves: the ledger entry, and an instance that appears
    `appears_after` seconds later (None: the create never reached Vast)."""
    offer = next(o for o in sim.market.offers.values() if not o.rented)
    StoreLedger(Store(sim.home), "zeb").add(InFlight(label=label, offer_id=offer.id, machine_id=offer.machine_id,
                                                     time=sim.clock.now()))
    if appears_after is not None:
        sim.market.at(sim.clock.now() + appears_after,
                      lambda m: m.create(offer.id, {"label": label, "image": "x", "env": {}, "onstart": ""}))
    return offer


def _live(sim) -> list:
    return [i for i in sim.market.instances.values() if i.destroyed_at is None]


def test_down_waits_for_a_launch_in_flight_and_destroys_it(sim):
    _leave_a_create_in_flight(sim)
    res = sim.run("down", "--force")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "nothing to destroy" not in res.stdout and "zeb-worker-vast-0" in res.stdout
    assert "waiting up to 90s for 1 launch(es)" in res.stderr
    assert _live(sim) == [] and load_inflight(Store(sim.home), "zeb") == ()


def test_down_exits_3_naming_a_launch_that_never_appears(sim):
    _leave_a_create_in_flight(sim, appears_after=None)
    res = sim.run("down", "--force", "--wait", "30", "--json")
    assert res.exit_code == 3
    import json

    doc = json.loads(res.stdout)
    assert [u["label"] for u in doc["data"]["unconfirmed"]] == ["zeb-worker-vast-0"]
    assert "still unconfirmed (zeb-worker-vast-0)" in doc["errors"][0]


def test_replenish_says_which_workers_are_unconfirmed(sim):
    sim.run("up", "2")
    _leave_a_create_in_flight(sim, "zeb-worker-vast-2", appears_after=None)
    res = sim.run("replenish", "3")
    assert res.exit_code == 0
    assert "2 running, 1 launching (1 unconfirmed), target 3; nothing to do" in res.stdout


# -- a race between two zeb runs that could not see each other (issue 11 #6) ------------------------

def _double(sim, label: str) -> int:
    offer = next(o for o in sim.market.offers.values() if not o.rented)
    return sim.market.create(offer.id, {"label": label, "image": "x", "env": {}, "onstart": ""})


def test_replenish_undoes_a_double_launch_keeping_the_lowest_id_from_any_home(sim, tmp_path):
    sim.run("up", "2")
    keep = min(i.id for i in sim.market.instances.values() if i.label == "zeb-worker-vast-0")
    dup = _double(sim, "zeb-worker-vast-0")
    res = sim.run("replenish", "2")
    assert res.exit_code == 0, res.stderr
    assert f"duplicate zeb-worker-vast-0 (instance {dup}; {keep} keeps the label): destroyed" in res.stdout
    assert dup not in sim.market.instances and keep in sim.market.instances
    # Another state directory (another machine) applies the same rule and picks the same survivor.
    dup2 = _double(sim, "zeb-worker-vast-1")
    sim.extra_env["ZEB_HOME"] = str(tmp_path / "other-home")
    res = sim.run("replenish", "2")
    assert f"duplicate zeb-worker-vast-1 (instance {dup2};" in res.stdout
    assert len([i for i in _live(sim) if i.label and i.label.startswith("zeb-worker-vast-")]) == 2


# -- issue 20 #3: a create Vast refused with an error answer -------------------------------------------

def test_a_refused_create_is_released_30_s_after_its_answer_by_a_listing_without_its_label():
    from zeb.plan.fleet import REFUSED_CHECK_S

    entry = InFlight("zeb-worker-vast-1", 9, 77, NOW - 5, refused_at=NOW - 4)
    others = [inst(1, "zeb-worker-vast-0", NOW - 3600)]
    assert prune_inflight([entry], others, NOW, 600) == (entry,), "too soon: a create may still appear"
    later = entry.refused_at + REFUSED_CHECK_S
    assert prune_inflight([entry], others, later, 600) == (), "no such label 30 s on: nothing was rented"
    # One that rented despite its error shows its label (on whatever machine): it is kept until matched.
    rented = others + [inst(2, "zeb-worker-vast-1", NOW - 3, machine=78)]
    assert prune_inflight([entry], rented, later, 600) == (entry,)
    # A lost answer (a timeout: no status) keeps the old rule: held until the listing catches up past it.
    lost_one = InFlight("zeb-worker-vast-1", 9, 77, NOW - 5)
    assert prune_inflight([lost_one], others, later, 600) == (lost_one,)


def test_replenish_after_two_refused_creates_is_back_at_target_within_a_minute(sim):
    sim.run("up", "2")
    sim.market.inject("500", 2, path="/api/v0/asks/", method="PUT")
    first = sim.run("replenish", "4")
    assert first.exit_code != 0 or "failed" in first.stdout + first.stderr
    assert len(_live(sim)) == 2
    sim.clock.advance(31)
    again = sim.run("replenish", "4")
    assert again.exit_code == 0, again.stderr
    assert len(_live(sim)) == 4 and "unconfirmed" not in again.stdout
