"""The sim's model on the virtual clock: statuses and log lines of every lifecycle path and host fault,
throughput by GPU, user stop/restart, credit, offers, determinism and the cost of a log tail."""

from __future__ import annotations

import re
import time

import pytest

from tests.test_sim_onstart import PYTORCH_26, ZEB_ENV, ZEB_SELFPLAY
from zeb.sim.clock import EPOCH, ManualClock, ScaledClock
from zeb.sim.market import API_FAULTS, GPUS, Market
from zeb.sim.onstart import MK5, commit_sha, known_good_body
from zeb.sim.scenarios import load_scenario

STAMP = r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC \d{4}"
BATCH = re.compile(r"^\[(worker-vast-\d+)\] batch (\d+): 7168 examples, ([\d.]+) games/s, step=(\d+), "
                   r"total_games=(\d+)$")


def _one(fault=None, *, gpu="RTX 3070", after=1800.0, env=None, label="zeb-worker-vast-0", dph=None, body=None):
    clock = ManualClock()
    m = Market(clock, seed=5)
    offer = m.add_machine(gpu, fault=fault, fault_after_s=after, dph=dph)
    body = body or known_good_body(label, env if env is not None else {"WORKER_ID": "worker-vast-0"})
    iid = m.create(offer.id, body)
    return m, clock, iid


def _fresh_image_body(label="zeb-worker-vast-0"):
    """zeb's own launch on the plain pytorch image: it installs git, clones and installs its deps."""
    return {"label": label, "image": PYTORCH_26, "onstart": ZEB_SELFPLAY,
            "env": {**ZEB_ENV, "WORKER_ID": "worker-vast-0"}}


def _status(m, iid):
    return m.status_of(m.instances[iid], m.clock.now())


def _walk(m, clock, iid, seconds, step=30):
    """Distinct (status, last log line) phases seen while advancing."""
    seen = []
    for _ in range(int(seconds / step)):
        clock.advance(step)
        phase = _status(m, iid)
        if not seen or seen[-1] != phase:
            seen.append(phase)
    return seen


def test_healthy_startup_in_the_runbooks_formats():
    m, clock, iid = _one(body=_fresh_image_body())
    assert _status(m, iid) is None and m.logs(iid, None) == ""
    assert _walk(m, clock, iid, 3600) == ["loading", "running"]
    lines = m.logs(iid, None).splitlines()
    head = [ln for ln in lines if not BATCH.match(ln) and not ln.startswith("[worker-vast-0] ")]
    # No "Login successful.": the huggingface_hub pip installs today has no huggingface-cli.
    expected = [rf"=== Setup started at {STAMP} ===", "git installed", "repo cloned", "deps installed",
                rf"code at {commit_sha(MK5, 'forge', 0)} \(forge\)", "GPU OK: NVIDIA GeForce RTX 3070",
                rf"=== Starting worker worker-vast-0 \(selfplay\) at {STAMP} ===",
                r"Pulling initial weights from jasonyandell/zeb-42/zeb-557k-1m\.pt\.\.\.",
                r"  Model loaded \(step \d+\), 557,186 params",
                "  Examples repo: jasonyandell/zeb-42-examples", r"Creating self-play pipeline\.\.\.",
                r"Pipeline created in \d+\.\ds", "",
                r"Worker worker-vast-0 starting \(output: jasonyandell/zeb-42-examples\)",
                "  games_per_batch=256, weight_sync_interval=2", r"  upload_interval=240s \(folder upload\)"]
    assert len(head) == len(expected)
    for line, pattern in zip(head, expected):
        assert re.fullmatch(pattern, line), (line, pattern)
    batches = [BATCH.match(ln) for ln in lines if BATCH.match(ln)]
    assert [int(b.group(2)) for b in batches] == list(range(1, len(batches) + 1))
    assert all(int(b.group(5)) == 256 * int(b.group(2)) for b in batches)


