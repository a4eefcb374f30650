"""Domain records over the generic store: hosts (strikes, observed games/s), launches in flight,
worker records, the monitor's policy state and the event log. The store knows files and locks, and
zeb.storage.codec knows their formats (envelopes, versions, shape checks); this module turns their data into
domain records and back. Nothing here decides anything."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from zeb.core.errors import ConfigError, StoreError
from zeb.core.lifecycle import record_from_dict, record_to_dict
from zeb.core.paths import user_path
from zeb.plan.hosts import (
    bad_hosts_append_text,
    count_lines,
    counts_after,
    drop_bad_hosts_lines,
    hosts_from_json,
    hosts_to_json,
    ledger_change,
    merge_ledger,
    parse_bad_hosts,
    parse_preferred,
    preferred_updates,
    rewrite_preferred,
    with_preferred,
)
from zeb.plan.types import HostRecord, InFlight
from zeb.storage.codec import (
    DESTROYING_DOC,
    HOSTS_DOC,
    INFLIGHT_DOC,
    POLICY_DOC,
    WORKERS_DOC,
    check_fields,
    encode_events,
    inflight_from_json,
    inflight_to_json,
)
from zeb.storage.store import atomic_write_bytes

# Names other modules import from here; the formats themselves live in zeb.storage.codec.
__all__ = ["DESTROYING_DOC", "HOSTS_DOC", "INFLIGHT_DOC", "POLICY_DOC", "WORKERS_DOC", "HostFiles", "StoreLedger",
           "append_events", "check_fields", "inflight_from_json", "inflight_to_json", "load_destroying",
           "load_hosts", "load_inflight", "load_records", "read_events", "retired_records", "save_destroying",
           "save_records", "update_hosts", "update_inflight"]


# -- hosts -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class HostFiles:
    """The scripts' two host files zeb shares with them (None: not shared). These and the store's own
    directory are the only places the host records are written."""

    blacklist: Path | None = None     # bad-hosts.txt: one machine id per strike per line
    preferred: Path | None = None     # preferred-hosts.txt: machine_id<TAB>games/s

    @classmethod
    def of(cls, cfg) -> HostFiles:
        """From a FleetConfig's blacklist_file and preferred_file, `~` expanded."""
        return cls(_expand(cfg.blacklist_file), _expand(cfg.preferred_file))


def _expand(path: str | Path | None) -> Path | None:
    return user_path(path) if path else None


def _host_files(files: HostFiles | str | Path | None) -> HostFiles:
    # A bare path is the older call, load_hosts(store, cfg.blacklist_file): the blacklist only.
    if files is None or isinstance(files, HostFiles):
        return files or HostFiles()
    return HostFiles(blacklist=_expand(files))


def _read_host_file(path: Path) -> str | None:
    """The file's text, or None if there is none. Anything else that stops us reading it is an error:
    skipping it would silently drop the user's blacklist."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def _parsed(path: Path, text: str | None, parse):
    try:
        return parse(text or "")
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _read_files(files: HostFiles):
    counts = pref_text = None
    preferred: dict[int, float] = {}
    if files.blacklist is not None:
        counts = count_lines(_parsed(files.blacklist, _read_host_file(files.blacklist), parse_bad_hosts))
    if files.preferred is not None:
        pref_text = _read_host_file(files.preferred)
        preferred = _parsed(files.preferred, pref_text, parse_preferred)
    return counts, preferred, pref_text


def _view(stored, files: HostFiles, counts, preferred) -> dict[int, HostRecord]:
    source = files.blacklist.name if files.blacklist is not None else ""
    return with_preferred(merge_ledger(stored, counts, source), preferred)


def load_hosts(store, files: HostFiles | str | Path | None = None) -> dict[int, HostRecord]:
    """Hosts from the store merged with the shared files (zeb.plan.hosts.merge_ledger says how).
    `files` may still be a bare blacklist path, as older callers pass it."""
    files = _host_files(files)
    stored = hosts_from_json(store.shared_doc(HOSTS_DOC).read({}))
    counts, preferred, _ = _read_files(files)
    return _view(stored, files, counts, preferred)


def update_hosts(store, fn: Callable[[dict[int, HostRecord]], dict[int, HostRecord]],
                 files: HostFiles | str | Path | None = None) -> dict[int, HostRecord]:
    """Apply `fn` to the merged view of the hosts and write the result back: zeb's store, plus the
    shared files when given (new strikes appended to bad-hosts.txt, removed ones' lines dropped from it,
    changed observed games/s set in preferred-hosts.txt). Without files only the store changes, as before.
    Everything happens under the hosts document's lock, so two zeb processes never interleave."""
    files = _host_files(files)
    if files.blacklist is None and files.preferred is None:
        new = store.shared_doc(HOSTS_DOC).update(lambda data: hosts_to_json(fn(hosts_from_json(data))), {})
        return hosts_from_json(new)
    result: dict[int, HostRecord] = {}

    def change(data):
        nonlocal result
        stored = hosts_from_json(data)
        counts, preferred, pref_text = _read_files(files)
        before = _view(stored, files, counts, preferred)
        after = fn(before)
        shared = counts is not None
        plan = ledger_change(stored, before, after, shared=shared)
        if shared and plan.drop:
            # A removal must reach the file, or the scripts keep the machine blocked: failing is an error.
            try:
                _rewrite(files.blacklist, drop_bad_hosts_lines(_read_host_file(files.blacklist) or "", plan.drop))
            except OSError as exc:
                raise StoreError(f"cannot rewrite {files.blacklist}: {exc.strerror}") from None
        if shared and plan.append:
            try:
                _append(files.blacklist, plan.append)
            except OSError as exc:
                # The strikes still count, from zeb's store alone; only the scripts miss them.
                store.warnings.append(f"cannot append to {files.blacklist} ({exc.strerror}); "
                                      "the strike is kept in zeb's store only")
                plan = ledger_change(stored, before, after, shared=False)
        updates = preferred_updates(before, after) if files.preferred is not None else {}
        if updates:
            try:
                _rewrite(files.preferred, rewrite_preferred(pref_text or "", updates))
                preferred = {**preferred, **updates}
            except OSError as exc:
                store.warnings.append(f"cannot write {files.preferred} ({exc.strerror}); "
                                      "observed games/s are kept in zeb's store only")
        result = _view(plan.store, files, counts_after(counts, plan) if shared else None, preferred)
        return hosts_to_json(plan.store)

    store.shared_doc(HOSTS_DOC).update(change, {})
    return result


