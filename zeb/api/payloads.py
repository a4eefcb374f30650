"""The typed `data` of each command's result: frozen records, built by pure functions from plain inputs.
The JSON envelope carries `dataclasses.asdict` of them (zeb.cli.output); the field order is the key order
`--json` has always printed, so changing a field here changes the contract (tests/test_payload_schema.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# -- up --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UpWorker:
    label: str
    instance_id: int | None
    offer_id: int | None
    machine_id: int | None
    gpu_name: str | None
    dph_total: float | None
    error: str | None


@dataclass(frozen=True, slots=True)
class UpData:
    fleet: str
    requested: int
    launched: list[UpWorker]
    failed: list[UpWorker]


@dataclass(frozen=True, slots=True)
class PlannedWorker:
    label: str
    offer_id: int
    machine_id: int
    gpu_name: str
    dph_total: float
    expected_gps: float
    dollars_per_gps: float


@dataclass(frozen=True, slots=True)
class UpDryRunData:
    fleet: str
    dry_run: bool
    plan: list[PlannedWorker]
    hub_checked: bool


def up_worker(outcome: Any) -> UpWorker:
    """One zeb.service.ops.LaunchOutcome as a record."""
    offer = outcome.offer.offer if outcome.offer else None
    return UpWorker(label=outcome.label, instance_id=outcome.instance_id,
                    offer_id=offer.id if offer else None, machine_id=offer.machine_id if offer else None,
                    gpu_name=offer.gpu_name if offer else None, dph_total=offer.dph_total if offer else None,
                    error=outcome.error)


def up_data(fleet: str, requested: int, outcomes: Sequence[Any]) -> UpData:
    return UpData(fleet=fleet, requested=requested, launched=[up_worker(o) for o in outcomes if o.ok],
                  failed=[up_worker(o) for o in outcomes if not o.ok])


def up_dry_run_data(fleet: str, picked: Iterable[tuple[str, Any]]) -> UpDryRunData:
    """`picked`: (label, RankedOffer) pairs, the plan a dry run prints."""
    plan = [PlannedWorker(label=label, offer_id=p.offer.id, machine_id=p.offer.machine_id,
                          gpu_name=p.offer.gpu_name, dph_total=p.offer.dph_total, expected_gps=p.expected_gps,
                          dollars_per_gps=round(p.dollars_per_gps, 5))
            for label, p in picked]
    return UpDryRunData(fleet=fleet, dry_run=True, plan=plan, hub_checked=False)


# -- replenish -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LaunchingWorker:
    label: str
    instance_id: int | None


@dataclass(frozen=True, slots=True)
class ReplenishedWorker:
    label: str
    instance_id: int | None
    offer_id: int
    machine_id: int


@dataclass(frozen=True, slots=True)
class FailedLaunch:
    label: str
    error: str | None


@dataclass(frozen=True, slots=True)
class ReplenishData:
    fleet: str
    target: int
    skipped: bool
    missing: list[str]
    running: int
    launching: list[LaunchingWorker]
    launched: list[ReplenishedWorker]
    failed: list[FailedLaunch]
    duplicates: list[str]


@dataclass(frozen=True, slots=True)
class ReplenishSkippedData:
    fleet: str
    skipped: bool


def replenish_data(fleet: str, target: int, missing: Sequence[str], running: int, launching: Iterable[Any],
                   outcomes: Sequence[Any], duplicates: Sequence[str]) -> ReplenishData:
    """`launching`: the fleet's InFlight entries; `outcomes`: this run's LaunchOutcomes."""
    return ReplenishData(
        fleet=fleet, target=target, skipped=False, missing=list(missing), running=running,
        launching=[LaunchingWorker(e.label, e.instance_id) for e in launching],
        launched=[ReplenishedWorker(o.label, o.instance_id, o.offer.offer.id, o.offer.offer.machine_id)
                  for o in outcomes if o.ok],
        failed=[FailedLaunch(o.label, o.error) for o in outcomes if not o.ok],
        duplicates=list(duplicates))


# -- down ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Destroyed:
    id: int
    label: str
    already_gone: bool


@dataclass(frozen=True, slots=True)
class DestroyFailed:
    id: int
    label: str
    error: str | None


@dataclass(frozen=True, slots=True)
class UnconfirmedLaunch:
    label: str
    offer_id: int
    sent_at: float


@dataclass(frozen=True, slots=True)
class DownData:
    fleet: str
    destroyed: list[Destroyed]
    failed: list[DestroyFailed]
    unconfirmed: list[UnconfirmedLaunch]


def down_data(fleet: str, outcomes: Iterable[Any], labels: Mapping[int, str], pending: Iterable[Any]) -> DownData:
    """`outcomes`: DestroyOutcomes; `labels`: each destroyed id's label; `pending`: InFlight still unconfirmed."""
    outcomes = list(outcomes)
    return DownData(
        fleet=fleet,
        destroyed=[Destroyed(o.instance_id, labels[o.instance_id], o.already_gone) for o in outcomes if o.ok],
        failed=[DestroyFailed(o.instance_id, labels[o.instance_id], o.error) for o in outcomes if not o.ok],
        unconfirmed=[UnconfirmedLaunch(e.label, e.offer_id, e.time) for e in pending])


