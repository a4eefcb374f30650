"""Worker lifecycle: states, legal transitions, billing class, the log classifier and the
function that applies an observation to a worker record.

INTERFACE CONTRACT (shared with plan/monitor, cli, store) -- keep these names and fields.
"""

from __future__ import annotations

import dataclasses
import enum
import re
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


# -- the transition table -------------------------------------------------------------------------

S = WorkerState
_HAPPY = (S.PENDING, S.BOOTING, S.SETUP, S.LOADING_MODEL, S.PRODUCING)
_SIDEBANDS = frozenset({S.ERROR, S.STOPPED, S.DESTROYING, S.GONE})


def _table() -> dict[WorkerState, frozenset[WorkerState]]:
    table: dict[WorkerState, set[WorkerState]] = {}
    for n, state in enumerate(_HAPPY):
        # Forward along the happy path, skipping states (polls are coarse), plus the sidebands.
        table[state] = set(_HAPPY[n + 1:]) | _SIDEBANDS
    table[S.PRODUCING] |= {S.STALLED}
    table[S.STALLED] = {S.PRODUCING} | _SIDEBANDS
    # A worker that logged a fatal line can still be seen to recover (a retry that worked), and Vast
    # can restart an exited container: both go back onto the happy path, never silently.
    table[S.ERROR] = {S.SETUP, S.LOADING_MODEL, S.PRODUCING, S.STOPPED, S.DESTROYING, S.GONE}
    table[S.STOPPED] = {S.BOOTING, S.SETUP, S.LOADING_MODEL, S.PRODUCING, S.ERROR, S.DESTROYING, S.GONE}
    table[S.DESTROYING] = {S.GONE}
    table[S.GONE] = set()
    return {k: frozenset(v) for k, v in table.items()}


LEGAL_TRANSITIONS: dict[WorkerState, frozenset[WorkerState]] = _table()

BILLING: dict[WorkerState, Billing] = {
    S.PENDING: Billing.NOT_BILLED,
    S.BOOTING: Billing.OVERHEAD,
    S.SETUP: Billing.OVERHEAD,
    S.LOADING_MODEL: Billing.OVERHEAD,
    S.PRODUCING: Billing.PRODUCTIVE,
    S.STALLED: Billing.OVERHEAD,
    S.ERROR: Billing.OVERHEAD,
    # Vast keeps billing a stopped instance (at least its disk) until it is destroyed: zeb counts the
    # whole rate, which is the conservative figure and the reason stopped workers are replaced at once.
    S.STOPPED: Billing.OVERHEAD,
    S.DESTROYING: Billing.OVERHEAD,
    S.GONE: Billing.NOT_BILLED,
}


def is_terminal(state: WorkerState) -> bool:
    return state is S.GONE


def is_live(state: WorkerState) -> bool:
    return state in (S.PENDING, S.BOOTING, S.SETUP, S.LOADING_MODEL, S.PRODUCING, S.STALLED)


def is_legal(src: WorkerState, dst: WorkerState) -> bool:
    return dst in LEGAL_TRANSITIONS[src]


# -- the classifier ------------------------------------------------------------------------------

_BATCH = re.compile(
    r"\[(?P<worker>[\w.-]+)\] batch (?P<batch>\d+): (?P<examples>\d+) examples, (?P<gps>[\d.]+) games/s"
    r"(?:, step=(?P<step>\d+))?(?:, total_games=(?P<total>\d+))?"
)
_MODEL_LOADED = re.compile(r"Model loaded \(step (\d+)\)")
_WEIGHTS_STEP = re.compile(r"(?:Weights updated to|weights.*?) step[ =](\d+)", re.I)

