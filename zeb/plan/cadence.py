"""How long the monitor sleeps before its next cycle: fast while anything is in flux, slow when
the whole fleet is producing and nothing is in flight; and the backoff after API errors."""

from __future__ import annotations

import random
from typing import Iterable

from zeb.lifecycle import WorkerState


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
        # Nothing can be launched until the balance is back; look at the fleet at the slow pace at most.
        return min(slow_s, credit_probe_s)
    in_flux = inflight or destroying or trial_active or producing < target or producing < len(states)
    return fast_s if in_flux else slow_s


def error_backoff(consecutive_errors: int, *, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Jittered exponential backoff ("full jitter") after `consecutive_errors` failed cycles."""
    if consecutive_errors <= 0:
        return 0.0
    ceiling = min(cap_s, base_s * (2 ** (consecutive_errors - 1)))
    return rng.uniform(base_s / 2, max(base_s / 2, ceiling))
