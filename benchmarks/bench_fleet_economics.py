"""Fleet economics, zeb against the user's scripts, on the same simulated market (issue #6 (b)).

Each seed builds one market (the default scenario, credit unlimited, and on top of its own random faults one
machine in four among the best-value offers made faulty, cycling through every fault kind) -- twice, from the
same seed, so both policies meet the same machines with the same faults. On one copy the real zeb monitor runs
over HTTP through the real SDK against the sim server; on the other the scripts' policy (scripts_policy.py: the
model of vast_monitor.sh + find_offer.py, launching with the scripts' own image, ONSTART and env) calls the
market in-process. Both run on a virtual clock for --hours; the sim runs every instance's onstart for real.

Every metric is computed the same way for both, from the market's ground truth (what each instance actually
did), not from either monitor's own records:
  recovery     a failure is an instance in one of the fleet's worker slots whose machine's fault showed:
               production stopped by a stall, crash or preemption (from that moment), or an instance on a
               faulty machine that never produced (from its creation; an instance still booting at the end is
               counted once it is 30 min old). Its recovery time runs to the first production of a later
               instance under the same worker label (both policies relaunch a slot under its label), so a slot
               that goes through three duds counts three failures. Unrecovered failures count up to the end.
  non-prod $   share of all $ billed (GPU time held; a stopped instance holds none) while the instance was
               not producing (booting, broken, stalled, stopped-but-rented, ...).
  $/game/s     over the whole run, sum(dph x producing time) / sum(games/s x producing time), against the
               best possible: the --workers best-value healthy offers under the cap.
  producing    time-averaged number of producing instances / target.
  calls        Vast API requests per worker-hour (target x hours) in two regimes of ground truth: healthy
               (at least target instances producing and every rented instance producing) and in flux (any
               other moment). A call made at time t is judged by the fleet as it stood just before t.
  faulty reps  rentals per faulty machine (max over all, mean over those rented at least once).

Call accounting: zeb's calls are the HTTP requests the sim server records (retries included); the scripts'
are recorded in-process, one per HTTP request the `vastai` CLI would send (see InProcessBackend): a listing is
ceil(rows/25) requests, a log read 1 (the result_url fetch is not a Vast API call and is not counted for zeb
either), a per-GPU offer search 1, a create 1, a destroy 1.
"""

from __future__ import annotations

import argparse
import bisect
import concurrent.futures
import contextlib
import dataclasses
import itertools
import math
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scripts_policy

from zeb.sim import worker_log
from zeb.sim.clock import ManualClock
from zeb.sim.market import FAULTS, Market
from zeb.sim.scenarios import load_scenario

HOUR = 3600.0
NEVER_PRODUCE = ("oom", "no_cuda", "broken_launch", "dud")


# -- the market -------------------------------------------------------------------------------------------------


def build_market(seed: int) -> tuple[ManualClock, Market]:
    clock = ManualClock()
    market = load_scenario("default", clock, seed=seed)
    market.set_credit(1e6)
    by_value = sorted(market.offers.values(), key=lambda o: o.dph_total / market.machines[o.machine_id].gps)
    for n, offer in enumerate(by_value[::4]):
        market.set_fault(offer.machine_id, FAULTS[n % len(FAULTS)])
    _deterministic_flaky_logs(market, seed)
    return clock, market


def _deterministic_flaky_logs(market: Market, seed: int) -> None:
    """The sim decides which flaky_ssh log requests fail from the market's shared rng, in the order concurrent
    requests arrive -- and that rng also draws instance ids and timings at create. zeb polls in threads, so its
    run would not repeat. Here each instance's n-th log request fails or not from (seed, instance, n) alone."""
    counts: dict[int, int] = {}

    def fails(instance_id: int) -> bool:
        with market.lock:
            inst = market.instances.get(instance_id)
            if inst is None or market.machines[inst.machine_id].fault != "flaky_ssh":
                return False
            n = counts[instance_id] = counts.get(instance_id, 0) + 1
            return random.Random(f"{seed}:{instance_id}:{n}").random() < 0.5

    market.log_request_fails = fails  # type: ignore[method-assign]


def best_dpg(market: Market, target: int, max_dph: float) -> float:
    healthy = sorted(((o.dph_total, market.machines[o.machine_id].gps) for o in market.offers.values()
                      if market.machines[o.machine_id].fault is None and o.dph_total <= max_dph),
                     key=lambda x: x[0] / x[1])[:target]
    return sum(d for d, _ in healthy) / sum(g for _, g in healthy)


# -- the two policies -------------------------------------------------------------------------------------------


