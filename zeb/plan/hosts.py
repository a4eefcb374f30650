"""Host strikes and blocks, the scripts' bad-hosts.txt and preferred-hosts.txt, each machine's
reputation (observed games/s, boots, stalls, errors, decaying with age), and their JSON form.

Every function returns a new mapping or a new text; records are frozen. Reading and writing the files
is zeb.storage.state's; what the files mean, and how they merge with zeb's own store, is decided here."""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from zeb.core.errors import StoreError
from zeb.plan.types import Decayed, HostRecord, Reputation, Strike

DEFAULT_STRIKES_TO_BLOCK = 3

# Reputation. Every count fades: an event weighs 0.5 ** (age / HALF_LIFE_S), so a machine that failed
# last month (a host fixed its driver, a bad neighbour left) can earn its way back.
HALF_LIFE_S = 7 * 86400.0
BLOCK_S = 14 * 86400.0         # how long a certain fault blocks a machine (block_now)
MIN_GPS_SAMPLES = 3            # a machine's own games/s rank its offers from this many samples on
GPS_WINDOW = 20                # the running mean of games/s (and of boot times) weighs at most this many samples
# p_produce is the mean of a Beta(PRIOR_P * PRIOR_WEIGHT, (1 - PRIOR_P) * PRIOR_WEIGHT) prior updated with
# decayed successes and failures. A weight of 2 is two launches' worth of belief: one failure already
# drops an untried machine from 0.85 to 0.57, three successes raise it to 0.97.
PRIOR_P = 0.85
PRIOR_WEIGHT = 2.0
# A worker that produced and then stalled or died delivered part of what it was rented for: half a failure.
STALL_WEIGHT = 0.5
ERROR_WEIGHT = 0.5
# ASCII only: str.isdigit() accepts "²", which int() refuses. At most 12 digits: Vast's machine ids have
# 5-6 today; a 23-digit "id" is a paste error, not a machine.
_MACHINE_ID = re.compile(r"[0-9]{1,12}")
MAX_MACHINE_ID = 10**12 - 1


def add_strike(hosts: Mapping[int, HostRecord], strike: Strike) -> dict[int, HostRecord]:
    out = dict(hosts)
    rec = out.get(strike.machine_id) or HostRecord(strike.machine_id)
    out[strike.machine_id] = dataclasses.replace(rec, strikes=rec.strikes + (strike,))
    return out


def withdraw_strikes(hosts: Mapping[int, HostRecord], instance_ids: Iterable[int]) -> dict[int, HostRecord]:
    """Take back the strikes given for these instances' failures (they turned out to be the fleet's, not
    their machines'); a block that rested on them lifts with them."""
    ids = set(instance_ids)
    out = dict(hosts)
    for machine_id, rec in hosts.items():
        kept = tuple(s for s in rec.strikes if s.instance_id is None or s.instance_id not in ids)
        if len(kept) != len(rec.strikes):
            out[machine_id] = dataclasses.replace(rec, strikes=kept)
    return out


def _forgiven(rec: HostRecord) -> HostRecord:
    # The user vouched for the machine: its strikes, its certain block and the failures that would
    # still rank it low go; what it did well (boots, games/s, boot times) stays.
    return dataclasses.replace(rec, strikes=(), boots_failed=Decayed(), stalls=Decayed(), errors=Decayed(),
                               last_error=None)


def remove_host(hosts: Mapping[int, HostRecord], machine_id: int) -> dict[int, HostRecord]:
    """Forget the machine's strikes (a certain fault's block with them) and its failures; its observed
    games/s and successful boots stay (they still rank its offers)."""
    out = dict(hosts)
    rec = out.get(machine_id)
    if rec is not None:
        out[machine_id] = _forgiven(rec)
    return out


def clear(hosts: Mapping[int, HostRecord]) -> dict[int, HostRecord]:
    return {m: _forgiven(h) for m, h in hosts.items()}


def _block_active(strike: Strike, now: float | None) -> bool:
    # Without a clock a certain block holds: blocking too long is safer than renting a dud again.
    return strike.certain and (now is None or now < strike.time + BLOCK_S)


