"""Fleet-level judgement: is this machine bad, or is everything failing for one reason outside the hosts?

A worker's failure is evidence about its machine only when the rest of the fleet does not share it. The
same failure (the same normalised exception line and failing frame in the user's code, or the same
Hugging Face or Docker error) on two or more machines within a window is the fleet's:

    failure_of(record)                      -> Failure | None   what one failed worker says, normalised
    remember(failures, new, now, window)    -> failures          the recent ones, one per instance
    judge(failures, records, now, window)   -> Verdict | None    one cause behind them, or none
    hub_verdict(check, now)                 -> Verdict | None    the hub itself answering badly

A verdict holds the fleet (zeb.plan.monitor): no strikes for it (and strikes already given for it are
withdrawn), no replacements that would fail the same way; hub causes are probed from the controller every
cycle and lift in the cycle the hub answers; code and image causes lift when one canary, launched at most
once per probe interval on the branch head, produces. Commits make a code fault certain: workers on an
older commit producing while every worker on the new one crashes is the commit's fault, not the hosts'.
No I/O, no clock."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace

from zeb.core.lifecycle import WorkerRecord, WorkerState

S = WorkerState

# fatal kind -> the fleet-level cause it can be evidence of
CAUSE_OF: Mapping[str, str] = {
    "hub_unreachable": "hub_unreachable",
    "hf_auth": "hub_auth",
    "weights_missing": "weights_missing",
    "image_pull": "image_pull",
    "traceback": "code_fault",
    # Faults of the launch configuration that new code can bring with it (a flag it no longer accepts, a
    # module it moved): the fleet's code, when a commit is known to have run before.
    "bad_args": "code_fault",
    "missing_module": "code_fault",
    "missing_file": "code_fault",
}
# Launch-configuration faults that count as the code's only when a commit shows the same settings ran before.
_CONFIG_KINDS = frozenset({"bad_args", "missing_module", "missing_file"})
# Causes the controller can ask the hub about (zeb.adapters.hub.probe_weights) every cycle.
HUB_CAUSES = frozenset({"hub_unreachable", "hub_auth", "weights_missing"})
# Causes only a launch can test: one canary per probe interval.
CANARY_CAUSES = frozenset({"code_fault", "image_pull"})
CAUSES = ("code_fault", "hub_unreachable", "hub_auth", "weights_missing", "image_pull")

# What a cause means and what the user can do, for the dashboard, `zeb status` and the alert.
EXPLAIN: Mapping[str, str] = {
    "code_fault": "the worker code crashes on every machine (a bad commit on the branch?)",
    "hub_unreachable": "Hugging Face does not answer",
    "hub_auth": "Hugging Face refuses the HF token (revoked or rotated?)",
    "weights_missing": "the weights file is not on Hugging Face",
    "image_pull": "the image cannot be pulled on any machine",
}
DOING: Mapping[str, str] = {
    "code_fault": "launches held; one canary on the branch head per probe interval",
    "hub_unreachable": "launches held; the hub is probed every cycle",
    "hub_auth": "launches held; the hub is probed every cycle with the current token",
    "weights_missing": "launches held; the hub is probed every cycle for the file",
    "image_pull": "launches held; one canary per probe interval",
}

MIN_MACHINES = 2
DEFAULT_WINDOW_S = 3600.0
_KEPT = 32


@dataclass(frozen=True)
class Failure:
    """One failed worker, normalised for comparison with the others."""

    instance_id: int
    machine_id: int
    created_at: float
    at: float                  # when it failed (it entered error/stopped)
    cause: str                 # a CAUSES value
    signature: str             # what must match for two failures to be one
    evidence: str              # the line that shows it, as the worker printed it
    commit: str | None = None
    produced: bool = False     # it had produced before it failed

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    cause: str
    signature: str
    evidence: str
    commit: str | None
    machines: tuple[int, ...]
    instance_ids: tuple[int, ...]
    certain: bool = False      # a code fault proven by an older commit producing beside it

    def line(self) -> str:
        """One line for the user: the cause, its evidence and its commit."""
        n = len(self.machines)
        where = f" on {n} machine{'s' if n != 1 else ''}" if n else ""
        commit = f" at commit {self.commit[:12]}" if self.commit else ""
        proof = " (workers on older commits keep producing)" if self.certain else ""
        evidence = f": {self.evidence}" if self.evidence else ""
        return f"{self.cause}{where}{commit}{proof}{evidence}"


@dataclass(frozen=True)
class HubCheck:
    """The controller's weights check this cycle: ok, or the cause it shows (HUB_CAUSES) with its words."""

    ok: bool
    cause: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Hold:
    """The fleet waits out a cause that is not the hosts'."""

    cause: str
    since: float
    line: str                                   # Verdict.line() when it began
    signature: str = ""
    commit: str | None = None
    instance_ids: tuple[int, ...] = ()          # the failures it covers (no strike for any of them)
    probed_at: float | None = None
    probe: str = ""                             # what the last probe said
    canary_label: str | None = None
    canary_instance: int | None = None
    canary_at: float | None = None              # when the last canary was launched
    tried: tuple[str, ...] = ()                 # branch heads launched on during the hold (code faults)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> Hold:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["instance_ids"] = tuple(known.get("instance_ids") or ())
        known["tried"] = tuple(str(c) for c in known.get("tried") or ())
        return cls(**known)

    def why(self) -> str:
        """HOLD's one line: what is wrong and what zeb does about it."""
        return f"{EXPLAIN.get(self.cause, self.cause)}: {DOING.get(self.cause, 'launches held')}"


