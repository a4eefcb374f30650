"""One cause, many workers (issue #19): zeb against the user's scripts through a fault the whole fleet shares.

Two episodes, 8 workers each, on the simulated market (the sim runs every onstart through its bash model, so a
worker clones the branch head it boots on and pulls its weights from the hub the world describes):
  bad-commit   the bad-commit scenario: 8 workers producing; a commit that crashes every new clone in the
               user's code (TypeError) is pushed at +10 min, the fix at +2 h 10 min (a 2-hour episode). Hosts
               are lost under running workers every 20 minutes meanwhile (the same times for both policies),
               so replacements are needed during the episode, as on a real market.
  hub-outage   the hub-outage scenario: 8 workers producing; Hugging Face answers 503 from +10 min to +70 min
               (a 1-hour episode): every worker crashes at its next weight sync, a new one at its first pull.

Each episode runs twice from the same scenario file: once under the real zeb Monitor (over HTTP through the
real SDK against the sim server, its hub a FakeHub on the market's world and clock, its alerts decided by the
real Notifier), once under the scripts' policy (scripts_policy.py, in-process). Both on a virtual clock, until
2 hours after the cause clears.

Figures, from the market's ground truth (what every instance did), not from either policy's own records:
  strikes on healthy   strikes given during the run (every machine in these scenarios is healthy), and those
                       still standing at the end (zeb withdraws the strikes a fleet fault explains)
  paid boot minutes    billed minutes of instances created during the episode before they produced (the whole
                       billed life of one that never did), and their $
  producing destroyed  workers the policy destroyed while they were producing, during the episode (upgrade
                       swaps, which replace a producer by a better one that already produces, aside)
  clear -> target      from the cause clearing (the fix pushed, the hub back) to 8 workers producing again
  alert latency        from the first worker failing of the cause to the fleet_fault alert (the scripts send none)
Goals (the issue): 0 strikes, <= one canary's boot per probe interval, 0 producing destroyed, clear -> target
<= one cycle + one boot, alert latency one cycle.

    python benchmarks/bench_fleet_faults.py
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scripts_policy

from zeb.sim import worker_log
from zeb.sim.clock import ManualClock
from zeb.sim.market import Market
from zeb.sim.scenarios import load_scenario

HOUR = 3600.0
TARGET = 8


@dataclasses.dataclass(frozen=True)
class Episode:
    scenario: str
    start: float              # seconds after the run starts: the cause begins
    end: float                # ... and clears
    losses: tuple[float, ...] = ()   # hosts lost under a running worker at these times


EPISODES = {
    "bad-commit": Episode("bad-commit", 600.0, 7800.0, losses=(1200.0, 2400.0, 3600.0, 4800.0, 6000.0, 7200.0)),
    "hub-outage": Episode("hub-outage", 600.0, 4200.0),
}


def _market(ep: Episode) -> tuple[ManualClock, Market]:
    clock = ManualClock()
    market = load_scenario(ep.scenario, clock)
    market.set_credit(1e6)
    return clock, market


def _lose_one(market: Market, rng: random.Random, lost: set[int]) -> None:
    """A host lost under one running worker: Vast stops listing it (a preemption that takes the machine)."""
    live = sorted((i for i in market.live_instances() if i.label), key=lambda i: i.id)
    if live:
        victim = rng.choice(live).id
        market.destroy(victim)
        lost.add(victim)


def _drive(clock: ManualClock, market: Market, ep: Episode, hours: float,
           cycle: Callable[[], float]) -> tuple[float, set[int], float]:
    """Run `cycle` (one policy cycle; returns the seconds it sleeps) on the virtual clock for `hours`, the
    episode's host losses at their times. Returns (start time, the instances lost, wall seconds)."""
    t0, wall = clock.now(), time.perf_counter()
    losses, rng, lost = list(ep.losses), random.Random(7), set()
    while clock.now() - t0 < hours * HOUR:
        while losses and clock.now() - t0 >= losses[0]:
            losses.pop(0)
            _lose_one(market, rng, lost)
        market.tick()
        clock.advance(cycle())
    return t0, lost, time.perf_counter() - wall


@dataclasses.dataclass
class Outcome:
    market: Market
    t0: float
    strikes_given: int
    strikes_standing: int
    upgrade_swaps: set[int]          # instance ids destroyed as upgrade swaps
    alert_at: float | None           # seconds after t0
    lost: set[int]                   # instances the episode's host losses took
    cycles: int
    wall: float


