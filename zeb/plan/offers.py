"""Offer ranking by $ per expected game/s, and picking offers on distinct machines."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from zeb.plan import stats
from zeb.plan.types import HostRecord, RankedOffer
from zeb.vast import Offer

def expected_gps(offer: Offer, hosts: Mapping[int, HostRecord], observed_gpu: Mapping[str, float],
                 config_table: Mapping[str, float]) -> tuple[float, str]:
    """Observed on this machine, else observed on this GPU type, else the config table, else 1.8."""
    host = hosts.get(offer.machine_id)
    by_machine = {offer.machine_id: host.games_per_s} if host is not None and host.games_per_s else {}
    return stats.expected_gps(offer.gpu_name, offer.machine_id, by_machine, observed_gpu, config_table)


def blocked_machines(hosts: Mapping[int, HostRecord], strikes_to_block: int) -> set[int]:
    return {m for m, h in hosts.items() if len(h.strikes) >= strikes_to_block}


def rank_offers(offers: Iterable[Offer], *, gpus: Sequence[str], max_dph: float, blocked: set[int] | frozenset[int],
                hosts: Mapping[int, HostRecord], observed_gpu: Mapping[str, float],
                config_table: Mapping[str, float]) -> list[RankedOffer]:
    wanted = set(gpus)
    ranked = []
    for offer in offers:
        if offer.gpu_name not in wanted or offer.dph_total > max_dph or offer.machine_id in blocked:
            continue
        gps, source = expected_gps(offer, hosts, observed_gpu, config_table)
        ranked.append(RankedOffer(offer, gps, source))
    ranked.sort(key=lambda r: (r.dollars_per_gps, r.offer.dph_total, -r.offer.reliability, r.offer.id))
    return ranked


def pick_offers(ranked: Sequence[RankedOffer], count: int, *, exclude_machines: Iterable[int] = ()) -> list[RankedOffer]:
    used = set(exclude_machines)
    picked = []
    for r in ranked:
        if len(picked) == count:
            break
        if r.offer.machine_id in used:
            continue
        used.add(r.offer.machine_id)
        picked.append(r)
    return picked
