"""fleets.toml + env overrides -> one frozen FleetConfig that remembers where each value came from.

INTERFACE CONTRACT (shared with every command) -- keep these names and fields.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from zeb.errors import ConfigError

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
    stall_polls: int = 3
    strikes_to_block: int = 3
    young_s: float = 120.0
    upgrade_margin: float = 0.15
    trial_timeout_s: float = 900.0
    trial_cooldown_s: float = 1800.0
    credit_probe_s: float = 300.0
    inflight_expiry_s: float = 600.0
    stuck_loading_s: float = 600.0
    fast_interval_s: float = 30.0
    slow_interval_s: float = 300.0
    poll_concurrency: int = 8
    poll_timeout_s: float = 12.0
    log_tail: int = 200
    # Examples arriving on HF (the runbook's manual check): a producing worker whose uploads have not reached
    # the examples repo for more than `examples_stale_uploads` upload intervals is flagged; replaced (no
    # strike) once flagged for `examples_replace_s`.
    examples_stale_uploads: int = 3
    examples_replace_s: float = 1800.0


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
    worker_command: str
    blacklist_file: str | None             # ZEB_BLACKLIST: the scripts' bad-hosts.txt, kept in step both ways
    preferred_file: str | None = None      # ZEB_PREFERRED: the scripts' preferred-hosts.txt (machine_id<TAB>games/s)
    thresholds: Thresholds = field(default_factory=Thresholds)
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


# -- loading and resolving ----------------------------------------------------------------------


ENV_CONFIG = "ZEB_CONFIG"
ENV_FLEET = "ZEB_FLEET"
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
}
DEFAULT_FLEET = "zeb"

DEFAULT_ONSTART = r"""#!/bin/bash
# zeb worker onstart. Secrets arrive in the environment (HF_TOKEN), never in this script.
exec > >(tee -a /root/onstart.log) 2>&1
echo "=== Setup started at $(date) ==="
(command -v git >/dev/null || (apt-get update -qq && apt-get install -y -qq git >/dev/null)) && echo "git installed"
rm -rf /root/code && git clone -q --depth 1 -b "$ZEB_GIT_BRANCH" "$ZEB_GIT_REPO" /root/code && echo "repo cloned"
cd /root/code && pip install -q -e . && echo "deps installed"
python -c "import torch; assert torch.cuda.is_available(), 'No CUDA'; print('GPU OK:', torch.cuda.get_device_name(0))" || exit 1
echo "=== Starting worker $WORKER_ID at $(date) ==="
exec {worker_command}
"""

DEFAULT_WORKER_COMMAND = (
    "python -u -m forge.zeb.worker.run --worker-id \"$WORKER_ID\" --repo-id \"$ZEB_REPO_ID\" "
    "--examples-repo-id \"$ZEB_EXAMPLES_REPO_ID\" --weights-name \"$ZEB_WEIGHTS_NAME\" "
    "--upload-interval \"$ZEB_UPLOAD_INTERVAL\""
)

DEFAULT_EXPECTED_GPS = {
    "RTX 3060": 1.4, "RTX 3060 Ti": 1.8, "RTX 3070": 2.2, "RTX 3070 Ti": 2.7, "RTX 3080": 3.0,
    "RTX 3080 Ti": 2.8, "RTX 3090": 3.2, "RTX 4060": 2.4, "RTX 4060 Ti": 2.8, "RTX 4070": 3.3,
    "RTX 4070 Ti": 4.2, "RTX 4080": 5.0, "RTX 4090": 6.0,
}

BUILT_IN: dict[str, object] = {
    "image": "pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime",
    "disk_gb": 20.0,
    "max_dph": 0.09,
    "gpus": ("RTX 3060", "RTX 3060 Ti", "RTX 3070", "RTX 3070 Ti", "RTX 3080", "RTX 3080 Ti", "RTX 3090"),
    "repo_id": "jasonyandell/zeb-42",
    "examples_repo_id": "jasonyandell/zeb-42-examples",
    "weights_name": "zeb-557k-1m",
    "git_repo": "https://github.com/jasonyandell/zeb.git",
    "git_branch": "main",
    "upload_interval": None,
    "target_workers": 4,
    "expected_gps": DEFAULT_EXPECTED_GPS,
    "onstart": DEFAULT_ONSTART,
    "worker_command": DEFAULT_WORKER_COMMAND,
    "blacklist_file": "~/.config/zeb/bad-hosts.txt",
    "preferred_file": "~/.config/zeb/preferred-hosts.txt",
}

_STR_KEYS = {"image", "repo_id", "examples_repo_id", "weights_name", "git_repo", "git_branch", "onstart",
             "worker_command", "blacklist_file", "preferred_file"}
_KEYS = set(BUILT_IN) | {"thresholds"}
_THRESHOLD_TYPES = {f.name: f.type for f in Thresholds.__dataclass_fields__.values()}


def gpu_vast_name(name: str) -> str:
    """RTX_4070_Ti -> "RTX 4070 Ti" (Vast's rows use spaces; the scripts and the CLI query use underscores)."""
    return " ".join(name.replace("_", " ").split())


def gpu_cli_name(name: str) -> str:
    return name.replace(" ", "_")


def user_config_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "zeb" / "fleets.toml"


def config_path(env: Mapping[str, str]) -> Path:
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG]).expanduser()
    local = Path.cwd() / "fleets.toml"
    return local if local.exists() else user_config_path(env)


