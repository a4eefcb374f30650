"""Gathering what fleet commands look at (one listing, the ledger, hosts, one offer search) and
the launch step `up` and `replenish` share. Reads and executes; the choices are zeb/plan's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from zeb.config import FleetConfig
from zeb.domain import Instance
from zeb.plan.types import HostRecord, InFlight, RankedOffer


@dataclass(frozen=True)
class FleetView:
    cfg: FleetConfig
    now: float
    instances: tuple[Instance, ...]     # the whole account's listing
    members: tuple[Instance, ...]       # exact label matches of this fleet
    inflight: tuple[InFlight, ...]      # unexpired launches not yet listed
    hosts: dict[int, HostRecord]
    blocked: frozenset[int]


def observe_fleet(app, cfg: FleetConfig, *, prune: bool = True) -> FleetView:
    from zeb import state
    from zeb.plan.fleet import members, prune_inflight
    from zeb.plan.offers import blocked_machines

    now = app.clock()
    instances = tuple(app.vast.list_instances())
    fleet_members = tuple(members(instances, cfg.name))
    expiry = cfg.thresholds.inflight_expiry_s
    if prune:
        inflight = state.update_inflight(app.store, cfg.name, lambda cur: prune_inflight(cur, instances, now, expiry))
    else:
        inflight = prune_inflight(state.load_inflight(app.store, cfg.name), instances, now, expiry)
    hosts = state.load_hosts(app.store, state.HostFiles.of(cfg))
    blocked = frozenset(blocked_machines(hosts, cfg.thresholds.strikes_to_block, now))
    return FleetView(cfg, now, instances, fleet_members, tuple(inflight), hosts, blocked)


def ranked_offers(app, view: FleetView, *, include_blocked: bool = False) -> list[RankedOffer]:
    """ONE offer search for the whole GPU list, ranked by $ per expected game/s."""
    from zeb.plan.hosts import observed_gpu_means
    from zeb.plan.offers import rank_offers

    cfg = view.cfg
    offers = app.vast.search_offers(
        cfg.gpus, max_dph=cfg.max_dph, exclude_machines=() if include_blocked else view.blocked
    )
    return rank_offers(
        offers, gpus=cfg.gpus, max_dph=cfg.max_dph,
        blocked=set() if include_blocked else set(view.blocked),
        hosts=view.hosts, observed_gpu=observed_gpu_means(view.hosts), config_table=cfg.expected_gps, now=view.now,
    )


def used_machines(view: FleetView) -> set[int]:
    from zeb.plan.fleet import is_live

    return {i.machine_id for i in view.members if is_live(i)} | {e.machine_id for e in view.inflight}


def check_hub(app, cfg: FleetConfig) -> str:
    """HF token present and the weights file in the repo, before anything is launched. Returns the token."""
    return start_hub_check(app, cfg)()


def start_hub_check(app, cfg: FleetConfig) -> Callable[[], str]:
    """The token is checked now (no network); the weights file is looked up on a thread while the caller
    reads Vast, and the returned function waits for it (raising its error) before anything is launched."""
    from concurrent.futures import ThreadPoolExecutor

    from zeb import hub

    token = hub.require_token(app.env, repo_id=cfg.repo_id, examples_repo_id=cfg.examples_repo_id)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zeb-hub")
    found = pool.submit(hub.require_weights, cfg.repo_id, cfg.weights_name, cfg.examples_repo_id, token, app.env)
    pool.shutdown(wait=False)

    def wait() -> str:
        found.result()
        return token
    return wait


def launch(app, view: FleetView, labels: Sequence[str], ranked: Sequence[RankedOffer], token: str,
           fleet_size: int, on_outcome: Callable | None = None):
    from zeb.ops import launch_labels
    from zeb.plan.launch import launch_specs
    from zeb.state import StoreLedger

    def build(label: str, offer: RankedOffer):
        return launch_specs(view.cfg, [label], [offer], token, fleet_size)[0]

    return launch_labels(
        app.vast, StoreLedger(app.store, view.cfg.name), build, labels, ranked, app.clock,
        used_machines=used_machines(view), on_outcome=on_outcome,
    )


def destroy_duplicates(app, view: FleetView) -> list[str]:
    """Destroy live duplicates of a label (a race between two zeb runs that could not see each other's
    launches); the lowest id keeps the label, the rule every zeb run applies. Returns one line each."""
    from zeb.ops import destroy_all
    from zeb.plan.fleet import duplicate_extras

    extras = duplicate_extras(view.members, view.cfg.name)
    if not extras:
        return []
    outcomes = destroy_all(app.vast, [dup.id for dup, _ in extras])
    return [f"duplicate {dup.label} (instance {dup.id}; {keep.id} keeps the label): "
            + ("destroyed" if o.ok else f"destroy FAILED: {o.error}") for (dup, keep), o in zip(extras, outcomes)]


def worker_line(outcome) -> str:
    """The runbook's line: `Worker 0: RTX 3070 @ $0.102/hr (offer 12345678) -> instance 87654321`."""
    index = outcome.label.rsplit("-", 1)[-1]
    if outcome.offer is None:
        return f"Worker {index}: not launched: {outcome.error}"
    o = outcome.offer.offer
    head = f"Worker {index}: {o.gpu_name} @ ${o.dph_total:.3f}/hr (offer {o.id})"
    if outcome.ok:
        return f"{head} -> instance {outcome.instance_id}"
    return f"{head} -> failed: {outcome.error}"
