from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from zeb.core.lifecycle import WorkerState as S
from zeb.plan.cadence import error_backoff, next_interval

KW = dict(fast_s=30.0, slow_s=300.0, credit_probe_s=300.0)


def _interval(states, **kw):
    base = dict(target=len(states), inflight=0, destroying=0, trial_active=False, credit_wait=False, **KW)
    base.update(kw)
    return next_interval(states, **base)


def test_all_producing_is_slow():
    assert _interval([S.PRODUCING] * 4) == 300.0


def test_any_flux_is_fast():
    assert _interval([S.PRODUCING, S.BOOTING]) == 30.0
    assert _interval([S.PRODUCING] * 3, target=4) == 30.0
    assert _interval([S.PRODUCING] * 4, inflight=1) == 30.0
    assert _interval([S.PRODUCING] * 4, destroying=1) == 30.0
    assert _interval([S.PRODUCING] * 4, trial_active=True) == 30.0
    assert _interval([S.PRODUCING, S.STALLED]) == 30.0


def test_credit_wait_never_spins_fast():
    assert _interval([S.BOOTING], credit_wait=True, target=4) == 300.0


@given(st.integers(min_value=1, max_value=30), st.integers(min_value=0, max_value=2**32))
def test_backoff_stays_within_bounds(n, seed):
    wait = error_backoff(n, base_s=10.0, cap_s=600.0, rng=random.Random(seed))
    assert 5.0 <= wait <= 600.0


def test_no_errors_no_backoff():
    assert error_backoff(0, base_s=10.0, cap_s=600.0, rng=random.Random(1)) == 0.0
