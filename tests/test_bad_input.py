"""Bad input gets one clear line and a non-zero exit, and nothing is rented: counts with no sane bound,
negative waits, empty windows, NaN prices. The monitor's --log-file is created private."""

from __future__ import annotations

import stat

import pytest

from zeb.core.config import MAX_WORKERS


def _no_creates(sim) -> bool:
    return not sim.market.calls_to("PUT", "/api/v0/asks/")


@pytest.mark.parametrize("args", [
    ("up", str(MAX_WORKERS + 1)), ("up", "100000"), ("replenish", "100000"), ("monitor", "100000", "--once"),
    ("up", "0"), ("replenish", "--", "-1"),
])
def test_counts_out_of_range_are_refused_before_anything_is_rented(sim, args):
    res = sim.run(*args)
    assert res.exit_code == 2, res.stdout + res.stderr
    assert "COUNT" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.stderr and _no_creates(sim)


def test_a_fleet_target_past_the_bound_in_the_file_names_its_source(sim):
    sim.config.write_text(sim.config.read_text() + f"target_workers = {MAX_WORKERS + 1}\n")
    res = sim.run("replenish", "--fleet", "zeb-large")
    assert res.exit_code == 1 and "target_workers" in res.stderr and "fleets.toml" in res.stderr


@pytest.mark.parametrize("args,needle", [
    (("replenish", "2", "--wait", "-5"), "--wait"),
    (("stats", "--since", "0m"), "longer than 0"),
    (("up", "1", "--max-dph", "nan"), "max_dph"),
    (("up", "1", "--max-dph", "inf"), "max_dph"),
])
def test_nonsense_values_are_refused(sim, args, needle):
    res = sim.run(*args)
    assert res.exit_code in (1, 2) and needle in res.stderr and "Traceback" not in res.stderr
    assert _no_creates(sim)


def test_the_log_file_is_created_private(sim, tmp_path):
    log = tmp_path / "events.jsonl"
    res = sim.run("monitor", "1", "--max-cycles", "1", "--log-file", str(log))
    assert res.exit_code == 0, res.stderr
    assert log.exists() and stat.S_IMODE(log.stat().st_mode) == 0o600


def test_a_bad_log_file_is_one_line_before_any_banner(sim, tmp_path):
    res = sim.run("monitor", "1", "--once", "--log-file", str(tmp_path / "no-such-dir" / "events.jsonl"))
    assert res.exit_code == 2 and res.stderr.strip().count("\n") == 0, res.stderr
    assert "cannot open --log-file" in res.stderr and _no_creates(sim)


@pytest.mark.parametrize("args,needle", [
    (("up", "1", "--gpu", "RTX_3008"), "unknown GPU 'RTX_3008'"),
    (("up", "1", "--gpu", ""), "empty GPU name"),
    (("replenish", "2", "--fleet", "zeb"), None),
])
def test_unknown_or_empty_gpus_are_refused(sim, args, needle):
    res = sim.run(*args)
    if needle is None:
        assert res.exit_code == 0, res.stderr
        return
    assert res.exit_code == 1 and needle in res.stderr and _no_creates(sim)


def test_config_check_refuses_an_unknown_gpu_and_nan(sim):
    for bad in ('gpus = ["RTX_3008"]', "max_dph = nan"):
        sim.config.write_text(f"[fleets.zeb]\n{bad}\n")
        res = sim.run("config", "check")
        assert res.exit_code == 1, (bad, res.stdout)
    sim.config.write_text('[fleets.zeb]\ngpus = ["RTX_5090"]\n[fleets.zeb.expected_gps]\nRTX_5090 = 9.0\n')
    assert sim.run("config", "check").exit_code == 0, "a new GPU with its figure is fine"


def test_a_machine_id_of_23_digits_is_refused(sim):
    res = sim.run("blacklist", "add", "12345678901234567890123")
    assert res.exit_code == 2 and "Traceback" not in res.stderr
    assert sim.json("blacklist", "list")["data"]["machines"] == []


def test_the_cli_machine_id_bound_is_the_planners():
    from zeb.cli.blacklist import MAX_MACHINE_ID as cli_bound
    from zeb.plan.hosts import MAX_MACHINE_ID

    assert cli_bound == MAX_MACHINE_ID


def _without_hf_token(sim, *args: str):
    from typer.testing import CliRunner

    from zeb.cli import app as cli_app
    from zeb.cli.context import App

    env = {k: v for k, v in sim.env.items() if k not in ("HF_TOKEN", "HF_ENDPOINT")}
    return CliRunner().invoke(cli_app, list(args), obj=App(env=env, clock=sim.clock.now, sleep=sim.clock.sleep,
                                                          interactive=False), catch_exceptions=False)


def test_a_dry_run_needs_no_hf_token_or_hub_and_says_it_did_not_check(sim):
    res = _without_hf_token(sim, "up", "3", "--dry-run")
    assert res.exit_code == 0, res.stderr
    assert "Dry run: would launch 3 of 3" in res.stdout
    assert "HF token and the weights file were not checked" in res.stdout
    assert _no_creates(sim)
    doc = __import__("json").loads(_without_hf_token(sim, "up", "1", "--dry-run", "--json").stdout)
    assert doc["data"]["hub_checked"] is False and len(doc["data"]["plan"]) == 1


def test_rank_offers_needs_no_hf_token(sim):
    res = _without_hf_token(sim, "rank-offers", "--limit", "3")
    assert res.exit_code == 0, res.stderr
    assert "$/game/s" in res.stdout


def test_a_real_up_still_refuses_without_the_hf_token(sim):
    res = _without_hf_token(sim, "up", "1")
    assert res.exit_code != 0 and "HF_TOKEN" in res.stderr and _no_creates(sim)