# -- monitor ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MonitorData:
    fleet: str
    target: int
    cycles: int
    counters: dict[str, int]
    dry_run: bool


def monitor_data(fleet: str, target: int, counters: Mapping[str, int], dry_run: bool) -> MonitorData:
    """`counters`: the monitor's Counters as a mapping (cycles is one of them)."""
    return MonitorData(fleet=fleet, target=target, cycles=counters["cycles"], counters=dict(counters),
                       dry_run=dry_run)


# -- status: zeb.plan.status.StatusData, built by status_report: usable from Python without the CLI -----


# -- logs ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogClassified:
    state: str
    evidence: str
    batch: int | None
    games_per_s: float | None
    step: int | None
    fatal_kind: str | None
    fault: str | None


@dataclass(frozen=True, slots=True)
class LogsData:
    instance_id: int
    label: str | None
    vast_status: str | None
    lines: list[str]
    commit: str | None
    classified: LogClassified


def logs_data(instance: Any, text: str, obs: Any, fault: str | None, commit: str | None) -> LogsData:
    """`instance`: the Instance; `obs`: its classified Observation; `fault`: whose fault it is, in words."""
    return LogsData(instance_id=instance.id, label=instance.label, vast_status=instance.status,
                    lines=text.splitlines(), commit=commit,
                    classified=LogClassified(state=str(obs.state), evidence=obs.evidence, batch=obs.batch,
                                             games_per_s=obs.games_per_s, step=obs.step,
                                             fatal_kind=obs.fatal_kind, fault=fault))


# -- rank-offers -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RankedOfferRow:
    offer_id: int
    gpu_name: str
    dph_total: float
    expected_gps: float
    gps_source: str
    dollars_per_gps: float
    p_produce: float
    expected_dollars_per_gps: float
    machine_id: int
    reliability: float | None
    blocked: bool
    preferred: bool


@dataclass(frozen=True, slots=True)
class RankOffersData:
    fleet: str
    max_dph: float
    gpus: list[str]
    offers: list[RankedOfferRow]


def rank_offers_data(fleet: str, max_dph: float, gpus: Iterable[str], ranked: Iterable[Any],
                     blocked: Iterable[int]) -> RankOffersData:
    """`ranked`: RankedOffers, best first; `blocked`: the machine ids offer search leaves out."""
    blocked = set(blocked)
    rows = [RankedOfferRow(offer_id=r.offer.id, gpu_name=r.offer.gpu_name, dph_total=r.offer.dph_total,
                           expected_gps=round(r.expected_gps, 3), gps_source=r.gps_source,
                           dollars_per_gps=round(r.dollars_per_gps, 5), p_produce=round(r.p_produce, 4),
                           expected_dollars_per_gps=round(r.expected_dollars_per_gps, 5),
                           machine_id=r.offer.machine_id, reliability=r.offer.reliability,
                           blocked=r.offer.machine_id in blocked, preferred=r.preferred)
            for r in ranked]
    return RankOffersData(fleet=fleet, max_dph=max_dph, gpus=list(gpus), offers=rows)


# -- timeline --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Span:
    state: str
    start: float
    duration_s: float
    billing: str
    cost: float
    reason: str
    evidence: str


@dataclass(frozen=True, slots=True)
class TimelineData:
    instance_id: int
    label: str
    dph_total: float
    commit: str | None
    spans: list[Span]
    productive: float
    overhead: float
    wall_s: float


