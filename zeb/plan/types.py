"""Plain data the planners share. INTERFACE CONTRACT -- keep these names and fields."""

from __future__ import annotations

from dataclasses import dataclass

from zeb.vast import Offer


@dataclass(frozen=True)
class Strike:
    machine_id: int
    time: float
    reason: str
    fleet: str | None = None
    instance_id: int | None = None
    in_file: bool = False                # also a line of the shared bad-hosts.txt (see zeb.plan.hosts.merge_ledger)


@dataclass(frozen=True)
class HostRecord:
    machine_id: int
    strikes: tuple[Strike, ...] = ()
    games_per_s: float | None = None     # observed mean games/s on this machine
    gpu_name: str | None = None
    preferred_gps: float | None = None   # its figure in the scripts' preferred-hosts.txt; not None = preferred


@dataclass(frozen=True)
class InFlight:
    """A launch Vast accepted (or we sent) that the instance list may not show yet."""

    label: str
    offer_id: int
    machine_id: int
    time: float                          # when the create was sent
    attempt: int = 1
    instance_id: int | None = None       # new_contract, once known


@dataclass(frozen=True)
class RankedOffer:
    offer: Offer
    expected_gps: float
    gps_source: str                      # "machine" | "preferred" | "gpu" | "config" | "default"
    preferred: bool = False              # listed in preferred-hosts.txt: expected games/s carry the bonus

    @property
    def dollars_per_gps(self) -> float:
        return self.offer.dph_total / self.expected_gps if self.expected_gps > 0 else float("inf")