def test_stamps_pad_the_day_like_date():
    clock = ManualClock(start=1770379200.0)     # Fri Feb  6 12:00:00 UTC 2026
    m = Market(clock, seed=1)
    iid = m.create(m.add_machine("RTX 3060").id, known_good_body("zeb-worker-vast-0"))
    clock.advance(600)
    setup = m.logs(iid, None).splitlines()[0]
    assert re.fullmatch(r"=== Setup started at Fri Feb  6 12:0\d:\d\d UTC 2026 ===", setup)


@pytest.mark.parametrize("gpu", sorted(GPUS))
def test_games_per_second_follow_the_gpu(gpu):
    m, clock, iid = _one(gpu=gpu)
    clock.advance(6 * 3600)
    rates = [float(BATCH.match(ln).group(3)) for ln in m.logs(iid, 400).splitlines() if BATCH.match(ln)]
    mean = sum(rates) / len(rates)
    assert GPUS[gpu][0] * 0.85 <= mean <= GPUS[gpu][0] * 1.15
    done = int(BATCH.match([ln for ln in m.logs(iid, 40).splitlines() if BATCH.match(ln)][-1]).group(2))
    assert done == pytest.approx(6 * 3600 * mean / 256, rel=0.15)


def test_uploads_weight_syncs_and_a_failed_upload_followed_by_healthy_batches():
    m, clock, iid = _one(env={"WORKER_ID": "worker-vast-0", "ZEB_UPLOAD_INTERVAL": "240"})
    clock.advance(3 * 86400)
    lines = m.logs(iid, 20000).splitlines()
    assert any(re.fullmatch(r"\[worker-vast-0\] Uploading \d+ batches to HF\.\.\.", ln) for ln in lines)
    assert any(re.fullmatch(r"\[worker-vast-0\] Upload complete \(\d+ batches\)", ln) for ln in lines)
    assert any(re.fullmatch(r"\[worker-vast-0\] Weights updated: step (\d+) -> (\d+)", ln) for ln in lines)
    assert any(re.fullmatch(r"\[worker-vast-0\] No new weights \(still step \d+\)", ln) for ln in lines)
    failed = [k for k, ln in enumerate(lines)
              if ln == "[worker-vast-0] Upload failed (412 Precondition Failed), will retry next cycle"]
    assert failed and failed[0] + 1 < len(lines) and BATCH.match(lines[failed[0] + 1])


def test_worker_id_is_what_the_script_passes_never_the_label():
    m, clock, iid = _one(env={"WORKER_ID": "worker-vast-7"}, label="zeb-worker-vast-3")
    clock.advance(3600)
    assert "[worker-vast-7] batch 1:" in m.logs(iid, None)
    m, clock, iid = _one(env={}, label="zeb-large-worker-vast-3")     # the script's ${WORKER_ID:-worker-vast-0}
    clock.advance(3600)
    log = m.logs(iid, None)
    assert "=== Starting worker worker-vast-0 at" in log and "[worker-vast-0] batch 1:" in log
    assert "worker-vast-3" not in log


def test_dud_never_leaves_loading():
    m, clock, iid = _one("dud")
    assert _walk(m, clock, iid, 6 * 3600) == ["loading"]
    assert "games/s" not in m.logs(iid, None)


def test_no_cuda_and_oom_are_errors_in_the_log_and_stay_running():
    m, clock, iid = _one("no_cuda")
    clock.advance(3600)
    log = m.logs(iid, None)
    assert _status(m, iid) == "running" and "No CUDA" in log and "GPU OK" not in log
    m, clock, iid = _one("oom")
    clock.advance(3600)
    log = m.logs(iid, None)
    assert "Pipeline created" in log and "CUDA out of memory" in log and "Traceback" in log and "games/s" not in log


