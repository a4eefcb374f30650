"""The fleet-level judgement end to end: `zeb monitor 8` on the simulated marketplace through a bad commit
on the worker branch and a Hugging Face outage (the bad-commit and hub-outage scenarios), read back through
the events, `zeb status --json`, the blacklist and the fleet's webhook."""

from __future__ import annotations

import itertools
import json

import pytest

from tests.test_notify import receiver  # noqa: F401 -- the webhook receiver fixture

BAD_PUSH, FIX_PUSH = 600.0, 7800.0          # bad-commit.toml
HUB_DOWN, HUB_BACK = 600.0, 4200.0          # hub-outage.toml


def _events(sim) -> list[dict]:
    path = sim.home / "fleets" / "zeb" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _at(sim, e) -> float:
    return e["time"] - sim.t0


def _hooked(sim, receiver) -> None:  # noqa: F811
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    sim.config.write_text(sim.config.read_text() + f'\n[defaults.notify]\nwebhook = "{url}"\nformat = "json"\n')


def _alerts(receiver) -> list[str]:  # noqa: F811
    return [json.loads(body)["text"] if "text" in json.loads(body) else body.decode()
            for _, _, body in receiver.got]


STEP = 120.0     # seconds between cycles: between the monitor's fast (90 s) and slow (300 s) cadence


def _run_until(sim, t: float, *args: str):
    """`zeb monitor 8 --once` every STEP seconds of the scenario clock until it passes `t` (restarting the
    monitor every cycle, as cron would, also proves the hold survives restarts)."""
    while sim.clock.now() - sim.t0 < t:
        res = sim.run("monitor", "8", "--once", *args)
        assert res.exit_code == 0, res.stderr
        sim.clock.advance(STEP)


def _lose(sim, n: int) -> None:
    """Hosts lost under `n` running workers (Vast no longer lists them): the monitor must replace them."""
    for inst in sorted(sim.market.live_instances(), key=lambda i: i.id)[:n]:
        sim.market.destroy(inst.id)


@pytest.fixture
def bad_commit(sim_factory):
    sim = sim_factory("bad-commit")
    sim.t0 = sim.clock.now()
    return sim


def test_a_bad_commit_holds_the_fleet_strikes_nobody_alerts_once_and_resumes_on_the_fix(bad_commit, receiver):  # noqa: F811
    sim = bad_commit
    _hooked(sim, receiver)
    _run_until(sim, BAD_PUSH + 60)
    # Two hosts lost after the bad push: their replacements clone the branch head and crash in the user's code.
    _lose(sim, 2)
    _run_until(sim, BAD_PUSH + 1800)
    doc = sim.json("status", "--probe")["data"]["fleets"]["zeb"]
    hold = doc["hold"]
    assert hold is not None and hold["cause"] == "code_fault", doc
    bad = next(e for e in _events(sim) if e["kind"] == "fleet_hold")
    commits = {r["commit"] for r in doc["instances"] if r["classified"]["state"] == "producing"}
    assert "TypeError" in bad["detail"] and not any(c[:12] in bad["detail"] for c in commits if c)
    # Everything the old commit runs keeps producing; no machine is struck for the user's bug.
    assert sim.json("blacklist", "list")["data"]["machines"] == []
    struck = [e for e in _events(sim) if e["kind"] == "action" and e.get("strike")]
    assert struck == []
    producing_destroyed = [e for e in _events(sim) if e["kind"] == "action" and e.get("action") == "destroy"
                           and e["code"] not in ("upgrade", "downscale", "fleet_fault")]
    assert producing_destroyed == []
    alerts = _alerts(receiver)
    assert sum("fleet fault (code_fault)" in a for a in alerts) == 1 and "TypeError" in alerts[-1]
    # At most one canary per probe interval while it holds.
    _run_until(sim, FIX_PUSH)
    canaries = [_at(sim, e) for e in _events(sim) if e["kind"] == "action" and "canary" in e.get("detail", "")]
    assert canaries and all(b - a >= 900 for a, b in itertools.pairwise(canaries))
    launched_in_hold = [e for e in _events(sim) if e["kind"] == "action" and e.get("action") == "launch"
                        and _at(sim, e) > _at(sim, bad) and "canary" not in e["detail"]]
    assert launched_in_hold == []
    # The fix is pushed: the next canary produces, the hold lifts, the fleet is back at 8 on the new code.
    _run_until(sim, FIX_PUSH + 900 + 1200)
    lifted = [e for e in _events(sim) if e["kind"] == "fleet_hold_lifted"]
    assert len(lifted) == 1 and "canary" in lifted[0]["detail"]
    # The monitor asks the remote for the branch head each cycle of the hold (real `git ls-remote` against
    # the simulator's repositories): the fix gets its launch in the cycle it appears, not a probe later.
    moved = [e for e in _events(sim) if e["kind"] == "action" and "branch head moved" in e.get("detail", "")]
    assert moved and FIX_PUSH <= _at(sim, moved[0]) <= FIX_PUSH + STEP
    assert FIX_PUSH < _at(sim, lifted[0]) <= FIX_PUSH + 2 * STEP + 480     # a cycle, a boot, a cycle
    doc = sim.json("status", "--probe")["data"]["fleets"]["zeb"]
    assert doc["hold"] is None
    rows = doc["instances"]
    assert sum(r["classified"]["state"] == "producing" for r in rows) >= 8
    assert any("fleet fault cleared" in a and "canary" in a for a in _alerts(receiver))
    assert sim.json("blacklist", "list")["data"]["machines"] == []


