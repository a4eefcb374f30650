"""The monitor's policy: ONE pure function from what this cycle saw to the actions to take.

    decide(snapshot, policy_state, config, target, now) -> Decision(actions, state, notes)

Each situation has its own small helper (dedup, triggers, trials, scale down, scale up, credit) in the
spirit of Ray's Reconciler; the executor (zeb/service/monitor.py) carries the actions out. Launches are numbered
into slow-start batches (1, 2, 4, ...): the executor runs batch 0, then 1, ... and stops at the first
failure, as Kubernetes' slowStartBatch does."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Protocol

from zeb.core.config import FleetConfig, Thresholds
from zeb.core.domain import EXITED, STOPPED, Account, Instance
from zeb.core.errors import EXIT_FAILED, EXIT_PARTIAL
from zeb.core.lifecycle import CONFIG_FAULTS, HUB_FAULTS, WorkerRecord, WorkerState
from zeb.plan import fleetfault as ff
from zeb.plan.fleet import (
    VAST_WORD,
    duplicate_extras,
    is_live,
    next_labels,
    parse_label,
)
from zeb.plan.hosts import (
    expire_blocks,
    record_boot,
    record_error,
    record_gps,
    record_stall,
)
from zeb.plan.launch import worker_id
from zeb.plan.types import REPLACEMENT_KINDS, HostRecord, InFlight, RankedOffer

S = WorkerState
DESTROY_RETRY_S = 120.0
NOT_THE_HOSTS_FAULT = frozenset(HUB_FAULTS) | {"image_pull"} | frozenset(CONFIG_FAULTS)
# Faults so certain that waiting out the grace only burns money: the host has no usable GPU, or the launch
# configuration is broken (nothing will recover).
CERTAIN_FAULTS = frozenset({"no_cuda", "image_pull"}) | frozenset(CONFIG_FAULTS)
# A stopped worker whose last log ends on one of these crashed on its host: a strike. (Out of memory after
# producing is the workload's, not the card's; a size mismatch is the weights'.)
CRASHES = frozenset({"traceback", "segfault", "killed"})
# Launch faults on this many different machines in a row (by launch order) stop launching: it is the
# configuration, and every further machine would fail the same way.
CONFIG_HALT_MACHINES = 2
_OUTCOMES_KEPT = 8
_NOT_RUNNING = (S.PENDING, S.BOOTING, S.SETUP, S.LOADING_MODEL)


@dataclass(frozen=True)
class Trial:
    label: str
    offer_id: int
    machine_id: int
    started_at: float
    instance_id: int | None = None


@dataclass(frozen=True)
class Outcome:
    """How one launch turned out, for telling a broken configuration from bad hosts: "ok" (it produced)
    or the launch fault's kind (with its evidence line)."""

    instance_id: int
    machine_id: int
    created_at: float
    kind: str
    evidence: str = ""


@dataclass(frozen=True)
class PolicyState:
    credit_wait: bool = False
    credit_checked_at: float | None = None
    trial: Trial | None = None
    trial_cooldown_until: float = 0.0
    replacements: int = 0
    outcomes: tuple[Outcome, ...] = ()
    config_halt: str | None = None             # the one line that says why launches stopped
    config_fingerprint: str | None = None      # of the launch configuration that was halted
    # Examples arriving on HF: when the repo was last listed, the newest upload seen per worker id (the
    # learner prunes the repo, so what was seen is remembered), and since when each instance is flagged.
    examples_checked_at: float | None = None
    examples_seen: Mapping[str, float] = field(default_factory=dict)
    examples_flags: Mapping[str, float] = field(default_factory=dict)
    trial_checked_at: float | None = None      # the last time a full, healthy fleet looked for an upgrade
    # Fleet-level faults (zeb.plan.fleetfault): the recent failures that could share a cause, the hold a
    # shared cause puts on launches, and the commits seen producing (commit -> first seen producing).
    failures: tuple[ff.Failure, ...] = ()
    hold: ff.Hold | None = None
    good_commits: Mapping[str, float] = field(default_factory=dict)
    # The target last written to the event log (zeb report draws those rows): a cron `--once` run every
    # minute logs it once, not once a run.
    target_logged: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping | None) -> PolicyState:
        data = dict(data or {})
        trial = data.pop("trial", None)
        outcomes = tuple(Outcome(**o) for o in data.pop("outcomes", None) or ())
        failures = tuple(ff.failure_from_dict(f) for f in data.pop("failures", None) or ())
        hold = data.pop("hold", None)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(trial=Trial(**trial) if trial else None, outcomes=outcomes, failures=failures,
                   hold=ff.Hold.from_dict(hold) if hold else None, **known)


@dataclass(frozen=True)
class Snapshot:
    fleet: str
    instances: tuple[Instance, ...]
    records: Mapping[int, WorkerRecord]
    offers: tuple[RankedOffer, ...] | None    # None: not searched; decide() says when it wants a search
    hosts: Mapping[int, HostRecord]
    blocked: frozenset[int]
    account: Account | None
    inflight: tuple[InFlight, ...]
    destroying: Mapping[int, float]
    # Workers the examples check (check_examples) found silent on HF for too long: instance id -> reason.
    examples_replace: Mapping[int, str] = field(default_factory=dict)
    # The controller's weights check this cycle (None: not made; decide() says when it wants one).
    hub: ff.HubCheck | None = None
    pin_last_good: bool = False     # `zeb monitor --pin-last-good`, or pin = "last-good"
    # The worker branch's head at the remote this cycle (zeb.adapters.gitremote), asked only under a code hold.
    branch_head: str | None = None
    word: str = VAST_WORD           # the marketplace's word in labels (Marketplace.label_word)


@dataclass(frozen=True)
class Launch:
    label: str
    offer: RankedOffer
    batch: int
    trial: bool = False
    reason: str = ""
    commit: str | None = None       # pinned code (the last good commit); None: the fleet's git_commit or head
    canary: bool = False            # the one launch that tests whether a fleet-level cause has cleared


@dataclass(frozen=True)
class Destroy:
    instance_id: int
    label: str
    machine_id: int
    reason: str
    strike: bool = False
    # replace | dedup | downscale | cost | trial_failed | upgrade | retry_destroy | fleet_fault
    kind: str = "replace"

    @property
    def replaces(self) -> bool:
        """This destroy replaces a failing or overpriced worker (it counts toward `replacements`)."""
        return self.kind in REPLACEMENT_KINDS


