"""`zeb monitor --once` tells cron how the cycle went (issue 11 #5): 0 done, 1 failed, 3 partly done."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from zeb.plan.monitor import cycle_exit_code


def _report(**kw):
    base = dict(error=None, failed=0, done=0, credit_wait=False, short=0)
    return SimpleNamespace(**{**base, **kw})


@pytest.mark.parametrize("kw,code", [
    ({}, 0),
    ({"done": 3}, 0),
    ({"error": "listing failed"}, 1),
    ({"failed": 2}, 1),
    ({"failed": 1, "done": 2}, 3),
    ({"credit_wait": True, "short": 2}, 3),
    ({"credit_wait": True, "short": 0}, 0),
])
def test_cycle_exit_code(kw, code):
    assert cycle_exit_code(_report(**kw)) == code


def test_a_healthy_once_exits_0(sim):
    res = sim.run("monitor", "2", "--once")
    assert res.exit_code == 0, res.stderr


def test_every_call_failing_exits_1(sim):
    sim.market.inject("500", -1)
    res = sim.run("monitor", "2", "--once")
    assert res.exit_code == 1 and "the cycle failed" in res.stderr


def test_a_malformed_listing_exits_1(sim):
    sim.market.inject("malformed", -1, path="/api/v1/instances/")
    res = sim.run("monitor", "2", "--once")
    assert res.exit_code == 1


def test_every_launch_refused_exits_1(sim):
    sim.market.inject("500", -1, path="/api/v0/asks/")
    res = sim.run("monitor", "2", "--once")
    assert res.exit_code == 1 and "action(s) failed, 0 went through" in res.stderr


def test_no_credit_leaves_the_fleet_short_and_exits_3(sim_factory):
    sim = sim_factory("no-credit")
    res = sim.run("monitor", "2", "--once")
    assert res.exit_code in (1, 3), res.stderr
    second = sim.run("monitor", "2", "--once")    # now waiting for credit: nothing tried, fleet short
    assert second.exit_code == 3 and "lacks credit" in second.stderr
