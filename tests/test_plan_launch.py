"""Launch specs: env (HF_TOKEN there and only there), the rendered onstart, and the next offer when one is taken."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeb.core.config import resolve
from zeb.core.domain import Offer
from zeb.core.errors import ConfigError
from zeb.plan.launch import (
    launch_env,
    launch_specs,
    render_onstart,
    upload_interval_for,
    worker_id,
)
from zeb.plan.types import RankedOffer

TOKEN = "hf_secret_value_0123456789"


def ranked(i: int, machine: int | None = None, dph=0.08) -> RankedOffer:
    o = Offer(id=i, machine_id=machine if machine is not None else 5000 + i, host_id=1, gpu_name="RTX 3070",
              num_gpus=1, dph_total=dph, reliability=0.99)
    return RankedOffer(o, 2.2, "config")


@pytest.fixture
def cfg():
    return resolve("zeb", {}, {})


def test_upload_interval_table_from_the_runbook():
    assert [upload_interval_for(n) for n in (1, 4, 6, 7, 8, 12, 20)] == [240, 240, 240, 252, 288, 432, 720]
    assert upload_interval_for(0) == 240


def test_env_has_every_setting_the_worker_reads(cfg):
    env = launch_env(cfg, "zeb-worker-vast-12", TOKEN, 8)
    assert env == {
        "HF_TOKEN": TOKEN, "WORKER_ID": "worker-vast-12", "ZEB_FLEET": "zeb", "ZEB_REPO_ID": cfg.repo_id,
        "ZEB_EXAMPLES_REPO_ID": cfg.examples_repo_id, "ZEB_WEIGHTS_NAME": cfg.weights_name,
        "ZEB_UPLOAD_INTERVAL": "288", "ZEB_GIT_REPO": cfg.git_repo, "ZEB_GIT_BRANCH": cfg.git_branch,
        "ZEB_WORKER_MODE": "selfplay", "ZEB_ORACLE_CHECKPOINT": cfg.oracle_checkpoint, "ZEB_EQ_N_SAMPLES": "100",
        "ZEB_EQ_GAMES_PER_BATCH": "128", "ZEB_EQ_BATCH_SIZE": "0", "ZEB_EQ_TEMPERATURE": "0.1",
        "ZEB_EQ_POLICY_TARGETS": "false",
    }
    # The fleet's target (4) sets the interval; a command taking the fleet past it (8) lengthens it.
    assert launch_env(cfg, "zeb-worker-vast-1", TOKEN)["ZEB_UPLOAD_INTERVAL"] == "240"
    extra = dataclasses.replace(cfg, worker_env={"PYTORCH_CUDA_ALLOC_CONF": "x", "ZEB_WEIGHTS_NAME": "sneaky"})
    env_extra = launch_env(extra, "zeb-worker-vast-1", TOKEN)
    assert env_extra["PYTORCH_CUDA_ALLOC_CONF"] == "x" and env_extra["ZEB_WEIGHTS_NAME"] == cfg.weights_name
    pinned = dataclasses.replace(cfg, upload_interval=600)
    assert launch_env(pinned, "zeb-worker-vast-0", TOKEN, 40)["ZEB_UPLOAD_INTERVAL"] == "600"
    large = dataclasses.replace(cfg, name="zeb-large")
    assert launch_env(large, "zeb-large-worker-vast-3", TOKEN, 4)["WORKER_ID"] == "worker-vast-3"
    assert worker_id("zeb-large-worker-vast-3") == "worker-vast-3"


def test_a_label_outside_the_fleet_is_refused(cfg):
    for label in ("zeb-large-worker-vast-0", "my-notebook", "zeb-worker-vast-01"):
        with pytest.raises(ValueError, match="not a worker label of fleet 'zeb'"):
            launch_env(cfg, label, TOKEN, 1)
        with pytest.raises(ValueError):
            launch_specs(cfg, [label], [ranked(1)], TOKEN, 1)


def test_launch_spec_carries_token_in_env_only(cfg):
    spec = launch_specs(cfg, ["zeb-worker-vast-3"], [ranked(1)], TOKEN, 4)[0]
    assert (spec.offer_id, spec.label, spec.image, spec.disk_gb) == (1, "zeb-worker-vast-3", cfg.image, cfg.disk_gb)
    assert spec.env["HF_TOKEN"] == TOKEN and spec.env["WORKER_ID"] == "worker-vast-3"
    assert TOKEN not in spec.onstart and TOKEN not in repr(spec) and TOKEN not in str(spec)
    assert "{worker_command}" not in spec.onstart and "forge.zeb.worker.run" in spec.onstart
    assert "$(date)" in spec.onstart and '"$ZEB_GIT_BRANCH"' in spec.onstart   # bash survives rendering


def test_label_i_goes_on_offer_i(cfg):
    labels = ["zeb-worker-vast-1", "zeb-worker-vast-4", "zeb-worker-vast-5"]
    specs = launch_specs(cfg, labels, [ranked(10), ranked(20), ranked(30)], TOKEN, 6)
    assert [(s.label, s.offer_id) for s in specs] == list(zip(labels, [10, 20, 30]))
    assert len(launch_specs(cfg, labels, [ranked(10)], TOKEN, 6)) == 1      # fewer offers: launch what exists
    assert launch_specs(cfg, [], [ranked(10)], TOKEN, 6) == []


def test_an_onstart_carrying_the_token_is_refused_without_printing_it(cfg):
    leaky = dataclasses.replace(cfg, onstart=f"export HF_TOKEN={TOKEN}\n{{worker_command}}")
    with pytest.raises(ConfigError) as info:
        launch_specs(leaky, ["zeb-worker-vast-0"], [ranked(1)], TOKEN, 1)
    assert TOKEN not in str(info.value) and "fleet zeb" in str(info.value)
    via_command = dataclasses.replace(cfg, worker_command=f"HF_TOKEN={TOKEN} run")
    with pytest.raises(ConfigError):
        launch_specs(via_command, ["zeb-worker-vast-0"], [ranked(1)], TOKEN, 1)


def test_onstart_leaves_foreign_braces_alone(cfg):
    cfg = dataclasses.replace(cfg, onstart='echo ${HOME} {fleet} { true; } {a,b} {unknown} "{label}" {worker_id}')
    assert render_onstart(cfg, "zeb-worker-vast-1") == (
        'echo ${HOME} zeb { true; } {a,b} {unknown} "zeb-worker-vast-1" worker-vast-1')
    plain = dataclasses.replace(cfg, onstart="no fields ${X}\n")
    assert render_onstart(plain, "zeb-worker-vast-1") == "no fields ${X}\n"


def test_worker_command_may_use_fields_and_values_are_not_re_expanded(cfg):
    cfg = dataclasses.replace(cfg, onstart="exec {worker_command}", worker_command="run --fleet {fleet} {weights_name}",
                              weights_name="w{label}")
    assert render_onstart(cfg, "zeb-worker-vast-2") == "exec run --fleet zeb w{label}"


@given(st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=8, max_size=40), st.integers(0, 500),
       st.integers(1, 60))
def test_spec_properties(secret, index, n):
    cfg = resolve("zeb", {}, {})
    token = "hf_" + secret
    label = f"zeb-worker-vast-{index}"
    spec = launch_specs(cfg, [label], [ranked(index)], token, n)[0]
    assert spec.env["HF_TOKEN"] == token and spec.env["WORKER_ID"] == f"worker-vast-{index}"
    assert token not in spec.onstart and token not in repr(spec)
    assert int(spec.env["ZEB_UPLOAD_INTERVAL"]) >= 240 and int(spec.env["ZEB_UPLOAD_INTERVAL"]) * 100 >= n * 3600


