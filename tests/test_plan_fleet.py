"""Membership, indices, replenish counts with launches in flight, offer ranking, hosts, launch specs."""

from __future__ import annotations

from hypothesis import given, strategies as st

from zeb.config import resolve
from zeb.plan.fleet import (
    fleet_of, free_indices, group_by_fleet, label_for, members, parse_label, prune_inflight, replenish_plan,
    stuck_loading, totals,
)
from zeb.plan.hosts import (
    add_strike, clear, hosts_from_json, hosts_to_json, import_bad_hosts, is_blocked, observed_gpu_means,
    parse_bad_hosts, record_gps, remove_host,
)
from zeb.plan.launch import launch_env, launch_specs, render_onstart, upload_interval_for
from zeb.plan.offers import blocked_machines, expected_gps, pick_offers, rank_offers
from zeb.plan.types import HostRecord, InFlight, RankedOffer, Strike
from zeb.vast import Instance, Offer

NOW = 1_780_000_000.0


def inst(i: int, label: str | None, status: str | None = "running", machine: int | None = None, dph=0.08,
         age=3600.0) -> Instance:
    return Instance(id=i, label=label, status=status, intended_status="running", gpu_name="RTX 3070", num_gpus=1,
                    dph_total=dph, machine_id=machine if machine is not None else 1000 + i, host_id=1,
                    start_date=NOW - age)


def offer(i: int, gpu="RTX 3070", dph=0.08, machine=None, rel=0.99) -> Offer:
    return Offer(id=i, machine_id=machine if machine is not None else 5000 + i, host_id=1, gpu_name=gpu,
                 num_gpus=1, dph_total=dph, reliability=rel)


# -- membership ---------------------------------------------------------------------------------

def test_exact_membership():
    rows = [inst(1, "zeb-worker-vast-0"), inst(2, "zeb-large-worker-vast-0"), inst(3, "my-notebook"),
            inst(4, "zeb-worker-vast-10"), inst(5, None), inst(6, "zeb-worker-vast-01"), inst(7, "xzeb-worker-vast-1")]
    assert [i.id for i in members(rows, "zeb")] == [1, 4]
    assert [i.id for i in members(rows, "zeb-large")] == [2]
    assert parse_label("zeb-worker-vast-007", "zeb") is None
    assert fleet_of("zeb-large-worker-vast-3") == "zeb-large" and fleet_of("my-notebook") is None
    assert set(group_by_fleet(rows)) == {"zeb", "zeb-large", "xzeb"}


NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)


@given(NAMES, NAMES, st.integers(min_value=0, max_value=999))
def test_membership_never_crosses_fleets(a, b, i):
    label = label_for(b, i)
    assert (parse_label(label, a) is not None) == (a == b)


def test_free_indices_finds_the_hole():
    assert free_indices([0, 2, 3, 4, 5, 6, 7, 8, 9, 10], 1) == [1]   # the scripts' substring match missed this
    assert free_indices([], 3) == [0, 1, 2]
    assert free_indices([1, 3], 3) == [0, 2, 4]


@given(st.sets(st.integers(min_value=0, max_value=40), max_size=30), st.integers(min_value=0, max_value=20))
def test_free_indices_properties(used, count):
    out = free_indices(used, count)
    assert len(out) == count and len(set(out)) == count and not set(out) & used
    assert out == sorted(out)
    assert all(i in used or i in out for i in range(max(out, default=-1)))


def test_replenish_counts_inflight_and_ignores_dead_and_foreign():
    rows = [inst(1, "zeb-worker-vast-0"), inst(2, "zeb-worker-vast-2", status="exited"),
            inst(3, "zeb-large-worker-vast-1"), inst(4, "zeb-worker-vast-3", status=None)]
    inflight = [InFlight("zeb-worker-vast-1", 9, 99, NOW - 60)]
    assert replenish_plan(rows, inflight, "zeb", 4, NOW, 600) == ["zeb-worker-vast-2"]
    expired = [InFlight("zeb-worker-vast-1", 9, 99, NOW - 601)]
    assert replenish_plan(rows, expired, "zeb", 4, NOW, 600) == ["zeb-worker-vast-1", "zeb-worker-vast-2"]


