"""Every API fault kind of the simulated market on every endpoint zeb uses, for the commands that call it:
no traceback, under 60 s, exit code 0, 1 or 3, no instance outside the fleet destroyed, no duplicate label
left live. Default: each (kind, endpoint) once, with one command that calls the endpoint (rotating) and the
fault hitting the next call; ZEB_CHAOS=full: every command that calls the endpoint, the fault on the next
1 and the next 3 calls, and "hang" too (each hang costs zeb's 30 s request timeout)."""

from __future__ import annotations

import itertools
import time

from tests.chaos import harness

KINDS = ("429", "500", "502", "503", "504", "malformed", "slow", "rented") + (("hang",) if harness.FULL else ())
# endpoint -> (method, path prefix, commands that call it)
ENDPOINTS = {
    "list": ("GET", "/api/v1/instances", ("status", "up", "replenish", "down", "logs", "monitor", "rank-offers")),
    "search": ("POST", "/api/v0/bundles/", ("up", "replenish", "monitor", "rank-offers")),
    "create": ("PUT", "/api/v0/asks/", ("up", "replenish", "monitor")),
    "destroy": ("DELETE", "/api/v0/instances", ("down",)),
    "request_logs": ("PUT", "/api/v0/instances/request_logs/", ("logs", "monitor")),
    "log_fetch": ("GET", "/_logs/", ("logs", "monitor")),
}
ARGS = {"status": ("status",), "up": ("up", "1"), "replenish": ("replenish", "2"),
        "down": ("down", "--force", "--wait", "5"),
        "logs": ("logs", "zeb-worker-vast-0", "--tail", "5"), "monitor": ("monitor", "2", "--once"),
        "rank-offers": ("rank-offers",)}


def _cases():
    rotate = {name: itertools.cycle(cmds) for name, (_, _, cmds) in ENDPOINTS.items()}
    for kind in KINDS:
        for name, (method, path, cmds) in ENDPOINTS.items():
            if kind == "rented" and name != "create":
                continue        # an offer snatched: only a create meets it
            if name == "log_fetch" and kind not in ("slow", "hang"):
                continue        # the log text fetch is delayed or hung, never answered with a status
            for cmd in (cmds if harness.FULL else (next(rotate[name]),)):
                for count in ((1, 3) if harness.FULL else (1,)):
                    yield kind, name, method, path, cmd, count


def test_every_fault_on_every_endpoint(chaos):
    started = time.monotonic()
    failures: list[str] = []
    runs = 0
    slowest = 0.0
    for kind, name, method, path, cmd, count in _cases():
        chaos.clear_fleet()
        chaos.market.adopt("RTX 3080", "zeb-worker-vast-0")
        home = chaos.home(f"fault-{runs}")
        chaos.market.inject(kind, count=count, path=path, method=method, delay=0.5, retry_after=0.5)
        ran = chaos.run(home, *ARGS[cmd], timeout=90)
        chaos.clear_faults()
        runs += 1
        slowest = max(slowest, ran.seconds)
        where = f"{kind} x{count} on {name} ({method} {path}) during {' '.join(ARGS[cmd])}"
        if not harness.traceback_free(ran) or ran.code not in (0, 1, 3) or ran.seconds >= 60:
            failures.append(f"{where}: exit {ran.code} after {ran.seconds:.1f}s: {ran.err[-400:]}")
        if chaos.wrong_destroys():
            failures.append(f"{where}: {chaos.wrong_destroys()}")
        if chaos.duplicates():
            failures.append(f"{where}: duplicate labels live {chaos.duplicates()}")
    chaos.clear_fleet()
    harness.record("api_faults", runs=runs, kinds=list(KINDS), endpoints=list(ENDPOINTS), failures=len(failures),
                   slowest_command_s=round(slowest, 1), seconds=round(time.monotonic() - started, 1))
    assert not failures, "\n".join(failures)
