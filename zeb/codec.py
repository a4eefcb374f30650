"""The stored formats, in one place: for every document zeb keeps, its file name, format name, current
schema version, shape check and upgrades from older versions; the monitor guard's sidecar; and the rows
of the event log. zeb.store moves bytes under locks and asks this module what they mean.

On disk a document is an envelope, {"format": "zeb.inflight", "version": 1, "data": ...}. A bare
document (what zeb wrote before envelopes) is version 0. A read upgrades an older version step by step,
then checks the shape; a wrong shape (an envelope naming another format included) is BadDocument, and the
store sets the file aside. A newer version is NewerFormat: a newer zeb wrote it, so it is neither set
aside nor overwritten, and the command stops with one line saying to upgrade.

Event log lines carry their version in "v" (a line without it is version 0); `upgrade_event` is the one
place that reads the old prose of version 0 rows."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from zeb.errors import StoreError
from zeb.lifecycle import Event as LifecycleEvent
from zeb.lifecycle import WorkerState, check_record
from zeb.plan.hosts import hosts_from_json
from zeb.plan.notify import NotifyState
from zeb.plan.types import InFlight

HOSTS_DOC = "hosts.json"
INFLIGHT_DOC = "inflight.json"
WORKERS_DOC = "workers.json"
POLICY_DOC = "policy.json"
DESTROYING_DOC = "destroying.json"
NOTIFY_DOC = "notify.json"
GUARD_SIDECAR = "monitor-{fleet}.json"     # in the runtime dir, see zeb.guard

Check = Callable[[Any], None]
Upgrade = Callable[[Any], Any]


class BadDocument(StoreError):
    """Valid JSON of the wrong shape. A document's check raises it; the store then sets the file aside
    exactly as it does a torn one, and the command carries on with the empty default."""


class NewerFormat(StoreError):
    """Written by a newer zeb than this one. Never set aside, never overwritten."""

    def __init__(self, where: str, version: int, known: int) -> None:
        super().__init__(f"{where} was written by a newer zeb (format version {version}; "
                         f"this zeb reads up to {known}): upgrade zeb")
        self.version = version
        self.known = known


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _bare_to_v1(data: Any) -> Any:
    """v0 -> v1: the envelope is the whole change; the data is as zeb wrote it before."""
    return data


@dataclass(frozen=True)
class DocFormat:
    name: str                              # the file name
    format: str                            # what the envelope calls it
    version: int                           # what this zeb writes
    check: Check                           # raises BadDocument on a wrong shape of the current version
    upgrades: Mapping[int, Upgrade]        # upgrades[n] turns version-n data into version n+1
    backed_up: bool = False                # the store keeps a second copy, <name>.bak

    def encode(self, data: Any) -> dict:
        return {"format": self.format, "version": self.version, "data": data}

    def stored_version(self, stored: Any) -> int:
        """The version `stored` (parsed JSON) is in; BadDocument if it is an envelope of something else."""
        if not (isinstance(stored, dict) and "format" in stored):
            return 0
        if stored["format"] != self.format:
            raise BadDocument(f"{self.name}: holds {stored['format']!r}, not {self.format}")
        version = stored.get("version")
        if not _is_int(version) or version < 1 or "data" not in stored:
            raise BadDocument(f"{self.name}: an envelope without a version or data")
        return version

    def decode(self, stored: Any, where: str) -> Any:
        """The current-version data of `stored` (parsed JSON from `where`, named in a NewerFormat)."""
        version = self.stored_version(stored)
        if version > self.version:
            raise NewerFormat(where, version, self.version)
        data = stored["data"] if version else stored
        for n in range(version, self.version):
            data = self.upgrades[n](data)
        self.check(data)
        return data

    def refuse_newer(self, stored: Any, where: str) -> None:
        """NewerFormat if `stored` is this document in a version this zeb does not know; a write checks
        the file it replaces with this."""
        try:
            version = self.stored_version(stored)
        except BadDocument:
            return
        if version > self.version:
            raise NewerFormat(where, version, self.version)


# -- shape checks ----------------------------------------------------------------------------------
# A check accepts what the document's codec decodes and whose fields have the types the code downstream
# does arithmetic with.

_KINDS: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,),
                                       "dict": (dict,), "Mapping": (dict,), "tuple": (tuple, list)}


def check_fields(obj, where: str) -> None:
    """Every field of the dataclass `obj` has its annotated type (as far as plain JSON can carry it):
    a field "float | None" holds a number or None, never a string; bool never passes for a number."""
    for name, optional, base, kinds, number_values in _field_checks(type(obj)):
        value = getattr(obj, name)
        if value is None:
            if optional:
                continue
            raise BadDocument(f"{where}: {name} is missing")
        if kinds is None:       # an enum or a nested record: its codec converted or checks it
            continue
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise BadDocument(f"{where}: {name} is {type(value).__name__}, not {base}")
        if number_values and not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()):  # type: ignore[attr-defined]  # a dict: kinds said so
            raise BadDocument(f"{where}: {name} holds a value that is not a number")


_FieldCheck = tuple[str, bool, str, tuple[type, ...] | None, bool]
_FIELD_CHECKS: dict[type, tuple[_FieldCheck, ...]] = {}


def _field_checks(cls: type) -> tuple[_FieldCheck, ...]:
    """Per field of the dataclass `cls`: (name, None allowed, base type's name, the types a value may
    have, a dict of numbers). Parsed once per class: the event log checks every line with it."""
    if cls in _FIELD_CHECKS:
        return _FIELD_CHECKS[cls]
    out = []
    for f in dataclasses.fields(cls):
        parts = [p.strip() for p in str(f.type).split("|")]
        base = next((p for p in parts if p != "None"), "")
        kinds = _KINDS.get(base.split("[", 1)[0])
        out.append((f.name, "None" in parts, base, kinds, kinds == (dict,) and base.endswith("float]")))
    _FIELD_CHECKS[cls] = tuple(out)
    return _FIELD_CHECKS[cls]


def _int_key(key, where: str) -> int:
    try:
        return int(key)
    except (TypeError, ValueError):
        raise BadDocument(f"{where}: key {key!r} is not an instance id") from None


def inflight_to_json(entries: Iterable[InFlight]) -> list[dict]:
    return [dataclasses.asdict(e) for e in entries]


def inflight_from_json(data: list) -> tuple[InFlight, ...]:
    fields = {f.name for f in dataclasses.fields(InFlight)}
    return tuple(InFlight(**{k: v for k, v in row.items() if k in fields}) for row in data or [])


def check_inflight(data) -> None:
    if not isinstance(data, list):
        raise BadDocument(f"{INFLIGHT_DOC}: expected a list of launches, found {type(data).__name__}")
    for n, row in enumerate(data):
        where = f"{INFLIGHT_DOC}: entry {n}"
        if not isinstance(row, dict):
            raise BadDocument(f"{where}: not an object")
        try:
            entry = inflight_from_json([row])[0]
        except TypeError as exc:
            raise BadDocument(f"{where}: {exc}") from None
        check_fields(entry, where)


def check_workers(data) -> None:
    if not isinstance(data, dict):
        raise BadDocument(f"{WORKERS_DOC}: expected an object of workers, found {type(data).__name__}")
    for key, row in data.items():
        _int_key(key, WORKERS_DOC)
        check_record(row, f"{WORKERS_DOC}: worker {key}")


def check_destroying(data) -> None:
    if not isinstance(data, dict):
        raise BadDocument(f"{DESTROYING_DOC}: expected an object of instance ids, found {type(data).__name__}")
    for key, value in data.items():
        _int_key(key, DESTROYING_DOC)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadDocument(f"{DESTROYING_DOC}: instance {key}: {value!r} is not a time")


def check_policy(data) -> None:
    if not isinstance(data, dict):
        raise BadDocument(f"{POLICY_DOC}: expected an object, found {type(data).__name__}")
    # deferred: the monitor's planner (~40 ms) is loaded only where a policy document is read, not by every
    # command that touches the store (`zeb status` without a monitor's policy.json)
    from zeb.plan.monitor import PolicyState

    try:
        policy = PolicyState.from_dict(data)
    except (TypeError, ValueError, AttributeError) as exc:
        raise BadDocument(f"{POLICY_DOC}: {exc}") from None
    check_fields(policy, POLICY_DOC)
    if policy.trial is not None:
        check_fields(policy.trial, f"{POLICY_DOC}: trial")
    for outcome in policy.outcomes:
        check_fields(outcome, f"{POLICY_DOC}: outcome")
    if policy.hold is not None:
        check_fields(policy.hold, f"{POLICY_DOC}: hold")
    for failure in policy.failures:
        check_fields(failure, f"{POLICY_DOC}: failure")


def check_hosts(data) -> None:
    """hosts.json: an object of machines that zeb.plan.hosts.hosts_from_json decodes."""
    if not isinstance(data, Mapping):
        raise BadDocument(f"expected an object of machines, found {type(data).__name__}")
    try:
        hosts_from_json(data)
    except StoreError as exc:
        raise BadDocument(exc.message) from None


def check_guard(data) -> None:
    """The sidecar only names the holder for a message; zeb.guard.parse_sidecar reads its fields leniently."""
    if not isinstance(data, dict):
        raise BadDocument(f"{GUARD_SIDECAR}: expected an object, found {type(data).__name__}")


def check_notify(data) -> None:
    """notify.json: the alerts' memory (zeb.plan.notify.NotifyState)."""
    try:
        NotifyState.from_dict(data)
    except ValueError as exc:
        raise BadDocument(f"{NOTIFY_DOC}: {exc}") from None