@dataclass(frozen=True)
class CheckCredit:
    reason: str = "credit wait: is the balance back?"


@dataclass(frozen=True)
class WithdrawStrikes:
    """Strikes given for failures that turned out to be the fleet's: taken back (bad-hosts.txt too)."""

    instance_ids: tuple[int, ...]
    reason: str


# What decide() asks the executor to do.
Action = Launch | Destroy | CheckCredit | WithdrawStrikes


@dataclass(frozen=True)
class Decision:
    actions: tuple[Action, ...] = ()
    state: PolicyState = field(default_factory=PolicyState)
    notes: tuple[str, ...] = ()
    # The snapshot had no offers and this decision would launch or trial: search, then decide again.
    wants_offers: bool = False
    # The snapshot had no hub check and this decision would launch (or hold for the hub): check, decide again.
    wants_hub: bool = False


class CycleOutcome(Protocol):
    """What cycle_exit_code reads of a cycle's report (zeb.service.monitor.CycleReport)."""

    error: str | None
    done: int
    failed: int
    credit_wait: bool
    short: int


def cycle_exit_code(report: CycleOutcome) -> int:
    """What `monitor --once` exits with, so cron sees a failed cycle: 1 when the cycle could not observe
    the fleet or every action it tried failed; 3 when some went through and some did not, or the fleet
    stays short because the account lacks credit; 0 otherwise."""
    if report.error or (report.failed and not report.done):
        return EXIT_FAILED
    if report.failed or (report.credit_wait and report.short):
        return EXIT_PARTIAL
    return 0


def credit_probe_due(state: PolicyState, t: Thresholds, now: float) -> bool:
    """While waiting for credit, the account (one cheap call) is checked every cycle (or every
    `credit_probe_s`, when that is set)."""
    return state.credit_wait and (state.credit_checked_at is None or now - state.credit_checked_at >= t.credit_probe_s)


def on_launch_failed(state: PolicyState, error_kind: str, now: float) -> PolicyState:
    """The executor reports a failed launch; "lacks credit" enters credit wait."""
    if error_kind == "no_credit":
        return replace(state, credit_wait=True, credit_checked_at=now)
    return state


# -- helpers -------------------------------------------------------------------------------------------

def _record(inst: Instance, records: Mapping[int, WorkerRecord], now: float) -> WorkerRecord:
    rec = records.get(inst.id)
    if rec is not None:
        return rec
    return WorkerRecord(instance_id=inst.id, label=inst.label or "", machine_id=inst.machine_id,
                        gpu_name=inst.gpu_name, dph_total=inst.dph_total, created_at=inst.start_date,
                        state=S.STOPPED if inst.status in (EXITED, STOPPED) else S.PENDING,
                        state_since=now, first_seen=now)


def entered(rec: WorkerRecord) -> float:
    """When the worker entered its state: from the timeline, or its creation if first seen in it."""
    return rec.state_since if rec.state_since > rec.first_seen else min(rec.created_at, rec.state_since)


def dollars_per_gps(rec: WorkerRecord) -> float:
    return rec.dph_total / rec.games_per_s if rec.games_per_s else math.inf


@dataclass(frozen=True)
class FleetContext:
    """What the rest of the fleet says about a worker's fault: someone else got past the launch (so the
    script works and this host is odd), or others are still starting (so it is too early to tell)."""

    others_fine: bool = False
    others_starting: bool = False


def stop_cause(fatal_kind: str | None, produced: bool) -> str:
    """Why a worker's last log says it stopped, as far as its machine is concerned: "config" (the launch
    configuration's fault), "hardware" (no usable GPU or driver, or out of memory before the first batch:
    the card is too small), "crash" (it died on an error the same code does not hit elsewhere), or
    "none" (a preemption, or a fault that is not the host's: out of memory after producing, the hub)."""
    if fatal_kind in CONFIG_FAULTS:
        return "config"
    if fatal_kind == "no_cuda" or (fatal_kind == "oom" and not produced):
        return "hardware"
    if fatal_kind in CRASHES:
        return "crash"
    return "none"


def _produced(rec: WorkerRecord) -> bool:
    return rec.first_batch_at is not None or rec.last_batch is not None


def host_fault(rec: WorkerRecord) -> bool:
    """A fault in a stopped worker's last log that is the machine's own hardware."""
    return stop_cause(rec.fatal_kind, _produced(rec)) == "hardware"


def config_hint(kind: str) -> str:
    return CONFIG_FAULTS.get(kind, "the launch script or image (onstart, worker_command, image)")


