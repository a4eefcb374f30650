"""The seeking, streaming event-log reader returns exactly what a full read of the log returns (every line
parsed, then filtered by time), for windows at the start, middle and end, an empty one, and with a torn last
line or a corrupt line in the middle (which are set aside as the full reader does)."""

from __future__ import annotations

import pytest

from zeb.storage.codec import event_row
from zeb.storage.store import Store

T0 = 1_800_000_000.0
N = 3000


def _log(tmp_path, *, limit: int = 1 << 30):
    store = Store(tmp_path / "home", event_limit=limit)
    log = store.events("zeb")
    rows = [event_row(T0 + 60 * n, "transition", "producing", f"row {n} " + "x" * (n % 90), instance_id=n,
                      label=f"zeb-worker-vast-{n % 8}", from_state="booting", to="producing") for n in range(N)]
    for n in range(0, N, 500):
        log.append(rows[n:n + 500])
    return store, log


def _full(log, since):
    return [r for path in (log.rotated, log.path) for r in log._rows(path) if since is None or r["time"] >= since]


@pytest.mark.parametrize("since", [None, T0 - 1, T0, T0 + 60 * 1500 + 1, T0 + 60 * (N - 3), T0 + 60 * N + 1])
def test_the_window_is_what_a_full_read_gives(tmp_path, since):
    _, log = _log(tmp_path)
    assert log.read(since) == _full(log, since)
    assert len(log.read(since)) == len([n for n in range(N) if since is None or T0 + 60 * n >= since])


def test_across_the_rotated_file(tmp_path):
    _, log = _log(tmp_path, limit=300_000)
    assert log.rotated.exists()
    for since in (None, T0 + 60 * 100, T0 + 60 * 2500):
        assert log.read(since) == _full(log, since)


@pytest.mark.parametrize("where", ["torn last line", "corrupt middle line"])
def test_bad_lines_are_skipped_and_set_aside_like_a_full_read(tmp_path, where):
    _, log = _log(tmp_path)
    raw = log.path.read_bytes()
    if where == "torn last line":
        log.path.write_bytes(raw + b'{"v": 1, "time": 18000')
    else:
        lines = raw.split(b"\n")
        lines[N // 2] = b"not json at all"
        log.path.write_bytes(b"\n".join(lines))
    since = T0 + 60 * (N // 4)
    expected = [r for r in _full(_log(tmp_path / "again")[1], since)
                if not (where != "torn last line" and r["instance_id"] == N // 2)]
    warnings = log._warnings
    assert log.read(since) == expected
    assert len(warnings) == 1 and "1 unreadable event line" in warnings[0]
    assert list(log.path.parent.glob("events.jsonl.corrupt-*"))
    assert log.read(since) == expected and len(warnings) == 1      # set aside once
