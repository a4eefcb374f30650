"""Every fleet command through the CLI against the simulated marketplace over HTTP, checked through
the server's call log and state."""

from __future__ import annotations

import os

from tests.simenv import HF_TOKEN, lock_held_elsewhere


def _creates(sim):
    return list(sim.calls("PUT", "/api/v0/asks/"))


def _assert_no_secret(sim, *outputs):
    for text in outputs:
        assert HF_TOKEN not in text
        assert "sim-key" not in text or "export VAST_URL" in text
    for root, _, files in os.walk(sim.home):
        for name in files:
            with open(os.path.join(root, name), "rb") as handle:
                assert HF_TOKEN.encode() not in handle.read(), name


def test_up_launches_on_best_value_distinct_machines_with_env(sim):
    res = sim.run("up", "3")
    assert res.exit_code == 0, res.stderr
    creates = _creates(sim)
    assert len(creates) == 3
    assert sorted(c["body"]["label"] for c in creates) == [f"zeb-worker-vast-{i}" for i in range(3)]
    assert all(c["body"]["env"]["HF_TOKEN"] == HF_TOKEN for c in creates)
    assert {c["body"]["env"]["WORKER_ID"] for c in creates} == {"worker-vast-0", "worker-vast-1", "worker-vast-2"}
    machines = {sim.market.offers[int(c["path"].split("/")[-2])].machine_id for c in creates}
    assert len(machines) == 3
    assert len(sim.calls("POST", "/api/v0/bundles/")) == 1, "one offer search for the whole GPU list"
    assert "Worker 0: RTX" in res.stdout and "-> instance" in res.stdout
    _assert_no_secret(sim, res.stdout, res.stderr)


def test_up_fills_lowest_free_index_and_json(sim):
    sim.run("up", "3")
    victim = next(i for i in sim.market.instances.values() if i.label == "zeb-worker-vast-1")
    sim.market.destroy(victim.id)
    sim.clock.advance(150)   # past the grace in which a lagging listing still counts the launch
    doc = sim.json("up", "1")
    assert doc["status"] == "success" and [w["label"] for w in doc["data"]["launched"]] == ["zeb-worker-vast-1"]


def test_up_dry_run_mutates_nothing(sim):
    res = sim.run("up", "2", "--dry-run")
    assert res.exit_code == 0 and "would launch 2" in res.stdout
    assert not [c for c in sim.market.calls if c["method"] in ("PUT", "DELETE") or "asks" in c["path"]]


def test_up_fewer_offers_is_partial_exit_3(sim):
    available = sum(1 for o in sim.market.offers.values()
                    if sim.market.machines[o.machine_id].gpu_name == "RTX 4090" and not o.rented)
    want = available + 2
    res = sim.run("up", str(want), "--gpu", "RTX_4090", "--max-dph", "0.5")
    launched = len(_creates(sim))
    assert launched == available and res.exit_code == 3
    assert f"launched {launched} of {want}" in res.stderr
    none = sim.run("up", "2", "--gpu", "RTX_4090", "--max-dph", "0.01")
    assert none.exit_code == 1


def test_up_takes_the_next_offer_when_one_is_taken(sim):
    plan = sim.json("up", "1", "--dry-run")["data"]["plan"]
    sim.market.offers[plan[0]["offer_id"]].rented = True   # someone else rents it meanwhile
    doc = sim.json("up", "1")
    assert doc["status"] == "success" and doc["data"]["launched"][0]["offer_id"] != plan[0]["offer_id"]


def test_up_refuses_without_token_or_weights(sim):
    sim.extra_env["HF_TOKEN"] = ""
    res = sim.run("up", "1")
    assert res.exit_code == 1 and "HF_TOKEN is not set" in res.stderr
    sim.extra_env.pop("HF_TOKEN")
    sim.extra_env["ZEB_WEIGHTS_NAME"] = "missing"
    res = sim.run("up", "1")
    assert res.exit_code == 1 and "missing.pt is not in jasonyandell/zeb-42" in res.stderr
    assert "forge.zeb.learner.run" in res.stderr
    assert not _creates(sim)


def test_status_is_one_listing_and_only_the_fleet(sim_factory):
    sim = sim_factory("sick-fleet")
    res = sim.run("status")
    assert res.exit_code == 0
    assert [c["path"] for c in sim.market.calls] == ["/api/v1/instances/"]
    assert "zeb-worker-vast-0" in res.stdout and "zeb-large-worker-vast-0" not in res.stdout
    assert "my-notebook" not in res.stdout and "Total: 8 instances" in res.stdout
    assert "zeb down --id" in res.stdout     # the dud stuck loading is flagged with the command
    doc = sim.json("status", "--all")
    assert set(doc["data"]["fleets"]) == {"zeb", "zeb-large"}
    _assert_no_secret(sim, res.stdout)


