"""The local state store: JSON documents written atomically under file locks, an append-only
event log with bounded size, and the two per-fleet locks (mutation, monitor).

Vast's instance list is the source of truth for what exists; the store keeps what Vast does not.
Callers never put secrets (API key, HF token) in it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from filelock import FileLock, Timeout

from zeb.errors import LockHeld, StoreError, UsageError

_FLEET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
EVENT_LOG_LIMIT = 5 * 1024 * 1024


def _user_state_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "zeb"


def _mkdir_private(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Same-directory temp file -> write -> fsync -> os.replace: readers see the old or the new file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _lock(path: Path, timeout: float = -1) -> FileLock:
    return FileLock(str(path), timeout=timeout, mode=0o600)


class Doc:
    """One JSON document. `update` is a read-modify-write under the document's lock, so concurrent
    processes lose no update."""

    def __init__(self, path: Path, warnings: list[str]) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")
        self._warnings = warnings

    def _read_unlocked(self, default: Any) -> Any:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return default
        except OSError as exc:
            raise StoreError(f"cannot read {self.path}: {exc.strerror}") from None
        try:
            return json.loads(raw)
        except ValueError:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
            os.replace(self.path, aside)
            self._warnings.append(f"{self.path} was corrupt; moved it aside to {aside.name} and started afresh")
            return default

    def read(self, default: Any = None) -> Any:
        with _lock(self._lock_path):
            return self._read_unlocked(default)

    def write(self, data: Any) -> None:
        payload = json.dumps(data, indent=1, sort_keys=True).encode()
        with _lock(self._lock_path):
            atomic_write_bytes(self.path, payload)

    def update(self, fn: Callable[[Any], Any], default: Any = None) -> Any:
        with _lock(self._lock_path):
            new = fn(self._read_unlocked(default))
            atomic_write_bytes(self.path, json.dumps(new, indent=1, sort_keys=True).encode())
            return new


class EventLog:
    """JSON lines, appended under a lock. Past `limit` bytes the file rotates to one older
    generation (events.1.jsonl), so the log stays bounded; the current state of live workers
    lives in workers.json, not here, so rotation never loses it."""

    def __init__(self, path: Path, limit: int, warnings: list[str]) -> None:
        self.path = path
        self.rotated = path.with_name(path.stem + ".1" + path.suffix)
        self.limit = limit
        self._lock_path = path.with_name(path.name + ".lock")
        self._warnings = warnings

    def append(self, records: list[dict]) -> None:
        if not records:
            return
        data = "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in records).encode()
        with _lock(self._lock_path):
            with contextlib.suppress(FileNotFoundError):
                if self.path.stat().st_size + len(data) > self.limit:
                    os.replace(self.path, self.rotated)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)

    def read(self, since: float | None = None) -> list[dict]:
        out: list[dict] = []
        with _lock(self._lock_path):
            for path in (self.rotated, self.path):
                try:
                    lines = path.read_text().splitlines()
                except FileNotFoundError:
                    continue
                for n, line in enumerate(lines, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except ValueError:
                        self._warnings.append(f"{path}:{n}: skipped an unreadable event line")
                        continue
                    if since is None or float(row.get("time", 0)) >= since:
                        out.append(row)
        return out


class Store:
    def __init__(self, root: Path, *, event_limit: int = EVENT_LOG_LIMIT) -> None:
        self.root = Path(root)
        self.event_limit = event_limit
        self.warnings: list[str] = []

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Store":
        home = env.get("ZEB_HOME")
        return cls(Path(home).expanduser() if home else _user_state_dir(env))

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

    def shared_doc(self, name: str) -> Doc:
        return Doc(self._dir() / name, self.warnings)

    def fleet_doc(self, fleet: str, name: str) -> Doc:
        return Doc(self.fleet_dir(fleet) / name, self.warnings)

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
        ZEB_HOME, none while the scripts' monitor runs it; see zeb.guard) and this home's monitor lock.
        Paths come from `env` (ZEB_RUNTIME_DIR, XDG_RUNTIME_DIR) unless given."""
        from collections import ChainMap

        from zeb.guard import fleet_guard, runtime_dir, scripts_status_root

        # The runtime dir belongs to the process, like HOME: an App's env that leaves it out (a test's
        # curated env) falls back to the process's, never to a dir other zeb processes would not see.
        env = ChainMap(dict(env), os.environ) if env is not None else os.environ
        self.fleet_dir(fleet)   # refuses a fleet name that is not safe in a file name
        with fleet_guard(fleet, self.root.resolve(), runtime=runtime or runtime_dir(env),
                         scripts_root=scripts_root or scripts_status_root(env)):
            with self.monitor_lock(fleet):
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
            atomic_write_bytes(pid_file, str(os.getpid()).encode())
            yield
        finally:
            with contextlib.suppress(OSError):
                pid_file.unlink()
            lock.release()
