"""Fleet membership, label indices, liveness, replenish counts with launches in flight, ledger pruning, totals."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from zeb.core.domain import Instance
from zeb.plan.fleet import (
    fleet_of,
    free_indices,
    group_by_fleet,
    is_live,
    label_for,
    members,
    parse_label,
    prune_inflight,
    replenish_plan,
    stuck_loading,
    totals,
)
from zeb.plan.types import InFlight

NOW = 1_780_000_000.0


def inst(i: int, label: str | None, status: str | None = "running", machine: int | None = None, dph=0.08,
         age=3600.0) -> Instance:
    return Instance(id=i, label=label, status=status, intended_status="running", gpu_name="RTX 3070", num_gpus=1,
                    dph_total=dph, machine_id=machine if machine is not None else 1000 + i, host_id=1,
                    start_date=NOW - age)


def zeb(i: int) -> str:
    return label_for("zeb", i)


# -- labels and membership ----------------------------------------------------------------------

def test_label_round_trip():
    assert label_for("zeb-large", 3) == "zeb-large-worker-vast-3"
    assert parse_label("zeb-large-worker-vast-3", "zeb-large") == 3
    assert parse_label("zeb-worker-vast-0", "zeb") == 0
    assert parse_label("zeb-worker-vast-999999", "zeb") == 999999


def test_parse_label_is_exact_and_canonical():
    for label in ("zeb-worker-vast-01", "zeb-worker-vast-007", "zeb-worker-vast-", "zeb-worker-vast--1",
                  "zeb-worker-vast-+1", "zeb-worker-vast- 1", "zeb-worker-vast-1 ", "zeb-worker-vast-1a",
                  "zeb-worker-vast-\u0661", "zeb-worker-vast-1\n", "ZEB-worker-vast-1", "zeb-worker-vast-1234567",
                  "zeb-large-worker-vast-0", "xzeb-worker-vast-1", "my-notebook", "", None):
        assert parse_label(label, "zeb") is None, label
    assert parse_label("-worker-vast-0", "") is None


def test_exact_membership():
    rows = [inst(1, "zeb-worker-vast-0"), inst(2, "zeb-large-worker-vast-0"), inst(3, "my-notebook"),
            inst(4, "zeb-worker-vast-10"), inst(5, None), inst(6, "zeb-worker-vast-01"), inst(7, "xzeb-worker-vast-1")]
    assert [i.id for i in members(rows, "zeb")] == [1, 4]
    assert [i.id for i in members(rows, "zeb-large")] == [2]
    assert members(rows, "my") == []
    assert fleet_of("zeb-large-worker-vast-3") == "zeb-large" and fleet_of("my-notebook") is None
    assert fleet_of("zeb-worker-vast-01") is None and fleet_of("-worker-vast-1") is None
    groups = group_by_fleet(rows)
    assert {k: [i.id for i in v] for k, v in groups.items()} == {"zeb": [1, 4], "zeb-large": [2], "xzeb": [7]}


NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
# Fleet names built from the pieces that confuse prefix and substring matches.
TRICKY = st.lists(st.sampled_from(["zeb", "large", "worker", "vast", "-", "0", "1", "10", "-worker-vast-"]),
                  min_size=1, max_size=6).map("".join)
LABELS = st.one_of(st.text(max_size=30), st.builds(label_for, TRICKY, st.integers(0, 1000)),
                   st.builds(lambda f, s: f"{f}-worker-vast-{s}", TRICKY, st.text("0123456789+- ", max_size=4)))


@given(NAMES, NAMES, st.integers(min_value=0, max_value=999))
def test_membership_never_crosses_fleets(a, b, i):
    assert (parse_label(label_for(b, i), a) is not None) == (a == b)


@given(st.one_of(TRICKY, NAMES), TRICKY, st.integers(0, 99999))
def test_tricky_fleet_names_never_cross(a, b, i):
    assert (parse_label(label_for(b, i), a) == i) == (a == b)
    assert fleet_of(label_for(b, i)) == b


@given(st.one_of(TRICKY, NAMES), st.lists(LABELS, max_size=12))
def test_a_member_label_is_exactly_the_fleets_label(fleet, labels):
    rows = [inst(n, label) for n, label in enumerate(labels)]
    for m in members(rows, fleet):
        assert m.label == label_for(fleet, parse_label(m.label, fleet))
    for name, group in group_by_fleet(rows).items():
        assert [i.id for i in group] == [i.id for i in members(rows, name)]


def test_liveness():
    for status in (None, "loading", "running", "created", "scheduling"):
        assert is_live(inst(1, "x", status=status)), status
    for status in ("exited", "stopped", "offline", "frozen", "unknown", "destroying"):
        assert not is_live(inst(1, "x", status=status)), status


# -- free indices ---------------------------------------------------------------------------------

def test_free_indices_finds_the_hole():
    assert free_indices([0, 2, 3, 4, 5, 6, 7, 8, 9, 10], 1) == [1]   # the scripts' substring match missed this
    assert free_indices([], 3) == [0, 1, 2]
    assert free_indices([1, 3], 3) == [0, 2, 4]
    assert free_indices([0, 1], 0) == [] and free_indices([0], -2) == []


@given(st.sets(st.integers(min_value=0, max_value=40), max_size=30), st.integers(min_value=0, max_value=20))
def test_free_indices_properties(used, count):
    out = free_indices(used, count)
    assert len(out) == count and len(set(out)) == count and not set(out) & used
    assert out == sorted(out)
    assert all(i in used or i in out for i in range(max(out, default=-1)))


# -- replenish ------------------------------------------------------------------------------------

def test_replenish_finds_worker_1_missing_among_0_to_10():
    rows = [inst(n + 1, zeb(n)) for n in range(11) if n != 1]
    assert replenish_plan(rows, [], "zeb", 11, NOW, 600) == [zeb(1)]
    assert replenish_plan(rows, [], "zeb", 12, NOW, 600) == [zeb(1), zeb(11)]
    assert replenish_plan(rows, [], "zeb", 10, NOW, 600) == []
    assert replenish_plan(rows, [], "zeb", 3, NOW, 600) == []


def test_replenish_counts_inflight_and_ignores_dead_and_foreign():
    rows = [inst(1, zeb(0)), inst(2, zeb(2), status="exited"),
            inst(3, "zeb-large-worker-vast-1"), inst(4, zeb(3), status=None)]
    inflight = [InFlight(zeb(1), 9, 99, NOW - 60)]
    assert replenish_plan(rows, inflight, "zeb", 4, NOW, 600) == [zeb(2)]
    expired = [InFlight(zeb(1), 9, 99, NOW - 601)]
    assert replenish_plan(rows, expired, "zeb", 4, NOW, 600) == [zeb(1), zeb(2)]
    foreign = [InFlight("zeb-large-worker-vast-1", 9, 99, NOW - 60)]
    assert replenish_plan(rows, foreign, "zeb", 4, NOW, 600) == [zeb(1), zeb(2)]


def test_replenish_a_pending_launch_is_not_launched_twice():
    # The scripts' bug: a new instance's null status made replenish launch label 0 again.
    rows = [inst(7, zeb(0), status=None, age=5)]
    assert replenish_plan(rows, [], "zeb", 1, NOW, 600) == []
    # Not listed yet at all: only the ledger knows.
    assert replenish_plan([], [InFlight(zeb(0), 1, 2, NOW - 5)], "zeb", 1, NOW, 600) == []


def test_replenish_inflight_relaunch_of_a_dead_label_still_counts():
    # zeb-worker-vast-0 exited on machine 1001; its replacement (same label) is on its way to machine 55.
    rows = [inst(1, zeb(0), status="exited")]
    assert replenish_plan(rows, [InFlight(zeb(0), 3, 55, NOW - 10)], "zeb", 2, NOW, 600) == [zeb(1)]


# An in-flight entry either has no instance id yet or an id the listing has not reached (ids grow).
FLIGHT = st.tuples(st.integers(0, 15), st.integers(-900, 0), st.sampled_from([None, 10_000]))


@given(st.lists(st.tuples(st.integers(0, 15), st.sampled_from([None, "loading", "running", "exited", "stopped"])),
                max_size=12),
       st.lists(FLIGHT, max_size=5, unique_by=lambda t: t[0]),
       st.lists(st.integers(0, 15), max_size=3), st.integers(0, 14))
def test_replenish_properties(rows, flying, foreign, target):
    instances = [inst(n + 1, zeb(i), status=s) for n, (i, s) in enumerate(rows)]
    instances += [inst(100 + n, label_for("zeb-large", i)) for n, i in enumerate(foreign)]
    listed = {x.label for x in instances}
    inflight = [InFlight(zeb(i), 1, 2, NOW + age, instance_id=iid) for i, age, iid in flying if zeb(i) not in listed]
    live = [i for i in members(instances, "zeb") if is_live(i)]
    unexpired = [e for e in inflight if NOW - e.time < 600]
    plan = replenish_plan(instances, inflight, "zeb", target, NOW, 600)
    missing = max(0, target - len(live) - len(unexpired))
    assert len(plan) == missing <= max(0, target - len(live))
    assert len(set(plan)) == len(plan)
    taken = {i.label for i in live} | {e.label for e in unexpired}
    assert not set(plan) & taken
    indices = [parse_label(x, "zeb") for x in plan]
    used = {parse_label(x, "zeb") for x in taken}
    assert indices == free_indices(used, missing)   # the lowest free indices, in order


# -- the in-flight ledger -------------------------------------------------------------------------

def test_prune_inflight():
    entries = [InFlight("a", 1, 10, NOW - 30, instance_id=7), InFlight("b", 2, 20, NOW - 700),
               InFlight("c", 3, 30, NOW - 30)]
    assert [e.label for e in prune_inflight(entries, [inst(7, "a")], NOW, 600)] == ["c"]


def test_prune_by_label_needs_the_same_machine():
    entry = InFlight(zeb(0), 1, 55, NOW - 30)
    assert prune_inflight([entry], [inst(3, zeb(0), machine=55, status=None)], NOW, 600) == ()
    assert prune_inflight([entry], [inst(3, zeb(0), machine=54, status="exited")], NOW, 600) == (entry,)


def test_prune_drops_entries_the_listing_has_caught_up_with_after_a_grace():
    entries = [InFlight("a", 1, 10, NOW - 130, instance_id=7), InFlight("b", 2, 20, NOW - 130, instance_id=9),
               InFlight("c", 3, 30, NOW - 30, instance_id=6)]
    # "c" is older than the listed instance 8 but was sent only 30 s ago: the listing may lag, keep it.
    assert [e.label for e in prune_inflight(entries, [inst(8, "x")], NOW, 600)] == ["b", "c"]


@given(st.lists(st.tuples(st.integers(-1200, 0), st.one_of(st.none(), st.integers(1, 30))), max_size=8),
       st.sets(st.integers(1, 30), max_size=8))
def test_prune_keeps_only_young_unlisted_entries(rows, listed_ids):
    entries = [InFlight(zeb(n), n, 500 + n, NOW + age, instance_id=iid) for n, (age, iid) in enumerate(rows)]
    kept = prune_inflight(entries, [inst(i, f"other-{i}") for i in listed_ids], NOW, 600)
    assert set(kept) <= set(entries)
    assert all(NOW - e.time < 600 and e.instance_id not in listed_ids for e in kept)


# -- totals --------------------------------------------------------------------------------------

def test_totals_and_stuck():
    rows = [inst(1, "a", dph=0.1), inst(2, "b", status="loading", dph=0.2, age=700), inst(3, "c", status=None, age=60)]
    t = totals(rows)
    assert t.count == 3 and round(t.dph, 3) == 0.38 and round(t.per_day, 2) == 9.12 and round(t.per_week, 2) == 63.84
    assert [i.id for i in stuck_loading(rows, NOW, 600)] == [2]
    assert totals([]).count == 0 and totals([]).per_week == 0
    assert stuck_loading([inst(4, "d", status=None, age=601), inst(5, "e", status="running", age=9999)],
                         NOW, 600) == [inst(4, "d", status=None, age=601)]