def test_pin_last_good_refills_the_fleet_on_the_commit_that_produced(bad_commit):
    sim = bad_commit
    _run_until(sim, BAD_PUSH + 60, "--pin-last-good")
    _lose(sim, 3)
    _run_until(sim, BAD_PUSH + 2400, "--pin-last-good")
    doc = sim.json("status", "--probe")["data"]["fleets"]["zeb"]
    rows = [r for r in doc["instances"] if r["classified"]["state"] == "producing"]
    assert doc["hold"] is not None and doc["hold"]["cause"] == "code_fault"
    # Back at 8 during the hold, every producing worker on the commit the fleet ran before the push.
    assert len(rows) >= 8 and len({r["commit"] for r in rows}) == 1
    assert sim.json("blacklist", "list")["data"]["machines"] == []


def test_a_hub_outage_holds_launches_until_the_hub_answers_then_refills(sim_factory, receiver):  # noqa: F811
    sim = sim_factory("hub-outage")
    sim.t0 = sim.clock.now()
    _hooked(sim, receiver)
    _run_until(sim, HUB_DOWN + 1800)
    doc = sim.json("status", "--probe")["data"]["fleets"]["zeb"]
    assert doc["hold"] is not None and doc["hold"]["cause"] == "hub_unreachable", doc
    hold = next(e for e in _events(sim) if e["kind"] == "fleet_hold")
    assert _at(sim, hold) > HUB_DOWN
    _run_until(sim, HUB_BACK + 60)
    # Nothing launched while the hub was down and the fleet held: every boot would have failed its pull.
    launches = [_at(sim, e) for e in _events(sim) if e["kind"] == "action" and e.get("action") == "launch"]
    assert not [t for t in launches if _at(sim, hold) <= t < HUB_BACK]
    _run_until(sim, HUB_BACK + 1200)
    lifted = next(e for e in _events(sim) if e["kind"] == "fleet_hold_lifted")
    # Resumed in the first cycle after the hub answers (the slow cadence is 300 s), and back at 8.
    assert HUB_BACK <= _at(sim, lifted) <= HUB_BACK + 300 and "Hugging Face answers" in lifted["detail"]
    rows = sim.json("status", "--probe")["data"]["fleets"]["zeb"]["instances"]
    assert sum(r["classified"]["state"] == "producing" for r in rows) >= 8
    assert sim.json("blacklist", "list")["data"]["machines"] == []
    assert [e for e in _events(sim) if e["kind"] == "action" and e.get("strike")] == []
    alerts = _alerts(receiver)
    assert sum("fleet fault (hub_unreachable)" in a for a in alerts) == 1
    assert sum("fleet fault cleared" in a for a in alerts) == 1


def test_the_demo_rides_out_its_hub_outage(tmp_path):
    from io import StringIO

    from rich.console import Console

    from zeb.cli.demo_run import HOURS, Script, run_demo
    from zeb.sim.clock import ManualClock

    buf = StringIO()
    quiet = Console(file=buf, width=200)
    script = Script(duration_s=1.5 * HOURS, upgrade_at=9 * HOURS, credit_out_at=9 * HOURS, top_up_at=9 * HOURS,
                    hub_down_at=0.6 * HOURS, hub_back_at=0.9 * HOURS)
    _, data = run_demo(quiet, quiet, script=script, clock=ManualClock(), report=tmp_path / "demo.html")
    out = buf.getvalue()
    assert "FLEET HOLD (hub_unreachable)" in out and "fleet hold lifted: Hugging Face answers again" in out
    assert out.index("Hugging Face stops answering") < out.index("FLEET HOLD") < out.index("fleet hold lifted")
    assert out.count("hub probe: ") <= 3        # said when the answer changes, not every cycle
    assert data["fleet_stats"]["producing"] == 4