# -- the registry ----------------------------------------------------------------------------------

DOCS: dict[str, DocFormat] = {d.name: d for d in (
    # hosts.json holds what nothing else does (strike reasons, strikes while the shared bad-hosts.txt is
    # off): the store keeps a second copy, written with it and used when it is corrupt.
    DocFormat(HOSTS_DOC, "zeb.hosts", 1, check_hosts, {0: _bare_to_v1}, backed_up=True),
    DocFormat(INFLIGHT_DOC, "zeb.inflight", 1, check_inflight, {0: _bare_to_v1}),
    DocFormat(WORKERS_DOC, "zeb.workers", 1, check_workers, {0: _bare_to_v1}),
    DocFormat(POLICY_DOC, "zeb.policy", 1, check_policy, {0: _bare_to_v1}),
    DocFormat(DESTROYING_DOC, "zeb.destroying", 1, check_destroying, {0: _bare_to_v1}),
    DocFormat(NOTIFY_DOC, "zeb.notify", 1, check_notify, {0: _bare_to_v1}),
)}
# Not a store document: it lives in the runtime dir and is written only by the guard's holder.
GUARD = DocFormat(GUARD_SIDECAR, "zeb.monitor-guard", 1, check_guard, {0: _bare_to_v1})

DOC_CHECKS: dict[str, Check] = {name: d.check for name, d in DOCS.items()}
BACKED_UP = frozenset(name for name, d in DOCS.items() if d.backed_up)


