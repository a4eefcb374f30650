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


def test_demo_story_on_a_virtual_clock():
    import io

    from rich.console import Console

    from zeb.demo import Script, run_demo
    from zeb.sim.clock import ManualClock

    out, err = io.StringIO(), io.StringIO()
    mon, data = run_demo(Console(file=out, width=200), Console(file=err, width=200), script=Script(),
                         clock=ManualClock())
    text, chatter = out.getvalue(), err.getvalue()
    assert "stuck booting" in text                          # the dud, replaced and struck
    assert "Vast reports exited" in text                    # the crash
    assert "Vast reports stopped" in text                   # the preemption
    assert "(trial)" in text and "upgraded:" in text        # an upgrade trial, promoted
    assert "lacks credit" in text and "credit is back" in text
    assert "credit runs out" in chatter and "$20 of credit added" in chatter
    assert mon.counters.strikes >= 1 and data["fleet_stats"]["producing"] == 4
    assert data["gpus"]
    # The demo's strikes are of simulated machines: the user's real scripts' host files are never touched.
    import os

    assert not (Path(os.environ["HOME"]) / ".config" / "zeb").exists()


def test_demo_command_runs(tmp_path):
    res = CliRunner().invoke(app, ["demo", "--speed", "5000", "--hours", "0.5", "--json"],
                             obj=App(env={"NO_COLOR": "1"}, interactive=False), catch_exceptions=False)
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["command"] == "demo" and doc["data"]["counters"]["launches"] >= 4
