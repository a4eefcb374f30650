"""fleets.toml + env overrides -> one frozen FleetConfig that remembers where each value came from.

INTERFACE CONTRACT (shared with every command) -- keep these names and fields.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import cast

from zeb.core.alerts import EVENTS as NOTIFY_EVENTS
from zeb.core.alerts import FORMATS as NOTIFY_FORMATS
from zeb.core.alerts import NotifySettings
from zeb.core.domain import gpu_cli_name, gpu_name
from zeb.core.errors import ConfigError, UsageError
from zeb.core.paths import (
    SCRIPTS_BLACKLIST,
    SCRIPTS_PREFERRED,
    config_path,
    user_config_path,  # noqa: F401  (re-exported)
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Thresholds:
    """Monitor policy thresholds (seconds unless named otherwise); defaults are the runbook's."""

    fatal_grace_s: float = 300.0
    boot_timeout_s: float = 600.0
    setup_timeout_s: float = 600.0
    no_progress_s: float = 900.0
    # A stall is confirmed by two observations of the same batch (one poll after the one that saw it)
    # spanning 2.5 of the worker's own batch periods.
    stall_polls: int = 1
    strikes_to_block: int = 3
    young_s: float = 120.0
    upgrade_margin: float = 0.15
    trial_timeout_s: float = 900.0
    trial_cooldown_s: float = 1800.0
    # While waiting for credit, the account (one cheap call) is checked at most this often; 0: every cycle,
    # so the cycle that sees the balance back also launches.
    credit_probe_s: float = 0.0
    inflight_expiry_s: float = 600.0
    stuck_loading_s: float = 600.0
    fast_interval_s: float = 90.0
    slow_interval_s: float = 300.0
    poll_concurrency: int = 8
    poll_timeout_s: float = 12.0
    log_tail: int = 200
    # Examples arriving on HF (the runbook's manual check): a producing worker whose uploads have not reached
    # the examples repo for more than `examples_stale_uploads` upload intervals is flagged; replaced (no
    # strike) once flagged for `examples_replace_s`.
    examples_stale_uploads: int = 3
    examples_replace_s: float = 1800.0
    # A worker whose log cannot be read ("not seen") keeps its state and gets no strike; after this long
    # unseen it is judged from what Vast reports and replaced without a strike.
    unseen_replace_s: float = 900.0
    # Per-worker polling: a worker in flux (starting, erroring) is read this often; a producing one at the
    # slow interval, or as soon as a stall could be confirmed.
    flux_poll_s: float = 120.0
    # A producing worker whose examples keep reaching HF (one listing for the whole fleet) has its log read
    # only this often; one whose uploads stopped is read at once.
    healthy_poll_s: float = 1200.0
    # Upgrade trials: how often a full, healthy fleet looks for a clearly better offer (one offer search).
    upgrade_check_s: float = 1800.0
    # Fleet-level faults (zeb.plan.fleetfault): the same failure on two machines within this window is the
    # fleet's, not the hosts'; while a code or image fault holds the fleet, one canary per probe interval.
    fleet_fault_window_s: float = 3600.0
    probe_interval_s: float = 900.0


