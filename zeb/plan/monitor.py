"""The monitor's policy: ONE pure function from what this cycle saw to the actions to take.

    decide(snapshot, policy_state, config, target, now) -> Decision(actions, state, notes)

Each situation has its own small helper (dedup, triggers, trials, scale down, scale up, credit) in the
spirit of Ray's Reconciler; the executor (zeb/monitor.py) carries the actions out. Launches are numbered
into slow-start batches (1, 2, 4, ...): the executor runs batch 0, then 1, ... and stops at the first
failure, as Kubernetes' slowStartBatch does."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Mapping, Sequence

from zeb.config import FleetConfig
from zeb.lifecycle import WorkerRecord, WorkerState
from zeb.plan.fleet import free_indices, label_for, parse_label
from zeb.plan.types import HostRecord, InFlight, RankedOffer
from zeb.vast import Account, Instance

S = WorkerState
DESTROY_RETRY_S = 120.0
NOT_THE_HOSTS_FAULT = frozenset({"hf_auth", "hf_upload"})
# How far along a worker is, for dedup: keep the one furthest along.
_PROGRESS = {S.PRODUCING: 7, S.STALLED: 6, S.LOADING_MODEL: 5, S.SETUP: 4, S.BOOTING: 3, S.PENDING: 2,
             S.ERROR: 1, S.STOPPED: 0, S.DESTROYING: -1, S.GONE: -2}
_NOT_RUNNING = (S.PENDING, S.BOOTING, S.SETUP, S.LOADING_MODEL)


@dataclass(frozen=True)
class Trial:
    label: str
    offer_id: int
    machine_id: int
    started_at: float
    instance_id: int | None = None


@dataclass(frozen=True)
class PolicyState:
    credit_wait: bool = False
    credit_checked_at: float | None = None
    trial: Trial | None = None
    trial_cooldown_until: float = 0.0
    replacements: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping | None) -> "PolicyState":
        data = dict(data or {})
        trial = data.pop("trial", None)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(trial=Trial(**trial) if trial else None, **known)


@dataclass(frozen=True)
class Snapshot:
    fleet: str
    instances: tuple[Instance, ...]
    records: Mapping[int, WorkerRecord]
    offers: tuple[RankedOffer, ...]
    hosts: Mapping[int, HostRecord]
    blocked: frozenset[int]
    account: Account | None
    inflight: tuple[InFlight, ...]
    destroying: Mapping[int, float]


@dataclass(frozen=True)
class Launch:
    label: str
    offer: RankedOffer
    batch: int
    trial: bool = False
    reason: str = ""


@dataclass(frozen=True)
class Destroy:
    instance_id: int
    label: str
    machine_id: int
    reason: str
    strike: bool = False
    kind: str = "replace"   # replace | dedup | downscale | cost | trial_failed | upgrade | retry_destroy


@dataclass(frozen=True)
class CheckCredit:
    reason: str = "credit wait: is the balance back?"


@dataclass(frozen=True)
class Decision:
    actions: tuple = ()
    state: PolicyState = field(default_factory=PolicyState)
    notes: tuple[str, ...] = ()


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
                        state=S.STOPPED if inst.status in ("exited", "stopped") else S.PENDING,
                        state_since=now, first_seen=now)


def entered(rec: WorkerRecord) -> float:
    """When the worker entered its state: from the timeline, or its creation if first seen in it."""
    return rec.state_since if rec.state_since > rec.first_seen else min(rec.created_at, rec.state_since)


def dollars_per_gps(rec: WorkerRecord) -> float:
    return rec.dph_total / rec.games_per_s if rec.games_per_s else math.inf


def trigger(rec: WorkerRecord, inst: Instance, cfg: FleetConfig, now: float) -> tuple[str, bool, str] | None:
    """(reason, strike, kind) when this worker must be replaced, else None."""
    t = cfg.thresholds
    if rec.state is S.STOPPED or inst.status in ("exited", "stopped"):
        return f"Vast reports {inst.status or 'stopped'}", False, "replace"
    if inst.dph_total > cfg.max_dph:
        return f"costs ${inst.dph_total:.3f}/hr, over the ${cfg.max_dph:.3f}/hr limit", False, "cost"
    age_in_state = now - entered(rec)
    if rec.state is S.ERROR and age_in_state > t.fatal_grace_s:
        kind = rec.fatal_kind or "fatal error"
        # A rejected HF token or a failed upload is ours or the hub's, not the host's: no strike.
        return (f"{kind} for {age_in_state / 60:.0f} min: {rec.evidence}".strip(),
                kind not in NOT_THE_HOSTS_FAULT, "replace")
    if rec.state is S.STALLED:
        quiet = (now - (rec.last_progress_at or entered(rec))) / 60
        return f"stalled since batch {rec.last_batch}: no new batch for {quiet:.0f} min", True, "replace"
    if rec.state in (S.PENDING, S.BOOTING) and age_in_state > t.boot_timeout_s:
        return f"stuck booting for {age_in_state / 60:.0f} min", True, "replace"
    if rec.state is S.SETUP and age_in_state > t.setup_timeout_s:
        return f"stuck in setup for {age_in_state / 60:.0f} min", True, "replace"
    if rec.state in _NOT_RUNNING:
        since = rec.last_progress_at if rec.last_progress_at is not None else rec.created_at
        if now - since > t.no_progress_s:
            return f"no progress for {(now - since) / 60:.0f} min", True, "replace"
    return None


def _dedup(members: Sequence[Instance], records, now) -> tuple[list[Instance], list[Destroy]]:
    by_label: dict[str, list[Instance]] = {}
    for inst in members:
        by_label.setdefault(inst.label or "", []).append(inst)
    kept, destroys = [], []
    for label, group in by_label.items():
        group = sorted(group, key=lambda i: (-_PROGRESS[_record(i, records, now).state], i.start_date, i.id))
        kept.append(group[0])
        for dup in group[1:]:
            destroys.append(Destroy(dup.id, label, dup.machine_id, f"duplicate of {label} (keeping {group[0].id})",
                                    kind="dedup"))
    return kept, destroys


def _slow_start_batch(k: int) -> int:
    """Launch k (0-based) goes in batch floor(log2(k + 1)): sizes 1, 2, 4, 8, ..."""
    return (k + 1).bit_length() - 1


def _candidates(snap: Snapshot, cfg: FleetConfig, used_machines: set[int]) -> list[RankedOffer]:
    out, seen = [], set(used_machines)
    for r in snap.offers:
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
    t = cfg.thresholds
    fleet = snap.fleet
    actions: list = []
    notes: list[str] = []
    members = [i for i in snap.instances if parse_label(i.label, fleet) is not None]
    listed = {i.id for i in members}

    # Destroys already sent: retried past a deadline, otherwise left alone.
    for instance_id, since in sorted(snap.destroying.items()):
        if instance_id in listed and now - since > DESTROY_RETRY_S:
            inst = next(i for i in members if i.id == instance_id)
            actions.append(Destroy(instance_id, inst.label or "", inst.machine_id,
                                   f"still listed {now - since:.0f}s after destroy", kind="retry_destroy"))
    active = [i for i in members if i.id not in snap.destroying]

    # Credit: a checked account tells whether we wait.
    if snap.account is not None:
        state = replace(state, credit_wait=snap.account.exhausted, credit_checked_at=now)
    credit_wait = state.credit_wait

    kept, dedup = _dedup(active, snap.records, now)
    actions += dedup
    doomed = {d.instance_id for d in dedup}

    # Upgrade trial in progress.
    trial = state.trial
    trial_inst = None
    if trial is not None:
        trial_inst = next((i for i in kept if (trial.instance_id is not None and i.id == trial.instance_id)
                           or i.label == trial.label), None)
        in_flight = any(e.label == trial.label for e in snap.inflight)
        if trial_inst is not None and _record(trial_inst, snap.records, now).state is S.PRODUCING:
            others = [i for i in kept if i.id != trial_inst.id and _record(i, snap.records, now).state is S.PRODUCING]
            if others:
                worst = max(others, key=lambda i: (dollars_per_gps(_record(i, snap.records, now)), i.id))
                actions.append(Destroy(worst.id, worst.label or "", worst.machine_id,
                                       f"upgraded: {trial.label} produces at a better $/game/s", kind="upgrade"))
                doomed.add(worst.id)
            notes.append(f"trial {trial.label} promoted")
            state = replace(state, trial=None)
            trial, trial_inst = None, None
        elif now - trial.started_at > t.trial_timeout_s:
            if trial_inst is not None:
                actions.append(Destroy(trial_inst.id, trial.label, trial_inst.machine_id,
                                       f"upgrade trial not producing after {t.trial_timeout_s / 60:.0f} min",
                                       strike=True, kind="trial_failed"))
                doomed.add(trial_inst.id)
            notes.append(f"trial {trial.label} failed; cooling down")
            state = replace(state, trial=None, trial_cooldown_until=now + t.trial_cooldown_s)
            trial, trial_inst = None, None
        elif trial_inst is None and not in_flight and now - trial.started_at > t.inflight_expiry_s:
            state = replace(state, trial=None, trial_cooldown_until=now + t.trial_cooldown_s)
            trial = None

    # Replacement triggers.
    for inst in kept:
        if inst.id in doomed or (trial_inst is not None and inst.id == trial_inst.id):
            continue
        fired = trigger(_record(inst, snap.records, now), inst, cfg, now)
        if fired:
            reason, strike, kind = fired
            actions.append(Destroy(inst.id, inst.label or "", inst.machine_id, reason, strike=strike, kind=kind))
            doomed.add(inst.id)
            state = replace(state, replacements=state.replacements + 1)

    survivors = [i for i in kept if i.id not in doomed and (trial_inst is None or i.id != trial_inst.id)]
    pending = [e for e in snap.inflight if parse_label(e.label, fleet) is not None
               and not any(i.label == e.label for i in members) and (trial is None or e.label != trial.label)]

    # Scale down: not running first, then young, then worst $/game/s.
    excess = len(survivors) + len(pending) - target
    if excess > 0:
        def order(i: Instance):
            rec = _record(i, snap.records, now)
            not_running = rec.state in _NOT_RUNNING or rec.state is S.ERROR
            young = now - i.start_date < t.young_s
            return (0 if not_running else 1 if young else 2, -dollars_per_gps(rec), -i.start_date, i.id)

        for inst in sorted(survivors, key=order)[:excess]:
            actions.append(Destroy(inst.id, inst.label or "", inst.machine_id,
                                   f"fleet above target {target}", kind="downscale"))
            doomed.add(inst.id)
        survivors = [i for i in survivors if i.id not in doomed]

    used_labels = {parse_label(i.label, fleet) for i in survivors} | {parse_label(e.label, fleet) for e in pending}
    if trial is not None:
        used_labels.add(parse_label(trial.label, fleet))
    used_labels.discard(None)
    used_machines = {i.machine_id for i in active if i.id not in doomed} | {e.machine_id for e in snap.inflight}
    candidates = _candidates(snap, cfg, used_machines)

    missing = max(0, target - len(survivors) - len(pending))
    if missing and credit_wait:
        notes.append(f"credit wait: {missing} launch(es) held back")
    elif missing:
        labels = [label_for(fleet, i) for i in free_indices(used_labels, missing)]
        for k, (label, offer) in enumerate(zip(labels, candidates)):
            actions.append(Launch(label, offer, _slow_start_batch(k), reason="below target"))
            used_labels.add(parse_label(label, fleet))
        if len(candidates) < missing:
            notes.append(f"only {len(candidates)} usable offer(s) for {missing} missing worker(s)")
        candidates = candidates[missing:]

    # Upgrade: full, healthy, quiet fleet and an offer clearly better than the worst worker.
    healthy = [i for i in survivors if _record(i, snap.records, now).state is S.PRODUCING]
    if (not credit_wait and trial is None and now >= state.trial_cooldown_until and target > 0 and not missing
            and not pending and len(healthy) == len(survivors) == target and candidates
            and not any(isinstance(a, (Launch, Destroy)) for a in actions)):
        worst = max(dollars_per_gps(_record(i, snap.records, now)) for i in healthy)
        best = candidates[0]
        if math.isfinite(worst) and best.dollars_per_gps <= worst * (1 - t.upgrade_margin):
            label = label_for(fleet, free_indices(used_labels, 1)[0])
            actions.append(Launch(label, best, 0, trial=True,
                                  reason=f"upgrade trial: ${best.dollars_per_gps:.4f} vs worst ${worst:.4f} per game/s"))
            state = replace(state, trial=Trial(label, best.offer.id, best.offer.machine_id, now))

    if credit_wait and (state.credit_checked_at is None or now - state.credit_checked_at >= t.credit_probe_s):
        actions.append(CheckCredit())
        state = replace(state, credit_checked_at=now)

    return Decision(tuple(actions), state, tuple(notes))
