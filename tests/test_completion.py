"""Shell completion: typer's built-in --install-completion and --show-completion, at no cost to `--help`
(tests/test_startup.py pins what help imports)."""

from __future__ import annotations

import os
import subprocess
import sys


def _zeb(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zeb", *args], capture_output=True, text=True, check=False,
                          env={**os.environ, **env})


def test_show_completion_prints_a_bash_script():
    out = _zeb("--show-completion", "bash", SHELL="/bin/bash")
    assert out.returncode == 0, out.stderr
    assert "complete -o default -F _zeb_completion zeb" in out.stdout and "_ZEB_COMPLETE=complete_bash" in out.stdout


def test_help_lists_the_completion_options():
    out = _zeb("--help")
    assert out.returncode == 0 and "--install-completion" in out.stdout and "--show-completion" in out.stdout


def test_completion_completes_commands_and_options():
    words = _zeb(_ZEB_COMPLETE="complete_bash", COMP_WORDS="zeb re", COMP_CWORD="1")
    assert words.returncode == 0 and words.stdout.split() == ["replenish", "report"]
    options = _zeb(_ZEB_COMPLETE="complete_bash", COMP_WORDS="zeb down --f", COMP_CWORD="2")
    assert options.stdout.split() == ["--fleet", "--force"]