def run_zeb(seed: int, hours: float, target: int, max_dph: float) -> dict:
    from zeb.adapters.vast import VastClient
    from zeb.core.config import WORKER_IMAGE, resolve
    from zeb.service.monitor import Monitor
    from zeb.sim.hub import FakeHub
    from zeb.sim.server import SimServer
    from zeb.storage.store import Store

    clock, market = build_market(seed)
    with tempfile.TemporaryDirectory() as tmp, SimServer(market) as url, contextlib.ExitStack() as stack:
        gpus = tuple(sorted({m.gpu_name for m in market.machines.values()}))
        cfg = resolve("zeb", {"max_dph": max_dph, "gpus": gpus}, {"ZEB_CONFIG": "/nonexistent"})
        # The host files default to ~/.config/zeb (shared with the scripts): keep each run's strikes to itself.
        # The same worker image the scripts launch (zeb's one-line choice), so the two differ in policy only.
        cfg = dataclasses.replace(cfg, blacklist_file=str(Path(tmp, "bad-hosts.txt")),
                                  preferred_file=str(Path(tmp, "preferred-hosts.txt")), image=WORKER_IMAGE)
        store = Store(Path(tmp, "store"))
        client = VastClient("sim-key", url, base_wait=0.01)    # retry waits are real seconds: keep them short
        # The examples repo the simulated workers upload to, as `zeb monitor` sees it through the hub.
        hub = FakeHub({cfg.repo_id: {f"{cfg.weights_name}.pt": b"w"}, cfg.examples_repo_id: {}},
                      examples_source=market.examples_uploads)
        stack.enter_context(hub)
        hub_env = {"HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_bench"}
        mon = Monitor(cfg, target, client, store, "hf_bench", clock=clock.now, rng=random.Random(seed),
                      hub_env=hub_env)
        start, wall = clock.now(), time.perf_counter()
        while clock.now() - start < hours * HOUR:
            market.tick()
            report = mon.cycle()
            clock.advance(report.interval)
        wall = time.perf_counter() - wall
        return measure(market, start, start + hours * HOUR, target, max_dph, cycles=mon.counters.cycles, wall=wall)


def run_scripts(seed: int, hours: float, target: int, max_dph: float) -> dict:
    clock, market = build_market(seed)
    gpus = tuple(sorted({m.gpu_name.replace(" ", "_") for m in market.machines.values()}))
    cfg = scripts_policy.ScriptsConfig(target=target, max_dph=max_dph, gpus=gpus)
    mon = scripts_policy.ScriptsMonitor(cfg, scripts_policy.InProcessBackend(market))
    start, wall = clock.now(), time.perf_counter()
    while clock.now() - start < hours * HOUR:
        market.tick()
        clock.advance(mon.cycle())
    wall = time.perf_counter() - wall
    return measure(market, start, start + hours * HOUR, target, max_dph, cycles=mon.total_checks, wall=wall)


POLICIES = {"zeb": run_zeb, "scripts": run_scripts}


def _run(args: tuple[str, int, float, int, float]) -> tuple[str, int, dict]:
    policy, seed, hours, target, max_dph = args
    return policy, seed, POLICIES[policy](seed, hours, target, max_dph)


# -- ground truth ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Life:
    instance_id: int
    label: str
    machine_id: int
    fault: str | None
    created: float
    rented_until: float        # destroyed (or the end of the run)
    billed_until: float        # ... or stopped / preempted, whichever came first
    prod_start: float | None   # first batch, if it ever produced before billed_until
    prod_end: float | None
    fault_end: float | None    # when a stall / crash / preemption ended production (None: never)
    dph: float
    gps: float


def lives(market: Market, end: float) -> list[Life]:
    out = []
    for inst in [*market.gone, *market.instances.values()]:
        m = market.machines[inst.machine_id]
        boot = worker_log.boot_time(inst)
        rented = min(inst.destroyed_at if inst.destroyed_at is not None else math.inf, end)
        billed = rented if inst.stopped_at is None else min(rented, inst.stopped_at)
        if m.fault == "preempt":
            billed = min(billed, boot + m.fault_after_s)
        run = inst.run
        ps = pe = fault_end = None
        gps = 0.0
        if (run is not None and run.worker is not None and m.fault not in NEVER_PRODUCE
                and math.isfinite(run.first_batch)):
            if m.fault in ("stall", "crash"):
                fault_end = boot + run.first_batch + m.fault_after_s
            elif m.fault == "preempt":
                fault_end = boot + m.fault_after_s
            start = boot + run.first_batch
            stop = min(billed, fault_end if fault_end is not None else math.inf)
            if start < stop:
                ps, pe = start, stop
                gps = run.games_per_batch / run.period
        out.append(Life(inst.id, inst.label or "", inst.machine_id, m.fault, inst.created, rented, billed, ps, pe,
                        fault_end, inst.dph_total, gps))
    return out