def active_strikes(record: HostRecord, now: float | None = None) -> tuple[Strike, ...]:
    """The strikes that count at `now`: all but those of a certain block that has lapsed."""
    return tuple(s for s in record.strikes if not s.certain or _block_active(s, now))


def block_until(record: HostRecord, now: float | None = None) -> float | None:
    """When the machine's certain block lapses, or None if it has none in force at `now`."""
    ends = [s.time + BLOCK_S for s in record.strikes if _block_active(s, now)]
    return max(ends) if ends else None


def is_blocked(record: HostRecord, threshold: int = DEFAULT_STRIKES_TO_BLOCK, now: float | None = None) -> bool:
    """`threshold` strikes, or a certain fault's block in force (whatever the threshold is now)."""
    return block_until(record, now) is not None or len(active_strikes(record, now)) >= threshold


def blocked(hosts: Mapping[int, HostRecord], threshold: int = DEFAULT_STRIKES_TO_BLOCK,
            now: float | None = None) -> set[int]:
    return {m for m, h in hosts.items() if is_blocked(h, threshold, now)}


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
               weight: float = 1.0, *, now: float | None = None) -> dict[int, HostRecord]:
    """Fold one observation of a producing worker into the machine's mean games/s (call it each cycle).

    A running mean over at most GPS_WINDOW samples: exact for a new machine, and once the window is
    full an exponentially weighted mean, so a machine that slowed down (thermal limits, a noisy
    neighbour) ranks by what it does now, and the record stays two numbers however long it runs.
    `weight` scales the step (e.g. by how many batches the observation covers). The machine's own figure
    ranks its offers only from MIN_GPS_SAMPLES samples on; a record with no count (older stores) is
    taken as trusted. The count does not decay: a machine's speed is its hardware, what fades is how
    reliably it boots."""
    if games_per_s <= 0:
        return dict(hosts)   # a worker that produced nothing says nothing about the machine's speed
    out = dict(hosts)
    rec = out.get(machine_id) or HostRecord(machine_id)
    prev = rec.games_per_s
    if not prev:
        mean, n = games_per_s, 1
    else:
        n = min(GPS_WINDOW, _samples(rec) + 1)
        step = min(1.0, max(0.0, weight / n))
        mean = prev + step * (games_per_s - prev)
    out[machine_id] = dataclasses.replace(rec, games_per_s=round(mean, 4), gps_samples=n, gpu_name=gpu_name,
                                          last_seen=_latest(rec.last_seen, now))
    return out


def _samples(rec: HostRecord) -> int:
    if rec.gps_samples is None:
        return MIN_GPS_SAMPLES if rec.games_per_s else 0
    return rec.gps_samples


def _latest(seen: float | None, now: float | None) -> float | None:
    if now is None:
        return seen
    return now if seen is None else max(seen, now)


def observed_gpu_means(hosts: Mapping[int, HostRecord]) -> dict[str, float]:
    """Mean observed games/s per GPU type, over machines (each machine counts once)."""
    sums: dict[str, list[float]] = {}
    for h in hosts.values():
        if h.gpu_name and h.games_per_s:
            sums.setdefault(h.gpu_name, []).append(h.games_per_s)
    return {gpu: sum(v) / len(v) for gpu, v in sorted(sums.items())}


# -- reputation: what the monitor records, decaying with age ------------------------------------------

def decayed(count: Decayed, now: float | None) -> float:
    """The count's weight at `now` (its stored value when no clock is given). A `now` before the last
    update (clocks of two hosts) reads as no age: a weight never grows."""
    if now is None or count.value == 0.0:
        return count.value
    return count.value * 0.5 ** (max(0.0, now - count.at) / HALF_LIFE_S)


def bump(count: Decayed, now: float, amount: float = 1.0) -> Decayed:
    """The count with one more event at `now`, older events decayed to `now` first."""
    return Decayed(decayed(count, now) + amount, max(now, count.at))


def as_of(hosts: Mapping[int, HostRecord], now: float) -> dict[int, HostRecord]:
    """The records with every count decayed to `now`: the same reputation, read without a clock."""
    def aged(c: Decayed) -> Decayed:
        return Decayed(decayed(c, now), now) if c.value else c
    return {m: dataclasses.replace(h, boots_ok=aged(h.boots_ok), boots_failed=aged(h.boots_failed),
                                   stalls=aged(h.stalls), errors=aged(h.errors)) for m, h in hosts.items()}