def mask_url(url: str) -> str:
    """scheme://host/... : a webhook's path is its secret, so only the scheme and host are ever shown."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
    except ValueError:
        return "***"
    return f"{parts.scheme}://{host}/***"


@dataclass(frozen=True, repr=False)
class Notify(NotifySettings):
    """[notify]: alerts to a webhook (README "Alerts"); no webhook, no alerts."""

    webhook: str | None = None
    format: str = "slack"

    def __repr__(self) -> str:
        # `zeb config show` prints str(cfg.notify): the webhook masked like a token.
        hook = mask_url(self.webhook) if self.webhook else None
        return (f"Notify(webhook={hook}, events={list(self.events)}, "
                f"below_target_minutes={self.below_target_minutes:g}, cooldown_minutes={self.cooldown_minutes:g}, "
                f"format={self.format})")


@dataclass(frozen=True)
class FleetConfig:
    name: str
    image: str
    disk_gb: float
    max_dph: float
    gpus: tuple[str, ...]                  # Vast spelling with spaces: ("RTX 3070", "RTX 4070 Ti")
    repo_id: str
    examples_repo_id: str
    weights_name: str
    git_repo: str
    git_branch: str
    upload_interval: int | None            # None: auto, max(240, ceil(N * 3600 / 100))
    target_workers: int
    expected_gps: Mapping[str, float]      # GPU (spaces) -> expected games/s per GPU
    onstart: str                           # template; {placeholders} filled per worker
    worker_command: str | None             # None: the worker mode's own command (WORKER_COMMANDS)
    blacklist_file: str | None             # ZEB_BLACKLIST: the scripts' bad-hosts.txt, kept in step both ways
    preferred_file: str | None = None      # ZEB_PREFERRED: the scripts' preferred-hosts.txt (machine_id<TAB>games/s)
    # What the worker runs: `selfplay` (forge.zeb.worker.run) or `eval_aux` (forge.zeb.worker.run_eval_aux,
    # which also reads the oracle checkpoint and the eq_* settings). Env names are the scripts' (ZEB_EQ_*).
    worker_mode: str = "selfplay"
    oracle_checkpoint: str = "forge/models/domino-qval-large-3.3M-qgap0.071-qmae0.94.ckpt"
    eq_n_samples: int = 100
    eq_games_per_batch: int = 128
    eq_batch_size: int = 0
    eq_temperature: float = 0.1
    eq_policy_targets: bool = False
    worker_env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # extra instance env
    worker_args: tuple[str, ...] = ()      # extra worker arguments, appended (argparse: the last one wins)
    # A fleet pinned to one commit of git_branch (a full 40-hex sha): every worker runs exactly that code.
    git_commit: str | None = None
    # "last-good": while the branch head crashes on every machine, replacements run the newest commit that
    # produced, until a canary on the head produces. None: replacements wait (one canary per probe interval).
    pin: str | None = None
    # The marketplace the fleet rents from: a name of zeb.adapters.registry.MARKETS (ZEB_MARKET).
    market: str = "vast"
    declared: bool = True                  # the fleet has a [fleets.NAME] section
    config_file: str | None = None         # the fleets.toml read; None: none exists, built-ins apply
    thresholds: Thresholds = field(default_factory=Thresholds)
    notify: Notify = field(default_factory=Notify)
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


# -- loading and resolving ----------------------------------------------------------------------


# The variables that name paths (ZEB_HOME, ZEB_CONFIG, ZEB_RUNTIME_DIR) are zeb.core.paths'.
ENV_FLEET = "ZEB_FLEET"
ENV_NOTIFY_WEBHOOK = "ZEB_NOTIFY_WEBHOOK"
# Legacy variables of the scripts, by the FleetConfig field they set.
ENV_FIELDS = {
    "weights_name": "ZEB_WEIGHTS_NAME",
    "repo_id": "ZEB_REPO_ID",
    "examples_repo_id": "ZEB_EXAMPLES_REPO_ID",
    "max_dph": "ZEB_MAX_DPH",
    "gpus": "ZEB_GPUS",
    "blacklist_file": "ZEB_BLACKLIST",
    "preferred_file": "ZEB_PREFERRED",
    "upload_interval": "ZEB_UPLOAD_INTERVAL",
    "worker_mode": "ZEB_WORKER_MODE",
    "oracle_checkpoint": "ZEB_ORACLE_CHECKPOINT",
    "eq_n_samples": "ZEB_EQ_N_SAMPLES",
    "eq_games_per_batch": "ZEB_EQ_GAMES_PER_BATCH",
    "eq_batch_size": "ZEB_EQ_BATCH_SIZE",
    "eq_temperature": "ZEB_EQ_TEMPERATURE",
    "eq_policy_targets": "ZEB_EQ_POLICY_TARGETS",
    "market": "ZEB_MARKET",
}
DEFAULT_FLEET = "zeb"
# The most workers one fleet may hold. Past this, Hugging Face's 128 commits/hr stretch each worker's
# upload interval past two hours, and a typo (`zeb up 100000`) would rent the whole market.
MAX_WORKERS = 200
# The store names a directory after the fleet: keep names that are safe as one path segment.
_FLEET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

# What a worker needs, from the user's scripts (vast_up.sh, vast_monitor.sh): the worker repository has
# no installable root package, so its only dependency step is huggingface_hub (torch is in the image).
# The pre-built worker image already holds the code in /root/code: the script then only updates it to
# the fleet's branch, so choosing that image is one line (`image = "jasonyandell/zeb-worker:latest"`).
DEFAULT_IMAGE = "pytorch/pytorch:2.6.0-cuda12.6-cudnn9-runtime"
WORKER_IMAGE = "jasonyandell/zeb-worker:latest"

DEFAULT_ONSTART = r"""#!/bin/bash
# zeb worker onstart (fleet {fleet}). Secrets arrive in the environment (HF_TOKEN), never in this script.
set -e
exec > >(tee -a /root/onstart.log) 2>&1
echo "=== Setup started at $(date) ==="
if [ -d /root/code/.git ]; then
    cd /root/code
    git remote set-url origin "$ZEB_GIT_REPO"
    git fetch -q --depth 1 origin "$ZEB_GIT_BRANCH" && git checkout -q -B "$ZEB_GIT_BRANCH" FETCH_HEAD && echo "code updated" || echo "code update failed; running the image's code"
