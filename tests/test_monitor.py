"""The monitor end to end: `--once`, `--dry-run`, multi-cycle runs on the virtual clock against each
scenario, the monitor lock, adoption, and nothing outside the fleet ever touched."""

from __future__ import annotations

import itertools
import json

from tests.simenv import HF_TOKEN, lock_held_elsewhere


def _mutations(sim):
    return [c for c in sim.market.calls if c["method"] in ("DELETE",) or "/asks/" in c["path"]
            or (c["method"] == "PUT" and "request_logs" not in c["path"])]


def test_dry_run_plans_but_mutates_nothing(sim_factory):
    sim = sim_factory("sick-fleet")
    sim.clock.advance(900)
    res = sim.run("monitor", "6", "--dry-run")
    assert res.exit_code == 0, res.stderr
    assert "would destroy zeb-worker-vast-1" in res.stdout and "would launch" in res.stdout
    assert not _mutations(sim)
    assert "target 6" in res.stderr and "commits/hr" in res.stderr


def test_once_replaces_every_fault_and_never_touches_other_fleets(sim_factory):
    sim = sim_factory("sick-fleet")
    foreign = {i.id for i in sim.market.instances.values() if not (i.label or "").startswith("zeb-worker-vast-")}
    sim.clock.advance(1200)
    res = sim.run("monitor", "6", "--once")
    assert res.exit_code == 0, res.stderr
    destroyed = {int(c["path"].rstrip("/").split("/")[-1]) for c in sim.calls("DELETE")}
    assert not destroyed & foreign
    assert foreign <= set(sim.market.instances)
    assert "Fleet left running" in res.stdout and HF_TOKEN not in res.stdout + res.stderr


def test_multi_cycle_sick_fleet_heals(sim_factory):
    sim = sim_factory("sick-fleet")
    res = sim.run("monitor", "6", "--max-cycles", "60")
    assert res.exit_code == 0, res.stderr
    doc = sim.json("status", "--probe")
    rows = doc["data"]["fleets"]["zeb"]["instances"]
    assert len(rows) == 6
    assert all(r["classified"]["state"] == "producing" for r in rows), rows
    labels = sorted(r["label"] for r in rows)
    assert len(set(labels)) == 6
    strikes = sim.json("blacklist", "list")["data"]["machines"]
    assert len(strikes) >= 4    # dud, no CUDA, OOM, broken launch, stall ... each struck
    stats = sim.json("stats")["data"]["fleet_stats"]
    assert stats["replacements"] >= 6 and stats["producing"] == 6
    tl = sim.json("timeline", labels[0])["data"]
    assert tl["spans"][-1]["state"] == "producing"
    assert abs(sum(s["duration_s"] for s in tl["spans"]) - tl["wall_s"]) < 1.0


def test_ramp_up_from_zero_in_slow_start_batches(sim):
    res = sim.run("monitor", "7", "--max-cycles", "1")
    first = list(sim.calls("PUT", "/api/v0/asks/"))
    assert len(first) == 7   # 1 + 2 + 4, no failure
    assert res.exit_code == 0


def test_slow_start_stops_at_the_first_failure(sim_factory):
    sim = sim_factory("no-credit")
    res = sim.run("monitor", "4", "--max-cycles", "3")
    assert len(sim.calls("PUT", "/api/v0/asks/")) == 1     # the first failure stops the batch
    assert "lacks credit" in res.stdout and "CREDIT WAIT" in res.stdout
    sim.market.top_up(50)
    res = sim.run("monitor", "4", "--max-cycles", "12")
    assert len(list(sim.market.instances.values())) == 4


def test_flaky_api_never_crashes_the_loop(sim_factory):
    sim = sim_factory("flaky-api")
    res = sim.run("monitor", "3", "--max-cycles", "25")
    assert res.exit_code == 0, res.stderr
    assert len(sim.market.instances) == 3
    labels = sorted(i.label for i in sim.market.instances.values())
    assert labels == ["zeb-worker-vast-0", "zeb-worker-vast-1", "zeb-worker-vast-2"]


