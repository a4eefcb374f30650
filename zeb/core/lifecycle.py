"""Worker lifecycle: states, legal transitions, billing class, the log classifier and the
function that applies an observation to a worker record.

INTERFACE CONTRACT (shared with plan/monitor, cli, store) -- keep these names and fields.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass, field

from zeb.core.domain import ENDED, LOADING, STOPPED


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
    poll_failed: bool = False        # the log fetch failed; state is then the previous one
    # "no_cuda", "oom", "size_mismatch", "killed", "segfault", "traceback", the Hugging Face faults of
    # HUB_FAULTS ("hf_auth": HF refused the token; "hub_unreachable": a download found no hub;
    # "weights_missing": the hub has no such file; "hf_upload": an upload crashed: 412, timeouts),
    # "image_pull" (Docker could not pull the image), "broken_launch", and the configuration faults of
    # CONFIG_FAULTS ("bad_repo", "bad_branch", "bad_package", "bad_args", "missing_module", "missing_file",
    # "bad_commit")
    fatal_kind: str | None = None
    # The fatal lines are the last thing in the log: the worker process ended on them (Python printed the
    # traceback and exited; nothing restarted it), so waiting cannot help.
    final: bool = False
    # The commit the worker's code is at (the onstart's "code at <sha> (<branch>)" line), when the tail shows it.
    commit: str | None = None
    # The deepest frame of a traceback in the user's own code ("forge/zeb/selfplay/pipeline.py:64 in __init__"):
    # with the exception line, what tells one bug on many machines from many machines failing.
    frame: str = ""


@dataclass(frozen=True)
class Event:
    time: float
    instance_id: int
    label: str
    machine_id: int | None
    from_state: WorkerState | None
    to_state: WorkerState
    reason: str                      # the human text ("detail" in the event log)
    evidence: str = ""
    kind: str = "transition"         # "transition" | "anomaly"
    code: str = ""                   # a reason code statistics count ("replace" for a replacement's destroy);
                                     # empty: the state entered is the code


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
    fatal_final: bool = False        # the worker process ended on that fatal error
    last_seen_at: float | None = None   # the last observation that was not a failed log fetch
    polled_at: float | None = None      # the last time its log was read (or tried)
    cost_productive: float = 0.0     # $ accrued while producing
    cost_overhead: float = 0.0       # $ accrued in billed non-producing states
    last_accrued_at: float | None = None
    extra: dict = field(default_factory=dict)
    commit: str | None = None        # the commit its code runs (learnt from its setup lines)
    fault_frame: str = ""            # the failing frame in the user's code, with fatal_kind "traceback"


# -- the transition table -------------------------------------------------------------------------

S = WorkerState
_SIDEBANDS = frozenset({S.ERROR, S.STOPPED, S.DESTROYING, S.GONE})

# Forward moves along the happy path pending -> booting -> setup -> loading_model -> producing may skip
# states (polls are coarse); error, stopped, destroying and gone are reachable from every live state;
# stalled only from producing, and back. A worker that logged a fatal line can still be seen to recover
# (a retry that worked, or Vast restarting the container), and Vast can restart an exited or stopped
# instance: both go back onto the happy path, as recorded transitions. Destroying leads only to gone;
# gone is terminal. Anything else is an anomaly.
LEGAL_TRANSITIONS: dict[WorkerState, frozenset[WorkerState]] = {
    S.PENDING: frozenset({S.BOOTING, S.SETUP, S.LOADING_MODEL, S.PRODUCING}) | _SIDEBANDS,
    S.BOOTING: frozenset({S.SETUP, S.LOADING_MODEL, S.PRODUCING}) | _SIDEBANDS,
    S.SETUP: frozenset({S.LOADING_MODEL, S.PRODUCING}) | _SIDEBANDS,
    S.LOADING_MODEL: frozenset({S.PRODUCING}) | _SIDEBANDS,
    S.PRODUCING: frozenset({S.STALLED}) | _SIDEBANDS,
    S.STALLED: frozenset({S.PRODUCING}) | _SIDEBANDS,
    S.ERROR: frozenset({S.BOOTING, S.SETUP, S.LOADING_MODEL, S.PRODUCING, S.STOPPED, S.DESTROYING, S.GONE}),
    S.STOPPED: frozenset({S.BOOTING, S.SETUP, S.LOADING_MODEL, S.PRODUCING, S.ERROR, S.DESTROYING, S.GONE}),
    S.DESTROYING: frozenset({S.GONE}),
    S.GONE: frozenset(),
}

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
    # Vast's serverless table calls destroying "not billed"; a rented instance is billed until it is gone.
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
# One pass from the newest line back, stopping at the newest batch line (or, when the tail has none, at
# the newest startup line). Each line is cut to _LINE_CAP characters and tested with substring checks
# before any regex (a regex alternation costs ~20 substring tests): about a microsecond a line even for
# 10,000 lines of pip noise or "command not found" spam; a healthy producing tail costs well under 1 ms.

_LINE_CAP = 512
_TAIL_CAP = 4_000_000   # characters; a pathological tail is cut to its newest part

_BATCH = re.compile(
    r"\[(?P<worker>[\w.-]+)\] batch (?P<batch>\d+): (?P<examples>\d+) examples, (?P<gps>[\d.]+) games/s"
    # eval-aux puts ", eq_win=51.2%" between games/s and step
    r"(?:, eq_win=[\d.]+%)?(?:, step=(?P<step>\d+))?(?:, total_games=(?P<total>\d+))?"
)
_MODEL_LOADED = re.compile(r"(?:Model|Zeb) loaded \(step (\d+)\)")
# The runbook's "Weights updated to step N" and the worker's own "[w] Weights updated: step a -> b"
# (eval-aux: "Zeb weights updated: step a -> b").
_WEIGHTS_STEP = re.compile(r"[Ww]eights updated(?: to step[ =]|: step \d+ -> )(\d+)")

# Startup lines of the runbook, matched at the start of the (left-stripped) line.
_SETUP_LINES = ("=== Setup started", "git installed", "repo cloned", "deps installed", "GPU OK:")
_LOADING_LINES = ("=== Starting worker", "Pulling initial weights", "Model loaded (step", "Examples repo:",
                  "Creating self-play pipeline", "Pipeline created in")
_WORKER_STARTING = re.compile(r"Worker \S+ starting \(output:")

_NO_CUDA = re.compile(r"No CUDA|no CUDA-capable device|Found no NVIDIA driver|NVIDIA-SMI has failed|"
                      r"CUDA driver version is insufficient|torch\.cuda\.is_available\(\)\W+(?:is )?False")
_OOM = re.compile(r"CUDA out of memory|OutOfMemoryError|CUDA error: out of memory")
# The kernel's OOM killer: bash prints "Killed" as a word of its own; never "skilled" or "unkilled".
_KILLED = re.compile(r"\bKilled\b")
_SEGFAULT = re.compile(r"Segmentation fault|core dumped")
# Used with .match (anchored at the line start): an exception line, or a traceback's header.
_TRACEBACK = re.compile(r"Traceback \(most recent call last\)|(?:\w+\.)*\w*(?:Error|Exception)(?::|$)")
# A handled failure: the worker says it carries on, so older error lines are not fatal (the stall and
# no-progress rules catch a worker that does not).
_RECOVERING = ("will retry", "etrying")
_HF = re.compile(r"huggingface|hf\.co|HfHub|hf_hub|httpx")
_HF_AUTH = re.compile(r"\b40[13]\b|Unauthorized|Forbidden|Invalid (?:user )?token|RepositoryNotFound")
_UPLOAD_FAILED = ("Upload failed", "HfHubHTTPError", "ReadTimeout", "Precondition Failed")
# The scripts' broken-launch lines (check_worker): the shell failing over and over with no progress.
_BROKEN = ("command not found", "No such file or directory", "Permission denied", "cannot execute")
_BROKEN_REPEATS = 3

# An onstart that ended on a clear error of zeb's own launch configuration (repository, branch, package,
# worker flags, image): the same script fails the same way on every machine, so it is never the host's
# fault. (substring, kind), tested in order on lines that carry one of the cheap _CONFIG_HINTS.
_CONFIG_MARKERS: tuple[tuple[str, str], ...] = (
    ("fatal: Remote branch", "bad_branch"),
    ("does not appear to be a Python project", "bad_package"),
    ("error: unrecognized arguments", "bad_args"),
    ("error: the following arguments are required", "bad_args"),
    # git fetch of a pinned commit the repository does not have (git_commit, or a last good commit rewritten away)
    ("upload-pack: not our ref", "bad_commit"),
)
# Anchored to the interpreter or argparse saying it, so a library's "No module named 'triton'" warning
# in a healthy log is not a launch fault.
_CONFIG_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"error: argument \S+: invalid int value"), "bad_args"),
    (re.compile(r"^\s*ModuleNotFoundError:|Error while finding module specification|"
                r"python[\d.]*: No module named"), "missing_module"),
    (re.compile(r"python[\d.]*: can't open file"), "missing_file"),
)
_CONFIG_HINTS = ("fatal: ", "Python project", "error: ", "invalid int", "odule", "can't open", "our ref")
_GIT_REPO_MISSING = re.compile(r"fatal: repository '[^']*' not found")
# What the user must fix for each configuration fault (fleets.toml keys).
CONFIG_FAULTS: dict[str, str] = {
    "bad_repo": "git_repo",
    "bad_branch": "git_branch",
    "bad_package": "git_repo / git_branch (the repo root must be a pip-installable project)",
    "bad_args": "worker_command (the worker's flags)",
    "missing_module": "image / worker_command (a module the worker needs is missing)",
    "missing_file": "worker_command / onstart (a script path that does not exist)",
    "bad_commit": "git_commit (a commit the repository does not have)",
}
# Faults of the launch itself: configuration faults, and the shell loop whose cause (host or script)
# the policy tells apart by the rest of the fleet.
LAUNCH_FAULTS = frozenset(CONFIG_FAULTS) | {"broken_launch"}



def _uploading(tail: str) -> bool:
    """Uploading now: the newest upload line says it started (not that it completed or failed).
    Whole-text rfind: C speed, and upload lines older than the newest batch count too."""
    ok = tail.rfind("Upload complete")
    failed = max(tail.rfind(marker) for marker in _UPLOAD_FAILED)
    started = tail.rfind("Uploading ")
    return started > max(ok, failed)


def _newest_model_step(tail: str) -> int | None:
    at = tail.rfind("Model loaded (step")
    if at < 0:
        return None
    m = _MODEL_LOADED.match(tail, at)
    return int(m.group(1)) if m else None


def _stage(line: str) -> WorkerState | None:
    text = line.lstrip()
    if text.startswith(_SETUP_LINES):
        return S.SETUP
    if text.startswith(_LOADING_LINES) or (text.startswith("Worker ") and _WORKER_STARTING.match(text)):
        return S.LOADING_MODEL
    return None


def _config_kind(line: str) -> str | None:
    if not any(h in line for h in _CONFIG_HINTS):
        return None
    if "fatal: repository" in line and _GIT_REPO_MISSING.search(line):
        return "bad_repo"
    for marker, kind in _CONFIG_MARKERS:
        if marker in line:
            return kind
    for pattern, kind in _CONFIG_PATTERNS:
        if pattern.search(line):
            return kind
    return None


def _launch_root_cause(tail: str) -> tuple[str, str] | None:
    """(evidence, kind) of the FIRST configuration fault since the newest "=== Setup started": the root
    cause (a failed clone), not its echoes (the missing module the worker then cannot import)."""
    start = tail.rfind("=== Setup started")
    region = tail[start:] if start >= 0 else tail
    if not any(h in region for h in _CONFIG_HINTS):
        return None
    for line in region.splitlines():
        kind = _config_kind(line[:_LINE_CAP])
        if kind is not None:
            return line[:_LINE_CAP].strip(), kind
    return None


def _fatal_kind(line: str) -> str | None:
    # A substring test before each regex: it costs a twentieth of a search, and most lines are innocent.
    config = _config_kind(line)
    if config is not None:
        return config
    if ("CUDA" in line or "NVIDIA" in line) and _NO_CUDA.search(line):
        return "no_cuda"
    if "emory" in line and _OOM.search(line):
        return "oom"
    if "size mismatch for" in line:
        return "size_mismatch"
    if "Killed" in line and _KILLED.search(line):
        return "killed"
    if ("fault" in line or "dumped" in line) and _SEGFAULT.search(line):
        return "segfault"
    if ("rror" in line or "xception" in line or "Traceback" in line) and _TRACEBACK.match(line):
        return "traceback"
    return None


_CHAINED = ("Traceback", "During handling", "The above exception")


def _explain_traceback(lines: list[str], index: int) -> tuple[str, str, str]:
    """(evidence, kind, frame) for a Python traceback: its exception line; whether it is really Hugging Face
    refusing the token (hf_auth), not answering a download (hub_unreachable), not having the file
    (weights_missing) or failing an upload (hf_upload); and its deepest frame in the user's own code."""
    if lines[index].lstrip().startswith("Traceback"):
        header, exc = index, index
        for j in range(index + 1, min(len(lines), index + 80)):
            text = lines[j]
            if text.strip() and not text[0].isspace() and not text.startswith(_CHAINED):
                exc = j
                break
    else:
        exc = header = index
        for j in range(index - 1, max(-1, index - 80), -1):
            if lines[j].startswith("Traceback"):
                header = j
                break
    evidence = lines[exc][:_LINE_CAP].strip()
    frame = _user_frame(lines[header:exc])
    block = "\n".join(line[:_LINE_CAP] for line in lines[header:exc + 3])
    if not _HF.search(block):
        return evidence, "traceback", frame
    return evidence, hub_fault_kind("\n".join(line[:_LINE_CAP] for line in lines[exc:exc + 3]), block), frame


