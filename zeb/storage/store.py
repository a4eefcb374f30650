"""The local state store: JSON documents written atomically under file locks, an append-only
event log with bounded size, and the two per-fleet locks (mutation, monitor).

Vast's instance list is the source of truth for what exists; the store keeps what Vast does not.
What is inside each file (envelope, version, shape, upgrades) is zeb.storage.codec's business: the store reads
and writes through it, so the envelope is invisible above this module. Callers never put secrets (API
key, HF token) in it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from zeb.core.errors import LockHeld, StoreError, UsageError
from zeb.core.files import STALE_TEMP_S, atomic_write_bytes, sweep_temp_files  # noqa: F401  (re-exported)
from zeb.core.paths import runtime_dir, scripts_status_root, state_dir
from zeb.storage import codec
from zeb.storage.codec import BadDocument, DocFormat, NewerFormat
from zeb.storage.guard import fleet_guard

__all__ = ["BadDocument", "Doc", "EventLog", "NewerFormat", "Store", "atomic_write_bytes"]

_FLEET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
EVENT_LOG_LIMIT = 5 * 1024 * 1024
# The event log is appended in time order, but two processes stamp their rows before taking its lock, so
# neighbouring rows can be a little out of order: the window is read from this much before its start.
ORDER_SLACK_S = 86400.0
_SEEK_BLOCK = 64 * 1024


def _mkdir_private(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def _lock(path: Path, timeout: float = -1) -> FileLock:
    return FileLock(str(path), timeout=timeout, mode=0o600)


def _stamp() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"


def set_aside(path: Path, why: str, warnings: list[str], then: str = "started afresh") -> None:
    """Move a file zeb cannot use out of the way (never delete it: the user may want it back)."""
    aside = path.with_name(f"{path.name}.corrupt-{_stamp()}")
    n = 0
    while aside.exists():      # two set-asides within a second by one process
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{_stamp()}-{n}")
    try:
        os.replace(path, aside)
    except OSError as exc:
        raise StoreError(f"{path} is {why} and cannot be moved aside: {exc.strerror}") from None
    warnings.append(f"{path} was {why}; moved it aside to {aside.name} and {then}")


class Doc:
    """One JSON document. `update` is a read-modify-write under the document's lock, so concurrent
    processes lose no update. With a format (zeb.storage.codec.DOCS) the file holds the data in its envelope: a
    read upgrades an older version and sets aside a wrong shape, and neither a read nor a write touches a
    file of a newer version (NewerFormat). A backed-up format's every write also goes to `<name>.bak`,
    and a corrupt document is recovered from it. Without a format the file is plain JSON."""

    def __init__(self, path: Path, warnings: list[str], fmt: DocFormat | None = None) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")
        self._warnings = warnings
        self._fmt = fmt
        self.backup_path = path.with_name(path.name + ".bak") if fmt is not None and fmt.backed_up else None

    def _parse(self, path: Path) -> tuple[Any, str | None]:
        """(data, None), or (None, why the file is unusable). FileNotFoundError and NewerFormat pass
        through."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise
        except OSError as exc:
            return None, f"unreadable ({exc.strerror})"
        try:
            stored = json.loads(raw)
        except ValueError:
            return None, "corrupt"
        if self._fmt is None:
            return stored, None
        try:
            return self._fmt.decode(stored, str(path)), None
        except BadDocument as exc:
            return None, f"corrupt: {exc.message}"

    def _read_unlocked(self, default: Any) -> Any:
        try:
            data, why = self._parse(self.path)
        except FileNotFoundError:
            return default
        if why is None:
            return data
        saved = self._backup()
        if saved is None:
            set_aside(self.path, why, self._warnings)
            return default
        assert self.backup_path is not None
        set_aside(self.path, why, self._warnings, then=f"recovered it from {self.backup_path.name}")
        self._write_unlocked(saved)
        return saved

    def _backup(self) -> Any:
        """The second copy's data if there is a usable one, else None."""
        if self.backup_path is None:
            return None
        try:
            data, why = self._parse(self.backup_path)
        except FileNotFoundError:
            return None
        if why is not None:
            self._warnings.append(f"{self.backup_path} is {why} too; nothing to recover from")
            return None
        return data

    def _refuse_newer(self) -> None:
        """A write never replaces what a newer zeb wrote, even one that did not read it first."""
        if self._fmt is None:
            return
        try:
            stored = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return      # missing, unreadable or torn: replacing it is what a write does
        self._fmt.refuse_newer(stored, str(self.path))

    def _write_unlocked(self, data: Any) -> None:
        self._refuse_newer()
        stored = self._fmt.encode(data) if self._fmt is not None else data
        payload = json.dumps(stored, indent=1, sort_keys=True).encode()
        if self.path.is_dir():     # a directory where the file belongs would fail every replace
            set_aside(self.path, "not a file", self._warnings)
        try:
            # Under the document's lock, which every writer of the file and its backup holds.
            atomic_write_bytes(self.path, payload, locked=True)
            if self.backup_path is not None:
                atomic_write_bytes(self.backup_path, payload, locked=True)
        except OSError as exc:
            raise StoreError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def read(self, default: Any = None) -> Any:
        with _lock(self._lock_path):
            return self._read_unlocked(default)

    def write(self, data: Any) -> None:
        with _lock(self._lock_path):
            self._write_unlocked(data)

    def update(self, fn: Callable[[Any], Any], default: Any = None) -> Any:
        with _lock(self._lock_path):
            new = fn(self._read_unlocked(default))
            self._write_unlocked(new)
            return new


