"""`zeb demo`: the real monitor, over HTTP through the real SDK, against the simulated marketplace
running on a fast virtual clock. A scripted few hours: ramp-up from zero, a dud host replaced and
struck, a crash replaced, a preemption, an upgrade trial, credit running out and coming back, and Hugging
Face down for half an hour (the fleet held, nobody struck, resumed the cycle it answers)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from zeb.adapters.vast import VastClient
from zeb.cli.context import App
from zeb.core.config import FleetConfig, resolve
from zeb.core.errors import ZebError
from zeb.core.timefmt import hms
from zeb.observe.dashboard import banner, check_line, dashboard
from zeb.plan.stats import fleet_stats, gpu_stats
from zeb.service.monitor import Monitor
from zeb.sim.clock import EPOCH, ManualClock
from zeb.sim.hub import FakeHub
from zeb.sim.market import Market
from zeb.sim.server import SimServer
from zeb.storage import state

HOURS = 3600.0
DEMO_REPORT = "zeb-demo-report.html"
DEMO_FLEETS = """
[fleets.demo]
weights_name = "demo"
repo_id = "demo/zeb-42"
examples_repo_id = "demo/zeb-42-examples"
max_dph = 0.10
gpus = ["RTX_3060", "RTX_3060_Ti", "RTX_3070", "RTX_3070_Ti", "RTX_3080", "RTX_4070", "RTX_4070_Ti"]
target_workers = 4