else
    command -v git >/dev/null || (apt-get update -qq && apt-get install -y -qq git >/dev/null)
    echo "git installed"
    git clone -q --depth 1 --branch "$ZEB_GIT_BRANCH" "$ZEB_GIT_REPO" /root/code
    echo "repo cloned"
    pip install -q huggingface_hub
    echo "deps installed"
fi
cd /root/code
# A pinned fleet (git_commit, or the monitor's last commit that produced) runs exactly that commit.
if [ -n "$ZEB_GIT_COMMIT" ]; then
    git fetch -q --depth 1 origin "$ZEB_GIT_COMMIT"
    git checkout -q FETCH_HEAD
fi
echo "code at $(git rev-parse HEAD) ($ZEB_GIT_BRANCH)"
# No login step: huggingface_hub reads HF_TOKEN from the environment (a login would write the token to the
# rented machine's disk), and the huggingface_hub pip installs today has no huggingface-cli.
python -c "import torch; assert torch.cuda.is_available(), 'No CUDA'; print('GPU OK:', torch.cuda.get_device_name(0))"
echo "=== Starting worker $WORKER_ID ($ZEB_WORKER_MODE) at $(date) ==="
exec {worker_command}
"""  # noqa: E501 -- a shell script, kept line for line as it runs on the instance

# The worker commands with every flag the scripts pass. Values that vary per fleet come from the
# instance env (the scripts' names), so one rendered script serves every worker of a fleet.
WORKER_COMMANDS = {
    "selfplay": (
        'python -u -m forge.zeb.worker.run --repo-id "$ZEB_REPO_ID" --examples-repo-id "$ZEB_EXAMPLES_REPO_ID" '
        '--worker-id "$WORKER_ID" --device cuda --n-parallel-games 128 --n-simulations 200 '
        '--max-mcts-nodes 512 --games-per-batch 256 --weights-name "$ZEB_WEIGHTS_NAME" '
        '--weight-sync-interval 2 --upload-interval "$ZEB_UPLOAD_INTERVAL"'
    ),
    "eval_aux": (
        'python -u -m forge.zeb.worker.run_eval_aux --repo-id "$ZEB_REPO_ID" '
        '--examples-repo-id "$ZEB_EXAMPLES_REPO_ID" --worker-id "$WORKER_ID" --device cuda '
        '--checkpoint "$ZEB_ORACLE_CHECKPOINT" --n-samples "$ZEB_EQ_N_SAMPLES" '
        '--games-per-batch "$ZEB_EQ_GAMES_PER_BATCH" --eval-batch-size "$ZEB_EQ_BATCH_SIZE" '
        '--zeb-temperature "$ZEB_EQ_TEMPERATURE" {eq_policy_flag} --weights-name "$ZEB_WEIGHTS_NAME" '
        '--weight-sync-interval 2 --upload-interval "$ZEB_UPLOAD_INTERVAL"'
    ),
}
WORKER_MODES = tuple(WORKER_COMMANDS)

DEFAULT_EXPECTED_GPS = {
    "RTX 3060": 1.4, "RTX 3060 Ti": 1.8, "RTX 3070": 2.2, "RTX 3070 Ti": 2.7, "RTX 3080": 3.0,
    "RTX 3080 Ti": 2.8, "RTX 3090": 3.2, "RTX 4060": 2.4, "RTX 4060 Ti": 2.8, "RTX 4070": 3.3,
    "RTX 4070 Ti": 4.2, "RTX 4080": 5.0, "RTX 4090": 6.0,
}

BUILT_IN: dict[str, object] = {
    "image": DEFAULT_IMAGE,
    "disk_gb": 15.0,
    "max_dph": 0.09,
    # The current scripts' list (vast_monitor.sh), RTX 40 series included.
    "gpus": ("RTX 3060", "RTX 3060 Ti", "RTX 3070", "RTX 3070 Ti", "RTX 3080", "RTX 3080 Ti", "RTX 3090",
             "RTX 4060", "RTX 4060 Ti", "RTX 4070", "RTX 4070 Ti"),
    "repo_id": "jasonyandell/zeb-42",
    "examples_repo_id": "jasonyandell/zeb-42-examples",
    "weights_name": "zeb-557k-1m",
    "git_repo": "https://github.com/jasonyandell/mk5-main.git",
    "git_branch": "forge",
    "upload_interval": None,
    "target_workers": 4,
    "expected_gps": DEFAULT_EXPECTED_GPS,
    "onstart": DEFAULT_ONSTART,
    "worker_command": None,
    "blacklist_file": SCRIPTS_BLACKLIST,
    "preferred_file": SCRIPTS_PREFERRED,
    "worker_mode": "selfplay",
    "oracle_checkpoint": "forge/models/domino-qval-large-3.3M-qgap0.071-qmae0.94.ckpt",
    "eq_n_samples": 100,
    "eq_games_per_batch": 128,
    "eq_batch_size": 0,
    "eq_temperature": 0.1,
    "eq_policy_targets": False,
    "worker_env": {},
    "worker_args": (),
    "git_commit": None,
    "pin": None,
    "market": "vast",
}
PIN_MODES = ("last-good",)
_SHA = re.compile(r"[0-9a-f]{40}")

_STR_KEYS = {"image", "repo_id", "examples_repo_id", "weights_name", "git_repo", "git_branch", "onstart",
             "worker_command", "blacklist_file", "preferred_file", "oracle_checkpoint", "market"}
# Whole numbers and their lowest allowed value.
_INT_KEYS = {"target_workers": 0, "upload_interval": 1, "eq_n_samples": 1, "eq_games_per_batch": 1,
             "eq_batch_size": 0}
_KEYS = set(BUILT_IN) | {"thresholds", "notify"}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Env the launch itself sets: a fleet's worker_env may not replace the worker's identity or its token.
RESERVED_ENV = frozenset({"HF_TOKEN", "WORKER_ID"})
_THRESHOLD_TYPES = {f.name: f.type for f in Thresholds.__dataclass_fields__.values()}




def load_file(path: Path) -> dict:
    """Parse and validate fleets.toml; a missing file is an empty config (built-ins apply)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        # utf-8-sig: editors on Windows save a byte-order mark that TOML itself does not allow.
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for key in data:
        if key not in ("defaults", "fleets"):
            raise ConfigError(f"{path}: unknown top-level key '{key}' (expected [defaults] and [fleets.NAME])")
    _check_table(path, "defaults", data.get("defaults", {}))
    fleets = data.get("fleets", {})
    if not isinstance(fleets, dict):
        raise ConfigError(f"{path}: 'fleets' must be a table of [fleets.NAME] tables")
    for name, table in fleets.items():
        _check_table(path, f"fleets.{name}", table)
    return data