_HF_MISSING = re.compile(r"EntryNotFound|Entry Not Found|\b404\b")
_HF_DOWNLOADING = ("hf_hub_download", "pull_weights", "snapshot_download", "EntryNotFound", "Entry Not Found")
# Hugging Face faults: none is the host's. Which of them the hub itself can be asked about (zeb.adapters.hub's weights
# check) decides how the fleet waits them out (zeb.plan.fleetfault).
HUB_FAULTS = ("hf_auth", "hub_unreachable", "weights_missing", "hf_upload")


def hub_fault_kind(message: str, block: str = "") -> str:
    """What a Hugging Face error says happened, read from its message (and the traceback around it): the
    token refused, a download that found no hub, the file not there, or (anything else: an upload, a
    commit) hf_upload."""
    if _HF_AUTH.search(message) and "404" not in message:
        return "hf_auth"
    if "LocalEntryNotFound" in message or "local cache" in message:
        return "hub_unreachable"    # huggingface_hub's words for a download that found no hub to ask
    if any(marker in block or marker in message for marker in _HF_DOWNLOADING):
        return "weights_missing" if _HF_MISSING.search(message) else "hub_unreachable"
    return "hf_upload"


_FILE_LINE = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)')
_NOT_USER_CODE = ("site-packages", "dist-packages", "<frozen", "/lib/python", "<string>")