def test_status_probe_classifies_live(sim_factory):
    sim = sim_factory("sick-fleet")
    doc = sim.json("status", "--probe")
    states = {r["label"]: r["classified"]["state"] for r in doc["data"]["fleets"]["zeb"]["instances"]
              if r["classified"]}
    assert states["zeb-worker-vast-0"] == "producing" and states["zeb-worker-vast-2"] == "error"


def test_status_empty_fleet(sim):
    res = sim.run("status")
    assert res.exit_code == 0 and "No instances in fleet zeb" in res.stdout


def test_logs_by_label_ends_with_classified_state(sim_factory):
    sim = sim_factory("sick-fleet")
    res = sim.run("logs", "zeb-worker-vast-3", "--tail", "5")
    assert res.exit_code == 0
    assert "CUDA out of memory" in res.stdout and res.stdout.strip().splitlines()[-1].startswith(
        "zeb-worker-vast-3: error")
    doc = sim.json("logs", "zeb-worker-vast-0", "--tail", "6")     # a tail that holds a batch line
    assert len(doc["data"]["lines"]) == 6 and doc["data"]["classified"]["state"] == "producing"
    missing = sim.run("logs", "zeb-worker-vast-99")
    assert missing.exit_code == 1 and "no instance labelled" in missing.stderr


def test_logs_follow_prints_only_new_lines(sim_factory):
    from zeb.cli.logs import new_lines

    assert new_lines(["a", "b", "c"], ["b", "c", "d", "e"]) == ["d", "e"]
    assert new_lines(["a"], ["x", "y"]) == ["x", "y"]
    assert new_lines(["a", "b"], ["a", "b"]) == []


def test_down_refuses_without_tty_and_destroys_only_the_fleet(sim_factory):
    sim = sim_factory("sick-fleet")
    res = sim.run("down")
    assert res.exit_code == 1 and "--force" in res.stderr and not sim.calls("DELETE")
    res = sim.run("down", "--force")
    assert res.exit_code == 0
    left = sorted(i.label for i in sim.market.instances.values())
    assert left == ["my-notebook", "zeb-large-worker-vast-0"]
    again = sim.run("down", "--force")
    assert again.exit_code == 0 and "nothing to destroy" in again.stdout


def test_down_asks_on_a_terminal(sim_factory):
    sim = sim_factory("sick-fleet")
    res = sim.run("down", "--fleet", "zeb-large", input="n\n", interactive=True)
    assert res.exit_code == 1 and "Destroy 1 instance(s)?" in res.stderr
    assert len(sim.market.instances) == 10
    res = sim.run("down", "--fleet", "zeb-large", input="y\n", interactive=True)
    assert res.exit_code == 0 and len(sim.market.instances) == 9


def test_down_json_and_single_id(sim_factory):
    sim = sim_factory("sick-fleet")
    target = next(i for i in sim.market.instances.values() if i.label == "zeb-worker-vast-1")
    doc = sim.json("down", "--force", "--id", str(target.id))
    assert [d["id"] for d in doc["data"]["destroyed"]] == [target.id]
    other = next(i for i in sim.market.instances.values() if i.label == "my-notebook")
    res = sim.run("down", "--force", "--id", str(other.id))
    assert res.exit_code == 2 and other.id in sim.market.instances


def test_replenish_finds_the_hole_and_prints_one_cron_line(sim):
    sim.run("up", "4")
    victim = next(i for i in sim.market.instances.values() if i.label == "zeb-worker-vast-1")
    sim.market.destroy(victim.id)
    sim.clock.advance(300)   # the next cron run, five minutes later
    res = sim.run("replenish", "4")
    assert res.exit_code == 0 and len(res.stdout.strip().splitlines()) == 1
    assert res.stdout.startswith("[") and "launched 1 of 1 (zeb-worker-vast-1" in res.stdout
    res = sim.run("replenish", "4")
    assert "nothing to do" in res.stdout


def test_replenish_counts_launches_vast_does_not_list_yet(sim):
    doc = sim.json("replenish", "2")
    assert len(doc["data"]["launched"]) == 2
    # Vast has not listed them yet (simulate by hiding the instances from the listing).
    hidden = dict(sim.market.instances)
    sim.market.instances.clear()
    again = sim.json("replenish", "2")
    assert again["data"]["launched"] == [] and again["data"]["missing"] == []
    sim.market.instances.update(hidden)