def recoveries(ls: list[Life], end: float, fleet: str, target: int) -> tuple[list[float], int]:
    """Seconds from each failure to the first production of a later instance under the same worker label
    (both policies relaunch a slot under its label); failures of instances outside the fleet's slots (the
    scripts' worker-vast-upgrade trial) are not losses of capacity and are left out."""
    slots = {f"{fleet}-worker-vast-{k}" for k in range(target)}
    by_label: dict[str, list[Life]] = {}
    for lf in ls:
        by_label.setdefault(lf.label, []).append(lf)
    out, unrecovered = [], 0
    for lf in ls:
        if lf.label not in slots:
            continue
        if lf.prod_start is not None and lf.fault_end is not None and lf.fault_end < lf.rented_until:
            at = lf.fault_end
        elif lf.prod_start is None and lf.fault is not None and (lf.rented_until < end or end - lf.created > 1800):
            at = lf.created
        else:
            continue
        later = [o.prod_start for o in by_label[lf.label]
                 if o.instance_id != lf.instance_id and o.created > lf.created and o.prod_start is not None]
        if later:
            out.append(max(0.0, min(later) - at))
        else:
            out.append(end - at)
            unrecovered += 1
    return out, unrecovered


def regimes(ls: list[Life], start: float, end: float, target: int):
    """(healthy? at time t just before t's actions, total healthy seconds, total in-flux seconds)."""
    points = sorted({start, end, *(p for lf in ls for p in (lf.created, lf.rented_until, lf.prod_start, lf.prod_end)
                                   if p is not None and start < p < end)})

    def healthy_at(t: float) -> bool:     # the state on (t - dt, t]
        alive = [lf for lf in ls if lf.created < t <= lf.rented_until]
        producing = sum(1 for lf in alive if lf.prod_start is not None and lf.prod_start < t <= lf.prod_end)
        return producing >= target and producing == len(alive)

    segments = list(itertools.pairwise(points))
    seg_healthy = [healthy_at((a + b) / 2) for a, b in segments]
    h = sum(b - a for (a, b), ok in zip(segments, seg_healthy) if ok)

    def regime(t: float) -> bool:
        i = bisect.bisect_left(points, t) - 1       # the segment that ends at or after t
        return seg_healthy[max(0, min(i, len(seg_healthy) - 1))]

    return regime, h, (end - start) - h


def measure(market: Market, start: float, end: float, target: int, max_dph: float, **extra) -> dict:
    ls = lives(market, end)
    cost = sum(lf.dph * max(0.0, lf.billed_until - lf.created) for lf in ls) / HOUR
    prod = [lf for lf in ls if lf.prod_start is not None]
    prod_time = sum(lf.prod_end - lf.prod_start for lf in prod)
    cost_prod = sum(lf.dph * (lf.prod_end - lf.prod_start) for lf in prod) / HOUR
    dph_t = sum(lf.dph * (lf.prod_end - lf.prod_start) for lf in prod)
    gps_t = sum(lf.gps * (lf.prod_end - lf.prod_start) for lf in prod)
    rec, unrecovered = recoveries(ls, end, "zeb", target)
    regime, healthy_s, flux_s = regimes(ls, start, end, target)
    calls_h = calls_f = 0
    for c in market.calls:
        if start <= c["time"] < end:
            if regime(c["time"]):
                calls_h += 1
            else:
                calls_f += 1
    rentals: dict[int, int] = {}
    for lf in ls:
        if lf.fault is not None:
            rentals[lf.machine_id] = rentals.get(lf.machine_id, 0) + 1
    return {
        "recovery_s": rec, "unrecovered": unrecovered, "cost": cost, "cost_non_producing": cost - cost_prod,
        "fleet_dpg": dph_t / gps_t if gps_t else math.nan, "best_dpg": best_dpg(market, target, max_dph),
        "producing_s": prod_time, "span_s": end - start, "target": target,
        "calls_healthy": calls_h, "calls_flux": calls_f, "healthy_s": healthy_s, "flux_s": flux_s,
        "faulty_rentals": list(rentals.values()), "instances": len(ls), **extra,
    }