def _user_frame(frames: list[str]) -> str:
    """The deepest `File "...", line N, in f` of a traceback outside Python and its installed packages, as
    "path:N in f" with the checkout's /root/code/ prefix dropped; "" when there is none."""
    for line in reversed(frames):
        if "File \"" not in line:
            continue
        m = _FILE_LINE.match(line[:_LINE_CAP])
        if m is None or any(marker in m["path"] for marker in _NOT_USER_CODE):
            continue
        path = m["path"].removeprefix("/root/code/")
        return f"{path}:{m['line']} in {m['func']}"
    return ""


_FRAME = re.compile(r"^\s|^During handling|^The above exception")


def _ends_the_log(lines: list[str], evidence: str) -> bool:
    """The fatal line is the newest line of the log, or only a traceback's own frames follow it."""
    for line in reversed(lines):
        text = line[:_LINE_CAP].strip()
        if not text:
            continue
        if text == evidence:
            return True
        if not _FRAME.match(line):
            return False
    return False


def classify(status: str | None, tail: str, *, intended_status: str | None = None,
             status_msg: str | None = None) -> Observation:
    """(Vast's actual_status, log tail) -> what the worker is doing, with the line that shows it.

    The newest evidence wins: an error the worker logged and then recovered from (batches after it,
    or a "will retry" line) is not fatal. After the newest batch, a fatal line stays fatal even if a
    restart follows it (the record goes error -> producing when batches resume); without batches, a
    startup line newer than the fatal one means the container started again."""
    if status in ENDED:
        return _stopped(f"vast: {status}", tail)
    if intended_status == STOPPED:
        # Stopped by someone (zeb never stops, it destroys) before Vast's actual_status caught up.
        return _stopped(f"vast: {status or 'no status'}, intended stopped", tail)
    if status == LOADING and status_msg and not tail.strip() and _PULL_FAILED.search(status_msg):
        # The image cannot be pulled, here or anywhere: waiting out the boot timeout only pays for the wait.
        return Observation(S.ERROR, evidence=f"vast: {status_msg.strip()[:300]}", fatal_kind="image_pull", final=True)
    return _classify_running(status, tail)


