"""Every file zeb leaves in ZEB_HOME is 0600 and every directory 0700, as the README promises: after a
short monitor run against the simulated marketplace (events, workers, hosts, locks, market history)."""

from __future__ import annotations

import os
import stat


def test_every_file_under_zeb_home_is_private_after_a_monitor_run(sim):
    old = os.umask(0o022)      # the shell's usual umask: anything zeb does not narrow itself shows up
    try:
        res = sim.run("monitor", "2", "--max-cycles", "3")
        assert res.exit_code == 0, res.stderr
        res = sim.run("rank-offers", "--fleet", "zeb")     # one more writer of the market history
        assert res.exit_code == 0, res.stderr
    finally:
        os.umask(old)
    seen = {p.relative_to(sim.home).as_posix(): stat.S_IMODE(p.lstat().st_mode) for p in sim.home.rglob("*")}
    assert "market.sqlite" in seen and "fleets/zeb/events.jsonl" in seen
    loose = {name: oct(mode) for name, mode in seen.items()
             if mode != (0o700 if (sim.home / name).is_dir() else 0o600)}
    assert loose == {}
    assert stat.S_IMODE(sim.home.stat().st_mode) == 0o700
