"""Classifier speed on a 10,000-line tail (issue #5: well under 50 ms)."""

from __future__ import annotations

import statistics
import time

from zeb.lifecycle import classify


def tail(lines: int) -> str:
    out = ["=== Setup started at Thu Feb  6 12:00:00 UTC 2026 ===", "git installed", "repo cloned", "deps installed",
           "GPU OK: NVIDIA GeForce RTX 3070", "=== Starting worker worker-vast-0 at x ===",
           "  Model loaded (step 142), 557,186 params", "Pipeline created in 8.3s"]
    n = 0
    while len(out) < lines:
        n += 1
        out.append(f"[worker-vast-0] batch {n}: 7168 examples, 1.4 games/s, step=142, total_games={256 * n}")
        if n % 2 == 0:
            out += ["Uploading 2 batches to HF...", "Upload complete (2 batches)"]
        if n % 37 == 0:
            out.append("Upload failed (412 Precondition Failed), will retry next cycle")
    return "\n".join(out[:lines])


def main() -> None:
    text = tail(10_000)
    samples = []
    for _ in range(50):
        start = time.perf_counter()
        obs = classify("running", text)
        samples.append((time.perf_counter() - start) * 1000)
    assert obs.state.value == "producing"
    print(f"classify(10,000-line tail): median {statistics.median(samples):.2f} ms, "
          f"max {max(samples):.2f} ms over {len(samples)} runs (target: well under 50 ms)")


if __name__ == "__main__":
    main()
