"""Strikes and blocks, the scripts' bad-hosts.txt, observed games/s, and hosts.json."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeb.core.errors import StoreError
from zeb.plan.hosts import (
    PREFERRED_BONUS,
    LedgerChange,
    add_strike,
    bad_hosts_append_text,
    blocked,
    clear,
    counts_after,
    drop_bad_hosts_lines,
    hosts_from_json,
    hosts_to_json,
    import_bad_hosts,
    is_blocked,
    ledger_change,
    merge_ledger,
    observed_gpu_means,
    parse_bad_hosts,
    parse_preferred,
    preferred_updates,
    record_gps,
    remove_host,
    rewrite_preferred,
    with_preferred,
)
from zeb.plan.types import HostRecord, Strike

NOW = 1_780_000_000.0


def struck(machine: int, n: int, **kw) -> dict[int, HostRecord]:
    hosts: dict[int, HostRecord] = {}
    for k in range(n):
        hosts = add_strike(hosts, Strike(machine, NOW + k, f"reason {k}", **kw))
    return hosts


def test_strikes_block_at_threshold():
    hosts = struck(42, 3, fleet="zeb", instance_id=100)
    assert [s.reason for s in hosts[42].strikes] == ["reason 0", "reason 1", "reason 2"]
    assert is_blocked(hosts[42]) and is_blocked(hosts[42], 3) and not is_blocked(hosts[42], 4)
    assert not is_blocked(struck(42, 2)[42])
    assert blocked({**hosts, **struck(7, 1)}, 3) == {42} and blocked({**hosts, **struck(7, 1)}, 1) == {7, 42}


def test_add_strike_does_not_touch_its_input():
    before = struck(42, 1)
    after = add_strike(before, Strike(42, NOW, "again"))
    assert len(before[42].strikes) == 1 and len(after[42].strikes) == 2


def test_remove_and_clear_keep_observed_speed():
    hosts = record_gps(struck(42, 3), 42, "RTX 3070", 2.5)
    hosts = {**hosts, **struck(43, 1)}
    removed = remove_host(hosts, 42)
    assert removed[42].strikes == () and removed[42].games_per_s == 2.5 and len(removed[43].strikes) == 1
    assert remove_host(hosts, 999) == hosts
    cleared = clear(hosts)
    assert blocked(cleared, 1) == set() and cleared[42].games_per_s == 2.5


# -- bad-hosts.txt --------------------------------------------------------------------------------

def test_bad_hosts_file():
    ids = parse_bad_hosts("# old scripts' list\n123\n\n123\r\n  456  # dud\n\t789\n")
    assert ids == [123, 123, 456, 789]
    hosts = import_bad_hosts({}, ids, NOW, "bad-hosts.txt")
    assert len(hosts[123].strikes) == 2 and len(hosts[456].strikes) == 1
    assert hosts[123].strikes[0] == Strike(123, NOW, "imported from bad-hosts.txt")
    assert parse_bad_hosts("") == [] and parse_bad_hosts("# nothing\n\n") == []


@pytest.mark.parametrize("bad, line", [("123\nabc\n", 2), ("-5", 1), ("1\n2\n12 34", 3), ("\u00b2", 1),
                                      ("12.0", 1), ("1,2", 1), ("\n\n0x10", 3)])
def test_bad_hosts_refuses_a_line_that_is_not_a_machine_id(bad, line):
    with pytest.raises(ValueError, match=f"^line {line}: "):
        parse_bad_hosts(bad)


@given(st.lists(st.integers(0, 10**9), max_size=30), st.lists(st.sampled_from(["", "# c", "   "]), max_size=5))
def test_bad_hosts_parse_import_round_trip(ids, noise):
    text = "\n".join(noise + [str(i) for i in ids] + noise)
    assert parse_bad_hosts(text) == ids
    hosts = import_bad_hosts({}, parse_bad_hosts(text), NOW, "f")
    assert {m: len(h.strikes) for m, h in hosts.items()} == dict(Counter(ids))
    assert blocked(hosts, 3) == {m for m, c in Counter(ids).items() if c >= 3}


# -- observed games/s -----------------------------------------------------------------------------

def test_observed_games_per_second():
    hosts = record_gps({}, 1, "RTX 3070", 2.0)
    assert hosts[1].games_per_s == 2.0 and hosts[1].gpu_name == "RTX 3070"
    hosts = record_gps(hosts, 1, "RTX 3070", 3.0)
    assert 2.0 < hosts[1].games_per_s < 3.0
    assert record_gps(hosts, 1, "RTX 3070", 0.0) == hosts        # producing nothing is not a speed
    assert record_gps(hosts, 1, "RTX 3070", 3.0, weight=100)[1].games_per_s == 3.0   # the step is capped at 1
    hosts = record_gps(hosts, 2, "RTX 3070", 2.0)
    hosts = record_gps(hosts, 3, "RTX 4090", 6.0)
    means = observed_gpu_means({**hosts, 4: HostRecord(4, gpu_name="RTX 3080")})
    assert set(means) == {"RTX 3070", "RTX 4090"} and means["RTX 4090"] == 6.0
    assert means["RTX 3070"] == pytest.approx((hosts[1].games_per_s + 2.0) / 2)


@given(st.lists(st.floats(0.1, 10.0), min_size=1, max_size=20))
def test_mean_stays_within_what_was_observed(samples):
    hosts: dict[int, HostRecord] = {}
    for s in samples:
        hosts = record_gps(hosts, 9, "RTX 3070", s)
    assert min(samples) - 1e-3 <= hosts[9].games_per_s <= max(samples) + 1e-3


# -- hosts.json -------------------------------------------------------------------------------------

def test_hosts_json_shape_is_stable():
    hosts = record_gps(struck(42, 1, fleet="zeb", instance_id=100), 7, "RTX 3070", 2.5)
    assert hosts_to_json(hosts) == {
        "7": {"gpu_name": "RTX 3070", "games_per_s": 2.5, "strikes": [], "gps_samples": 1},
        "42": {"gpu_name": None, "games_per_s": None,
               "strikes": [{"time": NOW, "reason": "reason 0", "fleet": "zeb", "instance_id": 100}]},
    }
    assert list(hosts_to_json({10: HostRecord(10), 9: HostRecord(9)})) == ["9", "10"]


STRIKES = st.builds(lambda t, r, f, i: (t, r, f, i), st.floats(0, 2e9, allow_nan=False), st.text(max_size=20),
                    st.one_of(st.none(), st.text(min_size=1, max_size=10)), st.one_of(st.none(), st.integers(1, 10**9)))
RECORDS = st.dictionaries(
    st.integers(0, 10**8),
    st.tuples(st.lists(STRIKES, max_size=4), st.one_of(st.none(), st.floats(0.01, 50)),
              st.one_of(st.none(), st.sampled_from(["RTX 3070", "RTX 4070 Ti"]))),
    max_size=8,
)


@given(RECORDS)
def test_hosts_json_round_trip(rows):
    hosts = {m: HostRecord(m, tuple(Strike(m, t, r, f, i) for t, r, f, i in strikes), gps, gpu)
             for m, (strikes, gps, gpu) in rows.items()}
    assert hosts_from_json(hosts_to_json(hosts)) == hosts
    assert hosts_from_json(json.loads(json.dumps(hosts_to_json(hosts)))) == hosts


def test_hosts_from_json_reads_sparse_records():
    assert hosts_from_json({}) == {} and hosts_from_json(None) == {}
    assert hosts_from_json({"5": {}}) == {5: HostRecord(5)}
    assert hosts_from_json({"5": {"strikes": [{"reason": "x"}]}})[5].strikes == (Strike(5, 0.0, "x"),)


@pytest.mark.parametrize("data", [[1, 2], {"abc": {}}, {"5": "oops"}, {"5": {"strikes": ["x"]}},
                                  {"5": {"strikes": [{"time": "soon"}]}}, {"5": {"games_per_s": "fast"}}])
def test_hosts_from_json_refuses_a_wrong_shape_with_one_line(data):
    with pytest.raises(StoreError, match=r"^hosts\.json"):
        hosts_from_json(data)


# -- the shared bad-hosts.txt ledger ------------------------------------------------------------------

def shared_strike(machine: int, t: float, reason: str) -> Strike:
    return Strike(machine, t, reason, fleet="zeb", in_file=True)


def test_a_strike_zeb_wrote_to_the_file_counts_once_with_its_reason():
    stored = {42: HostRecord(42, (shared_strike(42, NOW, "no CUDA"),))}
    merged = merge_ledger(stored, {42: 1}, "bad-hosts.txt")
    assert merged[42].strikes == (shared_strike(42, NOW, "no CUDA"),)


def test_the_scripts_lines_add_to_zebs_and_read_as_listed():
    stored = {42: HostRecord(42, (shared_strike(42, NOW, "no CUDA"),))}
    merged = merge_ledger(stored, {42: 3, 7: 1}, "bad-hosts.txt")
    assert [s.reason for s in merged[42].strikes] == ["listed in bad-hosts.txt"] * 2 + ["no CUDA"]
    assert is_blocked(merged[42]) and len(merged[7].strikes) == 1


def test_strikes_from_before_the_file_was_shared_still_count():
    stored = struck(42, 2)                      # store-only strikes: not lines of the file
    assert len(merge_ledger(stored, {42: 1}, "f")[42].strikes) == 3
    assert len(merge_ledger(stored, {}, "f")[42].strikes) == 2


def test_lines_removed_by_hand_unblock_the_machine_for_zeb_too():
    stored = {42: HostRecord(42, tuple(shared_strike(42, NOW + k, f"r{k}") for k in range(3)))}
    assert merge_ledger(stored, {}, "f")[42].strikes == ()
    assert [s.reason for s in merge_ledger(stored, {42: 1}, "f")[42].strikes] == ["r2"]   # the newest stays


def test_without_a_shared_file_the_store_alone_counts():
    stored = {42: HostRecord(42, (shared_strike(42, NOW, "x"), Strike(42, NOW, "y")))}
    assert merge_ledger(stored, None, "f") == stored


def test_a_new_strike_is_stored_marked_and_appended_once():
    stored = {42: HostRecord(42, (shared_strike(42, NOW, "old"),))}
    before = merge_ledger(stored, {42: 2}, "f")
    after = add_strike(before, Strike(42, NOW + 5, "stalled", fleet="zeb"))
    change = ledger_change(stored, before, after, shared=True)
    assert change.append == (42,) and change.drop == {}
    assert change.store[42].strikes == (shared_strike(42, NOW, "old"), shared_strike(42, NOW + 5, "stalled"))
    merged_again = merge_ledger(change.store, counts_after({42: 2}, change), "f")
    assert len(merged_again[42].strikes) == 3 == len(after[42].strikes)


def test_without_a_shared_file_a_new_strike_stays_in_the_store():
    change = ledger_change({}, {}, add_strike({}, Strike(9, NOW, "x")), shared=False)
    assert change == LedgerChange({9: HostRecord(9, (Strike(9, NOW, "x"),))}, (), {})


def test_removing_a_machine_drops_all_its_lines():
    stored = {42: HostRecord(42, (shared_strike(42, NOW, "a"), Strike(42, NOW, "own")), games_per_s=2.0)}
    before = merge_ledger(stored, {42: 3, 7: 2}, "f")
    change = ledger_change(stored, before, remove_host(before, 42), shared=True)
    assert change.drop == {42: 3} and change.append == ()
    assert change.store[42] == HostRecord(42, (), 2.0)
    assert 7 not in change.store                # the scripts' strikes stay in the file, not the store
    cleared = ledger_change(stored, before, clear(before), shared=True)
    assert cleared.drop == {42: 3, 7: 2}


def test_preferred_figures_never_reach_the_store():
    before = with_preferred({}, {5: 3.0})
    change = ledger_change({}, before, before, shared=True)
    assert change.store == {}


@given(st.dictionaries(st.integers(1, 5), st.integers(0, 4), max_size=5),
       st.dictionaries(st.integers(1, 5), st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=5),
       st.integers(1, 5))
def test_a_strike_always_adds_exactly_one(file_counts, stored_rows, machine):
    stored = {m: HostRecord(m, tuple(Strike(m, NOW + k, "own") for k in range(own)) +
                            tuple(shared_strike(m, NOW + 10 + k, "shared") for k in range(shared)))
              for m, (own, shared) in stored_rows.items()}
    before = merge_ledger(stored, file_counts, "f")
    after = add_strike(before, Strike(machine, NOW + 99, "new"))
    change = ledger_change(stored, before, after, shared=True)
    again = merge_ledger(change.store, counts_after(file_counts, change), "f")
    assert {m: len(h.strikes) for m, h in again.items() if h.strikes} == \
        {m: len(h.strikes) for m, h in after.items() if h.strikes}


def test_drop_lines_keeps_comments_and_other_machines():
    text = "# blocked by hand\n42\n7  # dud\n\n42\r\n42\n"
    assert drop_bad_hosts_lines(text, {42: 2}) == "# blocked by hand\n7  # dud\n\n42\n"
    assert drop_bad_hosts_lines(text, {42: 9, 7: 1}) == "# blocked by hand\n\n"
    assert drop_bad_hosts_lines(text, {}) == text


def test_appended_lines_never_glue_onto_a_partial_line():
    assert bad_hosts_append_text([5, 5], after_partial_line=False) == "5\n5\n"
    assert bad_hosts_append_text([5], after_partial_line=True) == "\n5\n"
    assert bad_hosts_append_text([], after_partial_line=True) == ""


def test_strike_in_file_round_trips_and_is_absent_when_false():
    hosts = {5: HostRecord(5, (shared_strike(5, NOW, "x"), Strike(5, NOW, "y")))}
    data = hosts_to_json(hosts)
    assert data["5"]["strikes"][0]["in_file"] is True and "in_file" not in data["5"]["strikes"][1]
    assert hosts_from_json(data) == hosts
    with pytest.raises(StoreError):
        hosts_from_json({"5": {"strikes": [{"in_file": "yes"}]}})


# -- preferred-hosts.txt ------------------------------------------------------------------------------

def test_parse_preferred_reads_the_scripts_format():
    assert parse_preferred("123\t3.4\n# c\n\n456\t2.6\n123\t3.5\n789 0.0\n") == {123: 3.5, 456: 2.6, 789: 0.0}
    assert parse_preferred("") == {}


@pytest.mark.parametrize("bad, line", [("123\n", 1), ("1\t2\n abc\t1.0", 2), ("5\tfast", 1), ("5\t-1", 1),
                                       ("5\tnan", 1), ("5\t1\t2", 1)])
def test_parse_preferred_refuses_garbage_with_the_line(bad, line):
    with pytest.raises(ValueError, match=f"^line {line}: "):
        parse_preferred(bad)


def test_rewrite_preferred_sets_one_machine_and_keeps_the_rest():
    text = "# mine\n123\t3.4\n456\t2.6\n123\t3.0\n999\t1.0"
    assert rewrite_preferred(text, {123: 2.91234, 5: 4.0}) == "# mine\n123\t2.912\n456\t2.6\n999\t1.0\n5\t4\n"
    assert rewrite_preferred("", {7: 2.5}) == "7\t2.5\n"
    assert parse_preferred(rewrite_preferred(text, {123: 2.5})) == {123: 2.5, 456: 2.6, 999: 1.0}


def test_preferred_updates_are_the_machines_whose_speed_moved():
    before = record_gps({}, 1, "RTX 3070", 2.0)
    after = record_gps(record_gps(before, 1, "RTX 3070", 3.0), 2, "RTX 3070", 2.2)
    assert set(preferred_updates(before, after)) == {1, 2}
    assert preferred_updates(after, after) == {}
    assert with_preferred(after, {1: 9.0})[1].preferred_gps == 9.0 and PREFERRED_BONUS == 1.1