# -- aggregation and the table ----------------------------------------------------------------------------------------


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return math.nan
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def aggregate(runs: list[dict]) -> dict:
    rec = [x for r in runs for x in r["recovery_s"]]
    reps = [x for r in runs for x in r["faulty_rentals"]]

    def per_worker_h(calls, secs):
        return sum(r[calls] for r in runs) / max(1e-9, sum(r["target"] * r[secs] / HOUR for r in runs))

    return {
        "recovery_median_min": statistics.median(rec) / 60 if rec else math.nan,
        "recovery_p90_min": pct(rec, 0.9) / 60,
        "failures": len(rec), "unrecovered": sum(r["unrecovered"] for r in runs),
        "non_producing_share": sum(r["cost_non_producing"] for r in runs) / sum(r["cost"] for r in runs),
        "dpg_vs_best": statistics.mean(r["fleet_dpg"] / r["best_dpg"] for r in runs),
        "dpg_vs_best_worst": max(r["fleet_dpg"] / r["best_dpg"] for r in runs),
        "producing_vs_target": sum(r["producing_s"] for r in runs) / sum(r["target"] * r["span_s"] for r in runs),
        "calls_healthy": per_worker_h("calls_healthy", "healthy_s"),
        "calls_flux": per_worker_h("calls_flux", "flux_s"),
        # The in-flux rate rewards spreading a recovery over more time: per failure and per worker-day
        # say what the recoveries and the whole day cost.
        "calls_per_failure": sum(r["calls_flux"] for r in runs) / max(1, len(rec)),
        "calls_per_worker_day": (sum(r["calls_healthy"] + r["calls_flux"] for r in runs)
                                 / max(1e-9, sum(r["target"] * r["span_s"] / 86400 for r in runs))),
        "healthy_share": sum(r["healthy_s"] for r in runs) / sum(r["span_s"] for r in runs),
        "faulty_max": max(reps) if reps else 0, "faulty_mean": statistics.mean(reps) if reps else 0.0,
        "cost": sum(r["cost"] for r in runs), "cycles": sum(r["cycles"] for r in runs),
        "wall": sum(r["wall"] for r in runs),
    }


def _ratio(a: float, b: float) -> str:
    if not (math.isfinite(a) and math.isfinite(b)) or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def table(z: dict, s: dict) -> list[str]:
    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT MET"

    rows = [
        ("failure -> replacement producing, median", f"{z['recovery_median_min']:.1f} min",
         f"{s['recovery_median_min']:.1f} min", _ratio(z["recovery_median_min"], s["recovery_median_min"]),
         "<= 0.5x: " + verdict(z["recovery_median_min"] <= 0.5 * s["recovery_median_min"])),
        ("failure -> replacement producing, p90", f"{z['recovery_p90_min']:.1f} min",
         f"{s['recovery_p90_min']:.1f} min", _ratio(z["recovery_p90_min"], s["recovery_p90_min"]), "-"),
        ("  failures (unrecovered at the end)", f"{z['failures']} ({z['unrecovered']})",
         f"{s['failures']} ({s['unrecovered']})", _ratio(z["failures"], s["failures"]), "-"),
        ("$ on workers not producing", f"{z['non_producing_share']:.1%}", f"{s['non_producing_share']:.1%}",
         _ratio(z["non_producing_share"], s["non_producing_share"]),
         "<= 0.5x: " + verdict(z["non_producing_share"] <= 0.5 * s["non_producing_share"])),
        ("fleet $/game/s vs best possible (mean)", f"{z['dpg_vs_best']:.3f}x", f"{s['dpg_vs_best']:.3f}x",
         _ratio(z["dpg_vs_best"], s["dpg_vs_best"]), "<= 1.02x: " + verdict(z["dpg_vs_best"] <= 1.02)),
        ("  worst seed", f"{z['dpg_vs_best_worst']:.3f}x", f"{s['dpg_vs_best_worst']:.3f}x",
         _ratio(z["dpg_vs_best_worst"], s["dpg_vs_best_worst"]), "-"),
        ("producing workers / target (time avg)", f"{z['producing_vs_target']:.1%}", f"{s['producing_vs_target']:.1%}",
         _ratio(z["producing_vs_target"], s["producing_vs_target"]), "-"),
        ("API calls / worker-hour, healthy", f"{z['calls_healthy']:.1f}", f"{s['calls_healthy']:.1f}",
         _ratio(z["calls_healthy"], s["calls_healthy"]),
         "<= 0.5x: " + verdict(z["calls_healthy"] <= 0.5 * s["calls_healthy"])),
        ("API calls / worker-hour, in flux", f"{z['calls_flux']:.1f}", f"{s['calls_flux']:.1f}",
         _ratio(z["calls_flux"], s["calls_flux"]), "<= 0.5x: " + verdict(z["calls_flux"] <= 0.5 * s["calls_flux"])),
        ("  API calls in flux per failure", f"{z['calls_per_failure']:.1f}", f"{s['calls_per_failure']:.1f}",
         _ratio(z["calls_per_failure"], s["calls_per_failure"]), "-"),
        ("  API calls per worker-day, all", f"{z['calls_per_worker_day']:.0f}", f"{s['calls_per_worker_day']:.0f}",
         _ratio(z["calls_per_worker_day"], s["calls_per_worker_day"]), "-"),
        ("  share of time healthy", f"{z['healthy_share']:.1%}", f"{s['healthy_share']:.1%}",
         _ratio(z["healthy_share"], s["healthy_share"]), "-"),
        ("rentals per faulty machine, max", f"{z['faulty_max']}", f"{s['faulty_max']}",
         _ratio(z["faulty_max"], s["faulty_max"]), "<= 2: " + verdict(z["faulty_max"] <= 2)),
        ("rentals per faulty machine rented, mean", f"{z['faulty_mean']:.2f}", f"{s['faulty_mean']:.2f}",
         _ratio(z["faulty_mean"], s["faulty_mean"]), "-"),
        ("total $ spent", f"${z['cost']:.2f}", f"${s['cost']:.2f}", _ratio(z["cost"], s["cost"]), "-"),
        ("monitor cycles", f"{z['cycles']}", f"{s['cycles']}", _ratio(z["cycles"], s["cycles"]), "-"),
    ]
    w0 = max(len(r[0]) for r in rows)
    head = f"{'metric':<{w0}}  {'zeb':>11}  {'scripts':>11}  {'zeb/scr':>7}  target"
    return [head, "-" * len(head)] + [f"{a:<{w0}}  {b:>11}  {c:>11}  {d:>7}  {e}" for a, b, c, d, e in rows]


