"""Two `zeb replenish 4` processes started at the same instant against a fleet of 1 end with exactly
4 workers, every time (real processes, real locks, the sim over HTTP)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.simenv import start_sim

ROUNDS = 20


@pytest.mark.slow
def test_concurrent_replenish_never_double_launches(tmp_path):
    sim, server = start_sim(tmp_path, "default")
    try:
        env = {**os.environ, **sim.env}
        code = "from zeb.cli import main; main()"
        for round_ in range(ROUNDS):
            for inst in list(sim.market.instances):
                sim.market.destroy(inst)
            sim.market.adopt("RTX 3070", "zeb-worker-vast-0")
            home = tmp_path / f"home-{round_}"
            env["ZEB_HOME"] = str(home)
            procs = [subprocess.Popen([sys.executable, "-c", code, "replenish", "4", "--wait", "60"], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      stdin=subprocess.DEVNULL) for _ in range(2)]
            outs = [p.communicate(timeout=120) for p in procs]
            assert all(p.returncode == 0 for p in procs), outs
            labels = sorted(i.label for i in sim.market.instances.values())
            assert labels == [f"zeb-worker-vast-{k}" for k in range(4)], (round_, labels, outs)
            assert sum("launched 3 of 3" in out for out, _ in outs) == 1
            assert sum("nothing to do" in out for out, _ in outs) == 1
    finally:
        server.stop()
        sim.hub.stop()