def test_slow_setup_sits_in_its_first_network_step_then_produces():
    m, clock, iid = _one("slow_setup", body=_fresh_image_body())
    clock.advance(1500)
    assert m.logs(iid, 1).startswith("=== Setup started") and "git installed" not in m.logs(iid, None)
    clock.advance(3600)
    assert "games/s" in m.logs(iid, 5)
    m, clock, iid = _one("slow_setup")      # the worker image: its git pull is the slow step
    clock.advance(1500)
    assert m.logs(iid, 1).startswith("=== Setup started") and "code updated" not in m.logs(iid, None)
    clock.advance(3600)
    assert "games/s" in m.logs(iid, 5)


def test_stall_stops_the_batch_counter_but_stays_running():
    m, clock, iid = _one("stall", after=900)
    clock.advance(3600)
    last = m.logs(iid, 1)
    clock.advance(4 * 3600)
    assert m.logs(iid, 1) == last and "batch" in last and _status(m, iid) == "running"


def test_crash_writes_a_traceback_then_exits():
    m, clock, iid = _one("crash", after=600)
    seen = _walk(m, clock, iid, 2 * 3600)
    assert seen == ["loading", "running", "exited"]
    tail = m.logs(iid, 3).splitlines()
    assert tail[0] == "Traceback (most recent call last):" and "Error" in tail[-1]


def test_preempt_stops_after_t_and_stops_billing():
    m, clock, iid = _one("preempt", after=1200, dph=0.36)
    assert _walk(m, clock, iid, 3600) == ["loading", "running", "stopped"]
    assert m.credit == pytest.approx(100 - 0.36 * 1200 / 3600)
    frozen = m.logs(iid, 5)
    clock.advance(3600)
    assert m.logs(iid, 5) == frozen and m.credit == pytest.approx(100 - 0.12)
    row = m.row(m.instances[iid], clock.now())
    assert row["actual_status"] == "stopped" and row["intended_status"] == "running"


def test_flaky_ssh_loses_about_half_the_log_requests():
    m, clock, iid = _one("flaky_ssh")
    clock.advance(3600)
    lost = sum(m.log_request_fails(iid) for _ in range(200))
    assert 60 < lost < 140 and "games/s" in m.logs(iid, 5)
    healthy, _, other = _one(None)
    assert not any(healthy.log_request_fails(other) for _ in range(50))


def test_broken_launch_repeats_shell_errors():
    m, clock, iid = _one("broken_launch")
    clock.advance(3600)
    log = m.logs(iid, None)
    assert "command not found" in m.logs(iid, 5) and "code updated" not in log and "GPU OK" not in log


def test_user_stop_freezes_logs_and_billing_and_restart_boots_again():
    m, clock, iid = _one(dph=0.5)
    clock.advance(3600)
    assert m.set_state(iid, "stopped")
    frozen, credit = m.logs(iid, 3), m.credit
    assert credit == pytest.approx(99.5)
    clock.advance(3600)
    assert m.logs(iid, 3) == frozen and m.credit == pytest.approx(credit) and _status(m, iid) == "stopped"
    assert m.set_state(iid, "running") and _status(m, iid) is None
    assert _walk(m, clock, iid, 3600) == ["loading", "running"]
    assert "[worker-vast-0] batch 1:" in m.logs(iid, None)
    assert m.row(m.instances[iid], clock.now())["start_date"] == EPOCH
    assert not m.set_state(12345, "stopped")


def test_credit_drains_by_dph_and_creates_fail_at_zero_until_a_top_up():
    clock = ManualClock()
    m = Market(clock, seed=2, credit=0.3)
    a = m.add_machine("RTX 3070", dph=0.1)
    b = m.add_machine("RTX 3060", dph=0.2)
    m.create(a.id, {"label": "a"})
    m.create(b.id, {"label": "b"})
    clock.advance(1800)
    assert m.credit == pytest.approx(0.15)
    clock.advance(1800)
    assert m.credit == pytest.approx(0.0, abs=1e-9)
    c = m.add_machine("RTX 3070")
    with pytest.raises(PermissionError, match="lacks credit"):
        m.create(c.id, {"label": "c"})
    assert not m.offers[c.id].rented
    m.top_up(10)
    assert m.create(c.id, {"label": "c"})


