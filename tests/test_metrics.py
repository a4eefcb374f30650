"""`zeb monitor --metrics-port`: FleetMetrics from plain cycle reports, the names' conventions, the Vast
client's per-endpoint counts, and the exporter end to end against the simulated marketplace."""

from __future__ import annotations

import math
import random
import socket
import urllib.request
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from tests.vast_fixture import KEY, VastFixture
from zeb.adapters.vast import VastClient
from zeb.core.errors import MarketError, UsageError
from zeb.core.lifecycle import WorkerState
from zeb.observe.metrics import FleetMetrics, serve
from zeb.service.monitor import Counters, CycleReport


def samples(registry) -> dict:
    """{(sample name, frozenset of labels): value} of one scrape."""
    text = generate_latest(registry).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(scrape: dict, name: str, **labels) -> float:
    return scrape[(name, frozenset({"fleet": "zeb", **labels}.items()))]


def fake_monitor(states, *, calls=None, errors=None, **counters):
    records = {i: SimpleNamespace(state=s) for i, s in enumerate(states)}
    client = SimpleNamespace(calls=dict(calls or {}), call_errors=dict(errors or {}))
    return SimpleNamespace(records=records, target=4, counters=Counters(**counters), client=client)


def destroy_row(code: str, *, ok: bool = True, strike: bool = False) -> dict:
    return {"v": 1, "kind": "action", "code": code, "action": "destroy", "ok": ok, "strike": strike}


def test_observe_sets_every_value_from_a_report_and_the_monitor():
    m = FleetMetrics(CollectorRegistry(), "zeb")
    P, B = WorkerState.PRODUCING, WorkerState.BOOTING
    mon = fake_monitor([P, P, B], calls={"list_instances": 2, "logs": 5}, errors={"logs": 1}, cycles=1,
                       launches=3, api_errors=0)
    m.observe(CycleReport(1, 1_700_000_000.0, producing=2, live=3, games_per_s=2.5, dph=0.3, credit_wait=True,
                          duration_s=0.42, launching=2), mon)
    s = samples(m.registry)
    assert value(s, "zeb_workers", state="producing") == 2
    assert value(s, "zeb_workers", state="booting") == 1
    assert value(s, "zeb_workers", state="gone") == 0          # every state is present, emptied ones read 0
    assert value(s, "zeb_target_workers") == 4
    assert value(s, "zeb_games_per_second") == 2.5
    assert value(s, "zeb_dollars_per_hour") == 0.3
    assert value(s, "zeb_dollars_per_game_per_second") == pytest.approx(0.12)
    assert value(s, "zeb_credit_wait") == 1
    assert value(s, "zeb_launches_in_flight") == 2
    assert value(s, "zeb_last_cycle_timestamp_seconds") == 1_700_000_000.0
    assert value(s, "zeb_cycle_duration_seconds_count") == 1
    assert value(s, "zeb_cycle_duration_seconds_sum") == pytest.approx(0.42)
    assert value(s, "zeb_cycles_total") == 1 and value(s, "zeb_launches_total") == 3
    assert value(s, "zeb_api_calls_total", endpoint="logs") == 5
    assert value(s, "zeb_api_errors_total", endpoint="logs") == 1

    # The next cycle: counters follow zeb's running totals, gauges the new report.
    P2 = [WorkerState.PRODUCING] * 3
    mon2 = fake_monitor(P2, calls={"list_instances": 3, "logs": 9}, errors={"logs": 1}, cycles=2, launches=3)
    m.observe(CycleReport(2, 1_700_000_060.0, games_per_s=0.0, dph=0.3, duration_s=1.0), mon2)
    s = samples(m.registry)
    assert value(s, "zeb_workers", state="booting") == 0 and value(s, "zeb_workers", state="producing") == 3
    assert value(s, "zeb_cycles_total") == 2 and value(s, "zeb_launches_total") == 3
    assert value(s, "zeb_api_calls_total", endpoint="logs") == 9
    assert value(s, "zeb_credit_wait") == 0 and value(s, "zeb_launches_in_flight") == 0
    assert math.isnan(value(s, "zeb_dollars_per_game_per_second"))   # nothing produces: no $ per game/s
    assert value(s, "zeb_cycle_duration_seconds_count") == 2