# (regex, fatal kind). Checked on lines after the last progress; the latest matching line wins.
_FATAL = [
    (re.compile(r"No CUDA|CUDA (?:driver|error).*(?:no CUDA-capable|not available)|"
                r"torch\.cuda\.is_available\(\).*False|NVIDIA-SMI has failed", re.I), "no_cuda"),
    (re.compile(r"CUDA out of memory|OutOfMemoryError", re.I), "oom"),
    (re.compile(r"size mismatch for", re.I), "size_mismatch"),
    (re.compile(r"\bKilled\b"), "killed"),
    (re.compile(r"^Traceback \(most recent call last\)|^\w+(?:\.\w+)*(?:Error|Exception)(?::|$)"), "traceback"),
]
_UPLOAD_FAILED = re.compile(r"Upload failed|(?:401|403|412)\s+(?:Client Error|Unauthorized|Forbidden|Precondition)|"
                            r"httpx\.ReadTimeout|HfHubHTTPError", re.I)
_HF_AUTH = re.compile(r"\b(401|403)\b.*(?:Unauthorized|Forbidden|huggingface|hf\.co)|Invalid (?:user )?token", re.I)
_UPLOADING = re.compile(r"Uploading \d+ batch(?:es)? to HF")
_UPLOAD_OK = re.compile(r"Upload complete")
_BROKEN = re.compile(r"command not found|No such file or directory")
_NO_CONTAINER = re.compile(r"No such container", re.I)

_STAGES = [
    (re.compile(r"Worker \S+ starting \(output:|Pipeline created in|Creating self-play pipeline|Model loaded \(step|"
                r"Pulling initial weights|Examples repo:|=== Starting worker"), S.LOADING_MODEL),
    (re.compile(r"GPU OK:|deps installed|repo cloned|git installed|=== Setup started"), S.SETUP),
]


def classify(status: str | None, tail: str, *, intended_status: str | None = None) -> Observation:
    """(Vast's actual_status, log tail) -> what the worker is doing, with the line that shows it.

    Reads from the end: the newest evidence wins, so an error the worker logged and then recovered
    from (batches after it) is not fatal."""
    if status in ("exited", "stopped", "offline") or (status is None and intended_status == "stopped"):
        return Observation(S.STOPPED, evidence=f"vast: {status or intended_status}")
    if status is None:
        return Observation(S.PENDING, evidence="vast: no status yet")
    lines = tail.splitlines()
    batch_line = None
    batch_index = -1
    for n in range(len(lines) - 1, -1, -1):
        m = _BATCH.search(lines[n])
        if m:
            batch_line, batch_index = m, n
            break
    after = lines[batch_index + 1:]
    fatal = _last_fatal(after)
    upload_failing = _upload_failing(lines)
    uploading = _uploading(lines)
    if batch_line is not None:
        step = int(batch_line["step"]) if batch_line["step"] else None
        for line in reversed(after):
            w = _WEIGHTS_STEP.search(line)
            if w:
                step = int(w.group(1))
                break
        base = dict(batch=int(batch_line["batch"]), games_per_s=float(batch_line["gps"]), step=step,
                    total_games=int(batch_line["total"]) if batch_line["total"] else None,
                    uploading=uploading, upload_failing=upload_failing)
        if fatal is not None:
            return Observation(S.ERROR, evidence=fatal[0], fatal_kind=fatal[1], **base)
        return Observation(S.PRODUCING, evidence=lines[batch_index].strip(), **base)
    if fatal is not None:
        return Observation(S.ERROR, evidence=fatal[0], fatal_kind=fatal[1], upload_failing=upload_failing)
    stage = _last_stage(lines)
    # A broken launch: the shell keeps failing ("command not found", missing files) after the last
    # sign of progress, not one missing file in the middle of a healthy setup.
    after_stage = lines[len(lines) - lines[::-1].index(stage[1]):] if stage is not None else lines
    broken = [ln for ln in after_stage if _BROKEN.search(ln)]
    if len(broken) >= 3:
        return Observation(S.ERROR, evidence=broken[-1].strip(), fatal_kind="broken_launch")
    if stage is not None:
        state, line = stage
        step = None
        m = _MODEL_LOADED.search(tail)
        if m:
            step = int(m.group(1))
        return Observation(state, evidence=line.strip(), step=step)
    if status == "loading":
        last = next((ln for ln in reversed(lines) if ln.strip()), "")
        return Observation(S.BOOTING, evidence=last.strip() or "vast: loading")
    # Running with nothing recognisable (or "No such container" while Docker starts): still booting.
    last = next((ln for ln in reversed(lines) if _NO_CONTAINER.search(ln)), "")
    return Observation(S.BOOTING, evidence=last.strip() or f"vast: {status}, no worker output yet")