def trigger(rec: WorkerRecord, inst: Instance, cfg: FleetConfig, now: float,
            fleet: FleetContext = FleetContext()) -> tuple[str, bool, str] | None:
    """(reason, strike, kind) when this worker must be replaced, else None."""
    t = cfg.thresholds
    if rec.state is S.STOPPED or inst.status in (EXITED, STOPPED):
        said = f"Vast reports {inst.status or 'stopped'}"
        cause = stop_cause(rec.fatal_kind, _produced(rec))
        if cause == "config":
            return f"{said}: launch failed on the configuration: {rec.evidence}", False, "replace"
        if cause == "hardware":
            return f"{said}: host fault ({rec.fatal_kind}): {rec.evidence}", True, "replace"
        if cause == "crash":
            return f"{said}: crashed ({rec.fatal_kind}): {rec.evidence}", True, "replace"
        return f"{said}, no host fault in its last log (preempted): {rec.evidence}".rstrip(": "), False, "replace"
    if inst.dph_total > cfg.max_dph:
        return f"costs ${inst.dph_total:.3f}/hr, over the ${cfg.max_dph:.3f}/hr limit", False, "cost"
    unseen = _unseen(rec, inst, t, now)
    if unseen is not None:
        return None if unseen is _NOT_YET else unseen
    age_in_state = now - entered(rec)
    if rec.state is S.ERROR and rec.fatal_kind in CONFIG_FAULTS:
        # The configuration's fault: the same script fails on every machine, so no host is struck.
        return f"launch failed on the configuration ({rec.fatal_kind}): {rec.evidence}", False, "replace"
    if rec.state is S.ERROR and rec.fatal_kind == "broken_launch":
        if fleet.others_fine:
            return f"broken launch on this host while others of the fleet run: {rec.evidence}", True, "replace"
        if fleet.others_starting and age_in_state <= t.fatal_grace_s:
            return None   # too early to tell the host from the script: wait for the others
        return f"broken launch, no other worker got further (script or image?): {rec.evidence}", False, "replace"
    if rec.state is S.ERROR and (is_certain(rec) or now - rec.created_at > t.fatal_grace_s):
        # The runbook's grace protects young workers (counted from their start, as the scripts did) from
        # errors that may still recover; a certain fault is acted on in the cycle it is seen.
        kind = rec.fatal_kind or "fatal error"
        why = "worker process ended" if rec.fatal_final else f"for {age_in_state / 60:.0f} min"
        # A rejected HF token or a failed upload is ours or the hub's, not the host's: no strike.
        return (f"{kind} ({why}): {rec.evidence}".strip(), kind not in NOT_THE_HOSTS_FAULT, "replace")
    if rec.state is S.STALLED:
        quiet = (now - (rec.last_progress_at or entered(rec))) / 60
        return f"stalled since batch {rec.last_batch}: no new batch for {quiet:.0f} min", True, "replace"
    if rec.state in (S.PENDING, S.BOOTING) and age_in_state > t.boot_timeout_s:
        return f"stuck booting for {age_in_state / 60:.0f} min", True, "replace"
    if rec.state is S.SETUP and age_in_state > t.setup_timeout_s:
        return f"stuck in setup for {age_in_state / 60:.0f} min", True, "replace"
    if rec.state is S.LOADING_MODEL and age_in_state > t.stuck_loading_s:
        # The runbook's 10 minutes at "Pulling initial weights". Only the host's fault when others of the
        # fleet load fine; a fleet stuck together points at the hub.
        return (f"stuck loading the model for {age_in_state / 60:.0f} min: {rec.evidence}".rstrip(": "),
                fleet.others_fine, "replace")
    if rec.state in _NOT_RUNNING:
        since = rec.last_progress_at if rec.last_progress_at is not None else rec.created_at
        if now - since > t.no_progress_s:
            return f"no progress for {(now - since) / 60:.0f} min", True, "replace"
    return None


def is_certain(rec: WorkerRecord) -> bool:
    """A fault waiting cannot mend: no CUDA, a broken configuration, out of memory before the first batch
    (the card is too small for the standard configuration), or any fatal error the process ended on."""
    return rec.fatal_kind in CERTAIN_FAULTS or host_fault(rec) or rec.fatal_final


def is_hardware_fault(rec: WorkerRecord) -> bool:
    """A certain fault of the machine itself: blocked at once, not after three strikes."""
    return host_fault(rec)


def _unseen(rec: WorkerRecord, inst: Instance, t: Thresholds, now: float) -> tuple[str, bool, str] | None:
    """A worker whose log could not be read is "not seen": its age is never taken for time spent booting
    and it earns no strike. Unseen for `unseen_replace_s`, it is judged from what Vast reports (it lists
    the instance as running, yet nothing can be read from it) and replaced without a strike."""
    if rec.failed_polls == 0:
        return None
    if rec.last_seen_at is not None:
        since = rec.last_seen_at
    elif rec.state is S.PENDING:
        since = rec.first_seen          # never seen at all
    else:                               # a record stored before zeb kept last_seen_at
        since = max(rec.state_since, rec.last_progress_at or rec.state_since)
    if now - since <= t.unseen_replace_s:
        return _NOT_YET
    return (f"not seen for {(now - since) / 60:.0f} min ({rec.failed_polls} failed log reads); "
            f"Vast says {inst.status or 'no status'}", False, "replace")


# "Wait": a sentinel trigger() turns into None (no age-based trigger may fire on a worker not seen).
_NOT_YET: tuple[str, bool, str] = ("", False, "")


_FINE = frozenset({S.PRODUCING, S.STALLED})
_STARTING_STATES = frozenset({S.PENDING, S.BOOTING, S.SETUP, S.LOADING_MODEL})


class _FleetCounts:
    """How many of the fleet's workers are fine and starting, counted once a cycle, so each worker's
    FleetContext (the others, itself left out) is O(1): decide() stays linear in the fleet's size."""

    def __init__(self, records: Iterable[WorkerRecord]) -> None:
        self.fine = self.starting = 0
        for r in records:
            self.fine += r.state in _FINE
            self.starting += r.state in _STARTING_STATES

    def context(self, rec: WorkerRecord | None) -> FleetContext:
        """The others' view for `rec`, one of the records counted (None: counted records are all others)."""
        fine = self.fine - (rec is not None and rec.state in _FINE)
        starting = self.starting - (rec is not None and rec.state in _STARTING_STATES)
        return FleetContext(others_fine=fine > 0, others_starting=starting > 0)


# -- launch faults: the configuration's or the hosts'? ------------------------------------------------

def config_fingerprint(cfg: FleetConfig) -> str:
    """Identifies what a launch runs; a halt for a broken configuration lifts once any of it changes."""
    keys = ("image", "git_repo", "git_branch", "onstart", "worker_command", "weights_name", "repo_id",
            "examples_repo_id", "worker_env", "worker_mode")
    blob = json.dumps({k: getattr(cfg, k, None) for k in keys}, sort_keys=True, default=lambda v: dict(v))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _is_launch_fault(rec: WorkerRecord, reason_strike: tuple[str, bool, str]) -> bool:
    """A replacement that counts toward "the configuration is broken": a configuration fault, or a broken
    launch nobody else got past (no strike)."""
    _, strike, _ = reason_strike
    if rec.fatal_kind in CONFIG_FAULTS:
        return True
    return rec.fatal_kind == "broken_launch" and not strike


def record_outcomes(outcomes: Sequence[Outcome], new: Iterable[Outcome]) -> tuple[Outcome, ...]:
    """The newest launches' outcomes by launch order, one per instance (a fault replaces an "ok")."""
    by_id = {o.instance_id: o for o in outcomes}
    for o in new:
        if o.instance_id not in by_id or (by_id[o.instance_id].kind == "ok" and o.kind != "ok"):
            by_id[o.instance_id] = o
    ordered = sorted(by_id.values(), key=lambda o: (o.created_at, o.instance_id))
    return tuple(ordered[-_OUTCOMES_KEPT:])