def gps_trusted(record: HostRecord | None) -> bool:
    """Enough samples to rank the machine by its own games/s rather than its GPU's."""
    return record is not None and bool(record.games_per_s) and _samples(record) >= MIN_GPS_SAMPLES


def p_produce(record: HostRecord | None, now: float | None = None) -> float:
    """The chance a launch on this machine boots and produces: the mean of a Beta prior (PRIOR_P, worth
    PRIOR_WEIGHT launches) updated with decayed successes (boots that produced) and failures (boots that
    did not; stalls and errors after producing at STALL_WEIGHT and ERROR_WEIGHT).

    So an untried machine is PRIOR_P; one failed boot puts a machine below every untried one; three good
    boots put it above them; one recent failure among many successes leaves it near the top; and every
    event fades with HALF_LIFE_S, back towards the prior. Strikes are not counted here: they are the
    blocking ledger, and the events behind them reach this through record_boot/record_stall/record_error."""
    if record is None:
        return PRIOR_P
    good = decayed(record.boots_ok, now)
    bad = (decayed(record.boots_failed, now) + STALL_WEIGHT * decayed(record.stalls, now)
           + ERROR_WEIGHT * decayed(record.errors, now))
    return (PRIOR_P * PRIOR_WEIGHT + good) / (PRIOR_WEIGHT + good + bad)


def _event(hosts: Mapping[int, HostRecord], machine_id: int, now: float, gpu_name: str | None = None,
           **changes: Any) -> dict[int, HostRecord]:
    out = dict(hosts)
    rec = out.get(machine_id) or HostRecord(machine_id)
    out[machine_id] = dataclasses.replace(rec, gpu_name=gpu_name or rec.gpu_name, last_seen=_latest(rec.last_seen, now),
                                          **{k: v(rec) for k, v in changes.items()})
    return out


def record_boot(hosts: Mapping[int, HostRecord], machine_id: int, gpu_name: str | None, ok: bool,
                boot_s: float | None, now: float, *, reason: str | None = None) -> dict[int, HostRecord]:
    """One launch's outcome on the machine; call it once per launch.

    ok=True when the worker's first batch is seen, with `boot_s` = seconds from create to that batch
    (folded into a mean over at most GPS_WINDOW boots). ok=False when the worker is given up on before
    it ever produced, whatever the cause (stuck booting or in setup, a fatal error, a broken launch, Vast
    stopping it with a host fault), with `reason` the fault shown in `zeb blacklist list`. Preemption
    and zeb's own scale-down are no verdict on the machine: do not record them."""
    if ok:
        def mean(rec: HostRecord) -> float | None:
            if boot_s is None or boot_s < 0:
                return rec.boot_s
            n = min(GPS_WINDOW, rec.boot_samples + 1)
            return boot_s if rec.boot_s is None else round(rec.boot_s + (boot_s - rec.boot_s) / n, 1)
        has_time = boot_s is not None and boot_s >= 0
        return _event(hosts, machine_id, now, gpu_name, boots_ok=lambda r: bump(r.boots_ok, now), boot_s=mean,
                      boot_samples=lambda r: min(GPS_WINDOW, r.boot_samples + 1) if has_time else r.boot_samples)
    return _event(hosts, machine_id, now, gpu_name, boots_failed=lambda r: bump(r.boots_failed, now),
                  last_error=lambda r: reason or r.last_error)


def record_stall(hosts: Mapping[int, HostRecord], machine_id: int, now: float,
                 weight: float = 1.0) -> dict[int, HostRecord]:
    """A producing worker stopped making batches (the monitor's stall rule fired); once per stall.
    `weight` 2 makes it count as much as a failed boot (the stall cost a whole replacement)."""
    return _event(hosts, machine_id, now, stalls=lambda r: bump(r.stalls, now, weight))