def _last_fatal(lines: list[str]) -> tuple[str, str] | None:
    for line in reversed(lines):
        text = line.strip()
        if not text:
            continue
        if _UPLOAD_FAILED.search(text) and "will retry" in text:
            continue  # the worker said it recovers; only a lack of later progress can prove otherwise
        for regex, kind in _FATAL:
            if regex.search(text):
                if kind == "traceback" and _HF_AUTH.search("\n".join(lines[-20:])):
                    return text, "hf_auth"
                return text, kind
    return None


def _last_stage(lines: list[str]) -> tuple[WorkerState, str] | None:
    for line in reversed(lines):
        for regex, state in _STAGES:
            if regex.search(line):
                return state, line
    return None


def _upload_failing(lines: list[str]) -> bool:
    for line in reversed(lines):
        if _UPLOAD_OK.search(line):
            return False
        if _UPLOAD_FAILED.search(line):
            return True
    return False


def _uploading(lines: list[str]) -> bool:
    for line in reversed(lines):
        if _UPLOAD_OK.search(line) or _UPLOAD_FAILED.search(line):
            return False
        if _UPLOADING.search(line):
            return True
    return False


# -- applying observations ---------------------------------------------------------------------------

def new_record(instance_id: int, label: str, machine_id: int, gpu_name: str, dph_total: float, created_at: float,
               now: float) -> WorkerRecord:
    return WorkerRecord(instance_id=instance_id, label=label, machine_id=machine_id, gpu_name=gpu_name,
                        dph_total=dph_total, created_at=created_at, state=S.PENDING, state_since=now,
                        first_seen=now, last_accrued_at=now)


def _accrue(rec: WorkerRecord, now: float) -> WorkerRecord:
    since = rec.last_accrued_at if rec.last_accrued_at is not None else now
    hours = max(0.0, now - since) / 3600.0
    cost = rec.dph_total * hours
    billing = BILLING[rec.state]
    if billing is Billing.PRODUCTIVE:
        return dataclasses.replace(rec, cost_productive=rec.cost_productive + cost, last_accrued_at=now)
    if billing is Billing.OVERHEAD:
        return dataclasses.replace(rec, cost_overhead=rec.cost_overhead + cost, last_accrued_at=now)
    return dataclasses.replace(rec, last_accrued_at=now)


def _event(rec: WorkerRecord, now: float, to: WorkerState, reason: str, evidence: str, kind: str = "transition"):
    return Event(time=now, instance_id=rec.instance_id, label=rec.label, machine_id=rec.machine_id,
                 from_state=rec.state, to_state=to, reason=reason, evidence=evidence[:300], kind=kind)


def transition(rec: WorkerRecord, to: WorkerState, now: float, reason: str,
               evidence: str = "") -> tuple[WorkerRecord, list[Event]]:
    """Move to `to` if the table allows it; otherwise record an anomaly and keep the state."""
    rec = _accrue(rec, now)
    if to is rec.state:
        return rec, []
    if not is_legal(rec.state, to):
        return rec, [_event(rec, now, to, f"illegal transition ignored: {reason}", evidence, kind="anomaly")]
    event = _event(rec, now, to, reason, evidence)
    return dataclasses.replace(rec, state=to, state_since=now, evidence=evidence[:300]), [event]