def _check_table(path: Path, where: str, table) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {where} must be a table")
    for key, value in table.items():
        _check_value(path, f"{where}.{key}", key, value)


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _check_value(path: Path, dotted: str, key: str, value) -> None:
    def bad(problem: str) -> ConfigError:
        return ConfigError(f"{path}: {dotted}: {problem}")

    if key not in _KEYS:
        raise bad(f"unknown key (known: {', '.join(sorted(_KEYS))})")
    if key == "worker_env":
        if not isinstance(value, dict):
            raise bad('must be a table of NAME = "value"')
        for name, v in value.items():
            _check_env_entry(name, v, lambda problem, n=name: ConfigError(f"{path}: {dotted}.{n}: {problem}"))
    elif key == "expected_gps":
        if not isinstance(value, dict):
            raise bad("must be a table of GPU name = games/s")
        for gpu, gps in value.items():
            if not _is_number(gps) or gps <= 0:
                raise ConfigError(f"{path}: {dotted}.{gpu}: must be a positive number")
    elif key == "thresholds":
        if not isinstance(value, dict):
            raise bad("must be a table")
        for name, v in value.items():
            _check_threshold(f"{path}: {dotted}.{name}", name, v)
    elif key == "notify":
        if not isinstance(value, dict):
            raise bad("must be a table")
        for name, v in value.items():
            _check_notify(f"{path}: {dotted}.{name}", name, v)
    else:
        _check_flat(key, value, bad)


