"""Help start-up against its floor (issue #2): `zeb --help`, `zeb status --help` and `zeb monitor --help`
must each stay within 1.3x of `python -c "import typer, rich"`, wall clock, median of fresh processes.

Every case runs RUNS times in fresh interpreters, round-robin so that a busy spell on the machine falls
on all cases alike; prints the wall and CPU (user + system) medians and each ratio to the baseline.
Byte-compiled files are cached (in a temporary PYTHONPYCACHEPREFIX, for every case alike) as on an
installed zeb, even where the environment sets PYTHONDONTWRITEBYTECODE; --env-as-is measures without.
Usage: python benchmarks/bench_help.py [RUNS] [--env-as-is]"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 15
GOAL = 1.3
BASELINE = ("python -c 'import typer, rich'", [sys.executable, "-c", "import typer, rich"])
CASES = [
    ("zeb --help", [sys.executable, "-m", "zeb", "--help"]),
    ("zeb status --help", [sys.executable, "-m", "zeb", "status", "--help"]),
    ("zeb monitor --help", [sys.executable, "-m", "zeb", "monitor", "--help"]),
]


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    cpu_before, start = _cpu_of_children(), time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start, _cpu_of_children() - cpu_before


def measure(runs: int, env: dict[str, str]) -> dict[str, tuple[float, float]]:
    """label -> (median wall s, median CPU s) over `runs` fresh processes each."""
    cases = [BASELINE, *CASES]
    for _, argv in cases:       # one unmeasured run each: byte-compiled files and the OS cache are warm
        _run_once(argv, env)
    samples: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in cases}
    for _ in range(runs):
        for label, argv in cases:
            samples[label].append(_run_once(argv, env))
    return {label: (statistics.median(w for w, _ in s), statistics.median(c for _, c in s))
            for label, s in samples.items()}


def main() -> int:
    args = sys.argv[1:]
    as_is = "--env-as-is" in args
    runs = next((int(a) for a in args if a.isdigit()), RUNS)
    env = {**os.environ, "COLUMNS": "80"}
    with tempfile.TemporaryDirectory(prefix="zeb-bench-pycache-") as cache:
        if not as_is:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = cache
        medians = measure(runs, env)
    base_wall, base_cpu = medians[BASELINE[0]]
    caching = "environment as is" if as_is else "byte-code cached"
    print(f"medians of {runs} fresh processes each ({caching}); goal: every wall ratio <= {GOAL:.2f}x\n")
    print(f"{'':34}{'wall ms':>9}{'cpu ms':>9}{'wall x':>9}{'cpu x':>8}")
    print(f"{BASELINE[0]:34}{base_wall * 1000:9.1f}{base_cpu * 1000:9.1f}")
    worst = 0.0
    for label, _ in CASES:
        wall, cpu = medians[label]
        worst = max(worst, wall / base_wall)
        verdict = "ok" if wall / base_wall <= GOAL else "OVER"
        print(f"{label:34}{wall * 1000:9.1f}{cpu * 1000:9.1f}{wall / base_wall:8.2f}x"
              f"{cpu / base_cpu:7.2f}x  {verdict}")
    print(f"\nworst wall ratio {worst:.2f}x (goal <= {GOAL:.2f}x)")
    return 0 if worst <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
