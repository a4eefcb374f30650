"""The onstart model: the shell constructs real launch scripts use, each failure in its real wording, the
image and repository tables, the worker's argument parsing, and end to end through the Market: a script
that could not run on a real machine never produces."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import pytest

from zeb.core.config import resolve
from zeb.plan.launch import render_onstart
from zeb.sim.clock import ManualClock
from zeb.sim.market import Market
from zeb.sim.onstart import (
    EVAL_AUX_OPTS,
    IMAGES,
    KNOWN_GOOD_LAUNCH,
    SELFPLAY_OPTS,
    ArgError,
    Image,
    World,
    known_good_body,
    parse_worker_args,
    run_onstart,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import scripts_policy

PYTORCH_26 = "pytorch/pytorch:2.6.0-cuda12.6-cudnn9-runtime"
PYTORCH_24 = "pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime"
WORKER_IMAGE = "jasonyandell/zeb-worker:latest"
MK5 = "https://github.com/jasonyandell/mk5-main.git"
ZEB_ENV = {
    "HF_TOKEN": "hf_test", "WORKER_ID": "worker-vast-3", "ZEB_FLEET": "zeb", "ZEB_REPO_ID": "jasonyandell/zeb-42",
    "ZEB_EXAMPLES_REPO_ID": "jasonyandell/zeb-42-examples", "ZEB_WEIGHTS_NAME": "zeb-557k-1m",
    "ZEB_UPLOAD_INTERVAL": "240", "ZEB_GIT_REPO": MK5, "ZEB_GIT_BRANCH": "forge", "ZEB_WORKER_MODE": "selfplay",
    "ZEB_ORACLE_CHECKPOINT": "forge/models/domino-qval-large-3.3M-qgap0.071-qmae0.94.ckpt",
    "ZEB_EQ_N_SAMPLES": "100", "ZEB_EQ_GAMES_PER_BATCH": "128", "ZEB_EQ_BATCH_SIZE": "0",
    "ZEB_EQ_TEMPERATURE": "0.1", "ZEB_EQ_POLICY_TARGETS": "false",
}
# The scripts' env (vast_up.sh / vast_monitor.sh pass only these; the rest is baked into their onstart).
SCRIPT_ENV = {k: ZEB_ENV[k] for k in ("HF_TOKEN", "WORKER_ID", "ZEB_WORKER_MODE", "ZEB_UPLOAD_INTERVAL",
                                      "ZEB_ORACLE_CHECKPOINT", "ZEB_EQ_N_SAMPLES", "ZEB_EQ_GAMES_PER_BATCH",
                                      "ZEB_EQ_BATCH_SIZE", "ZEB_EQ_TEMPERATURE", "ZEB_EQ_POLICY_TARGETS")}

# The old zeb default: clones a repository that does not exist and pip-installs a root that is no project.
OLD_ZEB_DEFAULT = r"""#!/bin/bash
exec > >(tee -a /root/onstart.log) 2>&1
echo "=== Setup started at $(date) ==="
(command -v git >/dev/null || (apt-get update -qq && apt-get install -y -qq git >/dev/null)) && echo "git installed"
rm -rf /root/code && git clone -q --depth 1 -b "$ZEB_GIT_BRANCH" "$ZEB_GIT_REPO" /root/code && echo "repo cloned"
cd /root/code && pip install -q -e . && echo "deps installed"
python -c "import torch; assert torch.cuda.is_available(), 'No CUDA'; print('GPU OK:', torch.cuda.get_device_name(0))" || exit 1
echo "=== Starting worker $WORKER_ID at $(date) ==="
exec python -u -m forge.zeb.worker.run --worker-id "$WORKER_ID" --repo-id "$ZEB_REPO_ID" --examples-repo-id "$ZEB_EXAMPLES_REPO_ID" --weights-name "$ZEB_WEIGHTS_NAME" --upload-interval "$ZEB_UPLOAD_INTERVAL"
"""  # noqa: E501 -- a real script, kept line for line

# Test data: the onstart scripts as they reach Vast (the user's scripts with their shell's own
# substitutions done).

# zeb's own launch, rendered by zeb itself: the simulator must run exactly what zeb sends.
_ZEB_CFG = resolve(None, {}, {"ZEB_CONFIG": "/nonexistent/fleets.toml"})
ZEB_SELFPLAY = render_onstart(_ZEB_CFG, "zeb-worker-vast-3")
ZEB_EVAL_AUX = render_onstart(dataclasses.replace(_ZEB_CFG, worker_mode="eval_aux"), "zeb-worker-vast-3")

VAST_UP_ONSTART = r"""#!/bin/bash
set -e

