"""Prometheus metrics of one monitored fleet (`zeb monitor --metrics-port`).

FleetMetrics owns zeb's own CollectorRegistry (never the process-global one) and turns each cycle's
CycleReport, the Monitor's counters and records, and the Vast client's per-endpoint call counts into
gauges, counters and a histogram. Counters are fed the growth of zeb's running totals, so a scrape
always sees them rise monotonically. Replacements and strikes by reason come from the monitor's event
rows (their `code` is the destroy kind), fed through `event()`."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from zeb.core.errors import UsageError
from zeb.core.lifecycle import WorkerState
from zeb.plan.fleetfault import CAUSES as HOLD_CAUSES
from zeb.plan.types import REPLACEMENT_KINDS

# A cycle is usually well under a second; a slow Vast API stretches it towards minutes.
_CYCLE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class FleetMetrics:
    def __init__(self, registry: CollectorRegistry, fleet: str) -> None:
        self.registry = registry
        self.fleet = fleet
        r = registry
        self.workers = Gauge("zeb_workers", "Workers by lifecycle state.", ["fleet", "state"], registry=r)
        self.target = Gauge("zeb_target_workers", "Healthy workers the monitor keeps.", ["fleet"], registry=r)
        self.games = Gauge("zeb_games_per_second", "Games per second of the producing workers.", ["fleet"],
                           registry=r)
        self.dph = Gauge("zeb_dollars_per_hour", "Dollars per hour of every worker not gone.", ["fleet"], registry=r)
        self.dpg = Gauge("zeb_dollars_per_game_per_second",
                         "Fleet dollars per hour divided by its games per second (NaN while nothing produces).",
                         ["fleet"], registry=r)
        self.credit_wait = Gauge("zeb_credit_wait", "1 while launches wait for the account's credit, else 0.",
                                 ["fleet"], registry=r)
        self.launching = Gauge("zeb_launches_in_flight", "Creates sent that Vast does not list yet.", ["fleet"],
                               registry=r)
        self.hold = Gauge("zeb_fleet_hold", "1 while launches are held for this fleet-level cause, else 0.",
                          ["fleet", "cause"], registry=r)
        self.last_cycle = Gauge("zeb_last_cycle_timestamp_seconds", "Unix time of the last cycle.", ["fleet"],
                                registry=r)
        self.cycle_seconds = Histogram("zeb_cycle_duration_seconds", "Seconds one monitor cycle took.", ["fleet"],
                                       buckets=_CYCLE_BUCKETS, registry=r)
        self.cycles = Counter("zeb_cycles_total", "Monitor cycles run.", ["fleet"], registry=r)
        self.cycle_errors = Counter("zeb_cycle_errors_total", "Cycles a marketplace error cut short.", ["fleet"],
                                    registry=r)
        self.launches = Counter("zeb_launches_total", "Workers launched.", ["fleet"], registry=r)
        self.launch_failures = Counter("zeb_launch_failures_total", "Launches that failed.", ["fleet"], registry=r)
        self.destroys = Counter("zeb_destroys_total", "Workers destroyed, by reason (the destroy kind).",
                                ["fleet", "reason"], registry=r)
        self.replacements = Counter("zeb_replacements_total", "Workers replaced, by reason (the destroy kind).",
                                    ["fleet", "reason"], registry=r)
        self.strikes = Counter("zeb_strikes_total", "Strikes against hosts, by reason (the destroy kind).",
                               ["fleet", "reason"], registry=r)
        self.api_calls = Counter("zeb_api_calls_total", "Marketplace API calls, by endpoint.", ["fleet", "endpoint"],
                                 registry=r)
        self.api_errors = Counter("zeb_api_errors_total", "Marketplace API calls that failed, by endpoint.",
                                  ["fleet", "endpoint"], registry=r)
        self._seen: dict[tuple[int, str], float] = {}
        # Every state is present from the start, so a state that empties reads 0 rather than vanishing.
        self._states = [s.value for s in WorkerState]
        self._workers = {s: self.workers.labels(fleet=fleet, state=s) for s in self._states}
        # The fleet's own children, looked up once: observe() runs every cycle.
        self._gauges = {g: g.labels(fleet=fleet) for g in (
            self.target, self.games, self.dph, self.dpg, self.credit_wait, self.last_cycle, self.launching)}
        self._counters = {c: c.labels(fleet=fleet) for c in (
            self.cycles, self.cycle_errors, self.launches, self.launch_failures)}
        self._cycle_seconds = self.cycle_seconds.labels(fleet=fleet)
        self._holds = {cause: self.hold.labels(fleet=fleet, cause=cause) for cause in HOLD_CAUSES}

    def observe(self, report, monitor) -> None:
        """Update every metric from one cycle's zeb.service.monitor.CycleReport and its Monitor."""
        one = self._gauges
        counts = dict.fromkeys(self._states, 0)
        for rec in monitor.records.values():
            counts[rec.state.value] = counts.get(rec.state.value, 0) + 1
        for state, n in counts.items():
            child = self._workers.get(state) or self.workers.labels(fleet=self.fleet, state=state)
            child.set(n)
        one[self.target].set(monitor.target)
        one[self.games].set(report.games_per_s)
        one[self.dph].set(report.dph)
        one[self.dpg].set(report.dph / report.games_per_s if report.games_per_s else float("nan"))
        one[self.credit_wait].set(1 if report.credit_wait else 0)
        one[self.launching].set(getattr(report, "launching", 0))
        held = getattr(report, "hold", None)
        for cause, child in self._holds.items():
            child.set(1 if held == cause else 0)
        one[self.last_cycle].set(report.now)
        duration = getattr(report, "duration_s", None)
        if duration is not None:
            self._cycle_seconds.observe(duration)
        c = monitor.counters
        self._grow(self.cycles, "", c.cycles)
        self._grow(self.cycle_errors, "", c.api_errors)
        self._grow(self.launches, "", c.launches)
        self._grow(self.launch_failures, "", c.launch_failures)
        client = monitor.client
        for endpoint, n in dict(getattr(client, "calls", None) or {}).items():
            self._grow(self.api_calls, endpoint, n)
        for endpoint, n in dict(getattr(client, "call_errors", None) or {}).items():
            self._grow(self.api_errors, endpoint, n)

    def event(self, row: Mapping) -> None:
        """Count one monitor event row: a destroy sent (by its code, the destroy kind) and its strike."""
        if row.get("kind") != "action" or row.get("action") != "destroy":
            return
        reason = str(row.get("code") or "unknown")
        if row.get("ok"):
            self.destroys.labels(fleet=self.fleet, reason=reason).inc()
            if reason in REPLACEMENT_KINDS:
                self.replacements.labels(fleet=self.fleet, reason=reason).inc()
        if row.get("strike"):
            # The monitor strikes the host whether or not the destroy went through (Monitor._destroyed).
            self.strikes.labels(fleet=self.fleet, reason=reason).inc()

    def _grow(self, counter: Counter, label: str, total: float) -> None:
        """Feed `counter` what a running total grew by since the last cycle."""
        key = (id(counter), label)
        grown = total - self._seen.get(key, 0)
        if grown <= 0:
            return
        self._seen[key] = total
        child = counter.labels(fleet=self.fleet, endpoint=label) if label else self._counters[counter]
        child.inc(grown)


def serve(metrics: FleetMetrics, port: int, addr: str = "127.0.0.1") -> tuple[str, int, object]:
    """Serve `metrics`' registry over HTTP on a daemon thread; (host, bound port, server to shut down).
    A port already taken is a UsageError, one line."""
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(port, addr=addr, registry=metrics.registry)
    except OSError as exc:
        raise UsageError(f"cannot serve metrics on {addr}:{port}: {exc.strerror or exc}") from None
    return addr, server.server_address[1], server
