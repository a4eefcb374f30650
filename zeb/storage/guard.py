"""The machine-wide monitor guard: one monitor per fleet on this machine, whatever its ZEB_HOME, and
none while the scripts' vast_monitor.sh runs that fleet.

The store's monitor lock lives inside ZEB_HOME, so two homes would each let a monitor run the same
Vast fleet. This guard lives in a runtime dir every zeb on the machine agrees on (zeb.core.paths.runtime_dir:
ZEB_RUNTIME_DIR, else $XDG_RUNTIME_DIR/zeb, else /tmp/zeb-<uid>). It is an flock, so the OS drops it when its process
dies and a file left behind never blocks; a sidecar next to it names the holder for the message (in the
envelope zeb.storage.codec.GUARD; one an older zeb wrote, bare, reads as well)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from zeb.core.errors import LockHeld, StoreError
from zeb.storage.codec import GUARD

SCRIPTS_STATUS_DIR = "zeb-monitor-{fleet}"    # vast_monitor.sh: STATUS_DIR=/tmp/zeb-monitor-${FLEET}
SCRIPTS_PIDFILE = "monitor.pid"


def held_message(fleet: str, pid: int | None, home: str | None, lock_path: Path) -> str:
    if pid is None:
        return (f"a monitor for fleet {fleet} is already running (holder unknown, lock {lock_path}); "
                "stop it first")
    where = f", ZEB_HOME {home}" if home else ""
    return f"a monitor for fleet {fleet} is already running (pid {pid}{where}); stop it first: kill {pid}"


def scripts_message(fleet: str, pid: int, pidfile: Path) -> str:
    return (f"the scripts' vast_monitor.sh is already running fleet {fleet} (pid {pid}, pidfile {pidfile}); "
            f"stop it first: kill {pid}")


def parse_sidecar(text: str) -> tuple[int | None, str | None]:
    """(pid, ZEB_HOME) of the holder; (None, None) for a sidecar cut short, from elsewhere, or from a newer
    zeb (whose shape this one cannot know)."""
    try:
        data = GUARD.decode(json.loads(text), "monitor guard sidecar")
    except (ValueError, StoreError):
        return None, None
    pid = data.get("pid")
    home = data.get("home")
    return (pid if isinstance(pid, int) and pid > 0 else None), (home if isinstance(home, str) else None)


def parse_pidfile(text: str) -> int | None:
    item = text.strip()
    return int(item) if item.isascii() and item.isdigit() and int(item) > 0 else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True     # someone else's process: alive, and not ours to judge
    return True


def _private_dir(path: Path) -> None:
    """Create the runtime dir 0700, and refuse one another user owns: in a shared /tmp, someone else
    could otherwise plant the lock file or the sidecar we trust."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = path.lstat()
    except OSError as exc:
        raise StoreError(f"cannot create runtime directory {path}: {exc.strerror}") from None
    if not path.is_dir() or path.is_symlink() or info.st_uid != os.getuid():
        raise StoreError(f"runtime directory {path} is not a directory of yours; set ZEB_RUNTIME_DIR")


def check_scripts(fleet: str, scripts_root: Path) -> None:
    pidfile = scripts_root / SCRIPTS_STATUS_DIR.format(fleet=fleet) / SCRIPTS_PIDFILE
    try:
        pid = parse_pidfile(pidfile.read_text(errors="replace"))
    except OSError:
        return      # no pidfile (or none we may read): the scripts' own guard is not up
    if pid is not None and pid != os.getpid() and pid_alive(pid):
        raise LockHeld(scripts_message(fleet, pid, pidfile), pid=pid)


@contextlib.contextmanager
def fleet_guard(fleet: str, home: Path, *, runtime: Path, scripts_root: Path) -> Iterator[None]:
    """Hold the machine-wide monitor guard of `fleet` (a validated fleet name) for the block; raises
    LockHeld naming the running monitor, zeb's or the scripts'."""
    _private_dir(runtime)
    lock_path = runtime / f"monitor-{fleet}.lock"
    sidecar = runtime / f"monitor-{fleet}.json"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot open {lock_path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                pid, holder_home = parse_sidecar(sidecar.read_text())
            except OSError:
                pid, holder_home = None, None
            if pid is not None and not pid_alive(pid):
                # A sidecar left by a killed holder, read while the new holder is still writing its own.
                pid, holder_home = None, None
            raise LockHeld(held_message(fleet, pid, holder_home, lock_path), pid=pid) from None
        check_scripts(fleet, scripts_root)
        from zeb.core.files import atomic_write_bytes

        # Only the flock's holder writes it, so any sidecar there, even a newer zeb's, is a dead holder's.
        atomic_write_bytes(sidecar, json.dumps(GUARD.encode({"pid": os.getpid(), "home": str(home),
                                                             "fleet": fleet})).encode())
        try:
            yield
        finally:
            # Removed while still locked, so it never names a monitor that has gone; the lock file
            # stays (unlinking an flock'd file lets two processes lock two different files).
            with contextlib.suppress(OSError):
                sidecar.unlink()
    finally:
        os.close(fd)
