"""The store: atomic writes, no lost updates across processes, locks across processes, 0600/0700,
corrupt files set aside, a bounded event log."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from zeb.core.errors import LockHeld, StoreError, UsageError
from zeb.storage.store import Store


def _py(code: str, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], **kw)


def test_permissions(tmp_path):
    store = Store(tmp_path / "home")
    store.fleet_doc("zeb", "workers.json").write({"a": 1})
    store.events("zeb").append([{"time": 1.0}])
    assert stat.S_IMODE((tmp_path / "home").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "home" / "fleets" / "zeb").stat().st_mode) == 0o700
    for name in ("workers.json", "events.jsonl"):
        assert stat.S_IMODE((tmp_path / "home" / "fleets" / "zeb" / name).stat().st_mode) == 0o600


def test_read_default_and_round_trip(tmp_path):
    doc = Store(tmp_path).shared_doc("doc.json")
    assert doc.read({"x": 0}) == {"x": 0}
    doc.write({"x": 1})
    assert doc.read({}) == {"x": 1}
    assert doc.update(lambda d: {"x": d["x"] + 1}, {}) == {"x": 2}


def test_bad_fleet_name_is_rejected(tmp_path):
    with pytest.raises(UsageError):
        Store(tmp_path).fleet_doc("../etc", "x.json")


def test_corrupt_file_is_moved_aside_not_emptied(tmp_path):
    store = Store(tmp_path)
    doc = store.shared_doc("doc.json")
    doc.write({"ok": True})
    doc.path.write_bytes(b"{not json")
    assert doc.read({"default": 1}) == {"default": 1}
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("doc.json.corrupt-")]
    assert len(aside) == 1 and aside[0].read_bytes() == b"{not json"
    assert store.warnings and "corrupt" in store.warnings[0]


def test_failed_replace_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    doc = Store(tmp_path).shared_doc("doc.json")
    doc.write({"v": 1})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(StoreError, match="cannot write"):
        doc.write({"v": 2})
    monkeypatch.undo()
    assert doc.read() == {"v": 1}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_concurrent_writers_lose_no_update(tmp_path):
    code = """
        import sys
        from pathlib import Path
        from zeb.storage.store import Store
        doc = Store(Path(sys.argv[1])).shared_doc("counter.json")
        for _ in range(50):
            doc.update(lambda d: {"n": d["n"] + 1}, {"n": 0})
    """
    procs = [_py(code, str(tmp_path)) for _ in range(4)]
    assert all(p.wait(60) == 0 for p in procs)
    assert Store(tmp_path).shared_doc("counter.json").read() == {"n": 200}


def test_killed_writer_leaves_old_or_new_never_torn(tmp_path):
    code = """
        import sys
        from pathlib import Path
        from zeb.storage.store import Store
        doc = Store(Path(sys.argv[1])).shared_doc("big.json")
        i = 0
        while True:
            i += 1
            doc.write({"i": i, "pad": "x" * 400000})
    """
    for attempt in range(12):
        proc = _py(code, str(tmp_path))
        time.sleep(0.05 + 0.02 * attempt)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        path = tmp_path / "big.json"
        if path.exists():
            data = json.loads(path.read_bytes())
            assert len(data["pad"]) == 400000


def test_mutation_lock_times_out_across_processes(tmp_path):
    holder = _py("""
        import sys, time
        from pathlib import Path
        from zeb.storage.store import Store
        with Store(Path(sys.argv[1])).mutation_lock("zeb", timeout=5):
            print("held", flush=True)
            time.sleep(30)
    """, str(tmp_path), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld), Store(tmp_path).mutation_lock("zeb", timeout=0.2):
            pass
    finally:
        holder.kill()
        holder.wait()
    with Store(tmp_path).mutation_lock("zeb", timeout=2):  # released when the holder died
        pass


def test_monitor_lock_names_the_holding_pid(tmp_path):
    holder = _py("""
        import sys, time
        from pathlib import Path
        from zeb.storage.store import Store
        with Store(Path(sys.argv[1])).monitor_lock("zeb"):
            print("held", flush=True)
            time.sleep(30)
    """, str(tmp_path), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld) as info, Store(tmp_path).monitor_lock("zeb"):
            pass
        assert info.value.pid == holder.pid
        assert str(holder.pid) in str(info.value)
    finally:
        holder.kill()
        holder.wait()
    with Store(tmp_path).monitor_lock("zeb"):
        pass


def test_event_log_rotates_and_keeps_newest(tmp_path):
    store = Store(tmp_path, event_limit=2000)
    log = store.events("zeb")
    for i in range(200):
        log.append([{"time": float(i), "n": i}])
    rows = log.read()
    assert rows[-1]["n"] == 199
    assert len(rows) < 200
    assert [r["n"] for r in rows] == sorted(r["n"] for r in rows)
    assert os.path.getsize(log.path) <= 2000
    assert [r["n"] for r in log.read(since=198.0)] == [198, 199]


# -- temp files a killed writer left behind -----------------------------------------------------------

_WRITE_THEN = """
    import os, sys
    from pathlib import Path
    from zeb.storage import store
    def fsync(fd):          # the temp file is written: now die, or wait for the test
        if sys.argv[2] == "die":
            os.kill(os.getpid(), 9)
        print("in flight", flush=True)
        sys.stdin.readline()
    store.os.fsync = fsync
    store.atomic_write_bytes(Path(sys.argv[1]), b"theirs")
"""


def _temps(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_a_killed_writers_temp_file_is_gone_after_the_next_write(tmp_path):
    store = Store(tmp_path / "home")
    doc = store.fleet_doc("zeb", "inflight.json")
    fleet = tmp_path / "home" / "fleets" / "zeb"
    proc = _py(_WRITE_THEN, str(fleet / "inflight.json"), "die")
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert len(_temps(fleet)) == 1 and _temps(fleet)[0].startswith(".inflight.json.")   # kill -9 mid-write
    others = [".workers.json.abcd1234.tmp", ".inflight.json.x.abcd1234.tmp"]     # not inflight.json's
    for name in others:
        (fleet / name).write_bytes(b"")
    doc.write([])
    assert _temps(fleet) == sorted(others) and doc.read() == []


def test_a_backed_up_documents_temp_files_are_swept_with_it(tmp_path):
    from zeb.storage.codec import BACKED_UP

    name = sorted(BACKED_UP)[0]
    store = Store(tmp_path / "home")
    (tmp_path / "home").mkdir(mode=0o700)
    for stale in (f".{name}.0000aaaa.tmp", f".{name}.bak.0000bbbb.tmp"):
        (tmp_path / "home" / stale).write_bytes(b"{")
    store.shared_doc(name).write({})
    assert _temps(tmp_path / "home") == []


def test_a_live_writers_temp_file_outside_a_lock_is_left_alone(tmp_path):
    from zeb.storage.store import STALE_TEMP_S, atomic_write_bytes

    target = tmp_path / "report.html"
    proc = _py(_WRITE_THEN, str(target), "wait", stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "in flight\n"
        [theirs] = _temps(tmp_path)
        dead = tmp_path / ".report.html.deadbeef.tmp"          # a writer killed an hour ago
        dead.write_bytes(b"")
        os.utime(dead, (time.time() - 6 * STALE_TEMP_S,) * 2)
        atomic_write_bytes(target, b"ours")
        assert _temps(tmp_path) == [theirs] and target.read_bytes() == b"ours"
    finally:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
    assert _temps(tmp_path) == [] and target.read_bytes() == b"theirs"
