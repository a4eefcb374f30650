"""What it costs a zeb command to get its Vast client (zeb.adapters.vast, the SDK's REST half it loads, tenacity for
its retries) against a plain `import vastai` (the whole SDK, serverless half included): CPU and wall of
fresh processes, median of several, with a bare interpreter as the floor both pay."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

RUNS = 11
BARE = "pass"
FULL_SDK = "import vastai"
# What `zeb status` imports to talk to Vast: building the client loads the SDK (no request is sent);
# its first call imports tenacity.
ZEB_CLIENT = "from zeb.adapters.vast import VastClient; VastClient('k', 'http://127.0.0.1:9'); import tenacity"


def measure(code: str) -> tuple[float, float]:
    """(median CPU, median wall) in seconds of `python -c code` in fresh processes."""
    cpus, walls = [], []
    for _ in range(RUNS):
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - start)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"python -c {code!r} failed ({proc.returncode})")
        cpus.append(usage.ru_utime + usage.ru_stime)
    return statistics.median(cpus), statistics.median(walls)


def main() -> None:
    measure(ZEB_CLIENT)     # warm the bytecode caches so neither side pays for compiling
    measure(FULL_SDK)
    rows = {name: measure(code) for name, code in
            (("bare interpreter", BARE), ("import vastai", FULL_SDK), ("zeb's Vast client", ZEB_CLIENT))}
    print(f"median of {RUNS} fresh processes each:")
    for name, (cpu, wall) in rows.items():
        print(f"  {name:<18} {cpu * 1000:6.0f} ms CPU  {wall * 1000:6.0f} ms wall")
    (bare_cpu, bare_wall), (full_cpu, full_wall), (zeb_cpu, zeb_wall) = rows.values()
    print(f"zeb's Vast client / import vastai, whole process: {zeb_cpu / full_cpu:.2f}x CPU, "
          f"{zeb_wall / full_wall:.2f}x wall")
    print(f"the same, imports only (bare interpreter subtracted): {(zeb_cpu - bare_cpu) / (full_cpu - bare_cpu):.2f}x "
          f"CPU, {(zeb_wall - bare_wall) / (full_wall - bare_wall):.2f}x wall  (goal <= 0.3x)")


if __name__ == "__main__":
    main()
