"""Slow work is never silent on a terminal (issue 14), and says nothing extra through a pipe: a retry of
an unreachable Vast, `down` waiting for launches in flight, `replenish` waiting for the fleet's lock."""

from __future__ import annotations

import io
import re
import socket

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tests.simenv import lock_held_elsewhere
from tests.test_inflight import _leave_a_create_in_flight
from zeb.cli import app as cli_app
from zeb.cli.context import App


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    text = io.StringIO()
    return Console(file=text, force_terminal=terminal, width=200, no_color=True), text


def _text(stream: io.StringIO) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())      # the terminal's control codes


def _run(app: App, *args: str):
    return CliRunner().invoke(cli_app, list(args), obj=app, catch_exceptions=False)


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize("terminal", [True, False])
def test_an_unreachable_vast_says_it_is_retrying_only_on_a_terminal(terminal, tmp_path):
    err, text = _console(terminal)
    slept: list[float] = []
    env = {"VAST_URL": _closed_port_url(), "VAST_API_KEY": "k", "ZEB_HOME": str(tmp_path / "home"),
           "ZEB_CONFIG": str(tmp_path / "none.toml"), "NO_COLOR": "1"}
    res = _run(App(env=env, sleep=slept.append, stderr=err, interactive=False), "rank-offers")
    assert res.exit_code == 1 and len(slept) == 3
    retries = [line for line in _text(text).splitlines() if "retrying in" in line]
    if terminal:
        assert len(retries) == 3
        assert "search offers: the Vast API at" in retries[0] and "could not be reached" in retries[0]
        assert retries[0].endswith(f"retrying in {slept[0]:.1f} s")
    else:
        assert retries == []
    assert "could not be reached" in _text(text)        # the failure itself, either way


@pytest.mark.parametrize("terminal", [True, False])
def test_down_counts_down_its_wait_for_launches_in_flight_only_on_a_terminal(terminal, sim):
    _leave_a_create_in_flight(sim)
    err, text = _console(terminal)
    res = _run(sim.app(stderr=err), "down", "--force")
    assert res.exit_code == 0, _text(text)
    out = _text(text)
    assert "waiting up to 90s for 1 launch(es)" in out         # the one plain line, as before
    assert ("waiting for 1 launch(es) to appear" in out and "s left" in out) is terminal
    assert ("destroying 1 instance(s) of fleet zeb" in out) is terminal


@pytest.mark.parametrize("terminal", [True, False])
def test_replenish_says_it_is_waiting_for_the_lock_only_on_a_terminal(terminal, sim):
    err, text = _console(terminal)
    with lock_held_elsewhere(sim.home, "mutation_lock('zeb', timeout=5)"):
        res = _run(sim.app(stderr=err), "replenish", "2", "--wait", "0.3")
    assert res.exit_code == 0 and "skipping" in res.stdout
    assert ("waiting up to 0.3 s for fleet zeb's lock, held by another zeb run" in _text(text)) is terminal
    assert sim.calls("PUT", "/api/v0/asks/") == []


def test_a_free_lock_is_taken_without_a_word(sim):
    err, text = _console(True)
    res = _run(sim.app(stderr=err), "replenish", "1")
    assert res.exit_code == 0, _text(text)
    assert "lock" not in _text(text)
