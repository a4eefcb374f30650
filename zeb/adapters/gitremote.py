"""The worker repository's branch head, asked of the remote with the real `git ls-remote` (one small request,
no clone): while a bad commit holds a fleet, the monitor asks every cycle, so a pushed fix gets its canary in
the cycle it appears instead of at the next probe interval."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

DEFAULT_TIMEOUT_S = 10.0
_SHA = re.compile(r"[0-9a-f]{40}")


def shown(url: str) -> str:
    """The URL without credentials a user may have put in it (https://user:token@host/...)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    return urlunsplit((parts.scheme, host + (f":{parts.port}" if parts.port else ""), parts.path, "", ""))


def branch_head(url: str, branch: str, env: Mapping[str, str] | None = None, *,
                timeout: float = DEFAULT_TIMEOUT_S) -> tuple[str | None, str]:
    """(sha, "") of `branch` at the remote `url`, or (None, why in one line). Never raises, never prompts
    (GIT_TERMINAL_PROMPT=0): a private repository without credentials is an answer, not a hang."""
    git = shutil.which("git", path=(env or {}).get("PATH") or os.environ.get("PATH"))
    if git is None:
        return None, "git is not installed here: the branch head is found by the canary alone"
    run_env = {**os.environ, **(env or {}), "GIT_TERMINAL_PROMPT": "0"}
    ref = f"refs/heads/{branch}"
    try:
        done = subprocess.run([git, "ls-remote", "--heads", "--", url, ref], capture_output=True, text=True,
                              timeout=timeout, env=run_env, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        return None, f"git ls-remote {shown(url)} timed out after {timeout:.0f} s"
    except OSError as exc:
        return None, f"git ls-remote {shown(url)}: {exc.strerror or exc}"
    if done.returncode != 0:
        lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit {done.returncode}"
        return None, f"git ls-remote {shown(url)}: {why.replace(url, shown(url))}"
    for line in done.stdout.splitlines():
        sha, _, name = line.partition("\t")
        if name.strip() == ref and _SHA.fullmatch(sha.strip()):
            return sha.strip(), ""
    return None, f"{shown(url)} has no branch {branch}"