def _ensure_parent(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)


def _append(path: Path, ids) -> None:
    """O_APPEND rather than a rewrite: the scripts append with `echo >>` at any moment, and a
    read-then-replace here could lose their line; one small append is never interleaved."""
    _ensure_parent(path)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        partial = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
        os.write(fd, bad_hosts_append_text(ids, after_partial_line=partial).encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _rewrite(path: Path, text: str) -> None:
    """Atomic rewrite of a host file. A symlinked file (dotfiles) is rewritten at its target, and an
    existing file keeps its mode; a file zeb creates is 0600."""
    target = path.resolve()
    try:
        mode = target.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600
    _ensure_parent(target)
    atomic_write_bytes(target, text.encode("utf-8"), mode=mode)


# -- launches in flight ----------------------------------------------------------------------

def load_inflight(store, fleet: str) -> tuple[InFlight, ...]:
    return inflight_from_json(store.fleet_doc(fleet, INFLIGHT_DOC).read([]))


def update_inflight(store, fleet: str,
                    fn: Callable[[tuple[InFlight, ...]], Iterable[InFlight]]) -> tuple[InFlight, ...]:
    new = store.fleet_doc(fleet, INFLIGHT_DOC).update(
        lambda data: inflight_to_json(fn(inflight_from_json(data))), []
    )
    return inflight_from_json(new)


# -- worker records, destroys in progress, policy state ------------------------------------------

def load_records(store, fleet: str) -> dict:
    data = store.fleet_doc(fleet, WORKERS_DOC).read({})
    return {int(k): record_from_dict(v) for k, v in data.items()}


def save_records(store, fleet: str, records: Mapping) -> None:
    store.fleet_doc(fleet, WORKERS_DOC).write({str(k): record_to_dict(v) for k, v in records.items()})


def load_destroying(store, fleet: str) -> dict[int, float]:
    return {int(k): float(v) for k, v in store.fleet_doc(fleet, DESTROYING_DOC).read({}).items()}


def save_destroying(store, fleet: str, destroying: Mapping[int, float]) -> None:
    store.fleet_doc(fleet, DESTROYING_DOC).write({str(k): v for k, v in destroying.items()})


def append_events(store, fleet: str, events: Iterable) -> None:
    rows = encode_events(events)
    if rows:
        store.events(fleet).append(rows)


def read_events(store, fleet: str, since: float | None = None) -> list[dict]:
    return store.events(fleet).read(since=since)


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

    def refused(self, label: str, at: float) -> None:
        update_inflight(
            self.store, self.fleet,
            lambda cur: [dataclasses.replace(e, refused_at=at) if e.label == label else e for e in cur],
        )


def retired_records(events: list[dict]) -> list:
    """Final records of workers that are gone, from the event log's "retired" rows."""
    return [record_from_dict(e["record"]) for e in events if e.get("kind") == "retired" and e.get("record")]