def config_halt_line(outcomes: Sequence[Outcome], threshold: int = CONFIG_HALT_MACHINES) -> str | None:
    """One line for the user when the newest launches all failed on the launch itself, on `threshold` or
    more different machines in a row; else None."""
    run: list[Outcome] = []
    for o in reversed(outcomes):
        if o.kind == "ok":
            break
        run.append(o)
    machines = sorted({o.machine_id for o in run})
    if len(machines) < threshold:
        return None
    newest = run[0]
    return (f"launches stopped: the launch configuration is broken ({newest.kind} on {len(machines)} machines "
            f"in a row: {', '.join(str(m) for m in machines)}): {newest.evidence} -- fix "
            f"{config_hint(newest.kind)} in fleets.toml, then restart the monitor")


# -- examples arriving on HF ------------------------------------------------------------------------

_UPLOAD_NAME = re.compile(r"^(?P<worker>.+)_(?P<ts>\d{9,11})_(?P<hex>[0-9a-fA-F]+)\.pt$")


def examples_folder(weights_name: str) -> str:
    """Where a fleet's workers upload: a folder named after the weights stem, the root for "model"."""
    return "" if weights_name == "model" else weights_name


def parse_upload(path: str, folder: str) -> tuple[str, float] | None:
    """`{folder}/{worker_id}_{unix_ts}_{hex}.pt` -> (worker_id, ts); None for anything else."""
    head, _, name = path.strip("/").rpartition("/")
    if head != folder.strip("/"):
        return None
    m = _UPLOAD_NAME.match(name)
    return (m["worker"], float(m["ts"])) if m else None


@dataclass(frozen=True)
class ExamplesCheck:
    seen: Mapping[str, float]          # worker id -> newest upload seen
    flags: Mapping[str, float]         # str(instance id) -> flagged since
    replace: Mapping[int, str]         # instance id -> reason to replace (no strike)
    flagged: Mapping[int, str]         # newly flagged this check: instance id -> what to show


def check_examples(records: Iterable[WorkerRecord], paths: Sequence[str] | None, folder: str,
                   seen: Mapping[str, float], flags: Mapping[str, float], interval_s: float, t: Thresholds,
                   now: float) -> ExamplesCheck:
    """One look at the examples repo for the whole fleet. A producing worker whose newest upload (or, if
    later, its first batch: a new worker is exempt at first) is more than `examples_stale_uploads` upload
    intervals old is flagged; flagged for `examples_replace_s`, it is replaced. `paths` None means the
    listing failed: not seen, so nothing is flagged or replaced."""
    if paths is None:
        return ExamplesCheck(dict(seen), dict(flags), {}, {})
    newest = dict(seen)
    for path in paths:
        parsed = parse_upload(path, folder)
        if parsed is not None and parsed[1] > newest.get(parsed[0], 0.0):
            newest[parsed[0]] = parsed[1]
    window = t.examples_stale_uploads * interval_s
    kept: dict[str, float] = {}
    replace_: dict[int, str] = {}
    flagged: dict[int, str] = {}
    for rec in records:
        if rec.state is not S.PRODUCING or rec.first_batch_at is None:
            continue
        last = newest.get(worker_id(rec.label))
        reference = max(rec.first_batch_at, last or 0.0)
        if now - reference <= window:
            continue
        key = str(rec.instance_id)
        since = flags.get(key, now)
        kept[key] = since
        what = ("no examples on HF from " + worker_id(rec.label) +
                (f" for {(now - last) / 60:.0f} min" if last else " since it started producing") +
                f" (uploads every {interval_s / 60:.0f} min)")
        if key not in flags:
            flagged[rec.instance_id] = what
        if now - since >= t.examples_replace_s:
            replace_[rec.instance_id] = f"{what}; flagged for {(now - since) / 60:.0f} min"
    return ExamplesCheck(newest, kept, replace_, flagged)


def fleet_silent_on_hub(records: Sequence[WorkerRecord], condemned: Mapping[int, str]) -> str | None:
    """Examples missing from two or more producing workers, half the producers or more, at once: the upload
    path or the hub is the fleet's (a revoked write token, a renamed repo, a listing that lies), not each
    worker's. The line to show, and none of them is replaced; None when it is a worker's own silence."""
    producing = [r for r in records if r.state is S.PRODUCING]
    silent = [r for r in producing if r.instance_id in condemned]
    if len(silent) < 2 or 2 * len(silent) < len(producing):
        return None
    return (f"no examples on HF from {len(silent)} of {len(producing)} producing workers at once: the hub or the "
            "upload path, not the workers; none replaced")


def _dedup(members: Sequence[Instance], fleet: str, word: str) -> tuple[list[Instance], list[Destroy]]:
    """Live duplicates of a label: the lowest id keeps it (the same rule every zeb run applies). A dead
    instance (exited, stopped) that shares its label with a live one goes too: the label is taken."""
    extras = duplicate_extras(members, fleet, word)
    live_labels = {i.label: i for i in members if is_live(i)}
    extras += [(i, live_labels[i.label]) for i in members if not is_live(i) and i.label in live_labels]
    doomed = {dup.id for dup, _ in extras}
    destroys = [Destroy(dup.id, dup.label or "", dup.machine_id, f"duplicate of {dup.label} (keeping {keep.id})",
                        kind="dedup") for dup, keep in extras]
    return [i for i in members if i.id not in doomed], destroys


def _slow_start_batch(k: int) -> int:
    """Launch k (0-based) goes in batch floor(log2(k + 1)): sizes 1, 2, 4, 8, ..."""
    return (k + 1).bit_length() - 1


def _candidates(snap: Snapshot, cfg: FleetConfig, used_machines: set[int]) -> list[RankedOffer]:
    out, seen = [], set(used_machines)
    for r in snap.offers or ():
        o = r.offer
        if o.machine_id in snap.blocked or o.machine_id in seen or o.dph_total > cfg.max_dph:
            continue
        if o.gpu_name not in cfg.gpus:
            continue
        seen.add(o.machine_id)
        out.append(r)
    return out


# -- the decision ----------------------------------------------------------------------------------------

