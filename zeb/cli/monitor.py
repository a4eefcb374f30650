"""`zeb monitor N`: the self-healing controller, in the foreground."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

import typer

from zeb.cli._base import FLEET_OPTION, app_of, check_count, zeb_command
from zeb.cli.output import Result
from zeb.core.errors import HubError, UsageError


@zeb_command("monitor")
def monitor(
    ctx: typer.Context,
    count: int | None = typer.Argument(None, help="Number of healthy workers to keep (default: the fleet's "
                                          "target_workers)."),
    fleet: str | None = FLEET_OPTION,
    max_dph: float | None = typer.Option(None, "--max-dph", help="Highest $/hr per worker (env ZEB_MAX_DPH)."),
    once: bool = typer.Option(False, "--once", help="Run one full cycle and exit (for cron)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Banner, checks and one cycle's plan; change nothing."),
    interval: float | None = typer.Option(None, "--interval", min=1.0, help="Fixed seconds between cycles "
                                             "(default: fast while in flux, slow when healthy)."),
    log_file: Path | None = typer.Option(None, "--log-file", help="Append every event as a JSON line."),
    max_cycles: int | None = typer.Option(None, "--max-cycles", min=1, help="Stop after this many cycles."),
    metrics_port: int | None = typer.Option(None, "--metrics-port", min=0, max=65535, help="Serve Prometheus "
                                            "metrics on this port (0: any free one). Off by default."),
    metrics_addr: str = typer.Option("127.0.0.1", "--metrics-addr", help="Address the metrics are served on."),
    pin_last_good: bool = typer.Option(False, "--pin-last-good", help="While a bad commit on the branch holds "
                                       "the fleet, launch replacements on the newest commit that produced "
                                       "(fleets.toml: pin = \"last-good\")."),
) -> Result:
    """Keep COUNT healthy workers producing; replace what fails. Ctrl-C leaves the fleet running.

    Example: zeb monitor 8 --fleet zeb-large --log-file ~/zeb-large.jsonl

    Example: zeb monitor 8 --pin-last-good   (a bad push never empties the fleet)
    """
    check_count(count, 0)
    app = app_of(ctx)
    cfg = app.config(fleet, max_dph=max_dph, target_workers=count, pin="last-good" if pin_last_good else None)
    sink = _EventSink(log_file)     # a bad --log-file is one line, before any banner
    token = _announce(app, cfg)
    with app.store.monitor_guard(cfg.name, env=app.env):
        return _supervise(app, cfg, token, sink, dry_run=dry_run, once=once, interval=interval,
                          max_cycles=max_cycles, metrics_port=metrics_port, metrics_addr=metrics_addr)


def _announce(app, cfg) -> str:
    """The banner and the start-up checks on stderr; the HF token the workers get."""
    # deferred: zeb's planners and store cost ~100 ms that `--help` does not need (benchmarks/bench_help.py)
    from zeb.observe.dashboard import banner
    service = app.fleet(cfg)
    for line in banner(cfg, cfg.target_workers, len(service.blocked(service.hosts(), app.clock()))):
        app.note(line)
    token, checks = _start_up_hub_check(app, service, cfg)
    app.note(f"  checks    {checks}")
    return token


def _supervise(app, cfg, token: str, sink: _EventSink, *, dry_run: bool, once: bool, interval: float | None,
               max_cycles: int | None, metrics_port: int | None, metrics_addr: str) -> Result:
    """Run the monitor under its guard (held by the caller) until it stops; its summary as the result."""
    # deferred: zeb's planners and store cost ~100 ms that `--help` does not need (benchmarks/bench_help.py)
    from zeb.observe.dashboard import check_line, dashboard, stamp, summary
    from zeb.service.monitor import Monitor, run
    count = cfg.target_workers
    metrics, server = _start_metrics(app, cfg.name, metrics_port, metrics_addr)  # a port in use: one line
    emit = sink.write if metrics is None else _tee(sink.write, metrics.event)
    mon = Monitor(cfg, count, app.market_for(cfg.market), app.store, token, clock=app.clock, emit_event=emit,
                  dry_run=dry_run, hub_env=app.env)
    out = _Reporter(app, cfg, count, mon, dashboard, check_line, interval=interval, once=once, metrics=metrics)
    notifier = _notifier(app, cfg, token, dry_run)

    def on_report(report) -> None:
        out.show(report)
        notifier.on_report(report, mon)

    previous = _sigterm_as_interrupt()
    stop_error: str | None = None
    try:
        run(mon, sleep=app.sleep, on_report=on_report, once=once or dry_run, max_cycles=max_cycles,
            interval_override=interval)
    except KeyboardInterrupt:
        app.stderr.print("interrupted: saving state; the fleet keeps running")
    except Exception as exc:  # recorded for the "monitor stopped" alert, then re-raised unchanged
        stop_error = str(exc) or type(exc).__name__
        raise
    finally:
        notifier.on_stop(stop_error)
        out.close()
        _restore_sigterm(previous)
        sink.close()
        if server is not None:
            server.shutdown()
            server.server_close()
    now = app.clock()
    return _result(cfg.name, count, mon, summary(mon, now), out.last if once else None, dry_run,
                   stamp(now) if once else "")


def _notifier(app, cfg, token: str, dry_run: bool):
    """Alerts to the fleet's [notify] webhook; --dry-run changes nothing, so it sends nothing."""
    import dataclasses

    from zeb.observe.notify import Notifier  # deferred with the planners: --help does not need it

    notify_cfg = dataclasses.replace(cfg.notify, webhook=None) if dry_run else cfg.notify
    return Notifier(notify_cfg, cfg.name, app.clock, store=app.store, env=app.env, secrets=[token],
                    warn=lambda line: app.stderr.print(line, markup=False))