# -- the event log ---------------------------------------------------------------------------------
# A v1 row is Event.to_row(): "v", time, kind, code (a reason code statistics can count), detail (the
# human text) and the optional fields below, absent when None. Other keys are free. A v0 row's "reason"
# becomes code + detail on upgrade.

EVENT_VERSION = 1
EVENT_KINDS = ("transition", "anomaly", "adopted", "retired", "action", "examples_stale", "config_halt",
               "config_halt_lifted", "fleet_hold", "fleet_hold_lifted", "strikes_withdrawn", "target")
# What a destroy's reason began with in v0 ("replace: stalled at batch 9"): the Destroy kinds that existed
# when v0 was written. Frozen with v0: a kind added later is written as a v1 code and never parsed.
DESTROY_KINDS = ("replace", "cost", "dedup", "downscale", "upgrade", "trial_failed", "retry_destroy")


@dataclass(frozen=True)
class Event:
    time: float
    kind: str                          # one of EVENT_KINDS
    code: str                          # transition: the state entered (the destroy kind when it is destroying);
                                       # action: a destroy kind, "launch" or "trial"; otherwise the kind
    detail: str = ""
    instance_id: int | None = None
    label: str | None = None
    machine_id: int | None = None
    # transition, anomaly, adopted ("from" in the row)
    from_state: str | None = None
    to: str | None = None
    evidence: str | None = None
    # action
    action: str | None = None          # "destroy" | "launch"
    ok: bool | None = None
    strike: bool | None = None
    error: str | None = None
    trial: bool | None = None
    offer_id: int | None = None
    gpu_name: str | None = None
    dph_total: float | None = None
    # retired: the worker's final record (zeb.lifecycle.record_to_dict)
    record: dict | None = None
    # target: the worker count the monitor keeps (a row when it starts and whenever the count changes)
    target: int | None = None

    def to_row(self) -> dict:
        row: dict[str, Any] = {"v": EVENT_VERSION}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                row["from" if f.name == "from_state" else f.name] = value
        return row

    @classmethod
    def from_row(cls, row: Mapping) -> Event:
        """The typed event of a v1 row (extra keys ignored); BadDocument if a field is missing."""
        names = _field_names(cls)
        known = {("from_state" if k == "from" else k): v for k, v in row.items()
                 if ("from_state" if k == "from" else k) in names}
        try:
            event = cls(**known)
        except TypeError as exc:
            raise BadDocument(f"event: {exc}") from None
        check_fields(event, "event")
        return event