def decide(snap: Snapshot, state: PolicyState, cfg: FleetConfig, target: int, now: float) -> Decision:
    c = _Cycle(snap, cfg, target, now, state)
    members = [i for i in snap.instances if parse_label(i.label, snap.fleet, snap.word) is not None]
    c.actions += _retry_destroys(members, snap.destroying, now)
    active = [i for i in members if i.id not in snap.destroying]
    _credit_from_account(c)
    kept = _dedup_step(c, active)
    _trial_in_progress(c, kept)
    fingerprint = config_fingerprint(cfg)
    _lift_config_halt(c, fingerprint)
    if _fleet_judgement(c, kept):
        # Many workers failed on the hub: ask the hub (one cheap call) before holding the fleet for it.
        return c.decision(wants_hub=True)
    _replacement_triggers(c, kept, fingerprint)
    survivors = [i for i in kept if i.id not in c.doomed and not c.is_trial(i)]
    pending = _pending(c, members)
    survivors = _scale_down(c, survivors, pending)
    taken = [i.label for i in survivors] + [e.label for e in pending]
    if c.state.trial is not None:
        taken.append(c.state.trial.label)
    missing = max(0, target - len(survivors) - len(pending))
    healthy = [i for i in survivors if c.record(i).state is S.PRODUCING]
    upgrade_due = _upgrade_due(c, missing, pending, healthy, survivors)
    extra_canary = _extra_canary_due(c, missing)
    would_launch = (missing and not c.halted and not c.state.credit_wait and _hold_lets_launch(c)) or upgrade_due \
        or extra_canary
    if would_launch and (snap.offers is None or snap.hub is None):
        # One offer search costs an API call: made only when this cycle would launch or look for an upgrade;
        # and nothing is launched before the hub is known to answer (the start-up check, once a cycle).
        return c.decision(wants_offers=snap.offers is None, wants_hub=snap.hub is None)
    used_machines = {i.machine_id for i in active if i.id not in c.doomed} | {e.machine_id for e in snap.inflight}
    candidates = _launch_missing(c, missing, _candidates(snap, cfg, used_machines), taken)
    _upgrade_check(c, upgrade_due, candidates, healthy, taken)
    _extra_canary(c, extra_canary, candidates, taken)
    _credit_probe(c)
    return c.decision()


@dataclass
class _Cycle:
    """The working state decide() threads through its steps, in order."""

    snap: Snapshot
    cfg: FleetConfig
    target: int
    now: float
    state: PolicyState
    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    doomed: set[int] = field(default_factory=set)
    trial_inst: Instance | None = None

    @property
    def halted(self) -> bool:
        return self.state.config_halt is not None

    def record(self, inst: Instance) -> WorkerRecord:
        return _record(inst, self.snap.records, self.now)

    def is_trial(self, inst: Instance) -> bool:
        return self.trial_inst is not None and inst.id == self.trial_inst.id

    def destroy(self, inst: Instance, reason: str, *, strike: bool = False, kind: str = "replace") -> None:
        self.actions.append(Destroy(inst.id, inst.label or "", inst.machine_id, reason, strike=strike, kind=kind))
        self.doomed.add(inst.id)

    def decision(self, wants_offers: bool = False, wants_hub: bool = False) -> Decision:
        return Decision(tuple(self.actions), self.state, tuple(self.notes), wants_offers=wants_offers,
                        wants_hub=wants_hub)


def _retry_destroys(members: Sequence[Instance], destroying: Mapping[int, float], now: float) -> list[Destroy]:
    """Destroys already sent: retried past DESTROY_RETRY_S, otherwise left alone."""
    out = []
    for instance_id, since in sorted(destroying.items()):
        inst = next((i for i in members if i.id == instance_id), None)
        if inst is not None and now - since > DESTROY_RETRY_S:
            out.append(Destroy(instance_id, inst.label or "", inst.machine_id,
                               f"still listed {now - since:.0f}s after destroy", kind="retry_destroy"))
    return out


def _credit_from_account(c: _Cycle) -> None:
    """A checked account tells whether we wait for credit."""
    if c.snap.account is not None:
        c.state = replace(c.state, credit_wait=c.snap.account.exhausted, credit_checked_at=c.now)


def _dedup_step(c: _Cycle, active: Sequence[Instance]) -> list[Instance]:
    kept, destroys = _dedup(active, c.snap.fleet, c.snap.word)
    c.actions += destroys
    c.doomed |= {d.instance_id for d in destroys}
    return kept


def _trial_in_progress(c: _Cycle, kept: Sequence[Instance]) -> None:
    """An upgrade trial that produces is promoted (the worst producer goes); one that does not produce in
    time fails (a strike, then a cool-down); one never listed expires with its launch."""
    trial, t, now = c.state.trial, c.cfg.thresholds, c.now
    if trial is None:
        return
    trial_inst = next((i for i in kept if (trial.instance_id is not None and i.id == trial.instance_id)
                       or i.label == trial.label), None)
    in_flight = any(e.label == trial.label for e in c.snap.inflight)
    if trial_inst is not None and c.record(trial_inst).state is S.PRODUCING:
        others = [i for i in kept if i.id != trial_inst.id and c.record(i).state is S.PRODUCING]
        if others:
            worst = max(others, key=lambda i: (dollars_per_gps(c.record(i)), i.id))
            c.destroy(worst, f"upgraded: {trial.label} produces at a better $/game/s", kind="upgrade")
        c.notes.append(f"trial {trial.label} promoted")
        c.state = replace(c.state, trial=None)
    elif trial_inst is not None and c.record(trial_inst).state in (S.ERROR, S.STOPPED):
        # Crashed: judged now like any worker (a host fault strikes, a fleet fault does not), not at the timeout.
        c.notes.append(f"trial {trial.label} failed; cooling down")
        c.state = replace(c.state, trial=None, trial_cooldown_until=now + t.trial_cooldown_s)
    elif now - trial.started_at > t.trial_timeout_s:
        if trial_inst is not None:
            c.actions.append(Destroy(trial_inst.id, trial.label, trial_inst.machine_id,
                                     f"upgrade trial not producing after {t.trial_timeout_s / 60:.0f} min",
                                     strike=True, kind="trial_failed"))
            c.doomed.add(trial_inst.id)
        c.notes.append(f"trial {trial.label} failed; cooling down")
        c.state = replace(c.state, trial=None, trial_cooldown_until=now + t.trial_cooldown_s)
    elif trial_inst is None and not in_flight and now - trial.started_at > t.inflight_expiry_s:
        c.state = replace(c.state, trial=None, trial_cooldown_until=now + t.trial_cooldown_s)
    else:
        c.trial_inst = trial_inst   # still on trial: no trigger or scale-down touches it