_NOTIFY_KEYS = ("webhook", "events", "below_target_minutes", "cooldown_minutes", "format")


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def webhook_problem(value: object) -> str | None:
    """Why `value` cannot be a webhook URL, in words that never quote it (its path and any password are
    secrets); None when it can. One rule for fleets.toml and ZEB_NOTIFY_WEBHOOK alike: http or https, a
    host name of DNS labels or an IP address, a port in range, no spaces or control characters anywhere.
    user:password@ is allowed (sent as HTTP basic auth, never as part of the host)."""
    import ipaddress
    from urllib.parse import urlsplit

    if not isinstance(value, str) or not value.strip():
        return "must be an http:// or https:// URL"
    text = value.strip()
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return "must be an http:// or https:// URL without spaces or control characters"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return "must be an http:// or https:// URL with a valid host and port"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    host = parts.hostname or ""
    if not host:
        return "must be an http:// or https:// URL with a host"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.rstrip(".").split(".")
        if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
            return "must be an http:// or https:// URL whose host is a valid name or IP address"
    if port is not None and not 0 < port < 65536:
        return "must be an http:// or https:// URL with a port from 1 to 65535"
    return None


def _check_notify(where: str, name: str, value) -> None:
    # Never quote a webhook in an error: its path is the secret.
    if name not in _NOTIFY_KEYS:
        raise ConfigError(f"{where}: unknown key (known: {', '.join(_NOTIFY_KEYS)})")
    if name == "webhook" and (problem := webhook_problem(value)) is not None:
        raise ConfigError(f"{where}: {problem}")
    if name == "events":
        if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
            raise ConfigError(f"{where}: must be a list of event names ({', '.join(NOTIFY_EVENTS)})")
        unknown = [e for e in value if e not in NOTIFY_EVENTS]
        if unknown:
            raise ConfigError(f"{where}: unknown event {unknown[0]!r} (known: {', '.join(NOTIFY_EVENTS)})")
    if name in ("below_target_minutes", "cooldown_minutes") and (not _is_number(value) or value < 0):
        raise ConfigError(f"{where}: must be a number of minutes, 0 or more")
    if name == "format" and value not in NOTIFY_FORMATS:
        raise ConfigError(f"{where}: must be one of {', '.join(NOTIFY_FORMATS)}")


def _build_notify(table: Mapping[str, object]) -> Notify:
    kwargs: dict[str, object] = {}
    for name, value in table.items():
        if name == "events":
            kwargs[name] = tuple(cast("list[str]", value))
        elif name in ("below_target_minutes", "cooldown_minutes"):
            kwargs[name] = float(cast("float", value))
        elif name == "webhook":
            kwargs[name] = cast("str", value).strip()
        else:
            kwargs[name] = value
    return Notify(**kwargs)  # type: ignore[arg-type]


