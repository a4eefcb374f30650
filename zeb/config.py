"""fleets.toml + env overrides -> one frozen FleetConfig that remembers where each value came from.

INTERFACE CONTRACT (shared with every command) -- keep these names and fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping


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
    poll_timeout_s: float = 20.0
    log_tail: int = 200


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
    blacklist_file: str | None             # ZEB_BLACKLIST: a scripts-style bad-hosts.txt
    thresholds: Thresholds = field(default_factory=Thresholds)
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