def test_rank_offers_table_and_blocked(sim):
    doc = sim.json("rank-offers", "--limit", "5")
    offers = doc["data"]["offers"]
    assert len(offers) == 5 and [o["dollars_per_gps"] for o in offers] == sorted(o["dollars_per_gps"] for o in offers)
    best = offers[0]["machine_id"]
    sim.run("blacklist", "add", str(best), "--block", "--reason", "test")
    assert best not in [o["machine_id"] for o in sim.json("rank-offers")["data"]["offers"]]
    shown = sim.json("rank-offers", "--show-blocked")["data"]["offers"]
    assert any(o["machine_id"] == best and o["blocked"] for o in shown)
    assert "blocked" in sim.run("rank-offers", "--show-blocked").stdout


def test_blacklist_commands_and_import(sim, tmp_path):
    sim.run("blacklist", "add", "111", "--reason", "no CUDA")
    doc = sim.json("blacklist", "list")
    assert doc["data"]["machines"][0]["strikes"] == 1 and not doc["data"]["machines"][0]["blocked"]
    bad = tmp_path / "bad-hosts.txt"
    bad.write_text("222\n222\n222\n333\n")
    doc = sim.json("blacklist", "import", str(bad))
    by = {m["machine_id"]: m for m in doc["data"]["machines"]}
    assert by[222]["blocked"] and by[333]["strikes"] == 1 and doc["data"]["imported"] == 4
    assert sim.run("blacklist", "remove", "222").exit_code == 0
    assert sim.run("blacklist", "remove", "999").exit_code == 2
    sim.run("blacklist", "clear")
    assert sim.json("blacklist", "list")["data"]["machines"] == []
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("12\nnot-a-machine\n")
    res = sim.run("blacklist", "import", str(garbage))
    assert res.exit_code == 2 and "line 2" in res.stderr


def test_zeb_blacklist_env_file_is_honoured(sim, tmp_path):
    best = sim.json("rank-offers", "--limit", "1")["data"]["offers"][0]["machine_id"]
    bad = tmp_path / "bad-hosts.txt"
    bad.write_text(f"{best}\n{best}\n{best}\n")
    sim.extra_env["ZEB_BLACKLIST"] = str(bad)
    assert best not in [o["machine_id"] for o in sim.json("rank-offers")["data"]["offers"]]


def test_bad_input_is_one_line(sim):
    res = sim.run("up", "0")
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    sim.extra_env["VAST_API_KEY"] = "wrong"
    res = sim.run("status")
    assert res.exit_code == 1 and "rejected the API key" in res.stderr and "Traceback" not in res.stderr
    sim.extra_env["VAST_URL"] = "http://127.0.0.1:9"
    sim.extra_env["VAST_API_KEY"] = "sim-key"


def test_replenish_waits_then_skips_when_another_run_holds_the_lock(sim):
    with lock_held_elsewhere(sim.home, "mutation_lock('zeb', timeout=5)"):
        res = sim.run("replenish", "4", "--wait", "0.3")
    assert res.exit_code == 0 and "another zeb run holds the fleet's lock" in res.stdout
    assert not sim.calls("PUT", "/api/v0/asks/")


def test_logs_follow_until_ctrl_c(sim_factory):
    sim = sim_factory("sick-fleet")
    app = sim.app()
    ticks = {"n": 0}

    def sleep(seconds):
        ticks["n"] += 1
        if ticks["n"] > 3:
            raise KeyboardInterrupt
        sim.clock.advance(400)

    app.sleep = sleep
    from typer.testing import CliRunner

    from zeb.cli import app as cli

    res = CliRunner().invoke(cli, ["logs", "zeb-worker-vast-0", "--tail", "5", "--follow"], obj=app,
                             catch_exceptions=False)
    assert res.exit_code == 0 and "stopped following" in res.stderr
    batches = [line for line in res.stdout.splitlines() if line.startswith("[worker-vast-0] batch ")]
    numbers = [int(line.split(" batch ")[1].split(":")[0]) for line in batches]
    assert numbers == sorted(set(numbers)) and len(numbers) > 3     # only new lines, none repeated
    assert f"batch {numbers[-1]}:" in res.stdout.strip().splitlines()[-1]   # the state of the last tail


def test_a_corrupt_state_file_is_reported_not_silently_emptied(sim):
    sim.run("blacklist", "add", "5", "--reason", "x")
    hosts = sim.home / "hosts.json"
    hosts.write_text("{torn")
    res = sim.run("blacklist", "list")
    assert res.exit_code == 0 and "zeb: warning:" in res.stderr and "moved it aside" in res.stderr
    assert [p for p in sim.home.iterdir() if p.name.startswith("hosts.json.corrupt-")]
