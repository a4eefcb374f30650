"""The market history: price samples per GPU type in `market.sqlite` in the state directory.

Why SQLite and not one more JSON document or event log: the history only grows and is read by time
window and GPU (an index on (gpu_name, time) answers that without reading the rest), thinning deletes
rows in the middle rather than trimming a tail, and several zeb processes (the monitor, cron's replenish,
`market scan`) write to it at once: WAL mode lets readers run beside the one writer, and a busy timeout
makes a second writer wait its turn instead of failing. It is stdlib and one file.

The schema version is `PRAGMA user_version`: a file from a newer zeb is refused with one line (and never
written); a file that is not a database is set aside, with a warning, like the store's torn documents."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path

from zeb.core.errors import StoreError
from zeb.plan.market import HOUR, KEEP_ALL_S, Sample, rows_to_keep
from zeb.storage.codec import NewerFormat
from zeb.storage.store import set_aside

SCHEMA_VERSION = 1
FILE_NAME = "market.sqlite"
BUSY_TIMEOUT_S = 5.0
THIN_EVERY_S = HOUR

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    time REAL NOT NULL,
    gpu_name TEXT NOT NULL,
    min_dph REAL NOT NULL,
    median_dph REAL NOT NULL,
    count INTEGER NOT NULL,
    best_dollars_per_gps REAL
);
CREATE INDEX IF NOT EXISTS samples_gpu_time ON samples (gpu_name, time);
-- one row: when thinning last ran, so it runs at most once an hour whoever records
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value REAL NOT NULL);
"""


class MarketHistory:
    """One connection to the history. Use as a context manager; every write is its own short transaction."""

    def __init__(self, path: Path, warnings: list[str], *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self._warnings = warnings
        self._timeout = busy_timeout_s
        self._db = self._open()

    @classmethod
    def of(cls, store) -> MarketHistory:
        return cls(Path(store.root) / FILE_NAME, store.warnings)

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise StoreError(f"{self.path} is busy (locked by another zeb run): try again") from None
            self._set_aside(str(exc))
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        _make_private(self.path)
        db = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        try:
            db.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise NewerFormat(str(self.path), version, SCHEMA_VERSION)
            db.execute("PRAGMA journal_mode = WAL")
            if version < SCHEMA_VERSION:
                with _transaction(db):
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            db.close()
            raise
        return db

    def _set_aside(self, why: str) -> None:
        """The store's own set-aside (never deleted), then the SQLite side files of the old database."""
        set_aside(self.path, f"unreadable ({why})", self._warnings, then="started a new market history")
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(f"{self.path}{suffix}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> MarketHistory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- write ----------------------------------------------------------------------------------

    def record(self, samples: Sequence[Sample], now: float) -> None:
        """Append `samples`, then thin if the last thinning is an hour old."""
        if samples:
            with _transaction(self._db):
                self._db.executemany(
                    "INSERT INTO samples (time, gpu_name, min_dph, median_dph, count, best_dollars_per_gps) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [(s.time, s.gpu_name, s.min_dph, s.median_dph, s.count, s.best_dollars_per_gps)
                     for s in samples])
        self.thin(now)

    def thin(self, now: float, *, force: bool = False) -> int:
        """Drop what zeb.plan.market.rows_to_keep does not keep; at most once an hour unless `force`.
        Only rows older than 48 h are read: the young ones are all kept. Returns how many were dropped."""
        with _transaction(self._db):
            row = self._db.execute("SELECT value FROM meta WHERE key = 'thinned'").fetchone()
            if not force and row is not None and now - row[0] < THIN_EVERY_S:
                return 0
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('thinned', ?)", (now,))
            old = self._db.execute("SELECT rowid, time, gpu_name FROM samples WHERE time < ?",
                                   (now - KEEP_ALL_S,)).fetchall()
            keep = rows_to_keep(old, now)
            drop = [(r[0],) for r in old if r[0] not in keep]
            self._db.executemany("DELETE FROM samples WHERE rowid = ?", drop)
        return len(drop)

    # -- read -----------------------------------------------------------------------------------

    def samples(self, since: float = 0.0, gpus: Collection[str] = ()) -> list[Sample]:
        """Samples at or after `since`, oldest first; only `gpus` if given."""
        query = ("SELECT time, gpu_name, min_dph, median_dph, count, best_dollars_per_gps FROM samples "
                 "WHERE time >= ?")
        args: list = [since]
        if gpus:
            query += f" AND gpu_name IN ({', '.join('?' * len(gpus))})"
            args.extend(gpus)
        return [Sample(*row) for row in self._db.execute(query + " ORDER BY time", args)]


def _make_private(path: Path) -> None:
    """The database file exists and is 0600 before SQLite opens it: SQLite creates the -wal and -shm files
    (lazily, from whichever zeb process gets there first) with the database file's own mode, so they are
    0600 too. Side files an older zeb left 0644 are narrowed here."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    except OSError as exc:
        raise StoreError(f"cannot open {path}: {exc.strerror}") from None
    for name in (str(path), f"{path}-wal", f"{path}-shm"):
        with contextlib.suppress(OSError):     # missing, or another user's: SQLite has the last word
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE: take the write lock at the start, so a second writer waits on busy_timeout here rather
    # than failing to upgrade a read lock halfway through.
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def record_quietly(store, samples: Iterable[Sample], now: float) -> None:
    """Record for an offer search that is about something else: a failure of the history (locked past the
    busy timeout, a newer zeb's file, a full disk) becomes one warning on `store.warnings`, never an
    error of the search."""
    root = getattr(store, "root", None)
    samples = list(samples)
    if root is None or not samples:
        return
    try:
        with MarketHistory.of(store) as history:
            history.record(samples, now)
    except (StoreError, sqlite3.Error, OSError) as exc:
        store.warnings.append(f"market history not recorded: {exc}")
