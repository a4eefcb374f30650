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


# -- no pydantic, no monitor planner for a plain command (issue #21) --------------------------------

def _imported_by(argv: list[str], env: dict) -> set[str]:
    """Every module `python -X importtime -m zeb ARGV` imported (importtime lists each on stderr)."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "zeb", *argv], check=False, capture_output=True,
                         text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return {line.rpartition("|")[2].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("argv", [["status", "--fleet", "zeb"], ["status"], ["status", "--json", "-f", "zeb"],
                                  ["config", "show", "--fleet", "zeb"], ["stats", "--fleet", "zeb"]])
def test_a_plain_command_imports_neither_pydantic_nor_the_monitor_planner(sim, argv):
    import os

    sim.run("up", "2")
    modules = _imported_by(argv, {**os.environ, **sim.env})
    assert "zeb.cli" in modules     # the list is real: the entry point's own package is in it
    assert {m for m in modules if m == "pydantic" or m.startswith("pydantic.")} == set()
    assert "zeb.plan.monitor" not in modules


def test_every_plain_parameter_skips_typers_pydantic_coercion():
    """Each command's str/int/float (and list) parameters carry zeb's coercer, so a new option cannot bring
    pydantic back unnoticed; on a typer without the slot (< 0.29) there is nothing to check."""
    import typer.main

    from zeb.cli import app, coerce

    if coerce.RuntimeParam is None:
        pytest.skip("typer < 0.29 (CI's lowest-versions run) has no pydantic coercion to bypass: nothing to check")
    root = typer.main.get_command(app)
    missing = []

    def walk(command, path):
        for param in command.params:
            descriptor = getattr(param, "type_descriptor", None)
            if descriptor is not None and descriptor.annotation is not bool and coerce._is_plain(descriptor) \
                    and not isinstance(param._runtime_param, coerce.PlainRuntimeParam):
                missing.append(f"{path} {param.name}")
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, f"{path} {name}")

    for name in COMMANDS:
        walk(root.commands[name], f"zeb {name}")
    assert missing == []
