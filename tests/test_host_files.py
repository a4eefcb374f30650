"""The scripts' bad-hosts.txt and preferred-hosts.txt, kept in step with zeb's store both ways: through
zeb.storage.state on temp files, and through `zeb blacklist` and `zeb rank-offers` against the simulated market."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from zeb.core.errors import ConfigError, StoreError
from zeb.plan.hosts import add_strike, clear, record_gps, remove_host
from zeb.plan.types import Strike
from zeb.storage import state
from zeb.storage.state import HostFiles
from zeb.storage.store import Store

NOW = 1_780_000_000.0


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "home")


@pytest.fixture
def files(tmp_path) -> HostFiles:
    return HostFiles(tmp_path / "cfg" / "bad-hosts.txt", tmp_path / "cfg" / "preferred-hosts.txt")


def strike(machine: int, reason: str = "stalled") -> Callable:
    return lambda hosts: add_strike(hosts, Strike(machine, NOW, reason, fleet="zeb", instance_id=9))


def counts(hosts) -> dict[int, int]:
    return {m: len(h.strikes) for m, h in hosts.items() if h.strikes}


def test_host_files_come_from_the_config_with_tilde_expanded(monkeypatch, tmp_path):
    from zeb.core.config import resolve

    monkeypatch.setenv("HOME", str(tmp_path / "u"))
    cfg = resolve(fleet=None, flags={}, env={})
    assert HostFiles.of(cfg) == HostFiles(tmp_path / "u/.config/zeb/bad-hosts.txt",
                                          tmp_path / "u/.config/zeb/preferred-hosts.txt")


def test_missing_files_are_fine(store, files):
    assert state.load_hosts(store, files) == {}


def test_a_strike_is_appended_in_the_scripts_format_and_counted_once(store, files):
    hosts = state.update_hosts(store, strike(42, "no CUDA"), files)
    assert files.blacklist.read_text() == "42\n"
    assert stat.S_IMODE(files.blacklist.stat().st_mode) == 0o600
    assert counts(hosts) == {42: 1} and counts(state.load_hosts(store, files)) == {42: 1}
    assert state.load_hosts(store, files)[42].strikes[0].reason == "no CUDA"     # the store keeps the why
    with files.blacklist.open("a") as f:      # the scripts strike the same machine, side by side
        f.write("42\n")
    hosts = state.update_hosts(store, strike(42), files)
    assert files.blacklist.read_text() == "42\n42\n42\n" and counts(hosts) == {42: 3}
    assert counts(state.load_hosts(store, files)) == {42: 3}
    assert sorted(s.reason for s in hosts[42].strikes) == ["listed in bad-hosts.txt", "no CUDA", "stalled"]


def test_an_append_never_glues_onto_the_users_last_line(store, files):
    files.blacklist.parent.mkdir()
    files.blacklist.write_text("# mine\n7")
    os.chmod(files.blacklist, 0o644)
    state.update_hosts(store, strike(42), files)
    assert files.blacklist.read_text() == "# mine\n7\n42\n"
    assert stat.S_IMODE(files.blacklist.stat().st_mode) == 0o644      # the user's file keeps its mode


def test_remove_and_clear_rewrite_the_file_keeping_comments_and_others(store, files):
    files.blacklist.parent.mkdir()
    files.blacklist.write_text("# by hand\n42\n7\n42\n")
    state.update_hosts(store, strike(42), files)
    hosts = state.update_hosts(store, lambda h: remove_host(h, 42), files)
    assert files.blacklist.read_text() == "# by hand\n7\n" and counts(hosts) == {7: 1}
    assert counts(state.load_hosts(store, files)) == {7: 1}
    state.update_hosts(store, clear, files)
    assert files.blacklist.read_text() == "# by hand\n" and counts(state.load_hosts(store, files)) == {}


def test_a_symlinked_file_is_rewritten_at_its_target(store, files, tmp_path):
    target = tmp_path / "dotfiles" / "bad-hosts.txt"
    target.parent.mkdir()
    target.write_text("42\n5\n")
    files.blacklist.parent.mkdir()
    files.blacklist.symlink_to(target)
    state.update_hosts(store, lambda h: remove_host(h, 42), files)
    assert files.blacklist.is_symlink() and target.read_text() == "5\n"


def test_lines_removed_by_hand_unblock_in_zeb_too(store, files):
    for _ in range(3):
        state.update_hosts(store, strike(42), files)
    assert counts(state.load_hosts(store, files)) == {42: 3}
    files.blacklist.write_text("")
    assert counts(state.load_hosts(store, files)) == {}


def test_strikes_from_before_the_file_was_shared_are_not_lost(store, files):
    state.update_hosts(store, strike(42))                  # the old call: store only
    files.blacklist.parent.mkdir()
    files.blacklist.write_text("42\n")                     # and a strike of the scripts'
    assert counts(state.load_hosts(store, files)) == {42: 2}
    assert counts(state.load_hosts(store, str(files.blacklist))) == {42: 2}   # the old call still reads it
    assert counts(state.load_hosts(store)) == {42: 1}


def _refuse(*args):
    raise PermissionError(13, "Permission denied")


def test_when_the_file_cannot_take_the_line_the_strike_still_counts(store, files, monkeypatch):
    # Tests run as root here, where permissions never refuse: the write itself is made to fail.
    monkeypatch.setattr(state, "_append", _refuse)
    hosts = state.update_hosts(store, strike(42), files)
    assert counts(hosts) == {42: 1} and not hosts[42].strikes[0].in_file
    assert counts(state.load_hosts(store, files)) == {42: 1}
    assert store.warnings == [f"cannot append to {files.blacklist} (Permission denied); "
                              "the strike is kept in zeb's store only"]


@pytest.mark.parametrize("text, message", [("42\nnot-a-machine\n", "line 2: 'not-a-machine' is not a machine id"),
                                           (b"\xff\xfe4\x00", "not a text file")])
def test_a_garbled_blacklist_is_one_error_naming_the_file(store, files, text, message):
    files.blacklist.parent.mkdir()
    if isinstance(text, bytes):
        files.blacklist.write_bytes(text)
    else:
        files.blacklist.write_text(text)
    for call in (lambda: state.load_hosts(store, files), lambda: state.update_hosts(store, strike(1), files)):
        with pytest.raises(ConfigError) as info:
            call()
        assert str(info.value) == f"{files.blacklist}: {message}"
    assert not (store.root / "hosts.json").exists() or counts(state.load_hosts(store)) == {}


def test_an_unreadable_blacklist_is_one_error_naming_the_file(store, files):
    files.blacklist.mkdir(parents=True)      # a directory where the file should be
    with pytest.raises(ConfigError, match=f"^cannot read {files.blacklist}: "):
        state.load_hosts(store, files)


def test_a_failed_removal_is_an_error_not_a_silent_half_change(store, files, monkeypatch):
    state.update_hosts(store, strike(42), files)
    monkeypatch.setattr(state, "_rewrite", _refuse)
    with pytest.raises(StoreError, match=f"^cannot rewrite {files.blacklist}: Permission denied$"):
        state.update_hosts(store, lambda h: remove_host(h, 42), files)
    assert counts(state.load_hosts(store, files)) == {42: 1} and files.blacklist.read_text() == "42\n"


# -- preferred-hosts.txt ------------------------------------------------------------------------------

def test_an_observed_speed_is_written_to_the_preferred_file(store, files):
    files.preferred.parent.mkdir()
    files.preferred.write_text("# from the scripts\n123\t3.4\n42\t1.0\n")
    hosts = state.update_hosts(store, lambda h: record_gps(h, 42, "RTX 3070", 2.5), files)
    assert files.preferred.read_text() == "# from the scripts\n123\t3.4\n42\t2.5\n"
    assert hosts[42].preferred_gps == 2.5 and hosts[123].preferred_gps == 3.4
    loaded = state.load_hosts(store, files)
    assert loaded[42].games_per_s == 2.5 and loaded[123].preferred_gps == 3.4 and loaded[123].games_per_s is None
    assert "123" not in (store.root / "hosts.json").read_text()      # the file's figures stay in the file


def test_a_new_preferred_file_is_private(store, files):
    state.update_hosts(store, lambda h: record_gps(h, 42, "RTX 3070", 2.5), files)
    assert files.preferred.read_text() == "42\t2.5\n"
    assert stat.S_IMODE(files.preferred.stat().st_mode) == 0o600


def test_a_strike_alone_does_not_touch_the_preferred_file(store, files):
    files.preferred.parent.mkdir()
    files.preferred.write_text("5\t2\n")
    before = files.preferred.stat().st_mtime_ns
    state.update_hosts(store, strike(42), files)
    assert files.preferred.stat().st_mtime_ns == before


def test_a_garbled_preferred_file_is_one_error_naming_the_file(store, files):
    files.preferred.parent.mkdir()
    files.preferred.write_text("123\tfast\n")
    with pytest.raises(ConfigError, match=f"^{files.preferred}: line 1: "):
        state.load_hosts(store, files)


# -- through the CLI, against the simulated market ----------------------------------------------------

def _shared(tmp_path: Path) -> Path:
    return tmp_path / "user-home" / ".config" / "zeb" / "bad-hosts.txt"     # the default, under conftest's HOME


def test_blacklist_add_and_remove_keep_the_scripts_file_in_step(sim, tmp_path):
    bad = _shared(tmp_path)
    sim.run("blacklist", "add", "111", "--reason", "no CUDA")
    assert bad.read_text() == "111\n"
    bad.write_text(bad.read_text() + "# scripts\n111\n222\n")
    doc = sim.json("blacklist", "list")["data"]["machines"]
    assert [(m["machine_id"], m["strikes"]) for m in doc] == [(111, 2), (222, 1)]
    assert sim.run("blacklist", "add", "111", "--block").exit_code == 0
    assert bad.read_text() == "111\n# scripts\n111\n222\n111\n"
    assert sim.json("blacklist", "list")["data"]["machines"][0]["blocked"]
    assert sim.run("blacklist", "remove", "111").exit_code == 0
    assert bad.read_text() == "# scripts\n222\n"
    assert sim.run("blacklist", "clear").exit_code == 0
    assert bad.read_text() == "# scripts\n" and sim.json("blacklist", "list")["data"]["machines"] == []


def test_importing_the_shared_file_counts_nothing_twice(sim, tmp_path):
    bad = _shared(tmp_path)
    bad.parent.mkdir(parents=True)
    bad.write_text("5\n5\n")
    res = sim.run("blacklist", "import", str(bad), "--json")
    assert res.exit_code == 0 and "already count" in res.stderr
    assert sim.json("blacklist", "list")["data"]["machines"][0]["strikes"] == 2 and bad.read_text() == "5\n5\n"


def test_a_garbled_blacklist_stops_the_command_with_one_line(sim, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("12\nabc\n")
    sim.extra_env["ZEB_BLACKLIST"] = str(bad)
    for args in (("blacklist", "list"), ("rank-offers",), ("blacklist", "add", "5")):
        res = sim.run(*args)
        assert res.exit_code == 1 and res.stderr == f"zeb: error: {bad}: line 2: 'abc' is not a machine id\n"
    assert bad.read_text() == "12\nabc\n"


def test_rank_offers_stars_preferred_machines_and_applies_the_bonus(sim, tmp_path):
    offers = sim.json("rank-offers", "--limit", "50")["data"]["offers"]
    assert not any(o["preferred"] for o in offers)
    second = offers[1]
    pref = tmp_path / "preferred.txt"
    pref.write_text(f"{second['machine_id']}\t{second['expected_gps']}\n")
    sim.extra_env["ZEB_PREFERRED"] = str(pref)
    ranked = sim.json("rank-offers", "--limit", "50")["data"]["offers"]
    row = next(o for o in ranked if o["offer_id"] == second["offer_id"])
    assert row["preferred"] and row["gps_source"] == "preferred"
    assert row["expected_gps"] == pytest.approx(second["expected_gps"] * 1.1, abs=1e-3)
    assert ranked[0]["offer_id"] == second["offer_id"]      # 10% faster on paper beats the old best
    assert f"{second['machine_id']} ★" in sim.run("rank-offers", "--limit", "50").stdout