def _check_flat(key: str, value, bad: Callable[[str], ConfigError]) -> None:
    """A key whose value is a string, a number or a list (no table of its own)."""
    if key in _STR_KEYS:
        if not isinstance(value, str) or not value.strip():
            raise bad("must be a non-empty string")
    elif key in ("max_dph", "disk_gb"):
        if not _is_number(value):
            raise bad(f"must be a number, not {value!r}")
        if value <= 0:
            raise bad("must be greater than 0")
    elif key in _INT_KEYS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad(f"must be a whole number, not {type(value).__name__}")
        if value < _INT_KEYS[key]:
            low = _INT_KEYS[key]
            raise bad("must not be negative" if low == 0 else
                      f"must be at least {low}" + (" second" if key == "upload_interval" else ""))
    elif key == "eq_temperature":
        if not _is_number(value) or value < 0:
            raise bad("must be a number of 0 or more")
    elif key == "eq_policy_targets":
        if not isinstance(value, bool):
            raise bad("must be true or false")
    elif key == "worker_mode":
        if value not in WORKER_MODES:
            raise bad(f"must be one of {', '.join(WORKER_MODES)} (got {value!r})")
    elif key == "git_commit":
        if not isinstance(value, str) or not _SHA.fullmatch(value.strip().lower()):
            raise bad("must be a full 40-character commit id (git rev-parse HEAD): a short id cannot be fetched")
    elif key == "pin":
        if value not in PIN_MODES:
            raise bad(f"must be one of {', '.join(repr(m) for m in PIN_MODES)} (got {value!r})")
    elif key == "worker_args":
        if not isinstance(value, list) or not all(isinstance(a, str) and a for a in value):
            raise bad('must be a list of strings, e.g. ["--temperature", "0.8"]')
    elif key == "gpus":
        if not isinstance(value, list) or not all(isinstance(g, str) and g.strip() for g in value):
            raise bad("must be a list of GPU names, e.g. [\"RTX_3070\", \"RTX_4070_Ti\"]")
        if not value:
            raise bad("must name at least one GPU")


def _check_threshold(where: str, name: str, value) -> None:
    if name not in _THRESHOLD_TYPES:
        raise ConfigError(f"{where}: unknown threshold (known: {', '.join(sorted(_THRESHOLD_TYPES))})")
    if not _is_number(value):
        raise ConfigError(f"{where}: must be a number")
    if value < 0 or (name in ("poll_concurrency", "stall_polls", "strikes_to_block", "log_tail") and value < 1):
        raise ConfigError(f"{where}: out of range")


def _check_env_entry(name: str, value, bad) -> None:
    if not _ENV_NAME.fullmatch(name):
        raise bad("not a valid environment variable name")
    if name in RESERVED_ENV:
        raise bad("is set by zeb itself for every worker")
    if isinstance(value, (dict, list)) or (isinstance(value, float) and not math.isfinite(value)):
        raise bad("must be a string, number or boolean")


def _env_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _normalise(key: str, value):
    if key == "gpus":
        return tuple(gpu_name(g) for g in value)
    if key == "expected_gps":
        return {gpu_name(g): float(v) for g, v in value.items()}
    if key in ("max_dph", "disk_gb", "eq_temperature"):
        return float(value)
    if key == "worker_env":
        return {k: _env_text(v) for k, v in value.items()}
    if key == "worker_args":
        return tuple(value)
    if key == "git_commit":
        return value.strip().lower()
    return value


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _from_env(key: str, raw: str, var: str):
    raw = raw.strip()
    if key in ("max_dph", "eq_temperature"):
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        low_ok = value >= 0 if key == "eq_temperature" else value > 0
        if not math.isfinite(value) or not low_ok:
            raise ConfigError(f"environment {var}={raw!r}: must be a "
                              f"{'number of 0 or more' if key == 'eq_temperature' else 'positive number'}")
        return value
    if key in _INT_KEYS:
        low = _INT_KEYS[key]
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if value < low:
            raise ConfigError(f"environment {var}={raw!r}: must be a whole number of at least {low}")
        return value
    if key == "eq_policy_targets":
        if raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
        raise ConfigError(f"environment {var}={raw!r}: must be true or false")
    if key == "worker_mode":
        if raw not in WORKER_MODES:
            raise ConfigError(f"environment {var} must be {' or '.join(WORKER_MODES)} (got: {raw})")
        return raw
    if key == "gpus":
        names = raw.replace(",", " ").split()
        if not names:
            raise ConfigError(f"environment {var} is empty: name at least one GPU, e.g. \"RTX_3070 RTX_3080\"")
        return tuple(gpu_name(n) for n in names)
    return raw