def timeline_data(instance_id: int, label: str, dph: float, commit: str | None, tl: Any) -> TimelineData:
    """`tl`: the worker's zeb.plan.timeline.Timeline."""
    return TimelineData(
        instance_id=instance_id, label=label, dph_total=dph, commit=commit,
        spans=[Span(state=s.state, start=s.start, duration_s=round(s.duration, 1), billing=s.billing,
                    cost=round(s.cost, 5), reason=s.reason, evidence=s.evidence) for s in tl.spans],
        productive=round(tl.productive, 5), overhead=round(tl.overhead, 5), wall_s=round(tl.wall, 1))


# -- stats and demo --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GpuStats:
    """One row of zeb.plan.stats.gpu_stats."""

    gpu_name: str
    workers: int
    producing_workers: int
    mean_gps: float | None
    median_gps: float | None
    median_dph: float | None
    dollars_per_gps: float | None
    median_time_to_first_batch_s: float | None


@dataclass(frozen=True, slots=True)
class FleetStats:
    """zeb.plan.stats.fleet_stats."""

    games_per_s: float
    producing: int
    live: int
    dph: float
    per_day: float
    per_week: float
    spent: float
    spent_productive: float
    spent_overhead: float
    productive_share: float | None
    replacements: int
    strikes: int


@dataclass(frozen=True, slots=True)
class StatsData:
    fleet: str
    since_s: float
    gpus: list[GpuStats]
    fleet_stats: FleetStats


def stats_data(fleet: str, since_s: float, per_gpu: Iterable[Mapping[str, Any]],
               per_fleet: Mapping[str, Any]) -> StatsData:
    """From the planner's rows (zeb.plan.stats): a key it adds or drops fails here, not in a consumer."""
    return StatsData(fleet=fleet, since_s=since_s, gpus=[GpuStats(**r) for r in per_gpu],
                     fleet_stats=FleetStats(**per_fleet))


@dataclass(frozen=True, slots=True)
class DemoData:
    gpus: list[GpuStats]
    fleet_stats: FleetStats
    simulated_s: float
    api_calls: int
    requests_made: int
    report: str
    counters: dict[str, int]


def demo_data(run: Mapping[str, Any], counters: Mapping[str, int]) -> DemoData:
    """`run`: what zeb.cli.demo_run.run_demo returns as its data; `counters`: the monitor's, as a mapping."""
    return DemoData(gpus=[GpuStats(**r) for r in run["gpus"]], fleet_stats=FleetStats(**run["fleet_stats"]),
                    simulated_s=run["simulated_s"], api_calls=run["api_calls"], requests_made=run["requests_made"],
                    report=run["report"], counters=dict(counters))


# -- market ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GpuMarket:
    """One row of zeb.plan.market.summarize."""

    gpu_name: str
    samples: int
    first_time: float
    last_time: float
    min_dph: float
    max_dph: float
    median_dph: float
    dph_now: float
    dph_then: float
    median_dph_now: float
    median_dph_then: float
    count_now: int
    count_then: int
    trend_dph_per_day: float | None
    dollars_per_gps_now: float | None
    dollars_per_gps_then: float | None


@dataclass(frozen=True, slots=True)
class MarketData:
    since_s: float
    gpus: list[GpuMarket]


def market_data(since_s: float, rows: Iterable[Mapping[str, Any]]) -> MarketData:
    return MarketData(since_s=since_s, gpus=[GpuMarket(**r) for r in rows])


@dataclass(frozen=True, slots=True)
class PriceSample:
    """zeb.plan.market.Sample."""

    time: float
    gpu_name: str
    min_dph: float
    median_dph: float
    count: int
    best_dollars_per_gps: float | None


@dataclass(frozen=True, slots=True)
class Scan:
    time: float
    gpus: list[PriceSample]


@dataclass(frozen=True, slots=True)
class MarketScanData:
    fleet: str
    scans: list[Scan]


def scan_of(now: float, samples: Iterable[Any]) -> Scan:
    """One offer search's zeb.plan.market.Samples."""
    return Scan(time=now, gpus=[PriceSample(s.time, s.gpu_name, s.min_dph, s.median_dph, s.count,
                                            s.best_dollars_per_gps) for s in samples])


# -- report ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportData:
    fleet: str
    since_s: float
    path: str
    bytes: int


# -- blacklist -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StrikeRow:
    time: float
    reason: str
    fleet: str | None
    instance_id: int | None
    in_file: bool
    certain: bool


@dataclass(frozen=True, slots=True)
class ReputationRow:
    p_produce: float
    boots_ok: float
    boots_failed: float
    stalls: float
    errors: float
    boot_s: float | None
    games_per_s: float | None
    gps_samples: int
    gps_trusted: bool
    last_error: str | None
    last_seen: float | None


