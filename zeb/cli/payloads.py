"""The typed `data` of each command's result: frozen records, built by pure functions from plain inputs.
The JSON envelope carries `dataclasses.asdict` of them (zeb.cli.output); the field order is the key order
`--json` has always printed, so changing a field here changes the contract (tests/test_payload_schema.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# -- up --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpWorker:
    label: str
    instance_id: int | None
    offer_id: int | None
    machine_id: int | None
    gpu_name: str | None
    dph_total: float | None
    error: str | None


@dataclass(frozen=True)
class UpData:
    fleet: str
    requested: int
    launched: list[UpWorker]
    failed: list[UpWorker]


@dataclass(frozen=True)
class PlannedWorker:
    label: str
    offer_id: int
    machine_id: int
    gpu_name: str
    dph_total: float
    expected_gps: float
    dollars_per_gps: float


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class LaunchingWorker:
    label: str
    instance_id: int | None


@dataclass(frozen=True)
class ReplenishedWorker:
    label: str
    instance_id: int | None
    offer_id: int
    machine_id: int


@dataclass(frozen=True)
class FailedLaunch:
    label: str
    error: str | None


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Destroyed:
    id: int
    label: str
    already_gone: bool


@dataclass(frozen=True)
class DestroyFailed:
    id: int
    label: str
    error: str | None


@dataclass(frozen=True)
class UnconfirmedLaunch:
    label: str
    offer_id: int
    sent_at: float


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


# Every payload a command's `--json` may carry, by command (tests/test_payload_schema.py checks each).
PAYLOADS: dict[str, tuple[type, ...]] = {
    "up": (UpData, UpDryRunData),
    "replenish": (ReplenishData, ReplenishSkippedData),
    "down": (DownData,),
    "monitor": (MonitorData,),
}