def _lift_config_halt(c: _Cycle, fingerprint: str) -> None:
    """A halt for a broken configuration lifts when the configuration changed."""
    if c.state.config_halt is not None and c.state.config_fingerprint != fingerprint:
        c.state = replace(c.state, config_halt=None, config_fingerprint=None, outcomes=())
        c.notes.append("launch configuration changed: launching again")


# -- fleet-level faults: one cause outside the hosts --------------------------------------------------

def _fleet_judgement(c: _Cycle, kept: Sequence[Instance]) -> bool:
    """Remember this cycle's failures, then lift, keep or start a fleet hold (zeb.plan.fleetfault). True when
    a hub cause stands and the hub has not been asked this cycle: decide() then asks for the check first."""
    t = c.cfg.thresholds
    records = [c.record(i) for i in kept]
    new = [f for f in (ff.failure_of(r) for r in records) if f is not None]
    c.state = replace(c.state, failures=ff.remember(c.state.failures, new, c.now, t.fleet_fault_window_s),
                      good_commits=ff.learn_good_commits(c.state.good_commits, records, c.now))
    hold = c.state.hold
    if hold is not None:
        _keep_or_lift(c, hold, records, new)
        return False
    verdict = (ff.judge(c.state.failures, records, c.now, t.fleet_fault_window_s,
                        good_commits=c.state.good_commits) or ff.hub_verdict(c.snap.hub))
    if verdict is None:
        return False
    if verdict.cause in ff.HUB_CAUSES and verdict.machines:
        if c.snap.hub is None:
            return True
        if c.snap.hub.ok:
            # The hub answers the controller: whatever the workers met is over, or is theirs alone.
            c.notes.append(f"{len(verdict.machines)} workers failed on Hugging Face, but it answers now: "
                           "replacing them")
            c.state = replace(c.state, failures=tuple(f for f in c.state.failures if f.cause not in ff.HUB_CAUSES))
            return False
        verdict = replace(verdict, cause=c.snap.hub.cause or verdict.cause)
    hold = ff.start_hold(verdict, c.now)
    if c.snap.hub is not None and not c.snap.hub.ok:
        hold = replace(hold, probed_at=c.now, probe=c.snap.hub.detail)
    c.state = replace(c.state, hold=hold)
    if verdict.instance_ids:
        c.actions.append(WithdrawStrikes(verdict.instance_ids, f"fleet fault ({verdict.cause}), not the host's"))
    c.notes.append(f"FLEET HOLD: {verdict.line()}")
    return False


def _keep_or_lift(c: _Cycle, hold: ff.Hold, records: Sequence[WorkerRecord], new: Sequence[ff.Failure]) -> None:
    """A hub hold lifts in the cycle the hub answers; a code or image hold when its canary produces. Until
    then new failures of the same cause join it, and a canary that failed makes way for the next."""
    lifted = None
    if hold.cause in ff.HUB_CAUSES and c.snap.hub is not None:
        if c.snap.hub.ok:
            lifted = "Hugging Face answers again"
        else:
            hold = replace(hold, probed_at=c.now, probe=c.snap.hub.detail)
    canary = ff.cleared_by_canary(hold, c.snap.records)
    if canary is not None:
        lifted = f"canary {canary.label} produces" + (f" on commit {canary.commit[:12]}" if canary.commit else "")
    if lifted is not None:
        c.state = replace(c.state, hold=None,
                          failures=tuple(f for f in c.state.failures if not ff.covers(hold, f)))
        c.notes.append(f"fleet hold lifted ({hold.cause}): {lifted}")
        return
    hold = ff.widen(hold, [f.instance_id for f in new if ff.covers(hold, f)])
    if hold.canary_label is not None:
        mine = [r for r in records if r.instance_id == hold.canary_instance
                or (hold.canary_instance is None and r.label == hold.canary_label)]
        in_flight = any(e.label == hold.canary_label for e in c.snap.inflight)
        if (mine and mine[0].state in (S.ERROR, S.STOPPED)) or (not mine and not in_flight):
            c.notes.append(f"canary {hold.canary_label} did not produce: {mine[0].evidence if mine else 'gone'}")
            hold = replace(hold, canary_label=None, canary_instance=None)
    c.state = replace(c.state, hold=hold)


def _pinned_commit(c: _Cycle) -> str | None:
    """While the branch head crashes, the newest commit that produced (pin = "last-good"), else None."""
    hold = c.state.hold
    if hold is None or hold.cause != "code_fault" or not c.snap.pin_last_good:
        return None
    return ff.last_good(c.state.good_commits, excluding=hold.commit)


def _hold_lets_launch(c: _Cycle) -> bool:
    hold = c.state.hold
    return hold is None or _probe_due(c) or _pinned_commit(c) is not None


def _probe_due(c: _Cycle) -> bool:
    """A canary may go: its probe interval is up, or the branch head moved to a commit not yet tried."""
    hold = c.state.hold
    return hold is not None and (ff.canary_due(hold, c.cfg.thresholds.probe_interval_s, c.now)
                                 or ff.new_head(hold, c.snap.branch_head))


def _tried(hold: ff.Hold, head: str | None, label: str, now: float) -> ff.Hold:
    """The hold after a canary `label` went out on `head` (None: the branch head, unknown here)."""
    tried = hold.tried + ((head,) if head is not None and head not in hold.tried and head != hold.commit else ())
    return replace(hold, canary_label=label, canary_instance=None, canary_at=now, tried=tried)


def _extra_canary_due(c: _Cycle, missing: int) -> bool:
    """A full fleet under a code or image hold still needs its canary, or the hold would stand until a
    worker dies: one extra worker, launched as an upgrade trial is (promoted when it produces)."""
    hold, s = c.state.hold, c.state
    return (hold is not None and not missing and s.trial is None and not c.halted and not s.credit_wait
            and c.target > 0 and _probe_due(c))


