"""The launch contract: what the real worker needs, stated here in our own words from the user's scripts
(vast_up.sh, vast_monitor.sh, go-*.sh) and the worker's own argument parser, and checked against what zeb
renders and what the create call really sends. A change that drops a flag, an env name, the image, the
repository or the branch fails here."""

from __future__ import annotations

import dataclasses
import re
import shlex

import pytest

from tests.simenv import HF_TOKEN
from zeb.core.config import WORKER_IMAGE, resolve
from zeb.plan.launch import launch_env, render_onstart

# -- the facts ---------------------------------------------------------------------------------

REPOSITORY = "https://github.com/jasonyandell/mk5-main.git"
BRANCH = "forge"
BASE_IMAGE = "pytorch/pytorch:2.6.0-cuda12.6-cudnn9-runtime"
PREBUILT_IMAGE = "jasonyandell/zeb-worker:latest"
DISK_GB = 15
SELFPLAY_MODULE = "forge.zeb.worker.run"
EVAL_AUX_MODULE = "forge.zeb.worker.run_eval_aux"
# Flag -> the value the scripts give it (None: any value, checked elsewhere).
SELFPLAY_FLAGS = {
    "--repo-id": "jasonyandell/zeb-42", "--examples-repo-id": "jasonyandell/zeb-42-examples",
    "--worker-id": "worker-vast-2", "--device": "cuda", "--n-parallel-games": "128", "--n-simulations": "200",
    "--max-mcts-nodes": "512", "--games-per-batch": "256", "--weights-name": "zeb-557k-1m",
    "--weight-sync-interval": "2", "--upload-interval": "240",
}
EVAL_AUX_FLAGS = {
    "--repo-id": "jasonyandell/zeb-42", "--examples-repo-id": "jasonyandell/zeb-42-examples",
    "--worker-id": "worker-vast-2", "--device": "cuda",
    "--checkpoint": "forge/models/domino-qval-large-3.3M-qgap0.071-qmae0.94.ckpt", "--n-samples": "100",
    "--games-per-batch": "128", "--eval-batch-size": "0", "--zeb-temperature": "0.1",
    "--no-eq-policy-targets": True, "--weights-name": "zeb-557k-1m", "--weight-sync-interval": "2",
    "--upload-interval": "240",
}
ENV_NAMES = {"HF_TOKEN", "WORKER_ID", "ZEB_WORKER_MODE", "ZEB_UPLOAD_INTERVAL", "ZEB_ORACLE_CHECKPOINT",
             "ZEB_EQ_N_SAMPLES", "ZEB_EQ_GAMES_PER_BATCH", "ZEB_EQ_BATCH_SIZE", "ZEB_EQ_TEMPERATURE",
             "ZEB_EQ_POLICY_TARGETS"}
DEFAULT_GPUS = {"RTX 3060", "RTX 3060 Ti", "RTX 3070", "RTX 3070 Ti", "RTX 3080", "RTX 3080 Ti", "RTX 3090",
                "RTX 4060", "RTX 4060 Ti", "RTX 4070", "RTX 4070 Ti"}

LABEL = "zeb-worker-vast-2"
NO_FILE = {"ZEB_CONFIG": "/nonexistent/fleets.toml"}


# -- reading a rendered script the way bash would, just enough ---------------------------------

def _expand(text: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: env.get(m.group(1), ""), text)


def worker_invocation(onstart: str, env: dict[str, str]) -> tuple[str, dict[str, object]]:
    """The module the script execs and its flags, after the env is expanded."""
    line = next(ln.strip() for ln in onstart.splitlines() if ln.strip().startswith("exec python"))
    words = shlex.split(_expand(line, env))
    assert words[:4] == ["exec", "python", "-u", "-m"], words[:4]
    module, rest = words[4], words[5:]
    flags: dict[str, object] = {}
    i = 0
    while i < len(rest):
        assert rest[i].startswith("--"), f"stray word {rest[i]!r}"
        if i + 1 < len(rest) and not rest[i + 1].startswith("--"):
            flags[rest[i]] = rest[i + 1]
            i += 2
        else:
            flags[rest[i]] = True
            i += 1
    return module, flags


@pytest.fixture
def cfg():
    return resolve(None, {}, NO_FILE)