@dataclass(frozen=True, slots=True)
class MachineRow:
    machine_id: int
    gpu_name: str | None
    strikes: int
    blocked: bool
    blocked_until: float | None
    history: list[StrikeRow]
    reputation: ReputationRow


@dataclass(frozen=True, slots=True)
class BlacklistData:
    threshold: int
    machines: list[MachineRow]


@dataclass(frozen=True, slots=True)
class BlacklistImportData:
    threshold: int
    machines: list[MachineRow]
    imported: int


def machine_row(machine_id: int, rec: Any, rep: Any, blocked: bool) -> MachineRow:
    """`rec`: the machine's HostRecord; `rep`: its Reputation (zeb.plan.hosts.reputation) at the time shown."""
    return MachineRow(
        machine_id=machine_id, gpu_name=rec.gpu_name, strikes=len(rec.strikes), blocked=blocked,
        blocked_until=rep.blocked_until,
        history=[StrikeRow(s.time, s.reason, s.fleet, s.instance_id, s.in_file, s.certain) for s in rec.strikes],
        reputation=ReputationRow(
            p_produce=round(rep.p_produce, 4), boots_ok=round(rep.boots_ok, 3), boots_failed=round(rep.boots_failed, 3),
            stalls=round(rep.stalls, 3), errors=round(rep.errors, 3), boot_s=rep.boot_s, games_per_s=rep.games_per_s,
            gps_samples=rep.gps_samples, gps_trusted=rep.gps_trusted, last_error=rep.last_error,
            last_seen=rec.last_seen))


# -- config ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigShowData:
    fleet: str
    path: str | None
    declared: bool
    # The FleetConfig's fields by name, thresholds as a mapping: they follow zeb.core.config, not this file.
    values: dict[str, Any]
    sources: dict[str, str]


@dataclass(frozen=True, slots=True)
class ConfigInitData:
    path: str


@dataclass(frozen=True, slots=True)
class ConfigCheckData:
    path: str
    exists: bool
    fleets: list[str]


def config_show_data(cfg: Any) -> ConfigShowData:
    """`cfg`: the resolved FleetConfig; tuples become lists, expected_gps and thresholds mappings."""
    import dataclasses

    values: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        if f.name in ("sources", "thresholds"):
            continue
        value = getattr(cfg, f.name)
        values[f.name] = dict(value) if f.name == "expected_gps" else list(value) if isinstance(value, tuple) else value
        if not isinstance(values[f.name], (str, int, float, bool, list, dict, type(None))):
            # What `--json` has always printed for these (worker_env, notify): their str(), as json.dumps'
            # default=str wrote it. Kept so the output does not change here; a mapping would be better.
            values[f.name] = str(values[f.name])
    values["thresholds"] = dataclasses.asdict(cfg.thresholds)
    return ConfigShowData(fleet=cfg.name, path=cfg.config_file, declared=cfg.declared, values=values,
                          sources=dict(cfg.sources))


# -- sim serve (no --json: the record of what it returns when stopped) --------------------------------


@dataclass(frozen=True, slots=True)
class SimServeData:
    url: str
    hub_url: str
    calls: int


def payloads() -> dict[str, tuple[type, ...]]:
    """Every payload a command's `--json` may carry, by command (tests/test_payload_schema.py checks each)."""
    from zeb.plan.status import StatusData  # deferred: the planners cost `zeb up --help` start-up

    return {**PAYLOADS, "status": (StatusData,)}


# The payloads defined here, by command; status's is zeb.plan.status.StatusData (payloads() has them all).
PAYLOADS: dict[str, tuple[type, ...]] = {
    "up": (UpData, UpDryRunData),
    "replenish": (ReplenishData, ReplenishSkippedData),
    "down": (DownData,),
    "monitor": (MonitorData,),
    "logs": (LogsData,),
    "rank-offers": (RankOffersData,),
    "timeline": (TimelineData,),
    "stats": (StatsData,),
    "demo": (DemoData,),
    "market": (MarketData,),
    "market scan": (MarketScanData,),
    "report": (ReportData,),
    "blacklist": (BlacklistData, BlacklistImportData),
    "config show": (ConfigShowData,),
    "config init": (ConfigInitData,),
    "config check": (ConfigCheckData,),
    "sim serve": (SimServeData,),
}