echo "=== Setup started at $(date) ==="

# Install git and clone
apt-get update -qq && apt-get install -y -qq git > /dev/null
echo "git installed"
git clone --depth 1 --branch forge https://github.com/jasonyandell/mk5-main.git /root/code
echo "repo cloned"

# Minimal deps (torch already in image)
pip install -q huggingface_hub
echo "deps installed"

# Auth
huggingface-cli login --token $HF_TOKEN --add-to-git-credential 2>/dev/null || true

# GPU smoke test
python -c "import torch; assert torch.cuda.is_available(), \"No CUDA\"; print(f\"GPU OK: {torch.cuda.get_device_name()}\")"

# Start worker — exec replaces this shell so worker output IS container output
echo "=== Starting worker $WORKER_ID (${ZEB_WORKER_MODE:-selfplay}) at $(date) ==="
cd /root/code
if [ "${ZEB_WORKER_MODE:-selfplay}" = "eval_aux" ]; then
    EQ_POLICY_FLAG="--no-eq-policy-targets"
    if [ "${ZEB_EQ_POLICY_TARGETS:-false}" = "true" ]; then
        EQ_POLICY_FLAG="--eq-policy-targets"
    fi
    # Fallback to script-path execution if module mode is unavailable in cloned code.
    python -u -m forge.zeb.worker.run_eval_aux \
        --repo-id jasonyandell/zeb-42 \
        --examples-repo-id jasonyandell/zeb-42-examples \
        --worker-id "$WORKER_ID" \
        --device cuda \
        --checkpoint "${ZEB_ORACLE_CHECKPOINT:-forge/models/domino-qval-large-3.3M-qgap0.071-qmae0.94.ckpt}" \
        --n-samples "${ZEB_EQ_N_SAMPLES:-100}" \
        --games-per-batch "${ZEB_EQ_GAMES_PER_BATCH:-128}" \
        --eval-batch-size "${ZEB_EQ_BATCH_SIZE:-0}" \
        --zeb-temperature "${ZEB_EQ_TEMPERATURE:-0.1}" \
        "$EQ_POLICY_FLAG" \
        --weights-name zeb-557k-1m \
        --weight-sync-interval 2 \
        --upload-interval "${ZEB_UPLOAD_INTERVAL:-240}" \
    || exec python -u forge/zeb/worker/run_eval_aux.py \
        --repo-id jasonyandell/zeb-42 \
        --examples-repo-id jasonyandell/zeb-42-examples \
        --worker-id "$WORKER_ID" \
        --device cuda \
        --checkpoint "${ZEB_ORACLE_CHECKPOINT:-forge/models/domino-qval-large-3.3M-qgap0.071-qmae0.94.ckpt}" \
        --n-samples "${ZEB_EQ_N_SAMPLES:-100}" \
        --games-per-batch "${ZEB_EQ_GAMES_PER_BATCH:-128}" \
        --eval-batch-size "${ZEB_EQ_BATCH_SIZE:-0}" \
        --zeb-temperature "${ZEB_EQ_TEMPERATURE:-0.1}" \
        "$EQ_POLICY_FLAG" \
        --weights-name zeb-557k-1m \
        --weight-sync-interval 2 \
        --upload-interval "${ZEB_UPLOAD_INTERVAL:-240}"
else
    exec python -u -m forge.zeb.worker.run \
        --repo-id jasonyandell/zeb-42 \
        --examples-repo-id jasonyandell/zeb-42-examples \
        --worker-id "$WORKER_ID" \
        --device cuda \
        --n-parallel-games 128 \
        --n-simulations 200 \
        --max-mcts-nodes 512 \
        --games-per-batch 256 \
        --weights-name zeb-557k-1m \
        --weight-sync-interval 2 \
        --upload-interval "${ZEB_UPLOAD_INTERVAL:-240}"
