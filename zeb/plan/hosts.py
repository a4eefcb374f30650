"""Host strikes and blocks, the scripts' bad-hosts.txt and preferred-hosts.txt, observed games/s per
machine, and their JSON form.

Every function returns a new mapping or a new text; records are frozen. Reading and writing the files
is zeb.state's; what the files mean, and how they merge with zeb's own store, is decided here."""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
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
            "strikes": [_strike_to_json(s) for s in h.strikes],
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


def _strike_to_json(s: Strike) -> dict[str, Any]:
    row: dict[str, Any] = {"time": s.time, "reason": s.reason, "fleet": s.fleet, "instance_id": s.instance_id}
    if s.in_file:
        row["in_file"] = True      # written only when set, so stores from before the shared file read the same
    return row


def _strike_from_json(machine_id: int, row: Mapping[str, Any]) -> Strike:
    instance_id = row.get("instance_id")
    fleet = row.get("fleet")
    in_file = row.get("in_file", False)
    if not isinstance(in_file, bool):
        raise TypeError("in_file is not true or false")
    return Strike(machine_id=machine_id, time=float(row.get("time", 0.0)), reason=str(row.get("reason", "")),
                  fleet=str(fleet) if fleet is not None else None,
                  instance_id=int(instance_id) if instance_id is not None else None, in_file=in_file)


# -- the shared bad-hosts.txt: one ledger of strike counts for zeb and the scripts ----------------------

def _line_machine(line: str) -> int | None:
    item = line.split("#", 1)[0].strip()
    return int(item) if _MACHINE_ID.fullmatch(item) else None


def merge_ledger(stored: Mapping[int, HostRecord], file_counts: Mapping[int, int] | None,
                 source: str) -> dict[int, HostRecord]:
    """The hosts every command sees: zeb's store merged with the shared bad-hosts.txt.

    The merge rule, which keeps every strike counted exactly once while zeb and the scripts both write:

    - The file is the ledger of every strike that is a line in it, whoever wrote the line. Each line
      is one strike, as the scripts count them.
    - zeb writes one line per strike it records and marks that strike `in_file` in its store; the
      store keeps the strike's reason, time, fleet and instance, never a second count.
    - A machine's strikes are therefore its store strikes that are NOT in the file (recorded while no
      file was shared, or when appending to it failed) plus exactly as many strikes as the file has
      lines for it. The store's `in_file` strikes give those lines their reasons, newest first; lines
      beyond them (the scripts' own strikes) read "listed in <file>", with no time.
    - So removing a machine's lines from the file by hand unblocks it for zeb too, and a store from
      before the file was shared keeps its strikes without counting the file's lines twice.

    `file_counts` None means no file is shared: the store alone counts, `in_file` strikes included."""
    if file_counts is None:
        return dict(stored)
    out = dict(stored)
    for machine_id in set(stored) | set(file_counts):
        rec = stored.get(machine_id) or HostRecord(machine_id)
        own = [s for s in rec.strikes if not s.in_file]
        shared = [s for s in rec.strikes if s.in_file]
        lines = file_counts.get(machine_id, 0)
        explained = shared[len(shared) - lines:] if lines < len(shared) else shared
        unexplained = [Strike(machine_id, 0.0, f"listed in {source}", in_file=True)] * (lines - len(explained))
        strikes = sorted(own + explained + unexplained, key=lambda s: s.time)
        out[machine_id] = dataclasses.replace(rec, strikes=tuple(strikes))
    return out


@dataclasses.dataclass(frozen=True)
class LedgerChange:
    store: dict[int, HostRecord]     # what zeb's store keeps
    append: tuple[int, ...]          # machine ids to append to bad-hosts.txt, one line per new strike
    drop: dict[int, int]             # machine id -> how many of its lines leave bad-hosts.txt


def ledger_change(stored: Mapping[int, HostRecord], before: Mapping[int, HostRecord],
                  after: Mapping[int, HostRecord], *, shared: bool) -> LedgerChange:
    """Split a change a command made to the merged view (`before` -> `after`) into what zeb's store
    keeps and what the shared file gains and loses (the inverse of merge_ledger).

    A strike in `after` that was in the store stays there as it was; one that stood for a file line
    only stays in the file; one that is new is stored, marked `in_file` and appended when `shared`.
    A machine that lost k of its file strikes loses k lines of the file."""
    store: dict[int, HostRecord] = {}
    append: list[int] = []
    drop: dict[int, int] = {}
    for machine_id in sorted(set(before) | set(after)):
        was = before.get(machine_id)
        rec = after.get(machine_id)
        was_in_file = sum(1 for s in was.strikes if s.in_file) if was is not None else 0
        if rec is None:
            if was_in_file:
                drop[machine_id] = was_in_file
            continue
        in_store = Counter(stored[machine_id].strikes) if machine_id in stored else Counter()
        in_view = Counter(was.strikes) if was is not None else Counter()
        kept: list[Strike] = []
        carried_in_file = 0
        for strike in rec.strikes:
            if in_view[strike] > 0:
                in_view[strike] -= 1
                carried_in_file += strike.in_file
                if in_store[strike] > 0:
                    in_store[strike] -= 1
                    kept.append(strike)
                # else: it stood for a line of the file only; the file keeps it
            else:
                kept.append(dataclasses.replace(strike, in_file=shared))
                if shared:
                    append.append(machine_id)
        if was_in_file > carried_in_file:
            drop[machine_id] = was_in_file - carried_in_file
        new = dataclasses.replace(rec, strikes=tuple(kept), preferred_gps=None)
        if machine_id in stored or new.strikes or new.games_per_s is not None or new.gpu_name is not None:
            store[machine_id] = new
    return LedgerChange(store, tuple(append), drop)


