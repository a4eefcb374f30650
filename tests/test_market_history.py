"""Market history: the pure sample, thinning and summary; the SQLite store; recording through the fleet
service's one offer search; `zeb market` and `zeb market scan` against the simulator."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeb.core.config import resolve
from zeb.core.domain import Offer
from zeb.plan.market import DAY, HOUR, KEEP_ALL_S, KEEP_HOURLY_S, Sample, rows_to_keep, sample_from_ranked, summarize
from zeb.plan.types import RankedOffer
from zeb.service.fleet import Fleet
from zeb.storage.codec import NewerFormat
from zeb.storage.market_history import FILE_NAME, SCHEMA_VERSION, MarketHistory, record_quietly
from zeb.storage.store import Store

NOW = 1_800_000_000.0


def ranked(offer_id: int, machine: int, dph: float, gpu: str = "RTX 3070", gps: float = 2.0,
           p: float = 1.0) -> RankedOffer:
    o = Offer(id=offer_id, machine_id=machine, host_id=machine, gpu_name=gpu, num_gpus=1, dph_total=dph,
              reliability=0.99)
    return RankedOffer(offer=o, expected_gps=gps, gps_source="config", p_produce=p)


def sample(t: float, gpu: str = "RTX 3070", dph: float = 0.1, best: float | None = 0.05) -> Sample:
    return Sample(time=t, gpu_name=gpu, min_dph=dph, median_dph=dph + 0.01, count=3, best_dollars_per_gps=best)


# -- pure -------------------------------------------------------------------------------------------

def test_sample_per_gpu_without_blocked_machines():
    offers = [ranked(1, 10, 0.10), ranked(2, 11, 0.12, p=0.5), ranked(3, 12, 0.30), ranked(4, 13, 0.05),
              ranked(5, 20, 0.20, gpu="RTX 3090", gps=0.0)]
    got = sample_from_ranked(offers, NOW, blocked={13})
    assert got == [
        Sample(NOW, "RTX 3070", 0.10, 0.12, 3, 0.05),
        Sample(NOW, "RTX 3090", 0.20, 0.20, 1, None),      # no games/s estimate: no $ per game/s
    ]
    assert sample_from_ranked([], NOW) == []


def test_thinning_keeps_young_then_hourly_then_daily():
    rows = [(1, NOW - 10, "a"), (2, NOW - 47 * HOUR, "a"),                       # young: all kept
            (3, 1000 * HOUR + 60, "a"), (4, 1000 * HOUR + 120, "a"), (5, 1000 * HOUR + 60, "b")]
    now = 1000 * HOUR + 3 * DAY
    assert rows_to_keep([(3, 1000 * HOUR + 60, "a"), (4, 1000 * HOUR + 120, "a"), (5, 1000 * HOUR + 60, "b")],
                        now) == {3, 5}
    old_day = 100 * DAY
    daily = [(6, old_day + 10, "a"), (7, old_day + 5 * HOUR, "a"), (8, old_day + DAY + 1, "a")]
    assert rows_to_keep(daily, old_day + 40 * DAY) == {6, 8}
    assert {1, 2} <= rows_to_keep(rows, NOW)


rows_strategy = st.lists(st.tuples(st.floats(min_value=0, max_value=60 * DAY), st.sampled_from("abc")),
                         max_size=80)


@settings(max_examples=150, deadline=None)
@given(rows_strategy)
def test_thinning_invariants(spec):
    now = 60 * DAY
    rows = [(i, now - age, gpu) for i, (age, gpu) in enumerate(spec)]
    keep = rows_to_keep(rows, now)
    kept = [r for r in rows if r[0] in keep]
    for row_id, t, gpu in rows:
        age = now - t
        if age < KEEP_ALL_S:
            assert row_id in keep
        elif age < KEEP_HOURLY_S:
            assert any(g == gpu and k // HOUR == t // HOUR for _, k, g in kept)
        else:
            assert any(g == gpu and k // DAY == t // DAY for _, k, g in kept)
    assert rows_to_keep(kept, now) == keep          # thinning again drops nothing more


def test_summary_now_vs_then_and_trend():
    rows = [sample(NOW - 2 * DAY, dph=0.10, best=0.06), sample(NOW - DAY, dph=0.08),
            sample(NOW, dph=0.06, best=0.03), sample(NOW - 3 * DAY, dph=9.0),                  # before the window
            sample(NOW, gpu="RTX 3090", dph=0.2, best=None)]
    got = summarize(rows, since=NOW - 2 * DAY - 1)
    assert [r["gpu_name"] for r in got] == ["RTX 3070", "RTX 3090"]
    r = got[0]
    assert (r["samples"], r["dph_then"], r["dph_now"], r["min_dph"], r["max_dph"]) == (3, 0.10, 0.06, 0.06, 0.10)
    assert r["trend_dph_per_day"] == pytest.approx(-0.02)
    assert (r["dollars_per_gps_then"], r["dollars_per_gps_now"]) == (0.06, 0.03)
    assert got[1]["trend_dph_per_day"] is None and got[1]["dollars_per_gps_now"] is None
    assert summarize(rows, since=0, gpus={"RTX 3090"})[0]["gpu_name"] == "RTX 3090"


# -- the store --------------------------------------------------------------------------------------

def test_round_trip_and_schema(tmp_path):
    store = Store(tmp_path / "state")
    with MarketHistory.of(store) as h:
        h.record([sample(NOW - 60), sample(NOW, gpu="RTX 3090")], NOW)
        assert h.samples() == [sample(NOW - 60), sample(NOW, gpu="RTX 3090")]
        assert h.samples(since=NOW - 1) == [sample(NOW, gpu="RTX 3090")]
        assert h.samples(gpus={"RTX 3070"}) == [sample(NOW - 60)]
    db = sqlite3.connect(tmp_path / "state" / FILE_NAME)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert "samples_gpu_time" in {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    db.close()


def _modes(path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in sorted(path.parent.glob(path.name + "*"))}


def test_the_database_and_its_wal_and_shm_files_are_private(tmp_path):
    old = os.umask(0o022)       # what most shells give: files 0644 unless zeb says otherwise
    try:
        store = Store(tmp_path / "state")
        path = tmp_path / "state" / FILE_NAME
        with MarketHistory.of(store) as h, MarketHistory.of(store) as other:   # a second zeb process's view
            h.record([sample(NOW)], NOW)
            other.record([sample(NOW + 1)], NOW + 1)
            assert _modes(path) == {FILE_NAME: 0o600, f"{FILE_NAME}-shm": 0o600, f"{FILE_NAME}-wal": 0o600}
    finally:
        os.umask(old)


def test_side_files_an_older_zeb_left_open_are_narrowed(tmp_path):
    path = tmp_path / FILE_NAME
    old = os.umask(0o022)
    try:
        before = sqlite3.connect(path, isolation_level=None)     # as zeb did: created 0644
        before.execute("PRAGMA journal_mode = WAL")
        before.execute("CREATE TABLE t (x)")
        assert set(_modes(path).values()) == {0o644} and len(_modes(path)) == 3
        with MarketHistory(path, []) as h:
            h.record([sample(NOW)], NOW)
            assert set(_modes(path).values()) == {0o600} and len(_modes(path)) == 3
        before.close()
    finally:
        os.umask(old)


def test_newer_version_is_refused_and_left_alone(tmp_path):
    path = tmp_path / FILE_NAME
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(NewerFormat, match="newer zeb"):
        MarketHistory(path, [])
    assert path.exists()
    warnings: list[str] = []
    store = Store(tmp_path)
    record_quietly(store, [sample(NOW)], NOW)         # a search never fails on it: a warning
    assert len(store.warnings) == 1 and "newer zeb" in store.warnings[0] and not warnings


def test_corrupt_file_is_set_aside_with_a_warning(tmp_path):
    path = tmp_path / FILE_NAME
    path.write_bytes(b"this is not a database at all" * 200)
    warnings: list[str] = []
    with MarketHistory(path, warnings) as h:
        h.record([sample(NOW)], NOW)
        assert h.samples() == [sample(NOW)]
    assert len(warnings) == 1 and "moved it aside" in warnings[0]
    assert list(tmp_path.glob(f"{FILE_NAME}.corrupt-*"))


def test_concurrent_writers(tmp_path):
    path = tmp_path / FILE_NAME
    errors: list[BaseException] = []

    def write(gpu: str) -> None:
        try:
            with MarketHistory(path, []) as h:
                for i in range(50):
                    h.record([sample(NOW + i, gpu=gpu)], NOW + i)
        except BaseException as exc:    # reported by the assertion below
            errors.append(exc)

    MarketHistory(path, []).close()
    threads = [threading.Thread(target=write, args=(g,)) for g in ("RTX 3070", "RTX 3090")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with MarketHistory(path, []) as h:
        assert len(h.samples()) == 100


def test_thinning_runs_at_most_hourly(tmp_path):
    with MarketHistory(tmp_path / FILE_NAME, []) as h:
        old = NOW - 5 * DAY
        h.record([sample(NOW - 10)], NOW - 10)                      # the first record thins: nothing old yet
        h.record([sample(old + i) for i in range(10)], NOW)         # within the hour: no thinning
        assert len(h.samples()) == 11
        h.record([], NOW + HOUR)
        assert [s.time for s in h.samples()] == [old, NOW - 10]


# -- recording through the fleet service -----------------------------------------------------------

class Market:
    label_word = "vast"

    def __init__(self, offers):
        self.offers = offers

    def search_offers(self, gpus, *, max_dph=None, num_gpus=1, limit=500, exclude_machines=()):
        return [o for o in self.offers if o.machine_id not in set(exclude_machines)]


def service(tmp_path, store) -> Fleet:
    offers = [ranked(i, 100 + i, 0.05 + i / 100).offer for i in range(4)]
    cfg = resolve("zeb", flags={"gpus": ("RTX_3070",), "max_dph": 0.2}, env={"ZEB_CONFIG": str(tmp_path / "x.toml")})
    return Fleet(Market(offers), store, cfg, clock=lambda: NOW)


def test_every_offer_search_records_a_sample(tmp_path):
    store = Store(tmp_path / "state")
    fleet = service(tmp_path, store)
    found = fleet.offers(fleet.market_view())
    assert len(found) == 4
    with MarketHistory.of(store) as h:
        (s,) = h.samples()
    assert (s.time, s.gpu_name, s.min_dph, s.count) == (NOW, "RTX 3070", 0.05, 4)
    assert store.warnings == []


def test_a_broken_history_never_fails_the_search(tmp_path):
    store = Store(tmp_path / "state")
    (tmp_path / "state").mkdir()
    db = sqlite3.connect(tmp_path / "state" / FILE_NAME)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")     # a newer zeb's: never written
    db.close()
    fleet = service(tmp_path, store)
    assert len(fleet.offers(fleet.market_view())) == 4
    assert len(store.warnings) == 1 and store.warnings[0].startswith("market history not recorded")
    assert "newer zeb" in store.warnings[0]


# -- the commands -----------------------------------------------------------------------------------

def run(sim, *args: str):
    """Through zeb's root app once `market` is in zeb.cli.commands.COMMANDS; until then through the
    command module's own registration, which is what the root app builds it from."""
    import typer
    from typer.testing import CliRunner

    from zeb.cli import app as root
    from zeb.cli.commands import COMMANDS
    from zeb.cli.market import register

    cli = root
    if "market" not in COMMANDS:
        cli = typer.Typer()
        register(cli)
    return CliRunner().invoke(cli, list(args), obj=sim.app(), catch_exceptions=False)