fi
"""  # noqa: E501 -- a real script, kept line for line

# vast_monitor.sh's spawn_worker onstart: one copy, kept with the scripts' policy model of the benchmark.
VAST_MONITOR_ONSTART = scripts_policy.onstart_text(scripts_policy.ScriptsConfig()) + "\n"


def _run(script, env=None, image=PYTORCH_26, **kw):
    return run_onstart(script, env=ZEB_ENV if env is None else env, image=image, **kw)


def _log(plan):
    return [ln for step in plan.steps for ln in step.lines]


# -- the shell -----------------------------------------------------------------------------------------------

def test_echo_comments_blank_lines_continuations_and_date():
    plan = _run('#!/bin/bash\n# a comment\n\necho "a  b" \\\n  c\necho "at $(date)"\n', started_at=1770379200.0)
    assert _log(plan) == ["a  b c", "at Fri Feb  6 12:00:00 UTC 2026"] and plan.exit_status == 0


def test_expansion_quotes_defaults_and_unset():
    env = {"A": "x y", "E": ""}
    plan = _run("echo $A ${A} \"$A\" '$A' ${B:-dflt} \"${E:-empty}\" ${E-keep}. [$NOPE]", env=env)
    assert _log(plan) == ["x y x y x y $A dflt empty . []"]
    plan = _run('X=1\nif [ -z "$NOPE" ] && [ -n "$X" ]; then echo yes; fi', env={})
    assert _log(plan) == ["yes"]


def test_set_e_ends_the_script_and_without_it_the_script_goes_on():
    assert _log(_run("set -e\nnosuch\necho after")) == ["bash: line 2: nosuch: command not found"]
    assert _run("set -e\nnosuch\necho after").exit_status == 127
    assert _log(_run("nosuch\necho after")) == ["bash: line 1: nosuch: command not found", "after"]


def test_and_or_and_true_under_set_e():
    plan = _run("set -e\nfalse && echo no\nfalse || true\nfalse || echo rescued\necho end")
    assert _log(plan) == ["rescued", "end"] and plan.exit_status == 0
    assert _run("set -e\ntrue && false\necho never").exit_status == 1


def test_subshells_keep_their_variables_and_directory():
    plan = _run("cd /tmp\n(cd /root; X=1; echo in $X)\necho out $X $(pwd)\n( false ) || echo caught", env={})
    assert _log(plan) == ["in 1", "out /tmp", "caught"]


def test_redirections():
    plan = _run("nosuch 2>/dev/null || echo a\necho hidden >/dev/null\nnosuch >/dev/null 2>&1\n"
                "exec > >(tee -a /root/onstart.log) 2>&1\necho shown")
    assert _log(plan) == ["a", "shown"]


def test_cd_into_a_missing_directory():
    plan = _run("set -e\ncd /root/code\necho never")
    assert _log(plan) == ["bash: line 2: cd: /root/code: No such file or directory"] and plan.exit_status == 1


def test_if_else_and_one_level_of_nesting_with_each_test():
    script = """if [ -d /root/code/.git ]; then
    echo image code
    if [ -f /root/code/forge/zeb/worker/run.py ]; then echo has worker; fi
else
    if [ "$MODE" = "eval_aux" ]; then echo eval; else echo selfplay; fi