def test_adopts_an_existing_fleet_and_scales_down(sim):
    for n in range(5):
        sim.market.adopt("RTX 3070", f"zeb-worker-vast-{n}", age_s=7200)
    sim.run("monitor", "3", "--max-cycles", "1")
    assert len(sim.market.instances) == 3
    events = sim.json("timeline", "zeb-worker-vast-0")["data"]["spans"]
    assert events[0]["reason"] == "adopted"


def test_log_file_gets_json_lines(sim, tmp_path):
    log = tmp_path / "events.jsonl"
    sim.run("monitor", "2", "--max-cycles", "3", "--log-file", str(log))
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    transitions = [r for r in rows if r["kind"] == "transition"]
    fields = {"time", "instance_id", "label", "from", "to", "code", "detail", "evidence"}
    assert transitions and fields <= set(transitions[0])
    launches = [r for r in rows if r["kind"] == "action" and r["action"] == "launch"]
    assert len(launches) == 2 and all(r["ok"] and r["offer_id"] and r["dph_total"] for r in launches)
    assert HF_TOKEN not in log.read_text()


def test_second_monitor_of_the_same_fleet_exits_naming_the_pid(sim):
    with lock_held_elsewhere(sim.home, "monitor_lock('zeb')") as pid:
        res = sim.run("monitor", "2", "--once")
    assert res.exit_code == 1 and f"pid {pid}" in res.stderr


def test_refuses_to_start_without_weights(sim):
    sim.extra_env["ZEB_WEIGHTS_NAME"] = "nope"
    res = sim.run("monitor", "2", "--once")
    assert res.exit_code == 1 and "nope.pt is not in" in res.stderr
    assert not sim.calls("PUT", "/api/v0/asks/")


def test_ctrl_c_saves_state_and_prints_the_teardown(sim, monkeypatch):
    calls = {"n": 0}
    real_sleep = sim.clock.sleep

    def interrupting_sleep(seconds):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        real_sleep(seconds)

    app = sim.app()
    app.sleep = interrupting_sleep
    from typer.testing import CliRunner

    from zeb.cli import app as cli

    res = CliRunner().invoke(cli, ["monitor", "2"], obj=app, catch_exceptions=False)
    assert res.exit_code == 0
    assert "interrupted" in res.stderr and "Tear it down with: zeb down" in res.stdout
    assert len(sim.market.instances) == 2          # the fleet keeps running
    assert (sim.home / "fleets" / "zeb" / "workers.json").exists()


def test_big_market_once(sim_factory):
    sim = sim_factory("big-market")
    sim.clock.advance(60)
    res = sim.run("monitor", "200", "--once")
    assert res.exit_code == 0, res.stderr
    assert len(sim.calls("GET", "/api/v1/instances")) == 8           # one listing, 8 pages
    assert len(sim.calls("PUT", "/api/v0/instances/request_logs")) == 200
    assert "200/200 producing" in res.stdout


def test_repeated_api_errors_back_off_and_are_logged_once_a_minute(sim):
    sim.market.inject("503", -1, path="/api/v1/instances")
    res = sim.run("monitor", "2", "--max-cycles", "8")
    assert res.exit_code == 0
    stamps = []
    for line in res.stdout.splitlines():
        check = line.partition("] ")[2]        # after the wall-clock stamp: CHECK #n [h:mm:ss] ...
        if check.startswith("CHECK") and "API error" in check:
            h, m, sec = check.split("[", 1)[1].split("]", 1)[0].split(":")
            stamps.append(int(h) * 3600 + int(m) * 60 + int(sec))
    assert stamps and all(b - a >= 60 for a, b in itertools.pairwise(stamps))
    assert len(sim.calls("GET", "/api/v1/instances")) == 8 * 4          # 4 attempts per cycle, bounded
    assert "8 cycles" in res.stdout and "8 API errors" in res.stdout
