"""The stored formats, in one place: for every document zeb keeps, its file name, format name, current
schema version, shape check and upgrades from older versions; the monitor guard's sidecar; and the rows
of the event log. zeb.storage.store moves bytes under locks and asks this module what they mean.

On disk a document is an envelope, {"format": "zeb.inflight", "version": 1, "data": ...}. A bare
document (what zeb wrote before envelopes) is version 0. A read upgrades an older version step by step,
then checks the shape; a wrong shape (an envelope naming another format included) is BadDocument, and the
store sets the file aside. A newer version is NewerFormat: a newer zeb wrote it, so it is neither set
aside nor overwritten, and the command stops with one line saying to upgrade.

Event log lines carry their version in "v" (a line without it is version 0); `upgrade_event` is the one
place that reads the old prose of version 0 rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from zeb.core.errors import StoreError
from zeb.core.lifecycle import check_record
from zeb.core.shapes import (
    BadDocument,
    NewerFormat,
    _is_int,
    check_fields,
)
from zeb.plan.hosts import hosts_from_json
from zeb.plan.notify import NotifyState
from zeb.plan.types import InFlight

HOSTS_DOC = "hosts.json"
INFLIGHT_DOC = "inflight.json"
WORKERS_DOC = "workers.json"
POLICY_DOC = "policy.json"
DESTROYING_DOC = "destroying.json"
NOTIFY_DOC = "notify.json"
GUARD_SIDECAR = "monitor-{fleet}.json"     # in the runtime dir, see zeb.storage.guard

Check = Callable[[Any], None]
Upgrade = Callable[[Any], Any]


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
            try:
                data = self.upgrades[n](data)
            except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
                # An upgrade reads what an older zeb wrote before any check: data it cannot read is a wrong shape.
                raise BadDocument(f"{self.name}: version {n} data cannot be upgraded: {exc}") from None
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
    """The sidecar only names the holder for a message; zeb.storage.guard.parse_sidecar reads its fields leniently."""
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


# The event log's rows: defined with the domain (zeb.core.events), read and written through here.
# -- the event log ---------------------------------------------------------------------------------
from zeb.core.events import (  # noqa: E402, F401
    DESTROY_KINDS,
    EVENT_KINDS,
    EVENT_VERSION,
    Event,
    _plainly_good,
    check_event,
    decode_event,
    encode_event,
    encode_events,
    event_row,
    transition_event,
    transition_row,
    upgrade_event,
)