fi
if [ "$MODE" != "x" ]; then echo differs; fi"""
    assert _log(_run(script, env={"MODE": "eval_aux"})) == ["eval", "differs"]
    assert _log(_run(script, env={}, image=WORKER_IMAGE)) == ["image code", "has worker", "differs"]


def test_command_v_and_apt_install_git():
    plan = _run("command -v git >/dev/null || echo no git\n"
                "apt-get update -qq && apt-get install -y -qq git >/dev/null\ncommand -v git")
    assert _log(plan) == ["no git", "/usr/bin/git"]
    assert _log(_run("command -v git", image=WORKER_IMAGE)) == ["/usr/bin/git"]
    assert _log(_run("git --version")) == ["bash: line 1: git: command not found"]


def test_git_clone_bad_repo_bad_branch_and_default_branch():
    pre = "apt-get install -y -qq git\n"
    plan = _run(pre + "git clone https://github.com/jasonyandell/zeb.git /root/code")
    assert plan.error == ("Cloning into '/root/code'...", "remote: Repository not found.",
                          "fatal: repository 'https://github.com/jasonyandell/zeb.git/' not found")
    plan = _run(pre + f"git clone -q --depth 1 --branch nope {MK5} /root/code")
    assert plan.error[-1] == "fatal: Remote branch nope not found in upstream origin"
    plan = _run(pre + f"git clone -q {MK5} /root/code && cd /root/code && python -m forge.zeb.worker.run")
    assert plan.worker is None and "No module named 'forge.zeb'" in plan.error[0]
    plan = _run(pre + "git clone -q https://github.com/jasonyandell/mk5-main /root/code\n"
                "[ -f /root/code/README.md ] && echo ok")
    assert _log(plan) == ["ok"]


def test_git_in_the_worker_image():
    ok = _run("cd /root/code\ngit pull --ff-only\ngit remote set-url origin x\ngit pull --ff-only 2>/dev/null || true\n"
              "echo done", image=WORKER_IMAGE)
    assert _log(ok) == ["Already up to date.", "done"]
    plan = _run("git -C /root/code fetch -q origin main && git -C /root/code checkout -q -B main FETCH_HEAD\n"
                "[ -f /root/code/forge/zeb/worker/run.py ] || echo gone", image=WORKER_IMAGE)
    assert _log(plan) == ["gone"]
    plan = _run("git -C /nope status", image=WORKER_IMAGE)
    assert _log(plan) == ["fatal: cannot change to '/nope': No such file or directory"]
    plan = _run("cd /root/code\ngit fetch -q origin nope", image=WORKER_IMAGE)
    assert _log(plan) == ["fatal: couldn't find remote ref nope"]


def test_pip_install_of_the_repository_root_fails_and_packages_install():
    plan = _run(f"set -e\napt-get install -y git\ngit clone -q -b forge {MK5} /root/code\ncd /root/code\n"
                "pip install -q -e .\necho never")
    assert plan.error == ("ERROR: file:///root/code does not appear to be a Python project: neither 'setup.py' nor "
                          "'pyproject.toml' found.",)
    assert _run("cd /root/code && pip install .", image=WORKER_IMAGE).exit_status == 1
    assert _run("pip install -q huggingface_hub torch-something").exit_status == 0


HINT = ("\x1b[90mHint: The `hf-cli` skill is not installed. Run `hf skills add -g` to teach your AI agents how to "
        "use the `hf` CLI.\x1b[0m")


def test_huggingface_cli_is_gone_and_hf_needs_the_hub():
    # huggingface_hub 1.0 dropped huggingface-cli: no image and no pip install of today has it.
    for image in (PYTORCH_26, WORKER_IMAGE):
        plan = _run("pip install -q huggingface_hub\nhuggingface-cli login --token x", image=image)
        assert _log(plan) == ["bash: line 2: huggingface-cli: command not found"] and plan.exit_status == 127
        assert _run("huggingface-cli login --token x 2>/dev/null || true", image=image).exit_status == 0
    assert _log(_run("hf auth login --token x")) == ["bash: line 1: hf: command not found"]
    assert _log(_run("hf auth login --token x 2>/dev/null || true")) == []


def test_hf_auth_login_and_whoami_as_hf_prints_them():
    # Lines as huggingface_hub 2.4's `hf` prints them (its Hub call stubbed), stderr's logging first.
    plan = _run("pip install -q huggingface_hub\nhf auth login --token x --add-to-git-credential",
                env={"HF_TOKEN": "x"})
    assert _log(plan) == [
        HINT, "Token is valid (permission: write).",
        "The token `zeb-sim-write` has been saved to /root/.cache/huggingface/stored_tokens",
        "Token has not been saved to git credential helper.",
        "Your token has been saved to /root/.cache/huggingface/token", "Login successful.",
        "Note: Environment variable`HF_TOKEN` is set and is the current active token independently from the token "
        "you've just configured.",
        "\x1b[1m\x1b[31mCannot authenticate through git-credential as no helper is defined on your machine.",
        "You might have to re-authenticate when pushing to the Hugging Face Hub.",
        "Run the following command in your terminal in case you want to set the 'store' credential helper as "
        "default.", "", "git config --global credential.helper store", "",
        "Read https://git-scm.com/book/en/v2/Git-Tools-Credential-Storage for more details.\x1b[0m"]
    plan = _run("hf auth whoami; hf auth login --token x 2>&1 >/dev/null | tee; hf auth whoami\n"
                "[ -f /root/.cache/huggingface/token ] && echo saved", env={}, image=WORKER_IMAGE)
    log = _log(plan)
    assert log[:2] == [HINT, "\x1b[1m\x1b[31mError: Not logged in. Run `hf auth login` first.\x1b[0m"]
    assert log[2].startswith("The token has not been saved to the git credentials helper.")
    assert log[-4:] == ["The current active token is: `zeb-sim-write`", "\x1b[32m\u2713 Logged in\x1b[0m",
                        "  user: zeb-sim", "saved"]
    assert _log(_run("hf auth login --token", image=WORKER_IMAGE)) == \
        [HINT, "Error: Option '--token' requires an argument."]
    for unsupported in ("hf upload r f", "hf auth login", "hf auth login --token x --bogus", "hf", "hf auth token"):
        plan = _run(unsupported, image=WORKER_IMAGE)
        assert plan.error[0].startswith("the simulator cannot run this construct: hf") and plan.exit_status == 98


SMOKE = ("python -c \"import torch; assert torch.cuda.is_available(), 'No CUDA'; "
         "print('GPU OK:', torch.cuda.get_device_name(0))\"")


def test_the_gpu_smoke_test():
    assert _log(_run(SMOKE, gpu_name="RTX 3080")) == ["GPU OK: NVIDIA GeForce RTX 3080"]
    plan = _run("set -e\n" + SMOKE + "\necho never", cuda=False)
    assert plan.error == ("Traceback (most recent call last):", '  File "<string>", line 1, in <module>',
                          "AssertionError: No CUDA")
    assert _run('python -c "print(1)"').exit_status == 0


def test_image_table_and_unknown_images():
    assert set(IMAGES) >= {PYTORCH_26, PYTORCH_24, WORKER_IMAGE}
    plan = _run("echo hi", image="jasonyandell/zeb-worker:nope")
    assert plan.pull_error == ("Error response from daemon: manifest for jasonyandell/zeb-worker:nope not found: "
                               "manifest unknown") and plan.steps == ()
    assert _run("echo hi", image="jasonyandell/zeb-worker").pull_error is None      # :latest
    world = World(images={**IMAGES, "me/custom:1": Image(git=True)})
    assert _log(run_onstart("command -v git", env={}, image="me/custom:1", world=world)) == ["/usr/bin/git"]


def test_a_syntax_error():
    plan = _run("if [ -d x ]; then\necho a\n")
    assert plan.exit_status == 2 and "syntax error" in plan.error[0]


# -- the worker's arguments ------------------------------------------------------------------------------------

def test_argparse_defaults_and_errors():
    args = parse_worker_args(SELFPLAY_OPTS, ["--repo-id", "r", "--output-dir", "/tmp/x"])
    assert not isinstance(args, ArgError)
    assert (args["worker_id"], args["n_simulations"], args["games_per_batch"], args["weight_sync_interval"],
            args["upload_interval"], args["weights_name"], args["device"], args["temperature"]) == \
        ("worker-0", 200, 256, 10, 240, None, "cuda", 1.0)
    err = parse_worker_args(SELFPLAY_OPTS, ["--repo-id", "r", "--examples-repo-id", "e", "--fleet", "zeb"])
    assert err.lines[0].startswith("usage: run.py [-h] --repo-id REPO_ID")
    assert err.lines[-1] == "run.py: error: unrecognized arguments: --fleet zeb"
    err = parse_worker_args(SELFPLAY_OPTS, ["--repo-id", "r", "--examples-repo-id", "e", "--n-simulations", "x"])
    assert err.lines[-1] == "run.py: error: argument --n-simulations: invalid int value: 'x'"
    assert parse_worker_args(SELFPLAY_OPTS, ["--examples-repo-id", "e"]).lines[-1] == \
        "run.py: error: the following arguments are required: --repo-id"
    assert parse_worker_args(SELFPLAY_OPTS, ["--repo-id", "r"]).lines[-1] == \
        "run.py: error: Either --examples-repo-id or --output-dir is required"
    assert parse_worker_args(SELFPLAY_OPTS, ["--repo-id=r", "--output-dir", "o", "--temperature", "hot"]).lines[-1] == \
        "run.py: error: argument --temperature: invalid float value: 'hot'"
    eval_args = parse_worker_args(EVAL_AUX_OPTS, ["--repo-id", "r", "--output-dir", "o", "--eq-policy-targets"])
    assert eval_args["eq_policy_targets"] is True
    assert eval_args["n_samples"] == 100 and eval_args["zeb_temperature"] == 0.1


def test_the_worker_needs_huggingface_hub_and_its_module():
    prefix = f"apt-get install -y git\ngit clone -q -b forge {MK5} /root/code\ncd /root/code\n"
    plan = _run(prefix + "exec python -u -m forge.zeb.worker.run --repo-id r --output-dir o")
    assert plan.worker is None and plan.error[-1] == "ModuleNotFoundError: No module named 'huggingface_hub'"
    plan = _run(prefix + "pip install -q huggingface_hub\n"
                "exec python -u forge/zeb/worker/run.py --repo-id r --output-dir o")
    assert plan.worker is not None and plan.worker.args["repo_id"] == "r"
    plan = _run("cd /root/code\nexec python -u forge/zeb/worker/nope.py", image=WORKER_IMAGE)
    assert plan.error == ("/opt/conda/bin/python: can't open file '/root/code/forge/zeb/worker/nope.py': [Errno 2] "
                          "No such file or directory",)
    plan = _run("exec python -m forge.zeb.worker.run --repo-id r --output-dir o", image=WORKER_IMAGE)   # cwd is /
    assert "No module named 'forge'" in plan.error[0]


# -- whole launches ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("image", [PYTORCH_26, PYTORCH_24, WORKER_IMAGE])
def test_zebs_launch_produces_with_every_image(image):
    plan = _run(ZEB_SELFPLAY, image=image, gpu_name="RTX 3080")
    assert plan.worker is not None and plan.worker.mode == "selfplay"
    assert plan.worker.args["worker_id"] == "worker-vast-3" and plan.worker.args["games_per_batch"] == 256
    log = _log(plan)
    assert "GPU OK: NVIDIA GeForce RTX 3080" in log
    assert log[-1].startswith("=== Starting worker worker-vast-3 (selfplay)")
    assert ("code updated" in log) == (image == WORKER_IMAGE) and ("repo cloned" in log) != (image == WORKER_IMAGE)
    plan = _run(ZEB_EVAL_AUX, image=image)
    assert plan.worker is not None and plan.worker.mode == "eval_aux" and plan.worker.args["n_samples"] == 100
    assert plan.worker.args["eq_policy_targets"] is False


def test_zebs_launch_with_a_bad_repo_or_branch_fails_on_a_plain_image():
    for bad in ({"ZEB_GIT_REPO": "https://github.com/jasonyandell/zeb.git"}, {"ZEB_GIT_BRANCH": "nope"}):
        plan = _run(ZEB_SELFPLAY, env={**ZEB_ENV, **bad})
        assert plan.worker is None and plan.error[-1].startswith("fatal:")
    plan = _run(ZEB_SELFPLAY, env={**ZEB_ENV, "ZEB_GIT_BRANCH": "main"})
    assert plan.worker is None and "No module named" in plan.error[0]


def test_the_eval_aux_checkpoint_must_exist():
    plan = _run(ZEB_EVAL_AUX, env={**ZEB_ENV, "ZEB_ORACLE_CHECKPOINT": "forge/models/none.ckpt"})
    assert plan.worker is None and plan.error[0] == "Loading oracle checkpoint: forge/models/none.ckpt"
    assert plan.error[-1] == "FileNotFoundError: [Errno 2] No such file or directory: 'forge/models/none.ckpt'"


@pytest.mark.parametrize("mode", ["selfplay", "eval_aux"])
def test_the_users_scripts_produce_with_their_images(mode):
    env = {**SCRIPT_ENV, "ZEB_WORKER_MODE": mode}
    for script, image in ((VAST_UP_ONSTART, PYTORCH_26), (VAST_MONITOR_ONSTART, WORKER_IMAGE)):
        plan = _run(script, env=env, image=image)
        assert plan.worker is not None and plan.worker.mode == mode, (image, plan.error)
        assert plan.worker.args["repo_id"] == "jasonyandell/zeb-42"
        assert plan.worker.args["weights_name"] == "zeb-557k-1m" and plan.worker.args["upload_interval"] == 240


def test_the_old_zeb_default_never_starts_a_worker():
    plan = _run(OLD_ZEB_DEFAULT, env={**ZEB_ENV, "ZEB_GIT_REPO": "https://github.com/jasonyandell/zeb.git",
                                      "ZEB_GIT_BRANCH": "main"}, image=PYTORCH_24)
    log = _log(plan)
    assert plan.worker is None and "fatal: repository 'https://github.com/jasonyandell/zeb.git/' not found" in log
    assert "bash: line 6: cd: /root/code: No such file or directory" in log and "repo cloned" not in log
    # Even with the right repository, `pip install -e .` of its root fails, and the worker lacks huggingface_hub.
    plan = _run(OLD_ZEB_DEFAULT, env=ZEB_ENV, image=PYTORCH_24)
    assert any("does not appear to be a Python project" in ln for ln in _log(plan)) and plan.worker is None


def test_the_known_good_launch_produces():
    plan = run_onstart(KNOWN_GOOD_LAUNCH["onstart"], env=KNOWN_GOOD_LAUNCH["env"], image=KNOWN_GOOD_LAUNCH["image"])
    assert plan.worker is not None and "code updated" in _log(plan)


# -- end to end through the Market ---------------------------------------------------------------------------------

BATCH = re.compile(r"^\[(\S+)\] batch (\d+): (\d+) examples, ([\d.]+) games/s")


def _market_run(body, hours=2.0, gpu="RTX 3080", fault=None):
    clock = ManualClock()
    m = Market(clock, seed=11)
    iid = m.create(m.add_machine(gpu, gps=3.0, fault=fault).id, body)
    clock.advance(hours * 3600)
    return m, iid


def _batches(m, iid):
    return [BATCH.match(ln) for ln in m.logs(iid, None).splitlines() if BATCH.match(ln)]


def test_games_per_batch_sets_the_batch_period():
    body = {"image": PYTORCH_26, "onstart": ZEB_SELFPLAY, "env": ZEB_ENV, "label": "zeb-worker-vast-3"}
    m, iid = _market_run(body)
    n256 = len(_batches(m, iid))
    halved = {**body, "onstart": ZEB_SELFPLAY.replace("--games-per-batch 256", "--games-per-batch 128")}
    m2, iid2 = _market_run(halved)
    batches = _batches(m2, iid2)
    assert n256 > 10 and abs(len(batches) - 2 * n256) <= 2 and batches[0].group(3) == str(128 * 28)
    assert "  games_per_batch=128, weight_sync_interval=2" in m2.logs(iid2, None)


def test_eval_aux_runs_at_a_third_of_the_speed_with_its_own_lines():
    body = {"image": PYTORCH_26, "onstart": ZEB_EVAL_AUX, "env": ZEB_ENV, "label": "zeb-worker-vast-3"}
    m, iid = _market_run(body, hours=3)
    log = m.logs(iid, None)
    assert "Loading oracle checkpoint: forge/models/domino-qval-large-3.3M-qgap0.071-qmae0.94.ckpt" in log
    assert "Pulling initial Zeb weights from jasonyandell/zeb-42/zeb-557k-1m.pt..." in log
    assert re.search(r"  Zeb loaded \(step \d+\), 557,186 params, tokenizer=v1", log)
    assert "Eval-aux worker worker-vast-3 starting (output: jasonyandell/zeb-42-examples)" in log
    lines = [ln for ln in log.splitlines() if BATCH.match(ln)]
    assert lines and re.search(r"games/s, step=\d+, total_games=\d+, eq_win=\d+\.\d%$", lines[-1])
    rate = float(BATCH.match(lines[-1]).group(4))
    assert 0.85 <= rate <= 1.15 and re.search(r" \d+\.\d\d games/s", lines[-1])


@pytest.mark.parametrize("case", ["bad repo", "bad branch", "missing flag", "unknown flag", "pip -e", "no hub",
                                  "unknown image"])
def test_a_launch_that_cannot_run_never_produces_and_shows_why(case):
    env, script, image = dict(ZEB_ENV), ZEB_SELFPLAY, PYTORCH_26
    expect = {
        "bad repo": "fatal: repository 'https://github.com/nobody/none.git/' not found",
        "bad branch": "fatal: Remote branch nope not found in upstream origin",
        "missing flag": "run.py: error: the following arguments are required: --repo-id",
        "unknown flag": "run.py: error: unrecognized arguments: --fleet zeb",
        "pip -e": "does not appear to be a Python project",
        "no hub": "ModuleNotFoundError: No module named 'huggingface_hub'",
    }.get(case)
    if case == "bad repo":
        env["ZEB_GIT_REPO"] = "https://github.com/nobody/none.git"
    elif case == "bad branch":
        env["ZEB_GIT_BRANCH"] = "nope"
    elif case == "missing flag":
        script = script.replace('--repo-id "$ZEB_REPO_ID" ', "")
    elif case == "unknown flag":
        script = script.replace("--device cuda", "--device cuda --fleet zeb")
    elif case == "pip -e":
        script = script.replace("pip install -q huggingface_hub", "pip install -q -e .")
    elif case == "no hub":
        script = script.replace("pip install -q huggingface_hub", "pip install -q numpy")
    else:
        image = "jasonyandell/zeb-wroker:latest"
    m, iid = _market_run({"image": image, "onstart": script, "env": env, "label": "zeb-worker-vast-3"}, hours=6)
    row = m.row(m.instances[iid], m.clock.now())
    log = m.logs(iid, None)
    assert "games/s" not in log and not m.examples_uploads("jasonyandell/zeb-42-examples")
    if image != PYTORCH_26:
        assert row["actual_status"] == "loading" and log == ""
        assert row["status_msg"] == ("Error response from daemon: manifest for jasonyandell/zeb-wroker:latest not "
                                     "found: manifest unknown")
    else:
        assert row["actual_status"] == "running" and expect in log


def test_machine_faults_still_apply_on_top_of_a_good_script():
    good = known_good_body("zeb-worker-vast-0")
    m, iid = _market_run(good, fault="no_cuda")
    assert "AssertionError: No CUDA" in m.logs(iid, None) and not _batches(m, iid)
    m, iid = _market_run(good, fault="oom")
    assert "CUDA out of memory" in m.logs(iid, None) and not _batches(m, iid)
    m, iid = _market_run(good, fault="dud")
    assert m.row(m.instances[iid], m.clock.now())["actual_status"] == "loading"


def test_examples_uploads_follow_the_log_and_the_workers_naming():
    m, iid = _market_run(known_good_body("zeb-worker-vast-0", {"WORKER_ID": "worker-vast-0"}), hours=3)
    uploads = m.examples_uploads("jasonyandell/zeb-42-examples")
    complete = [ln for ln in m.logs(iid, None).splitlines() if "] Upload complete (" in ln]
    assert len(uploads) == len(complete) > 5
    assert all(t <= m.clock.now() for t, _ in uploads) and uploads == sorted(uploads)
    for t, path in uploads:
        assert re.fullmatch(rf"zeb-557k-1m/worker-vast-0_{int(t)}_[0-9a-f]{{6}}\.pt", path)
    assert m.examples_uploads("someone/else") == []
    m.destroy(iid)
    assert m.examples_uploads("jasonyandell/zeb-42-examples") == uploads
    plain, _piid = _market_run(known_good_body("x", {"WORKER_ID": "w", "ZEB_WEIGHTS_NAME": "model"}), hours=1)
    uploads = plain.examples_uploads("jasonyandell/zeb-42-examples")
    assert all(re.fullmatch(r"w_\d+_[0-9a-f]{6}\.pt", p) for _, p in uploads)