def _stopped(vast_says: str, tail: str) -> Observation:
    """A stopped or exited instance, read through its last log: a fault in that tail (no CUDA, OOM, a broken
    launch) is why it stopped and travels as fatal_kind and evidence; none means a preemption."""
    inner = _classify_running("running", tail) if tail.strip() else None
    if inner is None:
        return Observation(S.STOPPED, evidence=f"{vast_says}; no log output")
    stopped = Observation(S.STOPPED, batch=inner.batch, games_per_s=inner.games_per_s, step=inner.step,
                          total_games=inner.total_games, commit=inner.commit, frame=inner.frame)
    if inner.fatal_kind:
        return dataclasses.replace(stopped, evidence=f"{vast_says}; {inner.evidence}", fatal_kind=inner.fatal_kind)
    return dataclasses.replace(stopped, evidence=f"{vast_says}; no fault in its last log (last: {inner.evidence})")


def _classify_running(status: str | None, tail: str) -> Observation:
    if status is None:
        return Observation(S.PENDING, evidence="vast: no status yet")
    if len(tail) > _TAIL_CAP:
        tail = tail[-_TAIL_CAP:]
    lines = tail.splitlines()
    scan = _scan(lines, may_produce="] batch " in tail)
    frame = ""
    if scan.fatal is not None and scan.fatal[2] == "traceback":
        evidence, kind, frame = _explain_traceback(lines, scan.fatal[0])
        scan.fatal = (scan.fatal[0], evidence, kind)
    uploading = _uploading(tail)
    if scan.batch is not None:
        obs = _producing_or_failed(scan.batch, scan, lines, uploading)
    else:
        obs = _before_first_batch(status, tail, lines, scan, uploading)
    commit = _commit(tail)
    if commit is not None or frame:
        obs = dataclasses.replace(obs, commit=commit, frame=frame if obs.fatal_kind == "traceback" else "")
    return obs


