"""zeb.Fleet, the Python API: the commands' work with their typed `--json` records, against the simulator."""

from __future__ import annotations

import dataclasses

import pytest

from zeb import Fleet
from zeb.core.errors import LockHeld, UsageError


def _fleet(sim, name: str = "zeb", **kw) -> Fleet:
    return Fleet.from_env(name, env=sim.env, clock=sim.clock.now, sleep=sim.clock.sleep, **kw)


def _rented(sim) -> list:
    return [c for c in sim.market.calls if c["method"] in ("PUT", "DELETE") or "asks" in c["path"]]


def test_up_launches_and_returns_what_up_json_prints(sim):
    fleet = _fleet(sim)
    data = fleet.up(2)
    assert [w.label for w in data.launched] == ["zeb-worker-vast-0", "zeb-worker-vast-1"]
    assert data.failed == [] and data.requested == 2 and data.fleet == "zeb"
    assert len({w.machine_id for w in data.launched}) == 2
    # The same record the command prints: the next launch through the CLI has the same keys and shape.
    doc = sim.json("up", "1")["data"]
    assert doc.keys() == dataclasses.asdict(data).keys()
    assert doc["launched"][0].keys() == dataclasses.asdict(data.launched[0]).keys()
    assert doc["launched"][0]["label"] == "zeb-worker-vast-2"


def test_up_dry_run_rents_nothing(sim):
    plan = _fleet(sim).up(3, dry_run=True)
    assert [p.label for p in plan.plan] == [f"zeb-worker-vast-{k}" for k in range(3)]
    assert plan.hub_checked is False
    assert _rented(sim) == [] and sim.market.instances == {}


def test_bad_input_and_a_held_lock_are_zeb_errors(sim):
    fleet = _fleet(sim, lock_timeout=0)
    with pytest.raises(UsageError):
        fleet.up(0)
    with fleet.store.mutation_lock("zeb", timeout=0), pytest.raises(LockHeld):
        fleet.up(1)
    assert _rented(sim) == []


def test_an_unknown_fleet_name_is_refused_like_the_command_does(sim):
    with pytest.raises(UsageError, match="not valid"):
        _fleet(sim, "no spaces allowed")


def test_status_is_what_status_json_prints(sim):
    fleet = _fleet(sim)
    assert fleet.status().fleets["zeb"].instances == []
    fleet.up(2)
    data = fleet.status()
    rows = data.fleets["zeb"].instances
    assert [r.label for r in rows] == ["zeb-worker-vast-0", "zeb-worker-vast-1"]
    assert data.fleets["zeb"].totals.count == 2
    assert dataclasses.asdict(data) == sim.json("status")["data"]
    probed = fleet.status(probe=True)
    assert {r.id for r in probed.fleets["zeb"].instances} == {r.id for r in rows}


def test_the_readme_example_runs_against_the_simulator(sim, monkeypatch):
    import doctest
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("### From Python"):]
    example = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    for key, value in sim.env.items():
        monkeypatch.setenv(key, value)
    test = doctest.DocTestParser().get_doctest(example, {}, "README: From Python", "README.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
    assert runner.tries >= 5