def failure_from_dict(data: Mapping) -> Failure:
    known = {k: v for k, v in data.items() if k in Failure.__dataclass_fields__}
    return Failure(**known)


# -- normalising ------------------------------------------------------------------------------------------

_REQUEST_ID = re.compile(r"\(Request ID: [^)]*\)")
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b|\b[0-9a-f]{12,}\b")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_VAST_SAYS = re.compile(r"^vast: [^;]*; ")


def normalise(evidence: str) -> str:
    """The evidence line without what differs from machine to machine: Vast's status prefix, request ids,
    addresses and hashes, numbers (sizes, timings, ids)."""
    text = _VAST_SAYS.sub("", evidence.strip())
    text = _REQUEST_ID.sub("", text)
    text = _HEX.sub("<hex>", text)
    return _NUMBER.sub("<n>", text).strip()


def failure_of(rec: WorkerRecord, at: float | None = None) -> Failure | None:
    """What a failed worker's record says, if it could be the fleet's cause; None for a worker that has not
    failed, or whose fault is its host's by nature (no CUDA, out of memory, a segfault, a stall, a dud)."""
    if rec.state not in (S.ERROR, S.STOPPED) or not rec.fatal_kind:
        return None
    cause = CAUSE_OF.get(rec.fatal_kind)
    if cause is None:
        return None
    line = normalise(rec.evidence)
    if cause == "code_fault":
        if rec.fatal_kind == "traceback" and not rec.fault_frame:
            return None     # no frame in the user's code: a crash inside the driver or a library
        if rec.fatal_kind in _CONFIG_KINDS and rec.commit is None:
            return None     # without a commit, a broken configuration (zeb.plan.monitor's config halt)
        signature = f"{cause}|{rec.fatal_kind}|{rec.fault_frame}|{line}"
    elif cause == "image_pull":
        signature = f"{cause}|{line}"
    else:
        # A hub that does not answer fails the initial pull and every later sync alike: one cause.
        signature = cause
    produced = rec.first_batch_at is not None or rec.last_batch is not None
    evidence = _VAST_SAYS.sub("", rec.evidence.strip())
    return Failure(rec.instance_id, rec.machine_id, rec.created_at, rec.state_since if at is None else at, cause,
                   signature, evidence[:300], rec.commit, produced)


