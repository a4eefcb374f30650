"""Shared fixtures: every test runs isolated (temp ZEB_HOME and config, no colour, 80 columns)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolate(tmp_path, monkeypatch):
    home = tmp_path / "zeb-home"
    monkeypatch.setenv("ZEB_HOME", str(home))
    monkeypatch.setenv("ZEB_CONFIG", str(tmp_path / "no-such-fleets.toml"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    # The scripts' host files live under ~/.config/zeb and the monitor guard under a machine-wide
    # runtime dir: both must stay inside the test's own directory.
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))
    monkeypatch.setenv("ZEB_RUNTIME_DIR", str(tmp_path / "runtime"))
    for var in ("ZEB_FLEET", "ZEB_WEIGHTS_NAME", "ZEB_REPO_ID", "ZEB_EXAMPLES_REPO_ID", "ZEB_MAX_DPH",
                "ZEB_GPUS", "ZEB_BLACKLIST", "ZEB_PREFERRED", "ZEB_UPLOAD_INTERVAL", "ZEB_WORKER_MODE",
                "ZEB_ORACLE_CHECKPOINT", "ZEB_EQ_N_SAMPLES", "ZEB_EQ_GAMES_PER_BATCH", "ZEB_EQ_BATCH_SIZE",
                "ZEB_EQ_TEMPERATURE", "ZEB_EQ_POLICY_TARGETS", "VAST_URL", "VAST_API_KEY",
                "HF_TOKEN", "HF_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    yield


@pytest.fixture
def sim(tmp_path):
    from tests.simenv import start_sim

    sim, server = start_sim(tmp_path)
    try:
        yield sim
    finally:
        server.stop()
        sim.hub.stop()


@pytest.fixture
def sim_factory(tmp_path):
    from tests.simenv import start_sim

    started = []

    def make(scenario="default", seed=None):
        s, server = start_sim(tmp_path, scenario, seed)
        started.append((s, server))
        return s

    yield make
    for s, server in started:
        server.stop()
        s.hub.stop()
