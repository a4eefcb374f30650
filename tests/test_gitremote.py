"""zeb.adapters.gitremote: the branch head through the real `git ls-remote`, against the simulator's repositories."""

from __future__ import annotations

import pytest

from zeb.adapters.gitremote import branch_head, shown
from zeb.sim.clock import ManualClock
from zeb.sim.onstart import MK5, commit_sha
from zeb.sim.scenarios import load_scenario
from zeb.sim.server import SimServer, git_env

REPO = "https://github.com/jasonyandell/mk5-main.git"

@pytest.fixture
def served():
    clock = ManualClock()
    market = load_scenario("bad-commit", clock)
    with SimServer(market) as url:
        yield clock, market, git_env(url)


def test_the_head_moves_when_the_scenario_pushes(served):
    clock, market, env = served
    first, why = branch_head(REPO, "forge", env)
    assert why == "" and first == commit_sha(MK5, "forge", 0)
    clock.advance(700)            # bad-commit.toml pushes at +600
    market.tick()
    pushed, _ = branch_head(REPO, "forge", env)
    assert pushed is not None and pushed != first


def test_what_cannot_be_answered_is_one_line(served):
    _, _, env = served
    head, why = branch_head("https://github.com/nobody/none.git", "forge", env)
    assert head is None and "not found" in why and "\n" not in why
    head, why = branch_head(REPO, "no-such-branch", env)
    assert head is None and why.endswith("has no branch no-such-branch")
    head, why = branch_head(REPO, "forge", {**env, "PATH": "/nonexistent"})
    assert head is None and "git is not installed" in why


def test_credentials_in_the_url_are_never_shown(served):
    _, _, env = served
    secret = "https://user:ghp_SECRET123@github.com/nobody/none.git"
    head, why = branch_head(secret, "forge", env)
    assert head is None and "ghp_SECRET123" not in why and "user:" not in why
    assert shown(secret) == "https://github.com/nobody/none.git"
