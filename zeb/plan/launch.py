"""What one create call sends: image, disk, the worker's env (HF_TOKEN goes here and only here)
and the onstart script, rendered from the fleet config; the fleet's one upload interval."""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Sequence

from zeb.core.config import WORKER_COMMANDS, FleetConfig
from zeb.core.domain import LaunchSpec
from zeb.core.errors import ConfigError
from zeb.plan.fleet import VAST_WORD, parse_label
from zeb.plan.types import RankedOffer

# Shorter "tokens" (test stand-ins like "t") would match ordinary script text; real HF tokens are ~37 chars.
_MIN_TOKEN_CHECK = 8


HF_COMMITS_PER_HOUR = 128


def upload_interval_for(n_workers: int) -> int:
    """Stay under ~100 HF commits/hr (the limit is 128): max(240, ceil(N * 3600 / 100))."""
    return max(240, math.ceil(max(1, n_workers) * 3600 / 100))


def fleet_upload_interval(cfg: FleetConfig, fleet_size: int = 0) -> int:
    """The one upload interval of a fleet, whichever command launches: a pinned value (config or
    ZEB_UPLOAD_INTERVAL) wins; else the runbook's rule over the fleet's target size, or over the size a
    command is taking the fleet to when that is larger (more workers must upload less often)."""
    return cfg.upload_interval or upload_interval_for(max(cfg.target_workers, fleet_size))


def commits_per_hour(cfg: FleetConfig, fleet_size: int = 0) -> float:
    n = max(cfg.target_workers, fleet_size, 1)
    return n * 3600 / fleet_upload_interval(cfg, fleet_size)


def upload_banner(cfg: FleetConfig, fleet_size: int = 0) -> str:
    """`upload every 240s -> ~60 commits/hr (HF limit 128/hr)`, with a warning past the limit."""
    interval = fleet_upload_interval(cfg, fleet_size)
    commits = commits_per_hour(cfg, fleet_size)
    over = "  OVER THE LIMIT: uploads will fail" if commits > HF_COMMITS_PER_HOUR else ""
    return f"upload every {interval}s -> ~{math.ceil(commits)} commits/hr (HF limit {HF_COMMITS_PER_HOUR}/hr){over}"


def worker_id(label: str) -> str:
    """zeb-large-worker-vast-3 -> worker-vast-3 (the name the worker logs and uploads under); another
    marketplace's word is kept: zeb-worker-mem-3 -> worker-mem-3."""
    _, sep, rest = label.rpartition("-worker-")
    if sep and rest.rpartition("-")[0]:
        return "worker-" + rest
    return "worker-vast-" + label.rsplit("-", 1)[-1]


def _check_member(cfg: FleetConfig, label: str, word: str) -> None:
    if parse_label(label, cfg.name, word) is None:
        raise ValueError(f"{label!r} is not a worker label of fleet {cfg.name!r}")


def launch_env(cfg: FleetConfig, label: str, hf_token: str, fleet_size: int = 0,
               commit: str | None = None, *, word: str = VAST_WORD) -> dict[str, str]:
    """The instance env, in the scripts' names (a worker launched by zeb or by the scripts looks the
    same). The fleet's extra `worker_env` comes first so that it can never replace zeb's own values.
    `commit` (else the fleet's git_commit) pins the worker's code: the onstart checks it out."""
    _check_member(cfg, label, word)
    pinned = commit or cfg.git_commit
    return {
        **cfg.worker_env,
        "HF_TOKEN": hf_token,
        "WORKER_ID": worker_id(label),
        "ZEB_FLEET": cfg.name,
        "ZEB_REPO_ID": cfg.repo_id,
        "ZEB_EXAMPLES_REPO_ID": cfg.examples_repo_id,
        "ZEB_WEIGHTS_NAME": cfg.weights_name,
        "ZEB_UPLOAD_INTERVAL": str(fleet_upload_interval(cfg, fleet_size)),
        "ZEB_GIT_REPO": cfg.git_repo,
        "ZEB_GIT_BRANCH": cfg.git_branch,
        "ZEB_WORKER_MODE": cfg.worker_mode,
        "ZEB_ORACLE_CHECKPOINT": cfg.oracle_checkpoint,
        "ZEB_EQ_N_SAMPLES": str(cfg.eq_n_samples),
        "ZEB_EQ_GAMES_PER_BATCH": str(cfg.eq_games_per_batch),
        "ZEB_EQ_BATCH_SIZE": str(cfg.eq_batch_size),
        "ZEB_EQ_TEMPERATURE": f"{cfg.eq_temperature:g}",
        "ZEB_EQ_POLICY_TARGETS": "true" if cfg.eq_policy_targets else "false",
        **({"ZEB_GIT_COMMIT": pinned} if pinned else {}),
    }


