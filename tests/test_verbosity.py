"""-q and -v on every command, before or after it, through one output helper (zeb.cli.context.App.note and
.detail, Result.brief): -q leaves errors, warnings and the summary; -v adds every API call with its timing
and every retry."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from tests.simenv import API_KEY, HF_TOKEN
from zeb.cli import app as cli_app
from zeb.cli.commands import COMMANDS

SUBCOMMANDS = [["blacklist", "list"], ["blacklist", "add"], ["blacklist", "remove"], ["blacklist", "clear"],
               ["blacklist", "import"], ["config", "show"], ["config", "init"], ["config", "check"],
               ["market", "scan"], ["sim", "serve"]]
API_LINE = re.compile(r"^zeb: (GET|POST|PUT|DELETE) /api/\S+ -> \d{3} in \d+ ms$")


@pytest.mark.parametrize("argv", [[name] for name in COMMANDS if name not in ("blacklist", "config", "sim")]
                         + SUBCOMMANDS, ids=" ".join)
def test_every_command_takes_q_and_v(argv):
    res = CliRunner().invoke(cli_app, [*argv, "--help"])
    assert res.exit_code == 0, res.stdout
    assert "-q, --quiet" in res.stdout and "-v, --verbose" in res.stdout


def test_quiet_up_prints_one_summary_line(sim):
    res = sim.run("up", "2", "-q")
    assert res.exit_code == 0, res.stderr
    assert res.stdout.splitlines() == ["zeb up: launched 2 of 2 worker(s) for fleet zeb"]
    assert res.stderr == ""
    loud = sim.run("up", "1")
    assert "Fleet launched" in loud.stdout and len(loud.stdout.splitlines()) == 3


def test_quiet_before_the_command_and_down(sim):
    assert sim.run("up", "2").exit_code == 0
    res = sim.run("-q", "down", "--force")
    assert res.exit_code == 0, res.stderr
    assert res.stdout.splitlines() == ["zeb down: destroyed 2 of 2 instance(s) of fleet zeb"]


def test_verbose_shows_every_api_call_with_its_time_and_no_secret(sim):
    res = sim.run("up", "2", "-v")
    assert res.exit_code == 0, res.stderr
    calls = [ln for ln in res.stderr.splitlines() if ln.startswith("zeb: ")]
    assert calls and all(API_LINE.match(ln) for ln in calls), calls
    assert sum("/asks/" in ln for ln in calls) == 2        # the two creates
    assert API_KEY not in res.stderr + res.stdout and HF_TOKEN not in res.stderr + res.stdout
    assert "zeb: GET" not in sim.run("status").stderr       # only with -v


def test_verbose_shows_retries_in_a_pipe(sim):
    sim.market.inject("503", 1, path="/api/v1/instances", method="GET")
    res = sim.run("status", "-v")
    assert res.exit_code == 0, res.stderr
    assert re.search(r"zeb: .*503.*retrying in \d+\.\d s", res.stderr), res.stderr
    assert "-> 503 in" in res.stderr


def test_q_and_v_together_is_one_line_and_exit_2(sim):
    for argv in (["status", "-q", "-v"], ["-q", "-v", "status"]):
        res = sim.run(*argv)
        assert res.exit_code == 2 and res.stderr.strip().count("\n") == 0
        assert "-q and -v" in res.stderr and "Traceback" not in res.stderr


def test_quiet_monitor_once_keeps_actions_and_summary_not_the_check_line(sim):
    res = sim.run("monitor", "2", "--once", "-q")
    assert res.exit_code == 0, res.stderr
    assert "CHECK" not in res.stdout and "launch" in res.stdout
    assert "Fleet left running" in res.stdout
    assert res.stderr == ""                                 # no banner, no checks line
    loud = sim.run("monitor", "2", "--once")
    assert "CHECK" in loud.stdout and "checks" in loud.stderr