def run_json(sim, *args: str) -> dict:
    import json

    return json.loads(run(sim, *args, "--json").stdout)


def test_scan_loops_on_the_injected_clock_and_market_shows_it(sim):
    start = sim.clock.now()
    res = run(sim, "market", "scan", "--every", "10m", "--count", "3")
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 3 and all(" scan " in line and "GPU types" in line for line in lines)
    assert sim.clock.now() - start == pytest.approx(1200, abs=5)       # slept twice, virtually
    doc = run_json(sim, "market", "--since", "1d")
    assert doc["command"] == "market" and doc["status"] == "success"
    gpus = doc["data"]["gpus"]
    assert gpus and all(g["samples"] == 3 for g in gpus)
    only = run_json(sim, "market", "--gpu", "RTX_3090")["data"]["gpus"]
    assert [g["gpu_name"] for g in only] == ["RTX 3090"]
    table = run(sim, "market")
    assert table.exit_code == 0 and "3090" in table.stdout and "trend/day" in table.stdout
    assert all(len(line) <= 80 for line in table.stdout.splitlines())


def test_scan_json_and_empty_history(sim):
    doc = run_json(sim, "market", "scan")
    assert doc["command"] == "market scan" and len(doc["data"]["scans"]) == 1
    assert doc["data"]["scans"][0]["gpus"]
    empty = run_json(sim, "market", "--since", "1m", "--gpu", "H100")
    assert empty["data"]["gpus"] == []
    assert "No market samples" in run(sim, "market", "--gpu", "H100").stdout
    bad = run(sim, "market", "--since", "soon")
    assert bad.exit_code != 0 and "--since" in bad.stderr


def test_offer_searches_of_other_commands_record(sim):
    assert sim.run("rank-offers").exit_code == 0
    assert run_json(sim, "market")["data"]["gpus"]
