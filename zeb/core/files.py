"""Atomic file writes: a same-directory temp file, fsync, os.replace; the temp files of killed writers
swept at the next write of the same file. The ground floor of every document zeb writes (the store's, the
config's starter file, the report)."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from pathlib import Path

# A temp file of atomic_write_bytes this old is a dead writer's: a write takes milliseconds, so even a
# stalled disk never keeps a live one in flight this long.
STALE_TEMP_S = 600.0


def _temp_name(name: str) -> re.Pattern[str]:
    # Exactly what mkstemp(prefix=f".{name}.", suffix=".tmp") makes (8 of [a-z0-9_]): never another file's
    # temp file, even one whose name starts with this one's ("a.json.bak" beside "a.json").
    return re.compile(rf"\.{re.escape(name)}\.[a-z0-9_]{{8}}\.tmp")


def sweep_temp_files(path: Path, *, locked: bool, now: float | None = None) -> list[str]:
    """Remove the temp files a killed writer of `path` left behind; returns their names. `locked`: the
    caller holds the lock every writer of `path` holds, so any temp file is a dead writer's. Otherwise
    only those older than STALE_TEMP_S go: a younger one may be a live writer's, in flight."""
    pattern = _temp_name(path.name)
    now = time.time() if now is None else now
    removed: list[str] = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        with contextlib.suppress(OSError):     # gone already (another sweeper), or not ours to remove
            if locked or now - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMP_S:
                os.unlink(entry.path)
                removed.append(entry.name)
    return removed


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o600, *, locked: bool = False) -> None:
    """Same-directory temp file -> write -> fsync -> os.replace: readers see the old or the new file.
    Temp files of earlier writes of `path` killed before their replace are swept first (see
    sweep_temp_files for what `locked` means)."""
    sweep_temp_files(path, locked=locked)
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
