"""Fleet membership, label indices, replenish counts, the in-flight ledger's pruning, totals.

Membership is an exact match of `{fleet}-worker-{word}-{i}`: fleet `zeb` never sees
`zeb-large-worker-vast-0` or `my-notebook` (the scripts' prefix match did). The word is the marketplace
adapter's `label_word`: "vast" for Vast, the scripts' labels, so running fleets are adopted as they are."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from zeb.core.domain import LOADING, Instance, created_before
from zeb.plan.types import InFlight

VAST_WORD = "vast"
# Canonical decimal only ("01" and "+1" are not ours, so one index has one label); six digits bound
# int() on hostile labels and are far beyond any fleet.
_INDEX = re.compile(r"0|[1-9][0-9]{0,5}")


def _suffix(word: str) -> str:
    return f"-worker-{word}-"


def label_for(fleet: str, index: int, word: str = VAST_WORD) -> str:
    return f"{fleet}{_suffix(word)}{index}"


def parse_label(label: str | None, fleet: str, word: str = VAST_WORD) -> int | None:
    """The worker index when `label` is exactly `{fleet}-worker-{word}-{i}` (canonical decimal), else None."""
    if not label or not fleet:
        return None
    prefix = fleet + _suffix(word)
    if not label.startswith(prefix):
        return None
    rest = label[len(prefix):]
    return int(rest) if _INDEX.fullmatch(rest) else None


def fleet_of(label: str | None, word: str = VAST_WORD) -> str | None:
    """The fleet of any `X-worker-{word}-N` label (for `status --all`), else None."""
    suffix = _suffix(word)
    if not label or suffix not in label:
        return None
    fleet, _, rest = label.rpartition(suffix)
    return fleet if fleet and _INDEX.fullmatch(rest) else None


def members(instances: Iterable[Instance], fleet: str, word: str = VAST_WORD) -> list[Instance]:
    return [i for i in instances if parse_label(i.label, fleet, word) is not None]


def group_by_fleet(instances: Iterable[Instance], word: str = VAST_WORD) -> dict[str, list[Instance]]:
    groups: dict[str, list[Instance]] = {}
    for inst in instances:
        name = fleet_of(inst.label, word)
        if name is not None:
            groups.setdefault(name, []).append(inst)
    return groups


def is_live(instance: Instance) -> bool:
    """Loading, running, or pending (a null status right after create is never dead)."""
    return instance.live


def free_indices(used: Iterable[int], count: int) -> list[int]:
    """The `count` lowest non-negative integers not in `used` (holes first: 1 missing among 0..10 is found)."""
    taken = set(used)
    out: list[int] = []
    i = 0
    while len(out) < count:
        if i not in taken:
            out.append(i)
        i += 1
    return out


def next_labels(fleet: str, taken: Iterable[str | None], count: int, word: str = VAST_WORD) -> list[str]:
    """The one label rule of up, replenish and the monitor: `count` labels `{fleet}-worker-{word}-{i}` at the
    lowest indices that no label in `taken` holds (holes first). What counts as taken is the caller's:
    the labels of live members not being destroyed, launches in flight and an upgrade trial."""
    used = {parse_label(label, fleet, word) for label in taken}
    return [label_for(fleet, i, word) for i in free_indices({u for u in used if u is not None}, count)]


def _listed(entry: InFlight, instances: Sequence[Instance]) -> bool:
    if entry.instance_id is not None:
        return any(i.id == entry.instance_id for i in instances)
    # Without an id, the label alone is not enough: an exited instance on another machine may carry
    # the same label, and must not hide the launch that replaces it.
    return any(i.label == entry.label and i.machine_id == entry.machine_id for i in instances)


CAUGHT_UP_GRACE_S = 120.0
# A create Vast refused with an error answer: released once a listing this long after the answer shows no
# instance with its label (a create that did rent despite its error is listed by then).
REFUSED_CHECK_S = 30.0


def prune_inflight(inflight: Iterable[InFlight], instances: Sequence[Instance], now: float,
                   expiry_s: float) -> tuple[InFlight, ...]:
    """Drop entries Vast now lists, entries older than `expiry_s`, and entries whose instance the
    listing has caught up with and does not show: Vast's ids grow, so a listed instance with a larger
    id was created later (for an entry whose id was never learnt: a listed instance started later).
    The listing may show a newer instance before an older one for a moment, so the rule applies only
    past CAUGHT_UP_GRACE_S; before that the entry still counts (a held
    label costs a little time, a forgotten launch costs a double launch). A create Vast answered with an
    error is released sooner: REFUSED_CHECK_S after the answer, by a listing that shows no such label."""
    newest = max((i.id for i in instances), default=None)
    latest_start = max((i.start_date for i in instances if i.start_date), default=None)

    labels = {i.label for i in instances}

    def gone(e: InFlight) -> bool:
        if e.refused_at is not None and now - e.refused_at >= REFUSED_CHECK_S and e.label not in labels:
            return True
        if now - e.time < CAUGHT_UP_GRACE_S:
            return False
        if e.instance_id is not None:
            return created_before(e.instance_id, newest)
        # No id: the create's answer was lost (a 5xx, a dropped connection, a crash right after the
        # ledger write). Once the listing shows an instance started after that create was sent, it has
        # caught up past it: had the create rented anything, it would be listed too.
        return latest_start is not None and latest_start > e.time

    return tuple(e for e in inflight if not _listed(e, instances) and not gone(e) and now - e.time < expiry_s)


def duplicate_extras(instances: Iterable[Instance], fleet: str,
                     word: str = VAST_WORD) -> list[tuple[Instance, Instance]]:
    """(extra, kept) for every live member of the fleet that shares its label with another: the lowest
    instance id keeps the label. The rule reads only Vast's listing, never a log or local state, so two
    zeb runs in different ZEB_HOMEs (or machines) that raced on a label always pick the same survivor;
    "the one furthest along" would depend on each observer's own polls and could destroy both."""
    by_label: dict[str, list[Instance]] = {}
    for inst in members(instances, fleet, word):
        if is_live(inst):
            by_label.setdefault(inst.label or "", []).append(inst)
    out = []
    for group in by_label.values():
        keep = min(group, key=lambda i: i.id)
        out += [(dup, keep) for dup in sorted(group, key=lambda i: i.id) if dup is not keep]
    return out