def test_destroy_events_count_replacements_destroys_and_strikes_by_reason():
    m = FleetMetrics(CollectorRegistry(), "zeb")
    for row in (destroy_row("replace", strike=True), destroy_row("replace"), destroy_row("cost"),
                destroy_row("downscale"), destroy_row("replace", ok=False, strike=True),
                {"v": 1, "kind": "action", "code": "launch", "action": "launch", "ok": True},
                {"v": 1, "kind": "transition", "code": "destroying"}):
        m.event(row)
    s = samples(m.registry)
    assert value(s, "zeb_replacements_total", reason="replace") == 2
    assert value(s, "zeb_replacements_total", reason="cost") == 1
    assert ("zeb_replacements_total", frozenset({"fleet": "zeb", "reason": "downscale"}.items())) not in s
    assert value(s, "zeb_destroys_total", reason="downscale") == 1
    assert value(s, "zeb_destroys_total", reason="replace") == 2
    assert value(s, "zeb_strikes_total", reason="replace") == 2   # struck whether the destroy went through or not


def test_names_follow_prometheus_conventions():
    m = FleetMetrics(CollectorRegistry(), "zeb")
    m.observe(CycleReport(1, 1.0, duration_s=0.1), fake_monitor([WorkerState.PRODUCING], calls={"logs": 1},
                                                                errors={"logs": 1}, cycles=1))
    m.event(destroy_row("replace", strike=True))
    families = list(text_string_to_metric_families(generate_latest(m.registry).decode()))
    assert families
    for fam in families:
        assert fam.name.startswith("zeb_"), fam.name
        assert fam.documentation, fam.name
        if fam.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in fam.samples), fam.name
        for s in fam.samples:
            assert s.labels.get("fleet") == "zeb", (fam.name, s)
    types = {f.name: f.type for f in families}
    assert types["zeb_cycle_duration_seconds"] == "histogram" and types["zeb_workers"] == "gauge"


def test_vast_client_counts_calls_and_errors_per_endpoint():
    vast = VastFixture()
    vast.start()
    try:
        c = VastClient(KEY, vast.url, timeout=5.0, sleep=lambda s: None, rng=random.Random(1))
        c.list_instances()
        c.list_instances()
        assert c.get_instance(424242) is None               # NotFound answered as None: not an error
        with pytest.raises(MarketError):
            c.create_instance(_bad_spec())                   # no such offer
        assert c.calls == {"list_instances": 2, "get_instance": 1, "create_instance": 1}
        assert c.call_errors == {"create_instance": 1}
    finally:
        vast.stop()


def _bad_spec():
    from zeb.core.domain import LaunchSpec
    return LaunchSpec(999_999_999, "zeb-worker-vast-0", "img", 20, {}, "true")


def test_serve_answers_a_scrape_and_a_taken_port_is_one_usage_error():
    m = FleetMetrics(CollectorRegistry(), "zeb")
    m.observe(CycleReport(1, 5.0, games_per_s=1.0, dph=0.1), fake_monitor([WorkerState.PRODUCING], cycles=1))
    host, port, server = serve(m, 0)
    try:
        body = urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5).read().decode()
        assert 'zeb_games_per_second{fleet="zeb"} 1.0' in body
        with pytest.raises(UsageError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            serve(m, port)
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_monitor_serves_metrics_between_cycles(sim):
    from zeb.cli import app as cli_app
    from zeb.cli.context import App

    port = _free_port()
    scrapes: list[str] = []

    def sleep(seconds: float) -> None:   # between cycles: what a Prometheus server would read then
        scrapes.append(urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode())
        sim.clock.sleep(seconds)

    obj = App(env=sim.env, clock=sim.clock.now, sleep=sleep)
    res = CliRunner().invoke(cli_app, ["monitor", "3", "--max-cycles", "2", "--metrics-port", str(port)], obj=obj,
                             catch_exceptions=False)
    assert res.exit_code == 0, res.stderr
    assert f"metrics   http://127.0.0.1:{port}/metrics" in res.stderr
    assert scrapes
    text = scrapes[-1]
    assert 'zeb_target_workers{fleet="zeb"} 3.0' in text
    assert 'zeb_cycles_total{fleet="zeb"} 1.0' in text
    assert 'zeb_api_calls_total{endpoint="create_instance",fleet="zeb"} 3.0' in text
    assert 'zeb_cycle_duration_seconds_count{fleet="zeb"} 1.0' in text
    with pytest.raises(OSError):   # the server is shut down with the monitor
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_monitor_with_port_zero_says_where_and_a_taken_port_is_one_line(sim):
    res = sim.run("monitor", "2", "--max-cycles", "1", "--metrics-port", "0")
    assert res.exit_code == 0, res.stderr
    assert "metrics   http://127.0.0.1:" in res.stderr
    asks = len(sim.calls("PUT", "/api/v0/asks/"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        res = sim.run("monitor", "2", "--max-cycles", "1", "--metrics-port", str(port))
    assert res.exit_code != 0
    line = f"zeb: error: cannot serve metrics on 127.0.0.1:{port}: Address already in use"
    assert res.stderr.splitlines()[-1] == line
    assert "Traceback" not in res.stderr and len(sim.calls("PUT", "/api/v0/asks/")) == asks   # no cycle ran
