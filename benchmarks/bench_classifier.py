"""Classifier speed on 10,000-line tails (issue #5: well under 50 ms).

The headline is a realistic producing worker's tail; the adversarial tails make the classifier read every
line (no batch line to stop at): pip noise, "command not found" spam, noise after an old fatal line."""

from __future__ import annotations

import statistics
import time

from zeb.core.lifecycle import classify

LINES = 10_000
HEADER = ["=== Setup started at Thu Feb  6 12:00:00 UTC 2026 ===", "git installed", "repo cloned", "deps installed",
          "GPU OK: NVIDIA GeForce RTX 3070", "=== Starting worker worker-vast-0 at Thu Feb  6 12:02:30 UTC 2026 ===",
          "Pulling initial weights from jasonyandell/zeb-42...", "  Model loaded (step 142), 557,186 params",
          "  Examples repo: jasonyandell/zeb-42-examples", "Creating self-play pipeline...", "Pipeline created in 8.3s",
          "", "Worker worker-vast-0 starting (output: jasonyandell/zeb-42-examples)"]


def realistic(lines: int) -> str:
    """A day of one worker: batches, uploads every other batch, a 412 now and then (with its traceback and
    the "will retry" line), weights updates, a warning."""
    out = list(HEADER)
    n = 0
    while len(out) < lines:
        n += 1
        out.append(f"[worker-vast-0] batch {n}: 7168 examples, 1.4 games/s, step={142 + n // 10}, "
                   f"total_games={256 * n}")
        if n % 2 == 0:
            out.append("Uploading 2 batches to HF...")
            if n % 74 == 0:
                out += ["Traceback (most recent call last):",
                        '  File "/root/code/forge/zeb/worker/upload.py", line 88, in upload_folder',
                        "huggingface_hub.errors.HfHubHTTPError: 412 Client Error: Precondition Failed for url: "
                        "https://huggingface.co/api/datasets/jasonyandell/zeb-42-examples/commit/main",
                        "Upload failed (412 Precondition Failed), will retry next cycle"]
            else:
                out.append("Upload complete (2 batches)")
        if n % 10 == 0:
            out.append(f"Weights updated to step {142 + n // 10}")
        if n % 500 == 0:
            out.append("/usr/local/lib/python3.11/site-packages/torch/_utils.py:831: UserWarning: TypedStorage is "
                       "deprecated.")
    # End on a batch line: a tail cut between a traceback and its "will retry" line is (rightly) an error.
    out = out[:lines - 1] + [f"[worker-vast-0] batch {n + 1}: 7168 examples, 1.4 games/s, step=200, "
                             f"total_games={256 * (n + 1)}"]
    return "\n".join(out)


def pip_noise(lines: int) -> str:
    return "\n".join(HEADER[:3] + [f"Collecting package{n} (from -r requirements.txt) Downloading package{n}-1.0-py3-"
                                   f"none-any.whl (2.3 MB)" for n in range(lines - 3)])


def broken_spam(lines: int) -> str:
    return "\n".join(["/root/onstart.sh: line 4: python: command not found"] * lines)


def fatal_then_noise(lines: int) -> str:
    return "\n".join(["AssertionError: No CUDA"] + [f"waiting for GPU, attempt {n}: Error-free" for n in range(lines)])


def bench(text: str, runs: int) -> tuple[float, float, str]:
    samples = []
    obs = None
    for _ in range(runs):
        start = time.perf_counter()
        obs = classify("running", text)
        samples.append((time.perf_counter() - start) * 1000)
    assert obs is not None
    return statistics.median(samples), max(samples), obs.state.value


def main() -> None:
    med, worst, state = bench(realistic(LINES), 200)
    assert state == "producing"
    print(f"classify(10,000-line realistic tail): median {med:.2f} ms per call, max {worst:.2f} ms over 200 runs "
          f"(target: well under 50 ms)")
    for name, make, expect in (("pip noise, no batch", pip_noise, "setup"),
                               ("'command not found' x 10,000", broken_spam, "error"),
                               ("old fatal line, then noise", fatal_then_noise, "error")):
        med, worst, state = bench(make(LINES), 30)
        assert state == expect, (name, state)
        print(f"  adversarial, {name:30s}: median {med:6.2f} ms, max {worst:6.2f} ms -> {state}")


if __name__ == "__main__":
    main()
