"""Observations carry their certainty: a fatal error the process ended on is final, a failed log read is
"not seen", and a stall is confirmed by two observations spanning 2.5 of the worker's batch periods."""

from __future__ import annotations

from zeb.core.lifecycle import Observation, apply_observation, classify, new_record
from zeb.core.lifecycle import WorkerState as S

BOOT = "\n".join(["=== Setup started at Mon Nov 23 10:00:00 UTC 2026 ===", "GPU OK: NVIDIA GeForce RTX 3080",
                  "Pulling initial weights from r/w.pt..."])


def test_a_traceback_that_ends_the_log_is_final():
    tail = BOOT + "\n" + "\n".join([
        "Traceback (most recent call last):",
        '  File "/root/code/forge/zeb/worker/run.py", line 141, in main',
        "    batch = pipeline.generate(n_games)",
        "RuntimeError: CUDA error: an illegal memory access was encountered",
    ])
    obs = classify("running", tail)
    assert obs.state is S.ERROR and obs.final


def test_an_error_followed_by_more_output_is_not_final():
    tail = BOOT + "\n" + "\n".join([
        "RuntimeError: CUDA error: an illegal memory access was encountered",
        "Creating self-play pipeline...",
        "some other line the worker printed",
    ])
    obs = classify("running", tail)
    assert not obs.final


def _producing(now: float, batch: int, gps: float = 2.56):
    # 256 games per batch at 2.56 games/s: one batch every 100 s.
    return Observation(S.PRODUCING, evidence=f"batch {batch}", batch=batch, games_per_s=gps,
                       total_games=batch * 256)


def test_a_stall_is_two_observations_spanning_two_and_a_half_batch_periods():
    rec = new_record(1, "zeb-worker-vast-0", 7, "RTX 3080", 0.08, 0.0, 0.0)
    rec, _ = apply_observation(rec, _producing(1000.0, 5), 1000.0)
    assert rec.state is S.PRODUCING
    early, _ = apply_observation(rec, _producing(1200.0, 5), 1200.0)      # 2 periods: not yet
    assert early.state is S.PRODUCING
    late, events = apply_observation(rec, _producing(1260.0, 5), 1260.0)   # 2.6 periods: confirmed
    assert late.state is S.STALLED and events


def test_a_failed_read_is_not_a_sighting():
    rec = new_record(1, "zeb-worker-vast-0", 7, "RTX 3080", 0.08, 0.0, 0.0)
    rec, _ = apply_observation(rec, _producing(100.0, 1), 100.0)
    assert rec.last_seen_at == 100.0
    failed, events = apply_observation(rec, Observation(S.PRODUCING, poll_failed=True), 400.0)
    assert failed.last_seen_at == 100.0 and failed.failed_polls == 1 and failed.state is S.PRODUCING and not events
