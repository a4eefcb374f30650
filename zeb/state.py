"""Domain records over the generic store: hosts (strikes, observed games/s), launches in flight,
worker records, the monitor's policy state and the event log. The store knows files and locks;
this module knows what is in them. Nothing here decides anything."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Iterable, Mapping

from zeb.errors import ConfigError
from zeb.plan.types import HostRecord, InFlight

HOSTS_DOC = "hosts.json"
INFLIGHT_DOC = "inflight.json"
WORKERS_DOC = "workers.json"
POLICY_DOC = "policy.json"
DESTROYING_DOC = "destroying.json"


# -- hosts -----------------------------------------------------------------------------------

def load_hosts(store, blacklist_file: str | None = None) -> dict[int, HostRecord]:
    """Hosts from the store, plus one strike per line of a scripts-style bad-hosts.txt (ZEB_BLACKLIST)."""
    from zeb.plan.hosts import hosts_from_json, import_bad_hosts, parse_bad_hosts

    hosts = hosts_from_json(store.shared_doc(HOSTS_DOC).read({}))
    if blacklist_file:
        path = Path(blacklist_file).expanduser()
        if path.exists():
            try:
                ids = parse_bad_hosts(path.read_text())
            except ValueError as exc:
                raise ConfigError(f"{path}: {exc}") from None
            hosts = import_bad_hosts(hosts, ids, 0.0, f"file {path}")
    return hosts


def update_hosts(store, fn: Callable[[dict[int, HostRecord]], dict[int, HostRecord]]) -> dict[int, HostRecord]:
    from zeb.plan.hosts import hosts_from_json, hosts_to_json

    new = store.shared_doc(HOSTS_DOC).update(lambda data: hosts_to_json(fn(hosts_from_json(data))), {})
    return hosts_from_json(new)


# -- launches in flight ----------------------------------------------------------------------

def inflight_to_json(entries: Iterable[InFlight]) -> list[dict]:
    return [dataclasses.asdict(e) for e in entries]


def inflight_from_json(data: list) -> tuple[InFlight, ...]:
    fields = {f.name for f in dataclasses.fields(InFlight)}
    return tuple(InFlight(**{k: v for k, v in row.items() if k in fields}) for row in data or [])


def load_inflight(store, fleet: str) -> tuple[InFlight, ...]:
    return inflight_from_json(store.fleet_doc(fleet, INFLIGHT_DOC).read([]))


def update_inflight(store, fleet: str, fn: Callable[[tuple[InFlight, ...]], Iterable[InFlight]]) -> tuple[InFlight, ...]:
    new = store.fleet_doc(fleet, INFLIGHT_DOC).update(
        lambda data: inflight_to_json(fn(inflight_from_json(data))), []
    )
    return inflight_from_json(new)


# -- worker records, destroys in progress, policy state ------------------------------------------

def load_records(store, fleet: str) -> dict:
    from zeb.lifecycle import record_from_dict

    data = store.fleet_doc(fleet, WORKERS_DOC).read({})
    return {int(k): record_from_dict(v) for k, v in data.items()}


def save_records(store, fleet: str, records: Mapping) -> None:
    from zeb.lifecycle import record_to_dict

    store.fleet_doc(fleet, WORKERS_DOC).write({str(k): record_to_dict(v) for k, v in records.items()})


def load_destroying(store, fleet: str) -> dict[int, float]:
    return {int(k): float(v) for k, v in store.fleet_doc(fleet, DESTROYING_DOC).read({}).items()}


def save_destroying(store, fleet: str, destroying: Mapping[int, float]) -> None:
    store.fleet_doc(fleet, DESTROYING_DOC).write({str(k): v for k, v in destroying.items()})


def append_events(store, fleet: str, events: Iterable) -> None:
    from zeb.lifecycle import event_to_dict

    rows = [e if isinstance(e, dict) else event_to_dict(e) for e in events]
    if rows:
        store.events(fleet).append(rows)


def read_events(store, fleet: str, since: float | None = None) -> list[dict]:
    return store.events(fleet).read(since=since)


def known_fleets(store) -> list[str]:
    return store.fleets() if hasattr(store, "fleets") else []


class StoreLedger:
    """The launches-in-flight ledger of one fleet, written through to the store on every change
    so that a crash between create and listing never causes a second launch."""

    def __init__(self, store, fleet: str) -> None:
        self.store = store
        self.fleet = fleet

    def add(self, entry: InFlight) -> None:
        update_inflight(self.store, self.fleet, lambda cur: [e for e in cur if e.label != entry.label] + [entry])

    def resolve(self, label: str, instance_id: int) -> None:
        update_inflight(
            self.store, self.fleet,
            lambda cur: [dataclasses.replace(e, instance_id=instance_id) if e.label == label else e for e in cur],
        )

    def drop(self, label: str) -> None:
        update_inflight(self.store, self.fleet, lambda cur: [e for e in cur if e.label != label])


def retired_records(events: list[dict]) -> list:
    """Final records of workers that are gone, from the event log's "retired" rows."""
    from zeb.lifecycle import record_from_dict

    return [record_from_dict(e["record"]) for e in events if e.get("kind") == "retired" and e.get("record")]