_CODE_AT = re.compile(r"code at (?P<sha>[0-9a-f]{7,40}) \(")


def _commit(tail: str) -> str | None:
    """The commit of the newest "code at <sha> (<branch>)" line the onstart printed, if the tail holds one."""
    at = tail.rfind("code at ")
    if at < 0:
        return None
    m = _CODE_AT.match(tail, at)
    return m["sha"] if m else None


# Docker's words for an image that cannot be pulled by anyone: it does not exist, or the registry refuses it.
# (A full disk or a rate limit is the host's, and is left to the boot timeout.)
_PULL_FAILED = re.compile(r"manifest unknown|not found: manifest|pull access denied|repository does not exist|"
                          r"invalid reference format")


@dataclass
class _Scan:
    """What one pass over a log tail, newest line first, found."""

    batch: re.Match | None = None                  # the newest batch line's match
    weights_step: int | None = None                # a "Weights updated" step newer than the newest batch
    stage: tuple[WorkerState, str] | None = None   # (state, line) of the newest startup line
    # (index, line, kind) of the newest fatal line, unless a recovery line is newer
    fatal: tuple[int, str, str] | None = None
    fatal_newer_than_stage: bool = False
    recovering: bool = False
    broken: list[str] = field(default_factory=list)   # broken-launch lines newer than the newest startup line
    no_container: str | None = None
    last_text: str | None = None


