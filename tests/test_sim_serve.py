"""`zeb sim serve` in the foreground (ready-to-paste export line, Ctrl-C/SIGTERM end it cleanly) and the
shipped scenarios, loaded by name or path."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import requests
from typer.testing import CliRunner

from zeb.cli import app as cli_app
from zeb.core.errors import UsageError
from zeb.sim.clock import ManualClock
from zeb.sim.scenarios import load_scenario, names
from zeb.sim.server import SimServer, list_instances


def _serve(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "zeb", "sim", "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    line = proc.stdout.readline().strip()
    assert line.startswith("export VAST_URL=http://127.0.0.1:"), line
    return proc, line


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_prints_the_export_line_and_stops_cleanly(sig):
    proc, line = _serve("--scenario", "sick-fleet", "--seed", "3", "--api-key", "k2", "--speed", "60")
    try:
        env = dict(part.split("=", 1) for part in line.split()[1:])
        assert env["VAST_API_KEY"] == "k2"
        r = requests.get(env["VAST_URL"] + "/api/v1/instances/", headers={"Authorization": "Bearer k2"}, timeout=5)
        assert r.json()["total_instances"] == 10
        assert requests.post(env["VAST_URL"] + "/_sim/advance", json={"seconds": 60}, timeout=5).ok
    finally:
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and f"VAST_URL={env['VAST_URL']}" in err and "stopped after 1 API calls" in err
    assert "k2" not in err


def test_serve_usage_errors_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[machines]]\ngpu = 'RTX_9999'\n")
    for scenario in ("no-such-scenario", str(bad)):
        res = CliRunner().invoke(cli_app, ["sim", "serve", "--scenario", scenario], catch_exceptions=False)
        assert res.exit_code == 2 and "scenario" in res.stderr


def test_every_shipped_scenario(tmp_path):
    assert set(names()) >= {"default", "sick-fleet", "no-credit", "flaky-api", "big-market"}
    clock = ManualClock()
    default = load_scenario("default", clock)
    assert len(default.offers) == 60 and not default.instances and default.credit == 100
    sick = load_scenario("sick-fleet", clock)
    labels = sorted(i.label for i in sick.instances.values())
    assert labels[:1] == ["my-notebook"] and "zeb-large-worker-vast-0" in labels
    assert [f"zeb-worker-vast-{n}" for n in range(6)] == [lb for lb in labels if lb.startswith("zeb-worker")][:6]
    faults = {sick.machines[i.machine_id].fault for i in sick.instances.values()}
    assert faults >= {None, "dud", "no_cuda", "oom", "crash", "preempt", "stall"}
    no_credit = load_scenario("no-credit", clock)
    with pytest.raises(PermissionError):
        no_credit.create(next(iter(no_credit.offers)), {"label": "x"})
    flaky = load_scenario("flaky-api", clock)
    assert {f.kind for f in flaky.api_faults} >= {"429", "503", "500", "malformed", "slow"}


def test_big_market_lists_fast_enough_for_the_monitor():
    big = load_scenario("big-market", ManualClock())
    assert len(big.instances) == 200 and sum(not o.rented for o in big.offers.values()) == 500
    pages, token = 0, None
    while True:
        page = list_instances(big, {"after_token": token} if token else {})
        pages += 1
        token = page["next_token"]
        if not token:
            break
    assert pages == 8
    with SimServer(big) as url:
        from vastai import VastAI

        assert len(VastAI(api_key="sim-key", server_url=url).show_instances()) == 200


def test_scenario_from_a_path_with_machines_instances_and_faults(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("""
seed = 1
credit = 7.5
[[machines]]
gpu = "RTX_4070_Ti"
dph = 0.08
count = 2
fault = "stall"
fault_after_s = 60
[[instances]]
gpu = "RTX_3060"
labels = ["zeb-worker-vast-0", "zeb-worker-vast-1"]
age_s = 120
[[api_faults]]
kind = "rented"
""")
    m = load_scenario(str(path), ManualClock(), seed=9)
    assert m.seed == 9 and m.credit == pytest.approx(7.5, abs=0.01)
    stalls = [o for o in m.offers.values() if m.machines[o.machine_id].fault == "stall"]
    assert len(stalls) == 2 and {o.dph_total for o in stalls} == {0.08}
    assert sorted(i.label for i in m.instances.values()) == ["zeb-worker-vast-0", "zeb-worker-vast-1"]
    assert m.api_faults[0].path == "/api/v0/asks/"
    (tmp_path / "broken.toml").write_text("seed = ")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_scenario(str(tmp_path / "broken.toml"), ManualClock())
    (tmp_path / "fault.toml").write_text("[[api_faults]]\nkind = 'teapot'\n")
    with pytest.raises(UsageError, match="teapot"):
        load_scenario(str(tmp_path / "fault.toml"), ManualClock())
    (tmp_path / "nogpu.toml").write_text("[[instances]]\nlabel = 'x'\n")
    with pytest.raises(UsageError, match="lacks 'gpu'"):
        load_scenario(str(tmp_path / "nogpu.toml"), ManualClock())
    (tmp_path / "hostfault.toml").write_text("[[machines]]\ngpu = 'RTX_3060'\nfault = 'gremlins'\n")
    with pytest.raises(UsageError, match="gremlins"):
        load_scenario(str(tmp_path / "hostfault.toml"), ManualClock())
    assert os.path.exists(path)
