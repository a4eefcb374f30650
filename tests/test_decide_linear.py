"""decide() does work linear in the fleet's size (issue 21: it had become quadratic, 5.8 s at 10,000
workers). Counted in Python lines executed (loops included), not timed, so it cannot regress silently on a
fast machine."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_decide

from zeb.plan.monitor import PolicyState, decide


def _calls(n: int) -> int:
    cfg, snap = bench_decide.fleet(n)
    count = 0

    def trace(frame, event, arg):
        nonlocal count
        count += event == "line"
        return trace

    sys.settrace(trace)
    try:
        decide(snap, PolicyState(), cfg, n, bench_decide.NOW)
    finally:
        sys.settrace(None)
    return count


def test_four_times_the_workers_is_about_four_times_the_work():
    small, large = _calls(100), _calls(400)
    # Linear gives ~4x (sorting adds a log factor); the quadratic fleet context gave ~16x.
    assert large / small < 5.5, (small, large)