def parse_seeds(text: str) -> list[int]:
    if "," in text or "-" in text[1:]:
        out: list[int] = []
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
        return out
    return list(range(1, int(text) + 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="5", help="a count (seeds 1..N) or a list: 3,7,11 or 1-5 (default 5)")
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours per run (default 24)")
    parser.add_argument("--workers", type=int, default=8, help="target fleet size (default 8)")
    parser.add_argument("--max-dph", type=float, default=0.12, help="the $/hr cap, the same for both (default 0.12)")
    parser.add_argument("--quick", action="store_true", help="2 seeds x 4 h")
    parser.add_argument("--jobs", type=int, default=0, help="processes (default: one per CPU)")
    args = parser.parse_args(argv)
    seeds = [1, 2] if args.quick else parse_seeds(args.seeds)
    hours = 4.0 if args.quick else args.hours
    jobs = args.jobs or os.cpu_count() or 1
    print(f"{hours:g} simulated hours x {len(seeds)} seeds ({', '.join(map(str, seeds))}), {args.workers} workers, "
          f"cap ${args.max_dph}/hr for both; default market, one best-value machine in four faulty "
          f"(every fault kind); same seed -> same market for zeb and the scripts", flush=True)
    tasks = [(p, seed, hours, args.workers, args.max_dph) for seed in seeds for p in ("zeb", "scripts")]
    wall = time.perf_counter()
    results: dict[str, dict[int, dict]] = {"zeb": {}, "scripts": {}}
    if jobs > 1:
        with concurrent.futures.ProcessPoolExecutor(max_workers=min(jobs, len(tasks))) as pool:
            for policy, seed, r in pool.map(_run, tasks):
                results[policy][seed] = r
    else:
        for task in tasks:
            policy, seed, r = _run(task)
            results[policy][seed] = r
    for seed in seeds:
        z, s = results["zeb"][seed], results["scripts"][seed]
        print(f"  seed {seed}: zeb {z['instances']} rentals, ${z['cost']:.2f}, "
              f"{z['fleet_dpg'] / z['best_dpg']:.3f}x best,"
              f" {z['wall']:.1f} s | scripts {s['instances']} rentals, ${s['cost']:.2f}, "
              f"{s['fleet_dpg'] / s['best_dpg']:.3f}x best, {s['wall']:.1f} s")
    print()
    for line in table(aggregate([results["zeb"][s] for s in seeds]), aggregate([results["scripts"][s] for s in seeds])):
        print(line)
    print(f"\nwall time {time.perf_counter() - wall:.1f} s ({jobs} processes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
