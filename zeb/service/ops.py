"""The imperative shell shared by `up`, `replenish` and the monitor: launching labels on ranked
offers with the in-flight ledger, destroying concurrently, and polling log tails with a bounded pool
and a per-call deadline. Decisions come in from zeb/plan; this module only carries them out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from zeb.core.domain import LaunchSpec
from zeb.core.errors import MarketError, NoCredit, OfferUnavailable
from zeb.plan.types import InFlight, RankedOffer


@dataclass(frozen=True)
class LaunchOutcome:
    label: str
    offer: RankedOffer | None
    instance_id: int | None = None
    error: str | None = None
    error_kind: str | None = None     # "no_credit" | "no_offer" | "failed" | "unknown" (may exist)

    @property
    def ok(self) -> bool:
        return self.instance_id is not None


def launch_labels(
    client,
    ledger,                      # object with .add(InFlight) and .resolve(label, instance_id) and .drop(label)
    build_spec: Callable[[str, RankedOffer], LaunchSpec],
    labels: Sequence[str],
    candidates: Sequence[RankedOffer],
    now: Callable[[], float],
    *,
    used_machines: Iterable[int] = (),
    on_outcome: Callable[[LaunchOutcome], None] | None = None,
) -> list[LaunchOutcome]:
    """Launch each label on the best remaining candidate offer, one machine per worker.

    The ledger entry is written before the create is sent, so a crash or an ambiguous failure
    (timeout after the request left) still counts the worker as in flight and the next run does
    not launch it twice. An offer taken meanwhile moves on to the next candidate; "lacks credit"
    stops everything."""
    used = set(used_machines)
    queue = list(candidates)
    outcomes: list[LaunchOutcome] = []
    credit_gone = False
    for label in labels:
        outcome = None
        if credit_gone:
            outcome = LaunchOutcome(label, None, error="account lacks credit", error_kind="no_credit")
        while outcome is None:
            offer = next((c for c in queue if c.offer.machine_id not in used), None)
            if offer is None:
                outcome = LaunchOutcome(label, None, error="no matching offer left", error_kind="no_offer")
                break
            queue.remove(offer)
            used.add(offer.offer.machine_id)
            ledger.add(InFlight(label=label, offer_id=offer.offer.id, machine_id=offer.offer.machine_id, time=now()))
            try:
                instance_id = client.create_instance(build_spec(label, offer))
            except OfferUnavailable:
                ledger.drop(label)
                continue
            except NoCredit as exc:
                ledger.drop(label)
                credit_gone = True
                outcome = LaunchOutcome(label, offer, error=str(exc), error_kind="no_credit")
            except MarketError as exc:
                # The create may have reached Vast: keep the ledger entry until the listing shows the
                # instance or has caught up past it, so nothing double-launches. One Vast answered with an
                # error is marked: a listing 30 s on without its label releases it (zeb.plan.fleet).
                if exc.answered_status is not None:
                    ledger.refused(label, now())
                outcome = LaunchOutcome(label, offer, error=str(exc), error_kind="unknown")
            else:
                ledger.resolve(label, instance_id)
                outcome = LaunchOutcome(label, offer, instance_id=instance_id)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


@dataclass(frozen=True)
class DestroyOutcome:
    instance_id: int
    ok: bool
    already_gone: bool = False
    error: str | None = None


def destroy_all(client, instance_ids: Sequence[int], *, workers: int = 8) -> list[DestroyOutcome]:
    def one(instance_id: int) -> DestroyOutcome:
        try:
            existed = client.destroy_instance(instance_id)
        except MarketError as exc:
            return DestroyOutcome(instance_id, ok=False, error=str(exc))
        return DestroyOutcome(instance_id, ok=True, already_gone=not existed)

    if not instance_ids:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(instance_ids)))) as pool:
        return list(pool.map(one, instance_ids))


@dataclass(frozen=True)
class PollResult:
    instance_id: int
    text: str | None          # None when the poll failed or timed out
    error: str | None = None


# Log calls mostly wait on Vast (0.3-2 s each) and cost the client little, so a cycle's polls are spread
# over one thread per two calls: 100 workers are read in about two rounds (~3 s) rather than four.
POLL_CALLS_PER_THREAD = 2
POLL_POOL_MAX = 64


def poll_pool_size(floor: int, calls: int) -> int:
    """Threads for `calls` log polls: at least `floor` (the configured poll_concurrency, or a caller's own
    figure), growing with the fleet to one per POLL_CALLS_PER_THREAD calls up to POLL_POOL_MAX, and never
    more than there are calls."""
    grown = min(POLL_POOL_MAX, -(-calls // POLL_CALLS_PER_THREAD))
    return max(1, min(calls, max(floor, grown)))


def poll_tails(
    fetch: Callable[[int], str],
    instance_ids: Sequence[int],
    *,
    workers: int,
    timeout: float,
    monotonic: Callable[[], float] = time.monotonic,
    tick: float = 0.02,
) -> dict[int, PollResult]:
    """Fetch every tail concurrently on poll_pool_size(workers, n) threads. A call that runs longer than
    `timeout` after it started is abandoned (reported as failed) so one hung call delays the cycle by at
    most `timeout`."""
    if not instance_ids:
        return {}
    started: dict[int, float] = {}
    lock = threading.Lock()

    def run(instance_id: int) -> str:
        with lock:
            started[instance_id] = monotonic()
        return fetch(instance_id)

    pool = ThreadPoolExecutor(max_workers=poll_pool_size(workers, len(instance_ids)), thread_name_prefix="zeb-poll")
    futures: dict[int, Future] = {i: pool.submit(run, i) for i in instance_ids}
    results: dict[int, PollResult] = {}
    try:
        pending = set(futures.values())
        while len(results) < len(futures):
            now = monotonic()
            for instance_id, future in futures.items():
                if instance_id in results:
                    continue
                if future.done():
                    pending.discard(future)
                    exc = future.exception()
                    results[instance_id] = (
                        PollResult(instance_id, future.result()) if exc is None
                        else PollResult(instance_id, None, error=str(exc) or type(exc).__name__)
                    )
                    continue
                with lock:
                    began = started.get(instance_id)
                if began is not None and now - began > timeout:
                    future.cancel()
                    pending.discard(future)
                    results[instance_id] = PollResult(instance_id, None, error=f"log call took over {timeout:g}s")
            if len(results) < len(futures):
                # Wake as soon as a call ends; otherwise look at the deadlines again after `tick`.
                wait(pending, timeout=tick, return_when=FIRST_COMPLETED)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return results