def _result(fleet: str, count: int, mon, lines: list[str], last, dry_run: bool, prefix: str = "") -> Result:
    """The summary, and for --once (`last`: its cycle's report) the exit code cron reads. `prefix`: the
    time stamp a cron log's every line starts with."""
    # deferred: zeb's planners and store cost ~100 ms that `--help` does not need (benchmarks/bench_help.py)
    from zeb.plan.monitor import cycle_exit_code
    flag = "" if fleet == "zeb" else f" --fleet {fleet}"
    teardown = f"Fleet left running. Tear it down with: zeb down{flag}"

    def human(console) -> None:
        for line in lines:
            console.print(prefix + line, markup=False)
        if not dry_run:
            console.print(prefix + teardown, markup=False)

    from zeb.api.payloads import monitor_data  # deferred: its records cost start-up
    data = monitor_data(fleet, count, vars(mon.counters), dry_run)
    exit_code, errors = 0, []
    if last is not None:
        # cron reads the exit code: a cycle that failed, or did only part of its work, must not exit 0.
        exit_code = cycle_exit_code(last)
        if exit_code:
            why = last.error or (f"{last.failed} action(s) failed, {last.done} went through" if last.failed else
                                 f"{last.short} worker(s) short of the target while the account lacks credit")
            errors.append(f"the cycle {'failed' if exit_code == 1 else 'did only part of its work'}: {why}")
    return Result("monitor", data=data, errors=errors, exit_code=exit_code, human=human)