[fleets.demo.thresholds]
fast_interval_s = 30
slow_interval_s = 300
"""


@dataclass(frozen=True)
class Script:
    duration_s: float = 3.5 * HOURS
    upgrade_at: float = 1.0 * HOURS
    credit_out_at: float = 1.6 * HOURS
    top_up_at: float = 2.3 * HOURS
    preempt_after: float = 1.8 * HOURS
    hub_down_at: float = 2.6 * HOURS
    hub_back_at: float = 3.1 * HOURS


class PacedClock:
    """The demo's clock. Virtual time moves only when the monitor sleeps, so every simulated interval
    gets its cycle whatever the machine's speed (a clock that ran on during a cycle's work ate the whole
    run on a slow start: 0 cycles at --speed 5000). Each sleep then waits, in `real` time, until the
    schedule `speed` sets, at once when the work already took longer; `behind()` says by how much."""

    def __init__(self, speed: float, *, real: Callable[[], float] = time.monotonic,
                 wait: Callable[[float], None] = time.sleep, start: float = EPOCH) -> None:
        if not speed > 0:
            raise ValueError(f"clock speed must be positive, not {speed!r}")
        self.speed = float(speed)
        self._virtual = ManualClock(start)
        self._start = float(start)
        self._real = real
        self._wait = wait
        self._real0 = real()

    def now(self) -> float:
        return self._virtual.now()

    def advance(self, seconds: float) -> float:
        return self._virtual.advance(seconds)

    def behind(self) -> float:
        """Real seconds the run is behind its schedule (0 when on time)."""
        return max(0.0, self._real() - (self._real0 + (self.now() - self._start) / self.speed))

    def sleep(self, seconds: float) -> None:
        self._virtual.advance(seconds)
        due = self._real0 + (self.now() - self._start) / self.speed
        self._wait(max(0.0, due - self._real()))

    __call__ = now


# The demo gives up when it runs this much later than its schedule (and at least this factor of the whole
# scheduled run): the machine cannot keep up with the speed asked for.
MAX_BEHIND_S = 60.0
MAX_BEHIND_FACTOR = 2.0


def build_market(clock, script: Script, say: Callable[[str], None], seed: int = 42) -> Market:
    market = Market(clock, seed=seed, credit=25.0)
    market.populate(30, gpus=["RTX 3060", "RTX 3060 Ti", "RTX 3070", "RTX 3070 Ti", "RTX 3080"], faulty_share=0.0)
    # The cheapest offers per game/s hide trouble: the monitor will find out the hard way.
    market.add_machine("RTX 4070 Ti", dph=0.066, fault="dud")
    market.add_machine("RTX 4070 Ti", dph=0.068, fault="crash", fault_after_s=0.55 * HOURS)
    market.add_machine("RTX 4070 Ti", dph=0.070, fault="preempt", fault_after_s=script.preempt_after)
    market.add_machine("RTX 4070", dph=0.072)
    market.add_machine("RTX 4070", dph=0.074)
    start = clock.now()

    def upgrade(m: Market) -> None:
        m.add_machine("RTX 4070 Ti", dph=0.052, gps=4.3)
        say("market: a new RTX 4070 Ti offer at $0.052/hr appears")

    def credit_out(m: Market) -> None:
        m.set_credit(0.0)
        say("market: the account's credit runs out")

    def top_up(m: Market) -> None:
        m.top_up(20.0)
        say("market: $20 of credit added")

    def hub_down(m: Market) -> None:
        say("market: Hugging Face stops answering (503): every worker fails at its next weight sync")

    def hub_back(m: Market) -> None:
        say("market: Hugging Face answers again")

    # The outage is in the world from the start (workers' runs know when their sync will fail); the two
    # events only say so when it happens.
    market.hub_outage(start + script.hub_down_at, start + script.hub_back_at)
    market.at(start + script.hub_down_at, hub_down)
    market.at(start + script.hub_back_at, hub_back)
    market.at(start + script.upgrade_at, upgrade)
    market.at(start + script.credit_out_at, credit_out)
    market.at(start + script.top_up_at, top_up)
    return market


def run_demo(console, err, *, speed: float = 240.0, script: Script = Script(), interactive: bool = False,
             clock=None, report: Path | None = None):
    """Returns (monitor, stats data) after the scripted run. `clock` defaults to a PacedClock(speed);
    tests pass a ManualClock so the run is the same every time. The HTML report of the run is written to
    `report` (default: zeb-demo-report.html in the temp directory); data["report"] says where."""
    clock = clock or PacedClock(speed)
    printer = {"print": err.print}

    def say(text: str) -> None:
        # While the live dashboard owns the terminal, lines go above it through its console.
        printer["print"](f"[{hms(clock.now() - start)}] {text}", markup=False)

    start = clock.now()
    market = build_market(clock, script, say)
    with tempfile.TemporaryDirectory(prefix="zeb-demo-") as tmp, SimServer(market) as url, \
            FakeHub({"demo/zeb-42": {"demo.pt": b"weights"}, "demo/zeb-42-examples": {}}, clock,
                    examples_source=market.examples_uploads, world=lambda: market.world) as hub_url:
        env = _demo_env(Path(tmp), url, hub_url, market.api_key)
        app = App(env=env, clock=clock.now, sleep=clock.sleep, stdout=console, stderr=err, interactive=interactive)
        cfg = resolve("demo", {}, env)
        _print_banner(err, cfg, url, clock, speed, script)
        client = VastClient.from_env(env, timeout=10.0)
        mon = Monitor(cfg, cfg.target_workers, client, app.store, env["HF_TOKEN"], clock=clock.now, hub_env=env)
        _run_cycles(mon, cfg, market, clock, start, script, console, say, printer)
        if mon.counters.cycles == 0:
            raise ZebError("the demo ran 0 monitor cycles", hint="try a lower --speed or more --hours")
        now = clock.now()
        data = _stats(app.store, mon, cfg)
        data.update(simulated_s=now - start, api_calls=market.count_calls(), requests_made=client.requests_made)
        # Now, while the demo's state directory (a temp dir discarded below) still exists.
        data["report"] = str(write_demo_report(app.store, cfg, report, now=now, since=start))
        for instance in market.live_instances():       # leave nothing behind, even in a simulation
            market.destroy(instance.id)
        return mon, data


def write_demo_report(store, cfg: FleetConfig, path: Path | None, *, now: float, since: float) -> Path:
    from zeb.cli.report_cmd import write_report  # matplotlib: only when the run is over

    path = Path(path) if path is not None else Path(tempfile.gettempdir()) / DEMO_REPORT
    write_report(store, cfg, path, now=now, since=since)
    return path


def _demo_env(tmp: Path, url: str, hub_url: str, api_key: str) -> dict[str, str]:
    config = tmp / "fleets.toml"
    config.write_text(DEMO_FLEETS)
    return {"VAST_URL": url, "VAST_API_KEY": api_key, "HF_TOKEN": "hf_demo_not_a_secret",
            "HF_ENDPOINT": hub_url, "ZEB_HOME": str(tmp / "state"), "ZEB_CONFIG": str(config),
            # Simulated machines must never reach the user's real bad-hosts.txt or preferred-hosts.txt.
            "ZEB_BLACKLIST": str(tmp / "bad-hosts.txt"), "ZEB_PREFERRED": str(tmp / "preferred.txt")}


def _print_banner(err, cfg: FleetConfig, url: str, clock, speed: float, script: Script) -> None:
    for line in banner(cfg, cfg.target_workers, 0):
        err.print(line, markup=False)
    err.print(f"  market    simulated at {url}, clock x{getattr(clock, 'speed', speed):g} "
              f"({script.duration_s / HOURS:.1f} simulated hours in ~{script.duration_s / speed:.0f} s)",
              markup=False)


def _run_cycles(mon: Monitor, cfg: FleetConfig, market: Market, clock, start: float, script: Script, console,
                say: Callable[[str], None], printer: dict) -> None:
    """Monitor cycles until the script's end: a live dashboard on a terminal, check lines otherwise."""
    live = None
    if console.is_terminal:
        from rich.live import Live  # rich's live display, only for a terminal

        live = Live(console=console, auto_refresh=False)
        live.start()
        printer["print"] = live.console.print
    try:
        while clock.now() - start < script.duration_s:
            market.tick()
            report = mon.cycle()
            if live is not None:
                strikes = {m: len(h.strikes) for m, h in mon.hosts.items()}
                live.update(dashboard(report, cfg, cfg.target_workers, mon.started, mon.counters, strikes),
                            refresh=True)
                for action in report.actions:
                    say(action)
            else:
                console.print(check_line(report, mon.started, cfg.target_workers), markup=False)
                for action in report.actions:
                    console.print(f"  {action}", markup=False)
            _check_keeping_up(clock, mon, script, clock.now() - start)
            clock.sleep(report.interval)
    finally:
        if live is not None:
            live.stop()


