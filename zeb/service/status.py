"""What `zeb status` and zeb.Fleet.status() show, read one way: one listing of the account, the fleets'
worker records, holds and launch ledgers, and (when asked) every worker's log tail classified live; the
record itself is zeb.plan.status's, built by a pure function. Imports only what a status needs: `zeb status`
pays for no planner it does not use (benchmarks/bench_status.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager as ContextManager

from zeb.core.config import FleetConfig
from zeb.core.domain import Instance, Marketplace
from zeb.plan.fleet import VAST_WORD, group_by_fleet, members
from zeb.plan.fleetfault import Hold
from zeb.plan.status import HoldView, StatusData, hold_view, status_report
from zeb.storage import state


def read_status(market: Marketplace, store, cfg: FleetConfig, now: float, *, all_fleets: bool = False,
                probe: bool = False,
                reading: Callable[[int], ContextManager[object]] | None = None) -> StatusData:
    """The fleet's status (every zeb fleet on the account with `all_fleets`). `probe` also reads every
    worker's log; `reading(n)` wraps that read (a spinner on a terminal)."""
    instances = market.list_instances()
    word = getattr(market, "label_word", VAST_WORD)
    groups = group_by_fleet(instances, word) if all_fleets else {cfg.name: members(instances, cfg.name, word)}
    records = {}
    for name in groups:
        records.update(state.load_records(store, name))
    everyone = [i for g in groups.values() for i in g]
    live = {}
    if probe:
        with (reading or (lambda n: contextlib.nullcontext()))(len(everyone)):
            live = probe_logs(market, cfg, everyone)
    holds = {name: fleet_hold(store, name, now) for name in groups}
    ledgers = {name: state.load_inflight(store, name) for name in groups}
    return status_report(groups, records, live, now, cfg.thresholds.stuck_loading_s, holds,
                         ledgers=ledgers, listing=instances, expiry_s=cfg.thresholds.inflight_expiry_s)


def fleet_hold(store, fleet: str, now: float) -> HoldView | None:
    """The monitor's fleet hold (zeb.plan.fleetfault), as it last wrote it: cause, since, evidence, why."""
    raw = store.fleet_doc(fleet, state.POLICY_DOC).read({}).get("hold")
    return hold_view(Hold.from_dict(raw), now) if raw else None


def probe_logs(market: Marketplace, cfg: FleetConfig, instances: Sequence[Instance]) -> dict:
    """Each instance's log tail, classified as the monitor would (an unreadable log is left out)."""
    from zeb.core.lifecycle import classify
    from zeb.service.ops import poll_tails

    t = cfg.thresholds
    results = poll_tails(lambda i: market.logs(i, tail=t.log_tail, timeout=t.poll_timeout_s),
                         [i.id for i in instances], workers=t.poll_concurrency, timeout=t.poll_timeout_s)
    by_id = {i.id: i for i in instances}
    out = {}
    for instance_id, res in results.items():
        inst = by_id[instance_id]
        if res.text is not None:
            out[instance_id] = classify(inst.status, res.text, intended_status=inst.intended_status,
                                        status_msg=inst.status_msg)
    return out