def record_error(hosts: Mapping[int, HostRecord], machine_id: int, kind: str, now: float,
                 weight: float = 1.0) -> dict[int, HostRecord]:
    """A fatal error of a worker that had produced (`kind`: the classifier's fatal kind, e.g. "oom").
    An error before the first batch is a failed boot: record_boot(ok=False, reason=kind) instead, so
    one launch is one verdict. `weight` 2 makes an end of the worker (a crash, a preemption) count as
    much as a failed boot: the machine cost a whole replacement."""
    return _event(hosts, machine_id, now, errors=lambda r: bump(r.errors, now, weight), last_error=lambda r: kind)


def block_now(hosts: Mapping[int, HostRecord], machine_id: int, reason: str, now: float, *,
              threshold: int = DEFAULT_STRIKES_TO_BLOCK, fleet: str | None = None,
              instance_id: int | None = None) -> dict[int, HostRecord]:
    """Block the machine at once for a certain hardware fault (no CUDA, a driver mismatch, out of memory
    at the standard configuration): it will fail the same way on every launch, so waiting for three
    strikes only rents it twice more.

    The decision, and how it lives with the scripts' bad-hosts.txt:
    - The block is strikes marked `certain`: as many as bring the machine to `threshold` (at least one),
      so the scripts, which only count lines, block it too: each new strike becomes a line of the file
      through zeb.storage.state.update_hosts, as any strike does.
    - It lasts BLOCK_S from the fault. zeb reads it as lapsed from then on (is_blocked/blocked with a
      `now`); expire_blocks drops the lapsed strikes, and with them their lines from the file, so the
      scripts may try the machine again too. Its failures have decayed by then but not vanished, so it
      comes back at a low p_produce, and one more certain fault blocks it again.
    - `zeb blacklist remove` and `clear` forget the machine's strikes, certain ones included, and drop
      their lines: the block is undone in zeb and for the scripts alike. Deleting the lines by hand does
      the same (merge_ledger keeps only the strikes the file still lists).
    - It records no outcome: the monitor also calls record_boot(ok=False) (or record_error) for the
      launch, so the fault counts once in p_produce."""
    out = expire_blocks({machine_id: hosts[machine_id]} if machine_id in hosts else {}, now)
    out = {**hosts, **out}
    rec = out.get(machine_id) or HostRecord(machine_id)
    pad = max(1, threshold - len(rec.strikes))
    strikes = tuple(Strike(machine_id, now, reason, fleet=fleet, instance_id=instance_id, certain=True)
                    for _ in range(pad))
    out[machine_id] = dataclasses.replace(rec, strikes=rec.strikes + strikes, last_error=reason,
                                          last_seen=_latest(rec.last_seen, now))
    return out


def expire_blocks(hosts: Mapping[int, HostRecord], now: float) -> dict[int, HostRecord]:
    """Drop the strikes of certain blocks that lapsed by `now` (through update_hosts, their lines leave
    bad-hosts.txt). Cheap and idempotent: the monitor may apply it every cycle."""
    out = dict(hosts)
    for machine_id, rec in hosts.items():
        kept = active_strikes(rec, now)
        if len(kept) != len(rec.strikes):
            out[machine_id] = dataclasses.replace(rec, strikes=kept)
    return out


def has_reputation(record: HostRecord) -> bool:
    """Anything learnt about the machine beyond its strikes."""
    return bool(record.games_per_s or record.boots_ok.value or record.boots_failed.value or record.stalls.value
                or record.errors.value or record.boot_s is not None)


def reputation(record: HostRecord, now: float | None = None) -> Reputation:
    return Reputation(
        p_produce=p_produce(record, now), boots_ok=decayed(record.boots_ok, now),
        boots_failed=decayed(record.boots_failed, now), stalls=decayed(record.stalls, now),
        errors=decayed(record.errors, now), boot_s=record.boot_s, games_per_s=record.games_per_s,
        gps_samples=_samples(record), gps_trusted=gps_trusted(record), blocked_until=block_until(record, now),
        last_error=record.last_error,
    )


# -- JSON (hosts.json) -------------------------------------------------------------------------------

_COUNTS = ("boots_ok", "boots_failed", "stalls", "errors")