def test_built_in_defaults_are_what_the_scripts_launch(cfg):
    assert (cfg.git_repo, cfg.git_branch) == (REPOSITORY, BRANCH)
    assert (cfg.image, cfg.disk_gb) == (BASE_IMAGE, DISK_GB)
    assert set(cfg.gpus) == DEFAULT_GPUS
    assert cfg.worker_mode == "selfplay" and WORKER_IMAGE == PREBUILT_IMAGE


def test_selfplay_worker_gets_every_flag_the_scripts_pass(cfg):
    env = launch_env(cfg, LABEL, HF_TOKEN)
    module, flags = worker_invocation(render_onstart(cfg, LABEL), env)
    assert module == SELFPLAY_MODULE
    assert flags == SELFPLAY_FLAGS


def test_eval_aux_worker_gets_every_flag_and_env_the_scripts_pass():
    cfg = resolve(None, {}, {**NO_FILE, "ZEB_WORKER_MODE": "eval_aux"})
    env = launch_env(cfg, LABEL, HF_TOKEN)
    module, flags = worker_invocation(render_onstart(cfg, LABEL), env)
    assert module == EVAL_AUX_MODULE and flags == EVAL_AUX_FLAGS
    on = dataclasses.replace(cfg, eq_policy_targets=True)
    assert worker_invocation(render_onstart(on, LABEL), launch_env(on, LABEL, HF_TOKEN))[1]["--eq-policy-targets"]


def test_fleet_extra_worker_args_come_last_and_win(cfg):
    extra = dataclasses.replace(cfg, worker_args=("--n-simulations", "400", "--temperature", "0.8 x"))
    _, flags = worker_invocation(render_onstart(extra, LABEL), launch_env(extra, LABEL, HF_TOKEN))
    assert flags["--n-simulations"] == "400" and flags["--temperature"] == "0.8 x"


def test_the_script_installs_only_what_the_repository_needs_and_reads_the_token_from_the_env(cfg):
    script = render_onstart(cfg, LABEL)
    commands = "\n".join(ln for ln in script.splitlines() if not ln.lstrip().startswith("#"))
    # The repository has no installable root package: its one dependency is huggingface_hub.
    assert "pip install -q huggingface_hub" in commands
    assert not re.search(r"pip install[^\n]*(-e )?\.(\s|$)", commands)
    assert 'git clone -q --depth 1 --branch "$ZEB_GIT_BRANCH" "$ZEB_GIT_REPO" /root/code' in commands
    # No login: huggingface_hub reads HF_TOKEN from the environment, so the token never lands on the disk.
    assert "login" not in commands and HF_TOKEN not in script
    assert "torch.cuda.is_available()" in script, "the GPU smoke test"
    assert script.index("torch.cuda.is_available()") < script.index("exec python"), "smoke test before the worker"


def test_the_prebuilt_image_updates_the_code_instead_of_cloning(cfg):
    script = render_onstart(dataclasses.replace(cfg, image=PREBUILT_IMAGE), LABEL)
    updates = script[script.index("if [ -d /root/code/.git ]"):script.index("else")]
    assert "git fetch" in updates and "clone" not in updates and "pip install" not in updates


def test_every_env_name_the_scripts_set_is_set(cfg):
    env = launch_env(cfg, LABEL, HF_TOKEN)
    assert set(env) >= ENV_NAMES
    assert (env["ZEB_GIT_REPO"], env["ZEB_GIT_BRANCH"]) == (REPOSITORY, BRANCH)


def test_the_create_body_zeb_sends(sim):
    """Through the real SDK to the simulated Vast: what a create call carries on the wire."""
    res = sim.run("up", "1")
    assert res.exit_code == 0, res.stderr
    (create,) = list(sim.market.calls_to("PUT", "/api/v0/asks/"))
    body = create["body"]
    assert (body["image"], body["disk"], body["label"]) == (BASE_IMAGE, DISK_GB, "zeb-worker-vast-0")
    assert set(body["env"]) >= ENV_NAMES and body["env"]["HF_TOKEN"] == HF_TOKEN
    module, flags = worker_invocation(body["onstart"], body["env"])
    assert module == SELFPLAY_MODULE
    cfg = resolve(None, {}, sim.env)     # the test harness points the fleet at its own HF repos
    assert flags == {**SELFPLAY_FLAGS, "--worker-id": "worker-vast-0", "--repo-id": cfg.repo_id,
                     "--examples-repo-id": cfg.examples_repo_id, "--weights-name": cfg.weights_name}
    assert HF_TOKEN not in body["onstart"]