def count_lines(ids: Iterable[int]) -> dict[int, int]:
    return dict(Counter(ids))


def counts_after(counts: Mapping[int, int], change: LedgerChange) -> dict[int, int]:
    """The file's counts once `change` is written, without reading the file back."""
    out = Counter(counts)
    for machine_id, n in change.drop.items():
        out[machine_id] = max(0, out[machine_id] - n)
    out.update(change.append)
    return {m: n for m, n in out.items() if n > 0}


def drop_bad_hosts_lines(text: str, drop: Mapping[int, int]) -> str:
    """The file without `drop[m]` lines of each machine m (its oldest first); comments, blank lines and
    other machines' lines stay as they were."""
    left = dict(drop)
    out = []
    for line in text.splitlines(keepends=True):
        machine_id = _line_machine(line)
        if machine_id is not None and left.get(machine_id, 0) > 0:
            left[machine_id] -= 1
            continue
        out.append(line)
    return "".join(out)


def bad_hosts_append_text(ids: Iterable[int], *, after_partial_line: bool) -> str:
    """The scripts' format, one machine id per line; a newline first if the file's last line lacks one,
    so an id is never glued onto the user's last line."""
    body = "".join(f"{m}\n" for m in ids)
    return ("\n" + body) if body and after_partial_line else body


# -- the scripts' preferred-hosts.txt -----------------------------------------------------------------

PREFERRED_BONUS = 1.1   # the scripts' find_offer.py: a known-good machine's offers look 10% faster


def parse_preferred(text: str) -> dict[int, float]:
    """`machine_id<TAB>games/s` per line, as the scripts' save_preferred writes it; blank lines and
    # comments are ignored, a later line for the same machine wins (the scripts read it into a map).
    Anything else is refused with its line number rather than guessed at."""
    out: dict[int, float] = {}
    for n, line in enumerate(text.splitlines(), 1):
        item = line.split("#", 1)[0].strip()
        if not item:
            continue
        fields = item.split()
        if len(fields) != 2 or not _MACHINE_ID.fullmatch(fields[0]):
            raise ValueError(f"line {n}: {item!r} is not 'machine_id<TAB>games/s'")
        try:
            gps = float(fields[1])
        except ValueError:
            raise ValueError(f"line {n}: {fields[1]!r} is not a games/s figure") from None
        if not math.isfinite(gps) or gps < 0:
            raise ValueError(f"line {n}: {fields[1]!r} is not a games/s figure")
        out[int(fields[0])] = gps
    return out


def with_preferred(hosts: Mapping[int, HostRecord], preferred: Mapping[int, float]) -> dict[int, HostRecord]:
    out = dict(hosts)
    for machine_id, gps in preferred.items():
        rec = out.get(machine_id) or HostRecord(machine_id)
        out[machine_id] = dataclasses.replace(rec, preferred_gps=gps)
    return out


def preferred_updates(before: Mapping[int, HostRecord], after: Mapping[int, HostRecord]) -> dict[int, float]:
    """Machines whose observed games/s this change set or moved: their figure goes to preferred-hosts.txt,
    as the scripts record every machine they saw producing."""
    out = {}
    for machine_id, rec in after.items():
        old = before.get(machine_id)
        if rec.games_per_s and (old is None or old.games_per_s != rec.games_per_s):
            out[machine_id] = rec.games_per_s
    return out


def format_gps(gps: float) -> str:
    return f"{round(gps, 3):g}"


def rewrite_preferred(text: str, updates: Mapping[int, float]) -> str:
    """The file with each updated machine's line set to its new figure (in place, later duplicates
    removed) and new machines appended; comments, blank lines and other machines' lines stay."""
    out = []
    done: set[int] = set()
    for line in text.splitlines(keepends=True):
        item = line.split("#", 1)[0].strip()
        fields = item.split()
        machine_id = int(fields[0]) if fields and _MACHINE_ID.fullmatch(fields[0]) else None
        if machine_id in updates:
            if machine_id not in done:
                out.append(f"{machine_id}\t{format_gps(updates[machine_id])}\n")
                done.add(machine_id)
            continue
        out.append(line if line.endswith("\n") else line + "\n")
    out += [f"{m}\t{format_gps(g)}\n" for m, g in sorted(updates.items()) if m not in done]
    return "".join(out)