def _extra_canary(c: _Cycle, due: bool, candidates: Sequence[RankedOffer], taken: list) -> None:
    hold = c.state.hold
    if not due or hold is None:
        return
    if not candidates:
        c.notes.append(f"fleet hold ({hold.cause}): no usable offer for a canary")
        return
    label, best = next_labels(c.snap.fleet, taken, 1, c.snap.word)[0], candidates[0]
    head = c.snap.branch_head if ff.new_head(hold, c.snap.branch_head) else None
    c.actions.append(Launch(label, best, 0, trial=True, canary=True, commit=head,
                            reason=f"canary for the fleet hold ({hold.cause}), one above target: "
                                   + (f"the branch head moved to {head[:12]}" if head else
                                      "does the branch head run again?")))
    taken.append(label)
    c.state = replace(c.state, trial=Trial(label, best.offer.id, best.offer.machine_id, c.now),
                      hold=_tried(hold, c.snap.branch_head, label, c.now))


def _launch_in_hold(c: _Cycle, missing: int, candidates: list[RankedOffer], taken: list) -> list[RankedOffer]:
    """Under a fleet hold: at most one canary per probe interval (on the branch head), and with pin =
    "last-good" the rest on the newest commit that produced; everything else is held back. When the branch
    head moved to a commit not tried yet (a fix pushed, most likely), every missing worker goes on it at
    once, the first as the canary: the fleet is back one boot after the fix, and if it is not one, the
    hold covers their crashes (no strikes) and the next push gets the same chance."""
    hold = c.state.hold
    assert hold is not None
    head = c.snap.branch_head if ff.new_head(hold, c.snap.branch_head) else None
    canary = 1 if head or ff.canary_due(hold, c.cfg.thresholds.probe_interval_s, c.now) else 0
    pinned = _pinned_commit(c)
    count = missing if pinned or head else canary
    labels = next_labels(c.snap.fleet, taken, count, c.snap.word)
    for k, (label, offer) in enumerate(zip(labels, candidates)):
        is_canary = k < canary
        if head:
            reason = f"the branch head moved to {head[:12]} during the fleet hold ({hold.cause})" + \
                (": canary" if is_canary else ": below target")
        elif is_canary:
            reason = f"canary for the fleet hold ({hold.cause}): does the branch head run again?"
        else:
            reason = f"below target, pinned to the last commit that produced ({(pinned or '')[:12]})"
        c.actions.append(Launch(label, offer, _slow_start_batch(k), reason=reason,
                                commit=head or (None if is_canary else pinned), canary=is_canary))
        taken.append(label)
        if is_canary:
            c.state = replace(c.state, hold=_tried(hold, c.snap.branch_head, label, c.now))
    held = missing - min(count, len(candidates))
    if held:
        c.notes.append(f"fleet hold ({hold.cause}): {held} launch(es) held back")
    return candidates[count:]


def _replacement_triggers(c: _Cycle, kept: Sequence[Instance], fingerprint: str) -> None:
    """Workers a trigger (or the examples check) condemns are replaced; their launches' outcomes may halt
    launching for a broken configuration."""
    fleet_records = [c.record(i) for i in kept]
    new_outcomes = [Outcome(r.instance_id, r.machine_id, r.created_at, "ok")
                    for r in fleet_records if r.state is S.PRODUCING]
    hold = c.state.hold
    # Uploads fail while the hub is out: a producing worker is never replaced because others fail.
    hub_hold = hold is not None and hold.cause in ff.HUB_CAUSES
    counts = _FleetCounts(fleet_records)
    replaced = 0
    silent = fleet_silent_on_hub(fleet_records, c.snap.examples_replace)
    if silent:
        c.notes.append(silent)
    for inst in kept:
        if inst.id in c.doomed or c.is_trial(inst):
            continue
        rec = c.record(inst)
        fired = trigger(rec, inst, c.cfg, c.now, counts.context(rec))
        if fired is None and inst.id in c.snap.examples_replace and not hub_hold and not silent:
            fired = (c.snap.examples_replace[inst.id], False, "replace")
        if fired and hold is not None and ff.covers(hold, ff.failure_of(rec)):
            # The fleet's cause, not this host's: no strike, and no replacement that would fail the same way.
            fired = (f"fleet fault ({hold.cause}), not the host's: {fired[0]}", False, "fleet_fault")
        if fired:
            reason, strike, kind = fired
            c.destroy(inst, reason, strike=strike, kind=kind)
            replaced += kind in REPLACEMENT_KINDS
            if kind != "fleet_fault" and _is_launch_fault(rec, fired):
                new_outcomes.append(Outcome(inst.id, inst.machine_id, rec.created_at,
                                            rec.fatal_kind or "broken_launch", rec.evidence))
    c.state = replace(c.state, outcomes=record_outcomes(c.state.outcomes, new_outcomes),
                      replacements=c.state.replacements + replaced)
    if c.state.config_halt is None:
        line = config_halt_line(c.state.outcomes)
        if line is not None:
            c.state = replace(c.state, config_halt=line, config_fingerprint=fingerprint)
    if c.halted:
        c.notes.append(c.state.config_halt or "")


def _pending(c: _Cycle, members: Sequence[Instance]) -> list[InFlight]:
    """This fleet's launches in flight that Vast does not list yet, the trial's aside."""
    trial = c.state.trial
    return [e for e in c.snap.inflight if parse_label(e.label, c.snap.fleet, c.snap.word) is not None
            and not any(i.label == e.label for i in members) and (trial is None or e.label != trial.label)]


def _scale_down(c: _Cycle, survivors: list[Instance], pending: Sequence[InFlight]) -> list[Instance]:
    """Above target: not running first, then young, then worst $/game/s."""
    excess = len(survivors) + len(pending) - c.target
    if excess <= 0:
        return survivors

    def order(i: Instance) -> tuple[int, float, float, int]:
        rec = c.record(i)
        not_running = rec.state in _NOT_RUNNING or rec.state is S.ERROR
        young = c.now - i.start_date < c.cfg.thresholds.young_s
        return (0 if not_running else 1 if young else 2, -dollars_per_gps(rec), -i.start_date, i.id)

    for inst in sorted(survivors, key=order)[:excess]:
        c.destroy(inst, f"fleet above target {c.target}", kind="downscale")
    return [i for i in survivors if i.id not in c.doomed]


