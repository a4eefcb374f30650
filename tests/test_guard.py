"""The machine-wide monitor guard: one monitor per fleet across ZEB_HOMEs, and none beside the scripts'."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.simenv import lock_held_elsewhere
from zeb.core.errors import LockHeld, StoreError, UsageError
from zeb.core.paths import runtime_dir, scripts_status_root
from zeb.storage.codec import GUARD
from zeb.storage.guard import held_message, parse_pidfile, parse_sidecar, scripts_message
from zeb.storage.store import Store


@pytest.fixture
def runtime() -> Path:
    return Path(os.environ["ZEB_RUNTIME_DIR"])     # conftest points it into tmp_path


def test_runtime_dir_precedence():
    assert runtime_dir({"ZEB_RUNTIME_DIR": "/r", "XDG_RUNTIME_DIR": "/x"}) == Path("/r")
    assert runtime_dir({"XDG_RUNTIME_DIR": "/run/user/7"}) == Path("/run/user/7/zeb")
    assert runtime_dir({}, uid=1234) == Path("/tmp/zeb-1234")
    assert runtime_dir({"ZEB_RUNTIME_DIR": ""}, uid=5) == Path("/tmp/zeb-5")


def test_scripts_status_root_follows_the_runtime_override():
    assert scripts_status_root({}) == Path("/tmp")
    assert scripts_status_root({"XDG_RUNTIME_DIR": "/run/user/7"}) == Path("/tmp")
    assert scripts_status_root({"ZEB_RUNTIME_DIR": "/sandbox"}) == Path("/sandbox")


def test_messages_name_the_holder():
    assert held_message("zeb-large", 12345, "/home/u/.local/state/zeb", Path("/r/l")) == (
        "a monitor for fleet zeb-large is already running (pid 12345, ZEB_HOME /home/u/.local/state/zeb); "
        "stop it first: kill 12345")
    assert "holder unknown" in held_message("zeb", None, None, Path("/r/monitor-zeb.lock"))
    assert scripts_message("zeb", 7, Path("/tmp/zeb-monitor-zeb/monitor.pid")) == (
        "the scripts' vast_monitor.sh is already running fleet zeb (pid 7, pidfile "
        "/tmp/zeb-monitor-zeb/monitor.pid); stop it first: kill 7")


@pytest.mark.parametrize("text, want", [('{"pid": 5, "home": "/h"}', (5, "/h")), ('{"pid": 5}', (5, None)),
                                        ("{torn", (None, None)), ("[1]", (None, None)),
                                        ('{"pid": "5", "home": 3}', (None, None)), ('{"pid": -1}', (None, None))])
def test_parse_sidecar(text, want):
    assert parse_sidecar(text) == want


@pytest.mark.parametrize("text, want", [
    ('{"format": "zeb.monitor-guard", "version": 1, "data": {"pid": 5, "home": "/h"}}', (5, "/h")),
    ('{"format": "zeb.monitor-guard", "version": 2, "data": {"pid": 5, "home": "/h"}}', (None, None)),
    ('{"format": "zeb.workers", "version": 1, "data": {"pid": 5, "home": "/h"}}', (None, None)),
    ('{"format": "zeb.monitor-guard", "version": 1, "data": [5]}', (None, None)),
], ids=["v1", "newer", "another-format", "wrong-shape"])
def test_parse_sidecar_reads_the_envelope(text, want):
    assert parse_sidecar(text) == want


@pytest.mark.parametrize("text, want", [("123\n", 123), (" 9 ", 9), ("", None), ("abc", None), ("0", None),
                                        ("-4", None), ("\u00b2", None)])
def test_parse_pidfile(text, want):
    assert parse_pidfile(text) == want


def test_a_second_monitor_from_another_home_is_refused_naming_the_first(tmp_path, runtime):
    first, second = tmp_path / "home-a", tmp_path / "home-b"
    with lock_held_elsewhere(first, "monitor_guard('zeb-large')") as pid:
        with pytest.raises(LockHeld) as info, Store(second).monitor_guard("zeb-large"):
            pass
        assert str(info.value) == (f"a monitor for fleet zeb-large is already running (pid {pid}, "
                                   f"ZEB_HOME {first.resolve()}); stop it first: kill {pid}")
        assert info.value.pid == pid
        with Store(second).monitor_guard("zeb"):     # another fleet is not blocked
            pass
    with Store(second).monitor_guard("zeb-large"):   # freed when the holder was killed
        sidecar = json.loads((runtime / "monitor-zeb-large.json").read_text())
        assert sidecar["format"] == "zeb.monitor-guard" and sidecar["version"] == GUARD.version
        assert sidecar["data"]["pid"] == os.getpid()
    assert not (runtime / "monitor-zeb-large.json").exists()


def test_the_same_home_still_has_its_own_lock(tmp_path):
    # An older zeb holding only the store's monitor lock still keeps a second monitor out.
    with lock_held_elsewhere(tmp_path, "monitor_lock('zeb')") as pid, pytest.raises(LockHeld, match=f"pid {pid}"), \
            Store(tmp_path).monitor_guard("zeb"):
        pass


def test_files_left_by_a_dead_monitor_never_block(tmp_path, runtime):
    runtime.mkdir(mode=0o700)
    (runtime / "monitor-zeb.lock").write_text("")
    (runtime / "monitor-zeb.json").write_text(json.dumps({"pid": 999999999, "home": "/gone"}))
    with Store(tmp_path).monitor_guard("zeb"):
        assert parse_sidecar((runtime / "monitor-zeb.json").read_text()) == (os.getpid(), str(tmp_path.resolve()))


def _scripts_pidfile(root: Path, fleet: str, pid: int) -> Path:
    status = root / f"zeb-monitor-{fleet}"
    status.mkdir(parents=True)
    (status / "monitor.pid").write_text(f"{pid}\n")
    return status / "monitor.pid"


def test_a_running_scripts_monitor_is_honoured(tmp_path, runtime):
    scripts = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pidfile = _scripts_pidfile(runtime, "zeb", scripts.pid)
        with pytest.raises(LockHeld) as info, Store(tmp_path).monitor_guard("zeb"):
            pass
        assert str(info.value) == scripts_message("zeb", scripts.pid, pidfile) and info.value.pid == scripts.pid
    finally:
        scripts.kill()
        scripts.wait()
    with Store(tmp_path).monitor_guard("zeb"):     # the scripts' pidfile outlived its process: no block
        pass


def test_the_scripts_root_can_be_passed_in(tmp_path):
    scripts = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _scripts_pidfile(tmp_path / "elsewhere", "zeb", scripts.pid)
        with Store(tmp_path / "h").monitor_guard("zeb"):     # not where the env says to look
            pass
        with pytest.raises(LockHeld, match=r"vast_monitor\.sh"), \
                Store(tmp_path / "h").monitor_guard("zeb", runtime=tmp_path / "rt",
                                                    scripts_root=tmp_path / "elsewhere"):
            pass
    finally:
        scripts.kill()
        scripts.wait()


def test_a_garbled_scripts_pidfile_does_not_block(tmp_path, runtime):
    (runtime / "zeb-monitor-zeb").mkdir(parents=True)
    (runtime / "zeb-monitor-zeb" / "monitor.pid").write_text("not a pid")
    with Store(tmp_path).monitor_guard("zeb"):
        pass


def test_the_env_names_the_runtime_dir(tmp_path):
    rt = tmp_path / "from-env"
    with Store(tmp_path / "h").monitor_guard("zeb", env={"ZEB_RUNTIME_DIR": str(rt)}):
        assert (rt / "monitor-zeb.lock").exists() and oct((rt).stat().st_mode & 0o777) == oct(0o700)


def test_a_runtime_dir_that_is_a_symlink_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(StoreError, match="not a directory of yours"), \
            Store(tmp_path / "h").monitor_guard("zeb", runtime=tmp_path / "link"):
        pass


def test_a_bad_fleet_name_never_reaches_a_file_name(tmp_path):
    with pytest.raises(UsageError), Store(tmp_path).monitor_guard("../x"):
        pass
