"""Every command has real help with an example, and the root's lazy listing says what each command's
own help says."""

from __future__ import annotations

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from zeb.cli import app
from zeb.cli.commands import COMMANDS as TABLE

COMMANDS = ["up", "status", "logs", "down", "replenish", "monitor", "rank-offers", "timeline", "stats",
            "market", "report", "demo", "blacklist", "config", "sim"]


def test_root_help_lists_every_command_in_order():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    listed = result.output.split("Commands:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in listed if line.strip()] == COMMANDS
    assert list(TABLE) == COMMANDS


@pytest.mark.parametrize("name", COMMANDS)
def test_table_help_is_the_commands_own(name):
    # What `zeb --help` lists without importing the command is its help's first paragraph, on one line.
    command = typer.main.get_command(app).commands[name]
    assert TABLE[name][1] == " ".join(command.help.split("\n\n")[0].split())


@pytest.mark.parametrize("width", [80, 200])
def test_lazy_listing_is_the_listing_of_the_loaded_commands(width):
    group = typer.main.get_command(app)
    ctx = typer.Context(group, info_name="zeb", terminal_width=width, max_content_width=width)
    lazy = group.get_help(ctx)
    for name in group.list_commands(ctx):
        group.get_command(ctx, name)
    assert group.get_help(ctx) == lazy


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_help_has_an_example(name):
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output


@pytest.mark.parametrize("argv", [["config", "show", "-h"], ["sim", "serve", "--help"],
                                  ["blacklist", "list", "--help"]])
def test_sub_app_commands_have_help(argv):
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: zeb {argv[0]} {argv[1]} [OPTIONS]")


def test_short_help_flag_and_version():
    assert CliRunner().invoke(app, ["-h"]).output == CliRunner().invoke(app, ["--help"]).output
    assert CliRunner().invoke(app, ["status", "-h"]).output.startswith("Usage: zeb status [OPTIONS]")
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("zeb ")


@pytest.mark.parametrize("argv", [[], ["sim"], ["config"]])
def test_no_command_shows_help_and_exits_2(argv):
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2
    assert "Usage: zeb" in result.output and "Commands" in result.output


def test_unknown_command_is_a_usage_error_with_suggestions():
    result = CliRunner().invoke(app, ["stat"])
    assert result.exit_code == 2
    assert "No such command 'stat'. Did you mean 'stats', 'status'?" in result.output


def test_unknown_option_of_a_command_is_a_usage_error():
    result = CliRunner().invoke(app, ["up", "--bogus"])
    assert result.exit_code == 2
    assert "No such option: --bogus" in result.output