def _field_names(cls: type) -> frozenset[str]:
    return frozenset(name for name, *_ in _field_checks(cls))


def event_row(time: float, kind: str, code: str, detail: str = "", **fields: Any) -> dict:
    """A v1 row of the event log, from its fields (from_state for "from"). An unknown field is a TypeError."""
    return Event(time=time, kind=kind, code=code, detail=detail, **fields).to_row()


def transition_row(e: LifecycleEvent) -> dict:
    """A worker's state change (zeb.lifecycle.Event) as a v1 row."""
    return event_row(e.time, e.kind, e.code or e.to_state.value, e.reason, instance_id=e.instance_id,
                     label=e.label, machine_id=e.machine_id, from_state=e.from_state.value if e.from_state else None,
                     to=e.to_state.value, evidence=e.evidence)


def transition_event(row: Mapping) -> LifecycleEvent:
    """A transition row (any version) as a zeb.lifecycle.Event."""
    row = upgrade_event(dict(row))
    code = row.get("code") or ""
    return LifecycleEvent(
        time=float(row["time"]), instance_id=int(row["instance_id"]), label=row.get("label") or "",
        machine_id=row.get("machine_id"), from_state=WorkerState(row["from"]) if row.get("from") else None,
        to_state=WorkerState(row["to"]), reason=row.get("detail", ""), evidence=row.get("evidence", ""),
        kind=row.get("kind", "transition"), code="" if code == row["to"] else code)


def encode_events(events: Iterable[LifecycleEvent | Mapping]) -> list[dict]:
    """Rows to append to the event log: lifecycle events encoded, rows already built passed through."""
    return [transition_row(e) if isinstance(e, LifecycleEvent) else dict(e) for e in events]


def _v0_code(kind: str, row: dict, reason: str) -> tuple[str, str]:
    """(code, detail) of a v0 row: the one place old prose is parsed."""
    head, sep, rest = reason.partition(": ")
    destroy_kind = head if sep and head in DESTROY_KINDS else None
    if kind == "action":
        if row.get("action") == "destroy":
            return (destroy_kind, rest) if destroy_kind else ("destroy", reason)
        return ("trial" if row.get("trial") is True else "launch"), reason
    if kind == "transition":
        if row.get("to") == WorkerState.DESTROYING.value and destroy_kind:
            return destroy_kind, rest
        return (row["to"] if isinstance(row.get("to"), str) else kind), reason
    return kind, reason


