"""Where zeb's files live (zeb.core.paths): the env overrides win everywhere; on Linux every path is the one
zeb computed before platformdirs, byte for byte, and platformdirs is not even imported; on macOS and Windows
new users get the native directories and existing users keep theirs."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeb.core import paths
from zeb.core.config import BUILT_IN
from zeb.storage.state import HostFiles
from zeb.storage.store import Store

ZEB = Path(paths.__file__).resolve().parent.parent
XDG = ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "XDG_CACHE_HOME")
# What platformdirs asks Windows for, given the way it takes on another platform: LOCALAPPDATA (4.2) or its
# override variable (later versions, which would call Windows otherwise). One value: 4.2 caches the answer.
LOCALAPPDATA = "C:\\Users\\u\\AppData\\Local"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A HOME of the test's own, no XDG variable in the process (platformdirs reads them too), cwd
    without a fleets.toml."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in XDG:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LOCALAPPDATA", LOCALAPPDATA)
    monkeypatch.setenv("WIN_PD_OVERRIDE_LOCAL_APPDATA", LOCALAPPDATA)
    monkeypatch.chdir(tmp_path)
    return home


# -- what zeb computed before zeb.core.paths, copied as it was --------------------------------------

def _old_state_dir(env):
    home = env.get("ZEB_HOME")
    if home:
        return Path(home).expanduser()
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "zeb"


def _old_user_config_path(env):
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "zeb" / "fleets.toml"


def _old_config_path(env):
    if env.get("ZEB_CONFIG"):
        return Path(env["ZEB_CONFIG"]).expanduser()
    local = Path.cwd() / "fleets.toml"
    return local if local.exists() else _old_user_config_path(env)


def _old_config_init_target(env):
    return (Path(env["ZEB_CONFIG"]) if env.get("ZEB_CONFIG") else _old_user_config_path(env)).expanduser()


def _old_runtime_dir(env, uid=None):
    if env.get("ZEB_RUNTIME_DIR"):
        return Path(env["ZEB_RUNTIME_DIR"]).expanduser()
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "zeb"
    return Path("/tmp") / f"zeb-{os.getuid() if uid is None else uid}"


def _old_scripts_status_root(env):
    return Path(env["ZEB_RUNTIME_DIR"]).expanduser() if env.get("ZEB_RUNTIME_DIR") else Path("/tmp")


_values = st.sampled_from(["", "~", "~/zeb state", "/abs/dir", "rel/dir", "/trailing/", "/a/./b/../c", "~/"])
_envs = st.dictionaries(st.sampled_from(["ZEB_HOME", "ZEB_CONFIG", "ZEB_RUNTIME_DIR", *XDG, "HOME"]), _values)


@settings(max_examples=200, deadline=None)
@given(env=_envs, local_toml=st.booleans(), uid=st.none() | st.integers(0, 70000))
def test_on_linux_every_path_is_the_old_one_byte_for_byte(tmp_path_factory, env, local_toml, uid):
    cwd = tmp_path_factory.mktemp("cwd")
    if local_toml:
        (cwd / "fleets.toml").write_text("")
    before = os.getcwd()
    os.chdir(cwd)
    try:
        for system in ("linux", "freebsd14", "cygwin"):
            pairs = [(paths.state_dir(env, system), _old_state_dir(env)),
                     (paths.user_config_path(env, system), _old_user_config_path(env)),
                     (paths.config_path(env, system), _old_config_path(env)),
                     (paths.config_target(env, system), _old_config_init_target(env)),
                     (paths.runtime_dir(env, uid, system), _old_runtime_dir(env, uid)),
                     (paths.scripts_status_root(env), _old_scripts_status_root(env))]
            for new, old in pairs:
                assert os.fsencode(new) == os.fsencode(old)
    finally:
        os.chdir(before)


def test_the_store_and_the_config_resolve_through_paths(home):
    env = {"XDG_STATE_HOME": str(home / "st"), "XDG_CONFIG_HOME": str(home / "cf")}
    assert Store.from_env(env).root == home / "st" / "zeb" == paths.state_dir(env)
    assert Store.from_env({}).root == home / ".local" / "state" / "zeb"
    from zeb.core.config import config_path, user_config_path

    assert config_path(env) == user_config_path(env) == home / "cf" / "zeb" / "fleets.toml"


def test_the_scripts_host_files_are_where_the_scripts_keep_them(home):
    assert (BUILT_IN["blacklist_file"], BUILT_IN["preferred_file"]) == \
        ("~/.config/zeb/bad-hosts.txt", "~/.config/zeb/preferred-hosts.txt")
    class Cfg:
        blacklist_file = BUILT_IN["blacklist_file"]
        preferred_file = BUILT_IN["preferred_file"]

    files = HostFiles.of(Cfg)
    assert files == HostFiles(home / ".config/zeb/bad-hosts.txt", home / ".config/zeb/preferred-hosts.txt")


@pytest.mark.parametrize("system", ["linux", "darwin", "win32"])
def test_the_env_overrides_win_on_every_platform(home, system):
    env = {"ZEB_HOME": "~/state", "ZEB_CONFIG": "~/f.toml", "ZEB_RUNTIME_DIR": "~/run", **dict.fromkeys(XDG, "/xdg")}
    assert paths.state_dir(env, system) == home / "state"
    assert paths.config_path(env, system) == paths.config_target(env, system) == home / "f.toml"
    assert paths.runtime_dir(env, system=system) == paths.scripts_status_root(env) == home / "run"
    empty = {"ZEB_HOME": "", "ZEB_CONFIG": "", "ZEB_RUNTIME_DIR": ""}     # set but empty: not set
    assert paths.state_dir(empty, system) == paths.state_dir({}, system)
    assert paths.config_path(empty, system) == paths.config_path({}, system)


@pytest.mark.parametrize("system", ["darwin", "win32"])
def test_an_xdg_variable_the_user_set_still_wins_off_linux(home, system):
    env = {v: f"/xdg/{v}" for v in XDG}
    assert paths.state_dir(env, system) == Path("/xdg/XDG_STATE_HOME/zeb")
    assert paths.user_config_path(env, system) == Path("/xdg/XDG_CONFIG_HOME/zeb/fleets.toml")
    assert paths.runtime_dir(env, system=system) == Path("/xdg/XDG_RUNTIME_DIR/zeb")
    assert paths.cache_dir(env, system) == Path("/xdg/XDG_CACHE_HOME/zeb")


def test_a_new_macos_user_gets_the_native_directories(home, monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    support = home / "Library" / "Application Support" / "zeb"
    assert paths.state_dir({}) == support
    assert paths.user_config_path({}) == paths.config_path({}) == paths.config_target({}) == support / "fleets.toml"
    assert paths.cache_dir({}) == home / "Library" / "Caches" / "zeb"
    # Every zeb on the machine, one from before paths.py included, must find the monitor guard.
    assert paths.runtime_dir({}, uid=501) == Path("/tmp/zeb-501")
    assert paths.scripts_status_root({}) == Path("/tmp")


def test_a_new_windows_user_gets_the_native_directories(home, monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    local = Path(LOCALAPPDATA)
    assert paths.state_dir({}) == local / "zeb"
    assert paths.user_config_path({}) == local / "zeb" / "fleets.toml"
    assert paths.cache_dir({}) == local / "zeb" / "Cache"
    assert paths.runtime_dir({}) == local / "Temp" / "zeb"


@pytest.mark.parametrize("system", ["darwin", "win32"])
def test_an_existing_user_off_linux_keeps_the_old_places(home, system):
    (home / ".local" / "state" / "zeb").mkdir(parents=True)
    (home / ".config" / "zeb").mkdir(parents=True)
    (home / ".config" / "zeb" / "bad-hosts.txt").write_text("7\n")    # the scripts' files alone move nothing
    assert paths.state_dir({}, system) == home / ".local" / "state" / "zeb"
    assert paths.user_config_path({}, system) != home / ".config" / "zeb" / "fleets.toml"
    (home / ".config" / "zeb" / "fleets.toml").write_text("")
    assert paths.user_config_path({}, system) == paths.config_target({}, system) == \
        home / ".config" / "zeb" / "fleets.toml"


def test_linux_never_imports_platformdirs(tmp_path):
    code = ("import os, sys\n"
            "from zeb.core import paths\n"
            "from zeb.storage.store import Store\n"
            "env = dict(os.environ)\n"
            "for fn in (paths.state_dir, paths.user_config_path, paths.config_path, paths.config_target,\n"
            "           paths.runtime_dir, paths.scripts_status_root, paths.cache_dir):\n"
            "    fn(env)\n"
            "Store.from_env(env)\n"
            "assert 'platformdirs' not in sys.modules, 'imported on linux'\n"
            "paths.state_dir({}, 'darwin')\n"
            "assert 'platformdirs' in sys.modules\n")
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ZEB.parent)}
    for var in ("ZEB_HOME", "ZEB_CONFIG", "ZEB_RUNTIME_DIR", *XDG):
        env.pop(var, None)
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_paths_imports_only_the_standard_library_and_platformdirs():
    tree = ast.parse(Path(paths.__file__).read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert {n for n in names if n not in sys.stdlib_module_names} == {"platformdirs"}


# Other tools' files (the vastai key, the Hugging Face token) are found the way those tools find them.
OTHER_TOOLS = {"core/paths.py", "adapters/vast.py", "adapters/hub.py"}


def test_no_other_module_computes_a_home_path():
    found = []
    for path in sorted(ZEB.rglob("*.py")):
        rel = path.relative_to(ZEB).as_posix()
        if rel in OTHER_TOOLS:
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
        for node in ast.walk(tree):
            home = isinstance(node, ast.Attribute) and node.attr == "home" and \
                isinstance(node.value, ast.Name) and node.value.id == "Path"
            text = isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings \
                and ("XDG_" in node.value or ".config/zeb" in node.value)
            if home or text:
                found.append(f"{rel}:{node.lineno}")
    assert found == [], "paths computed outside zeb.core.paths: " + ", ".join(found)