def run_zeb(ep: Episode, hours: float, pin: str | None = None) -> Outcome:
    from zeb.adapters.vast import VastClient
    from zeb.core.config import resolve
    from zeb.observe.notify import Notifier
    from zeb.service.monitor import Monitor
    from zeb.sim.hub import FakeHub
    from zeb.sim.server import SimServer, git_env
    from zeb.storage.store import Store

    clock, market = _market(ep)
    alerts: list[tuple[str, float]] = []

    class Recorded(Notifier):
        def _enqueue(self, alert, now: float) -> None:       # the real decision; the send is recorded
            alerts.append((alert.kind, now))

    events: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp, SimServer(market) as url, contextlib.ExitStack() as stack:
        cfg = resolve("zeb", {"max_dph": 0.12}, {"ZEB_CONFIG": "/nonexistent"})   # as the scripts run
        cfg = dataclasses.replace(cfg, blacklist_file=str(Path(tmp, "bad-hosts.txt")),
                                  preferred_file=str(Path(tmp, "preferred-hosts.txt")),
                                  notify=dataclasses.replace(cfg.notify, webhook="http://127.0.0.1:9/hook"),
                                  pin=pin)
        store = Store(Path(tmp, "store"))
        client = VastClient("sim-key", url, base_wait=0.01)
        hub = FakeHub({cfg.repo_id: {f"{cfg.weights_name}.pt": b"w"}, cfg.examples_repo_id: {}}, clock,
                      examples_source=market.examples_uploads, world=lambda: market.world)
        stack.enter_context(hub)
        # `git ls-remote` of the worker branch reaches the sim's repositories (git's own insteadOf).
        hub_env = {"HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_bench", **git_env(url)}
        mon = Monitor(cfg, TARGET, client, store, "hf_bench", clock=clock.now, rng=random.Random(1),
                      hub_env=hub_env, emit_event=events.append)
        notifier = Recorded(cfg.notify, cfg.name, clock.now, env={})
        def cycle() -> float:
            report = mon.cycle()
            notifier.on_report(report, mon)
            return report.interval

        t0, lost, wall = _drive(clock, market, ep, hours, cycle)
        given = sum(1 for e in events if e.get("kind") == "action" and e.get("strike"))
        standing = sum(len(h.strikes) for h in mon.fleet.hosts().values())
        swaps = {e["instance_id"] for e in events if e.get("kind") == "action" and e.get("code") == "upgrade"}
        alert = next((at - t0 for kind, at in alerts if kind == "fleet_fault"), None)
        return Outcome(market, t0, given, standing, swaps, alert, lost, mon.counters.cycles, wall)


def run_scripts(ep: Episode, hours: float) -> Outcome:
    clock, market = _market(ep)
    gpus = tuple(sorted({m.gpu_name.replace(" ", "_") for m in market.machines.values()}))
    cfg = scripts_policy.ScriptsConfig(target=TARGET, max_dph=0.12, gpus=gpus)
    mon = scripts_policy.ScriptsMonitor(cfg, scripts_policy.InProcessBackend(market))
    t0, lost, wall = _drive(clock, market, ep, hours, mon.cycle)
    swaps = {a.instance_id for a in mon.actions if a.kind == "destroy" and "upgrade" in a.reason.lower()
             and a.instance_id is not None}
    return Outcome(market, t0, sum(mon.strikes.values()), sum(mon.strikes.values()), swaps, None, lost,
                   mon.total_checks, wall)


# -- ground truth -----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Life:
    instance_id: int
    created: float
    billed_until: float
    prod_start: float | None
    prod_end: float | None
    destroyed_at: float | None
    dph: float


def lives(market: Market, t0: float, end: float) -> list[Life]:
    """Every instance, times relative to t0. Production runs from the first batch to the first of: the end of
    billing, the fault from outside the host (a crash in the commit's code, the hub failing a pull or a sync)."""
    out = []
    for inst in [*market.gone, *market.instances.values()]:
        boot = worker_log.boot_time(inst)
        rented = min(inst.destroyed_at if inst.destroyed_at is not None else math.inf, end)
        billed = rented if inst.stopped_at is None else min(rented, inst.stopped_at)
        run, ps, pe = inst.run, None, None
        if run is not None and run.worker is not None and math.isfinite(run.first_batch):
            start = boot + run.first_batch
            stop = min(billed, boot + run.fault_at if math.isfinite(run.fault_at) else math.inf)
            if start < stop:
                ps, pe = start - t0, stop - t0
        out.append(Life(inst.id, inst.created - t0, billed - t0, ps, pe,
                        None if inst.destroyed_at is None else inst.destroyed_at - t0, inst.dph_total))
    return out


def first_failure(market: Market, t0: float, ep: Episode) -> float | None:
    """When the first worker died of the cause: its code crashing, or the hub failing its pull or sync."""
    times = []
    for inst in [*market.gone, *market.instances.values()]:
        run = inst.run
        if run is None or not math.isfinite(run.fault_at) or not run.fault_kind:
            continue
        at = worker_log.boot_time(inst) + run.fault_at - t0
        if ep.start <= at and (inst.destroyed_at is None or inst.destroyed_at - t0 > at):
            times.append(at)
    return min(times, default=None)


def producing_at(ls: list[Life], t: float) -> int:
    return sum(1 for lf in ls if lf.prod_start is not None and lf.prod_start <= t < lf.prod_end)