@given(st.lists(st.tuples(st.integers(0, 15), st.sampled_from([None, "loading", "running", "exited"])), max_size=12),
       st.lists(st.integers(0, 15), max_size=4, unique=True), st.integers(0, 12))
def test_replenish_properties(rows, flying, target):
    instances = [inst(n + 1, label_for("zeb", i), status=s) for n, (i, s) in enumerate(rows)]
    inflight = [InFlight(label_for("zeb", i), 1, 2, NOW - 10) for i in flying
                if not any(x.label == label_for("zeb", i) for x in instances)]
    live = [i for i in instances if i.status != "exited"]
    plan = replenish_plan(instances, inflight, "zeb", target, NOW, 600)
    assert len(plan) == max(0, target - len(live) - len(inflight))
    assert len(set(plan)) == len(plan)
    taken = {i.label for i in live} | {e.label for e in inflight}
    assert not set(plan) & taken
    idx = [parse_label(x, "zeb") for x in plan]
    assert idx == sorted(idx)


def test_prune_inflight():
    entries = [InFlight("a", 1, 10, NOW - 30, instance_id=7), InFlight("b", 2, 20, NOW - 700),
               InFlight("c", 3, 30, NOW - 30)]
    assert [e.label for e in prune_inflight(entries, [inst(7, "a")], NOW, 600)] == ["c"]


def test_totals_and_stuck():
    rows = [inst(1, "a", dph=0.1), inst(2, "b", status="loading", dph=0.2, age=700), inst(3, "c", status=None, age=60)]
    t = totals(rows)
    assert t.count == 3 and round(t.dph, 3) == 0.38 and round(t.per_day, 2) == 9.12 and round(t.per_week, 2) == 63.84
    assert [i.id for i in stuck_loading(rows, NOW, 600)] == [2]


# -- offers ---------------------------------------------------------------------------------------

TABLE = {"RTX 3070": 2.2, "RTX 4070 Ti": 4.2}


def test_expected_gps_sources():
    hosts = {5001: HostRecord(5001, games_per_s=2.9)}
    assert expected_gps(offer(1), hosts, {}, TABLE) == (2.9, "machine")
    assert expected_gps(offer(2), hosts, {"RTX 3070": 2.5}, TABLE) == (2.5, "gpu")
    assert expected_gps(offer(3), hosts, {}, TABLE) == (2.2, "config")
    assert expected_gps(offer(4, gpu="RTX 3060"), hosts, {}, TABLE) == (1.8, "default")


def test_rank_by_dollars_per_game_per_second():
    offers = [offer(1, "RTX 3070", 0.06), offer(2, "RTX 4070 Ti", 0.09), offer(3, "RTX 4070 Ti", 0.20),
              offer(4, "RTX 3070", 0.05, machine=66), offer(5, "RTX 3060", 0.01)]
    ranked = rank_offers(offers, gpus=("RTX 3070", "RTX 4070 Ti"), max_dph=0.10, blocked={66}, hosts={},
                         observed_gpu={}, config_table=TABLE)
    assert [r.offer.id for r in ranked] == [2, 1]


@given(st.lists(st.tuples(st.sampled_from(["RTX 3070", "RTX 4070 Ti", "RTX 3060"]),
                          st.floats(0.01, 0.3), st.integers(0, 20)), max_size=30),
       st.sets(st.integers(0, 20), max_size=5), st.floats(0.02, 0.3))