def _upgrade_due(c: _Cycle, missing: int, pending: Sequence[InFlight], healthy: Sequence[Instance],
                 survivors: Sequence[Instance]) -> bool:
    """Look for an upgrade: a full, healthy, quiet fleet, on its own slow cadence."""
    s, target = c.state, c.target
    return (not s.credit_wait and not c.halted and s.hold is None and s.trial is None
            and c.now >= s.trial_cooldown_until
            and target > 0 and not missing and not pending and len(healthy) == len(survivors) == target
            and not any(isinstance(a, (Launch, Destroy)) for a in c.actions)
            and (s.trial_checked_at is None or c.now - s.trial_checked_at >= c.cfg.thresholds.upgrade_check_s))


def _launch_missing(c: _Cycle, missing: int, candidates: list[RankedOffer], taken: list) -> list[RankedOffer]:
    """Launches for the missing workers, in slow-start batches; returns the offers left over. The labels
    launched are added to `taken`."""
    if missing and c.halted:
        c.notes.append(f"config halt: {missing} launch(es) held back")
    elif missing and c.state.credit_wait:
        c.notes.append(f"credit wait: {missing} launch(es) held back")
    elif missing and c.state.hold is not None:
        candidates = _launch_in_hold(c, missing, candidates, taken)
    elif missing:
        labels = next_labels(c.snap.fleet, taken, missing, c.snap.word)
        for k, (label, offer) in enumerate(zip(labels, candidates)):
            c.actions.append(Launch(label, offer, _slow_start_batch(k), reason="below target"))
            taken.append(label)
        if len(candidates) < missing:
            c.notes.append(f"only {len(candidates)} usable offer(s) for {missing} missing worker(s)")
        candidates = candidates[missing:]
    return candidates


def _upgrade_check(c: _Cycle, upgrade_due: bool, candidates: Sequence[RankedOffer],
                   healthy: Sequence[Instance], taken: list) -> None:
    """An upgrade trial when an offer is clearly better than the worst worker."""
    if not upgrade_due:
        return
    c.state = replace(c.state, trial_checked_at=c.now)
    if not candidates:
        return
    worst = max(dollars_per_gps(c.record(i)) for i in healthy)
    best = candidates[0]
    # The offer's expected value (its machine's chance to boot and produce counted) against what the worst
    # worker really delivers.
    if math.isfinite(worst) and best.expected_dollars_per_gps <= worst * (1 - c.cfg.thresholds.upgrade_margin):
        label = next_labels(c.snap.fleet, taken, 1, c.snap.word)[0]
        c.actions.append(Launch(label, best, 0, trial=True,
                                reason=f"upgrade trial: ${best.expected_dollars_per_gps:.4f} "
                                       f"vs worst ${worst:.4f} per game/s"))
        c.state = replace(c.state, trial=Trial(label, best.offer.id, best.offer.machine_id, c.now))


def _credit_probe(c: _Cycle) -> None:
    if c.snap.account is None and credit_probe_due(c.state, c.cfg.thresholds, c.now):
        c.actions.append(CheckCredit())
        c.state = replace(c.state, credit_checked_at=c.now)


# -- what a cycle teaches about machines -------------------------------------------------------------

# A worker still starting: its first batch is its boot's verdict.
_STARTING = frozenset({S.PENDING, S.BOOTING, S.SETUP, S.LOADING_MODEL})
# An end that cost a whole replacement (a stall, a crash, a preemption, a worker that hid its log) weighs
# as much as a failed boot.
END_WEIGHT = 2.0


def destroy_verdict(action: Destroy, rec: WorkerRecord | None) -> str | None:
    """What a destroy says about its machine, for learn(): "failed_boot" (struck before it produced),
    "ended" (a preemption, or a worker unseen for too long: no strike, but the machine cost a whole
    replacement), or None (nothing: scale-down, dedup, upgrades, a replacement after producing, whose
    cause learn() reads from the cycle's transitions)."""
    if rec is None:
        return None
    if action.strike:
        return "failed_boot" if rec.first_batch_at is None else None
    if action.kind == "replace" and ((rec.state is S.STOPPED and not rec.fatal_kind) or rec.failed_polls):
        return "ended"
    return None


@dataclass(frozen=True)
class CycleFacts:
    """What one monitor cycle saw and did, as far as machines' reputations are concerned."""

    fresh: frozenset[int]                            # instances whose log was read this cycle
    records: Mapping[int, WorkerRecord]
    transitions: tuple = ()                          # lifecycle Events of this cycle
    given_up: tuple[tuple[WorkerRecord, str], ...] = ()   # struck before they produced, with the reason
    preempted: tuple[WorkerRecord, ...] = ()         # stopped with no fault in their log, or unseen too long
    excused: frozenset[int] = frozenset()            # failures a fleet hold covers: not their machines' doing

    def anything(self) -> bool:
        return bool(self.fresh or self.transitions or self.given_up or self.preempted)


def learn(hosts: Mapping[int, HostRecord], facts: CycleFacts, now: float) -> dict[int, HostRecord]:
    """Reputation after a cycle: one games/s sample per fresh read of a producing worker; one verdict per
    launch (its first batch, or given up before producing); stalls, deaths after producing, preemptions
    and long-unseen workers at END_WEIGHT; and lapsed certain blocks dropped."""
    out = expire_blocks(hosts, now)
    for rec in facts.records.values():
        if rec.state is S.PRODUCING and rec.games_per_s and rec.instance_id in facts.fresh:
            out = record_gps(out, rec.machine_id, rec.gpu_name, rec.games_per_s, 1.0, now=now)
    for ev in facts.transitions:
        moved = facts.records.get(ev.instance_id)
        if moved is None:
            continue
        if ev.to_state is S.PRODUCING and moved.first_batch_at == ev.time and ev.from_state in _STARTING:
            out = record_boot(out, moved.machine_id, moved.gpu_name, True, ev.time - moved.created_at, now)
        elif ev.to_state is S.STALLED:
            out = record_stall(out, moved.machine_id, now, END_WEIGHT)
        elif (ev.to_state in (S.ERROR, S.STOPPED) and moved.first_batch_at is not None and moved.fatal_kind
              and moved.fatal_kind not in NOT_THE_HOSTS_FAULT and ev.instance_id not in facts.excused):
            out = record_error(out, moved.machine_id, moved.fatal_kind, now, END_WEIGHT)
    for rec in facts.preempted:
        out = record_error(out, rec.machine_id, "unseen" if rec.failed_polls else "preempted", now, END_WEIGHT)
    for rec, reason in facts.given_up:
        out = record_boot(out, rec.machine_id, rec.gpu_name, False, None, now, reason=reason)
    return out
