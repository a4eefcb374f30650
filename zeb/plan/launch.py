"""What one create call sends: image, disk, the worker's env (HF_TOKEN goes here and only here)
and the onstart script, rendered from the fleet config."""

from __future__ import annotations

import math
import re
from typing import Sequence

from zeb.config import FleetConfig
from zeb.plan.types import RankedOffer
from zeb.vast import LaunchSpec


def upload_interval_for(n_workers: int) -> int:
    """Stay under ~100 HF commits/hr (the limit is 128): max(240, ceil(N * 3600 / 100))."""
    return max(240, math.ceil(max(1, n_workers) * 3600 / 100))


def worker_id(label: str) -> str:
    """zeb-large-worker-vast-3 -> worker-vast-3 (the name the worker logs and uploads under)."""
    return "worker-vast-" + label.rsplit("-", 1)[-1]


def launch_env(cfg: FleetConfig, label: str, hf_token: str, n_workers: int) -> dict[str, str]:
    return {
        "HF_TOKEN": hf_token,
        "WORKER_ID": worker_id(label),
        "ZEB_FLEET": cfg.name,
        "ZEB_REPO_ID": cfg.repo_id,
        "ZEB_EXAMPLES_REPO_ID": cfg.examples_repo_id,
        "ZEB_WEIGHTS_NAME": cfg.weights_name,
        "ZEB_UPLOAD_INTERVAL": str(cfg.upload_interval or upload_interval_for(n_workers)),
        "ZEB_GIT_REPO": cfg.git_repo,
        "ZEB_GIT_BRANCH": cfg.git_branch,
    }


def render_onstart(cfg: FleetConfig, label: str) -> str:
    """Only zeb's own `{name}` fields are filled; every other brace (bash `${VAR}`, `{ ...; }`) is left alone."""
    fields = {
        "fleet": cfg.name, "label": label, "worker_id": worker_id(label), "repo_id": cfg.repo_id,
        "examples_repo_id": cfg.examples_repo_id, "weights_name": cfg.weights_name, "git_repo": cfg.git_repo,
        "git_branch": cfg.git_branch, "worker_command": cfg.worker_command,
    }
    return _FIELD.sub(lambda m: fields[m.group(1)] if m.group(1) in fields else m.group(0), cfg.onstart)


_FIELD = re.compile(r"(?<!\$)\{([a-z_]+)\}")


def launch_specs(cfg: FleetConfig, labels: Sequence[str], picked: Sequence[RankedOffer], hf_token: str,
                 n_workers: int) -> list[LaunchSpec]:
    return [
        LaunchSpec(offer_id=p.offer.id, label=label, image=cfg.image, disk_gb=cfg.disk_gb,
                   env=launch_env(cfg, label, hf_token, n_workers), onstart=render_onstart(cfg, label))
        for label, p in zip(labels, picked)
    ]