class EventLog:
    """JSON lines, appended under a lock. Past `limit` bytes the file rotates to one older
    generation (events.1.jsonl), so the log stays bounded; the current state of live workers
    lives in workers.json, not here, so rotation never loses it. Every line carries its version
    (zeb.storage.codec.EVENT_VERSION; append stamps it) and read returns rows upgraded to it. Lines that are
    torn, not text, or of the wrong shape are moved to a `.corrupt-*` sibling on read, with a warning,
    so the rest of the history stays usable and the warning is given once. A line a newer zeb wrote
    stops the read (NewerFormat) and nothing is moved."""

    def __init__(self, path: Path, limit: int, warnings: list[str]) -> None:
        self.path = path
        self.rotated = path.with_name(path.stem + ".1" + path.suffix)
        self.limit = limit
        self._lock_path = path.with_name(path.name + ".lock")
        self._warnings = warnings

    def append(self, records: list[dict]) -> None:
        if not records:
            return
        rows = [codec.encode_event(r) for r in records]
        data = "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in rows).encode()
        with _lock(self._lock_path):
            if self.path.is_dir():
                set_aside(self.path, "not a file", self._warnings)
            try:
                with contextlib.suppress(FileNotFoundError):
                    if self.path.stat().st_size + len(data) > self.limit:
                        os.replace(self.path, self.rotated)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
                try:
                    size = os.fstat(fd).st_size
                    # A writer killed mid-line left no newline: start on a fresh line, or this record
                    # would be glued to the torn one and lost with it.
                    if size and os.pread(fd, 1, size - 1) != b"\n":
                        data = b"\n" + data
                    os.write(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise StoreError(f"cannot append to {self.path}: {exc.strerror or exc}") from None

    def _rows(self, path: Path) -> list[dict]:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            set_aside(path, f"unreadable ({exc.strerror})", self._warnings)
            return []
        rows: list[dict] = []
        kept: list[bytes] = []
        bad: list[bytes] = []
        for line in raw.split(b"\n"):
            if not line.strip():
                continue
            try:
                row = _decode_line(line, path)
            except (ValueError, BadDocument):
                bad.append(line)
                continue
            rows.append(row)
            kept.append(line)
        if bad:
            aside = path.with_name(f"{path.name}.corrupt-{_stamp()}")
            try:
                atomic_write_bytes(aside, b"\n".join(bad) + b"\n")
                # The good lines as they were: an old line stays old on disk, and is upgraded on each read.
                atomic_write_bytes(path, b"".join(line + b"\n" for line in kept), locked=True)
            except OSError as exc:
                raise StoreError(f"{path} has unreadable lines and cannot be rewritten: {exc.strerror}") from None
            self._warnings.append(f"{path}: {len(bad)} unreadable event line(s); moved them aside to {aside.name}")
        return rows

    def _window(self, path: Path, since: float | None) -> Iterator[dict]:
        """The rows of one file at or after `since`, parsed from where the window starts (found by seeking)
        rather than from the top. A bad line in the window is skipped, and once the pass is over the file
        gets what _rows gives it: its bad lines moved aside, with the warning, as a full read would."""
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return
        except OSError:
            self._rows(path)        # sets an unreadable file aside, as a full read does
            return
        bad = False
        with handle:
            if since is not None:
                handle.seek(_window_start(handle, os.fstat(handle.fileno()).st_size, since - ORDER_SLACK_S))
            for line in handle:
                if not line.strip():
                    continue
                try:
                    row = _decode_line(line.rstrip(b"\n"), path)
                except (ValueError, BadDocument):
                    bad = True
                    continue
                if since is None or float(row["time"]) >= since:
                    yield row
        if bad:
            self._rows(path)

    def stream(self, since: float | None = None) -> Iterator[dict]:
        """What read returns, one row at a time, without holding the log in memory. It holds the log's lock
        until it is exhausted or closed: consume it at once."""
        with _lock(self._lock_path):
            for path in (self.rotated, self.path):
                yield from self._window(path, since)

    def read(self, since: float | None = None) -> list[dict]:
        return list(self.stream(since))


def _decode_line(line: bytes, path: Path) -> dict:
    return codec.decode_event(json.loads(line.decode("utf-8")), str(path))


def _line_time(line: bytes) -> float | None:
    """The time of an event line, or None if the line is not one (torn, corrupt)."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    t = row.get("time") if isinstance(row, dict) else None
    return float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else None


def _window_start(handle, size: int, since: float) -> int:
    """A line's start offset in the time-ordered log such that every line before it is older than `since`:
    binary search over byte offsets, each probe resynchronised to the next line start. Lines that do not
    parse are stepped over; the search stops within one read block, which is then read line by line."""
    lo, hi = 0, size
    while hi - lo > _SEEK_BLOCK:
        mid = (lo + hi) // 2
        handle.seek(mid - 1)
        handle.readline()                   # to the end of the line `mid` falls in
        found = None
        while found is None and handle.tell() < hi:
            start = handle.tell()
            line = handle.readline()
            if not line:
                break
            t = _line_time(line)
            if t is not None:
                found = (start, t)
        if found is not None and found[1] < since:
            lo = found[0]                   # it and everything before it are older than the window
        else:
            hi = mid
    return lo


class Store:
    def __init__(self, root: Path, *, event_limit: int = EVENT_LOG_LIMIT,
                 formats: Mapping[str, DocFormat] | None = None) -> None:
        self.root = Path(root)
        self.event_limit = event_limit
        self.warnings: list[str] = []
        self._formats = dict(codec.DOCS if formats is None else formats)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Store:
        return cls(state_dir(env))

    def _dir(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        try:
            _mkdir_private(self.root)
            _mkdir_private(path)
        except OSError as exc:
            raise StoreError(f"cannot create state directory {path}: {exc.strerror}") from None
        return path

    def fleet_dir(self, fleet: str) -> Path:
        if not _FLEET_NAME.match(fleet or ""):
            raise UsageError(f"invalid fleet name {fleet!r}: use letters, digits, '-', '_' and '.'")
        self._dir("fleets")
        return self._dir("fleets", fleet)

    def fleets(self) -> list[str]:
        base = self.root / "fleets"
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []

    def _doc(self, directory: Path, name: str) -> Doc:
        return Doc(directory / name, self.warnings, self._formats.get(name))

    def shared_doc(self, name: str) -> Doc:
        return self._doc(self._dir(), name)

    def fleet_doc(self, fleet: str, name: str) -> Doc:
        return self._doc(self.fleet_dir(fleet), name)

    def events(self, fleet: str) -> EventLog:
        return EventLog(self.fleet_dir(fleet) / "events.jsonl", self.event_limit, self.warnings)

    @contextlib.contextmanager
    def mutation_lock(self, fleet: str, timeout: float) -> Iterator[None]:
        """Held by every command that creates or destroys, so a cron replenish and a monitor cycle
        never both launch."""
        lock = _lock(self.fleet_dir(fleet) / "mutation.lock", timeout=timeout)
        try:
            lock.acquire()
        except Timeout:
            raise LockHeld(f"another zeb process has been changing fleet {fleet} for over {timeout:g}s",
                           hint="try again later") from None
        try:
            yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def monitor_guard(self, fleet: str, env: Mapping[str, str] | None = None, *, runtime: Path | None = None,
                      scripts_root: Path | None = None) -> Iterator[None]:
        """What a monitor holds for its life: the machine-wide guard (one monitor of the fleet across every
        ZEB_HOME, none while the scripts' monitor runs it; see zeb.storage.guard) and this home's monitor lock.
        Paths come from `env` (ZEB_RUNTIME_DIR, XDG_RUNTIME_DIR) unless given."""
        # The runtime dir belongs to the process, like HOME: an App's env that leaves it out (a test's
        # curated env) falls back to the process's, never to a dir other zeb processes would not see.
        env = ChainMap(dict(env), os.environ) if env is not None else os.environ
        self.fleet_dir(fleet)   # refuses a fleet name that is not safe in a file name
        with fleet_guard(fleet, self.root.resolve(), runtime=runtime or runtime_dir(env),
                         scripts_root=scripts_root or scripts_status_root(env)), self.monitor_lock(fleet):
            yield

    @contextlib.contextmanager
    def monitor_lock(self, fleet: str) -> Iterator[None]:
        """One monitor per fleet for its whole life. The OS releases it if the process dies."""
        directory = self.fleet_dir(fleet)
        lock = _lock(directory / "monitor.lock", timeout=0)
        pid_file = directory / "monitor.pid"
        try:
            lock.acquire()
        except Timeout:
            try:
                pid = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                pid = None
            who = f"pid {pid}" if pid else "another process"
            raise LockHeld(f"a monitor of fleet {fleet} is already running ({who})", pid=pid) from None
        try:
            atomic_write_bytes(pid_file, str(os.getpid()).encode(), locked=True)
            yield
        finally:
            with contextlib.suppress(OSError):
                pid_file.unlink()
            lock.release()
