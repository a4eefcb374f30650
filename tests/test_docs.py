"""The README documents every command, and the demo (the README's first command) runs."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from zeb.cli import app
from zeb.cli.context import App

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_command_is_in_the_readme():
    import typer.main

    group = typer.main.get_command(app)
    for name in group.commands:
        assert f"zeb {name}" in README, f"README lacks `zeb {name}`"


def test_readme_commands_match_ci():
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    command = "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && pytest"
    assert command in README and command in ci
    assert "pip install -e . && zeb demo" in README


def test_demo_runs_end_to_end_quickly(tmp_path):
    res = CliRunner().invoke(app, ["demo", "--speed", "2500", "--hours", "2", "--json"],
                             obj=App(env={"NO_COLOR": "1"}, interactive=False), catch_exceptions=False)
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    data = doc["data"]
    assert data["counters"]["launches"] >= 4 and data["counters"]["strikes"] >= 1   # the dud is struck
    assert data["gpus"] and data["fleet_stats"]["producing"] >= 3
    assert "market: a new RTX 4070 Ti offer" in res.stderr and "credit runs out" in res.stderr
