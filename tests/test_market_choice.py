"""Which marketplace a fleet rents from: `market` in fleets.toml (or ZEB_MARKET), checked by the config against
zeb.adapters.registry's names, and built in one place (the registry) for App.market and the fleet service."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from zeb.adapters import registry
from zeb.adapters.vast import VastClient
from zeb.cli import app
from zeb.cli.context import App
from zeb.core.config import resolve
from zeb.core.errors import ConfigError


def _env(tmp_path, text: str = "", **extra: str) -> dict:
    path = tmp_path / "fleets.toml"
    path.write_text(text)
    return {"ZEB_CONFIG": str(path), "VAST_API_KEY": "k", "VAST_URL": "http://127.0.0.1:9", **extra}


def test_a_fleet_rents_from_vast_unless_told(tmp_path):
    cfg = resolve("zeb", {}, _env(tmp_path), markets=registry.MARKETS)
    assert (cfg.market, cfg.sources["market"]) == ("vast", "built-in")
    declared = resolve("zeb", {}, _env(tmp_path, '[fleets.zeb]\nmarket = "vast"\n'), markets=registry.MARKETS)
    assert declared.sources["market"] == "fleets.toml [fleets.zeb]"


def test_zeb_market_overrides_the_file(tmp_path):
    env = _env(tmp_path, '[fleets.zeb]\nmarket = "vast"\n', ZEB_MARKET="runpod")
    with pytest.raises(ConfigError) as caught:
        resolve("zeb", {}, env, markets=registry.MARKETS)
    assert str(caught.value) == "unknown market 'runpod' (from env ZEB_MARKET); known: vast"


def test_an_unknown_market_is_one_line_naming_where_it_came_from(tmp_path):
    env = _env(tmp_path, '[fleets.gpu]\nmarket = "runpod"\n')
    res = CliRunner().invoke(app, ["config", "check"], obj=App(env=env, interactive=False), catch_exceptions=False)
    assert res.exit_code == 1 and "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") == 0
    assert "unknown market 'runpod' (from fleets.toml [fleets.gpu]); known: vast" in res.stderr


@pytest.mark.parametrize("value", ['""', "3", '["vast"]'])
def test_a_market_that_is_no_name_is_refused_with_its_location(tmp_path, value):
    with pytest.raises(ConfigError, match=r"fleets\.zeb\.market: must be a non-empty string"):
        resolve("zeb", {}, _env(tmp_path, f"[fleets.zeb]\nmarket = {value}\n"))


def test_the_registry_builds_vast_and_refuses_an_unknown_name():
    built = registry.build("vast", {"VAST_API_KEY": "k", "VAST_URL": "http://127.0.0.1:9"}, sleep=lambda s: None)
    assert isinstance(built, VastClient) and built.label_word == "vast"
    with pytest.raises(ConfigError, match=r"unknown market 'runpod' \(known: vast\)"):
        registry.build("runpod", {}, sleep=lambda s: None)


def test_the_app_builds_each_market_once_through_the_registry(tmp_path):
    the_app = App(env=_env(tmp_path), interactive=False)
    cfg = the_app.config("zeb")
    assert the_app.market is the_app.market_for("vast")
    assert the_app.fleet(cfg).market is the_app.market and isinstance(the_app.market, VastClient)