def upgrade_event(row: Any, where: str = "an event") -> dict:
    """`row` (one parsed line of the event log, any version this zeb knows) as a v1 row. BadDocument if it
    is not an object or has a bad "v"; NewerFormat if a newer zeb wrote it."""
    if not isinstance(row, dict):
        raise BadDocument(f"an event is {type(row).__name__}, not an object")
    version = row.get("v", 0)
    if not _is_int(version) or version < 0:
        raise BadDocument(f"event version {version!r} is not a number")
    if version > EVENT_VERSION:
        raise NewerFormat(where, version, EVENT_VERSION)
    if version == EVENT_VERSION:
        return row
    kind = row.get("kind") or "transition"
    reason = row.get("reason", "")
    if not isinstance(reason, str):
        raise BadDocument(f"event field reason is {type(reason).__name__}")
    code, detail = _v0_code(kind, row, reason) if isinstance(kind, str) else (kind, reason)
    return {**{k: v for k, v in row.items() if k != "reason"}, "v": EVENT_VERSION, "kind": kind, "code": code,
            "detail": detail}


def check_event(row: Any) -> None:
    """A v1 row: the fields readers (timeline, stats, the retired records) use have their types; other keys
    are free."""
    if not isinstance(row, dict):
        raise BadDocument(f"an event is {type(row).__name__}, not an object")
    if not _is_int(row.get("v")) or row["v"] != EVENT_VERSION:
        raise BadDocument(f"event version {row.get('v')!r} is not {EVENT_VERSION}")
    if _plainly_good(row):
        return
    event = Event.from_row(row)
    if "reason" in row and not isinstance(row["reason"], str):
        raise BadDocument(f"event field reason is {type(row['reason']).__name__}")
    for key, value in (("from", event.from_state), ("to", event.to)):
        if value is not None:
            try:
                WorkerState(value)
            except ValueError:
                raise BadDocument(f"event field {key}: {value!r} is not a worker state") from None
    if event.kind == "retired" and event.record:
        check_record(event.record, "retired event record")


_STATE_VALUES = frozenset(s.value for s in WorkerState)


@functools.cache
def _event_checks() -> tuple[tuple[str, bool, bool, tuple[type, ...] | None], ...]:
    """Per field of Event, as its row spells it: (key, required, None allowed, the types a value may have)."""
    fields = {f.name: f for f in dataclasses.fields(Event)}
    checks = _field_checks(Event)
    assert not any(numbers for *_, numbers in checks), "a dict of numbers: _plainly_good does not check it"
    return tuple(("from" if name == "from_state" else name,
                  fields[name].default is dataclasses.MISSING, optional, kinds)
                 for name, optional, _, kinds, _ in checks)


def _plainly_good(row: dict) -> bool:
    """True if check_event accepts `row`, read straight off the dict: the event log checks every line, and
    building an Event for each costs more than parsing it. Only the common, well-formed row is judged
    here; anything else (False) goes through the full check, which raises with its reason."""
    for key, required, optional, kinds in _event_checks():
        if key not in row:
            if required:
                return False
            continue            # the default: "" or None, both allowed
        value = row[key]
        if value is None:
            if optional:
                continue
            return False
        if kinds is not None and ((isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds)):
            return False
    if "reason" in row and not isinstance(row["reason"], str):
        return False
    for key in ("from", "to"):
        if row.get(key) is not None and row[key] not in _STATE_VALUES:
            return False
    if row.get("kind") == "retired" and row.get("record"):
        check_record(row["record"], "retired event record")
    return True


def decode_event(row: Any, where: str = "an event") -> dict:
    """A parsed line of the log as a checked v1 row (what EventLog.read returns)."""
    row = upgrade_event(row, where)
    check_event(row)
    return row


def encode_event(row: dict) -> dict:
    """What EventLog.append writes: a row without a version is a v0 row and is upgraded (so stamped)."""
    return row if "v" in row else upgrade_event(row)