def _check_keeping_up(clock, mon: Monitor, script: Script, simulated: float) -> None:
    """Stop with one line when the machine is too slow for the speed asked for (a PacedClock only)."""
    behind = getattr(clock, "behind", lambda: 0.0)()
    planned = script.duration_s / clock.speed if hasattr(clock, "speed") else 0.0
    if behind <= max(MAX_BEHIND_S, MAX_BEHIND_FACTOR * planned):
        return
    cycles = mon.counters.cycles
    per_cycle = (simulated / clock.speed + behind) / max(1, cycles)     # real seconds one cycle took
    speed = max(10, int(simulated / max(1, cycles) / per_cycle / 2))    # half what this machine managed
    raise ZebError(f"demo stopped: this machine ran {behind:.0f} s behind the --speed {clock.speed:g} schedule "
                   f"after {cycles} cycles ({simulated / HOURS:.1f} of {script.duration_s / HOURS:.1f} simulated "
                   f"hours)", hint=f"try a lower speed, e.g. zeb demo --speed {speed}")


def _stats(store, mon: Monitor, cfg: FleetConfig) -> dict:
    """The run's per-GPU and fleet statistics, from the live records and the retired ones."""
    events = state.read_events(store, "demo")
    live_records = list(mon.records.values())
    retired = state.retired_records(events)
    hosts = state.load_hosts(store, state.HostFiles.of(cfg))
    strikes = sum(len(h.strikes) for h in hosts.values())
    return {"gpus": gpu_stats(live_records + retired),
            "fleet_stats": fleet_stats(live_records, retired, events, strikes)}
