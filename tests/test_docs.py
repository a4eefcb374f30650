"""The README documents every command, and the demo (the README's first command) runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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

    from zeb.cli.demo_run import Script, run_demo
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


def test_demo_command_runs_every_cycle_at_any_speed(tmp_path):
    # Real time is a ManualClock too (the app's clock and sleep pace the demo), so the run does not
    # depend on how fast this machine is: a cycle per simulated interval, 0.5 h at least 6 of 5 min.
    from zeb.sim.clock import ManualClock

    real = ManualClock()
    res = CliRunner().invoke(app, ["demo", "--speed", "5000", "--hours", "0.5", "--json"],
                             obj=App(env={"NO_COLOR": "1"}, clock=real.now, sleep=real.sleep, interactive=False),
                             catch_exceptions=False)
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    counters = doc["data"]["counters"]
    assert doc["command"] == "demo" and counters["launches"] >= 4 and counters["cycles"] >= 0.5 * 3600 / 300
    assert real.now() - 1_780_000_000.0 == pytest.approx(0.5 * 3600 / 5000, abs=0.1)    # paced, not rushed


def test_a_machine_too_slow_for_the_speed_stops_with_one_line():
    # Every look at the real clock costs 5 s: the run falls behind its schedule and gives up.
    ticks = iter(range(0, 10**6, 5))
    res = CliRunner().invoke(app, ["demo", "--speed", "5000", "--hours", "0.5"],
                             obj=App(env={"NO_COLOR": "1"}, clock=lambda: float(next(ticks)), sleep=lambda s: None,
                                     interactive=False), catch_exceptions=False)
    assert res.exit_code == 1
    last = res.stderr.strip().splitlines()[-1]
    assert "behind the --speed 5000 schedule" in last and "try a lower speed, e.g. zeb demo --speed" in last