def remember(failures: Sequence[Failure], new: Iterable[Failure], now: float,
             window_s: float = DEFAULT_WINDOW_S) -> tuple[Failure, ...]:
    """The failures of the last `window_s`, one per instance (the first sighting stands), oldest first."""
    by_id = {f.instance_id: f for f in failures if now - f.at <= window_s}
    for f in new:
        if f.instance_id not in by_id and now - f.at <= window_s:
            by_id[f.instance_id] = f
    ordered = sorted(by_id.values(), key=lambda f: (f.at, f.instance_id))
    return tuple(ordered[-_KEPT:])


# -- judging ------------------------------------------------------------------------------------------------

def _groups(failures: Sequence[Failure]) -> dict[str, list[Failure]]:
    out: dict[str, list[Failure]] = {}
    for f in failures:
        out.setdefault(f.signature, []).append(f)
    return out


def _code_verdict(group: Sequence[Failure], records: Iterable[WorkerRecord]) -> tuple[bool, bool, str | None]:
    """(is the fleet's, certain, commit) for failures of one signature in the user's code. The same commit
    producing elsewhere says the code works and these hosts are odd; another commit producing while every
    worker on this one fails makes the commit's fault certain. Without commits, a worker launched after the
    first failure that got as far as producing says the same as a producing same-commit worker."""
    commits = {f.commit for f in group}
    producing = [r for r in records if r.state in (S.PRODUCING, S.STALLED)]
    if len(commits) == 1 and None not in commits:
        commit = next(iter(commits))
        if any(r.commit == commit for r in producing):
            return False, False, commit
        return True, any(r.commit is not None and r.commit != commit for r in producing), commit
    if any(f.produced for f in group):
        return False, False, None    # crashes after producing, with no commit to tie them together
    first = min(f.created_at for f in group)
    if any(r.created_at >= first and r.commit is None for r in producing):
        return False, False, None
    known = [c for c in commits if c is not None]
    return True, False, known[0] if len(set(known)) == 1 else None


def judge(failures: Sequence[Failure], records: Iterable[WorkerRecord], now: float,
          window_s: float = DEFAULT_WINDOW_S, min_machines: int = MIN_MACHINES,
          good_commits: Iterable[str] = ()) -> Verdict | None:
    """One cause behind the recent failures, if one signature shows on `min_machines` or more different
    machines within `window_s`; the group on the most machines wins, the newest on a tie. A broken launch
    configuration (bad flags, a missing module) is the code's only on a commit other than one that produced
    (`good_commits`); otherwise it stays the configuration's."""
    good = set(good_commits)
    recent = [f for f in failures if now - f.at <= window_s]
    records = list(records)
    best: tuple[tuple[int, float], Verdict] | None = None
    for signature, group in _groups(recent).items():
        machines = sorted({f.machine_id for f in group})
        cause = group[0].cause
        certain, commit = False, None
        if cause == "code_fault":
            fleets, certain, commit = _code_verdict(group, records)
            config = group[0].signature.split("|")[1] in _CONFIG_KINDS
            if not fleets or (config and (commit is None or not good - {commit})):
                continue
        # One machine is enough when it is certain: a new commit crashing in the user's code while an older
        # one produces (the upgrade trial or the first replacement after a push).
        if len(machines) < min_machines and not certain:
            continue
        newest = max(group, key=lambda f: f.at)
        verdict = Verdict(cause, signature, newest.evidence, commit, tuple(machines),
                          tuple(sorted(f.instance_id for f in group)), certain)
        rank = (len(machines), newest.at)
        if best is None or rank > best[0]:
            best = (rank, verdict)
    return best[1] if best else None