def fleet_name(fleet: str | None, env: Mapping[str, str]) -> str:
    """--fleet, else ZEB_FLEET (unset or empty: the default, as the scripts' ${ZEB_FLEET:-zeb} did).
    An explicitly empty --fleet is refused: it is a script's unset variable, not a wish for fleet zeb."""
    if fleet is not None:
        if not fleet.strip():
            raise UsageError("--fleet is empty (an unset variable in a script?); name a fleet, e.g. --fleet zeb")
        return fleet.strip()
    return (env.get(ENV_FLEET) or "").strip() or DEFAULT_FLEET


def resolve(fleet: str | None = None, flags: Mapping[str, object] | None = None,
            env: Mapping[str, str] | None = None, markets: Collection[str] | None = None) -> FleetConfig:
    """flag > env > [fleets.NAME] > [defaults] > built-in, with the source of every value. A fleet that
    fleets.toml does not declare runs on the built-ins, [defaults] and env, as the scripts did. `markets`
    are the marketplaces zeb can build (zeb.adapters.registry.MARKETS, which this floor cannot import):
    the fleet's `market` must be one of them; None leaves the name unchecked."""
    env = dict(os.environ) if env is None else env
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    path = config_path(env)
    data = load_file(path)
    name = fleet_name(fleet, env)
    if not _FLEET_NAME.fullmatch(name):
        raise UsageError(f"fleet name {name!r} is not valid: letters, digits, '.', '_' and '-', "
                         "starting with a letter or digit (at most 64)")
    fleets = data.get("fleets", {})
    values: dict[str, object] = dict(BUILT_IN)
    sources = dict.fromkeys(BUILT_IN, "built-in")
    thresholds: dict[str, float] = {}
    t_sources = {}
    notify: dict[str, object] = {}
    for label, table in ((f"{path.name} [defaults]", data.get("defaults", {})),
                         (f"{path.name} [fleets.{name}]", fleets.get(name, {}))):
        for key, value in table.items():
            if key == "thresholds":
                thresholds.update(value)
                t_sources.update({f"thresholds.{k}": label for k in value})
                continue
            if key == "notify":
                # Per key, as thresholds: a fleet's [notify] changes what it names; [defaults.notify] the rest.
                notify.update(value)
                t_sources.update({f"notify.{k}": label for k in value})
                continue
            if key == "expected_gps":
                # Per GPU: a table names the figures it changes; the others keep theirs.
                values[key] = {**values[key], **_normalise(key, value)}  # type: ignore[dict-item]
            else:
                values[key] = _normalise(key, value)
            sources[key] = label
    if env.get(ENV_NOTIFY_WEBHOOK, "").strip():
        if (problem := webhook_problem(env[ENV_NOTIFY_WEBHOOK])) is not None:
            raise ConfigError(f"environment {ENV_NOTIFY_WEBHOOK}: {problem}")
        notify["webhook"] = env[ENV_NOTIFY_WEBHOOK]
        t_sources["notify.webhook"] = f"env {ENV_NOTIFY_WEBHOOK}"
    for key, var in ENV_FIELDS.items():
        if env.get(var, "").strip():
            values[key] = _from_env(key, env[var], var)
            sources[key] = f"env {var}"
    for key, value in flags.items():
        if key == "gpus":
            value = tuple(gpu_name(g) for g in cast("Iterable[str]", value))   # the CLI passes a list of names
        values[key] = value
        sources[key] = f"flag --{key.replace('_', '-')}"
    if not isinstance(values["target_workers"], int) or not 0 <= values["target_workers"] <= MAX_WORKERS:
        raise ConfigError(f"target_workers {values['target_workers']} is out of range 0-{MAX_WORKERS} "
                          f"(from {sources['target_workers']})")
    max_dph = values["max_dph"]
    if not isinstance(max_dph, float) or not math.isfinite(max_dph) or max_dph <= 0:
        raise ConfigError(f"max_dph must be a number greater than 0 (from {sources['max_dph']})")
    if not values["gpus"]:
        raise ConfigError(f"the GPU list is empty (from {sources['gpus']})")
    _check_gpus(values["gpus"], values["expected_gps"], sources["gpus"])  # type: ignore[arg-type]
    if markets is not None and values["market"] not in markets:
        raise ConfigError(f"unknown market {values['market']!r} (from {sources['market']}); "
                          f"known: {', '.join(markets)}")
    sources["name"] = ("flag --fleet" if fleet is not None else
                       (f"env {ENV_FLEET}" if (env.get(ENV_FLEET) or "").strip() else "built-in"))
    sources.update(t_sources)
    t = Thresholds(**{k: _cast_threshold(k, v) for k, v in thresholds.items()})
    return FleetConfig(name=name, thresholds=t, notify=_build_notify(notify), sources=MappingProxyType(sources),
                       expected_gps=MappingProxyType(dict(values.pop("expected_gps"))),  # type: ignore[call-overload]
                       worker_env=MappingProxyType(dict(values.pop("worker_env"))),  # type: ignore[call-overload]
                       declared=name in fleets, config_file=str(path) if path.exists() else None,
                       **values)  # type: ignore[arg-type]


