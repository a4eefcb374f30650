"""Worker lifecycle: states, legal transitions, billing class, the log classifier and the
function that applies an observation to a worker record.

INTERFACE CONTRACT (shared with plan/monitor, cli, store) -- keep these names and fields.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class WorkerState(str, enum.Enum):
    """Wire-stable values: they are written to the store and the event log."""

    PENDING = "pending"              # create accepted, not yet listed or no status
    BOOTING = "booting"              # image pull / container start
    SETUP = "setup"                  # onstart: git, pip, GPU check
    LOADING_MODEL = "loading_model"  # pulling weights, building pipeline
    PRODUCING = "producing"          # batch lines with games/s
    STALLED = "stalled"              # was producing, no new batch in the stall window
    ERROR = "error"                  # fatal line in the logs, or a broken launch
    STOPPED = "stopped"              # Vast says exited/stopped: crash or preemption
    DESTROYING = "destroying"
    GONE = "gone"

    def __str__(self) -> str:
        return self.value


class Billing(str, enum.Enum):
    PRODUCTIVE = "productive"
    OVERHEAD = "overhead"
    NOT_BILLED = "not_billed"


@dataclass(frozen=True)
class Observation:
    """What one look at a worker (Vast row + log tail) says. Produced by classify()."""

    state: WorkerState
    evidence: str = ""               # the log line (or Vast field) that shows the state
    batch: int | None = None         # last batch number seen
    games_per_s: float | None = None
    step: int | None = None          # model step
    total_games: int | None = None
    uploading: bool = False
    upload_failing: bool = False
    poll_failed: bool = False        # the log fetch failed; state is then the previous one
    fatal_kind: str | None = None    # "no_cuda", "oom", "traceback", "broken_launch", "hf_auth", ...


@dataclass(frozen=True)
class Event:
    time: float
    instance_id: int
    label: str
    machine_id: int | None
    from_state: WorkerState | None
    to_state: WorkerState
    reason: str
    evidence: str = ""
    kind: str = "transition"         # "transition" | "anomaly"


@dataclass(frozen=True)
class WorkerRecord:
    """What zeb remembers about one worker between polls (persisted in the store)."""

    instance_id: int
    label: str
    machine_id: int
    gpu_name: str
    dph_total: float
    created_at: float                # Vast start_date
    state: WorkerState
    state_since: float               # when it entered `state` (from the timeline)
    first_seen: float
    last_progress_at: float | None = None   # last time the batch counter moved
    first_batch_at: float | None = None
    last_batch: int | None = None
    games_per_s: float | None = None
    step: int | None = None
    total_games: int | None = None
    polls_without_progress: int = 0
    failed_polls: int = 0
    evidence: str = ""
    fatal_kind: str | None = None
    cost_productive: float = 0.0     # $ accrued while producing
    cost_overhead: float = 0.0       # $ accrued in billed non-producing states
    last_accrued_at: float | None = None
    extra: dict = field(default_factory=dict)
