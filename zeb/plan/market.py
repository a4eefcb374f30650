"""Market history, decided purely: the price sample one offer search leaves per GPU type, which stored
samples thinning keeps, and the per-GPU summary of a window (now vs the window's start, and the trend).

No I/O: zeb/storage/market_history.py stores what these return."""

from __future__ import annotations

import statistics
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from zeb.plan.types import RankedOffer

HOUR = 3600.0
DAY = 86400.0
KEEP_ALL_S = 48 * HOUR        # every sample younger than this is kept
KEEP_HOURLY_S = 30 * DAY      # then one per GPU per hour up to this age; one per GPU per day beyond


@dataclass(frozen=True)
class Sample:
    """One GPU type in one offer search. `best_dollars_per_gps` is the best $ per expected game/s (what
    offers rank by), None when no eligible offer had a games/s estimate."""

    time: float
    gpu_name: str
    min_dph: float
    median_dph: float
    count: int
    best_dollars_per_gps: float | None


def sample_from_ranked(ranked: Sequence[RankedOffer], now: float,
                       blocked: Collection[int] = ()) -> list[Sample]:
    """One sample per GPU type among the eligible offers: those rank_offers returned, minus blocked
    machines. Blocked machines never count, even when the search included them (`rank-offers
    --show-blocked`): a sample then says the same thing whichever command searched."""
    by_gpu: dict[str, list[RankedOffer]] = {}
    for r in ranked:
        if r.offer.machine_id in blocked:
            continue
        by_gpu.setdefault(r.offer.gpu_name, []).append(r)
    out = []
    for gpu, offers in sorted(by_gpu.items()):
        prices = [r.offer.dph_total for r in offers]
        values = [v for v in (r.expected_dollars_per_gps for r in offers) if v != float("inf")]
        out.append(Sample(time=now, gpu_name=gpu, min_dph=min(prices), median_dph=round(statistics.median(prices), 6),
                          count=len(offers), best_dollars_per_gps=round(min(values), 6) if values else None))
    return out


def rows_to_keep(rows: Iterable[tuple[int, float, str]], now: float) -> set[int]:
    """Thinning: of (row id, time, gpu_name) rows, the ids to keep. Every row younger than 48 h; then the
    earliest row per GPU per clock hour up to 30 days old; beyond that the earliest per GPU per day.
    Buckets are fixed in absolute time, so thinning again keeps the same rows and a GPU never loses the
    only sample of an hour (or, beyond 30 days, of a day) it had one in."""
    keep: set[int] = set()
    first: dict[tuple[str, str, int], tuple[float, int]] = {}
    for row_id, t, gpu in rows:
        age = now - t
        if age < KEEP_ALL_S:
            keep.add(row_id)
            continue
        key = (gpu, "h", int(t // HOUR)) if age < KEEP_HOURLY_S else (gpu, "d", int(t // DAY))
        best = first.get(key)
        if best is None or (t, row_id) < best:
            first[key] = (t, row_id)
    keep.update(row_id for _, row_id in first.values())
    return keep


def _slope_per_day(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (time, $/hr) points, in $/hr per day; None without two distinct times."""
    if len(points) < 2:
        return None
    mean_t = sum(t for t, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return cov / var * DAY


def summarize(samples: Iterable[Sample], since: float, gpus: Collection[str] = ()) -> list[dict]:
    """Per GPU type over samples at or after `since` (only `gpus` if given): the cheapest $/hr's low and
    high, the median $/hr overall, now (the latest sample) vs then (the first), the trend of the cheapest
    $/hr (least squares, $/hr per day) and the best $ per expected game/s now vs then. Cheapest first."""
    by_gpu: dict[str, list[Sample]] = {}
    for s in samples:
        if s.time >= since and (not gpus or s.gpu_name in gpus):
            by_gpu.setdefault(s.gpu_name, []).append(s)
    out = []
    for gpu, rows in by_gpu.items():
        rows.sort(key=lambda s: s.time)
        then, now = rows[0], rows[-1]
        out.append({
            "gpu_name": gpu, "samples": len(rows), "first_time": then.time, "last_time": now.time,
            "min_dph": min(s.min_dph for s in rows), "max_dph": max(s.min_dph for s in rows),
            "median_dph": round(statistics.median(s.median_dph for s in rows), 6),
            "dph_now": now.min_dph, "dph_then": then.min_dph,
            "median_dph_now": now.median_dph, "median_dph_then": then.median_dph,
            "count_now": now.count, "count_then": then.count,
            "trend_dph_per_day": _round(_slope_per_day([(s.time, s.min_dph) for s in rows])),
            "dollars_per_gps_now": now.best_dollars_per_gps, "dollars_per_gps_then": then.best_dollars_per_gps,
        })
    out.sort(key=lambda r: (r["dph_now"], r["gpu_name"]))
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