def _check_gpus(gpus, expected: Mapping[str, float], source: str) -> None:
    """Every GPU of the list must be one zeb can rank: it has a games/s figure (built in, or under
    expected_gps). A typo ("RTX_3008") or an empty name would otherwise search for nothing, silently."""
    for gpu in gpus:
        if not gpu.strip():
            raise ConfigError(f"an empty GPU name (from {source}); name one, e.g. RTX_3080")
        if gpu not in expected:
            known = ", ".join(gpu_cli_name(g) for g in expected)
            name = gpu_cli_name(gpu)
            raise ConfigError(f"unknown GPU {name!r} (from {source}): zeb has no games/s figure for it; "
                              f"fix the name or add expected_gps.{name} = N to fleets.toml (known: {known})")


def _cast_threshold(name: str, value):
    return int(value) if _THRESHOLD_TYPES[name] in ("int", int) else float(value)


def fleet_names(env: Mapping[str, str]) -> list[str]:
    data = load_file(config_path(env))
    return sorted(set(data.get("fleets", {})) | {DEFAULT_FLEET})


def starter_document() -> dict:
    gpus = [gpu_cli_name(g) for g in BUILT_IN["gpus"]]  # type: ignore[attr-defined]
    return {
        "defaults": {
            "image": BUILT_IN["image"], "disk_gb": BUILT_IN["disk_gb"], "max_dph": BUILT_IN["max_dph"], "gpus": gpus,
            "repo_id": BUILT_IN["repo_id"], "examples_repo_id": BUILT_IN["examples_repo_id"],
            "git_repo": BUILT_IN["git_repo"], "git_branch": BUILT_IN["git_branch"],
            "worker_mode": BUILT_IN["worker_mode"],
            "expected_gps": {gpu_cli_name(k): v for k, v in DEFAULT_EXPECTED_GPS.items()},
        },
        "fleets": {
            "zeb": {"weights_name": "zeb-557k-1m", "target_workers": 4},
            "zeb-large": {"weights_name": "large", "target_workers": 8},
        },
    }


def write_starter(path: Path, force: bool = False) -> Path:
    import tomli_w

    from zeb.core.files import atomic_write_bytes

    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, tomli_w.dumps(starter_document()).encode())
    return path
