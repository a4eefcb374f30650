"""The event log's rows, as plain dicts: their version, kinds and fields (Event), how a row is built
(event_row, transition_row), upgraded from an older zeb's (upgrade_event) and checked (check_event). The
planners read rows through these; zeb.storage.codec and the store write and read the log with them."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from zeb.core.lifecycle import Event as LifecycleEvent
from zeb.core.lifecycle import WorkerState, check_record
from zeb.core.shapes import BadDocument, NewerFormat, _field_checks, _is_int, check_fields

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
    # retired: the worker's final record (zeb.core.lifecycle.record_to_dict)
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
    """A worker's state change (zeb.core.lifecycle.Event) as a v1 row."""
    return event_row(e.time, e.kind, e.code or e.to_state.value, e.reason, instance_id=e.instance_id,
                     label=e.label, machine_id=e.machine_id, from_state=e.from_state.value if e.from_state else None,
                     to=e.to_state.value, evidence=e.evidence)


def transition_event(row: Mapping) -> LifecycleEvent:
    """A transition row (any version) as a zeb.core.lifecycle.Event."""
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