def hosts_to_json(hosts: Mapping[int, HostRecord]) -> dict[str, Any]:
    """{"<machine id>": {"gpu_name", "games_per_s", "strikes": [{"time", "reason", "fleet", "instance_id"}],
    and the reputation when there is one: "gps_samples", "boots_ok"/"boots_failed"/"stalls"/"errors" as
    {"value", "at"} (decayed on read), "boot_s", "boot_samples", "last_error", "last_seen"}}, machines
    in numeric order so the file diffs cleanly. Reputation keys are written only when set, so a record
    with none reads exactly as it did before zeb kept reputations."""
    out: dict[str, Any] = {}
    for m, h in sorted(hosts.items()):
        row: dict[str, Any] = {"gpu_name": h.gpu_name, "games_per_s": h.games_per_s,
                               "strikes": [_strike_to_json(s) for s in h.strikes]}
        if h.gps_samples is not None:
            row["gps_samples"] = h.gps_samples
        for name in _COUNTS:
            count: Decayed = getattr(h, name)
            if count.value:
                row[name] = {"value": count.value, "at": count.at}
        if h.boot_s is not None:
            row["boot_s"], row["boot_samples"] = h.boot_s, h.boot_samples
        for name in ("last_error", "last_seen"):
            if getattr(h, name) is not None:
                row[name] = getattr(h, name)
        out[str(m)] = row
    return out


def hosts_from_json(data: Mapping[str, Any] | None) -> dict[int, HostRecord]:
    """The inverse of hosts_to_json; files from before reputations (no such keys) load with none. A wrong
    shape is a StoreError naming the machine, never a traceback."""
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
            samples = row.get("gps_samples")
            boot_s = row.get("boot_s")
            # Any: each name is one of HostRecord's Decayed fields, which mypy cannot see through **.
            counts: dict[str, Any] = {name: _decayed_from_json(row[name]) for name in _COUNTS
                                      if row.get(name) is not None}
            out[m] = HostRecord(
                m, strikes, float(gps) if gps is not None else None, str(gpu) if gpu is not None else None,
                gps_samples=int(samples) if samples is not None else None,
                boot_s=float(boot_s) if boot_s is not None else None, boot_samples=int(row.get("boot_samples") or 0),
                last_error=_opt_str(row.get("last_error")), last_seen=_opt_float(row.get("last_seen")), **counts,
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise StoreError(f"{where}: unreadable record ({exc})") from None
    return out


def _decayed_from_json(row: Any) -> Decayed:
    if not isinstance(row, Mapping):
        raise TypeError("a count is not an object of value and at")
    value, at = float(row.get("value", 0.0)), float(row.get("at", 0.0))
    if not (math.isfinite(value) and math.isfinite(at)) or value < 0:
        raise ValueError("a count is not a finite non-negative number")
    return Decayed(value, at)


def _opt_str(v: Any) -> str | None:
    return str(v) if v is not None else None


def _opt_float(v: Any) -> float | None:
    return float(v) if v is not None else None


def _strike_to_json(s: Strike) -> dict[str, Any]:
    row: dict[str, Any] = {"time": s.time, "reason": s.reason, "fleet": s.fleet, "instance_id": s.instance_id}
    if s.in_file:
        row["in_file"] = True      # written only when set, so stores from before the shared file read the same
    if s.certain:
        row["certain"] = True
    return row


def _strike_from_json(machine_id: int, row: Mapping[str, Any]) -> Strike:
    instance_id = row.get("instance_id")
    fleet = row.get("fleet")
    in_file = row.get("in_file", False)
    certain = row.get("certain", False)
    if not isinstance(in_file, bool) or not isinstance(certain, bool):
        raise TypeError("in_file or certain is not true or false")
    return Strike(machine_id=machine_id, time=float(row.get("time", 0.0)), reason=str(row.get("reason", "")),
                  fleet=str(fleet) if fleet is not None else None,
                  instance_id=int(instance_id) if instance_id is not None else None, in_file=in_file,
                  certain=certain)


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
        if (machine_id in stored or new.strikes or new.games_per_s is not None or new.gpu_name is not None
                or has_reputation(new)):
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
        if machine_id is not None and machine_id in updates:
            if machine_id not in done:
                out.append(f"{machine_id}\t{format_gps(updates[machine_id])}\n")
                done.add(machine_id)
            continue
        out.append(line if line.endswith("\n") else line + "\n")
    out += [f"{m}\t{format_gps(g)}\n" for m, g in sorted(updates.items()) if m not in done]
    return "".join(out)
