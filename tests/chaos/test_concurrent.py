"""Concurrent `zeb replenish N`: 2, 4 and 8 processes on one ZEB_HOME end with exactly N and never a
duplicate label; 2 processes on 2 different ZEB_HOMEs (they cannot see each other's ledgers) may double
launch, but after one more replenish from either home the fleet is exactly N with unique labels.
Default: 1 round per width and 3 two-home rounds; ZEB_CHAOS=full: 8 and 20."""

from __future__ import annotations

import time

from tests.chaos import harness

N = 4
ROUNDS = 8 if harness.FULL else 1
TWO_HOME_ROUNDS = 20 if harness.FULL else 3


def _together(chaos, homes, n: int) -> list:
    started = time.monotonic()
    procs = [(h, chaos.spawn(h, "replenish", str(n), "--wait", "120")) for h in homes]
    return [chaos.finish(p, ("replenish", str(n)), started, timeout=150) for _, p in procs]


def test_concurrent_replenish_on_one_home_and_on_two(chaos):
    started = time.monotonic()
    failures: list[str] = []
    runs = 0
    for width in (2, 4, 8):
        for r in range(ROUNDS):
            chaos.clear_fleet()
            chaos.market.adopt("RTX 3080", "zeb-worker-vast-0")
            home = chaos.home(f"conc-{width}-{r}")
            outs = _together(chaos, [home] * width, N)
            runs += 1
            bad = [o for o in outs if o.code != 0 or not harness.traceback_free(o)]
            labels = chaos.fleet_labels()
            if bad or labels != [f"zeb-worker-vast-{k}" for k in range(N)]:
                failures.append(f"{width} on one home, round {r}: {labels}; {[(o.code, o.err[-200:]) for o in bad]}")
    for r in range(TWO_HOME_ROUNDS):
        chaos.clear_fleet()
        homes = [chaos.home(f"two-{r}-a"), chaos.home(f"two-{r}-b")]
        outs = _together(chaos, homes, N)
        runs += 1
        if any(o.code not in (0, 3) or not harness.traceback_free(o) for o in outs):
            failures.append(f"two homes, round {r}: {[(o.code, o.err[-200:]) for o in outs]}")
        again = chaos.run(homes[r % 2], "replenish", str(N))
        labels = chaos.fleet_labels()
        if again.code != 0 or labels != [f"zeb-worker-vast-{k}" for k in range(N)]:
            failures.append(f"two homes, round {r}: after one more replenish {labels}: {again.text[-300:]}")
        if chaos.wrong_destroys():
            failures.append(f"round {r}: {chaos.wrong_destroys()}")
    chaos.clear_fleet()
    harness.record("concurrent", rounds=runs, widths=[2, 4, 8], two_home_rounds=TWO_HOME_ROUNDS,
                   failures=len(failures), seconds=round(time.monotonic() - started, 1))
    assert not failures, "\n".join(failures)