def _scan(lines: list[str], may_produce: bool) -> _Scan:
    """Newest line first, until the newest batch line (or, in a log with none, the newest startup line).
    One loop with its tests inline: it runs over every line of every tail the monitor reads."""
    s = _Scan()
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        if len(line) > _LINE_CAP:
            line = line[:_LINE_CAP]
        if not line or line.isspace():
            continue
        if s.last_text is None:
            s.last_text = line.strip()
        if may_produce:
            if "] batch " in line:
                m = _BATCH.search(line)
                if m:
                    s.batch = m
                    break
            if s.weights_step is None and "eights updated" in line:
                w = _WEIGHTS_STEP.search(line)
                if w:
                    s.weights_step = int(w.group(1))
        if s.stage is None:
            found = _stage(line)
            if found is not None:
                s.stage = (found, line.strip())
                if not may_produce:
                    break
                continue
            if len(s.broken) < _BROKEN_REPEATS and any(marker in line for marker in _BROKEN):
                s.broken.append(line.strip())
            if s.no_container is None and "No such container" in line:
                s.no_container = line.strip()
        if s.fatal is None and not s.recovering:
            if _RECOVERING[0] in line or _RECOVERING[1] in line:
                s.recovering = True
                continue
            kind = _fatal_kind(line)
            if kind is not None:
                s.fatal = (i, line.strip(), kind)
                s.fatal_newer_than_stage = s.stage is None
    return s


def _producing_or_failed(batch: re.Match, scan: _Scan, lines: list[str], uploading: bool) -> Observation:
    """A log with batches: producing, unless a fatal line is newer than the newest batch."""
    fatal = scan.fatal
    step = scan.weights_step if scan.weights_step is not None else (int(batch["step"]) if batch["step"] else None)
    producing = Observation(S.PRODUCING, evidence=batch.string.strip(), batch=int(batch["batch"]),
                            games_per_s=float(batch["gps"]), step=step,
                            total_games=int(batch["total"]) if batch["total"] else None, uploading=uploading)
    if fatal is not None:
        return dataclasses.replace(producing, state=S.ERROR, evidence=fatal[1], fatal_kind=fatal[2],
                                   final=_ends_the_log(lines, fatal[1]))
    return producing


def _before_first_batch(status: str, tail: str, lines: list[str], scan: _Scan, uploading: bool) -> Observation:
    """A log without batches: failed (on the configuration, a fatal line, a broken launch) or starting."""
    model_step = _newest_model_step(tail)
    # A launch that failed on zeb's configuration stays failed even when later startup lines follow (the
    # onstart goes on after a failed clone and the worker then cannot start).
    root = _launch_root_cause(tail)
    if root is not None:
        return Observation(S.ERROR, evidence=root[0], fatal_kind=root[1], step=model_step, uploading=uploading)
    fatal = scan.fatal
    if fatal is not None and scan.fatal_newer_than_stage:
        return Observation(S.ERROR, evidence=fatal[1], fatal_kind=fatal[2], step=model_step,
                           final=_ends_the_log(lines, fatal[1]), uploading=uploading)
    # A broken launch: the shell keeps failing ("command not found", missing files) after the last sign
    # of progress; one missing file in the middle of a healthy setup is not one.
    if len(scan.broken) >= _BROKEN_REPEATS:
        return Observation(S.ERROR, evidence=scan.broken[0], fatal_kind="broken_launch", uploading=uploading)
    if scan.stage is not None:
        return Observation(scan.stage[0], evidence=scan.stage[1], step=model_step, uploading=uploading)
    if scan.no_container is not None:
        return Observation(S.BOOTING, evidence=scan.no_container)
    if status == LOADING:
        return Observation(S.BOOTING, evidence=scan.last_text or "vast: loading")
    return Observation(S.BOOTING, evidence=f"vast: {status}, no worker output yet")


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


def _event(rec: WorkerRecord, now: float, to: WorkerState, reason: str, evidence: str, kind: str = "transition",
           code: str = "") -> Event:
    return Event(time=now, instance_id=rec.instance_id, label=rec.label, machine_id=rec.machine_id,
                 from_state=rec.state, to_state=to, reason=reason, evidence=evidence[:300], kind=kind, code=code)


def transition(rec: WorkerRecord, to: WorkerState, now: float, reason: str,
               evidence: str = "", code: str = "") -> tuple[WorkerRecord, list[Event]]:
    """Move to `to` if the table allows it; otherwise record an anomaly and keep the state."""
    rec = _accrue(rec, now)
    if to is rec.state:
        return rec, []
    if not is_legal(rec.state, to):
        return rec, [_event(rec, now, to, f"illegal transition ignored: {reason}", evidence, kind="anomaly",
                            code=code)]
    event = _event(rec, now, to, reason, evidence, code=code)
    return dataclasses.replace(rec, state=to, state_since=now, evidence=evidence[:300]), [event]


