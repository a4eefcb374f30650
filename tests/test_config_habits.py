"""The scripts' users' habits: any fleet name works, counts default to the fleet's target, no fleets.toml is
fine (said once), `config init` writes where zeb reads, and the upload interval is one per fleet."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from zeb.cli import app
from zeb.cli.context import App

NOTE = "no fleets.toml found; using built-in defaults"


def _cli(args, env):
    return CliRunner().invoke(app, args, obj=App(env=env, interactive=False), catch_exceptions=False)


def _creates(sim):
    return sim.market.calls_to("PUT", "/api/v0/asks/")


def test_up_without_a_count_launches_the_fleets_target(sim):
    sim.config.write_text(sim.config.read_text() + "target_workers = 3\n")   # appended to [fleets.zeb-large]
    res = sim.run("up", "--fleet", "zeb-large")
    assert res.exit_code == 0, res.stderr
    assert sorted(c["body"]["label"] for c in _creates(sim)) == [f"zeb-large-worker-vast-{i}" for i in range(3)]


def test_replenish_without_a_count_uses_the_target_and_the_same_upload_interval_as_up(sim):
    sim.run("up", "2")
    sim.clock.advance(150)
    res = sim.run("replenish")                 # fleet zeb: built-in target 4
    assert res.exit_code == 0, res.stderr
    creates = _creates(sim)
    assert len(creates) == 4
    assert {c["body"]["env"]["ZEB_UPLOAD_INTERVAL"] for c in creates} == {"240"}
    assert "~60 commits/hr (HF limit 128/hr)" in res.stdout


def test_monitor_without_a_count_keeps_the_target_and_shows_commits_per_hour(sim):
    res = sim.run("monitor", "--once")
    assert res.exit_code == 0, res.stderr
    assert "target 4 worker(s)" in res.stderr and "commits/hr (HF limit 128/hr)" in res.stderr
    assert len(_creates(sim)) >= 1


def test_an_undeclared_fleet_launches_on_defaults(sim):
    res = sim.run("up", "1", "--fleet", "my-experiment")
    assert res.exit_code == 0, res.stderr
    (create,) = _creates(sim)
    assert create["body"]["label"] == "my-experiment-worker-vast-0"
    assert create["body"]["env"]["ZEB_FLEET"] == "my-experiment"
    doc = sim.json("config", "show", "--fleet", "my-experiment")
    assert doc["data"]["declared"] is False
    assert "undeclared" in sim.run("config", "show", "--fleet", "my-experiment").stdout


def test_an_empty_fleet_flag_is_refused_not_taken_for_the_default(sim):
    res = sim.run("down", "--force", "--fleet", "")
    assert res.exit_code == 2 and "--fleet is empty" in res.stderr
    assert not sim.market.calls_to("DELETE")


def test_no_fleets_toml_is_said_once_without_naming_a_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # no ./fleets.toml either
    env = {"ZEB_HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "NO_COLOR": "1",
           "HOME": str(tmp_path)}
    res = _cli(["config", "show"], env)
    assert res.exit_code == 0
    assert res.stderr.count(NOTE) == 1 and "xdg" not in res.stderr and "fleets.toml found" in res.stderr
    assert "no fleets.toml: built-in defaults" in res.stdout
    (tmp_path / "xdg" / "zeb").mkdir(parents=True)
    (tmp_path / "xdg" / "zeb" / "fleets.toml").write_text("[fleets.zeb]\ntarget_workers = 2\n")
    assert NOTE not in _cli(["config", "show"], env).stderr


def test_config_init_writes_where_zeb_config_points(tmp_path):
    target = tmp_path / "mine" / "fleets.toml"
    env = {"ZEB_CONFIG": str(target), "ZEB_HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    res = _cli(["config", "init", "--json"], env)
    assert res.exit_code == 0 and json.loads(res.stdout)["data"]["path"] == str(target)
    assert target.exists() and not (tmp_path / "xdg" / "zeb" / "fleets.toml").exists()
    shown = json.loads(_cli(["config", "show", "--fleet", "zeb-large", "--json"], env).stdout)
    assert shown["data"]["path"] == str(target) and shown["data"]["values"]["weights_name"] == "large"