def test_rank_properties(rows, blocked, max_dph):
    offers = [offer(n, g, round(d, 3), machine=m) for n, (g, d, m) in enumerate(rows)]
    ranked = rank_offers(offers, gpus=("RTX 3070", "RTX 4070 Ti"), max_dph=max_dph, blocked=blocked, hosts={},
                         observed_gpu={}, config_table=TABLE)
    values = [r.dollars_per_gps for r in ranked]
    assert values == sorted(values)
    assert all(r.offer.machine_id not in blocked and r.offer.dph_total <= max_dph for r in ranked)
    picked = pick_offers(ranked, 5)
    assert len({p.offer.machine_id for p in picked}) == len(picked)


# -- hosts ------------------------------------------------------------------------------------------

def test_strikes_block_at_threshold_and_round_trip():
    hosts = {}
    for n in range(3):
        hosts = add_strike(hosts, Strike(42, NOW + n, f"reason {n}", "zeb", 100 + n))
    assert is_blocked(hosts[42], 3) and not is_blocked(hosts[42], 4)
    assert blocked_machines(hosts, 3) == {42}
    assert hosts_from_json(hosts_to_json(hosts)) == hosts
    assert remove_host(hosts, 42)[42].strikes == ()
    assert clear(hosts)[42].strikes == ()


def test_bad_hosts_file():
    ids = parse_bad_hosts("# old scripts' list\n123\n\n123\n456  # dud\n")
    assert ids == [123, 123, 456]
    hosts = import_bad_hosts({}, ids, NOW, "bad-hosts.txt")
    assert len(hosts[123].strikes) == 2 and len(hosts[456].strikes) == 1
    try:
        parse_bad_hosts("123\nabc\n")
    except ValueError as exc:
        assert "line 2" in str(exc)
    else:
        raise AssertionError("a non-numeric line must be refused")


def test_observed_games_per_second():
    hosts = record_gps({}, 1, "RTX 3070", 2.0)
    hosts = record_gps(hosts, 1, "RTX 3070", 3.0)
    assert 2.0 < hosts[1].games_per_s < 3.0
    hosts = record_gps(hosts, 2, "RTX 3070", 2.0)
    assert observed_gpu_means(hosts)["RTX 3070"] > 2.0


# -- launch -------------------------------------------------------------------------------------------

def test_upload_interval_table_from_the_runbook():
    assert [upload_interval_for(n) for n in (4, 8, 12, 20)] == [240, 288, 432, 720]


def test_launch_spec_carries_token_in_env_only():
    cfg = resolve("zeb", {}, {})
    ranked = RankedOffer(offer(1), 2.2, "config")
    spec = launch_specs(cfg, ["zeb-worker-vast-3"], [ranked], "hf_secret_value", 4)[0]
    assert spec.env["HF_TOKEN"] == "hf_secret_value" and spec.env["WORKER_ID"] == "worker-vast-3"
    assert spec.env["ZEB_UPLOAD_INTERVAL"] == "240"
    assert "hf_secret_value" not in spec.onstart and "hf_secret_value" not in repr(spec)
    assert "{worker_command}" not in spec.onstart and "forge.zeb.worker.run" in spec.onstart
    assert "$(date)" in spec.onstart   # bash survives rendering
    assert launch_env(cfg, "zeb-worker-vast-0", "t", 12)["ZEB_UPLOAD_INTERVAL"] == "432"


def test_onstart_leaves_foreign_braces_alone():
    cfg = resolve("zeb", {}, {})
    import dataclasses

    cfg = dataclasses.replace(cfg, onstart='echo ${HOME} {fleet} { true; } {unknown} "{label}"')
    assert render_onstart(cfg, "zeb-worker-vast-1") == 'echo ${HOME} zeb { true; } {unknown} "zeb-worker-vast-1"'


def test_prune_drops_entries_the_listing_has_caught_up_with():
    entries = [InFlight("a", 1, 10, NOW - 30, instance_id=7), InFlight("b", 2, 20, NOW - 30, instance_id=9)]
    assert [e.label for e in prune_inflight(entries, [inst(8, "x")], NOW, 600)] == ["b"]