def test_the_monitor_starts_and_holds_when_the_weights_vanish_under_a_running_fleet(bad_commit):
    sim = bad_commit
    _run_until(sim, 300)                          # the fleet's workers are known to this home
    sim.extra_env["ZEB_WEIGHTS_NAME"] = "renamed"  # the file is gone (renamed) while 8 workers run
    res = sim.run("monitor", "8", "--once")
    assert res.exit_code == 0, res.stderr
    assert "renamed.pt is not in" in res.stderr and "running workers are still watched" in res.stderr


@pytest.mark.parametrize(("break_it", "cause"), [
    (lambda m, t0: m.revoke_token(t0 + 600, t0 + 2400), "hub_auth"),
    (lambda m, t0: m.remove_weights(t0 + 600, t0 + 2400), "weights_missing"),
])
def test_a_revoked_token_or_missing_weights_holds_then_resumes(sim_factory, break_it, cause):
    sim = sim_factory("bad-commit")          # its push at +600 s crashes only new clones: none happen here
    sim.t0 = sim.clock.now()
    break_it(sim.market, sim.t0)
    _run_until(sim, 2000)
    doc = sim.json("status", "--probe")["data"]["fleets"]["zeb"]
    assert doc["hold"] is not None and doc["hold"]["cause"] == cause, doc["hold"]
    assert sim.json("blacklist", "list")["data"]["machines"] == []
    _run_until(sim, 2400 + 2 * STEP)
    lifted = [e for e in _events(sim) if e["kind"] == "fleet_hold_lifted"]
    assert lifted and 2400 <= _at(sim, lifted[0]) <= 2400 + 2 * STEP
    assert [e for e in _events(sim) if e["kind"] == "action" and e.get("strike")] == []


def test_an_image_that_does_not_pull_holds_with_a_canary_then_refills(sim_factory):
    sim = sim_factory("default")
    sim.t0 = sim.clock.now()
    sim.market.break_image("pytorch/pytorch:2.6.0-cuda12.6-cudnn9-runtime", sim.t0, sim.t0 + 3000)
    _run_until(sim, 2400)
    doc = sim.json("status", "--probe")["data"]["fleets"]["zeb"]
    assert doc["hold"] is not None and doc["hold"]["cause"] == "image_pull", doc["hold"]
    launches = [e for e in _events(sim) if e["kind"] == "action" and e.get("action") == "launch"]
    hold = next(e for e in _events(sim) if e["kind"] == "fleet_hold")
    # After the hold: canaries only, a probe interval apart.
    later = [_at(sim, e) for e in launches if _at(sim, e) > _at(sim, hold)]
    assert all("canary" in e["detail"] for e in launches if _at(sim, e) > _at(sim, hold))
    assert all(b - a >= 900 for a, b in itertools.pairwise(later))
    _run_until(sim, 3000 + 900 + 1200)
    assert any(e["kind"] == "fleet_hold_lifted" for e in _events(sim))
    rows = sim.json("status", "--probe")["data"]["fleets"]["zeb"]["instances"]
    assert sum(r["classified"]["state"] == "producing" for r in rows) >= 8
    assert sim.json("blacklist", "list")["data"]["machines"] == []


def test_a_commit_that_rejects_a_worker_flag_is_the_commits_not_the_configurations(sim_factory):
    # A push whose worker no longer accepts --max-mcts-nodes, once the fleet produces. The fleet has
    # produced on the old commit with the same flags, so the flags are fine and the commit is not: a code
    # hold, not a config halt (which, with no commit that ever produced, is what the same crash would be).
    sim = sim_factory("default")
    sim.t0 = sim.clock.now()
    _run_until(sim, 1500)                     # 8 workers launched and producing on the branch head
    sim.market.push_commit(sim.clock.now(), "bad_flag")
    _lose(sim, 2)
    _run_until(sim, 3600)
    doc = sim.json("status", "--probe")["data"]["fleets"]["zeb"]
    assert doc["hold"] is not None and doc["hold"]["cause"] == "code_fault", doc["hold"]
    assert not [e for e in _events(sim) if e["kind"] == "config_halt"]
    assert sim.json("blacklist", "list")["data"]["machines"] == []
