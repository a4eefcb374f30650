"""Host strikes and blocks, the scripts' bad-hosts.txt, observed games/s per machine, and their JSON form.

Every function returns a new mapping; records are frozen."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Iterable, Mapping

from zeb.errors import StoreError
from zeb.plan.types import HostRecord, Strike

DEFAULT_STRIKES_TO_BLOCK = 3
_MACHINE_ID = re.compile(r"[0-9]+")   # ASCII only: str.isdigit() accepts "²", which int() refuses


def add_strike(hosts: Mapping[int, HostRecord], strike: Strike) -> dict[int, HostRecord]:
    out = dict(hosts)
    rec = out.get(strike.machine_id) or HostRecord(strike.machine_id)
    out[strike.machine_id] = dataclasses.replace(rec, strikes=rec.strikes + (strike,))
    return out


def remove_host(hosts: Mapping[int, HostRecord], machine_id: int) -> dict[int, HostRecord]:
    """Forget the machine's strikes; its observed games/s stay (they still rank its offers)."""
    out = dict(hosts)
    rec = out.get(machine_id)
    if rec is not None:
        out[machine_id] = dataclasses.replace(rec, strikes=())
    return out


def clear(hosts: Mapping[int, HostRecord]) -> dict[int, HostRecord]:
    return {m: dataclasses.replace(h, strikes=()) for m, h in hosts.items()}


def is_blocked(record: HostRecord, threshold: int = DEFAULT_STRIKES_TO_BLOCK) -> bool:
    return len(record.strikes) >= threshold


def blocked(hosts: Mapping[int, HostRecord], threshold: int = DEFAULT_STRIKES_TO_BLOCK) -> set[int]:
    return {m for m, h in hosts.items() if is_blocked(h, threshold)}


def parse_bad_hosts(text: str) -> list[int]:
    """The scripts' bad-hosts.txt: one machine id per strike per line; blank lines and # comments are
    ignored. Anything else is refused with its line number rather than guessed at."""
    ids = []
    for n, line in enumerate(text.splitlines(), 1):
        item = line.split("#", 1)[0].strip()
        if not item:
            continue
        if not _MACHINE_ID.fullmatch(item):
            raise ValueError(f"line {n}: {item!r} is not a machine id")
        ids.append(int(item))
    return ids


def import_bad_hosts(hosts: Mapping[int, HostRecord], ids: Iterable[int], now: float,
                     source: str) -> dict[int, HostRecord]:
    """One strike per line, as the scripts counted them (a machine listed 3 times is blocked)."""
    out = dict(hosts)
    for machine_id in ids:
        out = add_strike(out, Strike(machine_id=machine_id, time=now, reason=f"imported from {source}"))
    return out


def record_gps(hosts: Mapping[int, HostRecord], machine_id: int, gpu_name: str, games_per_s: float,
               weight: float = 1.0, *, alpha: float = 0.2) -> dict[int, HostRecord]:
    """Fold one observation into the machine's mean games/s.

    An exponentially weighted mean rather than a plain running mean: a HostRecord keeps no sample
    count, and a machine that slowed down (thermal limits, a noisy neighbour) should rank by what it
    does now. `weight` scales the step (e.g. by how many batches the observation covers)."""
    if games_per_s <= 0:
        return dict(hosts)   # a worker that produced nothing says nothing about the machine's speed
    out = dict(hosts)
    rec = out.get(machine_id) or HostRecord(machine_id)
    prev = rec.games_per_s
    step = min(1.0, max(0.0, alpha * weight))
    mean = games_per_s if not prev else prev + step * (games_per_s - prev)
    out[machine_id] = dataclasses.replace(rec, games_per_s=round(mean, 4), gpu_name=gpu_name)
    return out


def observed_gpu_means(hosts: Mapping[int, HostRecord]) -> dict[str, float]:
    """Mean observed games/s per GPU type, over machines (each machine counts once)."""
    sums: dict[str, list[float]] = {}
    for h in hosts.values():
        if h.gpu_name and h.games_per_s:
            sums.setdefault(h.gpu_name, []).append(h.games_per_s)
    return {gpu: sum(v) / len(v) for gpu, v in sorted(sums.items())}


# -- JSON (hosts.json) -------------------------------------------------------------------------------

def hosts_to_json(hosts: Mapping[int, HostRecord]) -> dict[str, Any]:
    """{"<machine id>": {"gpu_name", "games_per_s", "strikes": [{"time", "reason", "fleet", "instance_id"}]}},
    machines in numeric order so the file diffs cleanly."""
    return {
        str(m): {
            "gpu_name": h.gpu_name, "games_per_s": h.games_per_s,
            "strikes": [{"time": s.time, "reason": s.reason, "fleet": s.fleet, "instance_id": s.instance_id}
                        for s in h.strikes],
        }
        for m, h in sorted(hosts.items())
    }


def hosts_from_json(data: Mapping[str, Any] | None) -> dict[int, HostRecord]:
    """The inverse of hosts_to_json. A wrong shape is a StoreError naming the machine, never a traceback."""
    if not data:
        return {}
    if not isinstance(data, Mapping):
        raise StoreError(f"hosts.json: expected an object of machines, found {type(data).__name__}")
    out = {}
    for key, row in data.items():
        where = f"hosts.json: machine {key!r}"
        try:
            m = int(key)
            if not isinstance(row, Mapping):
                raise TypeError("not an object")
            strikes = tuple(_strike_from_json(m, s) for s in row.get("strikes") or [])
            gps = row.get("games_per_s")
            gpu = row.get("gpu_name")
            out[m] = HostRecord(m, strikes, float(gps) if gps is not None else None,
                                str(gpu) if gpu is not None else None)
        except (TypeError, ValueError, AttributeError) as exc:
            raise StoreError(f"{where}: unreadable record ({exc})") from None
    return out


def _strike_from_json(machine_id: int, row: Mapping[str, Any]) -> Strike:
    instance_id = row.get("instance_id")
    fleet = row.get("fleet")
    return Strike(machine_id=machine_id, time=float(row.get("time", 0.0)), reason=str(row.get("reason", "")),
                  fleet=str(fleet) if fleet is not None else None,
                  instance_id=int(instance_id) if instance_id is not None else None)