def test_creating_rents_the_offer_and_destroying_frees_it():
    m, _clock, iid = _one()
    offer = m.instances[iid].offer_id
    assert m.offers[offer].rented
    with pytest.raises(KeyError):
        m.create(offer, {})
    assert m.destroy(iid) and not m.offers[offer].rented and not m.destroy(iid)
    m.take_offer(offer)
    with pytest.raises(KeyError):
        m.create(offer, {})


def test_scheduled_changes_apply_on_the_next_tick():
    m, clock, _ = _one()
    m.at(clock.now() + 600, lambda market: market.set_credit(0))
    clock.advance(599)
    m.tick()
    assert m.credit > 0
    clock.advance(1)
    m.tick()
    assert m.credit == 0


def test_default_market_shape():
    m = load_scenario("default", ManualClock())
    rows = [m.offer_row(o) for o in m.offers.values()]
    assert 55 <= len(rows) <= 65 and all(r["num_gpus"] == 1 for r in rows)
    assert {"RTX 3060", "RTX 4090"} <= {r["gpu_name"] for r in rows}
    prices = [r["dph_total"] for r in rows]
    assert min(prices) >= 0.055 and max(prices) <= 0.15 and sum(p > 0.09 for p in prices) >= 10
    faulty = [mm for mm in m.machines.values() if mm.fault]
    assert 1 <= len(faulty) <= len(rows) // 5
    assert all(r["ssh_host"] and r["ssh_port"] for r in [m.row(i, 0) for i in m.instances.values()])


def test_seeded_and_deterministic():
    a, b, c = (load_scenario("sick-fleet", ManualClock(), seed=s) for s in (4, 4, 5))
    assert [o.dph_total for o in a.offers.values()] == [o.dph_total for o in b.offers.values()]
    assert [o.dph_total for o in a.offers.values()] != [o.dph_total for o in c.offers.values()]
    for x, y in zip(a.instances.values(), b.instances.values()):
        assert a.logs(x.id, 30) == b.logs(y.id, 30)


def test_a_month_old_workers_tail_costs_the_tail_not_the_month():
    m, clock, iid = _one()
    clock.advance(30 * 86400)
    start = time.perf_counter()
    for _ in range(20):
        tail = m.logs(iid, 200)
    assert (time.perf_counter() - start) / 20 < 0.01
    assert len(tail.splitlines()) == 200


def test_api_fault_injection_and_the_call_log():
    m, _, _ = _one()
    with pytest.raises(ValueError, match="unknown API fault"):
        m.inject("418")
    m.inject("rented")
    assert m.take_fault("GET", "/api/v1/instances/") is None
    assert m.take_fault("PUT", "/api/v0/asks/123/").kind == "rented" and not m.api_faults
    m.inject("503", 2, path="/api/v1/")
    assert [m.take_fault("GET", "/api/v1/instances/").kind for _ in range(2)] == ["503", "503"]
    assert m.take_fault("GET", "/api/v1/instances/") is None
    m.record_call("GET", "/api/v1/instances/", {}, {})
    m.record_call("PUT", "/api/v0/asks/1/", {}, {"env": {"HF_TOKEN": "hf_x"}})
    assert m.count_calls() == 2 and m.count_calls("PUT", "/api/v0/asks/") == 1
    assert m.calls_to("PUT")[0]["body"]["env"]["HF_TOKEN"] == "hf_x"
    m.reset_calls()
    assert m.calls == [] and set(API_FAULTS) >= {"429", "500", "503", "malformed", "slow", "hang", "rented"}


def test_clocks():
    c = ManualClock()
    assert c.now() == EPOCH and c.advance(60) == EPOCH + 60 and c() == EPOCH + 60
    c.sleep(30)
    assert c.now() == EPOCH + 90
    s = ScaledClock(3600.0)
    assert EPOCH <= s.now() < EPOCH + 3600
    assert s.advance(86400) >= EPOCH + 86400
    assert ScaledClock(2.0, start=5.0).now() < 10
    with pytest.raises(ValueError):
        ScaledClock(0)
