"""Every command has real help with an example."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from zeb.cli import app

COMMANDS = ["up", "status", "logs", "down", "replenish", "monitor", "blacklist", "rank-offers",
            "timeline", "stats", "config", "sim", "demo"]


def test_root_help_lists_every_command():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_help_has_an_example(name):
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
