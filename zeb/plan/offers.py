"""Offer ranking by $ per expected game/s (the machine's chance of producing included), and picking
offers on distinct machines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from zeb.core.domain import Offer, gpu_name
from zeb.plan import stats
from zeb.plan.hosts import PREFERRED_BONUS, gps_trusted, p_produce, reputation
from zeb.plan.hosts import blocked as _blocked_hosts
from zeb.plan.types import HostRecord, RankedOffer


def expected_gps(offer: Offer, hosts: Mapping[int, HostRecord], observed_gpu: Mapping[str, float],
                 config_table: Mapping[str, float]) -> tuple[float, str]:
    """Observed on this machine (from MIN_GPS_SAMPLES samples on), else its figure in preferred-hosts.txt,
    else observed on this GPU type, else the config table, else 1.8; the source is "machine",
    "preferred", "gpu", "config" or "default". A preferred machine's figure, whatever its source, carries
    the scripts' 10% bonus."""
    host = hosts.get(offer.machine_id)
    # One or two samples may be a warm-up batch or a noisy neighbour: until then the GPU's figure is fairer.
    by_machine: dict[int, float] = {}
    if host is not None and host.games_per_s and gps_trusted(host):
        by_machine[offer.machine_id] = host.games_per_s
    if host is None or host.preferred_gps is None:
        return stats.expected_gps(offer.gpu_name, offer.machine_id, by_machine, observed_gpu, config_table)
    if not by_machine and host.preferred_gps > 0:
        base, source = host.preferred_gps, "preferred"
    else:
        # zeb's own observation is fresher than a figure the scripts wrote; a listed 0 says nothing.
        base, source = stats.expected_gps(offer.gpu_name, offer.machine_id, by_machine, observed_gpu, config_table)
    return base * PREFERRED_BONUS, source


def is_preferred(offer: Offer, hosts: Mapping[int, HostRecord]) -> bool:
    host = hosts.get(offer.machine_id)
    return host is not None and host.preferred_gps is not None


def blocked_machines(hosts: Mapping[int, HostRecord], strikes_to_block: int, now: float | None = None) -> set[int]:
    """Machines with `strikes_to_block` strikes or a certain fault's block in force at `now` (without a
    `now` a certain block never lapses; zeb.plan.hosts.block_now says why)."""
    return _blocked_hosts(hosts, strikes_to_block, now)


def rank_key(r: RankedOffer) -> tuple[float, float, float, int]:
    # Ties on expected $/game/s go to the cheaper offer, then the more reliable, then the lower id, so
    # two runs over the same search pick the same offers. Rounding makes ties of float noise real ties
    # (0.044/2.2 and 0.088/4.4 must compare equal).
    return (round(r.expected_dollars_per_gps, 9), r.offer.dph_total, -r.offer.reliability, r.offer.id)


def rank_offers(offers: Iterable[Offer], *, gpus: Sequence[str], max_dph: float, blocked: set[int] | frozenset[int],
                hosts: Mapping[int, HostRecord], observed_gpu: Mapping[str, float],
                config_table: Mapping[str, float], now: float | None = None) -> list[RankedOffer]:
    """Offers of a wanted GPU, at most `max_dph`, not on a blocked machine; best expected value first:
    dph / (expected games/s x p_produce), the machine's chance of booting and producing with its
    reputation decayed to `now` (without a `now`, counts are read as last stored)."""
    # Vast rows spell GPUs with spaces, the scripts and the CLI with underscores: compare one spelling.
    wanted = {gpu_name(g) for g in gpus}
    ranked = []
    for offer in offers:
        if gpu_name(offer.gpu_name) not in wanted or not offer.dph_total <= max_dph:
            continue
        if offer.machine_id in blocked:
            continue
        gps, source = expected_gps(offer, hosts, observed_gpu, config_table)
        host = hosts.get(offer.machine_id)
        ranked.append(RankedOffer(offer, gps, source, preferred=is_preferred(offer, hosts),
                                  p_produce=p_produce(host, now),
                                  reputation=reputation(host, now) if host is not None else None))
    ranked.sort(key=rank_key)
    return ranked


def pick_offers(ranked: Sequence[RankedOffer], count: int, *,
                exclude_machines: Iterable[int] = ()) -> list[RankedOffer]:
    """Up to `count` offers in ranked order, one per machine (one bad host never takes two workers)."""
    used = set(exclude_machines)
    picked: list[RankedOffer] = []
    for r in ranked:
        if len(picked) >= count:
            break
        if r.offer.machine_id in used:
            continue
        used.add(r.offer.machine_id)
        picked.append(r)
    return picked
