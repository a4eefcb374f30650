"""Commands that do not talk to Vast must not pay for the SDK, and help imports only the command it
is about (issue #2: `zeb --help` and `zeb X --help` are fast)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from zeb.cli.commands import COMMANDS

HEAVY = ("vastai", "huggingface_hub", "requests", "tenacity")
# typer 0.29 imports pydantic (~100 ms) whenever a parameter's value needs coercing; help needs none.
HELP_HEAVY = (*HEAVY, "pydantic", "rich.console")

# Runs the real entry point (`zeb = "zeb.cli:main"`) with the given arguments, and on the way out prints
# the command modules and heavy modules it imported.
WRAPPER = (
    "import atexit, sys\n"
    "def report():\n"
    "    loaded = sorted(m.rpartition('.')[2] for m in sys.modules if m.startswith('zeb.cli.'))\n"
    f"    heavy = sorted(m for m in {HELP_HEAVY!r} if m in sys.modules)\n"
    "    print('\\nLOADED', ','.join(loaded), 'HEAVY', ','.join(heavy))\n"
    "atexit.register(report)\n"
    "sys.argv[0] = 'zeb'\n"
    "from zeb.cli import main\n"
    "main()\n"
)
COMMAND_MODULES = {module for module, _ in COMMANDS.values()}


def _imports_of(*argv: str) -> tuple[set[str], set[str]]:
    out = subprocess.run([sys.executable, "-c", WRAPPER, *argv], check=False, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    *_, loaded, _, heavy = out.stdout.splitlines()[-1].split(" ")
    return set(filter(None, loaded.split(","))), set(filter(None, heavy.split(",")))


@pytest.mark.parametrize("argv, command", [(["--help"], None), (["-h"], None), (["status", "--help"], "status"),
                                           (["monitor", "--help"], "monitor"),
                                           (["config", "show", "--help"], "config_cmd")])
def test_help_imports_only_its_command(argv, command):
    loaded, heavy = _imports_of(*argv)
    assert loaded & COMMAND_MODULES == ({command} if command else set())
    assert heavy == set(), f"{' '.join(argv)} imported {heavy}"


def test_help_imports_no_heavy_module():
    code = (
        "import sys; from zeb.cli import app; from typer.testing import CliRunner; "
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported at start-up: {out.stdout.strip()}"


def test_python_dash_m_zeb_works():
    out = subprocess.run([sys.executable, "-m", "zeb", "--version"], check=False, capture_output=True,
                         text=True)
    assert out.returncode == 0
    assert out.stdout.startswith("zeb ")