class _Reporter:
    """A live dashboard on a terminal, its countdown ticking; otherwise one CHECK line per cycle plus one
    per action, each stamped with the cycle's wall-clock time (under --once every line is: cron keeps them)."""

    def __init__(self, app, cfg, target, mon, dashboard, check_line, *, interval: float | None = None,
                 once: bool = False, metrics=None) -> None:
        # deferred: zeb's planners and store cost ~100 ms that `--help` does not need (benchmarks/bench_help.py)
        from zeb.observe.dashboard import check_line, dashboard
        self.app, self.cfg, self.target, self.mon = app, cfg, target, mon
        self._dashboard, self._check_line = dashboard, check_line
        self._interval, self._once = interval, once
        self._metrics = metrics
        self._live = None
        self.last = None
        if app.stdout.is_terminal and not app.quiet:
            from rich.live import Live

            # Refreshed by rich's thread once a second: the dashboard re-reads the clock each time.
            self._live = Live(console=app.stdout, auto_refresh=True, refresh_per_second=1, transient=False)
            self._live.start()

    def show(self, report) -> None:
        # deferred: zeb's planners and store cost ~100 ms that `--help` does not need (benchmarks/bench_help.py)
        from zeb.observe.dashboard import stamp, summary
        self.last = report
        if self._metrics is not None:
            self._metrics.observe(report, self.mon)
        if report.error and not self.mon.should_log_error(report.now):
            return
        if self._live is not None:
            strikes = {m: len(h.strikes) for m, h in self.mon.hosts.items()}
            # run() sleeps right after this: the override unless the cycle failed, else the report's interval.
            wait = self._interval if self._interval and not report.error else report.interval
            self._live.update(self._dashboard(report, self.cfg, self.target, self.mon.started, self.mon.counters,
                                              strikes, next_check_at=self.app.clock() + wait, clock=self.app.clock),
                              refresh=True)
            return
        out = self.app.stdout
        prefix = stamp(report.now) if self._once else ""
        if not self.app.quiet:      # -q: what zeb did and the summary, not a line per cycle
            out.print(self._check_line(report, self.mon.started, self.target), markup=False)
        for action in report.actions:
            out.print(f"{prefix}  {action}", markup=False)
        if report.number % 10 == 0 and not self.app.quiet:
            for line in summary(self.mon, report.now):
                out.print(stamp(report.now) + line, markup=False)
        out.file.flush()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()


def _start_metrics(app, fleet: str, port: int | None, addr: str):
    """(FleetMetrics, its HTTP server) when --metrics-port is given, else (None, None)."""
    if port is None:
        return None, None
    from prometheus_client import CollectorRegistry

    from zeb.observe.metrics import FleetMetrics, serve
    metrics = FleetMetrics(CollectorRegistry(), fleet)
    host, bound, server = serve(metrics, port, addr)
    app.note(f"  metrics   http://{host}:{bound}/metrics")
    return metrics, server


def _tee(*writers):
    def write(event: dict) -> None:
        for w in writers:
            w(event)

    return write


def _start_up_hub_check(app, service, cfg) -> tuple[str, str]:
    """(token, the checks line). A missing token refuses to start, as for `zeb up`. A hub that does not
    answer does not: the workers running still need watching (a dead one still bills), so the monitor starts
    and holds launches until the hub answers (zeb.plan.fleetfault). A refused token or missing weights is
    the same for a fleet that has run here; for one that never has it is most likely a typo, refused at once."""
    from zeb.adapters.hub import find_token
    from zeb.plan.fleetfault import monitor_starts
    from zeb.storage import state

    try:
        return service.check_hub(), "HF token present, weights found"
    except HubError as exc:
        token = find_token(app.env)
        if token is None or not monitor_starts(exc.cause, _has_run_here(app.store, cfg.name, state)):
            raise
        return token, f"HF token present; {exc} -- launches wait for it, running workers are still watched"


def _has_run_here(store, fleet: str, state) -> bool:
    """Has this fleet workers known here, or a monitor that ran it here (its policy document)?"""
    return bool(state.load_records(store, fleet)) or bool(store.fleet_doc(fleet, state.POLICY_DOC).read({}))


class _EventSink:
    def __init__(self, path: Path | None) -> None:
        self._file = None
        if path is not None:
            try:
                # Created private (0600): events name machines, labels and costs. An existing file keeps
                # the mode its owner gave it.
                fd = os.open(path.expanduser(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                self._file = os.fdopen(fd, "a", encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"cannot open --log-file {path}: {exc.strerror}") from None

    def write(self, event: dict) -> None:
        if self._file is not None:
            self._file.write(json.dumps(event, default=str) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _sigterm_as_interrupt():
    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (tests driving the command from a thread)
        return signal.getsignal(signal.SIGTERM)


def _restore_sigterm(previous) -> None:
    with contextlib.suppress(ValueError, TypeError):
        signal.signal(signal.SIGTERM, previous)


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor)