def worker_command(cfg: FleetConfig) -> str:
    """The worker's command line: the mode's (or the fleet's own) command, then the fleet's extra
    arguments, each shell-quoted (argparse keeps the last value, so an extra flag overrides a default)."""
    base = cfg.worker_command or WORKER_COMMANDS[cfg.worker_mode]
    policy = "--eq-policy-targets" if cfg.eq_policy_targets else "--no-eq-policy-targets"
    base = base.replace("{eq_policy_flag}", policy)
    return " ".join([base, *(shlex.quote(a) for a in cfg.worker_args)])


# `{name}` with a lower-case name not preceded by `$`: zeb's placeholders. str.format would choke on
# bash's `${VAR}`, `{ cmd; }` and `{a,b}`; string.Template's `$name` would collide with bash's own
# variables. Unknown names are left as they are, so a script that uses none of these renders unchanged.
_FIELD = re.compile(r"(?<!\$)\{([a-z_]+)\}")


def onstart_fields(cfg: FleetConfig, label: str) -> dict[str, str]:
    """The placeholders an onstart template may use. No secret is ever among them. The worker command
    may use the other fields itself (`--fleet {fleet}`)."""
    fields = {
        "fleet": cfg.name, "label": label, "worker_id": worker_id(label), "repo_id": cfg.repo_id,
        "examples_repo_id": cfg.examples_repo_id, "weights_name": cfg.weights_name, "git_repo": cfg.git_repo,
        "git_branch": cfg.git_branch,
    }
    fields["worker_command"] = _fill(worker_command(cfg), fields)
    return fields


def _fill(template: str, fields: dict[str, str]) -> str:
    return _FIELD.sub(lambda m: fields.get(m.group(1), m.group(0)), template)


def render_onstart(cfg: FleetConfig, label: str) -> str:
    """Only zeb's own `{name}` fields are filled, in one pass (a value, say a repo name with braces, is
    never re-expanded; only the worker command is filled first); every other brace (bash `${VAR}`,
    `{ ...; }`, `{unknown}`) is left alone."""
    return _fill(cfg.onstart, onstart_fields(cfg, label))


def launch_specs(cfg: FleetConfig, labels: Sequence[str], picked: Sequence[RankedOffer], hf_token: str,
                 fleet_size: int = 0, commit: str | None = None, *, word: str = VAST_WORD) -> list[LaunchSpec]:
    """Label i on offer i (extra labels without an offer are not launched). The token goes to the env
    only: an onstart that would carry it (pasted into the config) is refused."""
    specs = []
    for label, p in zip(labels, picked):
        _check_member(cfg, label, word)
        onstart = render_onstart(cfg, label)
        token = (hf_token or "").strip()
        if len(token) >= _MIN_TOKEN_CHECK and token in onstart:
            raise ConfigError(f"the onstart script of fleet {cfg.name} contains the HF token; "
                              "remove it (workers get HF_TOKEN in their environment)")
        specs.append(LaunchSpec(offer_id=p.offer.id, label=label, image=cfg.image, disk_gb=cfg.disk_gb,
                                env=launch_env(cfg, label, hf_token, fleet_size, commit, word=word),
                                onstart=onstart))
    return specs

