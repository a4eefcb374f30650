"""Strikes and blocks, the scripts' bad-hosts.txt, observed games/s, and hosts.json."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import given, strategies as st

from zeb.errors import StoreError
from zeb.plan.hosts import (
    add_strike, blocked, clear, hosts_from_json, hosts_to_json, import_bad_hosts, is_blocked, observed_gpu_means,
    parse_bad_hosts, record_gps, remove_host,
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
        "7": {"gpu_name": "RTX 3070", "games_per_s": 2.5, "strikes": []},
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
    with pytest.raises(StoreError, match="^hosts.json"):
        hosts_from_json(data)
