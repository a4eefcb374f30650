"""Config: precedence with sources, every validation error names file and key, init, check, show."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zeb.cli import app
from zeb.cli.context import App
from zeb.core.config import resolve, write_starter
from zeb.core.domain import gpu_name
from zeb.core.errors import ConfigError, UsageError

REPO_FLEETS = Path(__file__).resolve().parent.parent / "fleets.toml"


def _write(tmp_path, text: str) -> dict:
    path = tmp_path / "fleets.toml"
    path.write_text(text)
    return {"ZEB_CONFIG": str(path)}


def test_precedence_flag_env_fleet_defaults_builtin(tmp_path):
    env = _write(tmp_path, """
[defaults]
max_dph = 0.07
repo_id = "d/repo"
disk_gb = 30
[fleets.big]
max_dph = 0.08
weights_name = "big"
""")
    cfg = resolve("big", {}, env)
    assert (cfg.max_dph, cfg.repo_id, cfg.weights_name, cfg.image) == (0.08, "d/repo", "big", cfg.image)
    assert cfg.sources["max_dph"] == "fleets.toml [fleets.big]"
    assert cfg.sources["repo_id"] == "fleets.toml [defaults]"
    assert cfg.sources["image"] == "built-in"
    cfg = resolve("big", {}, {**env, "ZEB_MAX_DPH": "0.085", "ZEB_GPUS": "RTX_3070_Ti RTX_4070"})
    assert cfg.max_dph == 0.085 and cfg.sources["max_dph"] == "env ZEB_MAX_DPH"
    assert cfg.gpus == ("RTX 3070 Ti", "RTX 4070")
    cfg = resolve("big", {"max_dph": 0.095}, {**env, "ZEB_MAX_DPH": "0.085"})
    assert cfg.max_dph == 0.095 and cfg.sources["max_dph"] == "flag --max-dph"


def test_fleet_from_env_and_legacy_variables(tmp_path):
    env = _write(tmp_path, "[fleets.zeb-large]\nweights_name = \"large\"\n")
    cfg = resolve(None, {}, {**env, "ZEB_FLEET": "zeb-large", "ZEB_WEIGHTS_NAME": "other",
                             "ZEB_REPO_ID": "a/b", "ZEB_EXAMPLES_REPO_ID": "a/c", "ZEB_UPLOAD_INTERVAL": "300",
                             "ZEB_BLACKLIST": "/tmp/bad-hosts.txt"})
    assert (cfg.name, cfg.weights_name, cfg.repo_id, cfg.examples_repo_id, cfg.upload_interval,
            cfg.blacklist_file) == ("zeb-large", "other", "a/b", "a/c", 300, "/tmp/bad-hosts.txt")
    assert cfg.sources["name"] == "env ZEB_FLEET"


def test_missing_file_means_built_ins():
    cfg = resolve(None, {}, {"ZEB_CONFIG": "/nonexistent/fleets.toml"})
    assert cfg.name == "zeb" and cfg.max_dph == 0.09 and cfg.weights_name == "zeb-557k-1m"


@pytest.mark.parametrize("text,needle", [
    ("[fleets.x\n", "not valid TOML"),
    ("[fleets.x]\nbogus = 1\n", "fleets.x.bogus: unknown key"),
    ("[fleets.x]\nmax_dph = \"cheap\"\n", "fleets.x.max_dph: must be a number"),
    ("[fleets.x]\nmax_dph = -0.1\n", "fleets.x.max_dph: must be greater than 0"),
    ("[defaults]\ngpus = []\n", "defaults.gpus: must name at least one GPU"),
    ("[defaults]\ngpus = \"RTX_3070\"\n", "defaults.gpus: must be a list"),
    ("[fleets.x]\ntarget_workers = -1\n", "fleets.x.target_workers: must not be negative"),
    ("[fleets.x]\ntarget_workers = 2.5\n", "fleets.x.target_workers: must be a whole number"),
    ("[fleets.x.thresholds]\nboot_timeout_s = -5\n", "fleets.x.thresholds.boot_timeout_s: out of range"),
    ("[fleets.x.thresholds]\nboot_minutes = 5\n", "fleets.x.thresholds.boot_minutes: unknown threshold"),
    ("[fleets.x.expected_gps]\nRTX_3070 = 0\n", "fleets.x.expected_gps.RTX_3070: must be a positive number"),
    ("surprise = 1\n", "unknown top-level key 'surprise'"),
])
def test_every_validation_error_names_file_and_key(tmp_path, text, needle):
    env = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        resolve("x", {}, env)
    assert needle in str(info.value) and str(tmp_path / "fleets.toml") in str(info.value)


def test_an_undeclared_fleet_runs_on_defaults_and_env_as_the_scripts_did(tmp_path):
    env = _write(tmp_path, "[defaults]\nmax_dph = 0.07\n[fleets.a]\ntarget_workers = 9\n")
    cfg = resolve("my-experiment", {}, {**env, "ZEB_WEIGHTS_NAME": "exp-v2"})
    assert cfg.name == "my-experiment" and not cfg.declared
    assert (cfg.max_dph, cfg.weights_name, cfg.target_workers) == (0.07, "exp-v2", 4)
    assert resolve("a", {}, env).declared
    assert resolve(None, {}, {**env, "ZEB_FLEET": "from-env"}).name == "from-env"


@pytest.mark.parametrize("name", ["", "  ", "../up", "a b", "-x"])
def test_an_empty_or_unsafe_fleet_name_is_refused(name):
    with pytest.raises(UsageError):
        resolve(name, {}, {"ZEB_CONFIG": "/none"})


def test_an_empty_zeb_fleet_means_the_default_like_the_scripts():
    assert resolve(None, {}, {"ZEB_CONFIG": "/none", "ZEB_FLEET": ""}).name == "zeb"


def test_no_file_is_reported_as_none(tmp_path):
    assert resolve(None, {}, {"ZEB_CONFIG": str(tmp_path / "absent.toml")}).config_file is None
    env = _write(tmp_path, "[defaults]\n")
    assert resolve(None, {}, env).config_file == str(tmp_path / "fleets.toml")


@pytest.mark.parametrize("var,raw", [
    ("ZEB_MAX_DPH", "-1"), ("ZEB_MAX_DPH", "nan"), ("ZEB_MAX_DPH", "inf"), ("ZEB_MAX_DPH", "cheap"),
    ("ZEB_WORKER_MODE", "selfish"), ("ZEB_EQ_N_SAMPLES", "0"), ("ZEB_EQ_N_SAMPLES", "many"),
    ("ZEB_EQ_BATCH_SIZE", "-1"), ("ZEB_EQ_TEMPERATURE", "-0.1"), ("ZEB_EQ_TEMPERATURE", "nan"),
    ("ZEB_EQ_POLICY_TARGETS", "maybe"), ("ZEB_UPLOAD_INTERVAL", "0"),
])
def test_bad_env_values_name_the_variable(var, raw):
    with pytest.raises(ConfigError, match=var):
        resolve(None, {}, {"ZEB_CONFIG": "/none", var: raw})


def test_an_empty_env_variable_means_unset_like_the_scripts():
    cfg = resolve(None, {}, {"ZEB_CONFIG": "/none", "ZEB_GPUS": "  ", "ZEB_MAX_DPH": ""})
    assert cfg.gpus == resolve(None, {}, {"ZEB_CONFIG": "/none"}).gpus and cfg.max_dph == 0.09


def test_worker_mode_and_eval_aux_settings_from_the_scripts_env_names():
    cfg = resolve(None, {}, {"ZEB_CONFIG": "/none", "ZEB_WORKER_MODE": "eval_aux", "ZEB_ORACLE_CHECKPOINT": "o.ckpt",
                             "ZEB_EQ_N_SAMPLES": "50", "ZEB_EQ_GAMES_PER_BATCH": "64", "ZEB_EQ_BATCH_SIZE": "16",
                             "ZEB_EQ_TEMPERATURE": "0.3", "ZEB_EQ_POLICY_TARGETS": "true"})
    assert (cfg.worker_mode, cfg.oracle_checkpoint, cfg.eq_n_samples, cfg.eq_games_per_batch, cfg.eq_batch_size,
            cfg.eq_temperature, cfg.eq_policy_targets) == ("eval_aux", "o.ckpt", 50, 64, 16, 0.3, True)
    assert cfg.sources["eq_n_samples"] == "env ZEB_EQ_N_SAMPLES"


def test_worker_env_and_args_per_fleet(tmp_path):
    env = _write(tmp_path, '[fleets.x]\nworker_args = ["--temperature", "0.8"]\n'
                           '[fleets.x.worker_env]\nPYTORCH_CUDA_ALLOC_CONF = "expandable_segments:True"\nDEBUG = 1\n')
    cfg = resolve("x", {}, env)
    assert cfg.worker_args == ("--temperature", "0.8")
    assert dict(cfg.worker_env) == {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True", "DEBUG": "1"}


def test_a_bom_at_the_start_of_fleets_toml_is_accepted(tmp_path):
    (tmp_path / "fleets.toml").write_bytes(b"\xef\xbb\xbf[fleets.x]\ntarget_workers = 2\n")
    assert resolve("x", {}, {"ZEB_CONFIG": str(tmp_path / "fleets.toml")}).target_workers == 2


def test_gpu_names():
    assert gpu_name("RTX_4070_Ti") == "RTX 4070 Ti" and gpu_name("RTX 3060") == "RTX 3060"


def test_repo_fleets_file_has_the_runbooks_three_fleets():
    env = {"ZEB_CONFIG": str(REPO_FLEETS)}
    small, large, belief = (resolve(n, {}, env) for n in ("zeb", "zeb-large", "zeb-belief"))
    assert (small.weights_name, small.target_workers, small.max_dph) == ("zeb-557k-1m", 4, 0.09)
    assert (large.weights_name, large.target_workers) == ("large", 8)
    assert (belief.weights_name, belief.target_workers, belief.max_dph) == ("large-belief", 12, 0.10)
    assert belief.gpus == ("RTX 3070 Ti", "RTX 3080", "RTX 3080 Ti", "RTX 3090", "RTX 4070", "RTX 4070 Ti")
    assert belief.expected_gps["RTX 4070 Ti"] == 4.2


def test_write_starter_refuses_to_overwrite_and_is_private(tmp_path):
    path = write_starter(tmp_path / "cfg" / "fleets.toml")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve("zeb-large", {}, {"ZEB_CONFIG": str(path)}).weights_name == "large"
    with pytest.raises(ConfigError, match="--force"):
        write_starter(path)
    write_starter(path, force=True)


def _cli(args, env):
    return CliRunner().invoke(app, args, obj=App(env=env, interactive=False), catch_exceptions=False)


def test_cli_show_json_has_values_and_sources():
    res = _cli(["config", "show", "--fleet", "zeb-belief", "--json"], {"ZEB_CONFIG": str(REPO_FLEETS)})
    doc = json.loads(res.stdout)
    assert doc["status"] == "success" and doc["data"]["values"]["max_dph"] == 0.10
    assert doc["data"]["sources"]["max_dph"] == "fleets.toml [fleets.zeb-belief]"


def test_cli_check_and_init(tmp_path):
    assert "ok: 4 fleet(s)" in _cli(["config", "check"], {"ZEB_CONFIG": str(REPO_FLEETS)}).stdout
    target = tmp_path / "new.toml"
    assert _cli(["config", "init", "--path", str(target)], {}).exit_code == 0
    again = _cli(["config", "init", "--path", str(target)], {})
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_cli_bad_file_is_one_line_exit_1(tmp_path):
    env = _write(tmp_path, "[fleets.x]\nmax_dph = -1\n")
    res = _cli(["config", "check"], env)
    assert res.exit_code == 1
    assert res.stderr.strip().count("\n") == 0 and "fleets.x.max_dph" in res.stderr
    assert "Traceback" not in res.stderr
