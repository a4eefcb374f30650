"""What `zeb status` reports, as typed records built by one pure function from plain data: the instance
listing, the monitor's records, live classifications, the launch ledgers and the fleet holds. The CLI
renders it (zeb.cli.status); Python callers may use `status_report` directly, with no CLI involved."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from zeb.core.domain import Instance
from zeb.core.lifecycle import Observation, WorkerRecord
from zeb.plan.fleet import launching, stuck_loading, totals
from zeb.plan.fleetfault import Hold
from zeb.plan.types import InFlight


@dataclass(frozen=True, slots=True)
class Classified:
    """A worker's state: probed just now (`live`) or as the monitor last recorded it `age_s` ago."""

    state: str
    evidence: str
    live: bool
    age_s: float
    games_per_s: float | None


@dataclass(frozen=True, slots=True)
class InstanceRow:
    label: str | None
    id: int
    gpu_name: str
    vast_status: str | None
    age_s: float
    dph_total: float
    machine_id: int
    ssh: str | None
    classified: Classified | None
    games_per_s: float | None
    commit: str | None


@dataclass(frozen=True, slots=True)
class Totals:
    count: int
    dph: float
    per_day: float
    per_week: float


@dataclass(frozen=True, slots=True)
class LaunchingRow:
    """A launch in flight that Vast does not list yet; `since` is when the create was sent."""

    label: str
    offer_id: int
    machine_id: int
    instance_id: int | None
    since: float
    for_s: float
    refused: bool


@dataclass(frozen=True, slots=True)
class HoldView:
    """The monitor's fleet hold (zeb.plan.fleetfault.Hold) as status shows it."""

    cause: str
    since: float
    for_s: float
    line: str
    why: str
    probe: str | None
    commit: str | None


@dataclass(frozen=True, slots=True)
class FleetStatus:
    instances: list[InstanceRow]
    totals: Totals
    launching: list[LaunchingRow]
    stuck_loading: list[int]
    hold: HoldView | None


@dataclass(frozen=True, slots=True)
class StatusData:
    fleets: dict[str, FleetStatus]
    stuck_after_s: float


def hold_view(hold: Hold, now: float) -> HoldView:
    return HoldView(cause=hold.cause, since=hold.since, for_s=round(max(0.0, now - hold.since), 1), line=hold.line,
                    why=hold.why(), probe=hold.probe or None, commit=hold.commit)


def status_report(groups: Mapping[str, Sequence[Instance]], records: Mapping[int, WorkerRecord],
                  live: Mapping[int, Observation], now: float, stuck_after_s: float,
                  holds: Mapping[str, HoldView | None] | None = None, *,
                  ledgers: Mapping[str, Iterable[InFlight]] | None = None, listing: Iterable[Instance] | None = None,
                  expiry_s: float = 600.0) -> StatusData:
    """Per fleet (by name), its rows in label order, totals, the launches in flight that Vast does not list
    yet (from its ledger in `ledgers`; `listing` is the whole account's, by default the groups'), the
    instances stuck loading and the fleet hold the monitor keeps, if any. Records and live
    classifications are looked up by instance id; `now` is passed in, so the same inputs give the same report."""
    everyone = list(listing) if listing is not None else [i for g in groups.values() for i in g]
    fleets = {}
    for name, rows in sorted(groups.items()):
        t = totals(rows)
        fleets[name] = FleetStatus(
            instances=[_row(i, now, records.get(i.id), live.get(i.id)) for i in sorted(rows, key=_sort_key)],
            totals=Totals(count=t.count, dph=round(t.dph, 4), per_day=round(t.per_day, 2),
                          per_week=round(t.per_week, 2)),
            launching=[LaunchingRow(**e) for e in launching((ledgers or {}).get(name, ()), everyone, name, now,
                                                            expiry_s)],
            stuck_loading=[i.id for i in stuck_loading(rows, now, stuck_after_s)],
            hold=(holds or {}).get(name))
    return StatusData(fleets=fleets, stuck_after_s=stuck_after_s)


def _sort_key(instance: Instance) -> tuple:
    label = instance.label or ""
    head, _, tail = label.rpartition("-")
    return (head, int(tail) if tail.isdigit() else 0, instance.id)


def _row(instance: Instance, now: float, record: WorkerRecord | None, probed: Observation | None) -> InstanceRow:
    classified = None
    if probed is not None:
        classified = Classified(state=str(probed.state), evidence=probed.evidence, live=True, age_s=0.0,
                                games_per_s=probed.games_per_s)
    elif record is not None:
        seen = record.extra.get("observed_at") or record.state_since
        classified = Classified(state=str(record.state), evidence=record.evidence, live=False,
                                age_s=round(max(0.0, now - seen), 1), games_per_s=record.games_per_s)
    return InstanceRow(
        label=instance.label, id=instance.id, gpu_name=instance.gpu_name, vast_status=instance.status,
        age_s=round(max(0.0, now - instance.start_date), 1), dph_total=instance.dph_total,
        machine_id=instance.machine_id, ssh=instance.ssh_command, classified=classified,
        games_per_s=None if classified is None else classified.games_per_s,
        commit=(probed.commit if probed is not None and probed.commit else None) or
               (record.commit if record is not None else None))