def batch_period(rec: WorkerRecord) -> float:
    """Seconds between batches at the worker's own pace (games per batch / games per second)."""
    if rec.games_per_s and rec.total_games and rec.last_batch:
        return (rec.total_games / rec.last_batch) / rec.games_per_s
    return 180.0


def apply_observation(rec: WorkerRecord, obs: Observation, now: float, *,
                      stall_polls: int = 3) -> tuple[WorkerRecord, list[Event]]:
    if obs.poll_failed:
        rec = _accrue(rec, now)
        return dataclasses.replace(rec, failed_polls=rec.failed_polls + 1), []
    rec = dataclasses.replace(rec, failed_polls=0)
    target = obs.state
    progressed = obs.batch is not None and (rec.last_batch is None or obs.batch != rec.last_batch)
    if obs.batch is not None:
        rec = dataclasses.replace(
            rec, last_batch=obs.batch, games_per_s=obs.games_per_s, step=obs.step or rec.step,
            total_games=obs.total_games if obs.total_games is not None else rec.total_games,
        )
    if progressed:
        rec = dataclasses.replace(rec, last_progress_at=now, polls_without_progress=0,
                                  first_batch_at=rec.first_batch_at if rec.first_batch_at is not None else now)
    elif target is S.PRODUCING and rec.state in (S.PRODUCING, S.STALLED):
        rec = dataclasses.replace(rec, polls_without_progress=rec.polls_without_progress + 1)
        # Stalled: `stall_polls` polls without a new batch AND well past the worker's own batch period
        # (a 3060 writes a batch every ~3 min; fast polls alone must not call it stalled).
        quiet = now - (rec.last_progress_at if rec.last_progress_at is not None else rec.state_since)
        if rec.polls_without_progress >= stall_polls and quiet >= 2.5 * batch_period(rec):
            target = S.STALLED
    if target is S.PRODUCING and rec.state is S.STALLED and not progressed:
        target = S.STALLED
    if obs.fatal_kind:
        rec = dataclasses.replace(rec, fatal_kind=obs.fatal_kind)
    elif target is not S.ERROR:
        rec = dataclasses.replace(rec, fatal_kind=None)
    reason = {
        S.STALLED: f"no new batch for {rec.polls_without_progress} polls "
                   f"({(now - (rec.last_progress_at or now)) / 60:.0f} min)",
    }.get(target, f"observed {target.value}")
    return transition(rec, target, now, reason, obs.evidence)


def mark_destroying(rec: WorkerRecord, now: float, reason: str) -> tuple[WorkerRecord, list[Event]]:
    return transition(rec, S.DESTROYING, now, reason)


def mark_gone(rec: WorkerRecord, now: float, reason: str) -> tuple[WorkerRecord, list[Event]]:
    return transition(rec, S.GONE, now, reason)


# -- wire forms --------------------------------------------------------------------------------------

def event_to_dict(e: Event) -> dict:
    return {"time": e.time, "instance_id": e.instance_id, "label": e.label, "machine_id": e.machine_id,
            "from": e.from_state.value if e.from_state else None, "to": e.to_state.value, "reason": e.reason,
            "evidence": e.evidence, "kind": e.kind}


def event_from_dict(d: dict) -> Event:
    return Event(time=float(d["time"]), instance_id=int(d["instance_id"]), label=d.get("label") or "",
                 machine_id=d.get("machine_id"), from_state=WorkerState(d["from"]) if d.get("from") else None,
                 to_state=WorkerState(d["to"]), reason=d.get("reason", ""), evidence=d.get("evidence", ""),
                 kind=d.get("kind", "transition"))


def record_to_dict(r: WorkerRecord) -> dict:
    d = dataclasses.asdict(r)
    d["state"] = r.state.value
    return d


def record_from_dict(d: dict) -> WorkerRecord:
    fields = {f.name for f in dataclasses.fields(WorkerRecord)}
    data = {k: v for k, v in d.items() if k in fields}
    data["state"] = WorkerState(data["state"])
    return WorkerRecord(**data)