def batch_period(rec: WorkerRecord) -> float:
    """Seconds between batches at the worker's own pace (games per batch / games per second)."""
    if rec.games_per_s and rec.total_games and rec.last_batch:
        return (rec.total_games / rec.last_batch) / rec.games_per_s
    return 180.0


def apply_observation(rec: WorkerRecord, obs: Observation, now: float, *,
                      stall_polls: int = 1) -> tuple[WorkerRecord, list[Event]]:
    """One poll's observation -> the worker's new record and the events it produced (pure).

    A failed poll keeps the state (counted in failed_polls; the monitor decides when too many are too
    many) and is not a sighting (last_seen_at stays). A producing worker seen again `stall_polls` times
    (default 1: two observations) with the same batch, the two spanning 2.5 of its own batch periods,
    becomes stalled; a new batch brings it back. Cost accrues by the billing class of
    the state the worker was in since the last accrual."""
    if obs.poll_failed:
        rec = _accrue(rec, now)
        return dataclasses.replace(rec, failed_polls=rec.failed_polls + 1), []
    rec = dataclasses.replace(rec, failed_polls=0, last_seen_at=now)
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
        # Stalled: seen again without a new batch AND well past the worker's own batch period
        # (a 3060 writes a batch every ~3 min; fast polls alone must not call it stalled).
        quiet = now - (rec.last_progress_at if rec.last_progress_at is not None else rec.state_since)
        if rec.polls_without_progress >= stall_polls and quiet >= 2.5 * batch_period(rec):
            target = S.STALLED
    if target is S.PRODUCING and rec.state is S.STALLED and not progressed:
        target = S.STALLED
    if obs.commit is not None and obs.commit != rec.commit:
        rec = dataclasses.replace(rec, commit=obs.commit)
    if obs.fatal_kind:
        rec = dataclasses.replace(rec, fatal_kind=obs.fatal_kind, fatal_final=obs.final, fault_frame=obs.frame)
    elif target is not S.ERROR:
        rec = dataclasses.replace(rec, fatal_kind=None, fatal_final=False, fault_frame="")
    reason = {
        S.STALLED: f"no new batch for {rec.polls_without_progress} polls "
                   f"({(now - (rec.last_progress_at or now)) / 60:.0f} min)",
    }.get(target, f"observed {target.value}")
    rec, events = transition(rec, target, now, reason, obs.evidence)
    if not events and rec.state is target and obs.evidence:
        # No change: keep the newest line that shows the state (status and logs show it).
        rec = dataclasses.replace(rec, evidence=obs.evidence[:300])
    return rec, events


def mark_destroying(rec: WorkerRecord, now: float, reason: str, code: str = "") -> tuple[WorkerRecord, list[Event]]:
    """`code` is the destroy's kind (zeb.plan.monitor.Destroy.kind): what statistics count it as."""
    return transition(rec, S.DESTROYING, now, reason, code=code)


def mark_gone(rec: WorkerRecord, now: float, reason: str) -> tuple[WorkerRecord, list[Event]]:
    return transition(rec, S.GONE, now, reason)


# -- wire forms --------------------------------------------------------------------------------------

def record_to_dict(r: WorkerRecord) -> dict:
    d = dataclasses.asdict(r)
    d["state"] = r.state.value
    return d


def record_from_dict(d: dict) -> WorkerRecord:
    fields = {f.name for f in dataclasses.fields(WorkerRecord)}
    data = {k: v for k, v in d.items() if k in fields}
    data["state"] = WorkerState(data["state"])
    return WorkerRecord(**data)


# -- shape check of a stored record (zeb.storage.store sets a document that fails it aside) -------------------

def check_record(d: object, where: str = "worker record") -> WorkerRecord:
    """The record `d` encodes, or zeb.core.shapes.BadDocument if it has the wrong shape or a field the wrong type."""
    from zeb.core.shapes import BadDocument, check_fields

    if not isinstance(d, dict):
        raise BadDocument(f"{where}: not an object")
    try:
        record = record_from_dict(d)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadDocument(f"{where}: {exc}") from None
    check_fields(record, where)
    return record