def unconfirmed(inflight: Iterable[InFlight]) -> list[InFlight]:
    """Launches whose create never answered with an id: they may be renting a machine right now."""
    return [e for e in inflight if e.instance_id is None]


def replenish_plan(instances: Sequence[Instance], inflight: Sequence[InFlight], fleet: str, target: int,
                   now: float, expiry_s: float, word: str = VAST_WORD) -> list[str]:
    """Labels to launch so that live members + launches in flight reach `target`, lowest free indices first."""
    live = [i for i in members(instances, fleet, word) if is_live(i)]
    # Counting in-flight launches is what stops a second run from launching a worker whose
    # status is still null (or not yet listed) all over again.
    pending = [e for e in prune_inflight(inflight, instances, now, expiry_s)
               if parse_label(e.label, fleet, word) is not None]
    # Live instances sharing a label (a double launch) count once each toward the target.
    missing = max(0, target - len(live) - len(pending))
    return next_labels(fleet, [i.label for i in live] + [e.label for e in pending], missing, word)


@dataclass(frozen=True)
class Totals:
    count: int
    dph: float

    @property
    def per_day(self) -> float:
        return self.dph * 24

    @property
    def per_week(self) -> float:
        return self.dph * 24 * 7


def totals(instances: Iterable[Instance]) -> Totals:
    rows = list(instances)
    return Totals(len(rows), sum(i.dph_total for i in rows))


def stuck_loading(instances: Iterable[Instance], now: float, threshold_s: float) -> list[Instance]:
    """Pending or loading for longer than `threshold_s` (the runbook destroys these after 10 min)."""
    return [i for i in instances if i.status in (None, LOADING) and now - i.start_date > threshold_s]


def launching(inflight: Iterable[InFlight], instances: Sequence[Instance], fleet: str, now: float,
              expiry_s: float, shown_ids: Iterable[int] = (), word: str = VAST_WORD) -> list[dict]:
    """The rows `status` and the dashboard show for this fleet's launches in flight, in label order: the
    ledger pruned against the listing (prune_inflight: an entry that resolved to a listed instance, or
    that the listing has caught up past, is not in flight any more), and never an entry whose instance is
    already shown (`shown_ids`: the monitor's records). `since` is when the create was sent."""
    shown = set(shown_ids)
    rows = [e for e in prune_inflight(inflight, instances, now, expiry_s)
            if parse_label(e.label, fleet, word) is not None and (e.instance_id is None or e.instance_id not in shown)]
    return [{"label": e.label, "offer_id": e.offer_id, "machine_id": e.machine_id, "instance_id": e.instance_id,
             "since": e.time, "for_s": round(max(0.0, now - e.time), 1), "refused": e.refused_at is not None}
            for e in sorted(rows, key=lambda e: (parse_label(e.label, fleet, word) or 0, e.label))]
