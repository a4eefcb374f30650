"""Where zeb's own files live: the state dir, fleets.toml, the runtime dir, the cache dir and the scripts'
host files. Every path zeb computes for itself comes from here; a path the user types (a flag, a
fleets.toml value) is theirs, `~` expanded.

    state dir     ZEB_HOME, else  Linux: $XDG_STATE_HOME/zeb, else ~/.local/state/zeb
                                  macOS: ~/Library/Application Support/zeb
                                  Windows: %LOCALAPPDATA%\\zeb
    fleets.toml   ZEB_CONFIG,     Linux: $XDG_CONFIG_HOME/zeb/fleets.toml, else ~/.config/zeb/fleets.toml
                  ./fleets.toml,  macOS: ~/Library/Application Support/zeb/fleets.toml
                  else            Windows: %LOCALAPPDATA%\\zeb\\fleets.toml
    runtime dir   ZEB_RUNTIME_DIR, else $XDG_RUNTIME_DIR/zeb, else
                                  Linux and macOS: /tmp/zeb-<uid>
                                  Windows: %LOCALAPPDATA%\\Temp\\zeb
    cache dir     -               Linux: $XDG_CACHE_HOME/zeb, else ~/.cache/zeb
                                  macOS: ~/Library/Caches/zeb
                                  Windows: %LOCALAPPDATA%\\zeb\\Cache
    host files    ZEB_BLACKLIST, ZEB_PREFERRED (fleets.toml: blacklist_file, preferred_file), else
                                  ~/.config/zeb/bad-hosts.txt and preferred-hosts.txt on every platform:
                                  the scripts are bash and read $HOME/.config/zeb wherever they run

"Linux" is every platform but macOS and Windows (sys.platform "darwin", "win32"). On Linux these are
the paths zeb always used, computed the same way, and platformdirs is never imported. On macOS and
Windows the native directories come from platformdirs, for new users only: zeb used the Linux paths
there too before, so an XDG variable the user set still wins, and a state dir or fleets.toml already at
the old place (~/.local/state/zeb, ~/.config/zeb/fleets.toml) is still found and used. The runtime dir
stays /tmp/zeb-<uid> on macOS: it holds the guard that keeps one monitor per fleet, which only works if
every zeb on the machine, an older one included, looks in the same place. (zeb itself needs POSIX file
locks today; the Windows lines say where it would keep its files.)

Other tools' files (the vastai key, the Hugging Face token) are where those tools put them; their
adapters resolve them the way the tools do."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

APP = "zeb"
ENV_HOME = "ZEB_HOME"
ENV_CONFIG = "ZEB_CONFIG"
ENV_RUNTIME_DIR = "ZEB_RUNTIME_DIR"
CONFIG_FILE = "fleets.toml"
# The scripts' host files, as vast_monitor.sh names them; fleets.toml's blacklist_file and preferred_file
# default to these and `config show` prints them as written.
SCRIPTS_BLACKLIST = "~/.config/zeb/bad-hosts.txt"
SCRIPTS_PREFERRED = "~/.config/zeb/preferred-hosts.txt"
# vast_monitor.sh keeps STATUS_DIR=/tmp/zeb-monitor-${FLEET}.
SCRIPTS_STATUS_ROOT = Path("/tmp")

_NATIVE = ("darwin", "win32")     # sys.platform values whose defaults come from platformdirs


def _system(system: str | None) -> str:
    return sys.platform if system is None else system


def _xdg(env: Mapping[str, str], var: str, *fallback: str) -> Path:
    """$var, else ~/<fallback>: the XDG base directory rule zeb has always used."""
    return Path(env.get(var) or str(Path.home().joinpath(*fallback)))


def _native(kind: str, system: str) -> Path:
    """platformdirs' user_<kind>_dir for zeb on macOS or Windows, whatever platform runs this."""
    import platformdirs.macos  # lazy: never imported on Linux
    import platformdirs.windows

    dirs = platformdirs.macos.MacOS if system == "darwin" else platformdirs.windows.Windows
    return Path(getattr(dirs(APP, appauthor=False), f"user_{kind}_dir"))


def user_path(value: str | Path) -> Path:
    """A path as the user wrote it (a flag, a fleets.toml value): `~` is their home."""
    return Path(value).expanduser()


def state_dir(env: Mapping[str, str], system: str | None = None) -> Path:
    if env.get(ENV_HOME):
        return user_path(env[ENV_HOME])
    old = _xdg(env, "XDG_STATE_HOME", ".local", "state") / APP
    system = _system(system)
    if system not in _NATIVE or env.get("XDG_STATE_HOME") or old.is_dir():
        return old
    return _native("state", system)


def user_config_path(env: Mapping[str, str], system: str | None = None) -> Path:
    """The user's fleets.toml (ZEB_CONFIG and ./fleets.toml aside)."""
    old = _xdg(env, "XDG_CONFIG_HOME", ".config") / APP / CONFIG_FILE
    system = _system(system)
    if system not in _NATIVE or env.get("XDG_CONFIG_HOME") or old.is_file():
        return old
    return _native("config", system) / CONFIG_FILE


def config_path(env: Mapping[str, str], system: str | None = None) -> Path:
    """The fleets.toml zeb reads: $ZEB_CONFIG, else ./fleets.toml if there is one, else the user's."""
    if env.get(ENV_CONFIG):
        return user_path(env[ENV_CONFIG])
    local = Path.cwd() / CONFIG_FILE
    return local if local.exists() else user_config_path(env, system)


def config_target(env: Mapping[str, str], system: str | None = None) -> Path:
    """Where `zeb config init` writes: $ZEB_CONFIG names the file zeb reads, so writing anywhere else would
    leave zeb reading another file; else the user's fleets.toml."""
    # `~` expanded in either, as `config init` always did (reading leaves an XDG_CONFIG_HOME of `~` as it is).
    return user_path(env[ENV_CONFIG] if env.get(ENV_CONFIG) else user_config_path(env, system))


def runtime_dir(env: Mapping[str, str], uid: int | None = None, system: str | None = None) -> Path:
    """The dir every zeb on this machine agrees on for the monitor guard (zeb.storage.guard)."""
    if env.get(ENV_RUNTIME_DIR):
        return user_path(env[ENV_RUNTIME_DIR])
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / APP
    if _system(system) == "win32":
        return _native("runtime", "win32")
    return Path("/tmp") / f"{APP}-{os.getuid() if uid is None else uid}"


def scripts_status_root(env: Mapping[str, str]) -> Path:
    """Where the scripts keep /tmp/zeb-monitor-<fleet>. ZEB_RUNTIME_DIR moves it too, so a test (or a
    second sandboxed setup) that sets it never looks at the real /tmp."""
    return user_path(env[ENV_RUNTIME_DIR]) if env.get(ENV_RUNTIME_DIR) else SCRIPTS_STATUS_ROOT


def cache_dir(env: Mapping[str, str], system: str | None = None) -> Path:
    """For what zeb can always rebuild; nothing there is ever needed to find a fleet's state."""
    system = _system(system)
    if system not in _NATIVE or env.get("XDG_CACHE_HOME"):
        return _xdg(env, "XDG_CACHE_HOME", ".cache") / APP
    return _native("cache", system)