def monitor_starts(cause: str | None, has_run_here: bool) -> bool:
    """Does `zeb monitor` start when the start-up weights check fails with `cause`? A hub that does not
    answer: always (the running workers still need watching; the first cycle holds). A refused token or
    missing weights: for a fleet that has run here (a revoked token, a renamed file); for one new here it is
    most likely a typo, refused at once as `zeb up` refuses it. No cause (no token at all): never."""
    if cause == "hub_unreachable":
        return True
    return cause in HUB_CAUSES and has_run_here


def hub_verdict(check: HubCheck | None) -> Verdict | None:
    """The controller's own weights check failing is a verdict by itself: nothing launched would get further."""
    if check is None or check.ok:
        return None
    return Verdict(check.cause or "hub_unreachable", check.cause or "hub_unreachable", check.detail, None, (), ())


def covers(hold: Hold, failure: Failure | None) -> bool:
    """Is this failure the hold's cause (so it earns its host no strike)?"""
    if failure is None:
        return False
    if hold.cause in HUB_CAUSES:
        return failure.cause in HUB_CAUSES
    if failure.signature == hold.signature:
        return True
    # The same commit failing in another way is still the commit; so is a head tried during the hold.
    return hold.cause == "code_fault" and failure.cause == "code_fault" and failure.commit is not None \
        and (failure.commit == hold.commit or failure.commit in hold.tried)


def new_head(hold: Hold, head: str | None) -> bool:
    """The branch head moved to a commit this hold has not launched on: a fix may have been pushed, so it
    is tried now rather than at the next probe interval (zeb.adapters.gitremote asks the remote each cycle)."""
    return (hold.cause == "code_fault" and head is not None and head != hold.commit
            and head not in hold.tried)


def start_hold(verdict: Verdict, now: float) -> Hold:
    """The hold's first probe is the failures that started it: its first canary comes a probe interval later
    (the branch head that just crashed would crash again, unless a fix is pushed meanwhile)."""
    canary_at = now if verdict.cause in CANARY_CAUSES else None
    return Hold(verdict.cause, now, verdict.line(), verdict.signature, verdict.commit, verdict.instance_ids,
                canary_at=canary_at)


def widen(hold: Hold, instance_ids: Iterable[int]) -> Hold:
    ids = tuple(sorted(set(hold.instance_ids) | set(instance_ids)))
    return hold if ids == hold.instance_ids else replace(hold, instance_ids=ids)


def canary_due(hold: Hold, probe_interval_s: float, now: float) -> bool:
    """A canary may be launched: the cause needs one, none is out, and the last was a probe interval ago."""
    if hold.cause not in CANARY_CAUSES or hold.canary_label is not None:
        return False
    return hold.canary_at is None or now - hold.canary_at >= probe_interval_s


def cleared_by_canary(hold: Hold, records: Mapping[int, WorkerRecord]) -> WorkerRecord | None:
    """The canary, if it produces."""
    if hold.canary_label is None:
        return None
    for rec in records.values():
        if rec.state is S.PRODUCING and (rec.instance_id == hold.canary_instance or
                                         (hold.canary_instance is None and rec.label == hold.canary_label)):
            return rec
    return None


def learn_good_commits(seen: Mapping[str, float], records: Iterable[WorkerRecord], now: float,
                       kept: int = 8) -> dict[str, float]:
    """Add the commits of producing workers (first sighting stands); keep the `kept` newest."""
    out = dict(seen)
    for rec in records:
        if rec.state is S.PRODUCING and rec.commit and rec.commit not in out:
            out[rec.commit] = now
    if len(out) > kept:
        out = dict(sorted(out.items(), key=lambda kv: kv[1])[-kept:])
    return out


def last_good(seen: Mapping[str, float], excluding: str | None = None) -> str | None:
    """The commit most recently seen producing for the first time, other than `excluding`."""
    candidates = [(t, c) for c, t in seen.items() if c != excluding]
    return max(candidates)[1] if candidates else None
