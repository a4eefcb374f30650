"""How long the monitor sleeps before its next cycle: fast while anything is in flux, slow when
the whole fleet is producing and nothing is in flight; and the backoff after API errors."""

from __future__ import annotations

import random
from collections.abc import Iterable

from zeb.core.domain import ENDED, NOT_STARTED
from zeb.core.lifecycle import WorkerRecord, WorkerState, batch_period

# One upload in twenty fails on HF's commit race and is retried an interval later: only a newest upload
# older than this many intervals says the worker may have stopped.
UPLOADS_LATE = 2.5


def next_interval(
    states: Iterable[WorkerState],
    *,
    target: int,
    inflight: int,
    destroying: int,
    trial_active: bool,
    credit_wait: bool,
    fast_s: float,
    slow_s: float,
    credit_probe_s: float,
) -> float:
    states = list(states)
    producing = sum(1 for s in states if s is WorkerState.PRODUCING)
    if credit_wait:
        # Nothing can be launched until the balance is back: check the account at the fast pace (or the
        # configured probe interval), never slower than the slow pace.
        return max(fast_s, min(slow_s, credit_probe_s))
    in_flux = inflight or destroying or trial_active or producing < target or producing < len(states)
    return fast_s if in_flux else slow_s


def error_backoff(consecutive_errors: int, *, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Jittered exponential backoff ("full jitter") after `consecutive_errors` failed cycles."""
    if consecutive_errors <= 0:
        return 0.0
    ceiling = min(cap_s, base_s * (2 ** (consecutive_errors - 1)))
    return rng.uniform(base_s / 2, max(base_s / 2, ceiling))


def next_poll_at(rec: WorkerRecord | None, status: str | None, *, flux_s: float, slow_s: float,
                 retry_s: float, healthy_s: float | None = None, last_upload: float | None = None,
                 upload_s: float | None = None, checked_at: float | None = None) -> float | None:
    """When this worker's log is next worth reading (None: not until Vast says it runs). Each worker is
    read when its next evidence is due, not every worker every cycle: in flux (starting, erroring) every
    `flux_s`; a failed read is retried after `retry_s`; a stopped instance's last log once. A producing
    worker: when its examples keep arriving on HF (at the last look, `checked_at`, its newest upload
    `last_upload` was under UPLOADS_LATE upload intervals `upload_s` old), every `healthy_s` only;
    otherwise at the slow pace, or as soon as two sightings could confirm a stall (2.5 of its own batch
    periods after its last new batch)."""
    if status in NOT_STARTED:
        return None
    if rec is None or rec.polled_at is None:
        return 0.0
    if status in ENDED:
        return None if rec.state is WorkerState.STOPPED and rec.failed_polls == 0 else 0.0
    if rec.failed_polls:
        return rec.polled_at + retry_s
    if rec.state is not WorkerState.PRODUCING:
        return rec.polled_at + flux_s
    if healthy_s is not None and last_upload is not None and upload_s and checked_at is not None:
        # HF vouches for it while, at the last look, its newest upload was under UPLOADS_LATE intervals
        # old; once it was older, its log is read at once.
        if checked_at - last_upload <= UPLOADS_LATE * upload_s:
            return rec.polled_at + healthy_s
        if rec.polled_at < checked_at:
            return checked_at
        # Already read since that look: from here its own batch pace decides (below).
    due = rec.polled_at + slow_s
    if rec.last_progress_at is not None:
        stall_check = rec.last_progress_at + 2.5 * batch_period(rec) + 1.0
        if stall_check > rec.polled_at:
            due = min(due, stall_check)
    return due


def is_due(next_at: float | None, now: float, fast_s: float) -> bool:
    """Read a worker now if its evidence falls due before the next cycle could come (within half a fast
    interval): one wake-up then serves several workers instead of a listing per worker."""
    return next_at is not None and next_at <= now + fast_s / 2
