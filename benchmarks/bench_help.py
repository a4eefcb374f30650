"""`zeb --help` must stay within 2x of `python -c "import typer, rich"` (issue #2).

Runs each command N times in fresh interpreters and prints the medians and the ratio."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 15


def _median_seconds(argv: list[str]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    baseline = _median_seconds([sys.executable, "-c", "import typer, rich"])
    zeb_help = _median_seconds([sys.executable, "-m", "zeb", "--help"])
    print(f"python -c 'import typer, rich'   median {baseline * 1000:7.1f} ms")
    print(f"python -m zeb --help             median {zeb_help * 1000:7.1f} ms")
    print(f"ratio                            {zeb_help / baseline:7.2f}x (target <= 2.00x)")


if __name__ == "__main__":
    main()
