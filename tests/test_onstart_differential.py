"""The onstart model against real bash: the bash-model cases, zeb's default onstart (today's, and the one
without the login line), the known-good launch and the user's vast_up.sh script run through /bin/bash with
stub git, pip, python, apt-get, nvidia-smi and hf (the real huggingface_hub CLI, its Hub call faked) on PATH
and no huggingface-cli, /root bind-mounted over a temporary directory. Model and bash must agree on the exit
status, on every log line (dates and shas normalised) and on the worker's arguments.

Needs root and `unshare --mount` (CI has both); elsewhere it skips, saying so."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.test_sim_bash_model import EXACT
from tests.test_sim_onstart import (
    OLD_ZEB_DEFAULT,
    SCRIPT_ENV,
    VAST_UP_ONSTART,
    ZEB_ENV,
    ZEB_EVAL_AUX,
    ZEB_SELFPLAY,
)
from zeb.sim.onstart import IMAGES, KNOWN_GOOD_LAUNCH, REPOS, commit_sha, parse_worker_args, repo_key, run_onstart

STUBS = Path(__file__).resolve().parent / "stubs" / "fake.py"
PYTORCH_26 = "pytorch/pytorch:2.6.0-cuda12.6-cudnn9-runtime"
WORKER_IMAGE = "jasonyandell/zeb-worker:latest"

# The fleet's first commit on forge: the model's world and the stub git both hold it.
PINNED = commit_sha(repo_key(ZEB_ENV["ZEB_GIT_REPO"]), ZEB_ENV["ZEB_GIT_BRANCH"], 0)

# (id, script, env, image)
CASES: list[tuple[str, str, dict[str, str], str]] = [(c[0], c[1], c[2], c[3]) for c in EXACT] + [
    ("set -e ends the script", "set -e\nnosuch\necho after", {}, PYTORCH_26),
    ("and-or under set -e", "set -e\nfalse && echo no\nfalse || true\nfalse || echo rescued\necho end", {},
     PYTORCH_26),
    ("subshells", "cd /tmp\n(cd /root; X=1; echo in $X)\necho out $X $(pwd)\n( false ) || echo caught", {},
     PYTORCH_26),
    ("redirections", "nosuch 2>/dev/null || echo a\necho hidden >/dev/null\nnosuch >/dev/null 2>&1\n"
     "exec > >(tee -a /root/onstart.log) 2>&1\necho shown", {}, PYTORCH_26),
    ("cd into a missing directory", "set -e\ncd /root/code\necho never", {}, PYTORCH_26),
    ("git in the worker image", "cd /root/code\ngit pull --ff-only\ngit remote set-url origin x\n"
     "git pull --ff-only 2>/dev/null || true\necho done", {}, WORKER_IMAGE),
    ("hf login and whoami", "hf auth whoami || echo no\nhf auth login --token hf_x --add-to-git-credential\n"
     "hf auth whoami", {"HF_TOKEN": "hf_x"}, WORKER_IMAGE),
    ("default onstart, plain image", ZEB_SELFPLAY, ZEB_ENV, PYTORCH_26),
    ("default onstart, worker image", ZEB_SELFPLAY, ZEB_ENV, WORKER_IMAGE),
    ("default onstart, eval-aux", ZEB_EVAL_AUX, ZEB_ENV, PYTORCH_26),
    ("default onstart, bad branch", ZEB_SELFPLAY, {**ZEB_ENV, "ZEB_GIT_BRANCH": "nope"}, PYTORCH_26),
    ("default onstart, bad repo", ZEB_SELFPLAY, {**ZEB_ENV, "ZEB_GIT_REPO": "https://github.com/nobody/none.git"},
     PYTORCH_26),
    ("default onstart, main branch", ZEB_SELFPLAY, {**ZEB_ENV, "ZEB_GIT_BRANCH": "main"}, PYTORCH_26),
    ("old zeb default", OLD_ZEB_DEFAULT, ZEB_ENV, PYTORCH_26),
    ("default onstart, pinned commit", ZEB_SELFPLAY, {**ZEB_ENV, "ZEB_GIT_COMMIT": PINNED}, PYTORCH_26),
    ("default onstart, pinned commit, worker image", ZEB_SELFPLAY, {**ZEB_ENV, "ZEB_GIT_COMMIT": PINNED},
     WORKER_IMAGE),
    ("known-good launch", KNOWN_GOOD_LAUNCH["onstart"], dict(KNOWN_GOOD_LAUNCH["env"]), KNOWN_GOOD_LAUNCH["image"]),
    ("vast_up.sh", VAST_UP_ONSTART, {**SCRIPT_ENV, "ZEB_WORKER_MODE": "selfplay"}, PYTORCH_26),
]

_DATE = re.compile(r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d UTC \d{4}")
_SHA = re.compile(r"\b[0-9a-f]{40}\b")
_MARK = "ZEB-STUB-WORKER "


def _can_run() -> str | None:
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs root on Linux (unshare --mount and a bind mount over /root)"
    if not shutil.which("unshare") or not shutil.which("mount"):
        return "needs unshare and mount"
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0:
        return "unshare --mount is not permitted here"
    return None


def _normal(lines: list[str]) -> list[str]:
    return [_SHA.sub("<sha>", _DATE.sub("<date>", ln)) for ln in lines]


def _real(tmp: Path, script: str, env: dict[str, str], image: str) -> tuple[int, list[str]]:
    root, bin_dir = tmp / "root", tmp / "bin"
    root.mkdir()
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STUBS}" python "$@"\n')
    (bin_dir / "python").chmod(0o755)
    tools = ["pip", "python3", "apt-get", "nvidia-smi"]
    img = IMAGES[image]
    tools += ["git"] * img.git + ["hf"] * img.huggingface_hub
    for tool in tools:
        (bin_dir / tool).write_text((bin_dir / "python").read_text().replace(" python ", f" {tool} "))
        (bin_dir / tool).chmod(0o755)
    for real in ("bash", "tee", "date", "mkdir", "rm", "touch", "cat", "sleep", "chmod"):
        (bin_dir / real).symlink_to(shutil.which(real) or f"/usr/bin/{real}")
    if img.code is not None:
        url, branch = img.code
        code = root / "code"
        for f in REPOS[repo_key(url)].branches[branch]:
            (code / f).parent.mkdir(parents=True, exist_ok=True)
            (code / f).touch()
        (code / ".git").mkdir()
        (code / ".git/zeb.json").write_text(json.dumps({"url": url, "branch": branch}))
    path = tmp / "onstart.sh"
    path.write_text(script)
    full_env = {**env, "PATH": str(bin_dir), "HOME": "/root", "TZ": "UTC", "ZEB_STUB_BIN": str(bin_dir),
                "PYTHONPATH": str(STUBS.parent.parent.parent)}
    # The test's own interpreter may live under /root (pyenv): that directory stays visible in the new /root.
    mount = shutil.which("mount")
    keep = [Path("/root", d) for d in {p.relative_to("/root").parts[0] for p in (Path(sys.executable).resolve(),)
                                       if p.is_relative_to("/root")}]
    binds = "".join(f'mkdir -p "$0/{d.name}" && {mount} --bind {d} "$0/{d.name}" && ' for d in keep)
    done = subprocess.run([shutil.which("unshare") or "unshare", "--mount", "/bin/sh", "-c",
                           f'{binds}{mount} --rbind "$0" /root && cd / && exec bash < "$1"',
                           str(root), str(path)], env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=120)
    return done.returncode, done.stdout.splitlines()


_WHY = _can_run()


@pytest.mark.skipif(_WHY is not None, reason=_WHY or "")
def test_the_model_and_real_bash_agree(tmp_path):
    def one(k: int) -> tuple[str, list[str]]:
        name, script, env, image = CASES[k]
        tmp = tmp_path / str(k)
        tmp.mkdir()
        status, lines = _real(tmp, script, env, image)
        plan = run_onstart(script, env=env, image=image)
        model = _normal([ln for step in plan.steps for ln in step.lines])
        marks = [ln for ln in lines if ln.startswith(_MARK)]
        real = _normal([ln for ln in lines if not ln.startswith(_MARK)])
        problems = []
        if (plan.worker is not None) != bool(marks):
            problems.append(f"worker started: model {plan.worker is not None}, bash {bool(marks)}")
        elif plan.worker is not None:
            module, argv = json.loads(marks[0][len(_MARK):])
            from zeb.sim.onstart import _WORKERS
            if module != plan.worker.module or parse_worker_args(_WORKERS[module], argv) != plan.worker.args:
                problems.append(f"worker: model {plan.worker.module} {plan.worker.args}, bash {module} {argv}")
        elif plan.exit_status != status:
            problems.append(f"status: model {plan.exit_status}, bash {status}")
        if model != real:
            problems.append(f"log:\n  model {model}\n  bash  {real}")
        return name, problems

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(len(CASES))))
    failed = {name: problems for name, problems in results if problems}
    assert not failed, "\n".join(f"{name}: {'; '.join(p)}" for name, p in failed.items())