def load_file(path: Path) -> dict:
    """Parse and validate fleets.toml; a missing file is an empty config (built-ins apply)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
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


def _check_value(path: Path, dotted: str, key: str, value) -> None:
    def bad(problem: str) -> ConfigError:
        return ConfigError(f"{path}: {dotted}: {problem}")

    if key not in _KEYS:
        raise bad(f"unknown key (known: {', '.join(sorted(_KEYS))})")
    if key in _STR_KEYS:
        if not isinstance(value, str) or not value.strip():
            raise bad("must be a non-empty string")
    elif key in ("max_dph", "disk_gb"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(f"must be a number, not {type(value).__name__}")
        if value <= 0:
            raise bad("must be greater than 0")
    elif key in ("target_workers", "upload_interval"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad(f"must be a whole number, not {type(value).__name__}")
        if value < (0 if key == "target_workers" else 1):
            raise bad("must not be negative" if key == "target_workers" else "must be at least 1 second")
    elif key == "gpus":
        if not isinstance(value, list) or not all(isinstance(g, str) and g.strip() for g in value):
            raise bad("must be a list of GPU names, e.g. [\"RTX_3070\", \"RTX_4070_Ti\"]")
        if not value:
            raise bad("must name at least one GPU")
    elif key == "expected_gps":
        if not isinstance(value, dict):
            raise bad("must be a table of GPU name = games/s")
        for gpu, gps in value.items():
            if isinstance(gps, bool) or not isinstance(gps, (int, float)) or gps <= 0:
                raise ConfigError(f"{path}: {dotted}.{gpu}: must be a positive number")
    elif key == "thresholds":
        if not isinstance(value, dict):
            raise bad("must be a table")
        for name, v in value.items():
            if name not in _THRESHOLD_TYPES:
                raise ConfigError(f"{path}: {dotted}.{name}: unknown threshold "
                                  f"(known: {', '.join(sorted(_THRESHOLD_TYPES))})")
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"{path}: {dotted}.{name}: must be a number")
            if v < 0 or (name in ("poll_concurrency", "stall_polls", "strikes_to_block", "log_tail") and v < 1):
                raise ConfigError(f"{path}: {dotted}.{name}: out of range")


def _normalise(key: str, value):
    if key == "gpus":
        return tuple(gpu_vast_name(g) for g in value)
    if key == "expected_gps":
        return {gpu_vast_name(g): float(v) for g, v in value.items()}
    if key in ("max_dph", "disk_gb"):
        return float(value)
    return value


def _from_env(key: str, raw: str, var: str):
    try:
        if key == "max_dph":
            value = float(raw)
            if value <= 0:
                raise ValueError
            return value
        if key == "upload_interval":
            value = int(raw)
            if value < 1:
                raise ValueError
            return value
    except ValueError:
        raise ConfigError(f"environment {var}={raw!r}: must be a positive number") from None
    if key == "gpus":
        names = raw.replace(",", " ").split()
        if not names:
            raise ConfigError(f"environment {var} is empty: name at least one GPU, e.g. \"RTX_3070 RTX_3080\"")
        return tuple(gpu_vast_name(n) for n in names)
    return raw


def resolve(fleet: str | None = None, flags: Mapping[str, object] | None = None,
            env: Mapping[str, str] | None = None) -> FleetConfig:
    """flag > env > [fleets.NAME] > [defaults] > built-in, with the source of every value."""
    env = dict(os.environ) if env is None else env
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    path = config_path(env)
    data = load_file(path)
    name = fleet or env.get(ENV_FLEET) or DEFAULT_FLEET
    fleets = data.get("fleets", {})
    if name not in fleets and name != DEFAULT_FLEET:
        known = ", ".join(sorted(set(fleets) | {DEFAULT_FLEET}))
        raise ConfigError(f"{path}: unknown fleet '{name}' (known: {known})")
    values: dict[str, object] = dict(BUILT_IN)
    sources = {k: "built-in" for k in BUILT_IN}
    thresholds: dict[str, float] = {}
    t_sources = {}
    for label, table in ((f"{path.name} [defaults]", data.get("defaults", {})),
                         (f"{path.name} [fleets.{name}]", fleets.get(name, {}))):
        for key, value in table.items():
            if key == "thresholds":
                thresholds.update(value)
                t_sources.update({f"thresholds.{k}": label for k in value})
                continue
            values[key] = _normalise(key, value)
            sources[key] = label
    for key, var in ENV_FIELDS.items():
        if env.get(var):
            values[key] = _from_env(key, env[var], var)
            sources[key] = f"env {var}"
    for key, value in flags.items():
        if key == "gpus":
            value = tuple(gpu_vast_name(g) for g in value)
        values[key] = value
        sources[key] = f"flag --{key.replace('_', '-')}"
    if isinstance(values["max_dph"], float) and values["max_dph"] <= 0:
        raise ConfigError(f"max_dph must be greater than 0 (from {sources['max_dph']})")
    if not values["gpus"]:
        raise ConfigError(f"the GPU list is empty (from {sources['gpus']})")
    sources["name"] = "flag --fleet" if fleet else (f"env {ENV_FLEET}" if env.get(ENV_FLEET) else "built-in")
    sources.update(t_sources)
    t = Thresholds(**{k: _cast_threshold(k, v) for k, v in thresholds.items()})
    return FleetConfig(name=name, thresholds=t, sources=MappingProxyType(sources),
                       expected_gps=MappingProxyType(dict(values.pop("expected_gps"))), **values)


def _cast_threshold(name: str, value):
    return int(value) if _THRESHOLD_TYPES[name] in ("int", int) else float(value)


def fleet_names(env: Mapping[str, str]) -> list[str]:
    data = load_file(config_path(env))
    return sorted(set(data.get("fleets", {})) | {DEFAULT_FLEET})


def starter_document() -> dict:
    gpus = [gpu_cli_name(g) for g in BUILT_IN["gpus"]]  # type: ignore[union-attr]
    return {
        "defaults": {
            "image": BUILT_IN["image"], "disk_gb": BUILT_IN["disk_gb"], "max_dph": BUILT_IN["max_dph"], "gpus": gpus,
            "repo_id": BUILT_IN["repo_id"], "examples_repo_id": BUILT_IN["examples_repo_id"],
            "git_repo": BUILT_IN["git_repo"], "git_branch": BUILT_IN["git_branch"],
            "expected_gps": {gpu_cli_name(k): v for k, v in DEFAULT_EXPECTED_GPS.items()},
        },
        "fleets": {
            "zeb": {"weights_name": "zeb-557k-1m", "target_workers": 4},
            "zeb-large": {"weights_name": "large", "target_workers": 8},
        },
    }


def write_starter(path: Path, force: bool = False) -> Path:
    import tomli_w

    from zeb.store import atomic_write_bytes

    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, tomli_w.dumps(starter_document()).encode())
    return path
