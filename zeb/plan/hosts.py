"""Host strikes and blocks, the scripts' bad-hosts.txt, and observed games/s per machine."""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping

from zeb.plan.types import HostRecord, Strike


def add_strike(hosts: Mapping[int, HostRecord], strike: Strike) -> dict[int, HostRecord]:
    out = dict(hosts)
    rec = out.get(strike.machine_id) or HostRecord(strike.machine_id)
    out[strike.machine_id] = dataclasses.replace(rec, strikes=rec.strikes + (strike,))
    return out


def remove_host(hosts: Mapping[int, HostRecord], machine_id: int) -> dict[int, HostRecord]:
    out = dict(hosts)
    rec = out.get(machine_id)
    if rec is not None:
        out[machine_id] = dataclasses.replace(rec, strikes=())
    return out


def clear(hosts: Mapping[int, HostRecord]) -> dict[int, HostRecord]:
    return {m: dataclasses.replace(h, strikes=()) for m, h in hosts.items()}


def is_blocked(record: HostRecord, threshold: int = 3) -> bool:
    return len(record.strikes) >= threshold


def parse_bad_hosts(text: str) -> list[int]:
    """One machine id per strike per line; blank lines and # comments are ignored."""
    ids = []
    for n, line in enumerate(text.splitlines(), 1):
        item = line.split("#", 1)[0].strip()
        if not item:
            continue
        if not item.isdigit():
            raise ValueError(f"line {n}: {item!r} is not a machine id")
        ids.append(int(item))
    return ids


def import_bad_hosts(hosts: Mapping[int, HostRecord], ids: Iterable[int], now: float, source: str) -> dict[int, HostRecord]:
    out = dict(hosts)
    for machine_id in ids:
        out = add_strike(out, Strike(machine_id=machine_id, time=now, reason=f"imported from {source}"))
    return out


def record_gps(hosts: Mapping[int, HostRecord], machine_id: int, gpu_name: str, games_per_s: float,
               weight: float = 1.0, *, alpha: float = 0.2) -> dict[int, HostRecord]:
    """An exponentially weighted mean of observed games/s per machine."""
    out = dict(hosts)
    rec = out.get(machine_id) or HostRecord(machine_id)
    prev = rec.games_per_s
    a = min(1.0, alpha * weight)
    mean = games_per_s if prev is None else prev + a * (games_per_s - prev)
    out[machine_id] = dataclasses.replace(rec, games_per_s=round(mean, 4), gpu_name=gpu_name)
    return out


def observed_gpu_means(hosts: Mapping[int, HostRecord]) -> dict[str, float]:
    sums: dict[str, list[float]] = {}
    for h in hosts.values():
        if h.gpu_name and h.games_per_s:
            sums.setdefault(h.gpu_name, []).append(h.games_per_s)
    return {gpu: sum(v) / len(v) for gpu, v in sums.items()}


def hosts_to_json(hosts: Mapping[int, HostRecord]) -> dict:
    return {
        str(m): {
            "gpu_name": h.gpu_name, "games_per_s": h.games_per_s,
            "strikes": [{"time": s.time, "reason": s.reason, "fleet": s.fleet, "instance_id": s.instance_id}
                        for s in h.strikes],
        }
        for m, h in sorted(hosts.items())
    }


def hosts_from_json(data: Mapping) -> dict[int, HostRecord]:
    out = {}
    for key, row in (data or {}).items():
        m = int(key)
        strikes = tuple(Strike(machine_id=m, time=float(s.get("time", 0.0)), reason=str(s.get("reason", "")),
                               fleet=s.get("fleet"), instance_id=s.get("instance_id"))
                        for s in row.get("strikes", []))
        out[m] = HostRecord(m, strikes, row.get("games_per_s"), row.get("gpu_name"))
    return out
