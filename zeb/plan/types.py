"""Plain data the planners share. INTERFACE CONTRACT -- keep these names and fields."""

from __future__ import annotations

from dataclasses import dataclass

from zeb.core.domain import Offer

# The Destroy kinds (zeb.plan.monitor.Destroy.kind, the "code" of its events) that replace a worker; the
# rest scale down, dedup, retry or run upgrades. The monitor's counters and `zeb stats` both count these.
REPLACEMENT_KINDS = frozenset({"replace", "cost"})


@dataclass(frozen=True)
class Strike:
    machine_id: int
    time: float
    reason: str
    fleet: str | None = None
    instance_id: int | None = None
    in_file: bool = False                # also a line of the shared bad-hosts.txt (see zeb.plan.hosts.merge_ledger)
    certain: bool = False                # part of a certain fault's block, which lapses (zeb.plan.hosts.block_now)


@dataclass(frozen=True)
class Decayed:
    """A count whose events fade with age: its weight was `value` at time `at`. It is read at any later
    `now` by zeb.plan.hosts.decayed (halved every HALF_LIFE_S), so nothing needs rewriting as time passes."""

    value: float = 0.0
    at: float = 0.0


@dataclass(frozen=True)
class HostRecord:
    machine_id: int
    strikes: tuple[Strike, ...] = ()
    games_per_s: float | None = None     # observed mean games/s on this machine
    gpu_name: str | None = None
    preferred_gps: float | None = None   # its figure in the scripts' preferred-hosts.txt; not None = preferred
    # Reputation (zeb.plan.hosts.record_*): what zeb learnt renting this machine, read by p_produce.
    gps_samples: int | None = None       # samples behind games_per_s, capped; None: a figure with no count (trusted)
    boots_ok: Decayed = Decayed()        # launches that reached producing
    boots_failed: Decayed = Decayed()    # launches that never produced
    stalls: Decayed = Decayed()
    errors: Decayed = Decayed()          # fatal errors after producing
    boot_s: float | None = None          # mean seconds from create to first batch
    boot_samples: int = 0                # samples behind boot_s, capped
    last_error: str | None = None
    last_seen: float | None = None       # the newest event recorded for this machine


@dataclass(frozen=True)
class InFlight:
    """A launch Vast accepted (or we sent) that the instance list may not show yet."""

    label: str
    offer_id: int
    machine_id: int
    time: float                          # when the create was sent
    attempt: int = 1
    instance_id: int | None = None       # new_contract, once known
    # When Vast answered the create with an error (an HTTP status, not a timeout or a dropped connection):
    # most likely nothing was rented, so a listing a little later that shows no such label releases it.
    refused_at: float | None = None


@dataclass(frozen=True)
class Reputation:
    """A machine's record read at one `now` (zeb.plan.hosts.reputation): decayed counts, for display."""

    p_produce: float                     # chance a launch on it boots and produces
    boots_ok: float
    boots_failed: float
    stalls: float
    errors: float
    boot_s: float | None
    games_per_s: float | None
    gps_samples: int
    gps_trusted: bool                    # enough samples to rank by this machine's own games/s
    blocked_until: float | None          # a certain fault's block, while it lasts
    last_error: str | None = None


@dataclass(frozen=True)
class RankedOffer:
    offer: Offer
    expected_gps: float
    gps_source: str                      # "machine" | "preferred" | "gpu" | "config" | "default"
    preferred: bool = False              # listed in preferred-hosts.txt: expected games/s carry the bonus
    p_produce: float = 1.0               # chance its machine boots and produces (zeb.plan.hosts.p_produce)
    reputation: Reputation | None = None

    @property
    def dollars_per_gps(self) -> float:
        """$ per game/s if it produces: the figure the scripts ranked by."""
        return self.offer.dph_total / self.expected_gps if self.expected_gps > 0 else float("inf")

    @property
    def expected_dollars_per_gps(self) -> float:
        """$ per expected game/s, the machine's chance of producing included: what offers rank by."""
        rate = self.expected_gps * self.p_produce
        return self.offer.dph_total / rate if rate > 0 else float("inf")