def figures(out: Outcome, ep: Episode, hours: float) -> dict:
    end = hours * HOUR
    ls = lives(out.market, out.t0, out.t0 + end)
    during = [lf for lf in ls if ep.start <= lf.created < ep.end]
    boot_s = sum(max(0.0, (lf.prod_start if lf.prod_start is not None else lf.billed_until) - lf.created)
                 for lf in during)
    boot_usd = sum(lf.dph * max(0.0, (lf.prod_start if lf.prod_start is not None else lf.billed_until)
                                - lf.created) for lf in during) / HOUR
    destroyed = [lf for lf in ls if lf.destroyed_at is not None and ep.start <= lf.destroyed_at < ep.end
                 and lf.instance_id not in out.lost and lf.instance_id not in out.upgrade_swaps
                 and lf.prod_start is not None and lf.prod_start <= lf.destroyed_at < lf.prod_end]
    # Back at target: the first moment after the cause clears with TARGET producing.
    marks = sorted({ep.end, *(p for lf in ls for p in (lf.prod_start, lf.prod_end) if p is not None and p > ep.end)})
    back = next((t for t in marks if producing_at(ls, t + 1e-6) >= TARGET), None)
    fail = first_failure(out.market, out.t0, ep)
    boots = sorted(lf.prod_start - lf.created for lf in ls if lf.prod_start is not None and lf.created > 0)
    # The refill: launched after the clear, until the fleet is back (boots run in parallel: the slowest counts).
    refill = [lf for lf in ls if ep.end <= lf.created and (back is None or lf.created <= back)
              and lf.prod_start is not None]
    return {
        "boot_s": boots[len(boots) // 2] if boots else None,
        "first_launch_s": min((lf.created - ep.end for lf in refill), default=None),
        "refill_boot_s": max((lf.prod_start - lf.created for lf in refill), default=None),
        "strikes": out.strikes_given, "standing": out.strikes_standing,
        "launches": len(during), "boot_min": boot_s / 60, "boot_usd": boot_usd,
        "producing_destroyed": len(destroyed),
        "back_s": None if back is None else back - ep.end,
        "alert_s": None if out.alert_at is None or fail is None else out.alert_at - fail,
        "min_producing": min(producing_at(ls, t) for t in _grid(ep.start, ep.end)),
        "cycles": out.cycles, "wall": out.wall,
    }


def _grid(a: float, b: float, step: float = 60.0):
    t = a
    while t < b:
        yield t
        t += step


def _fmt(v, unit: str = "", digits: int = 1) -> str:
    if v is None:
        return "never"
    return f"{v:.{digits}f}{unit}" if isinstance(v, float) else f"{v}{unit}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episode", choices=sorted(EPISODES), action="append", help="default: both")
    args = p.parse_args(argv)
    probe_s = 900.0
    for name in args.episode or list(EPISODES):
        ep = EPISODES[name]
        hours = (ep.end + 2 * HOUR) / HOUR
        rows = {}
        rows["zeb"] = figures(run_zeb(ep, hours), ep, hours)
        rows["pinned"] = figures(run_zeb(ep, hours, pin="last-good"), ep, hours)
        rows["scripts"] = figures(run_scripts(ep, hours), ep, hours)
        canaries = (ep.end - ep.start) / probe_s
        z, zp, s = rows["zeb"], rows["pinned"], rows["scripts"]
        print(f"\n{name}: {(ep.end - ep.start) / 3600:.0f} h episode, {TARGET} workers, "
              f"{len(ep.losses)} host losses during it; run {hours:.1f} h")
        print(f"  {'':34} {'zeb':>10} {'zeb pinned':>10} {'scripts':>10}   goal")
        lines = [
            ("strikes on healthy machines", "strikes", "0"),
            ("  still standing at the end", "standing", "0"),
            ("launches during the episode", "launches", ""),
            ("paid boot minutes in the episode", "boot_min",
             f"<= one canary per {probe_s / 60:.0f} min (~{canaries:.0f} boots)"),
            ("  their $", "boot_usd", ""),
            ("producing workers destroyed", "producing_destroyed", "0"),
            ("fewest producing in the episode", "min_producing", ""),
            ("cause cleared -> 8 producing (s)", "back_s", "<= one cycle + one boot"),
            ("  cleared -> first launch (s)", "first_launch_s", "<= one cycle (90-300 s)"),
            ("  slowest boot of the refill (s)", "refill_boot_s", "one boot"),
            ("alert latency (s)", "alert_s", "one cycle"),
            ("cycles", "cycles", ""),
        ]
        for label, key, goal in lines:
            digits = 3 if "$" in label else 1
            cells = " ".join(f"{_fmt(r[key], digits=digits):>10}" for r in (z, zp, s))
            print(f"  {label:34} {cells}   {goal}")
        print(f"  one boot (median create -> first batch, zeb's launches): {_fmt(z['boot_s'], ' s')}; one cycle: "
              f"90 s (fast cadence) to 300 s (slow)")
        print(f"  (wall: zeb {z['wall']:.1f} s, pinned {zp['wall']:.1f} s, scripts {s['wall']:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
