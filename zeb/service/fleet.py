"""The fleet service: what `up`, `replenish`, `down`, `rank-offers` and the monitor all do to a fleet, done
one way. One observation (the listing, the in-flight ledger, the hosts and the blocked set), one offer
search and ranking, one label rule, one launch path and one destroy path.

It reads and executes; every choice is zeb/plan's. It talks to a zeb.core.domain.Marketplace (zeb/adapters/vast.py
for Vast) and the state store, and knows nothing of the command line."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass

from zeb.adapters import hub
from zeb.core.config import FleetConfig
from zeb.core.domain import Instance, Marketplace
from zeb.plan.fleet import (
    VAST_WORD,
    duplicate_extras,
    members,
    next_labels,
    parse_label,
    prune_inflight,
)
from zeb.plan.hosts import as_of, observed_gpu_means
from zeb.plan.launch import launch_specs
from zeb.plan.market import sample_from_ranked
from zeb.plan.offers import blocked_machines, pick_offers, rank_offers
from zeb.plan.types import HostRecord, InFlight, RankedOffer
from zeb.service.ops import DestroyOutcome, LaunchOutcome, destroy_all, launch_labels
from zeb.storage import state
from zeb.storage.market_history import record_quietly


@dataclass(frozen=True)
class FleetView:
    """One look at a fleet at `now`."""

    cfg: FleetConfig
    now: float
    instances: tuple[Instance, ...]     # the whole account's listing
    members: tuple[Instance, ...]       # exact label matches of this fleet
    inflight: tuple[InFlight, ...]      # unexpired launches not yet listed
    hosts: Mapping[int, HostRecord]
    blocked: frozenset[int]             # machines no launch may use
    word: str = VAST_WORD               # the marketplace's word in labels (Marketplace.label_word)

    @property
    def live(self) -> tuple[Instance, ...]:
        return tuple(i for i in self.members if i.live)

    @property
    def launching(self) -> tuple[InFlight, ...]:
        """Launches of this fleet in flight (the ledger is per fleet; a stray label is not counted)."""
        return tuple(e for e in self.inflight if parse_label(e.label, self.cfg.name, self.word) is not None)

    def used_machines(self, exclude_ids: Iterable[int] = ()) -> set[int]:
        """Machines a new worker may not share: live members (but `exclude_ids`) and launches in flight."""
        skip = set(exclude_ids)
        return {i.machine_id for i in self.live if i.id not in skip} | {e.machine_id for e in self.inflight}

    def new_labels(self, count: int, *, exclude_ids: Iterable[int] = (), reserved: Iterable[str] = ()) -> list[str]:
        """The one label rule: the lowest indices not held by a live member (but `exclude_ids`, being
        destroyed), a launch in flight or a `reserved` label (an upgrade trial)."""
        skip = set(exclude_ids)
        taken = [i.label for i in self.live if i.id not in skip] + [e.label for e in self.inflight] + list(reserved)
        return next_labels(self.cfg.name, taken, count, self.word)


class Fleet:
    """One fleet on one marketplace, with its state store."""

    def __init__(self, market: Marketplace, store, cfg: FleetConfig, *, clock: Callable[[], float] = time.time,
                 env: Mapping[str, str] | None = None) -> None:
        self.market = market
        self.store = store
        self.cfg = cfg
        self.clock = clock
        self.env = env or {}
        self.word = market.label_word

    # -- observe ---------------------------------------------------------------------------------

    def observe(self, *, prune: bool = True, now: float | None = None,
                instances: Sequence[Instance] | None = None) -> FleetView:
        """The listing (one call, unless `instances` are given), this fleet's members, the ledger pruned of
        launches the listing now accounts for (written back when `prune`), the hosts and the blocked set."""
        now = self.clock() if now is None else now
        listing = tuple(self.market.list_instances() if instances is None else instances)
        expiry = self.cfg.thresholds.inflight_expiry_s
        if prune:
            inflight = state.update_inflight(self.store, self.cfg.name,
                                             lambda cur: prune_inflight(cur, listing, now, expiry))
        else:
            inflight = prune_inflight(state.load_inflight(self.store, self.cfg.name), listing, now, expiry)
        hosts = self.hosts()
        return FleetView(self.cfg, now, listing, tuple(members(listing, self.cfg.name, self.word)), tuple(inflight),
                         hosts, self.blocked(hosts, now), self.word)

    def hosts(self) -> dict[int, HostRecord]:
        """The machines' records: zeb's store merged with the scripts' host files."""
        return state.load_hosts(self.store, state.HostFiles.of(self.cfg))

    def market_view(self) -> FleetView:
        """Hosts and blocks without the listing, for a ranking on its own (one API call: the search). The
        hosts are read as of now (counts decayed, lapsed certain blocks lifted): what a launch now would
        choose."""
        now = self.clock()
        hosts = as_of(self.hosts(), now)
        return FleetView(self.cfg, now, (), (), (), hosts, self.blocked(hosts, now), self.word)

    def blocked(self, hosts: Mapping[int, HostRecord], now: float | None) -> frozenset[int]:
        return frozenset(blocked_machines(hosts, self.cfg.thresholds.strikes_to_block, now))

    def update_hosts(self, change: Callable[[dict[int, HostRecord]], dict[int, HostRecord]]) -> None:
        state.update_hosts(self.store, change, state.HostFiles.of(self.cfg))

    # -- offers ----------------------------------------------------------------------------------

    def offers(self, view: FleetView, *, include_blocked: bool = False) -> list[RankedOffer]:
        """ONE offer search for the whole GPU list, ranked by $ per expected game/s."""
        cfg = self.cfg
        blocked = frozenset() if include_blocked else view.blocked
        found = self.market.search_offers(cfg.gpus, max_dph=cfg.max_dph, exclude_machines=blocked)
        ranked = rank_offers(found, gpus=cfg.gpus, max_dph=cfg.max_dph, blocked=set(blocked), hosts=view.hosts,
                             observed_gpu=observed_gpu_means(view.hosts), config_table=cfg.expected_gps,
                             now=view.now)
        # Every search leaves a price sample per GPU type (zeb market); a failure is a warning, never the search's.
        record_quietly(self.store, sample_from_ranked(ranked, view.now, blocked=view.blocked), view.now)
        return ranked

    def plan(self, view: FleetView, labels: Sequence[str],
             ranked: Sequence[RankedOffer]) -> list[tuple[str, RankedOffer]]:
        """The offer each label is launched on first: what `launch` tries and `up --dry-run` shows."""
        return list(zip(labels, pick_offers(ranked, len(labels), exclude_machines=view.used_machines())))

    # -- act ---------------------------------------------------------------------------------------

    def launch(self, view: FleetView, labels: Sequence[str], ranked: Sequence[RankedOffer], token: str, *,
               target: int, used_machines: Iterable[int] | None = None,
               on_outcome: Callable[[LaunchOutcome], None] | None = None,
               commit: str | None = None) -> list[LaunchOutcome]:
        """Launch each label on the best remaining offer, one machine per worker, with the in-flight
        ledger written before each create. `target` is the size the command takes the fleet to: every
        worker gets the one upload interval for it (zeb.plan.launch.fleet_upload_interval). `commit` pins
        the workers' code (else the fleet's git_commit, else the branch head)."""
        used = view.used_machines() if used_machines is None else used_machines

        def build(label: str, offer: RankedOffer):
            return launch_specs(self.cfg, [label], [offer], token, target, commit, word=self.word)[0]

        return launch_labels(self.market, state.StoreLedger(self.store, self.cfg.name), build, labels, ranked,
                             self.clock, used_machines=used, on_outcome=on_outcome)

    def destroy(self, instance_ids: Sequence[int]) -> list[DestroyOutcome]:
        """Destroy concurrently; launches in flight whose instance is now destroyed leave the ledger."""
        outcomes = destroy_all(self.market, instance_ids)
        done = {o.instance_id for o in outcomes if o.ok}
        if done:
            state.update_inflight(self.store, self.cfg.name, lambda cur: [e for e in cur if e.instance_id not in done])
        return outcomes

    def destroy_duplicates(self, view: FleetView) -> list[str]:
        """Destroy live duplicates of a label (a race between two zeb runs that could not see each other's
        launches); the lowest id keeps the label, the rule every zeb run applies. One line each."""
        extras = duplicate_extras(view.members, self.cfg.name, self.word)
        if not extras:
            return []
        outcomes = self.destroy([dup.id for dup, _ in extras])
        return [f"duplicate {dup.label} (instance {dup.id}; {keep.id} keeps the label): "
                + ("destroyed" if o.ok else f"destroy FAILED: {o.error}") for (dup, keep), o in zip(extras, outcomes)]

    def up(self, count: int, *, lock: ContextManager[object], dry_run: bool = False,
           on_outcome: Callable[[LaunchOutcome], None] | None = None) -> UpRun:
        """`zeb up COUNT` and zeb.Fleet.up: COUNT new labels on the best offers, under `lock` (the fleet's
        mutation lock, taken as the caller likes). A dry run checks nothing of the hub and rents nothing; a
        real one checks the token and the weights (overlapped with the marketplace's reads) first."""
        hub_checked = None if dry_run else self.start_hub_check()
        with lock:
            view = self.observe(prune=not dry_run)
            ranked = self.offers(view)
            labels = view.new_labels(count)
            if hub_checked is None:
                return UpRun(planned=self.plan(view, labels, ranked), outcomes=[], fleet_size=0)
            token = hub_checked()
            fleet_size = len(view.live) + len(view.launching) + count
            outcomes = self.launch(view, labels, ranked, token, target=fleet_size, on_outcome=on_outcome)
        return UpRun(planned=None, outcomes=outcomes, fleet_size=fleet_size)

    # -- the hub -----------------------------------------------------------------------------------

    def start_hub_check(self) -> Callable[[], str]:
        """The HF token is checked now (no network); the weights file is looked up on a thread while the
        caller reads the marketplace, and the returned function waits for it (raising its error) before
        anything is launched. Returns the token."""
        cfg = self.cfg
        token = hub.require_token(self.env, repo_id=cfg.repo_id, examples_repo_id=cfg.examples_repo_id)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zeb-hub")
        found = pool.submit(hub.require_weights, cfg.repo_id, cfg.weights_name, cfg.examples_repo_id, token, self.env)
        pool.shutdown(wait=False)

        def wait() -> str:
            found.result()
            return token
        return wait

    def check_hub(self) -> str:
        return self.start_hub_check()()


@dataclass(frozen=True)
class UpRun:
    """What `up` did: a dry run's plan ((label, offer) pairs; None for a real run), or the launches and
    the fleet size they took the fleet to."""
    planned: list[tuple[str, RankedOffer]] | None
    outcomes: list[LaunchOutcome]
    fleet_size: int


def worker_line(outcome: LaunchOutcome) -> str:
    """The runbook's line: `Worker 0: RTX 3070 @ $0.102/hr (offer 12345678) -> instance 87654321`."""
    index = outcome.label.rsplit("-", 1)[-1]
    if outcome.offer is None:
        return f"Worker {index}: not launched: {outcome.error}"
    o = outcome.offer.offer
    head = f"Worker {index}: {o.gpu_name} @ ${o.dph_total:.3f}/hr (offer {o.id})"
    if outcome.ok:
        return f"{head} -> instance {outcome.instance_id}"
    return f"{head} -> failed: {outcome.error}"
